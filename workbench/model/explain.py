"""SHAP values of a run's LightGBM model: LightGBM's own TreeSHAP, cached beside the run.

TreeSHAP costs about a hundred predictions per row, so rows are explained in a seeded random
order (:func:`explain_order`): a sample is the first N rows of that order, a larger sample
extends it, and a slice's sample is its rows in the same order. Values are computed only for
rows not yet explained, in chunks, and kept in ``<run>/shap/`` as parquet parts keyed by
``_row`` (float32: a contribution's rounding is below 1e-7 of its size); each part is written
under a temporary name and renamed, so a killed process leaves no half part behind.

Rows are re-encoded with the run's stored encoding (:mod:`workbench.model.features`), the one
training used, so a what-if row goes through exactly the training-time coding. shap's
``TreeExplainer`` gives the same values on the same model and rows (the tests' oracle).
"""
from __future__ import annotations

import functools
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import lightgbm as lgb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.model import features
from workbench.store.runs import Run

SHAP_DIR = "shap"
CHUNK = 10_000  # rows explained, and written as one part, at a time: memory stays bounded
COMPACT_PARTS = 32  # more parts than this are merged into one
Progress = Callable[[float, str], None]


@functools.lru_cache(maxsize=8)
def _booster(model_path: str) -> lgb.Booster:
    return lgb.Booster(model_file=model_path)


def booster(run: Run) -> lgb.Booster:
    """The run's LightGBM model (``model.txt`` holds the trees up to the best iteration)."""
    return _booster(str(run.model_path))


def encoding(run: Run) -> features.Encoding:
    return features.Encoding.from_dict(run.record.encoding)


def outputs(run: Run) -> int:
    """How many margins the model gives a row: one per class for multiclass, else one."""
    return len(run.record.classes) if run.task == "multiclass" else 1


def contributions(run: Run, frame: pl.DataFrame) -> np.ndarray:
    """TreeSHAP of ``frame``'s rows (the run's feature columns, as stored): an array of shape
    (rows, outputs, features + 1) whose last column is the base value, so each row's values sum
    to its raw score (log-odds for binary, the class margins for multiclass)."""
    X = features.matrix(frame, encoding(run))
    p = X.shape[1]
    if not len(X):
        return np.empty((0, outputs(run), p + 1))
    out = np.asarray(booster(run).predict(X, pred_contrib=True))
    return out.reshape(len(X), outputs(run), p + 1)


def raw_scores(run: Run, frame: pl.DataFrame) -> np.ndarray:
    """The model's margins for ``frame``'s rows: (rows, outputs)."""
    X = features.matrix(frame, encoding(run))
    return np.asarray(booster(run).predict(X, raw_score=True)).reshape(len(X), outputs(run))


