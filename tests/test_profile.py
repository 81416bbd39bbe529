import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.data import profile
from workbench import WorkbenchError, Workspace


def test_profile_matches_hand_counts(tiny_ws):
    p = profile.profile(tiny_ws, "loans")
    assert p.rows == 12
    cols = {r["name"]: r for r in p.columns.to_dicts()}
    income = cols["income"]
    assert income["null_share"] == pytest.approx(2 / 12)
    assert income["distinct"] == 10
    assert (income["min"], income["max"], income["mean"]) == ("10.0", "120.0", pytest.approx(63.0))
    region = cols["region"]
    assert region["distinct"] == 3 and region["mean"] is None and region["min"] is None
    assert sorted(v["count"] for v in region["top_values"]) == [4, 4, 4]
    assert cols["approved"]["top_values"][0] == {"value": "true", "count": 7}


def test_profile_of_unknown_relation(tiny_ws):
    with pytest.raises(WorkbenchError, match="Unknown table or dataset 'nope'"):
        profile.profile(tiny_ws, "nope")


def _profile_of(tmp_path, table: pa.Table, **kwargs) -> dict:
    pq.write_table(table, tmp_path / "t.parquet")
    p = profile.profile(Workspace.open(tmp_path), "t", **kwargs)
    return {r["name"]: r for r in p.columns.to_dicts()}


def test_high_cardinality_columns_get_an_estimate_never_above_their_values(tmp_path, monkeypatch):
    monkeypatch.setattr(profile, "EXACT_DISTINCT_UP_TO", 50)
    n = 20_000
    values = np.arange(n, dtype=float)
    values[::4] = np.nan  # a quarter missing
    cols = _profile_of(tmp_path, pa.table({"few": np.arange(n) % 7, "many": pa.array(values, from_pandas=True)}))
    assert (cols["few"]["distinct"], cols["few"]["distinct_exact"]) == (7, True)
    many = cols["many"]
    assert many["distinct_exact"] is False
    assert 0.9 * 15_000 <= many["distinct"] <= 15_000
    assert many["top_values"][0] == {"value": None, "count": 5_000}


def test_a_frequent_value_in_a_numeric_column_leads_its_top_values(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=5_000)
    x[:700] = -999.0  # a sentinel a profile should expose
    cols = _profile_of(tmp_path, pa.table({"x": x}), top=3)
    assert cols["x"]["top_values"][0] == {"value": "-999.0", "count": 700}
    assert len(cols["x"]["top_values"]) == 3


def test_nested_columns_are_profiled_by_their_text(tmp_path):
    t = pa.table({"tags": [["a"], ["a"], ["b", "c"], None],
                  "point": [{"x": 1, "y": 2}, {"x": 1, "y": 2}, {"x": 3, "y": 4}, None]})
    cols = _profile_of(tmp_path, t)
    assert cols["tags"]["top_values"][0] == {"value": "[a]", "count": 2}
    assert cols["tags"]["distinct"] == 2
    assert cols["point"]["top_values"][0] == {"value": "{'x': 1, 'y': 2}", "count": 2}
    assert cols["point"]["distinct"] == 2 and cols["point"]["null_share"] == 0.25


def _wide(tmp_path, columns=90, rows=500):
    """A table wider than profile.WIDE with numbers, text, nulls and a date column."""
    rng = np.random.default_rng(3)
    data = {}
    for i in range(columns):
        kind = i % 3
        if kind == 0:
            data[f"n{i}"] = pa.array(rng.integers(0, 7, rows))
        elif kind == 1:
            values = rng.normal(size=rows)
            data[f"x{i}"] = pa.array(np.where(rng.random(rows) < 0.2, np.nan, values), from_pandas=True)
        else:
            data[f"s{i}"] = pa.array([None if r % 11 == 0 else f"v{r % 5}" for r in range(rows)])
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table(data), tmp_path / "data" / "wide.parquet")
    return Workspace.open(tmp_path / "data"), pa.table(data)


def test_a_wide_table_profiled_in_batches_equals_hand_counts(tmp_path, monkeypatch):
    ws, table = _wide(tmp_path)
    monkeypatch.setattr(profile, "BATCH_CELLS", 500 * 7)  # 7 columns a batch: 13 batches
    p = profile.profile(ws, "wide")
    assert p.columns["name"].to_list() == table.column_names and p.skipped == ()
    for row in p.columns.iter_rows(named=True):
        col = table[row["name"]].to_pylist()
        present = [v for v in col if v is not None]
        assert row["null_share"] == pytest.approx(1 - len(present) / len(col))
        assert row["distinct"] == len(set(present)) and row["distinct_exact"]
        counts = {}
        for v in col:
            counts[v] = counts.get(v, 0) + 1
        assert row["top_values"][0]["count"] == max(counts.values())
        if isinstance(present[0], (int, float)):
            assert float(row["mean"]) == pytest.approx(float(np.mean(present)))
            assert float(row["min"]) == pytest.approx(min(present)) and float(row["max"]) == pytest.approx(max(present))


def test_a_wide_table_gives_the_same_profile_batched_or_not(tmp_path, monkeypatch):
    ws, _ = _wide(tmp_path, columns=70)
    batched = profile.profile(ws, "wide")
    monkeypatch.setattr(profile, "WIDE", 10_000)
    assert profile.profile(ws, "wide").columns.equals(batched.columns)


def test_past_the_column_limit_the_rest_is_listed_as_skipped(tmp_path):
    ws, table = _wide(tmp_path, columns=12)
    p = profile.profile(ws, "wide", max_columns=5)
    assert p.columns["name"].to_list() == table.column_names[:5]
    assert list(p.skipped) == table.column_names[5:] and p.to_dict()["skipped"] == table.column_names[5:]
    named = profile.profile(ws, "wide", columns=["s11", "n0"], max_columns=1)
    assert named.columns["name"].to_list() == ["n0", "s11"] and len(named.skipped) == 10
    with pytest.raises(WorkbenchError, match="No column 'nope' in 'wide'"):
        profile.profile(ws, "wide", columns=["nope"])
    with pytest.raises(WorkbenchError, match="at least 1"):
        profile.profile(ws, "wide", max_columns=0)
