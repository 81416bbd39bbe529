"""Paired tests: two models scored on the same rows, so each row gives a pair of values.

Pairing removes the rows' own difficulty from the comparison: two models that err on the same
hard rows differ only by the rows where one is right and the other wrong. Three tests, each
vectorized over groups (slices) where that is cheap:

- :func:`paired_means`: the mean of per-row differences (candidate - baseline) of a loss, with a
  paired t interval and test (``scipy.stats.ttest_rel`` on each group's rows is the oracle);
- :func:`paired_rates`: the difference of two error rates by McNemar's test on the discordant
  pairs (exact binomial below ``MCNEMAR_EXACT_BELOW`` discordant pairs, else the chi-square with
  continuity correction, as ``statsmodels.stats.contingency_tables.mcnemar`` computes them) and
  Newcombe's hybrid score interval for a difference of paired proportions (method 10 of
  Newcombe 1998), which unlike Wald's keeps a width where there are few or no discordant pairs;
- :func:`paired_delong`: the difference of two ROC AUCs on the same rows, with DeLong's
  covariance of the two AUCs from the placement values (DeLong, DeLong and Clarke-Pearson 1988).

Every difference is candidate - baseline; the p-values are two-sided.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from workbench.stats.intervals import Z95, wilson_interval

MCNEMAR_EXACT_BELOW = 25  # fewer discordant pairs than this: McNemar's exact binomial test

PAIRED_T = "paired t interval and test on the per-row differences"
MCNEMAR = (f"McNemar's test on the discordant pairs (exact binomial below {MCNEMAR_EXACT_BELOW} discordant "
           f"pairs, else chi-square with continuity correction); interval: Newcombe's hybrid score interval "
           f"for paired proportions (method 10)")
PAIRED_DELONG = "paired DeLong: the two AUCs' covariance from the placement values; normal interval and z-test"


@dataclass(frozen=True)
class PairedStats:
    """Per group (arrays of one length): rows, the baseline's and the candidate's value, their
    difference (candidate - baseline) with a 95% interval, and the two-sided p-value of no
    difference (NaN where no test is possible)."""

    n: np.ndarray
    baseline: np.ndarray
    candidate: np.ndarray
    delta: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray


def _groups(groups, size: int) -> tuple[np.ndarray, int]:
    """Group codes 0..G-1 (all rows one group when None) and G."""
    if groups is None:
        return np.zeros(size, np.int64), 1
    g = np.asarray(groups, np.int64)
    return g, int(g.max()) + 1 if len(g) else 0


def paired_means(baseline, candidate, *, groups=None, min_rows: int = 2) -> PairedStats:
    """Mean of each side's per-row values and the paired t interval and test of the mean of the
    differences, per group. A group of fewer than ``min_rows`` rows gets no interval or test. Where
    every difference in a group is equal (a variance of 0), the interval is that difference and the
    p-value 1 if it is 0, else 0.

    >>> paired_means([1.0, 2.0, 3.0], [1.5, 2.5, 3.0]).delta
    array([0.33333333])
    """
    a, b = np.asarray(baseline, float), np.asarray(candidate, float)
    g, k = _groups(groups, len(a))
    d = b - a
    n = np.bincount(g, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a, mean_b = np.bincount(g, a, k) / n, np.bincount(g, b, k) / n
        delta = np.bincount(g, d, k) / n
        # the differences' spread about their group's mean, centred first (no cancellation)
        ss = np.bincount(g, (d - delta[g]) ** 2, k)
        se = np.sqrt(ss / (n - 1) / n)
        t = delta / se
        df = np.maximum(n - 1, 1)
        p = 2 * stats.t.sf(np.abs(t), df)
        reach = stats.t.ppf(0.975, df) * se
    flat = se <= 1e-12 * np.maximum(np.abs(delta), 1e-300)
    p = np.where(flat, np.where(delta == 0, 1.0, 0.0), p)
    low, high = np.where(flat, delta, delta - reach), np.where(flat, delta, delta + reach)
    ok = n >= max(min_rows, 2)
    nan = np.full(k, np.nan)
    return PairedStats(n.astype(np.int64), mean_a, mean_b, delta, np.where(ok, low, nan), np.where(ok, high, nan),
                       np.where(ok, p, nan))


def mcnemar_p(worse, better) -> np.ndarray:
    """Two-sided McNemar p-value from the discordant pairs: ``worse`` rows the candidate gets
    wrong and the baseline right, ``better`` the other way round (vectorized)."""
    w, v = np.asarray(worse, float), np.asarray(better, float)
    m = w + v
    small = np.minimum(w, v)
    exact = np.minimum(1.0, 2 * stats.binom.cdf(small, m, 0.5))
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = (np.abs(w - v) - 1) ** 2 / m
    p = np.where(m < MCNEMAR_EXACT_BELOW, exact, stats.chi2.sf(chi2, 1))
    return np.where(m == 0, 1.0, p)


def newcombe_interval(both, worse, better, neither) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's (1998, method 10) 95% interval of the candidate's error rate less the
    baseline's from the paired table: ``both`` wrong, ``worse`` (only the candidate wrong),
    ``better`` (only the baseline wrong), ``neither``. Each side's Wilson interval, combined with
    the correlation phi of the pairs (0 where a margin is empty)."""
    a, b, c, d = (np.asarray(x, float) for x in (both, worse, better, neither))
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = (a + b) / n, (a + c) / n  # the candidate's error rate, the baseline's
        l1, u1 = wilson_interval(a + b, n)
        l2, u2 = wilson_interval(a + c, n)
        margins = (a + b) * (c + d) * (a + c) * (b + d)
        # Newcombe's continuity-corrected phi: AD - BC above N/2 loses N/2, between 0 and N/2 is 0,
        # below 0 stays; uncorrected, a table with no discordant pair has phi 1 and a 0-width interval
        ad_bc = a * d - b * c
        ad_bc = np.where(ad_bc > n / 2, ad_bc - n / 2, np.where(ad_bc < 0, ad_bc, 0.0))
        phi = np.where(margins > 0, ad_bc / np.sqrt(np.where(margins > 0, margins, 1.0)), 0.0)
        delta = p1 - p2
        low = delta - np.sqrt(np.maximum((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
        high = delta + np.sqrt(np.maximum((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0))
    return low, high


def paired_rates(baseline_wrong, candidate_wrong, *, groups=None) -> PairedStats:
    """Each side's error rate per group, their difference with Newcombe's paired interval and
    McNemar's p-value (see the module's docstring)."""
    a = np.asarray(baseline_wrong).astype(bool)
    b = np.asarray(candidate_wrong).astype(bool)
    g, k = _groups(groups, len(a))
    cell = np.bincount(g * 4 + a * 2 + b, minlength=4 * k).reshape(k, 4).astype(float)
    neither, worse, better, both = cell[:, 0], cell[:, 1], cell[:, 2], cell[:, 3]
    n = cell.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_a, rate_b = (both + better) / n, (both + worse) / n
    low, high = newcombe_interval(both, worse, better, neither)
    p = np.where(n > 0, mcnemar_p(worse, better), np.nan)
    return PairedStats(n.astype(np.int64), rate_a, rate_b, rate_b - rate_a, low, high, p)


def _placements(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each positive's share of negatives scored below it and each negative's share of
    positives above it, ties counting one half (by midranks, Sun and Xu 2014)."""
    pos, neg = score[y], score[~y]
    m, n = len(pos), len(neg)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    v10 = (tz[:m] - stats.rankdata(pos)) / n
    v01 = 1 - (tz[m:] - stats.rankdata(neg)) / m
    return v10, v01


def paired_delong(y_true, baseline_score, candidate_score) -> PairedStats:
    """ROC AUC of each score on the same rows and the difference's DeLong interval and z-test:
    var(B - A) = var(A) + var(B) - 2 cov(A, B), each from the placement values of the two scores
    over the positives (divided by their count) plus over the negatives. NaN with fewer than two
    rows of either class."""
    y = np.asarray(y_true).astype(bool)
    sa, sb = np.asarray(baseline_score, float), np.asarray(candidate_score, float)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        nan = np.array([np.nan])
        return PairedStats(np.array([len(y)]), nan, nan, nan, nan, nan, nan)
    a10, a01 = _placements(y, sa)
    b10, b01 = _placements(y, sb)
    auc_a, auc_b = a10.mean(), b10.mean()
    s10, s01 = np.cov(np.vstack([a10, b10])), np.cov(np.vstack([a01, b01]))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    delta = auc_b - auc_a
    if var <= 1e-15:
        low = high = delta
        p = 1.0 if delta == 0 else 0.0
    else:
        se = np.sqrt(var)
        low, high = delta - Z95 * se, delta + Z95 * se
        p = 2 * stats.norm.sf(abs(delta) / se)
    return PairedStats(np.array([len(y)]), np.array([auc_a]), np.array([auc_b]), np.array([delta]),
                       np.array([low]), np.array([high]), np.array([p]))
