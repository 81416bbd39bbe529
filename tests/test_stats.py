"""Every interval, test and metric of :mod:`workbench.stats` against an independent oracle.

One registry (``REGISTRY``) lists each function once with the implementation it must agree
with: statsmodels for Wilson intervals, t intervals and z-tests, scipy's ``ttest_ind`` on the raw
rows for Welch, ``multipletests`` for Benjamini-Hochberg, a brute-force pairwise DeLong, a Monte
Carlo simulation for Hanley-McNeil and scikit-learn for every point value of ``evaluate``. Each
entry runs over several datasets of its kind (small and large n, k = 0 and k = n, ties, a group
with no rows, a group that is everything). The invariance tests below it run over the same
registry, as scikit-learn's ``metrics/tests/test_common.py`` does: row order changes nothing and a
vectorized call equals its element-wise calls.

A plausible bug must fail here: Benjamini-Hochberg dropped, a two-sided p made one-sided, Wilson
replaced by Wald, Hanley-McNeil's Q2 halved, the 2.5/97.5 percentiles moved, ddof 1 made 0.
Mutation testing (``mutmut run``, configured in ``setup.cfg``) checks that on every line.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from scipy import special
from scipy import stats as sps
from sklearn import metrics as skm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint, proportions_ztest
from statsmodels.stats.weightstats import DescrStatsW, _zstat_generic2

from workbench import WorkbenchError, stats
from workbench.stats import curves, metrics

# The code under test silences NumPy on purpose (NaN for "no rows" is the contract, not a
# warning) and asks scikit-learn for zero_division=0; a warning escaping from it is a bug.
# Oracles run under ``_quiet``.
pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("error::sklearn.exceptions.UndefinedMetricWarning")]
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)
NAN = float("nan")


def _quiet(fn: Callable, *args, **kwargs):
    """Call an oracle with its warnings off (statsmodels and scipy warn on degenerate input)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_same(ours: dict, oracle: dict, *, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """Same fields, and each field equal within tolerance (NaN equals NaN)."""
    assert set(ours) == set(oracle)
    for key in oracle:
        np.testing.assert_allclose(np.asarray(ours[key], float), np.asarray(oracle[key], float),
                                   rtol=rtol, atol=atol, equal_nan=True, err_msg=key)


def _fields(g: stats.GroupStats) -> dict:
    return {f.name: getattr(g, f.name) for f in dataclasses.fields(g)}


# ------------------------------------------------------------------------------------------------
# Datasets, by kind. Rows are interleaved across groups so that nothing depends on sorted input.

@dataclass(frozen=True)
class Grouped:
    """Raw rows ``y`` with a group index ``g`` in ``range(groups)``."""

    y: np.ndarray
    g: np.ndarray
    groups: int
    score: np.ndarray | None = None  # for the AUC kind

    def rows(self, i):
        return self.y[self.g == i]

    def rest(self, i):
        return self.y[self.g != i]

    @property
    def n(self):
        return np.bincount(self.g, minlength=self.groups).astype(float)

    def sums(self, power: int = 1):
        return np.bincount(self.g, weights=self.y.astype(float) ** power, minlength=self.groups)

    def shuffled(self, seed: int = 99) -> "Grouped":
        p = np.random.default_rng(seed).permutation(len(self.y))
        return Grouped(self.y[p], self.g[p], self.groups, None if self.score is None else self.score[p])


def _grouped(sizes, draw, seed) -> Grouped:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    y = draw(rng, g)
    p = rng.permutation(len(g))
    return Grouped(y[p], g[p], len(sizes))


def _rates(*rates):
    return lambda rng, g: (rng.random(len(g)) < np.asarray(rates)[g]).astype(int)


BINARY_ROWS = {
    "small groups": _grouped([1, 2, 3, 7, 40, 300], _rates(1, 0.5, 0.3, 0.4, 0.2, 0.25), 1),
    "k=0 and k=n": _grouped([4, 9, 50, 300], _rates(0, 1, 0.4, 0.1), 2),
    "large n": _grouped([120_000, 30_000, 800], _rates(0.02, 0.05, 0.5), 3),
    "rare events": _grouped([200, 5000, 40], _rates(0.001, 0.002, 0), 4),
    "a group with no rows": _grouped([0, 25, 60], _rates(0.5, 0.3, 0.6), 5),
    "one group is everything": _grouped([50], _rates(0.3), 6),
    "no events at all": _grouped([10, 20], _rates(0, 0), 7),
}


def _normal(*means):
    return lambda rng, g: rng.normal(np.asarray(means)[g], 1 + g)


REAL_ROWS = {
    "small groups": _grouped([1, 2, 3, 10, 80], _normal(0, 1, -1, 0.5, 0), 11),
    "skewed, large n": _grouped([5000, 20000, 300], lambda rng, g: rng.lognormal(0.2 * g, 1), 12),
    "a constant group": _grouped([30, 200], lambda rng, g: np.where(g == 0, 3.0, rng.normal(3, 1, len(g))), 13),
    "ties": _grouped([15, 40, 100], lambda rng, g: rng.integers(0, 4, len(g)).astype(float), 14),
    "offset from zero": _grouped([25, 400], lambda rng, g: rng.normal(1000 + g, 1), 15),
    "a group with no rows": _grouped([0, 20, 30], _normal(0, 0, 1), 16),
    "a rest of one row": _grouped([1, 9], _normal(0, 1), 18),
    "one group is everything": _grouped([40], _normal(2), 17),
}


POSITIVE_ROWS = {  # values >= 0, as per-row losses
    "skewed, large n": REAL_ROWS["skewed, large n"],
    "ties and zeros": REAL_ROWS["ties"],
    "small groups": _grouped([1, 2, 3, 10, 80], lambda rng, g: rng.exponential(1 + g, len(g)), 19),
    "a constant group, all zero": _grouped([30, 200], lambda rng, g: np.where(g == 0, 0.0, rng.exponential(1, len(g))), 20),
}
UNIT_ROWS = {  # values in [0, 1], as scores or Brier scores
    "scores near 0": _grouped([12, 40, 3000], lambda rng, g: rng.beta(0.5, 5 + g, len(g)), 25),
    "0s and 1s": BINARY_ROWS["k=0 and k=n"],
    "squared errors": _grouped([35, 500], lambda rng, g: rng.beta(1, 3, len(g)) ** 2, 26),
}


def _scored(sizes, shift, seed, *, decimals=None, all_positive=None) -> Grouped:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    y = (rng.random(len(g)) < 0.4).astype(int)
    if all_positive is not None:
        y[g == all_positive] = 1
    score = y * np.asarray(shift)[g] + rng.normal(size=len(g))
    if decimals is not None:
        score = np.round(score, decimals)
    p = rng.permutation(len(g))
    return Grouped(y[p], g[p], len(sizes), score[p])


SCORED_ROWS = {
    "continuous": _scored([30, 60, 200, 400], [0.2, 1.0, 2.0, 0.5], 21),
    "ties": _scored([20, 80, 150], [1.0, 0.5, 0.0], 22, decimals=0),
    "a one-class group": _scored([12, 200, 90], [1.0, 1.0, 0.3], 23, all_positive=0),
    "small": _scored([6, 9, 14], [3.0, -1.0, 0.5], 24),
}

ONE_GROUP = _scored([120], [1.0], 27)
# scores of 0, 10 or -10 mostly: one group's highest score is the next group's lowest, so a level
# of the (group, score) sort that ran across two groups would be caught
TIES_ACROSS = _scored([25, 40, 60], [3.0, 6.0, 0.0], 28, decimals=-1)

# Whole datasets for DeLong: (y, score)
SCORES = {name: (d.y, d.score) for name, d in SCORED_ROWS.items()} | {
    "one positive": (np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3])),
    "one negative": (np.array([1, 1, 1, 0]), np.array([0.9, 0.1, 0.2, 0.3])),
    "two and two": (np.array([1, 0, 1, 0]), np.array([0.8, 0.3, 0.2, 0.6])),
    "perfect": (np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.7, 0.9])),
    "inverted": (np.array([1, 1, 1, 0, 0, 0]), np.array([0.1, 0.3, 0.2, 0.9, 0.5, 0.4])),
    "all tied": (np.array([1, 0, 1, 0, 0]), np.full(5, 0.5)),
    "near perfect, clipped at 1": (np.r_[np.ones(8), np.zeros(8)].astype(int),
                                   np.r_[np.linspace(0.5, 1, 8), np.linspace(0, 0.52, 8)]),
}

