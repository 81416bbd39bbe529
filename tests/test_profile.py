import pytest

from workbench import profile
from workbench.workspace import WorkbenchError


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
