"""Foundation benchmark: build, train, slice and the demo, each beside its raw baseline.

    python bench/bench_foundation.py [--rows 1000000]

Every step runs in a fresh subprocess, so its peak resident memory is its own. Prints
seconds, ratios against the raw engine or peer code measured in the same run, and peak RSS.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from steps import run_step, sub  # noqa: E402  (the bench folder is the script's own)

QUERY = "SELECT *, x0 * x1 AS x0x1, upper(c0) AS c0u FROM source WHERE x3 > -2.5"




def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# ---- steps, each run in its own process -------------------------------------------------

def step_data(root: str, rows: int) -> dict:
    from workbench.data import synthetic
    path = Path(root) / "source.parquet"
    t = time.perf_counter()
    synthetic.write(path, rows, numeric=14, text=4, task="binary", seed=0)
    return {"seconds": time.perf_counter() - t, "file_mb": path.stat().st_size / 2**20}


def step_build(root: str) -> dict:
    from workbench.store import build
    from workbench import Workspace
    ws = Workspace.open(root)
    t = time.perf_counter()
    v = build.build(ws, f"bench_{time.time_ns()}", QUERY)
    return {"seconds": time.perf_counter() - t, "rows": v.rows}


def step_build_raw(root: str, keep_order: str) -> dict:
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET preserve_insertion_order = {keep_order}")
    src = Path(root) / "source.parquet"
    out = Path(root) / f"raw_{time.time_ns()}.parquet"
    t = time.perf_counter()
    con.execute(f"CREATE VIEW source AS SELECT * FROM read_parquet('{src}')")
    con.execute(f"COPY ({QUERY}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    seconds = time.perf_counter() - t
    out.unlink()
    return {"seconds": seconds}


def step_pandas_size(root: str) -> dict:
    import pandas as pd
    df = pd.read_parquet(Path(root) / "source.parquet")
    return {"pandas_mb": df.memory_usage(deep=True).sum() / 2**20}


def _training_inputs(root: str):
    import polars as pl
    import pyarrow.parquet as pq
    from workbench.model import features, train
    from workbench.model.splits import make_split
    table = pq.read_table(Path(root) / "source.parquet")
    frame = pl.from_arrow(table)
    spec = train.TrainSpec("bench", "y", seed=0)
    y = frame["y"].cast(pl.Int64).to_numpy()
    split = make_split(frame, spec.split, y, "binary", seed=spec.seed)
    cols = [c for c in frame.columns if c not in ("y", "ts")]
    enc = features.fit_encoding(frame[split.train], cols)
    X = features.matrix(frame, enc)
    return table, spec, X, y, split, enc


def step_train(root: str, which: str) -> dict:
    import lightgbm as lgb
    from workbench.model import features, train
    table, spec, X, y, split, enc = _training_inputs(root)
    params = {**train.DEFAULT_PARAMS, "seed": spec.seed, "objective": "binary"}
    cat_idx = list(range(len(enc.numeric), len(enc.names)))

    def ours():
        return train._lightgbm("binary", 2, X, y, split, enc, spec, lambda f, m: None)

    def raw():
        ds = lgb.Dataset(X[split.train], y[split.train], feature_name=features.model_names(enc.names),
                         categorical_feature=cat_idx)
        valid = lgb.Dataset(X[split.valid], y[split.valid], reference=ds)
        return lgb.train(params, ds, num_boost_round=train.NUM_BOOST_ROUND, valid_sets=[valid],
                         callbacks=[lgb.early_stopping(train.EARLY_STOPPING, verbose=False)])

    if which == "fit":  # the whole of train.fit: split, encode, 3 models, metrics, predictions
        t = time.perf_counter()
        fitted = train.fit(table, spec)
        return {"seconds": time.perf_counter() - t, "timings": fitted.timings}
    fn = ours if which == "ours" else raw
    booster = fn()  # warm-up, and the tree count for the record
    return {"seconds": best(fn, 2), "trees": booster.current_iteration()}


def step_run(root: str) -> dict:
    """Train through the workspace to get a run with a 200k-row holdout."""
    from workbench.store import build
    from workbench.model import train
    from workbench import Workspace
    ws = Workspace.open(root)
    build.build(ws, "full", "SELECT * FROM source")
    t = time.perf_counter()
    run = train.train(ws, train.TrainSpec("full", "y", split="time:ts"))
    return {"seconds": time.perf_counter() - t, "run_id": run.run_id, "n_holdout": run.record.split.n_holdout}


def step_slices(root: str, run_id: str, which: str, metric: str) -> dict:
    from workbench.store import runs
    from workbench.analysis import slices
    from workbench import Workspace
    run = runs.load_run(Workspace.open(root), run_id)
    by = ["c0", "x0"]
    if which == "ours":
        table = slices.breakdown(run, by, metric=metric, bins=5)
        return {"seconds": best(lambda: slices.breakdown(run, by, metric=metric, bins=5), 5),
                "slices": table.slices.height}
    import numpy as np
    import pandas as pd
    from sklearn import metrics as skm

    def pandas_way():
        df = pd.read_parquet(run.predictions, columns=by + ["_label", "_score", "_correct"])
        df["x0_bin"] = pd.qcut(df["x0"], 5, duplicates="drop").astype(str)
        y = df["_label"].astype(int)
        out = []
        for key, g in df.groupby(["c0", "x0_bin"], dropna=False, observed=True):
            yy = y.loc[g.index]
            if metric == "roc_auc":
                value = skm.roc_auc_score(yy, g["_score"]) if 0 < yy.sum() < len(yy) else np.nan
            else:
                value = 1 - skm.accuracy_score(yy, g["_score"] >= 0.5)
            out.append((key, len(g), value))
        return out

    n = len(pandas_way())
    return {"seconds": best(pandas_way, 3), "slices": n}


def step_profile(root: str, which: str) -> dict:
    """A column profile of the source table: the workbench's, DuckDB's SUMMARIZE, or pandas'."""
    if which == "ours":
        from workbench.data import profile
        from workbench import Workspace
        ws = Workspace.open(root)
        return {"seconds": best(lambda: profile.profile(ws, "source"), 3)}
    path = str(Path(root) / "source.parquet")
    if which == "summarize":
        import duckdb
        con = duckdb.connect()
        return {"seconds": best(lambda: con.execute(f"SUMMARIZE SELECT * FROM read_parquet('{path}')").fetchall(), 3)}
    import pandas as pd

    def pandas_way():
        df = pd.read_parquet(path)
        return df.describe(include="all"), df.nunique(), {c: df[c].value_counts(dropna=False).head(5) for c in df}
    return {"seconds": best(pandas_way, 3)}


