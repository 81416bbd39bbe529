"""Splitting a dataset's rows into training, early-stopping validation and holdout rows.

- ``random``: 80/20, stratified for classification, then 10% of training for validation;
- ``time:COLUMN``: the rows at or after the time that starts the latest 20% are the holdout,
  and the latest 10% of the rest validate; training rows all come before the holdout's first time.
  COLUMN is a date or timestamp, or a number that counts time where ``numeric_time`` says so;
- ``column:COLUMN``: rows marked ``test`` are the holdout, ``valid``/``validation`` validate
  (else a random 10% of the rest).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from workbench.engine.sql import quote
from workbench.errors import WorkbenchError
from workbench.store.runs import SplitInfo

HOLDOUT = 0.2
VALID = 0.1
TEST_VALUES = ("test",)
VALID_VALUES = ("valid", "validation")
SPLIT_KINDS = ("random", "time", "column")
BAD_SPLIT = "Invalid split {split!r}: use 'random', 'time:COLUMN' or 'column:COLUMN'."
NUMBER_NOT_TIME = ("Split column {column!r} is {type}, not a date or timestamp; a time split needs one, or if "
                   "{column!r} counts time (a day number, a period index) pass --numeric-time (on the Train "
                   "page, tick 'The column counts time').")
NOT_TIME = ("Split column {column!r} is {type}, not a date or timestamp; a time split needs one: choose another "
            "column, or make one in the dataset's SQL (for text holding dates, e.g. CAST({sql} AS DATE)).")
NO_TIMES = "Time column {column!r} has no values; choose a column with times for a time split."
FEW_TIMES = "Time column {column!r} has too few distinct values to hold out the latest 20%."
NO_TEST = "Split column {column!r} has no rows marked 'test'; mark holdout rows with 'test'."
FEW_TRAIN = "The split leaves fewer than 2 training rows; use more data or another split."
NO_HOLDOUT = ("The {kind} split of these {rows:,} rows leaves no holdout rows to measure the models on; use a "
              "dataset of at least 5 rows (20 or more for metrics worth reading), or mark holdout rows "
              "with a column: split.")
UNSEEN_CLASSES = ("{what} of target {target!r} {verb} in no training row after the {kind} split ({where}); a "
                  "classifier learns only the classes it sees: filter {them} out or merge {them} into another "
                  "class in the dataset's SQL, or mark more of {them} as training rows with a column: split.")


# DuckDB's names for the types a dataset's columns arrive in, as the workbench shows them elsewhere
_DUCKDB_TYPES = {
    pl.Int8: "TINYINT", pl.Int16: "SMALLINT", pl.Int32: "INTEGER", pl.Int64: "BIGINT", pl.Int128: "HUGEINT",
    pl.UInt8: "UTINYINT", pl.UInt16: "USMALLINT", pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT",
    pl.Float32: "FLOAT", pl.Float64: "DOUBLE", pl.Decimal: "DECIMAL", pl.Boolean: "BOOLEAN", pl.String: "VARCHAR",
    pl.Time: "TIME", pl.Duration: "INTERVAL", pl.Binary: "BLOB", pl.List: "LIST", pl.Struct: "STRUCT",
}


@dataclass(frozen=True)
class Split:
    """Sorted row indices of each part, and what the run record says of the split."""

    train: np.ndarray
    valid: np.ndarray
    holdout: np.ndarray
    info: SplitInfo


def parse_split(split: str) -> tuple[str, str | None]:
    """``'time:COL'`` -> ``('time', 'COL')``; a WorkbenchError for anything else."""
    kind, sep, column = split.partition(":")
    if kind not in SPLIT_KINDS or (kind == "random" and sep) or (kind != "random" and not column):
        raise WorkbenchError(BAD_SPLIT.format(split=split))
    return kind, column or None


def check_time_column(column: pl.Series, *, numeric_time: bool = False) -> None:
    """A WorkbenchError unless ``column`` can order rows in time: a date or a timestamp, or a
    number where ``numeric_time`` says it counts time."""
    dtype = column.dtype
    if dtype in (pl.Date, pl.Datetime) or (numeric_time and dtype.is_numeric()):
        return
    name = _DUCKDB_TYPES.get(dtype.base_type(), str(dtype))
    message = NUMBER_NOT_TIME if dtype.is_numeric() else NOT_TIME
    raise WorkbenchError(message.format(column=column.name, type=name, sql=quote(column.name)))


def _latest(order_values: pl.Series, rows: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask over ``rows``: those at or after the time that starts the latest ``share``;
    rows without a time are never among the latest."""
    values = order_values.gather(rows)
    present = values.drop_nulls().sort()
    if not present.len():
        return np.zeros(len(rows), bool)
    cut = present[int((1 - share) * present.len())]
    return (values >= cut).fill_null(False).to_numpy()


