"""Predictions made elsewhere, imported as a run.

A production model, a deep net or another team's model scored some rows of a dataset; a parquet
file holds one row per prediction with a key column that the dataset has too. Importing aligns
the file on that key with the dataset version's rows and stores a run like a trained one: the
same ``predictions.parquet`` (the matched rows' dataset columns, ``_row``, ``_label``, ``_pred``,
``_score`` for binary, ``_loss``, ``_correct``) and a ``run.json`` whose ``source`` says which file,
which key and how many rows matched. There is no ``model.txt``: every analysis of the predictions
works (breakdowns, discovery, the error tree, comparison, the report); explanations need the model
and refuse.

The task and classes come from the target as training finds them. A binary target takes
``score``, the probability of the positive class (the second of the sorted classes); a regression
target takes ``pred``, the predicted value; a multiclass target takes ``pred``, the predicted class.
``_loss`` is what training stores (log loss, squared error), except for a multiclass run, which has
no probabilities: there ``_loss`` is the 0/1 misclassification (1 for a wrong class) and the run's
metrics leave log loss out.

>>> run = import_predictions(ws, "prod_model", dataset="flights_delay", file="prod.parquet",
...                          key="flight_id", score="p_late", target="late")  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.errors import WorkbenchError
from workbench.model import features
from workbench.model.train import TrainSpec, _check_target
from workbench.stats import metrics
from workbench.store import datasets, runs
from workbench.store.workspace import Workspace, check_name

IMPORTED = "imported"  # the run's one model, in its metrics, and the split's kind
GIVEN = "__given"      # the file's prediction column while it is aligned (never stored)
EXAMPLES = 5
LOSS = {"binary": "log loss", "regression": "squared error",
        "multiclass": "misclassification (1 for a wrong class, else 0): no probabilities were imported"}

ONE_OF = ("Give exactly one of --score (the probability of the positive class, for a binary target) or --pred "
          "(the predicted value or class, for a regression or multiclass target); got {got}.")
RUN_EXISTS = "Run {name!r} exists already; choose another name for the imported predictions."
NO_TARGET = ("Name the column of dataset {dataset!r} v{version} that holds the true labels with --target; "
             "columns: {columns}.")
TARGET_ABSENT = ("Target {target!r} is not a column of dataset {dataset!r} v{version}: the labels come from the "
                 "dataset, never from the predictions file. Build a dataset version that has the label column "
                 "(with the key), or name one of: {columns}.")
FILE_MISSING = "Predictions file {file} does not exist (or is not a file): give the path of a parquet file."
FILE_UNREADABLE = ("Predictions file {file} is not a readable parquet file ({reason}); write it with to_parquet "
                   "or COPY ... (FORMAT parquet).")
KEY_NOT_IN_FILE = ("Key column {key!r} is not in {file}; its columns: {columns}. Name with --key the column that "
                   "identifies rows in both the file and the dataset.")
KEY_NOT_IN_DATASET = ("Key column {key!r} is not in dataset {dataset!r} v{version}; its columns: {columns}. "
                      "Rebuild the dataset with an identifier column, or name one that both have.")
KEY_IS_TARGET = "Key column {key!r} is the target too: the key identifies rows, the target holds their labels."
COLUMN_NOT_IN_FILE = "Column {column!r} (--{option}) is not in {file}; its columns: {columns}."
COLUMN_IS_KEY = "Column {column!r} is the key; --{option} names the column holding the predictions."
NULL_KEYS = "{n:,} rows of {file} have no key (null {key!r}); every prediction needs the key of its row."
DUPLICATE_FILE_KEYS = ("{n:,} keys appear more than once in {file} (e.g. {key}={example!r}, {times} times); "
                       "give one prediction per row.")
DUPLICATE_DATASET_KEYS = ("Key {key!r} does not identify rows of dataset {dataset!r} v{version}: {n:,} values "
                          "appear more than once (e.g. {example!r}, {times} times). Choose a column with a distinct "
                          "value in every row, or build one (SELECT row_number() OVER () AS id, * ...).")
KEY_TYPES = ("Key {key!r} is {file_type} in {file} but {dataset_type} in the dataset, and the file's values do not "
             "convert; write the key with the dataset's type.")
NO_MATCH = ("None of the {n:,} keys in {file} matches a row of dataset {dataset!r} v{version} on {key!r} (file: "
            "{file_examples}; dataset: {dataset_examples}); check the key column and the dataset version.")
NO_LABELS = ("The {n:,} matched rows all have a missing target {target!r}; predictions can be reviewed only on rows "
             "whose label is known.")
MISSING_VALUES = ("{n:,} of {total:,} predictions in column {column!r} are missing (null or NaN), e.g. for "
                  "{key}={example!r}; give every row a prediction, or leave those rows out of the file.")
NOT_NUMBERS = "Column {column!r} has type {dtype}; --{option} needs numbers for a {task} target."
SCORE_RANGE = ("{n:,} scores in {column!r} are outside [0, 1] (min {low:.4g}, max {high:.4g}); --score takes the "
               "probability of the positive class {positive!r}. Convert margins or logits with 1 / (1 + exp(-x)).")
NEEDS_SCORE = ("Target {target!r} is binary (classes {classes}): import the probability of the positive class "
               "{positive!r} (the second of the sorted classes) with --score, not --pred.")
NEEDS_PRED = ("Target {target!r} is {task}: import the predicted {what} with --pred; --score is for a binary "
              "target's positive-class probability.")
NOT_CLASSES = ("{n:,} predictions in {column!r} are not classes of target {target!r} (e.g. {example!r}); "
               "classes: {classes}.")


def _read(file: str | Path) -> tuple[Path, pl.DataFrame]:
    path = Path(file).expanduser()
    if not path.is_file():
        raise WorkbenchError(FILE_MISSING.format(file=path))
    try:
        return path.resolve(), pl.from_arrow(pq.read_table(path))
    except (pa.ArrowException, OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WorkbenchError(FILE_UNREADABLE.format(file=path, reason=reason)) from None


def _fingerprint(path: Path, name: str | None) -> dict:
    """Name, size, modification time and SHA-256 of the file: which predictions these were."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    stat = path.stat()
    return {"file": name or str(path), "size": stat.st_size, "sha256": digest.hexdigest(),
            "modified": datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(timespec="seconds")}


