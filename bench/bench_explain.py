"""SHAP explanation benchmark: the first importance view, a slice's contrast, and TreeSHAP
throughput beside shap's TreeExplainer and raw LightGBM on the same model and rows.

    python bench/bench_explain.py [--holdout 1000000] [--train 200000] [--trees 300]
                                  [--sample 1000] [--throughput-rows 20000] [--repeat 3]

A synthetic table of ``train + holdout`` rows and 20 features (15 numeric, 5 text) is built by
SQL in a temporary workspace, with a ``part`` column that is 'test' on the holdout rows, and a
LightGBM run is trained on it with ``split="column:part"``. Every step then runs in a fresh
subprocess, so its peak resident memory is its own and each first call is a cold process:

- first view: ``importance(run, rows=SAMPLE)`` on an empty SHAP cache, with where its time goes
  (each internal call timed exclusive of the calls inside it);
- contrast: ``slice_contrast`` of a ~5% slice with the sample cached (first call explains the
  slice's rows; second call all cached), and ``importance`` again (cached);
- throughput: ``ensure`` on N uncached rows (the workbench's whole path: read, encode,
  TreeSHAP, write) against ``shap.TreeExplainer(booster).shap_values(X)`` (which hands a
  LightGBM booster to LightGBM's own ``pred_contrib``), shap's own C++ TreeSHAP (its
  ``internal`` tree walker, single-threaded), and raw ``booster.predict(X, pred_contrib=True)``,
  on the same encoded matrix;
- full cache: the cache as ``explain_all`` leaves it (every holdout row, compacted into one
  part; filled with stand-in values, which no step reads for meaning), and what the views cost then.

The full-holdout SHAP time is extrapolated from the throughput, not measured (``explain_all``
on a million rows takes tens of minutes). Timings are the median of ``--repeat`` cold
processes (best in brackets); the machine may be shared, so read ratios from one run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from steps import run_step, sub  # noqa: E402  (the bench folder is the script's own)

NUMERIC, TEXT = 15, 5
WHERE = "c0 = 'a' AND x0 > 0.6745"  # 20% x 25% = ~5% of the holdout (and holds the planted slice)
QUERY = ("SELECT * EXCLUDE (ts), 'train' AS part FROM train_rows "
         "UNION ALL SELECT * EXCLUDE (ts), 'test' AS part FROM holdout_rows")




class Probe:
    """Times calls of patched functions, each exclusive of the patched calls made inside it, so
    the parts add up to the outermost call."""

    def __init__(self) -> None:
        self.exclusive: dict[str, float] = defaultdict(float)
        self.calls: Counter = Counter()
        self._stack: list[float] = []
        self._patched: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        def timed(*args, **kwargs):
            self._stack.append(0.0)
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t
                inner = self._stack.pop()
                self.exclusive[label] += elapsed - inner
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        self._patched.append((owner, attr, fn))
        setattr(owner, attr, timed)

    def reset(self) -> None:
        self.exclusive.clear()
        self.calls.clear()

    def report(self) -> dict:
        return {k: {"seconds": round(v, 4), "calls": self.calls[k]}
                for k, v in sorted(self.exclusive.items(), key=lambda kv: -kv[1])}


def probe_explain() -> Probe:
    """Patch the internal calls of importance / slice_contrast / ensure for the breakdown."""
    from workbench.analysis import explain as ax
    from workbench.model import explain as mx
    from workbench.model import features
    p = Probe()
    p.wrap(ax, "importance", "importance: the rest (tables, sample frame, Python)")
    p.wrap(ax, "slice_contrast", "slice_contrast: the rest (masks, tables, Python)")
    p.wrap(ax, "slice_members", "slice members (DuckDB WHERE over the holdout)")
    p.wrap(ax, "mean_intervals", "bootstrap intervals (mean_intervals)")
    p.wrap(ax, "welch_difference", "Welch differences")
    p.wrap(ax, "_distribution", "value distributions (top features)")
    p.wrap(mx, "explain_order", "seeded order (read _row, permute)")
    p.wrap(mx, "shap_values", "shap_values: the rest (join to order, to numpy)")
    p.wrap(mx, "ensure", "ensure: the rest (setdiff, arrays)")
    p.wrap(mx, "explained_rows", "cache scan (explained_rows)")
    p.wrap(mx, "feature_rows", "read holdout rows (feature_rows)")
    p.wrap(mx, "contributions", "TreeSHAP (pred_contrib)")
    p.wrap(mx, "booster", "load model")
    p.wrap(features, "matrix", "encode (features.matrix)")
    p.wrap(mx, "_write_part", "write cache part")
    p.wrap(mx, "_compact", "compact cache")
    p.wrap(mx, "_read", "read cache (_read)")
    return p


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def timed_cpu(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of all the process's threads, result): on a shared machine the
    CPU time moves less than the wall time."""
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def load(root: str, run_id: str):
    from workbench import Workspace
    from workbench.store import runs
    return runs.load_run(Workspace.open(root), run_id)


