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
