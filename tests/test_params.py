"""LightGBM settings a user gives (``--param``, the Train page): checked against LightGBM's own
list of parameters and aliases before any training, each refusal naming the setting and what
to do. The oracle for names is LightGBM's C API (``LGBM_DumpParamAliases``); for values, the
model LightGBM writes (its ``parameters:`` section says what it trained with)."""
import lightgbm as lgb
import pytest

from workbench import WorkbenchError
from workbench.model import params, train
from workbench.model.train import TrainSpec, check_params
from workbench.store import build

DOCS = "https://lightgbm.readthedocs.io/en/latest/Parameters.html"
LIGHTGBM = lgb.basic._ConfigAliases._get_all_param_aliases()  # {name: [name, *aliases]}


@pytest.mark.parametrize("params, expected", [
    ({"learning_rate": 0.05, "num_leaves": 63}, {"learning_rate": 0.05, "num_leaves": 63}),
    ({"eta": 0.05}, {"learning_rate": 0.05}),
    ({"min_child_samples": 5, "colsample_bytree": 0.5, "reg_lambda": 2.0},
     {"min_data_in_leaf": 5, "feature_fraction": 0.5, "lambda_l2": 2.0}),
    ({"n_estimators": 200, "early_stopping": 5}, {"num_boost_round": 200, "early_stopping_rounds": 5}),
    ({"num_boost_round": 7, "early_stopping_rounds": 3}, {"num_boost_round": 7, "early_stopping_rounds": 3}),
    ({}, {}),
])
def test_aliases_become_lightgbms_own_names(params, expected):
    assert check_params(params) == expected
    for given, main in zip(params, expected):  # the oracle: LightGBM's own alias list
        own = {"num_boost_round": "num_iterations", "early_stopping_rounds": "early_stopping_round"}
        assert given in LIGHTGBM[own.get(main, main)]


@pytest.mark.parametrize("params, message", [
    ({"learning_rat": 0.05},
     "Unknown LightGBM setting 'learning_rat' (did you mean learning_rate?); "
     f"LightGBM's settings are listed at {DOCS}"),
    ({"num_leave": 8},
     "Unknown LightGBM setting 'num_leave' (did you mean num_leaves, num_boost_round or num_class?); "
     f"LightGBM's settings are listed at {DOCS}"),
    ({"n_estimator": 100},
     "Unknown LightGBM setting 'n_estimator' (did you mean num_boost_round?); "
     f"LightGBM's settings are listed at {DOCS}"),
    ({"frobnicate": 1}, f"Unknown LightGBM setting 'frobnicate'; LightGBM's settings are listed at {DOCS}"),
    ({"objective": "poisson"},
     "LightGBM setting 'objective' is set by the workbench: it follows the task (binary, multiclass or "
     "regression; choose it with --task), and the run's predictions and metrics assume it; leave it out."),
    ({"application": "poisson"},
     "LightGBM setting 'application' (LightGBM's objective) is set by the workbench: it follows the task "
     "(binary, multiclass or regression; choose it with --task), and the run's predictions and metrics assume "
     "it; leave it out."),
    ({"num_class": 3},
     "LightGBM setting 'num_class' is set by the workbench: it is the number of the target's classes; leave it out."),
    ({"random_state": 7},
     "LightGBM setting 'random_state' (LightGBM's seed) is set by the workbench: it is the run's seed (--seed), "
     "which seeds the split and the baselines too; leave it out."),
    ({"verbose": 1},
     "LightGBM setting 'verbose' (LightGBM's verbosity) is set by the workbench: LightGBM is kept quiet so that "
     "--json prints only JSON; leave it out."),
    ({"output_model": "m.txt"},
     "LightGBM setting 'output_model' is set by the workbench: a setting of LightGBM's command-line program; "
     "the workbench passes the data and keeps the model itself; leave it out."),
    ({"predict_contrib": True},
     "LightGBM setting 'predict_contrib' is set by the workbench: a prediction setting, which does nothing in "
     "training; leave it out."),
    ({"eta": 0.1, "learning_rate": 0.2},
     "'eta' and 'learning_rate' are one LightGBM setting (learning_rate); give it once."),
    ({"num_boost_round": 10, "n_estimators": 20},
     "'num_boost_round' and 'n_estimators' are one LightGBM setting (num_iterations); give it once."),
    ({"learning_rate": ""}, "LightGBM setting 'learning_rate' has no value; give one, e.g. learning_rate=0.05."),
    ({"learning_rate": None}, "LightGBM setting 'learning_rate' has no value; give one, e.g. learning_rate=0.05."),
    ({"learning_rate": "abc"}, "LightGBM refused the settings: learning_rate='abc': it must be a number."),
    ({"num_leaves": "many"}, "LightGBM refused the settings: num_leaves='many': it must be a whole number."),
    ({"max_depth": 2.5}, "LightGBM refused the settings: max_depth=2.5: it must be a whole number."),
    ({"deterministic": "maybe"}, "LightGBM refused the settings: deterministic='maybe': it must be true or false."),
    ({"num_leaves": -1}, "LightGBM refused the settings: num_leaves=-1: it must be > 1."),
    ({"feature_fraction": 2.0}, "LightGBM refused the settings: feature_fraction=2.0: it must be <= 1.0."),
    ({"boosting": "nope"}, "LightGBM refused the settings: boosting='nope': Unknown boosting type nope."),
    ({"num_boost_round": 0}, "num_boost_round must be a whole number of at least 1, got 0."),
    ({"n_estimators": 2.5}, "n_estimators must be a whole number of at least 1, got 2.5."),
    ({"early_stopping_rounds": True}, "early_stopping_rounds must be a whole number of at least 1, got True."),
])
def test_each_bad_setting_is_refused_in_words(params, message):
    with pytest.raises(WorkbenchError) as e:
        check_params(params)
    assert str(e.value) == message