def _plain(values) -> list:
    """Example values as JSON can hold them."""
    return [v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for v in values]


def _duplicates(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    return (frame.filter(pl.col(key).is_not_null()).group_by(key).len()
            .filter(pl.col("len") > 1).sort(["len", key], descending=[True, False]))


def _missing(s: pl.Series) -> pl.Series:
    return s.is_null() | s.is_nan() if s.dtype.is_float() else s.is_null()


def _check_values(task: str, given: pl.Series, label: pl.Series, classes: list, column: str, option: str,
                  target: str, positive: Any) -> pl.Series:
    """The predictions as the run stores them (a float score or value; a class of the label's type)."""
    if task != "multiclass" and not (given.dtype.is_numeric() and given.dtype != pl.Boolean):
        raise WorkbenchError(NOT_NUMBERS.format(column=column, dtype=given.dtype, option=option, task=task))
    if task == "binary":
        out = given.cast(pl.Float64)
        outside = (out < 0) | (out > 1)
        if outside.any():
            raise WorkbenchError(SCORE_RANGE.format(n=int(outside.sum()), column=column, low=out.min(),
                                                    high=out.max(), positive=positive))
        return out
    if task == "regression":
        return given.cast(pl.Float64)
    out = given.cast(label.dtype, strict=False)
    bad = out.is_null() | ~out.is_in(classes)
    if bad.any():
        raise WorkbenchError(NOT_CLASSES.format(n=int(bad.sum()), column=column, target=target,
                                                example=given.filter(bad)[0],
                                                classes=", ".join(map(repr, classes))))
    return out


def import_predictions(ws: Workspace, name: str, *, dataset: str, file: str | Path, key: str,
                       score: str | None = None, pred: str | None = None, target: str | None = None,
                       version: int | None = None, file_name: str | None = None) -> runs.Run:
    """Store the predictions in ``file`` of rows of ``dataset`` (its latest version, or ``version``)
    as run ``name``, aligned on the column ``key`` that both have; the dataset's ``target`` column
    gives the labels.

    Exactly one of ``score`` (binary: the positive class's probability) and ``pred`` (regression:
    the value; multiclass: the class) names the file's prediction column. The rows of the dataset
    whose key is in the file are the run's holdout; keys that match no row are counted in the
    record's ``source`` (none matching is an error), as are matched rows whose label is missing
    (left out, as training leaves them out). ``file_name`` is how the record names the file (an
    upload's own name, say); by default its resolved path.
    """
    started = time.perf_counter()
    check_name(name, kind="run name")
    if (ws.runs_dir / name).exists():
        raise WorkbenchError(RUN_EXISTS.format(name=name))
    if (score is None) == (pred is None):
        raise WorkbenchError(ONE_OF.format(got="both" if score is not None else "neither"))
    column, option = (score, "score") if score is not None else (pred, "pred")
    v = datasets.load_version(ws, dataset, version)
    data = pl.read_parquet(v.path)
    runs.check_own_names(data.columns, v.name)
    names = ", ".join(data.columns)
    if target is None:
        raise WorkbenchError(NO_TARGET.format(dataset=v.name, version=v.version, columns=names))
    if target not in data.columns:
        raise WorkbenchError(TARGET_ABSENT.format(target=target, dataset=v.name, version=v.version, columns=names))
    path, given = _read(file)
    if key not in given.columns:
        raise WorkbenchError(KEY_NOT_IN_FILE.format(key=key, file=path, columns=", ".join(given.columns)))
    if key not in data.columns:
        raise WorkbenchError(KEY_NOT_IN_DATASET.format(key=key, dataset=v.name, version=v.version, columns=names))
    if key == target:
        raise WorkbenchError(KEY_IS_TARGET.format(key=key))
    if column not in given.columns:
        raise WorkbenchError(COLUMN_NOT_IN_FILE.format(column=column, option=option, file=path,
                                                       columns=", ".join(given.columns)))
    if column == key:
        raise WorkbenchError(COLUMN_IS_KEY.format(column=column, option=option))

    task, classes = _check_target(data, TrainSpec(v.name, target))
    positive = classes[1] if task == "binary" else None
    if task == "binary" and pred is not None:
        raise WorkbenchError(NEEDS_SCORE.format(target=target, classes=", ".join(map(repr, classes)),
                                                positive=positive))
    if task != "binary" and score is not None:
        raise WorkbenchError(NEEDS_PRED.format(target=target, task=task,
                                               what="value" if task == "regression" else "class"))

    given = given.select(key, pl.col(column).alias(GIVEN))
    if given[key].null_count():
        raise WorkbenchError(NULL_KEYS.format(n=given[key].null_count(), file=path, key=key))
    dup = _duplicates(given, key)
    if dup.height:
        raise WorkbenchError(DUPLICATE_FILE_KEYS.format(n=dup.height, file=path, key=key, example=dup[0, key],
                                                        times=dup[0, "len"]))
    dup = _duplicates(data, key)
    if dup.height:
        raise WorkbenchError(DUPLICATE_DATASET_KEYS.format(key=key, dataset=v.name, version=v.version, n=dup.height,
                                                           example=dup[0, key], times=dup[0, "len"]))
    missing = _missing(given[GIVEN])
    if missing.any():
        raise WorkbenchError(MISSING_VALUES.format(n=int(missing.sum()), total=given.height, column=column, key=key,
                                                   example=given.filter(missing)[0, key]))
    if given.schema[key] != data.schema[key]:
        try:
            given = given.with_columns(pl.col(key).cast(data.schema[key], strict=True))
        except pl.exceptions.PolarsError:
            raise WorkbenchError(KEY_TYPES.format(key=key, file=path, file_type=given.schema[key],
                                                  dataset_type=data.schema[key])) from None

    # the dataset's row numbers first, so _row is each row's place in the version, as in training
    joined = data.with_row_index("_row").join(given, on=key, how="inner").sort("_row")
    matched = joined.height
    if not matched:
        raise WorkbenchError(NO_MATCH.format(n=given.height, file=path, dataset=v.name, version=v.version, key=key,
                                             file_examples=", ".join(map(repr, given[key].head(3).to_list())),
                                             dataset_examples=", ".join(map(repr, data[key].head(3).to_list()))))
    unmatched = given.join(data.select(key), on=key, how="anti")
    unlabelled = joined[target].null_count()
    joined = joined.filter(pl.col(target).is_not_null())
    if not joined.height:
        raise WorkbenchError(NO_LABELS.format(n=matched, target=target))

    label = joined[target]
    values = _check_values(task, joined[GIVEN], label, classes, column, option, target, positive)
    cols: dict[str, pl.Series] = {"_label": label}
    proba = None
    if task == "regression":
        y, p = label.cast(pl.Float64).to_numpy(), values.to_numpy()
        cols["_pred"] = values
        loss = metrics.row_loss(task, y, p, None)
    else:
        codes = pl.Series(classes, dtype=label.dtype)
        index = {c: i for i, c in enumerate(classes)}
        y = label.replace_strict(index, return_dtype=pl.Int64).to_numpy()
        if task == "binary":
            proba = values.to_numpy()
            p = (proba >= 0.5).astype(np.int64)  # training's rule
            cols["_pred"] = codes.gather(p)
            cols["_score"] = values
            loss = metrics.row_loss(task, y, p, proba)
        else:
            p = values.replace_strict(index, return_dtype=pl.Int64).to_numpy()
            cols["_pred"] = values
            loss = (p != y).astype(np.float64)
    cols["_loss"] = pl.Series(loss, dtype=pl.Float64)
    if task != "regression":
        cols["_correct"] = pl.Series(p == y)
    predictions = joined.drop(target, GIVEN).with_columns(**cols).to_arrow()

    if task == "multiclass":  # evaluate wants probabilities; the one-hot's log loss means nothing, so it goes
        onehot = np.eye(len(classes))[p]
        scores = metrics.evaluate(task, y, p, onehot, n_classes=len(classes), seed=0)
        scores = {k: v for k, v in scores.items() if not k.startswith("log_loss")}
    else:
        scores = metrics.evaluate(task, y, p, proba, n_classes=max(len(classes), 2), seed=0)

    columns = [c for c in data.columns if c not in (target, key)]
    usable = [c for c in columns if features.feature_kind(data.schema[c]) is not None]
    source = {"kind": IMPORTED, **_fingerprint(path, file_name), "key": key, "score": score, "pred": pred,
              "rows_in_file": given.height, "rows_matched": matched, "rows_unmatched": unmatched.height,
              "unmatched_examples": _plain(unmatched[key].head(EXAMPLES).to_list()),
              "rows_unlabelled": unlabelled, "loss": LOSS[task]}
    now = datetime.now(timezone.utc)
    record = runs.RunRecord(
        run_id=name, created=now.isoformat(timespec="seconds"),
        dataset=runs.DatasetRef(v.name, v.version, v.hash, v.rows), target=target, task=task,
        classes=tuple(classes), positive_class=positive,
        # no model: the columns the analyses search are those training could have used
        features=tuple(usable), model_feature_names=(),
        split=runs.SplitInfo(IMPORTED, key, n_train=0, n_valid=0, n_holdout=joined.height),
        seed=0, params={}, best_iteration=0, encoding={}, metrics={IMPORTED: scores},
        ignored_columns=tuple(c for c in columns if c not in usable),
        timings={"total": round(time.perf_counter() - started, 3)},
        versions={"python": platform.python_version(), "polars": pl.__version__, "numpy": np.__version__,
                  "pyarrow": pa.__version__},
        source=source)
    return runs.write_run(ws, record, None, predictions)
