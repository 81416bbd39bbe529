"""Helpers shared by test modules (fixtures live in conftest.py)."""
from pathlib import Path

from workbench.store import build
from workbench.data import synthetic
from workbench import Workspace


def synthetic_ws(root: Path, rows: int, task: str, seed: int = 0) -> Workspace:
    ws = Workspace.open(root)
    synthetic.write(root / "source.parquet", rows, numeric=6, text=3, task=task, seed=seed)
    build.build(ws, "synth", "SELECT * FROM source")
    return ws
