import errno
import json
import os
import subprocess
import sys
import time

import pytest

from workbench.errors import WorkbenchError
from workbench.store import workspace
from workbench.store.workspace import Discard, Workspace, check_name, stage, staging_dir, write_json


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


# --- names: every accepted name is one safe path component -------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


@pytest.mark.parametrize("name", ["flights\n", "a\x00b", "tab\tx", "a\x7f", ".hidden", "a.b", ".", "./a",
                                  "é", "a\u0660", "x\u200b", "CON ", "a\r"])
def test_check_name_rejects_control_characters_dots_and_non_ascii(name):
    with pytest.raises(WorkbenchError, match="use letters, digits and underscores"):
        check_name(name, kind="dataset name")


def _safe_component(name: str, root) -> bool:
    return (0 < len(name) <= 64 and name not in (".", "..") and not name.startswith(".")
            and os.sep not in name and "/" not in name and "\\" not in name
            and all(c.isprintable() and not c.isspace() and c.isascii() for c in name)
            and os.path.basename(name) == name and (root / name).parent == root)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,70}[\n\r\t./\\]?", fullmatch=True)))
def test_every_accepted_name_is_one_safe_path_component(tmp_path_factory, name):
    root = tmp_path_factory.getbasetemp()
    try:
        check_name(name)
    except WorkbenchError:
        return
    assert _safe_component(name, root)


# --- staging: publish, clash, full disk ------------------------------------------------------------

def test_publish_onto_a_taken_name_reports_it_and_keeps_both(tmp_path):
    (tmp_path / "v0001").mkdir()
    (tmp_path / "v0001" / "a").write_text("first")
    with stage(tmp_path / "v0001") as staged:
        (staged.path / "a").write_text("second")
        assert not staged.publish(tmp_path / "v0001")
        assert staged.publish(tmp_path / "v0002")
    assert (tmp_path / "v0001" / "a").read_text() == "first"
    assert (tmp_path / "v0002" / "a").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v0001", "v0002"]


def test_staging_dir_never_overwrites_a_taken_name(tmp_path):
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "a").write_text("first")
    with pytest.raises(WorkbenchError, match="exists already"):
        with staging_dir(tmp_path / "final") as tmp:
            (tmp / "a").write_text("second")
    assert (tmp_path / "final" / "a").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_write_json_on_a_full_disk_says_so_and_keeps_the_old_file(tmp_path, monkeypatch):
    write_json(tmp_path / "m.json", {"a": 1})
    monkeypatch.setattr(json, "dump", _enospc)
    with pytest.raises(WorkbenchError, match="No space left on the disk") as e:
        write_json(tmp_path / "m.json", {"b": 2})
    assert "\n" not in str(e.value) and "Free some space" in str(e.value)
    monkeypatch.undo()
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   OSError(errno.EDQUOT, "Disk quota exceeded"),
                                   WorkbenchError("SQL error: IO Error: Could not write file \"x\": No space left on device")])
def test_stage_on_a_full_disk_says_so_and_leaves_nothing(tmp_path, error):
    with pytest.raises(WorkbenchError, match="No space left on the disk"):
        with stage(tmp_path / "a" / "final") as staged:
            (staged.path / "x").write_text("half")
            raise error
    assert list(tmp_path.iterdir()) == []


# --- leftovers: stale staging is swept at the next start, live staging never ----------------------

def _dead_pid() -> tuple[int, int]:
    """The pid and start time of a process that has ended."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = workspace._start_time(p.pid)
    p.kill()
    p.wait()
    return p.pid, start


def _staged_name(final: str, host: str, pid: int, start: int) -> str:
    return f".{final}.{host}-{pid}-{start}.abc123_x.tmp"


def test_open_sweeps_what_killed_writers_left_and_keeps_live_work(tmp_path):
    ws = Workspace.open(tmp_path)
    host = workspace._host()
    dead, dead_start = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live_start = workspace._start_time(live.pid)
        me = int(workspace._owner().split("-")[1]), int(workspace._owner().split("-")[2])
        d = ws.datasets_dir / "flights"
        (d / "v0001").mkdir(parents=True)
        (d / "v0001" / "dataset.json").write_text("{}")
        stale = [d / _staged_name("v0002", host, dead, dead_start),
                 ws.runs_dir / _staged_name("20260101-000000-abcd", host, dead, dead_start),
                 # a pid reused by a later process: the start time tells them apart
                 d / _staged_name("v0003", host, live.pid, live_start + 1),
                 # an older workbench's name, a day old
                 ws.runs_dir / ".20250101-000000-abcd.k3j4h5.tmp"]
        kept = [d / _staged_name("v0004", host, live.pid, live_start),
                d / _staged_name("v0005", host, *me),
                ws.runs_dir / ".20260101-000000-ffff.k3j4h5.tmp",   # unknown owner, recent
                ws.runs_dir / _staged_name("20260101-000000-eeee", "0" * 8, dead, dead_start)]  # other host
        for p in stale + kept:
            p.mkdir(parents=True)
            (p / "data.parquet").write_bytes(b"half")
        (ws.slices_dir).mkdir()
        stale_file = ws.slices_dir / _staged_name("s.json", host, dead, dead_start)
        stale_file.write_text("{")
        old = time.time() - workspace.STALE_SECONDS - 60
        os.utime(stale[3], (old, old))
        (ws.datasets_dir / "empty").mkdir()  # a first build killed before it published
        Workspace.open(tmp_path)
        assert [p for p in stale + [stale_file, ws.datasets_dir / "empty"] if p.exists()] == []
        assert all(p.is_dir() for p in kept)
        assert (d / "v0001" / "dataset.json").is_file()
    finally:
        live.kill()
        live.wait()
    Workspace.open(tmp_path)  # the live writer is gone now: its staging goes too
    assert not kept[0].exists() and kept[1].exists()


def test_staging_names_carry_the_owner_and_this_process_never_sweeps_its_own(tmp_path):
    ws = Workspace.open(tmp_path)
    with stage(ws.datasets_dir / "d" / "v0001") as staged:
        m = workspace._STAGED.fullmatch(staged.path.name)
        assert m and m["final"] == "v0001" and int(m["pid"]) == os.getpid()
        assert workspace.sweep(ws) == [] and staged.path.is_dir()
        assert staged.publish(ws.datasets_dir / "d" / "v0001")
