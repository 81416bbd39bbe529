"""Every number a reviewer acts on, under the null (issue 10): false alarms and interval coverage.

Three sections, each runnable alone:

breakdowns
    Per seed, the demo's target is replaced by coin flips at its base rate and LightGBM is trained
    on that (time split, as in the tour), so the model learns nothing and no slice of the holdout
    differs from the rest in any metric of its errors. For each metric it prints the share of
    breakdowns (seeds x columns) flagging at least one slice (q < 0.05), with a Wilson 95%
    interval, and how many of each seed's columns flag (they share the seed's labels, so the
    breakdowns are not independent and the interval is too narrow). Goal: 5% or less.
    ``mean_score`` is no such null: it describes the model's output, which still varies by
    slice on noise (a flag there is a true difference, however small).
searches
    On the same coin-flip runs, ``discover`` for each error ("misclassification", "loss"), alpha
    (0.5, the default, and 0.99, the issue's) and k (4 to 8). The share of searches returning a
    slice with p < 0.05 on the search half (the old, optimistic figure, to show the problem),
    with q < 0.05 there (over every candidate evaluated), with a slice "confirmed" on the other
    half, and whose top score has a permutation p <= 0.05; and the coverage of the intervals
    shown (counted on the other half) for the slice's true error, with the seeds where one missed
    (a search's slices share rows, so misses come in clusters). Goal: 5% or less for every
    flagging share but the search half's, coverage 0.93 or more.
    The true error is exact: with coin flips at rate r independent of everything, a row's
    expected error given the model's output is r where it predicts the negative class and 1 - r
    where it predicts the positive one (misclassification; not 0.5 unless r is), and
    -r log s - (1 - r) log(1 - s) at score s (loss); a slice's truth is the mean of that over
    the rows shown. It varies from row to row only with the score, whose spread on noise is
    tiny (loss: to second order; misclassification: not at all while no row is predicted
    positive, as the header line says).
calibration
    The ECE breakdown (``workbench.stats.group_calibration``) on synthetic scores, where the truth
    is known: scores from Beta(1, 3), labels y ~ Bernoulli(score) (perfectly calibrated), slices of
    30 to 50,000 rows in one breakdown. The share of breakdowns flagging a slice (q < 0.05) and
    per slice size; the intervals' coverage of the slice's true binned ECE (that of its true
    probabilities against its scores) when every score is off by 0, +0.02, +0.05 or +0.1; and the
    share of breakdowns finding a slice of each size whose scores alone are off by +0.1 (power).
    (The breakdowns section also runs ``ece`` on the coin-flip runs, where the model's scores are
    close to, not exactly, the flips' rate.)
coverage
    By simulation, each interval method at n = 10, 20, 50, 100 and 1,000 rows
    (``bench/bench_coverage.py``, which runs alone too).

    python bench/bench_null.py [--section breakdowns searches coverage] [--seeds 20] [--min-size 1 20]
                               [--search-seeds 4] [--permutations 19] [--reps 4000]
                               [--calibration-seeds 400]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis import sliceline, slices
from workbench.analysis.discover import discover
from workbench.data import demo
from workbench.engine import sql_literal
from workbench.model import train
from workbench.store.build import build
from workbench.store.datasets import load_version
from workbench.store.runs import Run
from workbench.store.workspace import Workspace
from bench_coverage import coverage_section  # noqa: E402 (bench/ is the script's own folder)

SECTIONS = ("breakdowns", "searches", "calibration", "coverage")
COLUMNS = ("carrier", "origin", "dest", "hour", "month", "manufacturer", "temp", "humid", "seats", "plane_year")
ERRORS = ("misclassification", "loss")
ALPHAS = (0.5, 0.99)
SEARCH_SEED = 10_000  # discover's seed is this plus the run's: its halves must not reuse the coin flips' stream
KS = (4, 5, 6, 7, 8)
GOAL_SHARE, GOAL_COVERAGE = 0.05, 0.93
EPS = np.finfo(np.float64).eps  # the per-row log loss's clip (stats.metrics.row_loss)


def share(k: int, n: int, *, goal: bool = True, decimals: int = 0) -> str:
    """'k/n x% [low-high%]' with a Wilson 95% interval; with a ``goal``, '!' where even the low end
    is above it (5%)."""
    if not n:
        return "-"
    low, high = proportion_confint(k, n, method="wilson")
    d = decimals
    return (f"{k}/{n} {k / n:.{d}%} [{100 * low:.{d}f}-{100 * high:.{d}f}%]"
            f"{'!' if goal and low > GOAL_SHARE else ''}")


def coin_flip_runs(seeds: int) -> Iterator[tuple[int, Run, float]]:
    """(seed, run, rate): LightGBM trained on the demo with its target replaced by coin flips at
    its base rate ``rate``, one run per seed."""
    with tempfile.TemporaryDirectory() as root:
        ws = Workspace.open(Path(root))
        demo.setup(ws)
        data = pl.read_parquet(load_version(ws, demo.DATASET).path)
        rate = float(data[demo.TARGET].mean())
        for seed in range(seeds):
            flips = pl.Series(demo.TARGET, np.random.default_rng(seed).random(data.height) < rate)
            data.with_columns(flips).write_parquet(Path(root) / "flips.parquet")
            build(ws, "coin", "SELECT * FROM flips")
            yield seed, train.train(ws, train.TrainSpec("coin", demo.TARGET, split="time:time_hour", seed=seed)), rate


# ---------------------------------------------------------------- breakdowns

def count_breakdowns(run: Run, counts: dict[tuple[str, int], list[int]], min_sizes: list[int]) -> None:
    """Add, per (metric, min size), how many of this run's breakdowns (one per column) flag a slice."""
    for metric in slices.SLICE_METRICS["binary"]:
        for min_size in min_sizes:
            flagged = 0
            for column in COLUMNS:
                table = slices.breakdown(run, [column], metric=metric, bins=5, min_size=min_size)
                flagged += int(table.slices["significant"].any())
            counts.setdefault((metric, min_size), []).append(flagged)


