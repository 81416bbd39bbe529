"""Coverage of every 95% interval method of the workbench, by simulation (issue 10): the share of
draws whose interval holds the true value, at n = 10, 20, 50, 100 and 1,000 rows.

The methods: Wilson for a rate;
t on the log scale for a mean of log losses, absolute errors and squared errors (rmse is
the root of the last); t on the logit scale for Brier score and mean score; plain t for
bias; DeLong's variance on the logit scale for ROC AUC (binormal scores; every draw a group
of one ``stats.group_delong`` call, as a breakdown computes its slices, with
``stats.delong_interval`` as the oracle on a few draws per cell), counting only draws where
a breakdown offers it (>= 10 of each class, 0 < AUC < 1).
Scores are Beta-distributed with calibrated labels (label ~ Bernoulli(score)); every truth
is exact (Beta moments and digamma, not a large draw; the log loss's is checked against a
2M-row draw). Goal: coverage 0.93 or more at every n where an interval is offered. Means
under ``stats.MEAN_MIN_ROWS`` rows are marked: breakdowns and discovery show no interval there.

    python bench/bench_coverage.py [--reps 4000]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import special
from statsmodels.stats.proportion import proportion_confint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workbench import stats  # noqa: E402

SIZES = (10, 20, 50, 100, 1000)
GOAL_COVERAGE = 0.93
EPS = np.finfo(np.float64).eps  # the per-row log loss's clip (stats.metrics.row_loss)


Coverage = tuple[int, int]  # (draws whose interval covers the truth, draws offered an interval)


def _covers(low, high, truth) -> Coverage:
    offered = np.isfinite(low) & np.isfinite(high)
    return int((offered & (low <= truth) & (truth <= high)).sum()), int(offered.sum())


def _mean_case(values: Callable[[np.random.Generator, tuple[int, int]], np.ndarray], truth: float,
               bounds: str | None) -> Callable[[np.random.Generator, int, int], Coverage]:
    """Coverage of ``stats.mean_interval`` for the mean of per-row ``values`` (drawn as a reps x n array)."""
    def run(rng, n, reps):
        v = values(rng, (reps, n))
        return _covers(*stats.mean_interval(v.mean(1), v.std(1, ddof=1), n, bounds=bounds), truth)
    return run


def _scored(a: float, b: float, rng: np.random.Generator, shape) -> tuple[np.ndarray, np.ndarray]:
    """Scores ~ Beta(a, b) and calibrated labels ~ Bernoulli(score)."""
    s = rng.beta(a, b, shape)
    return s, rng.random(shape) < s


def _log_loss(a, b):
    """Per-row log losses (clipped as ``row_loss`` clips them) of calibrated Beta(a, b) scores."""
    def values(rng, shape):
        s, y = _scored(a, b, rng, shape)
        return -np.log(np.clip(np.where(y, s, 1 - s), EPS, 1 - EPS))
    return values


def _brier(a, b):
    """Per-row squared errors (Brier) of calibrated Beta(a, b) scores."""
    def values(rng, shape):
        s, y = _scored(a, b, rng, shape)
        return (y - s) ** 2
    return values


def log_loss_truth(a: float, b: float) -> float:
    """E[-s log s - (1 - s) log(1 - s)] for s ~ Beta(a, b): a calibrated model's expected log loss."""
    psi = special.digamma(a + b + 1)
    return a / (a + b) * (psi - special.digamma(a + 1)) + b / (a + b) * (psi - special.digamma(b + 1))


def _rate_case(p: float):
    """Coverage of the Wilson interval for a rate ``p``."""
    def run(rng, n, reps):
        return _covers(*stats.wilson_interval(rng.binomial(n, p, reps), n), p)
    return run


