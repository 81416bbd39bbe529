"""LightGBM's settings as a run takes them: parsed from ``NAME=VALUE`` text, checked against
LightGBM's own list of parameters and aliases, and laid over the workbench's defaults.

A misspelled name is refused with the nearest names LightGBM knows; an alias becomes LightGBM's
own name (given beside a default, LightGBM would silently keep the default); settings the
workbench makes itself are refused with the reason; values are read by LightGBM itself, with no
data, so a bad one is refused before any training starts.
"""
from __future__ import annotations

import ctypes
import difflib
import functools
import numbers
import re
from typing import Iterable

import lightgbm as lgb

from workbench.errors import WorkbenchError

DEFAULT_PARAMS = {
    "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.9,
    "lambda_l2": 1.0, "max_cat_to_onehot": 8, "deterministic": True, "force_col_wise": True,
    "verbosity": -1, "feature_pre_filter": False,
}
NUM_BOOST_ROUND = 500
EARLY_STOPPING = 30
# The workbench's own names for the two settings it hands to lgb.train itself, by the name of the
# LightGBM parameter they stand for (whose aliases, n_estimators say, mean them too).
OWN_SETTINGS = {"num_iterations": "num_boost_round", "early_stopping_round": "early_stopping_rounds"}
PARAMETERS_PAGE = "https://lightgbm.readthedocs.io/en/latest/Parameters.html"
_PROGRAM = "a setting of LightGBM's command-line program; the workbench passes the data and keeps the model itself"
_PREDICT = "a prediction setting, which does nothing in training"
SET_BY_WORKBENCH = {  # LightGBM parameter -> why a run breaks or ignores it when given
    "objective": "it follows the task (binary, multiclass or regression; choose it with --task), "
                 "and the run's predictions and metrics assume it",
    "num_class": "it is the number of the target's classes",
    "seed": "it is the run's seed (--seed), which seeds the split and the baselines too",
    "metric": "early stopping watches the objective's own loss",
    "task": "LightGBM always trains here; the model's task is --task",
    "verbosity": "LightGBM is kept quiet so that --json prints only JSON",
    "categorical_feature": "categorical features follow the column types",
    **dict.fromkeys(("label_column", "weight_column", "group_column", "ignore_column"),
                    "columns are chosen with --target and --drop"),
    **dict.fromkeys(("config", "data", "valid", "input_model", "output_model", "output_result", "header",
                     "two_round", "save_binary", "snapshot_freq", "convert_model", "convert_model_language",
                     "parser_config_file", "precise_float_parser", "forcedsplits_filename",
                     "forcedbins_filename", "machines", "machine_list_filename", "num_machines",
                     "local_listen_port", "time_out", "pre_partition"), _PROGRAM),
    **dict.fromkeys(("num_iteration_predict", "start_iteration_predict", "predict_raw_score",
                     "predict_leaf_index", "predict_contrib", "predict_disable_shape_check", "pred_early_stop",
                     "pred_early_stop_freq", "pred_early_stop_margin"), _PREDICT),
}
UNKNOWN_PARAM = "Unknown LightGBM setting {name!r}{near}; LightGBM's settings are listed at " + PARAMETERS_PAGE
NEAR = " (did you mean {names}?)"
RESERVED_PARAM = "LightGBM setting {name!r}{alias} is set by the workbench: {why}; leave it out."
SAME_PARAM = "{first!r} and {second!r} are one LightGBM setting ({main}); give it once."
NO_VALUE = "LightGBM setting {name!r} has no value; give one, e.g. learning_rate=0.05."
BAD_ROUNDS = "{name} must be a whole number of at least 1, got {value!r}."
REFUSED = "LightGBM refused the settings: {reason}"
NOT_NAME_VALUE = "Invalid LightGBM setting {text!r}: write NAME=VALUE, e.g. learning_rate=0.05."
NO_VALUE_AFTER = "Invalid LightGBM setting {text!r}: give a value after '=', e.g. {name}=0.05."
GIVEN_TWICE = "LightGBM setting {name} is given twice ({first!r} and {second!r}); give it once."
def parse_settings(lines: Iterable[str]) -> dict:
    """``NAME=VALUE`` texts (``--param``, or the lines of the Train page's box) as a dict: whole
    numbers, then numbers, then true/false, else text. Blank lines are skipped; a text without
    a name or a value, and a name given twice, are refused. Names and values are checked by
    :func:`check_params`.

    >>> parse_settings(["num_leaves=63", " learning_rate = 0.05", "", "deterministic=false"])
    {'num_leaves': 63, 'learning_rate': 0.05, 'deterministic': False}
    """
    settings: dict = {}
    for text in lines:
        if not text.strip():
            continue
        name, sep, raw = (part.strip() for part in text.partition("="))
        if not sep or not name:
            raise WorkbenchError(NOT_NAME_VALUE.format(text=text))
        if not raw:
            raise WorkbenchError(NO_VALUE_AFTER.format(text=text, name=name))
        value = _value(raw)
        if name in settings:
            raise WorkbenchError(GIVEN_TWICE.format(name=name, first=settings[name], second=value))
        settings[name] = value
    return settings