P_VALUES = {
    "uniform": np.random.default_rng(31).random(50),
    "signal and noise": np.r_[np.random.default_rng(32).beta(0.2, 5, 20), np.random.default_rng(33).random(30)],
    "ties": np.array([0.01, 0.04, 0.01, 0.04, 0.2, 0.2, 0.9, 0.03]),
    "NaN counts as p = 1": np.array([0.001, NAN, 0.02, NAN, 0.04, 0.3]),
    "one test": np.array([0.03]),
    "no tests": np.zeros(0),
    "all ones": np.ones(6),
    "tiny": np.array([1e-300, 1e-20, 1e-5, 0.5]),
}

DRAWS = {
    "0..1000": np.arange(1001.0)[np.random.default_rng(41).permutation(1001)],
    "normal": np.random.default_rng(42).normal(size=400),
    "with NaN and inf": np.r_[np.random.default_rng(43).normal(size=200), NAN, np.inf, -np.inf, NAN],
    "all NaN": np.full(5, NAN),
    "none": np.zeros(0),
    "one draw": np.array([0.7]),
    "two draws": np.array([3.0, 1.0]),
}

# (average precision, positives)
AP_CASES = {
    "interior": ([0.5, 0.9, 0.01, 0.999, 0.3, 0.62], [10, 3, 1000, 50, 1, 417]),
    "undefined": ([0.0, 1.0, 0.5, NAN, -0.1], [5, 5, 0, 5, 5]),
}

# Hanley-McNeil's exponential model: (AUC, positives, negatives)
HM_MODELS = {
    "balanced": ([0.8], [30], [30]),
    "few positives": ([0.9], [8], [60]),
    "few negatives": ([0.7], [50], [10]),
    "weak, larger": ([0.6], [120], [200]),
}


# ------------------------------------------------------------------------------------------------
# Oracles

def _per_group(d: Grouped, fn: Callable[[np.ndarray, np.ndarray], dict]) -> dict:
    out = [_quiet(fn, d.rows(i), d.rest(i)) for i in range(d.groups)]
    return {key: np.array([o[key] for o in out], float) for key in out[0]}


def _wilson_oracle(k, n) -> tuple[float, float]:
    return proportion_confint(k, n, alpha=0.05, method="wilson") if n > 0 else (NAN, NAN)


def _t_oracle(rows, bounds=None) -> tuple[float, float]:
    """statsmodels' t interval; for values in [0, 1] or >= 0, the t interval of logit(mean) or
    log(mean) with the delta method's standard error (se / (m (1 - m)), se / m), mapped back."""
    if len(rows) < 2:
        return (NAN, NAN)
    if bounds is None:
        return DescrStatsW(rows).tconfint_mean(alpha=0.05)
    d = DescrStatsW(rows)
    m, se = d.mean, d.std_mean
    if se == 0 or m <= 0 or (bounds == "unit" and m >= 1):
        return (NAN, NAN)
    if bounds == "positive":
        return tuple(math.exp(x) for x in sps.t.interval(0.95, len(rows) - 1, loc=math.log(m), scale=se / m))
    return tuple(special.expit(x) for x in sps.t.interval(0.95, len(rows) - 1, loc=special.logit(m),
                                                          scale=se / (m * (1 - m))))


def _mean(rows) -> float:
    return float(np.mean(rows)) if len(rows) else NAN


def _rates_oracle(alternative):
    def one(rows, rest):
        lo, hi = _wilson_oracle(rows.sum(), len(rows))
        p = NAN
        if len(rows) and len(rest):
            p = proportions_ztest(np.array([rows.sum(), rest.sum()]), np.array([len(rows), len(rest)]),
                                  alternative=alternative)[1]
        return {"value": _mean(rows), "ci_low": lo, "ci_high": hi, "rest": _mean(rest), "p_value": p}
    return lambda d: _per_group(d, one)


def _rates_ours(alternative):
    return lambda d: _fields(stats.rates_vs_rest(d.sums(), d.n, d.y.sum(), len(d.y), alternative=alternative))


def _means_oracle(alternative, min_rows=0, bounds=None):
    """scipy's t interval and Welch test; none for a group of fewer than ``min_rows`` rows."""
    def one(rows, rest):
        if len(rows) < min_rows:
            return {"value": _mean(rows), "ci_low": NAN, "ci_high": NAN, "rest": _mean(rest), "p_value": NAN}
        lo, hi = _t_oracle(rows, bounds)
        p = sps.ttest_ind(rows, rest, equal_var=False, alternative=alternative).pvalue \
            if len(rows) > 1 and len(rest) > 1 else NAN
        return {"value": _mean(rows), "ci_low": lo, "ci_high": hi, "rest": _mean(rest), "p_value": p}
    return lambda d: _per_group(d, one)


def _means_ours(alternative, min_rows=0, bounds=None):
    return lambda d: _fields(stats.means_vs_rest(d.sums(1), d.sums(2), d.n, d.y.sum(), (d.y ** 2).sum(), len(d.y),
                                                 alternative=alternative, min_rows=min_rows, bounds=bounds))


def _auc_or_nan(y, s) -> float:
    return skm.roc_auc_score(y, s) if 0 < y.sum() < len(y) else NAN


def _hm_se_paper(a, n_a, n_n) -> float:
    """Hanley and McNeil (1982), eq. 2: n_A abnormal (positive), n_N normal (negative) cases."""
    q1, q2 = a / (2 - a), 2 * a ** 2 / (1 + a)
    return math.sqrt((a * (1 - a) + (n_a - 1) * (q1 - a ** 2) + (n_n - 1) * (q2 - a ** 2)) / (n_a * n_n))


def _group_aucs(d: Grouped):
    """Per group: its AUC, DeLong variance and class counts, and the rest's, each from its own rows
    by the pairwise definition (no ranks, no sums over the holdout)."""
    cols = {k: [] for k in ("auc", "var", "pos", "neg", "rest_auc", "rest_var", "rest_pos", "rest_neg")}
    for i in range(d.groups):
        for prefix, mask in (("", d.g == i), ("rest_", d.g != i)):
            y, s = d.y[mask], d.score[mask]
            cols[prefix + "auc"].append(_auc_or_nan(y, s))
            cols[prefix + "var"].append(_pairwise_delong(y, s)[1])
            cols[prefix + "pos"].append(y.sum())
            cols[prefix + "neg"].append(len(y) - y.sum())
    return {k: np.array(v, float) for k, v in cols.items()}


def _group_delong_oracle(d: Grouped) -> dict:
    a = _group_aucs(d)
    overall = _pairwise_delong(d.y, d.score)
    return {"n": a["pos"] + a["neg"], "pos": a["pos"], "neg": a["neg"], "auc": a["auc"], "var": a["var"],
            "rest_auc": a["rest_auc"], "rest_var": a["rest_var"],
            "overall_auc": _auc_or_nan(d.y, d.score), "overall_var": overall[1]}


def _group_delong_ours(d: Grouped) -> dict:
    out = _fields(stats.group_delong(d.g, d.y, d.score))
    # a side with one row of a class has an AUC but no variance; the oracle's AUC is sklearn's
    return out


def _aucs_ours(alternative, min_class=0):
    def ours(d):
        a = _group_aucs(d)
        return _fields(stats.aucs_vs_rest(a["auc"], a["var"], a["pos"], a["neg"], a["rest_auc"], a["rest_var"],
                                          alternative=alternative, min_class=min_class))
    return ours