def _auc_case(auc: float, prevalence: float):
    """Coverage of DeLong's logit interval for ROC AUC ``auc`` at ``prevalence``, binormal scores."""
    shift = np.sqrt(2) * special.ndtri(auc)  # binormal: negatives N(0, 1), positives N(shift, 1)

    def run(rng, n, reps):
        # every draw a group of one stats.group_delong call, as a breakdown computes its slices'
        # AUCs; stats.delong_interval on the rows of a few draws is the oracle
        y = rng.random((reps, n)) < prevalence
        score = rng.normal(size=(reps, n)) + shift * y
        covered = offered = 0
        chunk = max(1, DELONG_ROWS // n)
        for start in range(0, reps, chunk):
            yc, sc = y[start:start + chunk], score[start:start + chunk]
            d = stats.group_delong(np.repeat(np.arange(len(yc)), n), yc.ravel(), sc.ravel())
            tested = (d.pos >= stats.AUC_MIN_CLASS) & (d.neg >= stats.AUC_MIN_CLASS)
            low, high = stats.auc_interval(d.auc, np.where(tested, d.var, np.nan))
            if not start:
                for row in np.flatnonzero(tested)[:ORACLE_DRAWS]:
                    np.testing.assert_allclose(stats.delong_interval(yc[row], sc[row]), (low[row], high[row]),
                                               rtol=1e-9)
            c, o = _covers(low, high, auc)
            covered, offered = covered + c, offered + o
        return covered, offered
    return run


DELONG_ROWS = 250_000  # rows per group_delong call: its sorts run faster in pieces of this size
ORACLE_DRAWS = 20      # draws per cell checked against stats.delong_interval


@dataclass(frozen=True)
class Case:
    """One row of the coverage table: an interval method on one kind of data."""

    method: str
    case: str
    run: Callable[[np.random.Generator, int, int], Coverage]
    min_rows: int = 0  # breakdowns offer no interval under this many rows


def cases() -> list[Case]:
    """Every interval method the workbench offers, each on a tame and a skewed case."""
    m = stats.MEAN_MIN_ROWS
    out = [Case("Wilson", f"rate p={p:g}", _rate_case(p)) for p in (0.02, 0.1, 0.3, 0.5)]
    for a, b in ((1, 3), (0.5, 5)):
        out.append(Case("t log scale", f"log loss Beta({a:g},{b:g})", _mean_case(_log_loss(a, b), log_loss_truth(a, b),
                                                                             "positive"), m))
    for a, b in ((1, 3), (0.5, 5)):
        brier = a * b / ((a + b) * (a + b + 1))  # E[s (1 - s)]: a calibrated model's expected Brier score
        out.append(Case("t logit scale", f"brier Beta({a:g},{b:g})",
                        _mean_case(_brier(a, b), brier, "unit"), m))
    for a, b in ((1, 3), (0.5, 5)):
        out.append(Case("t logit scale", f"mean score Beta({a:g},{b:g})",
                        _mean_case(lambda rng, sh, a=a, b=b: rng.beta(a, b, sh), a / (a + b), "unit"), m))
    out += [Case("t", "bias N(0.3,1)", _mean_case(lambda rng, sh: rng.normal(0.3, 1, sh), 0.3, None), m),
            Case("t", "bias lognormal(0,1)", _mean_case(lambda rng, sh: rng.lognormal(0, 1, sh), np.exp(0.5), None), m),
            Case("t log scale", "mae |N(0,1)|", _mean_case(lambda rng, sh: np.abs(rng.normal(size=sh)),
                                                           np.sqrt(2 / np.pi), "positive"), m),
            Case("t log scale", "mae |Laplace(0,1)|", _mean_case(lambda rng, sh: np.abs(rng.laplace(size=sh)),
                                                                 1.0, "positive"), m),
            Case("t log scale", "mse (rmse²) N(0,1)", _mean_case(lambda rng, sh: rng.normal(size=sh) ** 2,
                                                                 1.0, "positive"), m),
            Case("t log scale", "mse (rmse²) Laplace(0,1)", _mean_case(lambda rng, sh: rng.laplace(size=sh) ** 2,
                                                                       2.0, "positive"), m)]  # Laplace's variance
    for prevalence in (0.3, 0.5):
        for auc in (0.75, 0.9, 0.97):
            out.append(Case("DeLong logit", f"roc auc {auc:g}, prevalence {prevalence:g}", _auc_case(auc, prevalence)))
    return out


def coverage_section(reps: int) -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    check = {ab: _log_loss(*ab)(rng, (2_000_000,)).mean() for ab in ((1, 3), (0.5, 5))}
    lines = []
    for c in cases():
        cells = []
        for n in SIZES:
            covered, offered = c.run(rng, n, reps)
            if not offered:
                cells.append(f"{'-':<12} {0:4.0%}")
                continue
            low, high = proportion_confint(covered, offered, method="wilson")
            cov = covered / offered
            below = n < c.min_rows
            mark = "*" if below else ("!" if cov < GOAL_COVERAGE else " ")
            cells.append(f"{cov:.3f}±{max(cov - low, high - cov):.3f}{mark} {offered / reps:4.0%}")
        lines.append(f"{c.method:<14}{c.case:<32}" + "  ".join(cells))
    print(f"\nCOVERAGE of 95% intervals by simulation, {reps} draws per cell ({time.perf_counter() - started:.0f} s). "
          f"Cell: coverage ± the Monte Carlo Wilson 95% half-width (over the draws offered an interval), then "
          f"the share of draws offered one. '*': under {stats.MEAN_MIN_ROWS} rows, where breakdowns offer no "
          f"interval for a mean (nor does discovery); '!': below the goal of {GOAL_COVERAGE} where offered. "
          f"ROC AUC: offered with >= {stats.AUC_MIN_CLASS} of each class and 0 < AUC < 1.")
    print(f"{'method':<14}{'case':<32}" + "  ".join(f"{f'n={n}':<17}" for n in SIZES).rstrip())
    print("\n".join(lines))
    print("log-loss truths, exact vs a 2M-row draw: "
          + "; ".join(f"Beta({a:g},{b:g}) {log_loss_truth(a, b):.4f} vs {v:.4f}" for (a, b), v in check.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=4000, help="simulated draws per cell")
    started = time.perf_counter()
    coverage_section(parser.parse_args().reps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {time.perf_counter() - started:.0f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
