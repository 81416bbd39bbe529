"""Calibration error of binary scores: the binned expected calibration error (ECE), debiased, with
a bootstrap interval, and a test of a group's calibration against the rest's.

The ECE here is the ℓ1 binned calibration error over ``ECE_BINS`` equal-width bins of the score:
``sum_b w_b |mean(y - p in bin b)|``, with ``w_b`` the share of rows in bin b. Equal-width bins are
the same bins in every slice and in the rest of the holdout, so their sums subtract.

Why not the plug-in: ``|mean(y - p)|`` in a bin of ``n_b`` rows is biased upward by about
``sd_b * sqrt(2 / pi)`` (``sd_b`` the standard error of the bin's mean residual), so a perfectly
calibrated model shows an ECE of ~0.05 on 100 rows and ~0.005 on 100,000, and a small slice looks
worse calibrated than the rest when it is not. The value reported is Kumar, Liang and Ma's (2019,
"Verified uncertainty calibration", section 5) debiased estimator: in each bin, the plug-in minus
its bias under a normal approximation, ``2 |e_b| - E|N(e_b, sd_b^2)|``, the expectation in closed
form (the folded normal's mean) and ``sd_b^2 = sum p (1 - p) / n_b^2``, the variance of the mean
residual of calibrated scores. Summed over bins and floored at 0. It removes most, not all, of the
bias at ECE 0 (no estimator that is never negative can remove all of it there).

So that the reading of a slice never rests on that remaining bias, the test is not of the two
ECEs: it is a chi-square test that the slice's mean residual ``y - p`` equals the rest's in every
score bin (Hosmer-Lemeshow style, two-sample, pooled variance per bin), where the slice's bins are
merged, low to high, until each has ``EXPECTED_MIN`` expected positives and negatives on both sides
(on tiny cells a single rare event would dominate the sum). Under the null "the slice is calibrated
as the rest is" (perfect calibration included) the statistic is chi-square whatever the sizes.

The interval is a Poisson bootstrap percentile interval of the debiased ECE (``ECE_DRAWS`` draws,
seeded), vectorized over groups by one sparse product per block of draws. Coverage and false
alarms by simulation: ``bench/bench_null.py --section calibration``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, sparse, special, stats

from workbench.stats.significance import POWER

ECE_BINS = 10        # equal-width score bins
ECE_MIN_ROWS = 30    # a group's ECE gets an interval and a test only from this many rows
ECE_DRAWS = 300      # bootstrap draws behind an interval
EXPECTED_MIN = 5     # expected positives and negatives in each merged cell of the test, on both sides
_BLOCK = 50          # draws per sparse product (bounds memory: rows x block floats)


def score_bins(y_prob, *, bins: int = ECE_BINS) -> np.ndarray:
    """The equal-width bin of each score: ``floor(p * bins)``, a score of 1 in the last bin."""
    p = np.asarray(y_prob, float)
    return np.clip(np.floor(p * bins), 0, bins - 1).astype(np.int64)


def _folded_mean(mu, sd) -> np.ndarray:
    """``E|X|`` for ``X ~ N(mu, sd^2)`` (``|mu|`` where ``sd`` is 0)."""
    mu, sd = np.asarray(mu, float), np.asarray(sd, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(sd > 0, mu / np.where(sd > 0, sd, 1), 0.0)
        out = sd * np.sqrt(2 / np.pi) * np.exp(-t * t / 2) + mu * special.erf(t / np.sqrt(2))
    return np.where(sd > 0, out, np.abs(mu))


def ece_from_sums(n, sum_resid, sum_var, *, debiased: bool = True) -> np.ndarray:
    """ECE from per-bin sums on the last axis: rows ``n``, ``sum(y - p)`` and ``sum(p * (1 - p))``
    (NaN for a group of no rows)."""
    n, sr, sv = (np.asarray(a, float) for a in (n, sum_resid, sum_var))
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(n > 0, sr / np.where(n > 0, n, 1), 0.0)
        term = np.abs(e)
        if debiased:
            sd = np.sqrt(np.maximum(sv, 0)) / np.where(n > 0, n, 1)
            term = 2 * term - _folded_mean(e, sd)
        total = n.sum(-1)
        value = (n * term).sum(-1) / total
    value = np.where(total > 0, value, np.nan)
    return np.maximum(value, 0) if debiased else value


def calibration_error(y_true, y_prob, *, bins: int = ECE_BINS, debiased: bool = True,
                      sample_weight=None) -> float:
    """The binned expected calibration error of probabilities ``y_prob`` for 0/1 labels ``y_true``.

    >>> round(calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], debiased=False), 3)
    0.175
    """
    y, p = np.asarray(y_true, float), np.asarray(y_prob, float)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    b = score_bins(p, bins=bins)
    sums = [np.bincount(b, weights=w * x, minlength=bins) for x in (np.ones(len(y)), y - p, p * (1 - p))]
    return float(ece_from_sums(*sums, debiased=debiased))


@dataclass(frozen=True)
class GroupCalibration:
    """Per group: debiased ECE with a bootstrap 95% interval (NaN under ``min_rows`` rows or when
    every draw agrees), the rest's ECE, the p-value of the test against the rest (NaN without
    one) and the detectable shift; and the whole data's ECE, interval and positive rate."""

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rest: np.ndarray
    p_value: np.ndarray
    detectable: np.ndarray
    overall: float
    overall_ci: tuple[float, float]
    base_rate: float


