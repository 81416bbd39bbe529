"""The Train page's first choices on a dataset it has never seen: a target that is not the split
marks, an id or a time, and the dataset's own split when it has one."""
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import workbench as wb
from workbench.store import build


def _dataset(tmp_path, table: dict, name: str = "adultish"):
    pq.write_table(pa.table(table), tmp_path / "raw.parquet")
    ws = wb.Workspace.open(tmp_path)
    build.build(ws, name, "SELECT * FROM raw")
    return ws, wb.load_version(ws, name)


def _census(n: int, rng) -> dict:
    return {"age": rng.integers(17, 90, n), "workclass": rng.choice(["private", "state", "self"], n),
            "income": rng.choice([">50K", "<=50K"], n),
            "split": rng.choice(["train", "test"], n, p=[0.67, 0.33])}


def test_a_dataset_with_its_own_split_column_is_split_by_it_and_never_predicts_it(tmp_path):
    ws, version = _dataset(tmp_path, _census(2000, np.random.default_rng(0)))  # the split column is last
    d = wb.suggest_training(ws, version)
    assert (d.target, d.split, d.split_column) == ("income", "column", "split")
    assert d.split_columns == ("split",) and d.time_columns == ()


def test_marks_in_capitals_count_and_a_column_named_like_a_target_wins(tmp_path):
    rng = np.random.default_rng(1)
    n = 500
    ws, version = _dataset(tmp_path, {"label": rng.integers(0, 2, n), "x": rng.normal(size=n),
                                      "Fold": rng.choice(["TRAIN", "Test", "Valid"], n)})
    d = wb.suggest_training(ws, version)
    assert (d.target, d.split, d.split_column) == ("label", "column", "Fold")


def test_times_and_identifiers_are_not_targets_and_times_are_offered_for_a_time_split(tmp_path):
    rng = np.random.default_rng(2)
    n = 1000
    start = datetime(2024, 1, 1)
    ws, version = _dataset(tmp_path, {
        "amount": rng.normal(size=n), "late": rng.integers(0, 2, n),
        "booked": [start + timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)],
        "order_id": [f"o{i:05d}" for i in range(n)], "customer_id": np.arange(n)})
    d = wb.suggest_training(ws, version)
    assert d.target == "late" and set(d.identifiers) == {"order_id", "customer_id"}
    assert (d.split, d.split_column, d.time_columns) == ("random", "booked", ("booked",))


def test_a_regression_target_with_a_value_per_row_stays_a_target(tmp_path):
    rng = np.random.default_rng(3)
    n = 800
    ws, version = _dataset(tmp_path, {"x": rng.integers(0, 5, n), "price": rng.normal(size=n)})
    assert wb.suggest_training(ws, version).target == "price"