def _logit_normal(value, var) -> tuple[float, float]:
    """A normal 95% interval of logit(value) with the delta method's variance, mapped back."""
    if not (np.isfinite(value) and 0 < value < 1 and np.isfinite(var) and var > 0):
        return NAN, NAN
    lo, hi = sps.norm.interval(0.95, loc=special.logit(value), scale=math.sqrt(var) / (value * (1 - value)))
    return float(special.expit(lo)), float(special.expit(hi))


def _aucs_oracle(alternative, min_class=0):
    """DeLong's logit interval; a z-test of logit(AUC) against the rest's; no interval or test for a
    group with fewer than ``min_class`` of either class or an AUC of exactly 0 or 1."""
    def oracle(d):
        a, rows = _group_aucs(d), []
        for i in range(d.groups):
            auc, rest, var, rest_var = a["auc"][i], a["rest_auc"][i], a["var"][i], a["rest_var"][i]
            lo, hi = _logit_normal(auc, var)
            few = min(a["pos"][i], a["neg"][i]) < min_class
            if np.isnan(lo) or few or not (0 < rest < 1) or not np.isfinite(rest_var):
                rows.append((auc, NAN if few or np.isnan(lo) else lo, NAN if few or np.isnan(lo) else hi, rest, NAN))
                continue
            se = math.hypot(math.sqrt(var) / (auc * (1 - auc)), math.sqrt(rest_var) / (rest * (1 - rest)))
            p = _quiet(_zstat_generic2, special.logit(auc) - special.logit(rest), se, alternative)[1]
            rows.append((auc, lo, hi, rest, p))
        return dict(zip(("value", "ci_low", "ci_high", "rest", "p_value"), np.array(rows, float).T))
    return oracle


def _pairwise_delong(y, s) -> tuple[float, float]:
    """DeLong, DeLong and Clarke-Pearson (1988) from the m x n kernel matrix, no ranks."""
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) < 2 or len(neg) < 2:
        return NAN, NAN
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def _delong_interval_oracle(data):
    return dict(zip(("low", "high"), _logit_normal(*_pairwise_delong(*data))))


def _logit_oracle(value, n_pos) -> tuple[float, float]:
    """Boyd, Eng and Page (2013): a normal interval on the logit scale, mapped back."""
    if not (np.isfinite(value) and 0 < value < 1 and n_pos > 0):
        return NAN, NAN
    lo, hi = sps.norm.interval(0.95, loc=special.logit(value), scale=(n_pos * value * (1 - value)) ** -0.5)
    return 1 / (1 + math.exp(-lo)), 1 / (1 + math.exp(-hi))


def _percentile_oracle(draws) -> dict:
    """NumPy's default ("linear") percentile, by hand: interpolate at rank q * (N - 1)."""
    x = np.sort(draws[np.isfinite(draws)])
    if not len(x):
        return {"low": NAN, "high": NAN}
    out = []
    for q in (0.025, 0.975):
        h = q * (len(x) - 1)
        lo = int(math.floor(h))
        out.append(x[lo] + (h - lo) * (x[min(lo + 1, len(x) - 1)] - x[lo]))
    return {"low": out[0], "high": out[1]}


def _hm_monte_carlo(aucs, m, n, reps: int = 3000, seed: int = 0) -> np.ndarray:
    """The SD of the empirical AUC over datasets simulated from the exponential model, where
    Hanley-McNeil's Q1 = A / (2 - A) and Q2 = 2A^2 / (1 + A) are exact: negatives ~ Exp(1),
    positives ~ Exp(rate theta), so that A = P(pos > neg) = 1 / (1 + theta)."""
    rng, out = np.random.default_rng(seed), []
    for a, mm, nn in zip(aucs, m, n):
        theta = (1 - a) / a
        pos = rng.exponential(1 / theta, size=(reps, mm))
        neg = rng.exponential(1.0, size=(reps, nn))
        ranks = sps.rankdata(np.concatenate([pos, neg], axis=1), axis=1)[:, :mm]
        out.append(((ranks.sum(axis=1) - mm * (mm + 1) / 2) / (mm * nn)).std(ddof=1))
    return np.array(out)


# ------------------------------------------------------------------------------------------------
# The registry: every interval and test of workbench.stats, each with its oracle and datasets.

@dataclass(frozen=True)
class Entry:
    name: str  # the public function it checks
    ours: Callable[[Any], dict]
    oracle: Callable[[Any], dict]
    data: dict
    rtol: float = 1e-9
    atol: float = 1e-12


def _detectable_oracle(sd, n, total):
    """statsmodels' power of the two-sample z-test, solved for the effect (in units of ``sd``) that
    the 5% two-sided test finds with 80% power; inf where one side has no rows."""
    out = []
    for s, k in zip(sd, n):
        if k <= 0 or k >= total:
            out.append(np.inf)
            continue
        es = NormalIndPower().solve_power(effect_size=None, nobs1=k, alpha=0.05, power=0.8, ratio=(total - k) / k)
        out.append(es * s)
    return np.array(out)


def _detectable_auc_oracle(auc, pos, neg, rest_pos, rest_neg):
    """The same power, with the standard error of the difference from Hanley-McNeil (the paper's
    formula): with two samples of 2, the effect is in units of that standard error."""
    out = []
    for m, n, rm, rn in zip(pos, neg, rest_pos, rest_neg):
        if min(m, n, rm, rn) <= 0:
            out.append(np.inf)
            continue
        se = math.hypot(_hm_se_paper(auc, m, n), _hm_se_paper(auc, rm, rn))
        out.append(NormalIndPower().solve_power(effect_size=None, nobs1=2, alpha=0.05, power=0.8, ratio=1) * se)
    return np.array(out)


def _pair(f):
    lo, hi = f
    return {"low": lo, "high": hi}


def _stack(pairs):
    return {"low": np.array([p[0] for p in pairs], float), "high": np.array([p[1] for p in pairs], float)}


@dataclass(frozen=True)
class Counts:
    """Successes ``k`` out of ``n``, given directly rather than as rows."""

    k: np.ndarray
    n: np.ndarray


WILSON_GRID = Counts(*map(np.array, zip(*[(k, n) for n in (1, 2, 5, 13) for k in range(n + 1)]
                                        + [(0, 10 ** 6), (1, 10 ** 6), (10 ** 6, 10 ** 6), (0, 0)])))


def _wilson_counts(d: Grouped | Counts):
    return (d.k.astype(float), d.n.astype(float)) if isinstance(d, Counts) else (d.sums(), d.n)


