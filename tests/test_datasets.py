import errno
import json
import os
import threading

import duckdb

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.store import datasets, build
from workbench import WorkbenchError


def _listing(ws):
    return sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*"))


def test_build_writes_a_version_with_metadata(tiny_ws):
    v = build.build(tiny_ws, "approved", "SELECT id, region, income FROM loans WHERE approved;")
    assert (v.name, v.version, v.rows) == ("approved", 1, 7)
    assert v.path.is_file() and (v.path.parent / "dataset.json").is_file()
    assert v.schema == (("id", "BIGINT"), ("region", "VARCHAR"), ("income", "DOUBLE"))
    assert v.sql == "SELECT id, region, income FROM loans WHERE approved"
    [src] = v.sources
    assert src["name"] == "loans" and src["kind"] == "table" and src["files"][0]["path"] == "loans.parquet"
    assert pq.read_table(v.path).num_rows == 7


def test_same_sql_over_unchanged_sources_reproduces_the_hash(tiny_ws):
    a = build.build(tiny_ws, "d", "SELECT * FROM loans")
    b = build.build(tiny_ws, "d", "SELECT * FROM loans")
    assert b.unchanged and b.hash == a.hash and b.version == 1
    assert len(datasets.list_datasets(tiny_ws)[0].versions) == 1


def test_hash_ignores_row_order_but_not_content(tiny_ws):
    a = build.build(tiny_ws, "d", "SELECT * FROM loans ORDER BY id")
    b = build.build(tiny_ws, "d", "SELECT * FROM loans ORDER BY id DESC")
    assert (b.version, b.hash) == (2, a.hash)
    table = pq.read_table(tiny_ws.root / "loans.parquet")
    pq.write_table(table.set_column(0, "id", pa.array([i * 10 for i in range(12)])), tiny_ws.root / "loans.parquet")
    c = build.build(tiny_ws, "d", "SELECT * FROM loans ORDER BY id DESC")
    assert c.version == 3 and c.hash != a.hash
    assert c.sources[0]["files"] != a.sources[0]["files"]


def test_datasets_can_build_on_datasets(tiny_ws):
    build.build(tiny_ws, "base", "SELECT * FROM loans WHERE income IS NOT NULL")
    v = build.build(tiny_ws, "rich", "SELECT * FROM base WHERE income > 60")
    assert v.rows == 5
    assert v.sources[0]["kind"] == "dataset" and v.sources[0]["name"] == "base"


def test_preview_counts_without_writing(tiny_ws):
    before = _listing(tiny_ws)
    p = build.preview(tiny_ws, "SELECT * FROM loans CROSS JOIN events", limit=7)
    assert p.row_count == 60 and p.rows.height == 7
    assert _listing(tiny_ws) == before


@pytest.mark.parametrize("name, sql, message", [
    ("d", "SELEC * FROM loans", "SQL error: Parser Error"),
    ("d", "SELECT * FROM nowhere", "SQL error: Catalog Error"),
    ("d", "SELECT nope FROM loans", "SQL error: Binder Error"),
    ("d", "   ;", "The SQL is empty"),
    ("../evil", "SELECT 1", "Invalid dataset name '../evil'"),
    ("loans", "SELECT 1", "taken by a source table"),
])
def test_bad_builds_leave_the_workspace_as_it_was(tiny_ws, name, sql, message):
    before = _listing(tiny_ws)
    with pytest.raises(WorkbenchError, match=message):
        build.build(tiny_ws, name, sql)
    assert _listing(tiny_ws) == before
    assert datasets.list_datasets(tiny_ws) == []


def test_a_failed_rebuild_keeps_the_earlier_version(tiny_ws):
    build.build(tiny_ws, "d", "SELECT * FROM loans")
    with pytest.raises(WorkbenchError):
        build.build(tiny_ws, "d", "SELECT 1/0 AS x FROM loans WHERE error('bad row')")
    [d] = datasets.list_datasets(tiny_ws)
    assert [v.version for v in d.versions] == [1]
    assert os.listdir(tiny_ws.datasets_dir / "d") == ["v0001"]


