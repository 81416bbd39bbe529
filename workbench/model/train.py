"""Quick baselines: LightGBM beside a trivial and a linear model, on a chosen split.

Training takes an Arrow table, not a pandas frame, so that another trainer (a distributed
one, say) can take the same input. Everything is seeded: the same dataset version, spec
and seed give the same metrics.
"""
from __future__ import annotations

import platform
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Literal

import math

import duckdb
import lightgbm as lgb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from sklearn.linear_model import LogisticRegression, Ridge

from workbench.engine import limits, parse_condition
from workbench.errors import WorkbenchError
from workbench.model import features
# DEFAULT_PARAMS and parse_settings are part of this module's API too (the app and the CLI use them)
from workbench.model.params import (DEFAULT_PARAMS, EARLY_STOPPING, NUM_BOOST_ROUND, REFUSED,  # noqa: F401
                                    check_params, lightgbm_reason, parse_settings, with_defaults)
from workbench.model.splits import Split, make_split, parse_split
from workbench.stats import metrics
from workbench.store import datasets, runs
from workbench.store.workspace import Workspace

TaskChoice = Literal["auto", "binary", "multiclass", "regression"]
Progress = Callable[[float, str], None]
MAX_CLASSES = 50

NOT_TIME_SPLIT = ("numeric_time applies only to a time split, and the split is {split!r}; leave "
                  "--numeric-time out or split by time:COLUMN.")
BAD_FACTOR = "Invalid up-weight factor {factor!r}: use a finite number above 0 (3 weighs the slice's rows three times)."
WEIGHTS_NONE = ("The up-weighted slice ({where}) selects none of the {rows:,} training rows; write a condition "
                "that holds on some rows of dataset {dataset!r}.")
TARGET_IS_SPLIT = ("Target {target!r} is also the split column; the column that picks the holdout rows "
                   "cannot be what the model predicts: choose another target or split.")
INFINITE_TARGET = ("Target {target!r} is infinite in {n:,} rows of dataset {dataset!r}; no loss can be measured "
                   "against infinity: leave those rows out in the dataset's SQL (WHERE isfinite({target})) or cap them.")


@dataclass(frozen=True)
class TrainSpec:
    """What to train: a dataset version, a target and a split. ``split`` is ``random``,
    ``time:COLUMN`` (the latest 20% by COLUMN held out) or ``column:COLUMN`` (rows whose value
    is ``test`` held out). A time split needs a date or timestamp column, or ``numeric_time=True``
    where a numeric column counts time."""

    dataset: str
    target: str
    task: TaskChoice = "auto"
    split: str = "random"
    drop: tuple[str, ...] = ()
    seed: int = 0
    version: int | None = None
    params: dict = field(default_factory=dict)
    numeric_time: bool = False  # a time split may order rows by a number (a day number, a period)
    upweight: str | None = None  # an SQL condition over the dataset's columns: its training rows weigh more
    upweight_factor: float = 3.0  # how much more (the holdout metrics stay unweighted)

    @property
    def split_column(self) -> str | None:
        return parse_split(self.split)[1]

    def check(self) -> None:
        kind, column = parse_split(self.split)
        if self.task not in ("auto", "binary", "multiclass", "regression"):
            raise WorkbenchError(f"Invalid task {self.task!r}: use auto, binary, multiclass or regression.")
        if column is not None and column == self.target:
            raise WorkbenchError(TARGET_IS_SPLIT.format(target=self.target))
        if self.numeric_time and kind != "time":
            raise WorkbenchError(NOT_TIME_SPLIT.format(split=self.split))
        check_params(self.params)
        factor = self.upweight_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
            raise WorkbenchError(BAD_FACTOR.format(factor=factor))
        if self.upweight is not None:
            parse_condition(self.upweight)


def detect_task(y: pl.Series) -> str:
    """binary for two values; multiclass for text, or whole numbers with at most 10 values;
    regression for other numbers."""
    n = y.n_unique()
    if n == 2:
        return "binary"
    if y.dtype in (pl.String, pl.Categorical) or isinstance(y.dtype, pl.Enum):
        return "multiclass"
    if y.dtype.is_integer() and n <= 10:
        return "multiclass"
    return "regression"


