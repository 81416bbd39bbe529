import re

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


def _truncated(ws):
    good = (ws.root / "loans.parquet").read_bytes()
    (ws.root / "truncated.parquet").write_bytes(good[: len(good) // 2])


def _zero(ws):
    (ws.root / "zero.parquet").write_bytes(b"")


def _garbage(ws):
    (ws.root / "garbage.parquet").write_bytes(b"PAR1 not a parquet file PAR1")


def _dangling(ws):
    (ws.root / "dangling.parquet").symlink_to(ws.root / "gone" / "x.parquet")


def _bad_member(ws):
    import shutil
    (ws.root / "mixed").mkdir()
    shutil.copy(ws.root / "loans.parquet", ws.root / "mixed" / "a.parquet")
    (ws.root / "mixed" / "b.parquet").write_bytes(b"junk")


def _markdown_name(ws):
    (ws.root / "![x](http:__h_i.png) :red[y].parquet").write_bytes(b"junk")


BAD_FILES = [  # (how the bad source is made, its location, its table name, words of its problem)
    (_truncated, "truncated.parquet", "truncated", "No magic bytes"),
    (_zero, "zero.parquet", "zero", "too small to be a Parquet file"),
    (_garbage, "garbage.parquet", "garbage", "Footer length error"),
    (_dangling, "dangling.parquet", "dangling", "No such file or directory"),
    (_bad_member, "mixed", "mixed", "b.parquet' too small to be a Parquet file"),
    (_markdown_name, "![x](http:__h_i.png) :red[y].parquet", "![x](http:__h_i.png) :red[y]", "too small"),
]


@pytest.mark.parametrize("make, location, name, words", BAD_FILES, ids=[b[2] for b in BAD_FILES])
def test_one_bad_file_degrades_and_never_blocks(tiny_ws, make, location, name, words):
    """The bad source is listed with its problem; every other table is listed and works."""
    make(tiny_ws)
    cat = catalog.scan(tiny_ws)
    assert {t.name for t in cat.tables} == {"loans", "events"}
    [problem] = cat.problems
    assert problem.location == location and words in problem.message and "\n" not in problem.message
    assert cat.to_dict()["problems"] == [{"location": location, "message": problem.message}]
    assert build.preview(tiny_ws, "SELECT count(*) AS n FROM loans JOIN events USING (id)").row_count == 1
    assert build.build(tiny_ws, "still_works", "SELECT * FROM loans").rows == 12
    assert len(views.connect(tiny_ws).execute("SELECT * FROM loans").fetchall()) == 12
    with pytest.raises(WorkbenchError, match=re.escape(f"Table {name!r} cannot be read")):
        build.preview(tiny_ws, f'SELECT * FROM "{name}"')


def test_an_unreadable_file_degrades(tiny_ws):
    import os
    if os.geteuid() == 0:
        pytest.skip("running as root, chmod 000 does not stop reading, so there is no unreadable file to list")
    (tiny_ws.root / "locked.parquet").write_bytes((tiny_ws.root / "loans.parquet").read_bytes())
    (tiny_ws.root / "locked.parquet").chmod(0)
    try:
        cat = catalog.scan(tiny_ws)
        assert {t.name for t in cat.tables} == {"loans", "events"}
        assert [p.location for p in cat.problems] == ["locked.parquet"]
        assert "Permission denied" in cat.problems[0].message
        assert build.preview(tiny_ws, "SELECT count(*) AS n FROM loans").rows["n"][0] == 12
    finally:
        (tiny_ws.root / "locked.parquet").chmod(0o644)


def test_a_file_that_vanishes_while_listed_degrades(tiny_ws, monkeypatch):
    """Removed between the folder listing and the read: a problem, not a crash."""
    real = catalog.candidates

    def listed_then_removed(ws):
        out = real(ws)
        (ws.root / "loans.parquet").unlink()
        return out
    monkeypatch.setattr(catalog, "candidates", listed_then_removed)
    cat = catalog.scan(tiny_ws)
    assert [t.name for t in cat.tables] == ["events"]
    assert [p.location for p in cat.problems] == ["loans.parquet"]
    assert "No such file or directory" in cat.problems[0].message


def test_a_pipe_named_like_parquet_in_a_folder_is_not_read(tiny_ws):
    """Reading a pipe would wait forever: only regular files are a folder's parquet files."""
    import os
    (tiny_ws.root / "events" / "year=2025").mkdir()
    os.mkfifo(tiny_ws.root / "events" / "year=2025" / "pipe.parquet")
    cat = catalog.scan(tiny_ws)
    assert {t.name: t.rows for t in cat.tables} == {"loans": 12, "events": 5} and not cat.problems


def test_tables_on_the_cli_lists_a_bad_file_and_the_good_tables(tiny_ws):
    import contextlib
    import io
    import json
    from workbench.cli.main import main
    _truncated(tiny_ws)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["tables", "--json", "--workspace", str(tiny_ws.root)])
    assert rc == 0
    shown = json.loads(out.getvalue())
    assert {t["name"] for t in shown["tables"]} == {"loans", "events"}
    assert [p["location"] for p in shown["problems"]] == ["truncated.parquet"]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert main(["tables", "--workspace", str(tiny_ws.root)]) == 0
    assert "cannot be read" in text.getvalue() and "truncated.parquet" in text.getvalue()
    assert "loans" in text.getvalue()


def test_the_data_page_lists_a_bad_file_as_text_and_the_other_tables_work(tiny_ws, monkeypatch):
    from pathlib import Path
    from streamlit.testing.v1 import AppTest
    _markdown_name(tiny_ws)
    _truncated(tiny_ws)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tiny_ws.root))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "data.py"), default_timeout=120).run()
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == [
        "2 source(s) cannot be read and are left out; the other tables work. Fix or remove these files:"]
    listing = at.dataframe[0].value
    assert list(listing["file"]) == ["![x](http:__h_i.png) :red[y].parquet", "truncated.parquet"]  # as text
    assert "No magic bytes" in listing["problem"][1]
    assert sorted(e.label.split(" · ")[0] for e in at.expander if "rows" in e.label and "columns" in e.label) == [
        "**events**", "**loans**"]
    at.text_area(key="sql").set_value("SELECT count(*) AS n FROM loans")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert [c for c in at.caption if c.value.startswith("1 rows; first 1 shown. Nothing was written.")]
