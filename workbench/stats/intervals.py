"""95% intervals: Wilson for rates, Student t for means, DeLong and Hanley-McNeil for ROC AUC,
the logit interval for average precision, and percentile intervals of bootstrap draws.

Each function is vectorized where a breakdown needs it (one call for every slice) and returns
``(low, high)``. An interval that cannot be computed (no rows, one row) is NaN, never a made-up
number."""
from __future__ import annotations

import numpy as np
from scipy import special, stats

Z95 = float(stats.norm.ppf(0.975))


def wilson_interval(k, n, *, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes out of ``n`` (vectorized)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # in [0, 1] by construction; the clip only removes rounding (-7e-18 at k = 0)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def mean_interval(mean, sd, n) -> tuple[np.ndarray, np.ndarray]:
    """Student t interval for a mean from its sample standard deviation (vectorized)."""
    mean, sd, n = np.asarray(mean, float), np.asarray(sd, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
        half = np.where(n > 1, half, np.nan)
    return mean - half, mean + half


def sd_from_sums(sx, sxx, n) -> np.ndarray:
    """Sample standard deviation (ddof 1) from the sum and the sum of squares (vectorized)."""
    sx, sxx, n = np.asarray(sx, float), np.asarray(sxx, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.maximum(sxx - sx * sx / n, 0) / np.maximum(n - 1, 1))


def hanley_mcneil_se(auc, n_pos, n_neg) -> np.ndarray:
    """Standard error of ROC AUC from the AUC and class counts (Hanley and McNeil, 1982)."""
    a, m, n = np.asarray(auc, float), np.asarray(n_pos, float), np.asarray(n_neg, float)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n)
    return np.sqrt(np.maximum(var, 0))


def delong_variance(y_true: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """(AUC, DeLong's variance of it), via midranks (Sun and Xu, 2014); NaN with fewer than two
    rows of either class."""
    y_true, score = np.asarray(y_true), np.asarray(score, float)
    pos, neg = score[y_true == 1], score[y_true == 0]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return (np.nan, np.nan)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:m] - stats.rankdata(pos)) / n
    v10 = 1 - (tz[m:] - stats.rankdata(neg)) / m
    return float(auc), float(v01.var(ddof=1) / m + v10.var(ddof=1) / n)


def delong_interval(y_true: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """95% interval of ROC AUC from DeLong's variance, clipped to [0, 1]."""
    auc, var = delong_variance(y_true, score)
    if not np.isfinite(var):
        return (np.nan, np.nan)
    se = np.sqrt(var)
    return (max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se))


def logit_interval(value: float, n_pos: int) -> tuple[float, float]:
    """The logit interval of Boyd, Eng and Page (2013) for average precision; NaN where the
    value is 0 or 1 or there are no positives (the logit is not defined there)."""
    if not 0 < value < 1 or n_pos == 0:
        return (np.nan, np.nan)
    eta, tau = np.log(value / (1 - value)), 1 / np.sqrt(n_pos * value * (1 - value))
    return tuple(float(special.expit(eta + s * Z95 * tau)) for s in (-1, 1))


def percentile_interval(draws: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the finite bootstrap draws."""
    draws = np.asarray(draws, float)
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return (np.nan, np.nan)
    low, high = np.percentile(draws, [2.5, 97.5])
    return (float(low), float(high))