def _value(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


@functools.cache
def _aliases() -> dict[str, str]:
    """Every name LightGBM knows (each parameter and its aliases) -> the parameter's name, from
    LightGBM's own list (its C API's LGBM_DumpParamAliases, as lightgbm.basic reads it)."""
    listed = lgb.basic._ConfigAliases._get_all_param_aliases()  # {name: [name, *aliases]}
    return {alias: main for main, names in listed.items() for alias in names}


def lightgbm_reason(error: Exception) -> str:
    """LightGBM's complaint, without the C++ source path."""
    return re.sub(r" at \S+, line \d+ ?\.?", "", str(error).strip().splitlines()[-1]).strip()


def _value_problem(error: Exception) -> str:
    """What is wrong with one setting's value, in words (LightGBM says 'Unknown token abc in
    data file' of a number it cannot read)."""
    reason = lightgbm_reason(error)
    if reason.startswith("Unknown token"):
        return "it must be a number"
    if " should be of type int" in reason:
        return "it must be a whole number"
    if 'should be "true"' in reason:
        return "it must be true or false"
    checked = re.fullmatch(r"Check failed: \((\w+)\) ([<>=!]+) \((.+?)\)", reason)
    return f"it must be {checked[2]} {checked[3]}" if checked else reason


def _near(name: str, known: dict[str, str]) -> str:
    """The settings whose names (or aliases) are closest to ``name``, by their own names; not
    those of LightGBM's program or of prediction, which no run takes."""
    useful = [k for k, main in known.items() if SET_BY_WORKBENCH.get(main) not in (_PROGRAM, _PREDICT)]
    close = difflib.get_close_matches(name, useful, n=6, cutoff=0.6)
    names = list(dict.fromkeys(OWN_SETTINGS.get(known[c], known[c]) for c in close))[:3]
    if not names:
        return ""
    return NEAR.format(names=names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}")


def _parse(params: dict) -> None:
    """Have LightGBM read ``params`` as it would for training (values, ranges, conflicts), with
    no data: LGBM_GetSampleCount parses a full configuration and nothing more."""
    out = ctypes.c_int(0)
    lgb.basic._safe_call(lgb.basic._LIB.LGBM_GetSampleCount(
        ctypes.c_int32(1), lgb.basic._c_str(lgb.basic._param_dict_to_str(params)), ctypes.byref(out)))


def check_params(params: dict) -> dict:
    """LightGBM settings as training uses them, or a WorkbenchError naming the one at fault.

    Aliases become LightGBM's own names (``eta`` -> ``learning_rate``: given beside a default,
    LightGBM would silently keep the default), and any alias of the number of rounds or of
    early stopping becomes ``num_boost_round`` / ``early_stopping_rounds``. Refused: names
    LightGBM does not know (with the nearest it does), settings the workbench makes itself
    (objective, num_class, seed, ...), one setting under two names, and values LightGBM
    cannot read.

    >>> check_params({"eta": 0.05, "n_estimators": 200})
    {'learning_rate': 0.05, 'num_boost_round': 200}
    """
    known = _aliases()
    out: dict = {}
    given: dict[str, str] = {}
    for name, value in params.items():
        name = str(name)
        main = known.get(name)
        if main is None:
            raise WorkbenchError(UNKNOWN_PARAM.format(name=name, near=_near(name, known)))
        if main in SET_BY_WORKBENCH:
            alias = f" (LightGBM's {main})" if name != main else ""
            raise WorkbenchError(RESERVED_PARAM.format(name=name, alias=alias, why=SET_BY_WORKBENCH[main]))
        key = OWN_SETTINGS.get(main, main)
        if key in given:
            raise WorkbenchError(SAME_PARAM.format(first=given[key], second=name, main=main))
        if value is None or (isinstance(value, str) and not value.strip()):
            raise WorkbenchError(NO_VALUE.format(name=name))
        whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if key in OWN_SETTINGS.values() and not (whole and value >= 1):
            raise WorkbenchError(BAD_ROUNDS.format(name=name, value=value))
        given[key], out[key] = name, value
    settings = {k: v for k, v in out.items() if k not in OWN_SETTINGS.values()}
    try:
        _parse(with_defaults(settings))
    except lgb.basic.LightGBMError as e:
        for key, value in settings.items():  # name the one setting LightGBM cannot read, if one is
            try:
                _parse({key: value})
            except lgb.basic.LightGBMError as one:
                raise WorkbenchError(REFUSED.format(
                    reason=f"{given[key]}={value!r}: {_value_problem(one)}.")) from None
        raise WorkbenchError(REFUSED.format(reason=lightgbm_reason(e))) from None
    return out


def with_defaults(settings: dict) -> dict:
    """The workbench's defaults under ``settings`` (row-wise histograms asked for replace the
    default column-wise ones, which LightGBM would refuse beside them)."""
    defaults = dict(DEFAULT_PARAMS)
    if settings.get("force_row_wise") not in (None, False, "false"):
        defaults.pop("force_col_wise")
    return {**defaults, **settings}