def group_calibration(group, y_true, y_prob, *, n_groups: int | None = None, bins: int = ECE_BINS,
                      draws: int = ECE_DRAWS, seed: int = 0, min_rows: int = ECE_MIN_ROWS) -> GroupCalibration:
    """The calibration of each group of rows (``group`` numbers them from 0) against the rest.

    The rows' order decides the bootstrap's draws: pass them in a fixed order (a breakdown sorts
    by row number) for results that do not depend on how the file was written."""
    g = np.asarray(group, np.int64)
    y, p = np.asarray(y_true, float), np.asarray(y_prob, float)
    G = int(n_groups if n_groups is not None else (g.max() + 1 if len(g) else 0))
    b = score_bins(p, bins=bins)
    cell = g * bins + b
    r, v = y - p, p * (1 - p)

    def sums(x):
        return np.bincount(cell, weights=x, minlength=G * bins).reshape(G, bins)

    n, sr, srr, sv, sp = sums(np.ones(len(y))), sums(r), sums(r * r), sums(v), sums(p)
    tot = [a.sum(0) for a in (n, sr, srr, sv, sp)]
    value = ece_from_sums(n, sr, sv)
    rest = ece_from_sums(tot[0] - n, tot[1] - sr, tot[3] - sv)
    overall = float(ece_from_sums(tot[0], tot[1], tot[3]))
    p_value, strength = _tests(n, sr, srr, sp, *tot[:3], tot[4])
    rows = n.sum(1)
    enough = (rows >= min_rows) & (rows < len(y))
    p_value = np.where(enough, p_value, np.nan)
    detectable = np.where(np.isfinite(p_value), strength, np.inf)
    low, high, o_low, o_high = _bootstrap(cell, r, v, G, bins, draws, seed, value, overall)
    # at the boundary the percentile interval cannot reach the truth (what bias is left lifts it):
    # the lower end is 0 wherever the test that the group is calibrated (ECE 0) does not reject
    low = np.where([_calibrated_p(*a) >= 0.05 for a in zip(n, sr, sv, sp)], 0.0, low)
    if _calibrated_p(*tot[:1], tot[1], tot[3], tot[4]) >= 0.05:
        o_low = 0.0
    ok = enough & (high > low)
    low, high = np.where(ok, low, np.nan), np.where(ok, high, np.nan)
    overall_ci = (o_low, o_high) if o_high > o_low else (np.nan, np.nan)
    return GroupCalibration(value, low, high, rest, p_value, detectable, overall, overall_ci,
                            float(y.mean()) if len(y) else np.nan)