REGISTRY: list[Entry] = [
    Entry("wilson_interval",
          lambda d: _pair(stats.wilson_interval(*_wilson_counts(d))),
          lambda d: _stack([_quiet(_wilson_oracle, k, n) for k, n in zip(*_wilson_counts(d))]),
          BINARY_ROWS | {"every k for n <= 13, n = 10^6, n = 0": WILSON_GRID}),
    Entry("rates_vs_rest", _rates_ours("two-sided"), _rates_oracle("two-sided"), BINARY_ROWS),
    Entry("rates_vs_rest[greater]", _rates_ours("greater"), _rates_oracle("larger"), BINARY_ROWS),
    Entry("mean_interval",
          lambda d: _pair(stats.mean_interval([_mean(d.rows(i)) for i in range(d.groups)],
                                              [_quiet(np.std, d.rows(i), ddof=1) for i in range(d.groups)], d.n)),
          lambda d: _stack([_quiet(_t_oracle, d.rows(i)) for i in range(d.groups)]),
          REAL_ROWS),
    Entry("sd_from_sums",  # n = 1 is left out: the callers mask it, np.std(ddof=1) has no value there
          lambda d: {"sd": stats.sd_from_sums(d.sums(1), d.sums(2), d.n)[d.n > 1]},
          lambda d: {"sd": np.array([np.std(d.rows(i), ddof=1) for i in range(d.groups) if len(d.rows(i)) > 1])},
          REAL_ROWS, rtol=1e-7),
    Entry("means_vs_rest", _means_ours("two-sided"), _means_oracle("two-sided"), REAL_ROWS, rtol=1e-6),
    Entry("means_vs_rest[greater]", _means_ours("greater"), _means_oracle("greater"), REAL_ROWS, rtol=1e-6),
    Entry("means_vs_rest[min_rows]", _means_ours("two-sided", 30), _means_oracle("two-sided", 30), REAL_ROWS,
          rtol=1e-6),
    Entry("means_vs_rest[positive]", _means_ours("two-sided", 0, "positive"), _means_oracle("two-sided", 0, "positive"),
          POSITIVE_ROWS, rtol=1e-6),
    Entry("means_vs_rest[unit]", _means_ours("two-sided", 0, "unit"), _means_oracle("two-sided", 0, "unit"),
          UNIT_ROWS, rtol=1e-6),
    Entry("group_delong", _group_delong_ours, _group_delong_oracle,
          SCORED_ROWS | {"one group": ONE_GROUP, "ties across groups": TIES_ACROSS},
          rtol=1e-8, atol=1e-13),
    Entry("auc_interval",
          lambda d: _pair(stats.auc_interval(*_pairwise_delong(*d))),
          lambda d: dict(zip(("low", "high"), _logit_normal(*_pairwise_delong(*d)))), SCORES),
    Entry("detectable_rate",
          lambda c: {"d": stats.detectable_rate(c[0], c[1], c[2])},
          lambda c: {"d": _detectable_oracle(np.sqrt(c[0] * (1 - c[0])) * np.ones(len(c[1])), c[1], c[2])},
          {"rates": (0.2, np.array([1.0, 30, 500, 9_000, 9_999, 0, 10_000]), 10_000.0),
           "a rare event": (0.003, np.array([50.0, 2_000]), 1e6)}, rtol=1e-4),  # statsmodels solves numerically
    Entry("detectable_mean",
          lambda c: {"d": stats.detectable_mean(c[0], c[1], c[2])},
          lambda c: {"d": _detectable_oracle(c[0] * np.ones(len(c[1])), c[1], c[2])},
          {"means": (2.5, np.array([2.0, 30, 500, 0, 10_000]), 10_000.0)}, rtol=1e-5),
    Entry("detectable_auc",
          lambda c: {"d": stats.detectable_auc(*c)},
          lambda c: {"d": _detectable_auc_oracle(*c)},
          {"counts": (0.8, np.array([10.0, 100, 3, 0]), np.array([10.0, 400, 50, 20]),
                      np.array([500.0, 410, 507, 510]), np.array([2000.0, 1610, 1960, 1990]))}, rtol=1e-5),
    Entry("aucs_vs_rest", _aucs_ours("two-sided"), _aucs_oracle("two-sided"), SCORED_ROWS),
    Entry("aucs_vs_rest[greater]", _aucs_ours("greater"), _aucs_oracle("larger"), SCORED_ROWS),
    Entry("aucs_vs_rest[min_class]", _aucs_ours("two-sided", 10), _aucs_oracle("two-sided", 10), SCORED_ROWS),
    Entry("hanley_mcneil_se",
          lambda c: {"se": stats.hanley_mcneil_se(*c)},
          lambda c: {"se": _hm_monte_carlo(*c)},
          HM_MODELS, rtol=0.06),
    Entry("delong_variance",
          lambda d: dict(zip(("auc", "var"), stats.delong_variance(*d))),
          lambda d: dict(zip(("auc", "var"), _pairwise_delong(*d))),
          SCORES),
    Entry("delong_interval", lambda d: _pair(stats.delong_interval(*d)), _delong_interval_oracle, SCORES),
    Entry("logit_interval",
          lambda c: _stack([stats.logit_interval(v, n) for v, n in zip(*c)]),
          lambda c: _stack([_logit_oracle(v, n) for v, n in zip(*c)]),
          AP_CASES),
    Entry("percentile_interval", lambda d: _pair(stats.percentile_interval(d)), _percentile_oracle, DRAWS),
    Entry("bh_qvalues",
          lambda p: {"q": stats.bh_qvalues(p)},
          lambda p: {"q": multipletests(np.where(np.isnan(p), 1.0, p), method="fdr_bh")[1] if len(p) else p},
          P_VALUES),
]


def _registry_cases():
    for entry in REGISTRY:
        for name in entry.data:
            yield pytest.param(entry, name, id=f"{entry.name}-{name}")


@pytest.mark.parametrize("entry, dataset", list(_registry_cases()))
def test_matches_its_oracle(entry, dataset):
    data = entry.data[dataset]
    assert_same(entry.ours(data), entry.oracle(data), rtol=entry.rtol, atol=entry.atol)


def test_every_public_interval_and_test_is_in_the_registry():
    checked = {e.name.split("[")[0] for e in REGISTRY}
    assert set(stats.__all__) - {"GroupDelong", "GroupStats", "Z95"} == checked
    assert stats.Z95 == pytest.approx(1.959963984540054, abs=1e-12)


def test_the_oracles_see_the_planted_bugs():
    """The oracles themselves are sharp: each planted bug's output is far from them."""
    k, n = 3, 40
    p = k / n
    wald = (p - stats.Z95 * math.sqrt(p * (1 - p) / n), p + stats.Z95 * math.sqrt(p * (1 - p) / n))
    assert abs(wald[0] - _wilson_oracle(k, n)[0]) > 0.02
    a, m, nn = 0.8, 30, 30
    q1, q2 = a / (2 - a), a * a / (1 + a)  # q2 halved
    halved = math.sqrt(max(a * (1 - a) + (m - 1) * (q1 - a * a) + (nn - 1) * (q2 - a * a), 0) / (m * nn))
    assert abs(halved / _hm_monte_carlo([a], [m], [nn])[0] - 1) > 0.5


# ------------------------------------------------------------------------------------------------
# Properties over the same registry

@pytest.mark.parametrize("entry, dataset", [pytest.param(e, name, id=f"{e.name}-{name}") for e in REGISTRY
                                            for name, d in e.data.items() if isinstance(d, Grouped)])
def test_row_order_changes_nothing(entry, dataset):
    data = entry.data[dataset]
    assert_same(entry.ours(data.shuffled()), entry.ours(data), rtol=entry.rtol)


@pytest.mark.parametrize("dataset", list(SCORES))
def test_delong_ignores_row_order(dataset):
    y, s = SCORES[dataset]
    p = np.random.default_rng(5).permutation(len(y))
    np.testing.assert_allclose(stats.delong_variance(y[p], s[p]), stats.delong_variance(y, s), rtol=1e-12)


@pytest.mark.parametrize("dataset", list(DRAWS))
def test_percentile_interval_ignores_draw_order(dataset):
    d = DRAWS[dataset]
    assert_same(_pair(stats.percentile_interval(d[::-1])), _pair(stats.percentile_interval(d)))


def _vector_args():
    rng = np.random.default_rng(8)
    n = np.array([0, 1, 2, 5, 40, 1000], float)
    k = np.floor(n * np.array([0, 1, 0.5, 0.2, 0.3, 0.01]))
    sx = n * rng.normal(size=6)
    sxx = sx ** 2 / np.maximum(n, 1) + n * 2
    aucs = np.array([0.5, 0.6, 0.95, 1.0, 0.3, 0.75])
    npos, nneg = np.array([3, 5, 10, 2, 40, 100]), np.array([4, 50, 10, 2, 3, 100])
    return {
        "wilson_interval": (stats.wilson_interval, (k, n)),
        "mean_interval": (stats.mean_interval, (sx / np.maximum(n, 1), np.sqrt(n), n)),
        "sd_from_sums": (stats.sd_from_sums, (sx, sxx, n)),
        "hanley_mcneil_se": (stats.hanley_mcneil_se, (aucs, npos, nneg)),
        "rates_vs_rest": (lambda *a: _fields(stats.rates_vs_rest(*a, k.sum() + 7, n.sum() + 30)), (k, n)),
        "rates_vs_rest[greater]": (lambda *a: _fields(stats.rates_vs_rest(*a, k.sum() + 7, n.sum() + 30,
                                                                          alternative="greater")), (k, n)),
        "means_vs_rest": (lambda *a: _fields(stats.means_vs_rest(*a, sx.sum() + 3, sxx.sum() + 90, n.sum() + 30)),
                          (sx, sxx, n)),
        "means_vs_rest[greater]": (lambda *a: _fields(stats.means_vs_rest(*a, sx.sum() + 3, sxx.sum() + 90,
                                                                          n.sum() + 30, alternative="greater")),
                                   (sx, sxx, n)),
        "aucs_vs_rest": (stats.aucs_vs_rest, (aucs, npos, nneg, aucs[::-1], nneg + 5, npos + 7)),
        "aucs_vs_rest[greater]": (lambda *a: stats.aucs_vs_rest(*a, alternative="greater"),
                                  (aucs, npos, nneg, aucs[::-1], nneg + 5, npos + 7)),
    }