def print_breakdowns(counts: dict[tuple[str, int], list[int]], seeds: int, rate: float, seconds: float) -> None:
    print(f"\nBREAKDOWNS. null: {seeds} seeds x {len(COLUMNS)} columns, the demo's target replaced by coin flips "
          f"at its base rate {rate:.3f} and LightGBM trained on them; a breakdown 'flags' when any slice has "
          f"q < 0.05; 'per seed': how many of the {len(COLUMNS)} columns flag, seed by seed, X for all (the "
          f"Wilson interval takes the breakdowns as independent; a seed's columns share its labels) ({seconds:.0f} s)")
    for (metric, min_size), per_seed in counts.items():
        flagged, total = sum(per_seed), len(per_seed) * len(COLUMNS)
        low, high = proportion_confint(flagged, total, method="wilson")
        note = "  (not a null: the model's scores do vary by slice)" if metric == "mean_score" else ""
        print(f"{metric:<14} min size {min_size:>3}: {flagged:>3}/{total} breakdowns flag a slice = "
              f"{flagged / total:6.1%} (Wilson 95% [{low:.1%}, {high:.1%}]; goal <= 5%); per seed "
              f"{''.join(str(f) if f < 10 else 'X' for f in per_seed)}{note}")


# ---------------------------------------------------------------- calibration

CAL_SIZES = (30, 60, 100, 300, 1000, 3000, 10_000, 50_000)
CAL_SHIFTS = (0.0, 0.02, 0.05, 0.1)