def shap_dir(root: str, run_id: str) -> Path:
    return Path(root) / ".workbench" / "runs" / run_id / "shap"


def set_aside(root: str, run_id: str, name: str) -> None:
    """Keep the SHAP cache as it is under ``name``, and start the step with none."""
    d = shap_dir(root, run_id)
    keep = d.with_name(name)
    shutil.rmtree(keep, ignore_errors=True)
    if d.exists():
        d.rename(keep)


def restore(root: str, run_id: str, name: str) -> None:
    d = shap_dir(root, run_id)
    shutil.rmtree(d, ignore_errors=True)
    keep = d.with_name(name)
    if keep.exists():
        keep.rename(d)


# ---- setup steps -------------------------------------------------------------------------

def step_data(root: str, train: int, holdout: int) -> dict:
    from workbench.data import synthetic
    t = time.perf_counter()
    synthetic.write(Path(root) / "train_rows.parquet", train, numeric=NUMERIC, text=TEXT, task="binary", seed=0)
    synthetic.write(Path(root) / "holdout_rows.parquet", holdout, numeric=NUMERIC, text=TEXT, task="binary",
                    seed=10_000)
    return {"seconds": time.perf_counter() - t}


def step_build(root: str) -> dict:
    from workbench import Workspace
    from workbench.store import build
    t = time.perf_counter()
    v = build.build(Workspace.open(root), "explain_bench", QUERY)
    return {"seconds": time.perf_counter() - t, "rows": v.rows}


def step_train(root: str, trees: int) -> dict:
    from workbench import Workspace
    from workbench.model import train
    from workbench.model import explain as mx
    spec = train.TrainSpec("explain_bench", "y", split="column:part", seed=0,
                           params={"num_boost_round": trees, "early_stopping_rounds": 10 * trees,
                                   "learning_rate": 0.03})
    t = time.perf_counter()
    run = train.train(Workspace.open(root), spec)
    seconds = time.perf_counter() - t
    b = mx.booster(run)
    return {"seconds": seconds, "run_id": run.run_id, "trees": b.num_trees(), "features": len(run.record.features),
            "n_train": run.record.split.n_train, "n_holdout": run.record.split.n_holdout,
            "roc_auc": run.metrics["lightgbm"].get("roc_auc"), "timings": run.record.timings,
            "predictions_mb": run.predictions.stat().st_size / 2**20}


# ---- the views ---------------------------------------------------------------------------

def step_first(root: str, run_id: str, sample: int) -> dict:
    """The first importance view: a cold process, an empty cache."""
    shutil.rmtree(shap_dir(root, run_id), ignore_errors=True)
    t = time.perf_counter()
    from workbench.analysis import explain as ax
    import pyarrow.parquet as pq
    imports = time.perf_counter() - t
    t = time.perf_counter()
    run = load(root, run_id)
    load_s = time.perf_counter() - t
    probe = probe_explain()
    seconds, imp = timed(lambda: ax.importance(run, rows=sample))
    # the read feature_rows makes, alone, for the record (OS cache warm by now)
    read_s, table = timed(lambda: pq.read_table(run.predictions, columns=["_row", *run.record.features]))
    return {"seconds": seconds, "imports": imports, "load_run": load_s, "rows_explained": imp.rows_explained,
            "breakdown": probe.report(), "read_holdout_table": read_s,
            "holdout_table_mb": table.nbytes / 2**20}