def _usable_target(frame: pl.DataFrame, spec: TrainSpec) -> pl.DataFrame:
    """The dataset's rows as training reads them: no column named like the workbench's own, and a
    target whose NaN counts as missing (its rows are left out, as a null's are). An infinite
    target is refused: no loss can be measured against it."""
    runs.check_own_names(frame.columns, spec.dataset)
    if not frame.height:
        raise WorkbenchError(f"Dataset {spec.dataset!r} has no rows; build a version whose SQL selects some.")
    if spec.target not in frame.columns or not frame.schema[spec.target].is_float():
        return frame
    y = frame[spec.target]
    infinite = int(y.is_infinite().sum())
    if infinite:
        raise WorkbenchError(INFINITE_TARGET.format(target=spec.target, n=infinite, dataset=spec.dataset))
    return frame.with_columns(pl.col(spec.target).fill_nan(None))


def _check_target(frame: pl.DataFrame, spec: TrainSpec) -> tuple[str, list]:
    if spec.target not in frame.columns:
        raise WorkbenchError(f"Unknown target column {spec.target!r}; columns: {', '.join(frame.columns)}.")
    y = frame[spec.target].drop_nulls()
    if y.n_unique() < 2:
        raise WorkbenchError(f"Target {spec.target!r} is constant or missing (it has "
                             f"{y.n_unique()} distinct non-null value); choose a target that varies.")
    task = detect_task(y) if spec.task == "auto" else spec.task
    numeric = y.dtype.is_numeric() or y.dtype == pl.Boolean
    if task == "regression" and not (numeric and y.dtype != pl.Boolean):
        raise WorkbenchError(f"Target {spec.target!r} has type {y.dtype}; regression needs numbers.")
    classes = [] if task == "regression" else sorted(y.unique().to_list())
    if task == "binary" and len(classes) != 2:
        raise WorkbenchError(f"Target {spec.target!r} has {len(classes)} classes; binary needs exactly 2.")
    if task == "multiclass" and len(classes) > MAX_CLASSES:
        raise WorkbenchError(f"Target {spec.target!r} has {len(classes)} classes (at most {MAX_CLASSES}); "
                             "use regression or group the classes in SQL.")
    return task, classes


def lightgbm_settings(spec: TrainSpec) -> tuple[dict, int, int]:
    """(LightGBM parameters, boosting rounds, early-stopping rounds) for ``spec``."""
    extra = check_params(spec.params)
    rounds = int(extra.pop("num_boost_round", NUM_BOOST_ROUND))
    stopping = int(extra.pop("early_stopping_rounds", EARLY_STOPPING))
    return {**with_defaults(extra), "seed": spec.seed}, rounds, stopping


def _inside(frame: pl.DataFrame, spec: TrainSpec) -> np.ndarray | None:
    """Which rows are inside the ``upweight`` slice (None without one). The condition is DuckDB SQL
    over the dataset's rows, run on a database that can read no file."""
    if spec.upweight is None:
        return None
    where = parse_condition(spec.upweight)
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        con.register("dataset_rows", frame.drop("_row").to_arrow())
        with limits(con):
            inside = con.sql(f"SELECT coalesce(({where}), false) AS inside FROM dataset_rows").fetchnumpy()["inside"]
    except WorkbenchError as e:
        raise WorkbenchError(f"The up-weighted slice does not apply to dataset {spec.dataset!r}: {e}") from None
    finally:
        con.close()
    return np.asarray(inside, bool)


def _lightgbm(task, n_classes, X, y, split: Split, enc, spec, progress, w=None) -> lgb.Booster:
    params, rounds, stopping = lightgbm_settings(spec)
    params["objective"] = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task]
    if task == "multiclass":
        params["num_class"] = n_classes
    cat_idx = list(range(len(enc.numeric), len(enc.names)))
    train_set = lgb.Dataset(X[split.train], y[split.train], feature_name=features.model_names(enc.names),
                            categorical_feature=cat_idx, free_raw_data=True,
                            weight=None if w is None else w[split.train])
    callbacks = [lambda env: progress(0.1 + 0.7 * (env.iteration + 1) / env.end_iteration,
                                      f"LightGBM: tree {env.iteration + 1}")]
    valid_sets = []
    if len(split.valid):
        valid_sets = [lgb.Dataset(X[split.valid], y[split.valid], reference=train_set,
                                  weight=None if w is None else w[split.valid])]
        callbacks.append(lgb.early_stopping(stopping, min_delta=float(params.get("early_stopping_min_delta", 0.0)),
                                            verbose=False))
    try:
        return lgb.train(params, train_set, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks)
    except lgb.basic.LightGBMError as e:
        raise WorkbenchError(REFUSED.format(reason=lightgbm_reason(e))) from None


