"""Intervals for many means at once: a percentile bootstrap over rows, and Welch's interval for a
difference of two means (a slice's mean SHAP value against the rest's, say).

The bootstrap draws each resample's row counts once and takes every column's mean from them in
one matrix product, so the mean |SHAP| of 20 features over 2,000 rows gets 1,000 resamples in
about 30 ms. Past ``BOOTSTRAP_ROWS`` rows the resamples would cost seconds and the bootstrap
agrees with the t interval on the log scale (the means of |SHAP| are positive) to Monte Carlo
error, so that interval is given instead and ``mean_intervals_method`` says which was used.
scipy.stats.bootstrap is the oracle of the tests.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from workbench.stats.intervals import mean_interval

RESAMPLES = 1000
BOOTSTRAP_ROWS = 20_000  # above this many rows, the t interval on the log scale
_CHUNK = 100  # resamples drawn at a time, so counts never exceed 100 x rows


def mean_intervals_method(n: int, *, positive: bool = True) -> str:
    """In words, how :func:`mean_intervals` made its intervals for ``n`` rows."""
    if n <= BOOTSTRAP_ROWS:
        return f"percentile bootstrap over the {n:,} rows, {RESAMPLES:,} resamples"
    return f"t interval{' on the log scale' if positive else ''} over the {n:,} rows"


def mean_intervals(values: np.ndarray, *, positive: bool = True, seed: int = 0,
                   resamples: int = RESAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """95% intervals of each column's mean of ``values`` (rows x columns).

    A percentile bootstrap over rows (seeded) up to ``BOOTSTRAP_ROWS`` rows, else the t interval
    (on the log scale where ``positive``: values >= 0). NaN for a column whose resampled means
    are all equal (every value equal, or one row), never a zero-width interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be rows x columns, got shape {values.shape}")
    n, m = values.shape
    if n < 2:
        return np.full(m, np.nan), np.full(m, np.nan)
    if n > BOOTSTRAP_ROWS:
        sd = values.std(axis=0, ddof=1)
        return mean_interval(values.mean(axis=0), sd, n, bounds="positive" if positive else None)
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, m))
    # one thread: the products are small, and BLAS threads fighting over two cores made them 10x slower
    with threadpool_limits(1):
        for start in range(0, resamples, _CHUNK):
            b = min(_CHUNK, resamples - start)
            drawn = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
            counts = np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
            means[start:start + b] = counts @ values / n
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    flat = high - low <= 1e-12 * np.maximum(np.abs(means).max(axis=0), 1.0)
    return np.where(flat, np.nan, low), np.where(flat, np.nan, high)


def welch_difference(inside: np.ndarray, outside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each column's mean inside minus outside, with Welch's 95% interval and two-sided p-value:
    ``(difference, low, high, p)``. NaN where a side has fewer than two rows or both sides'
    values are constant."""
    inside, outside = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    n1, n2 = len(inside), len(outside)
    m = inside.shape[1] if inside.ndim == 2 else outside.shape[1]
    nan = np.full(m, np.nan)
    diff = (inside.mean(axis=0) if n1 else nan) - (outside.mean(axis=0) if n2 else nan)
    if n1 < 2 or n2 < 2:
        return diff, nan, nan.copy(), nan.copy()
    v1, v2 = inside.var(axis=0, ddof=1) / n1, outside.var(axis=0, ddof=1) / n2
    se = np.sqrt(v1 + v2)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
        half = stats.t.ppf(0.975, df) * se
        p = 2 * stats.t.sf(np.abs(diff) / se, df)
    ok = se > 0
    return diff, np.where(ok, diff - half, np.nan), np.where(ok, diff + half, np.nan), np.where(ok, p, np.nan)
