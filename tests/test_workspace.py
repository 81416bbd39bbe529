import json

import pytest

from workbench.errors import WorkbenchError
from workbench.store.workspace import Discard, Workspace, check_name, staging_dir, write_json


@pytest.mark.parametrize("name", ["flights", "_tmp", "a1_b2", "X" * 64])
def test_check_name_accepts_identifiers(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "..", "a b", "1abc", "a-b", "x" * 65, "a\\b"])
def test_check_name_rejects_paths_and_odd_names(name):
    with pytest.raises(WorkbenchError, match="use letters, digits and underscores"):
        check_name(name, kind="dataset name")


def test_staging_dir_leaves_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with staging_dir(tmp_path / "final") as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_staging_dir_renames_into_place(tmp_path):
    with staging_dir(tmp_path / "final") as tmp:
        (tmp / "a.txt").write_text("x")
    assert (tmp_path / "final" / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]


def test_write_json_replaces_whole_file(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1})
    write_json(tmp_path / "m.json", {"b": 2})
    assert json.loads((tmp_path / "m.json").read_text()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_workspace_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "ws"))
    ws = Workspace.open()
    assert ws.root == (tmp_path / "ws").resolve() and ws.root.is_dir()
    assert ws.artifacts == ws.root / ".workbench"


def test_workspace_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(WorkbenchError, match="is a file"):
        Workspace.open(tmp_path / "f")


def test_discard_drops_the_staged_folder_without_an_error(tmp_path):
    with staging_dir(tmp_path / "a" / "final") as tmp:
        (tmp / "x.txt").write_text("x")
        raise Discard
    assert list(tmp_path.iterdir()) == []
