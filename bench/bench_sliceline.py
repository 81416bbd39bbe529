"""SliceLine speed: the workbench's implementation beside the sliceline package, same input.

    python bench/bench_sliceline.py

Each measurement runs in a fresh subprocess (its peak RSS is its own). Prints seconds, the
ratio, whether the top-k agree, and how time grows with rows, features and levels.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def data(rows: int, features: int, levels: int = 5, seed: int = 0):
    """Categorical features with a planted two-predicate slice; 0/1 errors."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, levels, size=(rows, features))
    e = (rng.random(rows) < 0.1).astype(float)
    planted = (X[:, 0] == 1) & (X[:, 1] == 2)
    e[planted] = rng.random(planted.sum()) < 0.5
    return X, e


def step(which: str, rows: int, features: int, max_level: int) -> dict:
    X, e = data(rows, features)
    params = dict(k=4, alpha=0.95, min_support=32)
    t = time.perf_counter()
    if which == "ours":
        from workbench.analysis import sliceline
        lat = sliceline.find_slices(X, e, X.max(axis=0) + 1, max_level=max_level, **params)
        top = [sorted((int(lat.feature_of[i]), int(lat.code_of[i])) for i in s) for s in lat.top]
        scores = lat.top_stats[:, 0].tolist()
        extra = {"evaluated": int(len(lat.evaluated))}
    else:
        from sliceline.slicefinder import Slicefinder
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sf = Slicefinder(alpha=params["alpha"], k=params["k"], max_l=max_level,
                             min_sup=params["min_support"], verbose=False).fit(X, e)
        top = [sorted((j, int(v)) for j, v in enumerate(r) if v is not None) for r in sf.top_slices_]
        scores = [s["slice_score"] for s in sf.top_slices_statistics_]
        extra = {}
    return {"seconds": time.perf_counter() - t, "top": top, "scores": scores,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}


def sub(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--step", *map(str, args)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        which, rows, features, level = sys.argv[2], *map(int, sys.argv[3:6])
        print(json.dumps(step(which, rows, features, level)))
        return
    o, p = sub("ours", 100_000, 10, 3), sub("package", 100_000, 10, 3)
    same = o["top"] == p["top"][: len(o["top"])] and np.allclose(o["scores"], p["scores"][: len(o["scores"])])
    print(f"100,000 x 10 features (5 levels each), max_level 3: workbench {o['seconds']:.2f} s vs sliceline "
          f"{p['seconds']:.2f} s -> {p['seconds'] / o['seconds']:.0f}x faster (goal >= 20x); same top-k: {same}; "
          f"peak RSS {o['peak_mb']:.0f} / {p['peak_mb']:.0f} MB")
    for rows, features, level in [(1_000_000, 20, 3), (250_000, 20, 3), (500_000, 20, 3),
                                  (1_000_000, 10, 3), (1_000_000, 20, 2), (1_000_000, 20, 4)]:
        r = sub("ours", rows, features, level)
        print(f"{rows:>9,} rows x {features} features, max_level {level}: {r['seconds']:5.2f} s, "
              f"{r['evaluated']:,} candidates evaluated, peak RSS {r['peak_mb']:.0f} MB"
              + ("  (goal < 15 s, < 2 GB)" if (rows, features, level) == (1_000_000, 20, 3) else ""))


if __name__ == "__main__":
    main()