def step_slice(root: str, run_id: str, sample: int, where: str) -> dict:
    """A slice's contrast with the sample cached: first call (explains the slice's rows), then
    cached; and importance again. The cache is put back as it was, so repeats match."""
    d = shap_dir(root, run_id)
    keep = d.with_name("shap.slice-keep")
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(d, keep)
    try:
        from workbench.analysis import explain as ax
        run = load(root, run_id)
        probe = probe_explain()
        first, c = timed(lambda: ax.slice_contrast(run, where, rows=sample))
        first_breakdown = probe.report()
        probe.reset()
        cached, _ = timed(lambda: ax.slice_contrast(run, where, rows=sample))
        cached_breakdown = probe.report()
        probe.reset()
        imp_cached, _ = timed(lambda: ax.importance(run, rows=sample))
        imp_breakdown = probe.report()
        imp_again = min(timed(lambda: ax.importance(run, rows=sample))[0] for _ in range(3))
        return {"first": first, "cached": cached, "importance_cached": imp_cached, "importance_again": imp_again,
                "slice_rows": c.slice_rows, "inside_explained": c.inside_explained,
                "outside_explained": c.outside_explained, "first_breakdown": first_breakdown,
                "cached_breakdown": cached_breakdown, "importance_breakdown": imp_breakdown}
    finally:
        shutil.rmtree(d, ignore_errors=True)
        keep.rename(d)


# ---- throughput --------------------------------------------------------------------------

def _throughput_rows(run, n: int):
    from workbench.model import explain as mx
    return mx.explain_order(run)[-n:]  # the end of the order: never in a sample the views explain


def step_prepare(root: str, run_id: str, n: int) -> dict:
    """The encoded matrix of the throughput rows, saved for the peers' steps."""
    import numpy as np
    from workbench.model import explain as mx
    from workbench.model import features
    run = load(root, run_id)
    rows = _throughput_rows(run, n)
    frame = mx.feature_rows(run, rows)
    X = features.matrix(frame, mx.encoding(run))
    np.save(Path(root) / "X.npy", X)
    np.save(Path(root) / "X_rows.npy", frame["_row"].to_numpy())
    return {"rows": len(X), "features": X.shape[1]}


def step_ours(root: str, run_id: str, n: int) -> dict:
    """The workbench's path on N uncached rows: ensure (read, encode, TreeSHAP, write parts)."""
    import numpy as np
    from workbench.model import explain as mx
    set_aside(root, run_id, "shap.tp-keep")
    try:
        run = load(root, run_id)
        rows = _throughput_rows(run, n)
        mx.explain_order(run)  # as explain_all would have it
        probe = probe_explain()
        seconds, cpu, done = timed_cpu(lambda: mx.ensure(run, rows))
        breakdown = probe.report()
        # agreement with raw pred_contrib on the first rows (float32 in the cache)
        sv = mx.shap_values(run, rows[:200])
        X = np.load(Path(root) / "X.npy")[:200]
        raw = mx.booster(run).predict(X, pred_contrib=True)[:, :-1]
        return {"seconds": seconds, "cpu": cpu, "rows": int(done), "breakdown": breakdown,
                "max_abs_diff_vs_raw": float(np.abs(sv.values[:, 0, :] - raw).max())}
    finally:
        restore(root, run_id, "shap.tp-keep")


def step_peer(root: str, run_id: str, which: str) -> dict:
    import numpy as np
    from workbench.model import explain as mx
    run = load(root, run_id)
    X = np.load(Path(root) / "X.npy")
    booster = mx.booster(run)
    out: dict = {"rows": len(X)}
    if which == "raw":
        out["seconds"], out["cpu"], phi = timed_cpu(lambda: booster.predict(X, pred_contrib=True))
        return out
    import shap
    import warnings
    warnings.filterwarnings("ignore")
    out["setup"], explainer = timed(lambda: shap.TreeExplainer(booster))
    if which == "shap_internal":  # shap's own C++ TreeSHAP instead of handing over to LightGBM
        explainer.model.model_type = "internal"
    out["seconds"], out["cpu"], phi = timed_cpu(lambda: explainer.shap_values(X, check_additivity=False))
    phi = phi[1] if isinstance(phi, list) else phi
    raw = booster.predict(X[:200], pred_contrib=True)[:, :-1]
    out["max_abs_diff_vs_raw"] = float(np.abs(np.asarray(phi)[:200] - raw).max())
    out["shap_version"] = shap.__version__
    return out


