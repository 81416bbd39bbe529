"""Sensitive columns kept with a dataset: marked, unmarked, validated, written atomically."""
import json

import pytest

from workbench import WorkbenchError
from workbench.store import build, sensitive


@pytest.fixture
def ws(tiny_ws):
    build.build(tiny_ws, "loans_ds", "SELECT * FROM loans")
    return tiny_ws


def _columns(ws):
    from workbench.store.datasets import load_version
    return [c for c, _ in load_version(ws, "loans_ds").schema]


def test_mark_unmark_and_read_back(ws):
    cols = _columns(ws)
    assert sensitive.sensitive_columns(ws, "loans_ds") == ()
    assert sensitive.mark(ws, "loans_ds", [cols[1], cols[0]]) == (cols[1], cols[0])
    assert sensitive.mark(ws, "loans_ds", [cols[0], cols[2]]) == (cols[1], cols[0], cols[2])  # added, once each
    assert sensitive.sensitive_columns(ws, "loans_ds") == (cols[1], cols[0], cols[2])
    assert sensitive.unmark(ws, "loans_ds", [cols[0]]) == (cols[1], cols[2])
    assert sensitive.mark(ws, "loans_ds", [cols[0]], replace=True) == (cols[0],)
    stored = json.loads((ws.datasets_dir / "loans_ds" / sensitive.FILE).read_text())
    assert stored == {"dataset": "loans_ds", "columns": [cols[0]]}
    # nothing half-written is left beside it, and the versions are untouched
    assert [p.name for p in (ws.datasets_dir / "loans_ds").iterdir() if p.is_file()] == [sensitive.FILE]


def test_a_new_version_keeps_the_marks(ws):
    col = _columns(ws)[0]
    sensitive.mark(ws, "loans_ds", [col])
    build.build(ws, "loans_ds", "SELECT * FROM loans LIMIT 5")
    assert sensitive.sensitive_columns(ws, "loans_ds") == (col,)


def test_unknown_column_says_did_you_mean(ws):
    assert "region" in _columns(ws)
    with pytest.raises(WorkbenchError) as e:
        sensitive.mark(ws, "loans_ds", ["regoin"])
    msg = str(e.value)
    assert msg.startswith("Unknown column 'regoin' in dataset 'loans_ds' (did you mean 'region'?); its columns: ")
    assert "\n" not in msg and "its columns: " in msg
    assert sensitive.sensitive_columns(ws, "loans_ds") == ()  # nothing written


def test_unknown_dataset(ws):
    with pytest.raises(WorkbenchError, match=r"^Unknown dataset 'nope'; datasets: loans_ds\.$"):
        sensitive.mark(ws, "nope", ["x"])
    with pytest.raises(WorkbenchError, match=r"^Unknown dataset 'nope'"):
        sensitive.sensitive_columns(ws, "nope")


def test_a_damaged_file_is_a_message(ws):
    (ws.datasets_dir / "loans_ds" / sensitive.FILE).write_text("{not json")
    with pytest.raises(WorkbenchError, match="is not a list of sensitive columns"):
        sensitive.sensitive_columns(ws, "loans_ds")