def _calibration_rows(seed: int, shift: float, only: int | None = None):
    """Group, label, score and true probability: Beta(1, 3) scores, labels from the score plus
    ``shift`` (in every group, or only in group ``only``)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(CAL_SIZES)), CAL_SIZES)
    p = rng.beta(1, 3, len(g))
    mu = np.clip(p + (shift if only is None else np.where(g == only, shift, 0.0)), 0, 1)
    return g, rng.random(len(g)) < mu, p, mu


def calibration_section(seeds: int) -> None:
    from workbench import stats
    started = time.perf_counter()
    k = len(CAL_SIZES)
    flagged, per_size = 0, np.zeros(k, int)
    for seed in range(seeds):
        g, y, p, _ = _calibration_rows(seed, 0.0)
        c = stats.group_calibration(g, y, p, draws=0)
        tested = np.isfinite(c.p_value)
        q = np.full(k, np.nan)
        q[tested] = stats.bh_qvalues(c.p_value[tested])
        flagged += bool((q < 0.05).any())
        per_size += q < 0.05
    print(f"\nCALIBRATION (ECE). null: {seeds} breakdowns of a perfectly calibrated model (y ~ Bernoulli(score), "
          f"scores Beta(1, 3)), one slice of each size {', '.join(f'{n:,}' for n in CAL_SIZES)}")
    print(f"breakdowns flagging a slice (q < 0.05): {share(flagged, seeds)}; by slice size: "
          + ", ".join(f"{n:,}: {f}" for n, f in zip(CAL_SIZES, per_size)))
    reps = max(seeds // 4, 20)
    print(f"coverage of the true binned ECE by the 95% interval, {reps} breakdowns per shift ({stats.ECE_DRAWS} "
          f"draws each), by slice size:")
    for shift in CAL_SHIFTS:
        covered, offered = np.zeros(k), np.zeros(k)
        for seed in range(reps):
            g, y, p, mu = _calibration_rows(seed + 50_000, shift)
            c = stats.group_calibration(g, y, p, seed=seed)
            for i in range(k):
                m = g == i
                truth = stats.calibration_error(mu[m], p[m], debiased=False)
                if np.isfinite(c.ci_low[i]):
                    offered[i] += 1
                    covered[i] += c.ci_low[i] <= truth <= c.ci_high[i]
        print(f"  scores off by {shift:+.2f}: " + ", ".join(f"{n:,}: {cv / of:.2f}" for n, cv, of
                                                            in zip(CAL_SIZES, covered, offered)))
    found = np.zeros(k, int)
    for i in range(k):
        for seed in range(reps):
            g, y, p, _ = _calibration_rows(seed + 90_000, 0.1, only=i)
            c = stats.group_calibration(g, y, p, draws=0)
            tested = np.isfinite(c.p_value)
            q = np.full(k, np.nan)
            q[tested] = stats.bh_qvalues(c.p_value[tested])
            found[i] += bool(q[i] < 0.05 and c.value[i] > c.rest[i])
    print(f"power: one slice's labels from score + 0.1, found worse (q < 0.05) in {reps} breakdowns: "
          + ", ".join(f"{n:,}: {share(f, reps, goal=False)}" for n, f in zip(CAL_SIZES, found)))
    print(f"({time.perf_counter() - started:.0f} s)")


# ---------------------------------------------------------------- searches

@dataclass
class Tally:
    """Counts over the searches of one (error, alpha, k)."""

    searches: int = 0
    found: int = 0          # returned at least one slice
    search_p: int = 0       # ... one with p < 0.05 on the search half
    search_q: int = 0       # ... one with q < 0.05 on the search half (over every candidate evaluated)
    confirmed: int = 0      # ... one confirmed on the other half
    permutation: int = 0    # the top score's permutation p <= 0.05
    shown: int = 0          # slices shown
    offered: int = 0        # ... with an interval
    covered: int = 0        # ... covering the slice's true error
    mismatched: int = 0     # ... whose 'where' does not give the slice's size (a bug if ever > 0)
    sizes: list[int] = field(default_factory=list)     # the rows of each slice shown
    missed: set[int] = field(default_factory=set)      # the seeds with an interval missing its truth


def expected_errors(run: Run, rate: float) -> tuple[dict[str, np.ndarray], int]:
    """Each holdout row's expected error given the model's output when the label is a coin flip
    at ``rate`` (in the order of the predictions file), and the rows predicted positive."""
    p = pl.read_parquet(run.predictions, columns=["_pred", "_score"])
    positive = p["_pred"].to_numpy().astype(bool)
    s = np.clip(p["_score"].to_numpy(), EPS, 1 - EPS)
    return ({"misclassification": np.where(positive, 1 - rate, rate),
             "loss": -(rate * np.log(s) + (1 - rate) * np.log1p(-s))}, int(positive.sum()))


def count_searches(run: Run, seed: int, rate: float, tallies: dict[tuple, Tally], permutations: int) -> int:
    """Run every search on one coin-flip run and add to ``tallies``; return the rows predicted positive."""
    truth, positive = expected_errors(run, rate)
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    # discover's own draw of the search half (its first from default_rng(seed)); the slices'
    # sizes check that this is the half it showed
    seed += SEARCH_SEED
    shown = np.random.default_rng(seed).random(len(truth["loss"])) >= 0.5
    masks: dict[str, np.ndarray] = {}
    for error in ERRORS:
        for alpha in ALPHAS:
            for k in KS:
                # the permutation p is of the top score, which k does not change: one test per search
                first = k == KS[0]
                d = discover(run, k=k, alpha=alpha, error=error, seed=seed, permutations=permutations if first else 0)
                top = d.slices["score"][0] if d.slices.height else None
                if first:
                    permuted, first_top = d.top_score_p, top
                assert top == first_top, f"the top score changed with k: {first_top} at k={KS[0]}, {top} at k={k}"
                t = tallies.setdefault((error, alpha, k), Tally())
                t.searches += 1
                t.permutation += permuted is not None and permuted <= 0.05
                table = d.slices
                if not table.height:
                    continue
                t.found += 1
                t.search_p += bool((table["search_p"].fill_null(1) < 0.05).any())
                t.search_q += bool((table["search_q"].fill_null(1) < 0.05).any())
                t.confirmed += bool(table["confirmed"].fill_null(False).any())
                for r in table.iter_rows(named=True):
                    if r["where"] not in masks:
                        masks[r["where"]] = np.asarray(con.sql(f"SELECT coalesce(({r['where']}), false) AS m "
                                                               f"FROM {src}").fetchnumpy()["m"], bool)
                    rows = masks[r["where"]] & shown
                    t.shown += 1
                    t.sizes.append(r["size"])
                    if rows.sum() != r["size"]:
                        t.mismatched += 1
                        continue
                    if r["ci_low"] is None or r["ci_high"] is None:
                        continue
                    true_error = truth[error][rows].mean()
                    t.offered += 1
                    if r["ci_low"] <= true_error <= r["ci_high"]:
                        t.covered += 1
                    else:
                        t.missed.add(seed)
    return positive


def print_searches(tallies: dict[tuple, Tally], seeds: int, rate: float, positive: list[int], permutations: int,
                   seconds: float) -> None:
    print(f"\nSEARCHES. null: discover() on {seeds} coin-flip runs (base rate {rate:.3f}; holdout rows predicted "
          f"positive: {sum(positive)} in all runs together), min_support {sliceline.DEFAULT_MIN_SUPPORT}, "
          f"confirm=True (search on a random half, figures from the other), {permutations} permutations; each "
          f"share with a Wilson 95% interval, '!' where its low end is above 5% ({seconds:.0f} s)")
    head = ("error", "alpha", "k", "found a slice", "search half p<.05 (old)", "search half q<.05",
            "confirmed", "permutation p<=.05", "rows shown: median (min)", "coverage of shown CIs")
    rows = [head]
    for (error, alpha, k), t in tallies.items():
        cover = "-"
        if t.offered:
            cover = f"{t.covered}/{t.offered} {t.covered / t.offered:.2f}"
            cover += f"{'!' if t.covered / t.offered < GOAL_COVERAGE else ''} (misses in {len(t.missed)} seeds)"
        if t.shown > t.offered:
            cover += f" ({t.shown - t.offered} without CI)"
        if t.mismatched:
            cover += f" ({t.mismatched} size mismatches)"
        sizes = f"{np.median(t.sizes):.0f} ({min(t.sizes)})" if t.sizes else "-"
        rows.append((error, f"{alpha:g}", str(k), share(t.found, t.searches, goal=False),
                     share(t.search_p, t.searches), share(t.search_q, t.searches), share(t.confirmed, t.searches),
                     share(t.permutation, t.searches), sizes, cover))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print("goal: <= 5% for 'confirmed' and 'permutation' (the search half's p is the optimistic old figure); "
          f"coverage >= {GOAL_COVERAGE}. The permutation p is one test per search (the top score does not "
          "depend on k); a search that finds nothing has none and does not flag.")


# ----------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="the sections to run (default: all)")
    parser.add_argument("--seeds", type=int, default=20, help="coin-flip runs for the breakdowns")
    parser.add_argument("--min-size", type=int, nargs="+", default=[1, 20], help="breakdowns' min slice sizes")
    parser.add_argument("--search-seeds", type=int, default=4,
                        help="coin-flip runs for the searches (the first of the breakdowns' runs)")
    parser.add_argument("--permutations", type=int, default=19,
                        help="shuffles behind each search's permutation p; with 19, p <= 0.05 exactly when "
                             "no shuffle reaches the real top score, an exact 5%% test")
    parser.add_argument("--reps", type=int, default=4000, help="simulated draws per coverage cell")
    parser.add_argument("--calibration-seeds", type=int, default=400,
                        help="simulated breakdowns for the ECE's false alarms (a quarter as many per coverage "
                             "and power cell)")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = max(args.seeds if "breakdowns" in args.section else 0,
               args.search_seeds if "searches" in args.section else 0)
    counts: dict[tuple[str, int], list[int]] = {}
    tallies: dict[tuple, Tally] = {}
    positive: list[int] = []
    spent = {"breakdowns": 0.0, "searches": 0.0, "training": 0.0}
    rate = float("nan")
    clock = time.perf_counter()
    for seed, run, rate in coin_flip_runs(runs):
        spent["training"] += time.perf_counter() - clock
        if "breakdowns" in args.section and seed < args.seeds:
            clock = time.perf_counter()
            count_breakdowns(run, counts, args.min_size)
            spent["breakdowns"] += time.perf_counter() - clock
        if "searches" in args.section and seed < args.search_seeds:
            clock = time.perf_counter()
            positive.append(count_searches(run, seed, rate, tallies, args.permutations))
            spent["searches"] += time.perf_counter() - clock
        clock = time.perf_counter()
    if counts:
        print_breakdowns(counts, args.seeds, rate, spent["breakdowns"])
    if tallies:
        print_searches(tallies, args.search_seeds, rate, positive, args.permutations, spent["searches"])
    if runs:
        print(f"\n(setting up the demo and training {runs} coin-flip runs: {spent['training']:.0f} s)")
    if "calibration" in args.section:
        calibration_section(args.calibration_seeds)
    if "coverage" in args.section:
        coverage_section(args.reps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {time.perf_counter() - started:.0f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
