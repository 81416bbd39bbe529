"""Tests of one group against the rest of the rows, and the false discovery rate across groups.

A breakdown asks "does this slice differ from the rest?" (two-sided); discovery asks "does this
slice err more than the rest?" (one-sided, ``alternative="greater"``). Both come from sufficient
statistics (counts, sums, sums of squares), one call for every group."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special, stats

from workbench.stats.intervals import (Z95, auc_interval, hanley_mcneil_se, mean_interval, sd_from_sums,
                                       wilson_interval)

Alternative = Literal["two-sided", "greater"]


@dataclass(frozen=True)
class GroupStats:
    """Per group: its value with a 95% interval, the rest's value and the p-value of the
    difference (NaN where no test is possible), all arrays of one length."""

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rest: np.ndarray
    p_value: np.ndarray


def _check(alternative: str) -> None:
    if alternative not in ("two-sided", "greater"):
        raise ValueError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")


def _p_from_z(z: np.ndarray, alternative: Alternative) -> np.ndarray:
    if alternative == "greater":
        return stats.norm.sf(z)
    return 2 * stats.norm.sf(np.abs(z))


def rates_vs_rest(k, n, total_k: float, total_n: float, *,
                  alternative: Alternative = "two-sided") -> GroupStats:
    """Rate ``k / n`` per group (Wilson interval) against the rest, ``(total_k - k) / (total_n - n)``,
    by the pooled two-proportion z-test."""
    _check(alternative)
    k, n = np.asarray(k, float), np.asarray(n, float)
    rest_n = total_n - n
    with np.errstate(invalid="ignore", divide="ignore"):
        value, rest = k / n, (total_k - k) / rest_n
        pooled = total_k / total_n
        z = (value - rest) / np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / rest_n))
        p = _p_from_z(z, alternative)
    low, high = wilson_interval(k, n)
    return GroupStats(value, low, high, rest, np.where((n > 0) & (rest_n > 0), p, np.nan))


MEAN_MIN_ROWS = 30  # a slice's mean of per-row losses gets an interval and a test only from this many rows


def means_vs_rest(sx, sxx, n, total_sx: float, total_sxx: float, total_n: float, *,
                  alternative: Alternative = "two-sided", min_rows: int = 0,
                  bounds: str | None = None) -> GroupStats:
    """Mean ``sx / n`` per group (t interval, within ``bounds`` as :func:`mean_interval` has it)
    against the rest's mean, by Welch's t-test.

    A group of fewer than ``min_rows`` rows gets no interval and no test: per-row losses are
    skewed, and on a handful of rows the t interval and test are far from their nominal level
    (on a model trained on coin flips, 7 of 30 log-loss breakdowns flagged a slice with every
    slice shown; ``bench/bench_null.py``)."""
    _check(alternative)
    sx, sxx, n = (np.asarray(a, float) for a in (sx, sxx, n))
    rest_n, rest_sx, rest_sxx = total_n - n, total_sx - sx, total_sxx - sxx
    with np.errstate(invalid="ignore", divide="ignore"):
        # the rest's sums are differences of float sums: with no rows left they may not be 0
        value, rest = sx / n, np.where(rest_n > 0, rest_sx / rest_n, np.nan)
        sd, rest_sd = sd_from_sums(sx, sxx, n), sd_from_sums(rest_sx, rest_sxx, rest_n)
        p = stats.ttest_ind_from_stats(value, sd, n, rest, rest_sd, rest_n, equal_var=False,
                                       alternative=alternative).pvalue
    low, high = mean_interval(value, sd, n, bounds=bounds)
    enough = n >= min_rows
    low, high = np.where(enough, low, np.nan), np.where(enough, high, np.nan)
    return GroupStats(value, low, high, rest, np.where((n > 1) & (rest_n > 1) & enough, p, np.nan))


AUC_MIN_CLASS = 10  # a group's AUC gets an interval and a test only with this many of each class


def aucs_vs_rest(auc, var, n_pos, n_neg, rest_auc, rest_var, *, alternative: Alternative = "two-sided",
                 min_class: int = AUC_MIN_CLASS) -> GroupStats:
    """ROC AUC per group with DeLong's variance ``var`` (:mod:`workbench.stats.delong`) against the
    rest's AUC, by a z-test of the difference of the two independent AUCs on the logit scale,
    the scale of the interval (:func:`auc_interval`).

    A group with fewer than ``min_class`` positives or negatives, or whose AUC is exactly 0 or 1,
    gets no interval and no test: on a handful of rows of one class the variance estimate is
    itself noise, and at 0 or 1 it is 0, so the interval and the test would claim a certainty the
    rows cannot give (a 3-row slice with AUC 1 was flagged at p = 1e-52)."""
    _check(alternative)
    auc, var, rest_auc, rest_var = (np.asarray(a, float) for a in (auc, var, rest_auc, rest_var))
    enough = (np.asarray(n_pos) >= min_class) & (np.asarray(n_neg) >= min_class)
    low, high = auc_interval(auc, np.where(enough, var, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = ((special.logit(auc) - special.logit(rest_auc))
             / np.sqrt(var / (auc * (1 - auc)) ** 2 + rest_var / (rest_auc * (1 - rest_auc)) ** 2))
        p = _p_from_z(z, alternative)
    testable = np.isfinite(low) & np.isfinite(z)
    return GroupStats(auc, low, high, rest_auc, np.where(testable, p, np.nan))


POWER = 0.8  # the power at which a slice's detectable difference is stated
DETECT_Z = float(Z95 + stats.norm.ppf(POWER))


def detectable_rate(rate: float, n, total_n: float) -> np.ndarray:
    """The smallest difference of a group's rate from the rest's that the two-sided 5% test finds
    with 80% power, for a group of ``n`` rows of ``total_n`` when both share the overall ``rate``
    (vectorized; inf for a group of no rows or of all of them)."""
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = DETECT_Z * np.sqrt(rate * (1 - rate) * (1 / n + 1 / (total_n - n)))
    return np.where((n > 0) & (n < total_n), out, np.inf)


def detectable_mean(sd: float, n, total_n: float) -> np.ndarray:
    """As :func:`detectable_rate`, for a mean of values whose standard deviation is ``sd``."""
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = DETECT_Z * sd * np.sqrt(1 / n + 1 / (total_n - n))
    return np.where((n > 0) & (n < total_n), out, np.inf)


def detectable_auc(auc: float, n_pos, n_neg, rest_pos, rest_neg) -> np.ndarray:
    """As :func:`detectable_rate`, for ROC AUC at the overall ``auc``, with Hanley and McNeil's
    standard error for the group's and the rest's class counts (a plan, not a test: it needs
    no rows, only counts)."""
    counts = [np.asarray(a, float) for a in (n_pos, n_neg, rest_pos, rest_neg)]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = DETECT_Z * np.hypot(hanley_mcneil_se(auc, counts[0], counts[1]),
                                  hanley_mcneil_se(auc, counts[2], counts[3]))
    return np.where(np.logical_and.reduce([c > 0 for c in counts]), out, np.inf)


def bh_qvalues(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values (``scipy.stats.false_discovery_control``); a group that could not
    be tested (NaN) counts as a test with p = 1, so it never makes another look better."""
    p = np.asarray(p_values, float)
    if not len(p):
        return np.zeros(0)
    return stats.false_discovery_control(np.nan_to_num(p, nan=1.0))