def _as_dict(result):
    if isinstance(result, stats.GroupStats):
        return _fields(result)
    if isinstance(result, dict):
        return result
    return {str(i): r for i, r in enumerate(result)} if isinstance(result, tuple) else {"0": result}


@pytest.mark.parametrize("name", list(_vector_args()))
def test_a_vectorized_call_equals_its_element_wise_calls(name):
    fn, args = _vector_args()[name]
    whole = _as_dict(fn(*args))
    parts = [_as_dict(fn(*(a[i] for a in args))) for i in range(len(args[0]))]
    assert_same(whole, {key: np.array([p[key] for p in parts], float) for key in whole}, rtol=1e-12)
    for p in parts:  # a scalar in gives a scalar (0-d) out
        assert all(np.ndim(v) == 0 for v in p.values())
    for key, v in whole.items():  # float arrays, never object arrays holding None
        assert isinstance(v, np.ndarray) and v.dtype == np.float64, key


def test_integer_counts_and_sums_give_the_float_result():
    """Counts come from polars as UInt32 (``pl.len()``) and sums of integer columns as Int64:
    integer arithmetic must not leak in (``sx * sx`` overflows int64 past about 3e9)."""
    n = np.array([1_000_000, 2, 1], np.uint32)
    sx = np.array([5_000_000_000, 7, 4], np.int64)  # a million targets near 5,000
    sxx = np.array([25_010_000_000_000, 25, 16], np.int64)
    k = np.array([300_000, 1, 0], np.uint32)
    f = [a.astype(float) for a in (n, sx, sxx, k)]
    np.testing.assert_allclose(stats.sd_from_sums(sx, sxx, n), stats.sd_from_sums(*f[1:3], f[0]), rtol=1e-12)
    assert stats.sd_from_sums(sx, sxx, n)[0] == pytest.approx(100, rel=1e-6)
    assert_same(_fields(stats.means_vs_rest(sx, sxx, n, 6e9, 3e13, 3_000_000)),
                _fields(stats.means_vs_rest(*f[1:3], f[0], 6e9, 3e13, 3_000_000)), rtol=1e-12)
    assert_same(_fields(stats.rates_vs_rest(k, n, 600_000, 3_000_000)),
                _fields(stats.rates_vs_rest(f[3], f[0], 600_000, 3_000_000)), rtol=1e-12)
    assert_same(_pair(stats.wilson_interval(k, n)), _pair(stats.wilson_interval(f[3], f[0])), rtol=1e-12)
    np.testing.assert_allclose(stats.hanley_mcneil_se(0.7, n, n), stats.hanley_mcneil_se(0.7, f[0], f[0]), rtol=1e-12)


def test_perfect_or_small_aucs_get_no_interval_and_no_test():
    """A slice can separate perfectly (AUC 0 or 1, a variance of 0) or hold a handful of one
    class: a zero-width interval and a p near 0 there were false alarms (issue 10)."""
    var = [0.0, 0.0, 0.0, 0.004, 0.004]
    g = stats.aucs_vs_rest([1.0, 1.0, 0.0, 0.8, 0.8], var, [50, 50, 50, 9, 40], [50, 50, 50, 40, 10],
                           [1.0, 0.0, 0.5, 0.5, 0.5], [0.0005] * 5)
    assert np.isnan(g.p_value[:4]).all() and np.isnan(g.ci_low[:4]).all() and np.isnan(g.ci_high[:4]).all()
    assert 0 < g.ci_low[4] < 0.8 < g.ci_high[4] < 1 and 0 < g.p_value[4] < 1
    assert g.value.tolist() == [1.0, 1.0, 0.0, 0.8, 0.8]  # the AUC itself is still shown


