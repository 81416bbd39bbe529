"""Seeded synthetic tables with known structure, for tests, benchmarks and trying the tool.

The target depends on a few numeric and text columns, and one planted slice
(``c0 = 'a' AND x0 > 1``) has its labels flipped at random half the time, so a model
is bound to fail there.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

LEVELS = "abcdefghij"


def table(rows: int, *, numeric: int = 14, text: int = 5, task: str = "binary", seed: int = 0) -> pa.Table:
    """``rows`` rows: ``x0..`` floats (5% null in x2), ``c0..`` strings, ``ts`` a timestamp,
    and ``y`` (bool for binary, int class 0-2 for multiclass, float for regression)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {}
    xs = rng.normal(size=(rows, numeric))
    for j in range(numeric):
        mask = rng.random(rows) < 0.05 if j == 2 else None
        cols[f"x{j}"] = pa.array(xs[:, j], mask=mask)
    codes = rng.integers(0, 5, size=(rows, text))
    for j in range(text):
        levels = np.array([f"{LEVELS[k]}" for k in range(5)])
        cols[f"c{j}"] = pa.array(levels[codes[:, j]])
    start = datetime(2024, 1, 1)
    seconds = np.sort(rng.integers(0, 365 * 24 * 3600, size=rows))
    cols["ts"] = pa.array(np.datetime64(start) + seconds.astype("timedelta64[s]"))
    signal = 1.2 * xs[:, 0] - 0.8 * xs[:, 1] + 0.6 * (codes[:, 1] == 2) - 0.5 * (codes[:, 0] == 3)
    planted = (codes[:, 0] == 0) & (xs[:, 0] > 1)
    if task == "regression":
        y = signal + rng.normal(scale=0.5, size=rows) + planted * rng.normal(scale=3.0, size=rows)
        cols["y"] = pa.array(y)
    else:
        logits = signal if task == "binary" else np.column_stack([signal, -signal, 0.5 * xs[:, 3]])
        if task == "binary":
            label = rng.random(rows) < 1 / (1 + np.exp(-2 * logits))
            flip = planted & (rng.random(rows) < 0.5)
            cols["y"] = pa.array(np.where(flip, ~label, label))
        else:
            p = np.exp(2 * logits)
            p /= p.sum(axis=1, keepdims=True)
            label = (rng.random(rows)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
            cols["y"] = pa.array(np.where(planted, rng.integers(0, 3, rows), label))
    return pa.table(cols)


def write(path: Path, rows: int, *, chunk: int = 250_000, **kwargs) -> Path:
    """Write a synthetic table to ``path`` in chunks, so a large one never sits whole in memory."""
    seed = kwargs.pop("seed", 0)
    first = table(min(rows, chunk), seed=seed, **kwargs)
    with pq.ParquetWriter(path, first.schema, compression="zstd") as writer:
        writer.write_table(first)
        done, i = first.num_rows, 1
        while done < rows:
            part = table(min(chunk, rows - done), seed=seed + i, **kwargs)
            writer.write_table(part.cast(first.schema))
            done, i = done + part.num_rows, i + 1
    return path
