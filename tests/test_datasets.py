import os

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