def test_group_delong_of_no_rows_is_empty_and_of_one_class_has_no_auc():
    empty = stats.group_delong(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    assert all(len(getattr(empty, f)) == 0 for f in ("n", "auc", "var", "rest_auc", "rest_var"))
    assert np.isnan(empty.overall_auc) and np.isnan(empty.overall_var)
    one = stats.group_delong(np.array([0, 0, 1]), np.ones(3, int), np.array([0.1, 0.2, 0.3]))
    assert np.isnan(one.auc).all() and np.isnan(one.overall_auc) and one.n.tolist() == [2, 1]


def test_a_three_row_slice_with_auc_1_is_not_flagged():
    """The case of the issue: 3 rows of a public dataset, AUC 1, once flagged at p = 1e-52."""
    rng = np.random.default_rng(3)
    y, s = (rng.random(3000) < 0.3).astype(int), rng.random(3000)
    g = np.zeros(3000, int)
    g[:3], y[:3], s[:3] = 1, [1, 0, 0], [0.9, 0.1, 0.2]
    d = stats.group_delong(g, y, s)
    assert d.auc[1] == 1.0
    r = stats.aucs_vs_rest(d.auc, d.var, d.pos, d.neg, d.rest_auc, d.rest_var)
    assert np.isnan(r.p_value[1]) and np.isnan(r.ci_low[1]) and np.isnan(r.ci_high[1])


def test_auc_and_mean_intervals_stay_inside_their_range_and_have_width():
    rng = np.random.default_rng(4)
    aucs = rng.uniform(0.01, 0.99, 500)
    var = rng.uniform(0, 1, 500) * aucs * (1 - aucs) / 10  # DeLong's variance is at most A(1 - A) / min(m, n)
    lo, hi = stats.auc_interval(aucs, var)
    assert ((0 < lo) & (lo < aucs) & (aucs < hi) & (hi < 1)).all()
    m, n = rng.uniform(0.01, 0.99, 500), rng.integers(2, 50, 500)
    sd = rng.uniform(0, 1, 500) * np.sqrt(m * (1 - m))  # values in [0, 1] have at most this SD
    for bounds, top in (("unit", 1), ("positive", np.inf)):
        lo, hi = stats.mean_interval(m, sd, n, bounds=bounds)
        assert ((0 < lo) & (lo < m) & (m < hi) & (hi <= top)).all()
    # on a bound, or with every value equal, no interval: one of positive width cannot follow
    for bounds, mean in (("unit", 0.0), ("unit", 1.0), ("positive", 0.0), ("unit", 0.3)):
        sd = 0.0 if mean == 0.3 else 0.1
        assert np.isnan(stats.mean_interval(mean, sd, 40, bounds=bounds)).all()


def test_bh_qvalues_take_none_as_untested():
    assert_same({"q": stats.bh_qvalues([0.01, None, 0.02])}, {"q": stats.bh_qvalues([0.01, NAN, 0.02])})


@pytest.mark.parametrize("name", list(_vector_args()))
def test_group_order_only_permutes_the_result(name):
    fn, args = _vector_args()[name]
    perm = np.array([3, 0, 5, 1, 4, 2])
    whole, permuted = _as_dict(fn(*args)), _as_dict(fn(*(a[perm] for a in args)))
    assert_same(permuted, {key: np.asarray(v)[perm] for key, v in whole.items()}, rtol=1e-12)


@pytest.mark.parametrize("dataset", list(P_VALUES))
def test_bh_qvalues_follow_their_p_values_when_permuted(dataset):
    p = P_VALUES[dataset]
    perm = np.random.default_rng(1).permutation(len(p))
    np.testing.assert_allclose(stats.bh_qvalues(p[perm]), stats.bh_qvalues(p)[perm], rtol=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
@pytest.mark.parametrize("stat", ["rates", "means", "aucs"])
def test_alternative_sides(stat, alternative):
    """Two-sided is symmetric in the sign of the difference; one-sided is half of it on the greater
    side and one minus that half on the other."""
    if stat == "rates":  # 20% and 10% of 100 rows against 15% and 20% of the other 200
        up = stats.rates_vs_rest([20], [100], 50, 300, alternative=alternative).p_value[0]
        down = stats.rates_vs_rest([10], [100], 50, 300, alternative=alternative).p_value[0]
        two = stats.rates_vs_rest([20], [100], 50, 300).p_value[0]
    elif stat == "means":  # means 0.7 and 0.3 against 0.5
        args = dict(sxx=[400.0], n=[100], total_sxx=900.0, total_n=300)
        up = stats.means_vs_rest([70.0], total_sx=170.0, alternative=alternative, **args).p_value[0]
        down = stats.means_vs_rest([30.0], total_sx=130.0, alternative=alternative, **args).p_value[0]
        two = stats.means_vs_rest([70.0], total_sx=170.0, **args).p_value[0]
    else:
        up = stats.aucs_vs_rest(0.8, 0.003, 40, 60, 0.7, 0.001, alternative=alternative).p_value
        down = stats.aucs_vs_rest(0.6, 0.003, 40, 60, 0.7, 0.001, alternative=alternative).p_value
        two = stats.aucs_vs_rest(0.8, 0.003, 40, 60, 0.7, 0.001).p_value
    assert 1e-4 < two < 0.5
    if alternative == "greater":
        assert up == pytest.approx(two / 2) and up < 0.5 < down
    else:
        assert up == pytest.approx(two) and 0 < up < 1 and 0 < down < 1


@pytest.mark.parametrize("p", [0.2, 0.5, 0.85])
def test_logit_interval_covers_a_proportion_95_percent_of_the_time(p):
    """Boyd's interval is the logit interval of a proportion: simulated coverage is about 95%."""
    n = 150
    ks = np.random.default_rng(int(p * 100)).binomial(n, p, size=2000)
    cover = [lo <= p <= hi for lo, hi in (stats.logit_interval(k / n, n) for k in ks)]
    assert 0.93 <= np.mean(cover) <= 0.965


# ------------------------------------------------------------------------------------------------
# Hypothesis: random inputs against the same oracles

@FAST
@given(st.integers(0, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_equals_statsmodels_for_any_counts(kn):
    k, n = kn
    lo, hi = stats.wilson_interval(k, n)
    olo, ohi = _quiet(_wilson_oracle, k, n)
    assert (lo, hi) == pytest.approx((olo, ohi), rel=1e-9, abs=1e-12, nan_ok=True)
    if n:
        assert -1e-15 <= lo <= k / n + 1e-15 and k / n - 1e-15 <= hi <= 1 + 1e-15


@FAST
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.lists(st.booleans(), min_size=1, max_size=60),
       st.sampled_from(["two-sided", "greater"]))
def test_rates_vs_rest_equals_proportions_ztest(group, rest, alternative):
    group, rest = np.array(group, float), np.array(rest, float)
    ours = _fields(stats.rates_vs_rest(group.sum(), len(group), group.sum() + rest.sum(), len(group) + len(rest),
                                       alternative=alternative))
    oracle = _rates_oracle("larger" if alternative == "greater" else alternative)(
        Grouped(np.r_[group, rest], np.r_[np.zeros(len(group), int), np.ones(len(rest), int)], 2))
    assert_same(ours, {k: v[0] for k, v in oracle.items()}, rtol=1e-9)


@FAST
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=30), st.lists(st.floats(-100, 100), min_size=2, max_size=30),
       st.sampled_from(["two-sided", "greater"]))
def test_means_vs_rest_equals_welch_on_the_rows(group, rest, alternative):
    group, rest = np.round(group, 3), np.round(rest, 3)
    if np.ptp(group) < 1e-2 or np.ptp(rest) < 1e-2:
        return  # a (near-)constant group: the sums cannot resolve its SD to the oracle's precision
    both = np.r_[group, rest]
    ours = stats.means_vs_rest(group.sum(), (group ** 2).sum(), len(group), both.sum(), (both ** 2).sum(), len(both),
                               alternative=alternative)
    oracle = _quiet(sps.ttest_ind, group, rest, equal_var=False, alternative=alternative).pvalue
    assert ours.p_value == pytest.approx(oracle, rel=1e-6, abs=1e-12)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(_t_oracle(group), rel=1e-6, abs=1e-9)
    assert stats.sd_from_sums(group.sum(), (group ** 2).sum(), len(group)) == pytest.approx(np.std(group, ddof=1),
                                                                                             rel=1e-6)


@FAST
@given(st.lists(st.one_of(st.floats(0, 1), st.just(NAN)), max_size=40))
def test_bh_equals_statsmodels_for_any_p_values(p):
    p = np.array(p, float)
    oracle = multipletests(np.where(np.isnan(p), 1.0, p), method="fdr_bh")[1] if len(p) else p
    np.testing.assert_allclose(stats.bh_qvalues(p), oracle, rtol=1e-12, atol=1e-300)


@FAST
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=4, max_size=40))
def test_delong_equals_the_pairwise_definition_with_ties(rows):
    y, s = (np.array(c) for c in zip(*rows))
    y = y.astype(int)
    np.testing.assert_allclose(stats.delong_variance(y, s.astype(float)), _pairwise_delong(y, s), rtol=1e-9,
                               atol=1e-15)


# ------------------------------------------------------------------------------------------------
# evaluate(): scikit-learn point values, and each interval against its own oracle

def _binary(n, seed, *, pos=0.5, decimals=None, extreme=False, one_class=False, no_positive=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos).astype(int) if not (one_class or no_positive) else np.zeros(n, int)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    if no_positive:  # nothing true or predicted positive: F1 is 0 by zero_division
        p *= 0.7
    if decimals is not None:
        p = np.round(p, decimals)
    if extreme:  # confident and wrong: scikit-learn's clipping decides the log loss
        p[:3], y[:3] = [0.0, 1.0, 1e-17], [1, 0, 1]
        p[3:6], y[3:6] = [0.0, 1.0, 1.0], [0, 1, 1]
    return y, (p >= 0.5).astype(int), p


def _multiclass(n, seed, classes, *, absent=None, nowhere=None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes if nowhere is None else classes - 1, n)
    proba = rng.dirichlet(np.ones(classes), n)
    proba[np.arange(n), y] += 0.3
    if absent is not None:  # one class is never predicted
        proba[:, absent] = 0
    if nowhere is not None:  # one class is neither true nor predicted (a rare class, a small holdout)
        proba[:, nowhere] = 0
    proba /= proba.sum(axis=1, keepdims=True)
    return y, proba.argmax(1), proba


def _regression(n, seed, *, scale=1.0):
    rng = np.random.default_rng(seed)
    y = rng.normal(scale=scale, size=n)
    return y, y + rng.normal(scale=0.5 * scale, size=n), None


EVAL = {
    "binary": {"3000 rows": _binary(3000, 0), "60 rows, tied scores": _binary(60, 1, decimals=1),
               "5% positives": _binary(2000, 2, pos=0.05), "probabilities of 0 and 1": _binary(300, 3, extreme=True),
               "one class": _binary(50, 4, one_class=True), "no positives at all": _binary(40, 5, no_positive=True)},
    "multiclass": {"3 classes": _multiclass(1500, 5, 3), "4 classes, one never predicted": _multiclass(400, 6, 4, absent=2),
                   "4 classes, one nowhere": _multiclass(300, 7, 4, nowhere=3)},
    "regression": {"1000 rows": _regression(1000, 7), "25 rows": _regression(25, 8),
                   "targets on a small scale": _regression(400, 9, scale=0.01),
                   "3 rows, two alike": (np.array([1.0, 1.0, 2.0]), np.array([0.9, 1.2, 1.7]), None)},
}
SEED = 7


def _row_log_loss(y, proba):
    """Per-row cross-entropy, clipped as scikit-learn clips (to [eps, 1 - eps] of the dtype)."""
    p = proba if proba.ndim == 2 else np.column_stack([1 - proba, proba])
    eps = np.finfo(float).eps
    onehot = np.eye(p.shape[1])[y]
    return -special.xlogy(onehot, np.clip(p, eps, 1 - eps)).sum(axis=1)


