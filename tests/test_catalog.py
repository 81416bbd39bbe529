import pytest

from workbench import WorkbenchError
from workbench.store import build, catalog, views


def test_files_and_hive_folders_become_tables(tiny_ws):
    cat = catalog.scan(tiny_ws)
    tables = {t.name: t for t in cat.tables}
    assert set(tables) == {"loans", "events"} and not cat.problems
    assert tables["loans"].rows == 12 and tables["loans"].kind == "file"
    assert [(c.name, c.type) for c in tables["loans"].columns] == [
        ("id", "BIGINT"), ("region", "VARCHAR"), ("income", "DOUBLE"), ("approved", "BOOLEAN")]
    assert tables["events"].rows == 5 and tables["events"].kind == "folder"
    assert [c.name for c in tables["events"].columns] == ["id", "kind", "year"]
    assert len(tables["events"].files) == 2


def test_views_read_partitions_as_columns(tiny_ws):
    con = views.connect(tiny_ws)
    assert con.execute("SELECT year, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall() == [(2023, 3), (2024, 2)]


def test_artifacts_are_never_sources(tiny_ws):
    build.build(tiny_ws, "north", "SELECT * FROM loans WHERE region = 'north'")
    assert {t.name for t in catalog.scan(tiny_ws).tables} == {"loans", "events"}


def test_unreadable_parquet_is_reported_not_fatal(tiny_ws):
    (tiny_ws.root / "broken.parquet").write_bytes(b"not parquet at all")
    cat = catalog.scan(tiny_ws)
    assert {t.name for t in cat.tables} == {"loans", "events"}
    assert [p.location for p in cat.problems] == ["broken.parquet"]
    with pytest.raises(WorkbenchError, match="Cannot read 'broken.parquet'"):
        cat.raise_problems()
    with pytest.raises(WorkbenchError, match="Table 'broken' cannot be read"):
        cat.table("broken")


def test_unknown_table_names_the_known_ones(tiny_ws):
    with pytest.raises(WorkbenchError, match="Unknown table 'nope'; tables in the workspace: loans, events|events, loans"):
        catalog.scan(tiny_ws).table("nope")


def test_a_source_added_under_a_datasets_name_is_reported_not_silently_shadowed(tiny_ws):
    import shutil
    v = build.build(tiny_ws, "approved", "SELECT * FROM loans WHERE approved")
    shutil.copy(tiny_ws.root / "loans.parquet", tiny_ws.root / "approved.parquet")  # 12 rows, not 7
    cat = catalog.scan(tiny_ws)
    assert "approved" not in [t.name for t in cat.tables]
    [problem] = cat.problems
    assert problem.location == "approved.parquet" and "a dataset is also named 'approved'" in problem.message
    with pytest.raises(WorkbenchError, match="a dataset is also named 'approved'"):
        cat.raise_problems()
    # the name in SQL still means the dataset, as it did before the file appeared
    assert build.preview(tiny_ws, "SELECT count(*) AS n FROM approved").rows["n"][0] == v.rows == 7
    later = build.build(tiny_ws, "later", "SELECT * FROM approved")
    assert later.sources[0]["kind"] == "dataset" and later.rows == 7
