"""Crash and concurrency safety of the workspace's writes.

A build and a training are killed with SIGKILL at seeded random moments; after each kill nothing
partial is visible, everything written before is byte-identical, and the next
``Workspace.open`` leaves no temporary files. Builds and trainings started at the same instant in
separate processes end as whole versions and runs in folders of their own.

Importing the workbench takes seconds, so one helper process (a "zygote") imports it once and
forks a worker for each try; a worker starts its work as soon as it is forked.
"""
import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from workbench import WorkbenchError, Workspace
from workbench.data import synthetic
from workbench.model import train
from workbench.store import build, datasets, runs, saved

REPO = Path(__file__).resolve().parents[1]
KILLS = 20
SEED = 13

ZYGOTE = r'''
import os, sys, traceback
from workbench import Workspace
from workbench.model import train
from workbench.store import build

root = sys.argv[1]


def work(kind, name, seed, die):
    if die == "publish":  # end as a kill would, with everything staged and nothing renamed yet
        from workbench.store import workspace
        workspace.Staging.publish = lambda self, final: os.kill(os.getpid(), 9)
    ws = Workspace.open(root)
    if kind in ("build", "both"):
        # a new SQL text each time, so each completed build adds a version
        build.build(ws, name, f"SELECT * FROM source WHERE x0 > {seed} / 1000.0 - 3")
    if kind in ("train", "both"):
        train.train(ws, train.TrainSpec(name, "y", task="binary", seed=seed))


print("imported", flush=True)
for line in sys.stdin:
    kind, name, seed, count, die = line.split()
    gate_r, gate_w = os.pipe()
    pids = []
    for k in range(int(count)):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(gate_w)
                os.read(gate_r, 1)  # all workers of this line start together
                # "builds": each worker its own SQL text; otherwise all the same work
                work("build" if kind == "builds" else kind, name, int(seed) + k * (kind == "builds"), die)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stderr.flush()
            os._exit(code)
        pids.append(pid)
    os.close(gate_r)
    os.write(gate_w, b"x" * len(pids))
    os.close(gate_w)
    print(" ".join(map(str, pids)), flush=True)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(str(status))
    print(" ".join(codes), flush=True)
'''


class Zygote:
    """The helper process: ``start`` forks workers, ``finish`` waits for them (killed or not)."""

    def __init__(self, root: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(root)], cwd=REPO, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline().strip() == "imported"

    def start(self, kind: str, name: str, seed: int, count: int = 1, die: str = "-") -> list[int]:
        self.proc.stdin.write(f"{kind} {name} {seed} {count} {die}\n")
        self.proc.stdin.flush()
        return [int(p) for p in self.proc.stdout.readline().split()]

    def finish(self) -> list[int]:
        """Each worker's wait status: 0 for success, SIGKILL for a killed one."""
        return [int(s) for s in self.proc.stdout.readline().split()]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def zygote_ws(tmp_path):
    synthetic.write(tmp_path / "source.parquet", 3000, numeric=4, text=2, task="binary", seed=0)
    ws = Workspace.open(tmp_path)
    z = Zygote(tmp_path)
    yield ws, z
    z.close()