@pytest.mark.parametrize("lines, expected", [
    (["num_leaves=63", " learning_rate = 0.05 ", "", "deterministic=false", "boosting=dart"],
     {"num_leaves": 63, "learning_rate": 0.05, "deterministic": False, "boosting": "dart"}),
    (["min_sum_hessian_in_leaf=1e-3", "force_row_wise=True", "monotone_constraints=1,0,-1"],
     {"min_sum_hessian_in_leaf": 0.001, "force_row_wise": True, "monotone_constraints": "1,0,-1"}),
    ([], {}),
])
def test_name_value_texts_are_read_as_numbers_flags_or_text(lines, expected):
    parsed = train.parse_settings(lines)
    assert parsed == expected and [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize("lines, message", [
    (["num_leaves"], "Invalid LightGBM setting 'num_leaves': write NAME=VALUE, e.g. learning_rate=0.05."),
    (["=3"], "Invalid LightGBM setting '=3': write NAME=VALUE, e.g. learning_rate=0.05."),
    (["eta= "], "Invalid LightGBM setting 'eta= ': give a value after '=', e.g. eta=0.05."),
    (["num_leaves=8", "num_leaves=16"], "LightGBM setting num_leaves is given twice (8 and 16); give it once."),
])
def test_a_text_that_is_not_one_setting_is_refused(lines, message):
    with pytest.raises(WorkbenchError) as e:
        train.parse_settings(lines)
    assert str(e.value) == message


def test_every_setting_the_workbench_makes_is_one_lightgbm_knows():
    """A misspelt entry in the list would refuse nothing."""
    assert set(params.SET_BY_WORKBENCH) <= set(LIGHTGBM)
    assert set(params.OWN_SETTINGS) <= set(LIGHTGBM)


def test_a_spec_with_a_typo_is_refused_before_anything_is_read(tiny_ws):
    """TrainSpec.check (the Train page and the CLI both call it) refuses the typo, even for a
    dataset that does not exist: nothing is loaded or trained first."""
    with pytest.raises(WorkbenchError, match="Unknown LightGBM setting 'learning_rat'"):
        TrainSpec("no-such-dataset", "y", params={"learning_rat": 0.05}).check()
    with pytest.raises(WorkbenchError, match="Unknown LightGBM setting 'learning_rat'"):
        train.train(tiny_ws, TrainSpec("no-such-dataset", "y", params={"learning_rat": 0.05}))
    assert not tiny_ws.runs_dir.exists()


@pytest.fixture
def small(tiny_ws):
    build.build(tiny_ws, "d", "SELECT range % 7 AS a, range % 3 AS b, (range * 7919) % 5 > 1 AS y FROM range(600)")
    return tiny_ws


def _trained_with(run, name: str) -> str:
    """The value LightGBM's model file says it trained with."""
    text = run.model_path.read_text()
    return text[text.index(f"[{name}: ") + len(name) + 3:].split("]")[0]


def test_an_alias_is_used_not_silently_dropped(small):
    """Before, eta=0.5 reached LightGBM beside the default learning_rate=0.1, and LightGBM kept
    0.1 without a word; min_child_samples beside min_data_in_leaf likewise."""
    run = train.train(small, TrainSpec("d", "y", params={"eta": 0.5, "min_child_samples": 3, "n_estimators": 5}))
    assert _trained_with(run, "learning_rate") == "0.5" and _trained_with(run, "min_data_in_leaf") == "3"
    assert run.record.params["learning_rate"] == 0.5 and "eta" not in run.record.params
    assert run.record.params["num_boost_round"] == 5 and "n_estimators" not in run.record.params


def test_row_wise_histograms_can_be_asked_for(small):
    """The default force_col_wise gives way; LightGBM refused the two together before."""
    run = train.train(small, TrainSpec("d", "y", params={"force_row_wise": True, "num_boost_round": 3}))
    assert _trained_with(run, "force_row_wise") == "1" and _trained_with(run, "force_col_wise") == "0"


def test_early_stopping_min_delta_is_used(tiny_ws):
    """On a target LightGBM learns round after round, no round improves the validation loss by a
    whole 1.0, so early stopping keeps the first tree; the setting reached LightGBM but not the
    early-stopping callback before, and training ran on as without it."""
    build.build(tiny_ws, "e", "SELECT range % 100 AS a, (range * 7) % 11 AS b, (range % 100) > 50 AS y "
                              "FROM range(1000)")
    rounds = {"early_stopping_rounds": 3, "num_boost_round": 40}
    plain = train.train(tiny_ws, TrainSpec("e", "y", params=rounds))
    strict = train.train(tiny_ws, TrainSpec("e", "y", params={**rounds, "early_stopping_min_delta": 1.0}))
    assert plain.record.best_iteration == 40 and strict.record.best_iteration == 1