def step_demo(root: str) -> dict:
    from workbench.data import demo
    from workbench.analysis import diagnostics
    from workbench.model import train
    from workbench import Workspace
    ws = Workspace.open(root)
    demo.setup(ws)
    t = time.perf_counter()
    run = train.train(ws, train.TrainSpec(demo.DATASET, demo.TARGET, split="time:time_hour"))
    diagnostics.diagnostics(run)
    return {"seconds": time.perf_counter() - t, "rows": run.record.dataset.rows,
            "roc_auc": run.metrics["lightgbm"]["roc_auc"]}


# ---- orchestration ----------------------------------------------------------------------



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--step", nargs="+")
    args = parser.parse_args()
    if args.step:
        run_step(args.step, globals())
        return

    with tempfile.TemporaryDirectory() as root:
        d = sub(__file__, "data", root, args.rows)
        size = sub(__file__, "pandas_size", root)
        print(f"data: {args.rows:,} rows x 20 columns, {d['file_mb']:.0f} MB parquet, "
              f"{size['pandas_mb']:.0f} MB as a pandas frame")
        builds = [sub(__file__, "build", root) for _ in range(3)]
        b = min(x["seconds"] for x in builds)
        for keep in ("true", "false"):
            raws = [sub(__file__, "build_raw", root, keep) for _ in range(3)]
            r = min(x["seconds"] for x in raws)
            print(f"build by SQL:  workbench {b:.2f} s (COPY + content hash + metadata) vs raw DuckDB COPY "
                  f"with preserve_insertion_order={keep} {r:.2f} s -> ratio {b / r:.2f} (goal <= 1.2); "
                  f"peak RSS {max(x['peak_mb'] for x in builds):.0f} MB vs raw {max(x['peak_mb'] for x in raws):.0f} MB")
        print(f"               data as a pandas frame: {size['pandas_mb']:.0f} MB (peak RSS of reading it: "
              f"{size['peak_mb']:.0f} MB)")
        prof = {w: sub(__file__, "profile", root, w) for w in ("ours", "summarize", "pandas")}
        print(f"profile:       workbench {prof['ours']['seconds']:.2f} s (exact distinct up to 100k values, exact "
              f"top 5) vs DuckDB SUMMARIZE {prof['summarize']['seconds']:.2f} s (approximate distinct, no top values) "
              f"-> ratio {prof['ours']['seconds'] / prof['summarize']['seconds']:.2f}; pandas describe + nunique + "
              f"value_counts {prof['pandas']['seconds']:.2f} s; peak RSS "
              + " / ".join(f"{prof[w]['peak_mb']:.0f}" for w in prof) + " MB")
        ours, raw = sub(__file__, "train", root, "ours"), sub(__file__, "train", root, "raw")
        print(f"LightGBM:      workbench {ours['seconds']:.2f} s vs lightgbm.train {raw['seconds']:.2f} s "
              f"-> ratio {ours['seconds'] / raw['seconds']:.2f} (goal <= 1.15); {ours['trees']} trees both "
              f"({raw['trees']}); peak RSS {ours['peak_mb']:.0f} / {raw['peak_mb']:.0f} MB")
        fit = sub(__file__, "train", root, "fit")
        print(f"whole fit:     {fit['seconds']:.2f} s (split+encode, LightGBM, linear, metrics): {fit['timings']}; "
              f"peak RSS {fit['peak_mb']:.0f} MB")
        run = sub(__file__, "run", root)
        for metric in ("error_rate", "roc_auc"):
            o, p = sub(__file__, "slices", root, run["run_id"], "ours", metric), sub(__file__, "slices", root, run["run_id"], "pandas", metric)
            print(f"slices {metric:<10} over {run['n_holdout']:,} holdout rows by c0 x x0 ({o['slices']} slices): "
                  f"workbench {o['seconds'] * 1000:.0f} ms vs pandas groupby + scikit-learn "
                  f"{p['seconds'] * 1000:.0f} ms ({p['slices']} slices) -> {p['seconds'] / o['seconds']:.1f}x faster "
                  f"(goal < 300 ms, >= 5x); peak RSS {o['peak_mb']:.0f} / {p['peak_mb']:.0f} MB")
    with tempfile.TemporaryDirectory() as root:
        dm = sub(__file__, "demo", root)
        print(f"demo train:    {dm['rows']:,} flights, time split: {dm['seconds']:.1f} s from Train to charts' data "
              f"(core only; the browser figure is in bench_browser.py), ROC AUC {dm['roc_auc']:.3f}, "
              f"peak RSS {dm['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