def _files(ws: Workspace) -> dict[str, str]:
    """Every file the workbench keeps (not DuckDB's spill folder), with its sha256."""
    out = {}
    for p in ws.artifacts.rglob("*"):
        if p.is_file() and p.relative_to(ws.artifacts).parts[0] != "tmp":
            out[str(p.relative_to(ws.artifacts))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _leftovers(ws: Workspace) -> list[str]:
    """Temporary names and empty dataset folders below the artifacts folder."""
    found = [str(p) for p in ws.artifacts.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]
    if ws.datasets_dir.is_dir():
        found += [str(d) for d in ws.datasets_dir.iterdir() if d.is_dir() and not any(d.iterdir())]
    return found


def _check_visible(ws: Workspace) -> tuple[int, int]:
    """Every dataset version and run the public listing shows is whole; their counts."""
    versions = 0
    for d in datasets.list_datasets(ws):
        for v in d.versions:
            loaded = datasets.load_version(ws, d.name, v.version)
            assert loaded == v
            table = pq.read_table(v.path)
            assert table.num_rows == v.rows
            rows, schema, digest = datasets.content_hash(ws.cursor(), v.path)
            assert (rows, schema, digest) == (v.rows, v.schema, v.hash)
            versions += 1
    found = runs.list_runs(ws)
    for r in found:
        loaded = runs.load_run(ws, r.run_id)
        assert loaded.path.name == r.run_id == loaded.record.run_id
        assert loaded.model_path.is_file() and loaded.model_path.read_text().startswith("tree")
        assert pq.read_table(loaded.predictions).num_rows == r.record.split.n_holdout
    return versions, len(found)


def _check_after_kill(ws: Workspace, before: dict[str, str]) -> str:
    """Assert nothing partial is visible and earlier files are intact; sweep; name the state."""
    now = _files(ws)
    assert {k: now.get(k) for k in before} == before  # earlier datasets and runs byte-identical
    n_versions, n_runs = _check_visible(ws)
    assert n_versions >= 1 and n_runs >= 1
    left = _leftovers(ws)
    Workspace.open(ws.root)
    assert _leftovers(ws) == []
    after = _files(ws)
    assert {k: now[k] for k in after} == after  # the sweep only removed staging
    new = {k for k in after if k not in before}
    published = ("version and run" if any(k.startswith("runs/") for k in new)
                 else "version" if any(k.startswith("datasets/") for k in new) else "nothing")
    return f"{published} published, " + ("staging swept" if left else "nothing left")


def test_kills_at_random_moments_leave_no_partial_state(zygote_ws):
    ws, z = zygote_ws
    # how long each kind of work takes in a forked worker: the kills are spread over that time
    work = {}
    for kind in ("build", "train"):
        t0 = time.perf_counter()
        z.start(kind, "grow", 0)
        assert z.finish() == [0]
        work[kind] = time.perf_counter() - t0
    work["both"] = work["build"] + work["train"]
    before = _files(ws)
    rng = random.Random(SEED)
    states: dict[str, int] = {}
    kills = 0
    for i in range(1, KILLS + 1):
        kind = rng.choice(["both", "build", "train"])
        delay = rng.uniform(0, work[kind])
        t0 = time.perf_counter()
        [pid] = z.start(kind, "grow", i)
        time.sleep(delay)  # a random moment of the work, not a wait for a state
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it finished before the signal
        [status] = z.finish()
        assert status in (0, signal.SIGKILL), f"worker failed with status {status}"
        if status == 0:  # the machine's load changes: follow it
            work[kind] = time.perf_counter() - t0
            work["both"] = work["build"] + work["train"]
        kills += status == signal.SIGKILL
        state = _check_after_kill(ws, before)
        states[state] = states.get(state, 0) + 1
        before = _files(ws)
    print(f"\nkills sent {KILLS}, processes killed {kills}; states {states}; work {work}")
    assert kills >= 1


@pytest.mark.parametrize("kind", ["build", "train"])
def test_a_kill_with_everything_staged_leaves_nothing_visible(zygote_ws, kind):
    ws, z = zygote_ws
    z.start("both", "grow", 0)
    assert z.finish() == [0]
    before = _files(ws)
    z.start(kind, "grow", 1, die="publish")
    assert z.finish() == [signal.SIGKILL]
    assert _check_after_kill(ws, before) == "nothing published, staging swept"
    assert _files(ws) == before


def _same_instant(z: Zygote, kind: str, name: str, seed: int) -> list[int]:
    z.start(kind, name, seed, count=2)
    return z.finish()


def test_two_builds_of_one_name_at_once_in_processes(zygote_ws):
    ws, z = zygote_ws
    tries = 10
    for i in range(tries):
        # same SQL in both: one version; the loser finds the winner's and reports it unchanged
        assert _same_instant(z, "build", f"same{i}", 7) == [0, 0]
        [d] = [d for d in datasets.list_datasets(ws) if d.name == f"same{i}"]
        assert [v.version for v in d.versions] == [1]
        # different SQL: two whole versions, in either order
        assert _same_instant(z, "builds", f"two{i}", 7) == [0, 0]
        [d] = [d for d in datasets.list_datasets(ws) if d.name == f"two{i}"]
        assert [v.version for v in d.versions] == [1, 2] and len({v.sql for v in d.versions}) == 2
    _check_visible(ws)
    Workspace.open(ws.root)
    assert _leftovers(ws) == []


def test_two_trainings_at_once_never_share_a_run_folder(zygote_ws):
    ws, z = zygote_ws
    z.start("build", "d", 1)
    assert z.finish() == [0]
    tries = 4
    for i in range(tries):
        assert _same_instant(z, "train", "d", i) == [0, 0]
    found = runs.list_runs(ws)
    assert len(found) == 2 * tries
    assert len({r.run_id for r in found}) == 2 * tries
    _check_visible(ws)


def test_clashing_run_ids_get_fresh_ones_under_threads(trained, tmp_path):
    """Two trainings in the same second with the same random suffix: the id clashes for real."""
    _, run = trained["binary"]
    ws = Workspace.open(tmp_path)
    record, model = run.record, run.model_path.read_text()
    predictions = pq.read_table(run.predictions)
    for i in range(20):
        clash = replace(record, run_id=f"20260101-000000-{i:04x}")
        barrier, out, errors = threading.Barrier(2), [], []

        def write():
            barrier.wait()
            try:
                out.append(runs.write_run(ws, clash, model, predictions))
            except Exception as e:  # noqa: BLE001 - any error is the failure under test
                errors.append(e)

        threads = [threading.Thread(target=write) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert errors == []
        a, b = out
        assert a.run_id != b.run_id and a.path != b.path
        for r in (a, b):
            assert runs.load_run(ws, r.run_id).record == replace(record, run_id=r.run_id)
            assert r.run_id.startswith("20260101-000000-")
    assert _leftovers(ws) == []


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _copy_run(run, ws: Workspace):
    """The session's trained run, stored again in ``ws``."""
    return runs.write_run(ws, run.record, run.model_path.read_text(), pq.read_table(run.predictions))


def test_a_full_disk_while_training_writes_its_run_says_so(tmp_path, monkeypatch):
    synthetic.write(tmp_path / "source.parquet", 600, numeric=3, text=2, task="binary", seed=0)
    ws = Workspace.open(tmp_path)
    build.build(ws, "d", "SELECT * FROM source")
    first = train.train(ws, train.TrainSpec("d", "y", task="binary"))
    before = _files(ws)
    monkeypatch.setattr(runs.pq, "write_table", _enospc)
    with pytest.raises(WorkbenchError, match=r"^No space left on the disk holding .*runs \(writing run "):
        train.train(ws, train.TrainSpec("d", "y", task="binary", seed=1))
    monkeypatch.undo()
    assert _files(ws) == before and _leftovers(ws) == []
    assert [r.run_id for r in runs.list_runs(ws)] == [first.run_id]


def test_a_full_disk_while_saving_a_slice_says_so(trained, tmp_path, monkeypatch):
    ws = Workspace.open(tmp_path)
    run = _copy_run(trained["binary"][1], ws)
    saved.save(ws, "first", "x0 > 0", run=run)
    before = _files(ws)
    monkeypatch.setattr(json, "dump", _enospc)
    with pytest.raises(WorkbenchError, match=r"^No space left on the disk holding .*slices \(writing second.json\)"):
        saved.save(ws, "second", "x0 < 0", run=run)
    with pytest.raises(WorkbenchError, match="No space left on the disk"):
        saved.save(ws, "first", "x0 < 0", run=run)  # replacing a saved slice keeps the old one
    monkeypatch.undo()
    assert _files(ws) == before and _leftovers(ws) == []
    assert [s.name for s in saved.list_saved(ws)] == ["first"]
