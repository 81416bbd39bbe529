"""95% intervals: Wilson for rates; Student t for means, on the logit scale for a mean of values
in [0, 1] and on the log scale for a mean of values >= 0; DeLong's variance on the logit scale
for ROC AUC (Hanley-McNeil's standard error only plans how large a difference a slice can see);
the logit interval for average precision; percentile intervals of bootstrap draws.

Bounded quantities get intervals inside their bounds by a transformation, not by clipping. By
simulation (binormal scores, half positives), DeLong's plain normal interval covered a true AUC
of 0.9 or 0.97 0.82 to 0.93 of the time at 40 to 100 rows, the logit one 0.95 to 0.97. On per-row
log losses (scores from Beta(1, 3)) at 30 to 50 rows the log-scale t interval covers 0.93 to 0.94
where the plain one covers 0.92 to 0.93. Skew and heavy tails still cost coverage below about 100
rows (0.915 for log losses of Beta(0.5, 5) scores and 0.90 for squared Laplace errors, at 50
rows), and under 30 rows skewed losses are covered 0.72 to 0.93 of the time, which is why
breakdowns and discovery give no interval there. ``bench/bench_null.py --section coverage``
prints every cell.

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
    # in [0, 1] by construction; the clip only removes rounding (-7e-18 at k = 0), and at k = 0 (k = n)
    # the bound is the point value exactly, not 4e-19 beside it
    low = np.where((k == 0) & (n > 0), 0.0, np.clip(centre - half, 0, 1))
    high = np.where((k == n) & (n > 0), 1.0, np.clip(centre + half, 0, 1))
    return low, high


BOUNDS = (None, "unit", "positive")  # a mean of any values, of values in [0, 1], of values >= 0


def mean_interval(mean, sd, n, *, bounds: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Student t interval for a mean from its sample standard deviation (vectorized).

    ``bounds="unit"`` (values in [0, 1], as a mean score or Brier score): the t interval of
    logit(mean) by the delta method, mapped back; ``bounds="positive"`` (values >= 0, as log loss
    or absolute error): the t interval of log(mean), mapped back. Both stay inside the bounds and
    reach further on the long side of a skewed mean. NaN where the mean sits on a bound or every
    value is equal (``sd`` 0), where no interval of positive width follows from the rows."""
    if bounds not in BOUNDS:
        raise ValueError(f"bounds must be one of {BOUNDS}, got {bounds!r}")
    mean, sd, n = np.asarray(mean, float), np.asarray(sd, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
        half = np.where(n > 1, half, np.nan)
        if bounds is None:
            return mean - half, mean + half
        if bounds == "positive":
            ok = (mean > 0) & (sd > 0)
            scale = np.where(ok, np.exp(half / np.where(ok, mean, 1)), np.nan)
            return mean / scale, mean * scale
        ok = (mean > 0) & (mean < 1) & (sd > 0)
        m = np.where(ok, mean, 0.5)
        centre, reach = special.logit(m), half / (m * (1 - m))
        return (np.where(ok, special.expit(centre - reach), np.nan),
                np.where(ok, special.expit(centre + reach), np.nan))


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


def auc_interval(auc, var) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of ROC AUC from DeLong's variance, a normal interval of logit(AUC) mapped
    back (vectorized). NaN at an AUC of exactly 0 or 1 or a variance of 0 (every placement equal,
    as when all scores tie): there the rows give no interval of positive width."""
    auc, var = np.asarray(auc, float), np.asarray(var, float)
    ok = (auc > 0) & (auc < 1) & (var > 0)
    a = np.where(ok, auc, 0.5)
    with np.errstate(invalid="ignore"):
        reach = Z95 * np.sqrt(np.where(ok, var, 1.0)) / (a * (1 - a))
    centre = special.logit(a)
    return (np.where(ok, special.expit(centre - reach), np.nan),
            np.where(ok, special.expit(centre + reach), np.nan))


def delong_interval(y_true: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """95% interval of ROC AUC from the rows: DeLong's variance, on the logit scale (:func:`auc_interval`)."""
    low, high = auc_interval(*delong_variance(y_true, score))
    return (float(low), float(high))


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


def bonferroni_scale(k: int) -> float:
    """How much wider a 95% normal interval's reach becomes as one of ``k`` simultaneous intervals
    (Bonferroni: each at 1 - 0.05/k): z(1 - 0.025/k) / z(0.975); 1 for one interval."""
    return float(special.ndtri(1 - 0.025 / k)) / Z95 if k > 1 else 1.0