def _linear(task, X, y, split, enc, seed, w=None):
    inputs = features.LinearInputs.fit(X[split.train], enc)
    Xt = inputs.transform(X[split.train])
    sw = None if w is None else w[split.train]
    if task == "regression":
        model = Ridge(alpha=1.0).fit(Xt, y[split.train], sample_weight=sw)
    else:
        model = LogisticRegression(max_iter=300, C=1.0, random_state=seed).fit(Xt, y[split.train], sample_weight=sw)
    return model, inputs.transform(X[split.holdout])


def _scores(task, proba) -> tuple[np.ndarray, np.ndarray | None]:
    """(prediction, probability for metrics) from raw model output."""
    if task == "regression":
        return proba, None
    if task == "binary":
        return (proba >= 0.5).astype(np.int64), proba
    return proba.argmax(axis=1), proba


@dataclass(frozen=True)
class Fitted:
    """What training produced, before it is stored as a run: everything the run record says of
    the models and the split, LightGBM's model text and the holdout predictions."""

    target: str
    task: str
    classes: tuple
    encoding: features.Encoding
    ignored_columns: tuple[str, ...]
    dropped: tuple[str, ...]
    split: runs.SplitInfo
    seed: int
    params: dict
    best_iteration: int
    metrics: dict[str, dict]
    timings: dict[str, float]
    versions: dict[str, str]
    model_text: str
    predictions: pa.Table
    weighting: dict | None = None  # the up-weighted slice: where, factor, train_rows_weighted

    def record(self, run_id: str, created: str, dataset: runs.DatasetRef) -> runs.RunRecord:
        """The run record of this training, stored as ``run.json``."""
        names = self.encoding.names
        return runs.RunRecord(
            run_id=run_id, created=created, dataset=dataset, target=self.target, task=self.task,
            classes=self.classes, positive_class=self.classes[1] if self.task == "binary" else None,
            features=tuple(names), model_feature_names=tuple(features.model_names(names)), split=self.split,
            seed=self.seed, params=self.params, best_iteration=self.best_iteration,
            encoding=self.encoding.to_dict(), metrics=self.metrics, ignored_columns=self.ignored_columns,
            dropped=self.dropped, timings=self.timings, versions=self.versions, weighting=self.weighting)