def _f1_oracle(cms, average):
    """F1 = 2 TP / (2 TP + FP + FN) per class, from cm[true, predicted]; 0 where undefined."""
    out = []
    for cm in cms:
        f1 = []
        for c in range(cm.shape[0]):
            tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
            f1.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
        out.append(f1[1] if average == "binary" else np.mean(f1))
    return np.array(out)


def _multinomial_draws(y, pred, classes, rng):
    """The documented bootstrap: BOOTSTRAP multinomial draws over the confusion-matrix cells."""
    cm = skm.confusion_matrix(y, pred, labels=np.arange(classes))
    draws = rng.multinomial(len(y), cm.ravel() / len(y), size=metrics.BOOTSTRAP)
    return draws.reshape(-1, classes, classes)


def _tci(x, bounds=None):
    return list(_t_oracle(x, bounds))


def _evaluate_oracle(task, y, pred, proba, classes=2):
    rng = np.random.default_rng(SEED)
    n = len(y)
    if task == "regression":
        sq, ab = (y - pred) ** 2, np.abs(y - pred)
        lo, hi = _t_oracle(sq, "positive")
        # a draw of constant targets has no R² (scikit-learn would call it 0 or 1): NaN, left out
        r2 = [skm.r2_score(y[i], pred[i]) if np.ptp(y[i]) > 0 else NAN
              for i in (rng.integers(0, n, size=n) for _ in range(metrics.R2_BOOTSTRAP))]
        return {"rmse": skm.root_mean_squared_error(y, pred), "rmse_ci": [math.sqrt(lo), math.sqrt(hi)],
                "mae": skm.mean_absolute_error(y, pred), "mae_ci": _tci(ab, "positive"),
                "r2": skm.r2_score(y, pred), "r2_ci": list(_percentile_oracle(np.array(r2)).values())}
    correct = int((y == pred).sum())
    out = {"log_loss": skm.log_loss(y, proba, labels=np.arange(classes)), "log_loss_ci": _tci(_row_log_loss(y, proba), "positive"),
           "accuracy": skm.accuracy_score(y, pred), "accuracy_ci": list(_wilson_oracle(correct, n))}
    average = "macro" if task == "multiclass" else "binary"
    f1_ci = list(_percentile_oracle(_f1_oracle(_multinomial_draws(y, pred, classes, rng), average)).values())
    if task == "multiclass":
        return out | {"macro_f1": skm.f1_score(y, pred, average="macro", labels=np.arange(classes), zero_division=0),
                      "macro_f1_ci": f1_ci}
    one_class = len(np.unique(y)) < 2
    ap = NAN if one_class else skm.average_precision_score(y, proba)
    return out | {"roc_auc": NAN if one_class else skm.roc_auc_score(y, proba),
                  "roc_auc_ci": list(_delong_interval_oracle((y, proba)).values()),
                  "pr_auc": ap, "pr_auc_ci": list(_logit_oracle(ap, y.sum())),
                  "brier": skm.brier_score_loss(y, proba), "brier_ci": _tci((proba - y) ** 2, "unit"),
                  "f1": skm.f1_score(y, pred, zero_division=0), "f1_ci": f1_ci}


def _eval_cases():
    for task, datasets in EVAL.items():
        for name in datasets:
            yield pytest.param(task, name, id=f"{task}-{name}")


def _classes(task, proba):
    return proba.shape[1] if task == "multiclass" else 2


