"""A/A comparisons under the null: ``compare`` must flag regressions at no more than the nominal rate.

In a temporary workspace, a synthetic binary dataset (``workbench.data.synthetic``, with an ``id``
column built by SQL, as ``tests/test_compare.py`` builds it). Two setups, each printing the slices
tested (p-value not null), the slices flagged as regressions (q < 0.05 and the candidate worse)
with a Wilson 95% interval, the same per ``--by`` column, the share of comparisons with any
regression, the slices' raw p < 0.05 rate, each overall metric's p < 0.05 rate, and seconds per
comparison. Goal: at most 5% of slices flagged. With ``--find`` (the default; ``--no-find`` to
skip), every comparison also searches for slices where the candidate is worse (SliceLine on one
seeded half, tested on the other) and the found slices' own flagged rate is printed beside the
column slices', with its Wilson interval: the search must not turn a null into regressions.

seeds
    LightGBM trained once per seed on the same ``time:ts`` split (so every run holds out the same
    rows), and each seed compared with the next (A/A: the same data, another seed). The models do
    differ (feature_fraction and bagging follow the seed), so this is close to, not exactly, a
    null: a slice where one seed's model really is worse is a true difference, however small.
    Consecutive comparisons share a run, so they are not independent.
noise
    The exact null: the seed-0 model's holdout scores, imported twice with independent noise on
    the logit (N(0, ``--noise``)); the two imports are exchangeable on every row, so no slice and
    no overall metric truly differs. Each pair uses fresh noise.

    python bench/bench_compare.py [--seeds 20] [--rows 20000] [--pairs N] [--noise 1.0]
                                  [--by c0 c1 c2 x0 x1 x3] [--section seeds noise] [--no-find]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import special

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.compare import FDR, compare  # noqa: E402
from workbench.data import synthetic  # noqa: E402
from workbench.model import train  # noqa: E402
from workbench.model.imported import import_predictions  # noqa: E402
from workbench.store.build import build  # noqa: E402
from workbench.store.workspace import Workspace  # noqa: E402
from bench_null import share as null_share  # noqa: E402 (bench/ is the script's own folder)

SECTIONS = ("seeds", "noise")
BY = ("c0", "c1", "c2", "x0", "x1", "x3")  # as tests/test_compare.py's A/A tests
SPLIT = "time:ts"


def share(k: int, n: int, *, goal: bool = True) -> str:
    """'k/n x.x% [low-high%]' with a Wilson 95% interval (bench_null's, to a tenth of a percent)."""
    return null_share(k, n, goal=goal, decimals=1)


class Tally:
    """Counts over the comparisons of one setup."""

    def __init__(self, by: tuple[str, ...], find: bool = True):
        self.by = by
        self.find = find
        self.found_tested = self.found_flagged = self.found_raw = 0
        self.comparisons = 0
        self.with_regression = 0
        self.tested = {c: 0 for c in by}
        self.flagged = {c: 0 for c in by}
        self.raw = {c: 0 for c in by}
        self.overall: dict[str, list[float]] = {}
        self.seconds = 0.0
        self.discordant: list[float] = []  # share of holdout rows where the two predicted classes differ
        self.score_gap: list[float] = []   # mean |score difference| over the holdout rows

    def add(self, baseline, candidate) -> None:
        clock = time.perf_counter()
        c = compare(baseline, candidate, by=list(self.by), find=self.find, seed=self.comparisons)
        self.seconds += time.perf_counter() - clock
        self.comparisons += 1
        s = c.slices.filter(pl.col("p_value").is_not_null())
        found = s.filter(pl.col("source") == "found")
        self.found_tested += found.height
        self.found_flagged += int(found["regression"].sum())
        self.found_raw += int((found["p_value"] < 0.05).sum())
        s = s.filter(pl.col("source") == "column")
        self.with_regression += bool(s["regression"].any())
        for column in self.by:
            part = s.filter(pl.col("column") == column)
            self.tested[column] += part.height
            self.flagged[column] += int(part["regression"].sum())
            self.raw[column] += int((part["p_value"] < 0.05).sum())
        for metric, entry in c.overall.items():
            self.overall.setdefault(metric, []).append(entry["p_value"])
        cols = ["_row", "_pred", "_score"]
        j = pl.read_parquet(baseline.predictions, columns=cols).join(
            pl.read_parquet(candidate.predictions, columns=cols), on="_row", suffix="_b")
        self.discordant.append(float((j["_pred"] != j["_pred_b"]).mean()))
        self.score_gap.append(float((j["_score"] - j["_score_b"]).abs().mean()))

    def print(self, title: str) -> None:
        tested, flagged, raw = (sum(d.values()) for d in (self.tested, self.flagged, self.raw))
        print(f"\n{title}")
        print(f"comparisons: {self.comparisons}, by {', '.join(self.by)}; slices tested (p not null): {tested}")
        print(f"slices flagged as regressions (q < {FDR:g}, candidate worse): {share(flagged, tested)}  (goal <= 5%)")
        print(f"slices with raw p < 0.05 (either direction): {share(raw, tested, goal=False)}")
        if self.find:
            print(f"found slices (SliceLine on one half, tested on the other), flagged: "
                  f"{share(self.found_flagged, self.found_tested)}; raw p < 0.05: "
                  f"{share(self.found_raw, self.found_tested, goal=False)}")
            print(f"all slices together, flagged: {share(flagged + self.found_flagged, tested + self.found_tested)}")
        print("per column (flagged; raw p < 0.05):")
        for column in self.by:
            print(f"  {column:<4} {share(self.flagged[column], self.tested[column]):<32} "
                  f"{share(self.raw[column], self.tested[column], goal=False)}")
        print(f"how far apart the two sides are: predicted class differs on {np.mean(self.discordant):.2%} of "
              f"holdout rows, mean |score difference| {np.mean(self.score_gap):.4f} (means over comparisons)")
        print(f"comparisons with any regression: {share(self.with_regression, self.comparisons, goal=False)}")
        for metric, ps in self.overall.items():
            p = np.asarray(ps, float)
            print(f"overall {metric:<10} p < 0.05: {share(int((p < 0.05).sum()), len(p))}")
        per = self.seconds / self.comparisons if self.comparisons else float("nan")
        print(f"{per:.3f} s per comparison ({self.seconds:.1f} s comparing)")


def noisy(preds: pl.DataFrame, seed: int, scale: float) -> pl.DataFrame:
    """The model's scores with independent noise on the logit (as tests/test_compare.py's _noisy)."""
    rng = np.random.default_rng(seed)
    logit = special.logit(np.clip(preds["_score"].to_numpy(), 1e-6, 1 - 1e-6))
    return preds.select("id").with_columns(p=pl.Series(special.expit(logit + rng.normal(0, scale, preds.height))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="trained runs (seeds 0..N-1); N-1 consecutive pairs")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the synthetic dataset (20%% held out)")
    parser.add_argument("--pairs", type=int, default=None, help="noise pairs (default: as many as --seeds)")
    parser.add_argument("--noise", type=float, default=1.0, help="sd of the noise added to the logit")
    parser.add_argument("--by", nargs="+", default=list(BY), help="the columns sliced")
    parser.add_argument("--section", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--find", action=argparse.BooleanOptionalAction, default=True,
                        help="also search for slices where the candidate is worse")
    args = parser.parse_args()
    pairs = args.seeds if args.pairs is None else args.pairs
    by = tuple(args.by)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = Workspace.open(root)
        synthetic.write(root / "source.parquet", args.rows, numeric=4, text=3, task="binary", seed=0)
        build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source")
        training = 0.0
        runs = []
        n_runs = args.seeds if "seeds" in args.section else 1
        for seed in range(n_runs):
            clock = time.perf_counter()
            runs.append(train.train(ws, train.TrainSpec("synth", "y", task="binary", split=SPLIT, seed=seed,
                                                        drop=("id",))))
            training += time.perf_counter() - clock
        holdout = pl.read_parquet(runs[0].predictions).height
        print(f"synthetic binary dataset: {args.rows:,} rows, split {SPLIT}: {holdout:,} holdout rows; "
              f"training {n_runs} runs: {training:.1f} s")
        if "seeds" in args.section:
            t = Tally(by, args.find)
            for a, b in zip(runs, runs[1:]):
                t.add(a, b)
            t.print(f"SEEDS (A/A: the same data and split, another seed; seed i against seed i+1, "
                    f"{args.seeds} runs; consecutive comparisons share a run)")
        if "noise" in args.section:
            preds = pl.read_parquet(runs[0].predictions).sort("_row")
            t = Tally(by, args.find)
            importing = 0.0
            for i in range(pairs):
                clock = time.perf_counter()
                imported = []
                for side in (0, 1):
                    path = root / f"aa{i}{side}.parquet"
                    noisy(preds, 1000 + 2 * i + side, args.noise).write_parquet(path)
                    imported.append(import_predictions(ws, f"aa{i}_{side}", dataset="synth", file=path, key="id",
                                                       target="y", score="p"))
                importing += time.perf_counter() - clock
                t.add(*imported)
            t.print(f"NOISE (exact null: the seed-0 model's scores imported twice with independent N(0, "
                    f"{args.noise:g}) noise on the logit; {pairs} pairs; importing {importing:.1f} s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {time.perf_counter() - started:.0f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
