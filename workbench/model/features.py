"""Turning a table's columns into model inputs, with the encoding kept for the run record.

Numbers and booleans become floats; dates and timestamps become seconds since the epoch;
strings become LightGBM categoricals, coded by their rank in the training rows' categories
(unseen values and nulls become missing). The linear baseline gets standardized numbers
with missing-value indicators and one-hot columns for each categorical's most common levels.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

MAX_CATEGORIES = 1000  # LightGBM gets the most frequent levels; rarer ones become missing
ONE_HOT_LEVELS = 20    # the linear baseline one-hot encodes this many levels per column


@dataclass(frozen=True)
class Encoding:
    """How each feature column maps to a model input column."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]  # column -> categories, in code order

    @property
    def names(self) -> list[str]:
        return list(self.numeric) + list(self.categorical)

    def to_dict(self) -> dict:
        return {"numeric": list(self.numeric), "categorical": {k: list(v) for k, v in self.categorical.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Encoding":
        """The encoding stored in ``run.json``, so new or edited rows are coded as at training."""
        return cls(tuple(d["numeric"]), {k: tuple(v) for k, v in d["categorical"].items()})


def feature_kind(dtype: pl.DataType) -> str | None:
    """'numeric', 'categorical', or None for a column that cannot be a feature."""
    if dtype.is_numeric() or dtype == pl.Boolean or dtype.is_temporal():
        return "numeric"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "categorical"
    return None


def fit_encoding(frame: pl.DataFrame, columns: list[str]) -> Encoding:
    """Learn the encoding from the training rows."""
    numeric, categorical = [], {}
    for c in columns:
        kind = feature_kind(frame.schema[c])
        if kind == "numeric":
            numeric.append(c)
        elif kind == "categorical":
            counts = frame[c].cast(pl.String).drop_nulls().value_counts(sort=True)
            top = counts.head(MAX_CATEGORIES)[c].to_list()
            categorical[c] = tuple(sorted(top))
    return Encoding(tuple(numeric), categorical)


def _numeric(series: pl.Series) -> pl.Series:
    if series.dtype.is_temporal():
        series = series.dt.epoch("s") if series.dtype != pl.Date else series.cast(pl.Int32)
    return series.cast(pl.Float64)


def matrix(frame: pl.DataFrame, enc: Encoding) -> np.ndarray:
    """The float64 matrix LightGBM trains on: numeric columns first, then category codes."""
    cols = [_numeric(frame[c]).fill_null(np.nan) for c in enc.numeric]
    for c, cats in enc.categorical.items():
        coded = frame[c].cast(pl.String).replace_strict(
            list(cats), list(range(len(cats))), default=None, return_dtype=pl.Float64)
        cols.append(coded.fill_null(np.nan))
    if not cols:
        return np.empty((frame.height, 0))
    return np.column_stack([s.to_numpy() for s in cols]).astype(np.float64, copy=False)


@dataclass(frozen=True)
class LinearInputs:
    """Standardization and one-hot levels for the linear baseline, learned on training rows."""

    means: np.ndarray
    scales: np.ndarray
    levels: dict[int, np.ndarray]  # code column index -> codes that get a one-hot column

    @classmethod
    def fit(cls, X: np.ndarray, enc: Encoding) -> "LinearInputs":
        k = len(enc.numeric)
        num = _finite(X[:, :k])
        with warnings.catch_warnings():  # an all-null column has no mean; it gets 0 and scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nan_to_num(np.nanmean(num, axis=0)) if k else np.empty(0)
            scales = np.nan_to_num(np.nanstd(num, axis=0)) if k else np.empty(0)
        scales[scales == 0] = 1.0
        levels = {}
        for j in range(k, X.shape[1]):
            codes = X[:, j][~np.isnan(X[:, j])].astype(np.int64)
            counts = np.bincount(codes) if len(codes) else np.zeros(0, np.int64)
            top = np.argsort(-counts, kind="stable")[:ONE_HOT_LEVELS]
            levels[j] = top[counts[top] > 0]
        return cls(means, scales, levels)

    def transform(self, X: np.ndarray) -> sp.csr_matrix:
        k = len(self.means)
        num = (_finite(X[:, :k]) - self.means) / self.scales
        missing = np.isnan(num)
        # missing numbers sit at the mean (0 after scaling) with an indicator column each
        blocks = [sp.csr_matrix(np.where(missing, 0.0, num)), sp.csr_matrix(missing.astype(np.float64))]
        for j, lv in self.levels.items():
            blocks.append(sp.csr_matrix((X[:, j][:, None] == lv[None, :]).astype(np.float64)))
        return sp.hstack(blocks, format="csr")


def _finite(num: np.ndarray) -> np.ndarray:
    """Numbers for the linear baseline: an infinite value (a ratio over zero, say) counts as
    missing there, since no weight times infinity is a score; LightGBM orders it past every
    threshold itself."""
    return np.where(np.isinf(num), np.nan, num) if np.isinf(num).any() else num


def model_names(columns: list[str]) -> list[str]:
    """Feature names LightGBM accepts (it refuses JSON special characters such as quotes):
    letters, digits and underscores, made unique. The run records which column each names."""
    names, seen = [], set()
    for c in columns:
        base = re.sub(r"[^0-9A-Za-z_]", "_", c) or "feature"
        name, i = base, 1
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        names.append(name)
    return names