@pytest.mark.parametrize("task, dataset", list(_eval_cases()))
def test_evaluate_matches_scikit_learn_and_its_interval_oracles(task, dataset):
    y, pred, proba = EVAL[task][dataset]
    classes = _classes(task, proba)
    ours = metrics.evaluate(task, y, pred, proba, n_classes=classes, seed=SEED)
    oracle = _quiet(_evaluate_oracle, task, y, pred, proba, classes)
    assert set(ours) == {m for name in metrics.METRICS[task] for m in (name, f"{name}_ci")}
    assert_same(ours, oracle, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("task, dataset", list(_eval_cases()))
def test_evaluate_ignores_row_order_and_is_seeded(task, dataset):
    y, pred, proba = EVAL[task][dataset]
    classes = _classes(task, proba)
    p = np.random.default_rng(3).permutation(len(y))
    a = metrics.evaluate(task, y, pred, proba, n_classes=classes, seed=SEED)
    b = metrics.evaluate(task, y[p], pred[p], None if proba is None else proba[p], n_classes=classes, seed=SEED)
    assert a == metrics.evaluate(task, y, pred, proba, n_classes=classes, seed=SEED)
    # r2's bootstrap resamples rows by position, so its interval depends on row order (not its law)
    assert_same({k: v for k, v in b.items() if k != "r2_ci"}, {k: v for k, v in a.items() if k != "r2_ci"},
                rtol=1e-9)
    for name in metrics.METRICS[task]:
        lo, hi = a[f"{name}_ci"]
        if np.isfinite(a[name]):
            assert lo <= a[name] <= hi, name


def test_evaluate_bootstrap_depends_on_the_seed():
    y, pred, proba = EVAL["binary"]["3000 rows"]
    assert metrics.evaluate("binary", y, pred, proba, seed=1)["f1_ci"] != metrics.evaluate(
        "binary", y, pred, proba, seed=2)["f1_ci"]


def test_the_f1_oracle_is_scikit_learn():
    rng = np.random.default_rng(0)
    for classes, average in ((2, "binary"), (3, "macro"), (4, "macro")):
        for j, cm in enumerate(rng.integers(1, 6, size=(8, classes, classes))):
            if j % 2 == 0:  # no true positive of class 0
                cm[0, 0] = 0
            else:  # the last class neither true nor predicted: its F1 is 0 (zero_division)
                cm[-1, :] = cm[:, -1] = 0
            labels = np.arange(classes)
            t, p = np.repeat(labels, classes), np.tile(labels, classes)
            expected = skm.f1_score(t, p, sample_weight=cm.ravel(), average=average, labels=labels, zero_division=0)
            assert _f1_oracle([cm], average)[0] == pytest.approx(expected, rel=1e-12)
            assert metrics._f1_from_cm(cm[None], average=average)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("task, dtype", [("binary", np.float64), ("binary", np.float32), ("binary", np.int64),
                                         ("multiclass", np.float64), ("multiclass", np.float32),
                                         ("regression", np.float64)])
def test_row_loss_is_scikit_learn_row_by_row(task, dtype):
    """Exactly scikit-learn's clipping, to [eps, 1 - eps] of the probabilities' dtype (float32
    predictions clip at 1.2e-7, not 2.2e-16; 0/1 integers are float64)."""
    y, pred, proba = {"binary": _binary(40, 9, extreme=True), "multiclass": _multiclass(40, 10, 3),
                      "regression": _regression(40, 11)}[task]
    if task == "regression":
        expected = [skm.mean_squared_error([a], [b]) for a, b in zip(y, pred)]
    else:
        proba = (proba >= 0.5).astype(dtype) if dtype == np.int64 else proba.astype(dtype)
        if task == "multiclass":
            proba[:2] = np.eye(3, dtype=dtype)[(y[:2] + 1) % 3]  # certain and wrong
            proba[2:4] = np.eye(3, dtype=dtype)[y[2:4]]  # certain and right
        labels = np.arange(2 if proba.ndim == 1 else proba.shape[1])
        expected = [_quiet(skm.log_loss, y[i:i + 1], proba[i:i + 1], labels=labels) for i in range(len(y))]
    ours = metrics.row_loss(task, y, pred, proba)
    np.testing.assert_allclose(ours, expected, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)


@pytest.mark.parametrize("call", [lambda t: metrics.evaluate(t, np.zeros(3, int), np.zeros(3, int)),
                                  lambda t: metrics.row_loss(t, np.zeros(3, int), None, None),
                                  lambda t: metrics.comparison(t, {})])
def test_an_unknown_task_is_named_in_the_error(call):
    with pytest.raises(WorkbenchError) as err:
        call("ranking")
    assert str(err.value) == "Unknown task 'ranking': use one of binary, multiclass, regression."
    assert metrics.check_task("binary") == "binary"


def test_comparison_marks_the_best_model_per_metric():
    scores = {
        "a": {"roc_auc": 0.80, "roc_auc_ci": [0.7, 0.9], "log_loss": 0.40, "log_loss_ci": [0.35, 0.45], "f1": 0.5},
        "b": {"roc_auc": 0.85, "roc_auc_ci": [0.8, 0.9], "log_loss": 0.40, "log_loss_ci": [0.38, 0.42],
              "brier": 0.2, "brier_ci": [0.1, 0.3]},
        "c": {"roc_auc": NAN, "roc_auc_ci": [NAN, NAN], "log_loss": 0.50, "log_loss_ci": [0.45, 0.55]},
    }
    table = metrics.comparison("binary", scores)
    assert table.schema == {"model": pl.String, "metric": pl.String, "value": pl.Float64, "ci_low": pl.Float64,
                            "ci_high": pl.Float64, "best": pl.Boolean}
    oracle = []
    for model, s in scores.items():
        for name, higher in metrics.METRICS["binary"].items():
            if name not in s:
                continue
            values = [o[name] for o in scores.values() if name in o and not np.isnan(o[name])]
            value = None if np.isnan(s[name]) else s[name]
            ci = s.get(f"{name}_ci") or [None, None]
            ci = [None if c is None or np.isnan(c) else c for c in ci]
            oracle.append({"model": model, "metric": name, "value": value, "ci_low": ci[0], "ci_high": ci[1],
                           "best": None if value is None else value == (max if higher else min)(values)})
    assert table.to_dicts() == oracle


def test_comparison_keeps_its_schema_without_intervals():
    """Scores read back from JSON may lack intervals or hold integers: the table's types stay put."""
    table = metrics.comparison("regression", {"a": {"rmse": 1, "r2": 0}, "b": {"rmse": 2, "r2": 1}})
    assert table.schema == {"model": pl.String, "metric": pl.String, "value": pl.Float64, "ci_low": pl.Float64,
                            "ci_high": pl.Float64, "best": pl.Boolean}
    assert table.filter("best").select("model", "metric").rows() == [("a", "rmse"), ("b", "r2")]


# ------------------------------------------------------------------------------------------------
# Curves: scikit-learn's points, thinned; calibration bins against a sort-and-cut oracle

def _curve_data(seed=12, n=900, decimals=None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    return y, (np.round(s, decimals) if decimals is not None else s)


@pytest.mark.parametrize("decimals", [None, 1])
def test_roc_and_pr_points_are_scikit_learn(decimals):
    y, s = _curve_data(decimals=decimals)
    fpr, tpr, _ = skm.roc_curve(y, s)
    assert curves.roc_points(y, s, points=10 ** 6).to_dict(as_series=False) == {"fpr": list(fpr), "tpr": list(tpr)}
    precision, recall, _ = skm.precision_recall_curve(y, s)
    pr = curves.pr_points(y, s, points=10 ** 6)
    assert pr.to_dict(as_series=False) == {"recall": list(recall[::-1]), "precision": list(precision[::-1])}
    assert pr["recall"].is_sorted()


@pytest.mark.parametrize("points", [1, 7, 50, 899, 900, 901])
def test_thinning_keeps_evenly_spaced_rows_and_the_last(points):
    frame = pl.DataFrame({"i": np.arange(900)})
    kept = curves._thin(frame, points)["i"].to_numpy()
    if points >= 900:
        assert kept.tolist() == list(range(900))
        return
    assert kept[0] == 0 and kept[-1] == 899 and np.all(np.diff(kept) > 0)
    assert points <= len(kept) <= points + 1
    assert np.diff(kept).max() <= math.ceil(900 / points)


@pytest.mark.parametrize("decimals, bins", [(None, 10), (None, 4), (1, 10), (2, 5)])
def test_calibration_bins_are_quantile_runs_of_the_sorted_scores(decimals, bins):
    y, s = _curve_data(decimals=decimals)
    table = curves.calibration_points(y, s, bins=bins)
    assert table.columns == ["n", "predicted", "observed", "low", "high"]
    assert table["predicted"].is_sorted() and table["n"].sum() == len(y)
    order = np.argsort(s, kind="stable")
    ys, ss = y[order], s[order]
    start = 0
    for row in table.iter_rows(named=True):
        run_s, run_y = ss[start:start + row["n"]], ys[start:start + row["n"]]
        start += row["n"]
        assert start == len(ss) or ss[start] > run_s[-1]  # tied scores are never split
        assert row["predicted"] == pytest.approx(run_s.mean(), rel=1e-12)
        assert row["observed"] == pytest.approx(run_y.mean(), rel=1e-12)
        assert (row["low"], row["high"]) == pytest.approx(_wilson_oracle(run_y.sum(), len(run_y)), rel=1e-9)
    if decimals is None:  # distinct scores: quantile bins of (almost) equal size
        assert table.height == bins and table["n"].max() - table["n"].min() <= 1


def test_calibration_bins_by_hand():
    """Bins are half-open, [edge, next edge): with two bins the median score 1 opens the upper one."""
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2], float)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    table = curves.calibration_points(y, s, bins=2)
    assert table.select("n", "predicted", "observed").rows() == [(4, 0.0, 0.25), (6, pytest.approx(8 / 6),
                                                                                    pytest.approx(5 / 6))]


@pytest.mark.parametrize("n, points", [(50, 2000), (5000, 300)])
def test_residual_points_are_a_seeded_sample_of_the_rows(n, points):
    rng = np.random.default_rng(13)
    y, pred = rng.normal(size=n), rng.normal(size=n)
    a = curves.residual_points(y, pred, points=points, seed=3)
    assert a.height == min(n, points)
    assert a.equals(curves.residual_points(y, pred, points=points, seed=3))
    idx = np.searchsorted(y, a["actual"].to_numpy(), sorter=np.argsort(y))
    rows = np.argsort(y)[idx]  # each sampled row's position in the input
    assert np.all(np.diff(rows) > 0)  # distinct rows, in input order
    np.testing.assert_array_equal(a["predicted"].to_numpy(), pred[rows])
    np.testing.assert_allclose(a["residual"].to_numpy(), y[rows] - pred[rows], rtol=0, atol=0)
    if n > points:
        assert not a.equals(curves.residual_points(y, pred, points=points, seed=4))


@pytest.mark.parametrize("test", [
    lambda alt: stats.rates_vs_rest([3], [10], 5, 40, alternative=alt),
    lambda alt: stats.means_vs_rest([3.0], [2.0], [10], 8.0, 9.0, 40, alternative=alt),
    lambda alt: stats.aucs_vs_rest([0.7], [5], [5], [0.6], [20], [20], alternative=alt),
])
def test_an_unknown_alternative_is_refused_not_read_as_two_sided(test):
    """statsmodels spells it 'larger'; silently testing two-sided instead would halve no p-value
    a reviewer expected halved."""
    with pytest.raises(ValueError, match="alternative"):
        test("larger")


def test_wilson_never_leaves_zero_one():
    low, high = stats.wilson_interval(np.arange(0, 51), np.full(51, 50))
    assert (low >= 0).all() and (high <= 1).all() and (low < high).all()


def test_bonferroni_scale_widens_a_normal_interval_to_the_simultaneous_level():
    from workbench.stats.intervals import bonferroni_scale
    assert bonferroni_scale(1) == 1.0
    for k in (2, 5, 40):
        assert bonferroni_scale(k) * sps.norm.ppf(0.975) == pytest.approx(sps.norm.ppf(1 - 0.05 / k / 2))


def test_wilson_bounds_at_none_and_all_are_the_point_value_exactly():
    from workbench.stats.intervals import wilson_interval
    low, high = wilson_interval(np.array([0, 955, 3]), np.array([955, 955, 7]))
    assert low[0] == 0.0 and high[1] == 1.0 and 0 < low[2] < 3 / 7 < high[2] < 1