def test_unknown_dataset_and_version(tiny_ws):
    build.build(tiny_ws, "d", "SELECT * FROM loans")
    with pytest.raises(WorkbenchError, match="Unknown dataset 'x'; datasets: d"):
        datasets.load_version(tiny_ws, "x")
    with pytest.raises(WorkbenchError, match="has no version 9; versions: 1"):
        datasets.load_version(tiny_ws, "d", 9)


def _snapshot(ws):
    return {str(p.relative_to(ws.root)): p.read_bytes() for p in ws.root.rglob("*")
            if p.is_file() and ".workbench/tmp" not in str(p)}


def _full_disk_in_duckdb(monkeypatch):
    """DuckDB's writer hitting a full disk after writing part of the file, as DuckDB reports it."""
    real = build.run_select

    def run_select(con, sql, use, **kw):
        def use_then_fail(rel):
            use(rel)
            raise duckdb.IOException('IO Error: Could not write file "data.parquet": No space left on device')
        return real(con, sql, use_then_fail, **kw)
    monkeypatch.setattr(build, "run_select", run_select)


def _full_disk_in_metadata(monkeypatch):
    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))


@pytest.mark.parametrize("fill", [_full_disk_in_duckdb, _full_disk_in_metadata])
def test_a_full_disk_during_build_says_so_and_keeps_the_workspace(tiny_ws, monkeypatch, fill):
    build.build(tiny_ws, "d", "SELECT * FROM loans")
    before = _snapshot(tiny_ws)
    fill(monkeypatch)
    with pytest.raises(WorkbenchError, match=r"No space left on the disk .* \(writing dataset d\); nothing was saved"):
        build.build(tiny_ws, "d", "SELECT id FROM loans")
    with pytest.raises(WorkbenchError, match="No space left on the disk"):
        build.build(tiny_ws, "fresh", "SELECT id FROM loans")
    monkeypatch.undo()
    assert _snapshot(tiny_ws) == before
    assert [v.version for v in datasets.list_datasets(tiny_ws)[0].versions] == [1]


def _at_once(fn, args: list) -> tuple[list, list]:
    barrier, out, errors = threading.Barrier(len(args)), [], []

    def go(a):
        barrier.wait()
        try:
            out.append(fn(*a))
        except Exception as e:  # noqa: BLE001 - any error is the failure under test
            errors.append(e)
    threads = [threading.Thread(target=go, args=(a,)) for a in args]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return out, errors


def test_two_builds_of_one_name_at_once_in_threads(tiny_ws):
    tries = 20
    for i in range(tries):
        # the same SQL: one version, and both callers get it
        out, errors = _at_once(build.build, [(tiny_ws, f"same{i}", "SELECT * FROM loans")] * 2)
        assert errors == []
        assert [v.version for v in out] == [1, 1] and sorted(v.unchanged for v in out) == [False, True]
        # different SQL: two whole versions, each holding its own query's rows
        out, errors = _at_once(build.build, [(tiny_ws, f"two{i}", "SELECT id FROM loans WHERE id < 5"),
                                             (tiny_ws, f"two{i}", "SELECT id FROM loans WHERE id >= 5")])
        assert errors == []
        assert sorted(v.version for v in out) == [1, 2]
        for v in datasets.list_datasets(tiny_ws):
            for version in v.versions:
                ids = pq.read_table(version.path)["id"].to_pylist() if version.schema == (("id", "BIGINT"),) else None
                if ids is not None:
                    expected = [i for i in range(1, 13) if (i < 5) == ("id < 5" in version.sql)]
                    assert sorted(ids) == expected and version.rows == len(expected)
    assert all(not p.name.startswith(".") for p in tiny_ws.datasets_dir.rglob("*"))
