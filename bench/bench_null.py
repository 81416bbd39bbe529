"""Slice breakdowns under the null: how often a breakdown flags a slice when no slice differs.

Per seed, the demo's target is replaced by coin flips at its base rate and LightGBM is trained on
that (time split, as in the tour), so the model learns nothing and no slice of the holdout truly
differs from the rest in any metric. For each metric it prints the share of breakdowns (seeds x
columns) flagging at least one slice (q < 0.05), with a Wilson 95% interval; the goal is the
nominal 5% or less.

    python bench/bench_null.py [--seeds 20] [--min-size 1 20]

A first part of issue 10's proof; the coverage of each interval method by simulation and the
searches (discover) under the null are still to come.
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
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis import slices
from workbench.data import demo
from workbench.model import train
from workbench.store.build import build
from workbench.store.datasets import load_version
from workbench.store.workspace import Workspace

COLUMNS = ("carrier", "origin", "dest", "hour", "month", "manufacturer", "temp", "humid", "seats", "plane_year")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--min-size", type=int, nargs="+", default=[1, 20])
    args = parser.parse_args()
    counts: dict[tuple[str, int], list[int]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        ws = Workspace.open(Path(root))
        demo.setup(ws)
        data = pl.read_parquet(load_version(ws, demo.DATASET).path)
        rate = float(data[demo.TARGET].mean())
        for seed in range(args.seeds):
            flips = pl.Series(demo.TARGET, np.random.default_rng(seed).random(data.height) < rate)
            data.with_columns(flips).write_parquet(Path(root) / "flips.parquet")
            build(ws, "coin", "SELECT * FROM flips")
            run = train.train(ws, train.TrainSpec("coin", demo.TARGET, split="time:time_hour", seed=seed))
            for metric in slices.SLICE_METRICS["binary"]:
                for min_size in args.min_size:
                    seen = counts.setdefault((metric, min_size), [0, 0])
                    for column in COLUMNS:
                        table = slices.breakdown(run, [column], metric=metric, bins=5, min_size=min_size)
                        seen[0] += int(table.slices["significant"].any())
                        seen[1] += 1
    print(f"null: {args.seeds} seeds x {len(COLUMNS)} columns, the demo's target replaced by coin flips at its "
          f"base rate {rate:.3f} and LightGBM trained on them; a breakdown 'flags' when any slice has q < 0.05 "
          f"({time.perf_counter() - started:.0f} s)")
    for (metric, min_size), (flagged, total) in counts.items():
        low, high = proportion_confint(flagged, total, method="wilson")
        print(f"{metric:<14} min size {min_size:>3}: {flagged:>3}/{total} breakdowns flag a slice = "
              f"{flagged / total:6.1%} (Wilson 95% [{low:.1%}, {high:.1%}]; goal <= 5%)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