def _random(rows: np.ndarray, y: np.ndarray | None, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``rows``, stratified by ``y`` where every class has 2+ rows."""
    from sklearn.model_selection import train_test_split
    if len(rows) < 5:
        return rows, rows[:0]
    strat = y[rows] if y is not None else None
    if strat is not None and np.bincount(strat).min(initial=2) < 2:
        strat = None
    if strat is not None and np.unique(strat).size > share * len(rows):
        strat = None
    a, b = train_test_split(rows, test_size=share, random_state=seed, stratify=strat)
    return a, b


def _check_classes(y: np.ndarray, train: np.ndarray, classes: list | None, target: str, kind: str) -> None:
    """Refuse a split whose training rows miss a class the dataset has, naming the classes."""
    counts = np.bincount(y, minlength=len(classes or ()))
    seen = np.bincount(y[train], minlength=len(counts))
    unseen = np.flatnonzero((counts > 0) & (seen == 0))
    if not len(unseen):
        return
    names = [repr(classes[i]) if classes else f"#{i}" for i in unseen]
    where = ", ".join(f"{n}: {int(counts[i]):,} row{'s' if counts[i] != 1 else ''} in all"
                      for n, i in zip(names, unseen))
    several = len(unseen) > 1
    raise WorkbenchError(UNSEEN_CLASSES.format(
        what=f"Classes {', '.join(names[:5])}" if several else f"Class {names[0]}", verb="appear" if several else
        "appears", target=target, kind=kind, where=where if len(unseen) <= 5 else where.split(", ")[0] + ", ...",
        them="them" if several else "it"))


def make_split(frame: pl.DataFrame, split: str, y: np.ndarray, task: str, *, seed: int = 0,
               numeric_time: bool = False, classes: list | None = None, target: str = "target") -> Split:
    """Row indices of ``frame`` for training, early-stopping validation and holdout.

    A time split needs a date or timestamp column, or ``numeric_time=True`` where a numeric
    column counts time (a day number, a period index). Every part a baseline needs must hold
    rows, and for classification every class (``y`` codes ``classes``' positions) must have
    training rows: a class the models never saw cannot be scored."""
    kind, col = parse_split(split)
    rows = np.arange(frame.height)
    stratify = y if task != "regression" else None
    if col is not None and col not in frame.columns:
        raise WorkbenchError(f"Unknown split column {col!r}; columns: {', '.join(frame.columns)}.")
    if kind == "time":
        check_time_column(frame[col], numeric_time=numeric_time)
        if frame[col].null_count() == frame.height:
            raise WorkbenchError(NO_TIMES.format(column=col))
        late = _latest(frame[col], rows, HOLDOUT)
        rest, holdout = rows[~late], rows[late]
        if not len(rest) or not len(holdout):
            raise WorkbenchError(FEW_TIMES.format(column=col))
        valid_mask = _latest(frame[col], rest, VALID)
        train, valid = rest[~valid_mask], rest[valid_mask]
    elif kind == "column":
        marks = frame[col].cast(pl.String).str.to_lowercase().fill_null("")
        holdout_mask = marks.is_in(TEST_VALUES).to_numpy()
        if not holdout_mask.any():
            raise WorkbenchError(NO_TEST.format(column=col))
        valid_mask = marks.is_in(VALID_VALUES).to_numpy()
        holdout = rows[holdout_mask]
        if valid_mask.any():
            train, valid = rows[~holdout_mask & ~valid_mask], rows[valid_mask]
        else:
            train, valid = _random(rows[~holdout_mask], stratify, VALID, seed + 1)
    else:
        train, holdout = _random(rows, stratify, HOLDOUT, seed)
        train, valid = _random(train, stratify, VALID, seed + 1)
    if len(train) < 2:
        raise WorkbenchError(FEW_TRAIN)
    if not len(holdout):
        raise WorkbenchError(NO_HOLDOUT.format(kind=kind, rows=frame.height))
    if task != "regression":
        _check_classes(y, train, classes, target, kind)
    info = SplitInfo(kind, col, n_train=int(len(train)), n_valid=int(len(valid)), n_holdout=int(len(holdout)),
                     numeric_time=numeric_time)
    return Split(np.sort(train), np.sort(valid), np.sort(holdout), info)