def prediction(run: Run, raw: np.ndarray) -> np.ndarray:
    """Margins to the model's output: the positive class's probability (binary), each class's
    probability (multiclass), the value (regression)."""
    raw = np.asarray(raw, np.float64)
    if run.task == "binary":
        return 1 / (1 + np.exp(-raw[..., 0]))
    if run.task == "multiclass":
        e = np.exp(raw - raw.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return raw[..., 0]


# ---- which rows, in which order ------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _order(predictions: str, seed: int) -> np.ndarray:
    rows = pq.read_table(predictions, columns=["_row"])["_row"].to_numpy()
    return np.random.default_rng(seed).permutation(np.sort(rows))


def explain_order(run: Run, seed: int = 0) -> np.ndarray:
    """The holdout's ``_row`` values in a seeded random order: any first N are a random sample."""
    return _order(str(run.predictions), int(seed))


@functools.lru_cache(maxsize=1)
def _holdout(predictions: str, columns: tuple[str, ...], stamp: tuple[int, int]) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The holdout's feature columns, and ``_row`` sorted with each row's place in the table.

    Held for the last run explained (163 MB for a million rows of 20 features): a sample's rows
    lie all over the file (stored worst loss first), so reading them from the file would read
    it whole for every sample, 0.3 to 0.9 s at a million rows."""
    table = pq.read_table(predictions, columns=list(columns))
    rows = table["_row"].to_numpy().astype(np.int64)
    place = np.argsort(rows, kind="stable")
    return table, rows[place], place


def feature_rows(run: Run, rows: np.ndarray) -> pl.DataFrame:
    """The holdout rows ``rows`` (``_row`` values), with ``_row`` and the run's feature columns,
    in the order of ``rows``; a value that is no holdout row is left out."""
    path = run.predictions
    status = path.stat()
    table, ordered, place = _holdout(str(path), ("_row", *run.record.features), (status.st_mtime_ns, status.st_size))
    wanted = np.asarray(rows, dtype=np.int64)
    at = np.minimum(np.searchsorted(ordered, wanted), max(len(ordered) - 1, 0))
    found = ordered[at] == wanted if len(ordered) else np.zeros(len(wanted), bool)
    picked = table.take(pa.array(place[at[found]]))
    return pl.from_arrow(picked).with_columns(pl.col("_row").cast(pl.Int64))


# ---- the cache ------------------------------------------------------------------------------


def cache_dir(run: Run) -> Path:
    return run.path / SHAP_DIR


def _names(run: Run) -> list[str]:
    p = len(run.record.features)
    return [f"s{k}_{j}" for k in range(outputs(run)) for j in range(p)]


def _parts(run: Run) -> list[Path]:
    folder = cache_dir(run)
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def _write_part(run: Run, table: pa.Table) -> None:
    folder = cache_dir(run)
    folder.mkdir(exist_ok=True)
    name = f"part-{secrets.token_hex(8)}.parquet"
    tmp = folder / f".{name}.tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, folder / name)


def _read(run: Run, rows: np.ndarray | None = None) -> pl.DataFrame:
    """Cached rows (all, or those among ``rows``), one line per ``_row``."""
    for attempt in range(2):  # a part merged away between listing and reading: list again
        parts = _parts(run)
        if not parts:
            return pl.DataFrame(schema={"_row": pl.Int64})
        try:
            scan = pl.scan_parquet(parts)
            if rows is not None:
                scan = scan.join(pl.LazyFrame({"_row": np.asarray(rows, np.int64)}), on="_row", how="semi")
            return scan.unique("_row", keep="first", maintain_order=True).collect()
        except (FileNotFoundError, pl.exceptions.ComputeError):
            if attempt:
                raise
    raise AssertionError("unreachable")


def explained_rows(run: Run) -> np.ndarray:
    """The ``_row`` values whose SHAP values are cached."""
    parts = _parts(run)
    if not parts:
        return np.empty(0, np.int64)
    return pl.scan_parquet(parts).select(pl.col("_row").unique()).collect()["_row"].to_numpy()


def _compact(run: Run) -> None:
    parts = _parts(run)
    if len(parts) <= COMPACT_PARTS:
        return
    _write_part(run, _read(run).to_arrow())
    for part in parts:
        part.unlink(missing_ok=True)


def ensure(run: Run, rows: np.ndarray, progress: Progress | None = None) -> int:
    """Explain the rows among ``rows`` that are not yet cached, ``CHUNK`` at a time; return how
    many were explained now."""
    progress = progress or (lambda fraction, message: None)
    rows = np.asarray(rows, np.int64)
    missing = rows[~np.isin(rows, explained_rows(run))]  # in the order asked: an interruption keeps the first
    if not len(missing):
        return 0
    names, total = _names(run), len(missing)
    for i, start in enumerate(range(0, total, CHUNK)):
        chunk = missing[start:start + CHUNK]
        frame = feature_rows(run, chunk)
        values = contributions(run, frame)
        flat = values[:, :, :-1].reshape(len(chunk), -1).astype(np.float32)
        columns = {"_row": pa.array(frame["_row"].to_numpy())}
        columns.update({n: pa.array(flat[:, j]) for j, n in enumerate(names)})
        columns.update({f"b{k}": pa.array(values[:, k, -1]) for k in range(values.shape[1])})
        _write_part(run, pa.table(columns))
        done = min(start + CHUNK, total)
        progress(done / total, f"Explained {done:,} of {total:,} rows ({i + 1} of {math.ceil(total / CHUNK)} chunks)")
    _compact(run)
    return total


@dataclass(frozen=True)
class ShapValues:
    """SHAP values of some holdout rows: ``values[row, output, feature]`` and each output's base
    value, with the rows' ``_row`` in the order asked."""

    rows: np.ndarray
    values: np.ndarray
    base: np.ndarray


def shap_values(run: Run, rows: np.ndarray, progress: Progress | None = None) -> ShapValues:
    """SHAP values of ``rows`` (``_row`` values), explaining and caching those not yet cached."""
    rows = np.asarray(rows, np.int64)
    ensure(run, rows, progress)
    cached = _read(run, rows)
    place = pl.DataFrame({"_row": rows, "_place": np.arange(len(rows))})
    cached = cached.join(place, on="_row").sort("_place")
    k, p = outputs(run), len(run.record.features)
    flat = cached.select(_names(run)).to_numpy().astype(np.float64) if p else np.empty((cached.height, 0))
    base = np.array([cached[f"b{i}"][0] for i in range(k)]) if cached.height else np.full(k, np.nan)
    return ShapValues(cached["_row"].to_numpy(), flat.reshape(cached.height, k, p), base)


def explained_count(run: Run) -> int:
    """How many holdout rows have cached SHAP values."""
    return len(explained_rows(run))


def explain_all(run: Run, *, seed: int = 0, progress: Progress | None = None) -> int:
    """Explain every holdout row not yet explained, in the seeded order, ``CHUNK`` rows at a time
    (the values of one chunk in memory at once, and an interruption keeps the chunks done);
    return how many."""
    return ensure(run, explain_order(run, seed), progress)
