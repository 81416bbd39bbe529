"""Rates compared between groups: every pair of groups tested against each other, and the gap
(max - min) and ratio (min / max) of a rate across groups with a bootstrap interval.

A pair of groups is tested by the pooled two-proportion z-test (``statsmodels``'
``proportions_ztest``, the oracle) where every cell of its 2 x 2 table expects at least
``FISHER_BELOW`` counts, else by Fisher's exact test (``scipy.stats.fisher_exact``), whose level
holds on a handful of rows. The gap and ratio are resampled by a bootstrap over rows stratified
by group: within a group, drawing its rows with replacement is drawing its four confusion counts
(TP, FP, FN, TN) from one multinomial, so thousands of draws cost a few milliseconds.

Parity measures are fairlearn's (``demographic_parity_difference``, ``equalized_odds_difference``
and their ratios, the oracles of ``tests/test_parity.py``): differences over the groups that have
rows for the rate. The percentile interval of a max - min sits above 0 when groups are equal
(the largest of several noisy gaps is positive), so it bounds how large a gap may be, and the
pairwise tests say whether one exists."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from workbench.stats.significance import bh_qvalues

FISHER_BELOW = 5  # a 2 x 2 table with an expected count below this is tested exactly
RESAMPLES = 2000

# the confusion cells' order in every array here
CELLS = ("tp", "fp", "fn", "tn")
# rate -> (cells counted, cells of the denominator), by their indices in CELLS
RATE_CELLS = {
    "selection_rate": ((0, 1), (0, 1, 2, 3)),
    "tpr": ((0,), (0, 2)),
    "fpr": ((1,), (1, 3)),
    "fnr": ((2,), (0, 2)),
    "precision": ((0,), (0, 1)),
}


def rate_counts(cells, rate: str) -> tuple[np.ndarray, np.ndarray]:
    """(k, n) of ``rate`` from confusion counts ``cells`` (..., 4), in ``CELLS`` order."""
    cells = np.asarray(cells, float)
    top, bottom = RATE_CELLS[rate]
    return cells[..., list(top)].sum(axis=-1), cells[..., list(bottom)].sum(axis=-1)


@dataclass(frozen=True)
class PairTests:
    """One row per pair of groups ``(a, b)``, ``a < b``: the rates, their difference ``a - b``,
    the test used (``z``, ``fisher``, or ``none``), its two-sided p-value (NaN where a group has no rows
    for the rate) and the Benjamini-Hochberg q-value over the pairs."""

    a: np.ndarray
    b: np.ndarray
    value_a: np.ndarray
    value_b: np.ndarray
    diff: np.ndarray
    test: list[str]
    p_value: np.ndarray
    q_value: np.ndarray


def pairwise_rates(k, n) -> PairTests:
    """Every pair of groups' rates ``k / n`` tested against each other (two-sided): the pooled
    two-proportion z-test, or Fisher's exact test where a 2 x 2 cell expects under ``FISHER_BELOW``."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a, b = np.triu_indices(len(k), 1)
    ka, kb, na, nb = k[a], k[b], n[a], n[b]
    with np.errstate(invalid="ignore", divide="ignore"):
        va, vb = ka / na, kb / nb
        pooled = (ka + kb) / (na + nb)
        z = (va - vb) / np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
        p = 2 * stats.norm.sf(np.abs(z))
        expected = np.minimum(np.minimum(na, nb) * pooled, np.minimum(na, nb) * (1 - pooled))
    exact = ~(expected >= FISHER_BELOW)
    ok = (na > 0) & (nb > 0)
    tests = []
    for i in range(len(a)):
        if ok[i] and exact[i]:
            table = [[ka[i], na[i] - ka[i]], [kb[i], nb[i] - kb[i]]]
            p[i] = stats.fisher_exact(np.asarray(table, dtype=np.int64)).pvalue
        tests.append(("fisher" if exact[i] else "z") if ok[i] else "none")
    p = np.where(ok, p, np.nan)
    q = np.full(len(p), np.nan)
    q[ok] = bh_qvalues(p[ok])
    return PairTests(a, b, va, vb, va - vb, tests, p, q)


def gap_and_ratio(values) -> tuple[np.ndarray, np.ndarray]:
    """max - min and min / max over the last axis, ignoring NaN (groups with no rows for the rate);
    NaN with fewer than two groups left, and the ratio where every rate is 0."""
    v = np.asarray(values, float)
    finite = np.isfinite(v).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        hi = np.where(finite > 0, np.nanmax(np.where(np.isfinite(v), v, -np.inf), axis=-1), np.nan)
        lo = np.where(finite > 0, np.nanmin(np.where(np.isfinite(v), v, np.inf), axis=-1), np.nan)
        ratio = np.where(hi > 0, lo / hi, np.nan)
    two = finite >= 2
    return np.where(two, hi - lo, np.nan), np.where(two, ratio, np.nan)


def bootstrap_cells(cells, *, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Confusion counts (groups x 4) resampled by a bootstrap over rows stratified by group:
    (resamples x groups x 4), each group's rows drawn with replacement as its own number of rows."""
    cells = np.asarray(cells, np.int64)
    rng = np.random.default_rng(seed)
    out = np.zeros((resamples, *cells.shape), np.int64)
    for g, row in enumerate(cells):
        total = row.sum()
        if total:
            out[:, g] = rng.multinomial(total, row / total, size=resamples)
    return out