# ---- the cache as explain_all leaves it ---------------------------------------------------

def step_fullcache_make(root: str, run_id: str) -> dict:
    """Stand-in SHAP values for every holdout row, written as explain_all writes them (parts of
    CHUNK rows, then compacted into one); times the compaction explain_all ends with."""
    import numpy as np
    import pyarrow as pa
    from workbench.model import explain as mx
    set_aside(root, run_id, "shap.full-keep")
    run = load(root, run_id)
    order = mx.explain_order(run)
    names = mx._names(run)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for start in range(0, len(order), mx.CHUNK):
        chunk = order[start:start + mx.CHUNK]
        flat = rng.normal(size=(len(chunk), len(names))).astype(np.float32)
        cols = {"_row": pa.array(chunk)}
        cols.update({n: pa.array(flat[:, j]) for j, n in enumerate(names)})
        cols["b0"] = pa.array(np.full(len(chunk), -0.1))
        mx._write_part(run, pa.table(cols))
    write_s = time.perf_counter() - t
    parts = len(mx._parts(run))
    compact_s, _ = timed(lambda: mx._compact(run))
    size = sum(p.stat().st_size for p in mx._parts(run)) / 2**20
    return {"write_parts": write_s, "parts": parts, "compact": compact_s, "cache_mb": size}


def step_fullcache_use(root: str, run_id: str, sample: int, where: str) -> dict:
    try:
        from workbench.analysis import explain as ax
        from workbench.model import explain as mx
        run = load(root, run_id)
        probe = probe_explain()
        imp, _ = timed(lambda: ax.importance(run, rows=sample))
        imp_breakdown = probe.report()
        probe.reset()
        con, _ = timed(lambda: ax.slice_contrast(run, where, rows=sample))
        con_breakdown = probe.report()
        con_again = min(timed(lambda: ax.slice_contrast(run, where, rows=sample))[0] for _ in range(2))
        scan, _ = timed(lambda: mx.explained_rows(run))
        return {"importance": imp, "contrast": con, "contrast_again": con_again, "explained_rows_scan": scan,
                "importance_breakdown": imp_breakdown, "contrast_breakdown": con_breakdown}
    finally:
        restore(root, run_id, "shap.full-keep")


# ---- orchestration ----------------------------------------------------------------------



def med(values) -> float:
    return statistics.median(values)