def fit(table: pa.Table, spec: TrainSpec, progress: Progress | None = None) -> Fitted:
    """Train the three models on ``table``."""
    progress = progress or (lambda fraction, message: None)
    spec.check()
    timings, started = {}, time.perf_counter()
    frame = _usable_target(pl.from_arrow(table), spec)
    task, classes = _check_target(frame, spec)
    frame = frame.with_row_index("_row").filter(pl.col(spec.target).is_not_null())
    target = frame[spec.target]
    if task == "regression":
        y = target.cast(pl.Float64).to_numpy()
    else:
        y = target.replace_strict(classes, list(range(len(classes))), return_dtype=pl.Int64).to_numpy()
    missing = [c for c in spec.drop if c not in frame.columns]
    if missing:
        raise WorkbenchError(f"Unknown column(s) to drop: {', '.join(missing)}; columns: {', '.join(frame.columns[1:])}.")
    excluded = {spec.target, "_row", *spec.drop, spec.split_column}
    candidates = [c for c in frame.columns if c not in excluded]
    ignored = [c for c in candidates if features.feature_kind(frame.schema[c]) is None]
    feature_cols = [c for c in candidates if c not in ignored]
    if not feature_cols:
        raise WorkbenchError("No feature columns are left after the target, split column and dropped columns.")
    progress(0.02, "Splitting")
    split = make_split(frame, spec.split, y, task, seed=spec.seed, numeric_time=spec.numeric_time,
                       classes=classes, target=spec.target)
    progress(0.05, "Encoding features")
    enc = features.fit_encoding(frame[split.train], feature_cols)
    X = features.matrix(frame, enc)
    inside = _inside(frame, spec)
    w = weighting = None
    if inside is not None:  # training and validation rows inside weigh the factor; the holdout is not weighted
        w = np.where(inside, float(spec.upweight_factor), 1.0)
        weighted = int(np.count_nonzero(inside[split.train]))
        if weighted == 0:
            raise WorkbenchError(WEIGHTS_NONE.format(where=parse_condition(spec.upweight), rows=len(split.train),
                                                     dataset=spec.dataset))
        weighting = {"where": parse_condition(spec.upweight), "factor": float(spec.upweight_factor),
                     "train_rows_weighted": weighted}
    timings["prepare"] = time.perf_counter() - started

    t = time.perf_counter()
    booster = _lightgbm(task, len(classes), X, y, split, enc, spec, progress, w)
    timings["lightgbm"] = time.perf_counter() - t
    progress(0.82, "Linear baseline")
    t = time.perf_counter()
    linear, X_hold_linear = _linear(task, X, y, split, enc, spec.seed, w)
    timings["linear"] = time.perf_counter() - t

    progress(0.9, "Scoring the holdout")
    y_hold = y[split.holdout]
    raw = {"lightgbm": booster.predict(X[split.holdout], num_iteration=booster.best_iteration or None)}
    if task == "regression":
        raw["linear"] = linear.predict(X_hold_linear)
        raw["trivial"] = np.full(len(y_hold), np.average(y[split.train], weights=None if w is None else w[split.train]))
    else:
        proba = linear.predict_proba(X_hold_linear)
        raw["linear"] = proba[:, 1] if task == "binary" else proba
        tw = np.ones(len(split.train)) if w is None else w[split.train]
        prior = np.bincount(y[split.train], tw, minlength=len(classes)) / tw.sum()
        raw["trivial"] = np.full(len(y_hold), prior[1]) if task == "binary" else np.tile(prior, (len(y_hold), 1))
    scores = {}
    for name, out in raw.items():
        pred, proba = _scores(task, out)
        scores[name] = metrics.evaluate(task, y_hold, pred, proba, n_classes=max(len(classes), 2), seed=spec.seed)

    pred, proba = _scores(task, raw["lightgbm"])
    predictions = _predictions(frame, spec, split, task, classes, y_hold, pred, proba)
    if task != "multiclass":  # the linear baseline's output, for its curves beside LightGBM's
        predictions = predictions.append_column(
            "_score_linear" if task == "binary" else "_pred_linear", pa.array(raw["linear"]))
    timings["total"] = time.perf_counter() - started
    progress(1.0, "Done")
    params, rounds, stopping = lightgbm_settings(spec)
    return Fitted(
        target=spec.target, task=task, classes=tuple(classes), encoding=enc, ignored_columns=tuple(ignored),
        dropped=tuple(spec.drop), split=split.info, seed=spec.seed,
        params={**params, "num_boost_round": rounds, "early_stopping_rounds": stopping},
        best_iteration=int(booster.best_iteration or booster.current_iteration()), metrics=scores,
        timings={k: round(v, 3) for k, v in timings.items()},
        versions={"python": platform.python_version(), "lightgbm": lgb.__version__,
                  "scikit-learn": sklearn.__version__, "duckdb": duckdb.__version__,
                  "polars": pl.__version__, "numpy": np.__version__},
        model_text=booster.model_to_string(), predictions=predictions, weighting=weighting)


def _predictions(frame, spec, split, task, classes, y_hold, pred, proba) -> pa.Table:
    hold = frame[split.holdout].drop(spec.target)
    cols = {"_label": frame[spec.target][split.holdout]}
    loss = metrics.row_loss(task, y_hold, pred, proba)
    if task == "regression":
        cols["_pred"] = pl.Series(pred)
    else:
        cols["_pred"] = pl.Series([classes[i] for i in pred], dtype=cols["_label"].dtype)
        if task == "binary":
            cols["_score"] = pl.Series(proba)
    cols["_loss"] = pl.Series(loss)
    if task != "regression":
        cols["_correct"] = pl.Series(pred == y_hold)
    return hold.with_columns(**cols).to_arrow()


def train(ws: Workspace, spec: TrainSpec, progress: Progress | None = None) -> runs.Run:
    """Train on a stored dataset version and record the run in the workspace."""
    spec.check()
    version = datasets.load_version(ws, spec.dataset, spec.version)
    table = pq.read_table(version.path)
    fitted = fit(table, spec, progress)
    now = datetime.now(timezone.utc)  # the id's time and ``created`` are one instant, in UTC
    run_id = now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    record = fitted.record(run_id, now.isoformat(timespec="seconds"),
                           runs.DatasetRef(version.name, version.version, version.hash, version.rows))
    return runs.write_run(ws, record, fitted.model_text, fitted.predictions)