def _poisson_weights(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Poisson(1) counts by a table lookup on 16-bit uniforms (ten times faster than
    ``rng.poisson``; each count's probability is exact to 1/65536)."""
    return _POISSON_TABLE[rng.integers(0, 1 << 16, shape, dtype=np.uint16)]


_POISSON_TABLE = np.searchsorted(stats.poisson.cdf(np.arange(12), 1.0) * (1 << 16),
                                 np.arange(1 << 16) + 0.5).astype(np.float32)


def _bootstrap(cell, r, v, G: int, bins: int, draws: int, seed: int, value, overall: float) -> tuple:
    """Bias-corrected percentile 95% intervals of each group's debiased ECE and the whole data's,
    from Poisson bootstrap draws of the per-cell sums (one sparse product per block of draws)."""
    C, R = G * bins, len(cell)
    if not R or draws < 1:
        nan = np.full(G, np.nan)
        return nan, nan, np.nan, np.nan
    rows = np.arange(R)
    M = sparse.csr_matrix((np.concatenate([np.ones(R), r, v]).astype(np.float32),
                           (np.concatenate([cell, C + cell, 2 * C + cell]), np.tile(rows, 3))), shape=(3 * C, R))
    rng = np.random.default_rng(seed)
    groups, whole = [], []
    for start in range(0, draws, _BLOCK):
        k = min(_BLOCK, draws - start)
        W = _poisson_weights(rng, (R, k))
        S = np.asarray(M @ W, float).T.reshape(k, 3, G, bins)  # (draws, sum, group, bin)
        groups.append(ece_from_sums(S[:, 0], S[:, 1], S[:, 2]))
        whole.append(ece_from_sums(S[:, 0].sum(1), S[:, 1].sum(1), S[:, 2].sum(1)))
    D, O = np.concatenate(groups), np.concatenate(whole)
    low, high = np.nanpercentile(D, [2.5, 97.5], axis=0) if G else (np.zeros(0), np.zeros(0))
    o_low, o_high = np.percentile(O, [2.5, 97.5])
    # the draws' mean exceeds the estimate by about what bias the estimate has left: move the
    # interval down by it (bias-corrected percentile interval), within [0, 1]
    shift, o_shift = np.nanmean(D, 0) - value, O.mean() - overall
    low, high = np.clip(low - shift, 0, 1), np.clip(high - shift, 0, 1)
    o_low, o_high = (float(np.clip(x - o_shift, 0, 1)) for x in (o_low, o_high))
    return low, high, float(o_low), float(o_high)


def _tests(n, sr, srr, sp, tn, tsr, tsrr, tsp) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the p-value of the chi-square test that its mean residual equals the rest's in
    each (merged) score bin, and the uniform shift of its scores the test finds with 80% power."""
    G, B = n.shape
    p_value, detectable = np.full(G, np.nan), np.full(G, np.inf)
    for i in range(G):
        cells = _merged(n[i], sr[i], srr[i], sp[i], tn - n[i], tsr - sr[i], tsrr - srr[i], tsp - sp[i])
        if not len(cells):
            continue
        ns, rs, ss, nr, rr, sr_ = cells.T
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = ((ss - rs * rs / ns) + (sr_ - rr * rr / nr)) / (ns + nr - 2)
            var = pooled * (1 / ns + 1 / nr)
        keep = var > 0
        if not keep.any():
            continue
        d = (rs / ns - rr / nr)[keep]
        df = int(keep.sum())
        p_value[i] = stats.chi2.sf(float((d * d / var[keep]).sum()), df)
        detectable[i] = np.sqrt(_noncentrality(df) / (1 / var[keep]).sum())
    return p_value, detectable


def _merged(n, sr, srr, sp, rn, rsr, rsrr, rsp) -> np.ndarray:
    """Adjacent bins merged, low to high, until the group's and the rest's cells each hold
    ``EXPECTED_MIN`` expected positives and negatives; a remainder joins the last cell. Rows of
    (group rows, group sum, group sum of squares, rest rows, rest sum, rest sum of squares)."""
    out, acc = [], np.zeros(8)
    for b in range(len(n)):
        acc += (n[b], sr[b], srr[b], sp[b], rn[b], rsr[b], rsrr[b], rsp[b])
        gn, gp, rn_, rp = acc[0], acc[3], acc[4], acc[7]
        if min(gp, gn - gp, rp, rn_ - rp) >= EXPECTED_MIN:
            out.append(acc.copy())
            acc[:] = 0
    if out and acc[0] + acc[4] > 0:
        out[-1] += acc
    return np.array(out)[:, [0, 1, 2, 4, 5, 6]] if out else np.zeros((0, 6))


def _calibrated_p(n, sr, sv, sp) -> float:
    """The p-value of the chi-square test that a group's scores are calibrated: in each cell of
    bins merged as in :func:`_merged`, the sum of residuals over its variance under calibration
    (``sum p (1 - p)``) squared; NaN where no cell holds enough rows."""
    cells, acc = [], np.zeros(4)
    for b in range(len(n)):
        acc += (n[b], sr[b], sv[b], sp[b])
        if min(acc[3], acc[0] - acc[3]) >= EXPECTED_MIN:
            cells.append(acc.copy())
            acc[:] = 0
    if not cells:
        return np.nan
    cells[-1] += acc
    c = np.array(cells)
    return float(stats.chi2.sf((c[:, 1] ** 2 / c[:, 2]).sum(), len(c)))


@lru_cache(maxsize=64)
def _noncentrality(df: int) -> float:
    """The noncentrality at which the 5% chi-square test on ``df`` degrees of freedom has 80% power."""
    crit = stats.chi2.isf(0.05, df)
    return float(optimize.brentq(lambda lam: stats.ncx2.sf(crit, df, lam) - POWER, 1e-6, 500))