def show_breakdown(title: str, breakdown: dict, total: float) -> None:
    print(f"  {title} ({total:.3f} s):")
    for label, v in breakdown.items():
        if v["seconds"] >= 0.0005:
            print(f"    {v['seconds']:8.3f} s {100 * v['seconds'] / total:5.1f}%  {label}  x{v['calls']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--holdout", type=int, default=1_000_000)
    parser.add_argument("--train", type=int, default=200_000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--throughput-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--step", nargs="+")
    args = parser.parse_args()
    if args.step:
        run_step(args.step, globals())
        return

    R = args.repeat
    res: dict = {"holdout": args.holdout, "train": args.train, "sample": args.sample,
                 "throughput_rows": args.throughput_rows, "repeat": R, "where": WHERE}
    with tempfile.TemporaryDirectory() as root:
        res["data"] = sub(__file__, "data", root, args.train, args.holdout)
        res["build"] = sub(__file__, "build", root)
        tr = res["train"] = sub(__file__, "train", root, args.trees)
        run_id = tr["run_id"]
        print(f"setup: {args.train:,} train + {args.holdout:,} holdout rows x {tr['features']} features "
              f"(data {res['data']['seconds']:.1f} s, build {res['build']['seconds']:.1f} s, train "
              f"{tr['seconds']:.1f} s, peak RSS {tr['peak_mb']:.0f} MB); {tr['trees']} trees, ROC AUC "
              f"{tr['roc_auc']:.3f}; predictions.parquet {tr['predictions_mb']:.0f} MB; holdout {tr['n_holdout']:,}",
              flush=True)

        firsts = [sub(__file__, "first", root, run_id, args.sample) for _ in range(R)]  # each on an empty cache
        slices = [sub(__file__, "slice", root, run_id, args.sample, WHERE) for _ in range(R)]  # sample cached
        sub(__file__, "prepare", root, run_id, args.throughput_rows)
        tp = {"ours": [], "raw": [], "shap": [], "shap_internal": []}
        for i in range(max(R, 2)):  # interleaved, so drift hits all alike
            tp["ours"].append(sub(__file__, "ours", root, run_id, args.throughput_rows))
            tp["raw"].append(sub(__file__, "peer", root, run_id, "raw"))
            tp["shap"].append(sub(__file__, "peer", root, run_id, "shap"))
            if i == 0:
                tp["shap_internal"].append(sub(__file__, "peer", root, run_id, "shap_internal"))
        full_make = sub(__file__, "fullcache_make", root, run_id)
        full_use = sub(__file__, "fullcache_use", root, run_id, args.sample, WHERE)

    res["first"] = firsts
    res["slice"] = slices
    res["throughput"] = tp
    res["fullcache"] = {"make": full_make, "use": full_use}

    f = [x["seconds"] for x in firsts]
    f_med = firsts[sorted(range(R), key=lambda i: f[i])[R // 2]]
    c1, c2 = [x["first"] for x in slices], [x["cached"] for x in slices]
    ic, ia = [x["importance_cached"] for x in slices], [x["importance_again"] for x in slices]
    s_med = slices[sorted(range(R), key=lambda i: c1[i])[R // 2]]
    n = args.throughput_rows
    rate = {k: [n / x["seconds"] for x in v] for k, v in tp.items() if v}
    best_rate = {k: max(v) for k, v in rate.items()}
    cpu_rate = {k: max(n / x["cpu"] for x in v) for k, v in tp.items() if v}
    ours_rate = best_rate["ours"]
    res["summary"] = {
        "first_view_s": med(f), "first_view_best_s": min(f), "first_view_peak_mb": max(x["peak_mb"] for x in firsts),
        "contrast_first_s": med(c1), "contrast_cached_s": med(c2), "importance_cached_s": med(ic),
        "importance_again_s": med(ia), "slice_peak_mb": max(x["peak_mb"] for x in slices),
        "rows_per_s": best_rate, "ratio_ours_vs": {k: ours_rate / v for k, v in best_rate.items()},
        "peak_mb": {k: max(x["peak_mb"] for x in v) for k, v in tp.items() if v},
        "full_holdout_extrapolated_s": tr["n_holdout"] / ours_rate + full_make["compact"],
        "full_holdout_raw_extrapolated_s": tr["n_holdout"] / best_rate["raw"],
    }
    S = res["summary"]

    print(f"\nfirst importance view ({args.sample:,} rows, cold process, empty cache): median {med(f):.2f} s "
          f"[best {min(f):.2f}] (goal < 2 s); + imports {f_med['imports']:.2f} s, load_run {f_med['load_run']:.3f} s; "
          f"peak RSS {S['first_view_peak_mb']:.0f} MB")
    show_breakdown("where the median first view's time goes", f_med["breakdown"], f_med["seconds"])
    print(f"  (pq.read_table of _row + {tr['features']} features of the whole holdout alone: "
          f"{f_med['read_holdout_table']:.3f} s, {f_med['holdout_table_mb']:.0f} MB in Arrow)")
    print(f"\nslice contrast of `{WHERE}` ({s_med['slice_rows']:,} rows, "
          f"{100 * s_med['slice_rows'] / tr['n_holdout']:.1f}%; {s_med['inside_explained']} inside + "
          f"{s_med['outside_explained']} outside), sample cached, fresh process:")
    print(f"  first call {med(c1):.2f} s [best {min(c1):.2f}] (goal < 2 s); cached {med(c2):.2f} s "
          f"[best {min(c2):.2f}]; importance cached, first call in the process {med(ic):.2f} s, again "
          f"{med(ia):.3f} s; peak RSS {S['slice_peak_mb']:.0f} MB")
    show_breakdown("first contrast", s_med["first_breakdown"], s_med["first"])
    show_breakdown("cached contrast", s_med["cached_breakdown"], s_med["cached"])
    show_breakdown("importance, cached", s_med["importance_breakdown"], s_med["importance_cached"])

    print(f"\nthroughput on the same {n:,} holdout rows and {tr['trees']}-tree model (best of "
          f"{len(tp['ours'])}; rows/s, higher is better):")
    labels = {"ours": "workbench ensure (read+encode+TreeSHAP+write)",
              "shap": "shap.TreeExplainer(booster).shap_values(X)",
              "shap_internal": "shap's own C++ TreeSHAP (internal; 1 thread)",
              "raw": "booster.predict(X, pred_contrib=True)"}
    for k, lab in labels.items():
        if not tp[k]:
            continue
        x = min(tp[k], key=lambda r: r["seconds"])
        extra = f", max |diff| vs raw {x['max_abs_diff_vs_raw']:.1e}" if "max_abs_diff_vs_raw" in x else ""
        extra += f", TreeExplainer() {x['setup']:.2f} s" if "setup" in x else ""
        print(f"  {lab:<48} {best_rate[k]:6.0f} rows/s {x['seconds']:6.2f} s (CPU {x['cpu']:6.2f} s, "
              f"{cpu_rate[k]:4.0f} rows/CPU-s)  workbench/this {ours_rate / best_rate[k]:.2f} (by CPU "
              f"{cpu_rate['ours'] / cpu_rate[k]:.2f})  peak RSS {S['peak_mb'][k]:.0f} MB{extra}")
    print("  (LightGBM's pred_contrib runs on every core through OpenMP; shap's internal walker on one. "
          "shap.TreeExplainer hands a LightGBM booster to pred_contrib, so its values equal raw.)")
    best_ours = min(tp["ours"], key=lambda r: r["seconds"])
    show_breakdown("workbench ensure", best_ours["breakdown"], best_ours["seconds"])
    print(f"  full holdout ({tr['n_holdout']:,} rows) by explain_all, extrapolated (not run): "
          f"{S['full_holdout_extrapolated_s']:.0f} s = {S['full_holdout_extrapolated_s'] / 60:.1f} min "
          f"(raw pred_contrib alone: {S['full_holdout_raw_extrapolated_s'] / 60:.1f} min)")

    fm, fu = full_make, full_use
    print(f"\nwith every holdout row cached ({fm['parts']} parts compacted into one: compaction {fm['compact']:.2f} s, "
          f"{fm['cache_mb']:.0f} MB; stand-in values): importance {fu['importance']:.2f} s, contrast "
          f"{fu['contrast']:.2f} s (again {fu['contrast_again']:.2f} s), explained_rows scan "
          f"{fu['explained_rows_scan']:.3f} s; peak RSS {fm['peak_mb']:.0f} / {fu['peak_mb']:.0f} MB")
    show_breakdown("importance, full cache", fu["importance_breakdown"], fu["importance"])
    show_breakdown("contrast, full cache", fu["contrast_breakdown"], fu["contrast"])

    print("\nsummary")
    rows = [("first importance view", f"{S['first_view_s']:.2f} s", f"{S['first_view_peak_mb']:.0f} MB"),
            ("slice contrast, first", f"{S['contrast_first_s']:.2f} s", f"{S['slice_peak_mb']:.0f} MB"),
            ("slice contrast, cached", f"{S['contrast_cached_s']:.2f} s", ""),
            ("importance, cached", f"{S['importance_cached_s']:.2f} s", ""),
            *[(f"rows/s {k}", f"{v:.0f} (x{S['ratio_ours_vs'][k]:.2f})", f"{S['peak_mb'][k]:.0f} MB")
              for k, v in best_rate.items()],
            ("full holdout, extrapolated", f"{S['full_holdout_extrapolated_s'] / 60:.1f} min", ""),
            ("views with a full cache", f"{fu['importance']:.2f} / {fu['contrast']:.2f} s", f"{fu['peak_mb']:.0f} MB")]
    for a, b, c in rows:
        print(f"  {a:<28} {b:>22} {c:>10}")
    print(json.dumps(res, default=float))


if __name__ == "__main__":
    main()
