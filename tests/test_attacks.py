"""Every attack of issue 13 on the SQL boundary, each a row, tried through every door a user has:
the Data page's Preview and Save (``build.preview`` / ``build.build``, and the page itself), the
CLI's ``build``, and a slice's condition (``saved.save``, ``save-slice``, ``slices``).

Each row says what must happen: refused with a message that names the reason, or, where that is
right, a harmless success. After every row nothing outside the workspace was read into the
result or written, and a refused build left no dataset.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import threading
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.engine import boundary, cursor
from workbench.errors import WorkbenchError
from workbench.store import build, runs, saved
from workbench.store.workspace import Workspace

SECRET = "token=abc123"
ENV_SECRET = "wb_attack_env_secret_42"
ACCESS = "may read only the workspace"
NOT_SELECT = "Only a read-only SELECT query is accepted"
TIMEOUT = "stopped after 1 s, the time limit"
OK = None  # a harmless success

# {secret}: a file outside the workspace; {out}: its folder; {root}: the workspace
QUERIES = [
    # files and secrets outside the workspace
    ("read_text", "SELECT * FROM read_text('{secret}')", ACCESS),
    ("read_csv", "SELECT * FROM read_csv('{secret}')", ACCESS),
    ("read_csv_auto", "SELECT * FROM read_csv_auto('{secret}')", ACCESS),
    ("read_json", "SELECT * FROM read_json('{secret}')", ACCESS),
    ("read_json_auto", "SELECT * FROM read_json_auto('{secret}')", ACCESS),
    ("read_ndjson_objects", "SELECT * FROM read_ndjson_objects('{secret}')", ACCESS),
    ("read_blob", "SELECT * FROM read_blob('{secret}')", ACCESS),
    ("sniff_csv", "SELECT * FROM sniff_csv('{secret}')", ACCESS),
    ("read_parquet", "SELECT * FROM read_parquet('{out}/o.parquet')", ACCESS),
    ("read_parquet list", "SELECT * FROM read_parquet(['{out}/o.parquet'])", ACCESS),
    ("parquet_scan", "SELECT * FROM parquet_scan('{out}/o.parquet')", ACCESS),
    ("path as table", "SELECT * FROM '{out}/o.parquet'", ACCESS),
    ("query_table", "SELECT * FROM query_table('{out}/o.parquet')", ACCESS),
    ("parquet_metadata", "SELECT * FROM parquet_metadata('{out}/o.parquet')", ACCESS),
    ("glob /etc", "SELECT * FROM glob('/etc/*')", ACCESS),
    ("glob outside", "SELECT * FROM glob('{out}/*')", ACCESS),
    ("environ", "SELECT * FROM read_text('/proc/self/environ')", ACCESS),
    ("dot-dot", "SELECT * FROM read_text('{root}/../{out_name}/secret.txt')", ACCESS),
    ("dot-dot via artifacts", "SELECT * FROM read_text('{root}/.workbench/../../{out_name}/secret.txt')", ACCESS),
    ("sibling prefix", "SELECT * FROM read_text('{root}x/secret.txt')", ACCESS),
    ("home", "SELECT * FROM read_text('~/.bashrc')", ACCESS),
    ("file url", "SELECT * FROM read_text('file:///etc/passwd')", ACCESS),
    ("stdin", "SELECT * FROM read_csv('/dev/stdin')", ACCESS),
    ("https", "SELECT * FROM read_parquet('https://example.com/x.parquet')", ACCESS),
    ("http csv", "SELECT * FROM read_csv('http://example.com/x.csv')", ACCESS),
    ("s3", "SELECT * FROM read_parquet('s3://bucket/x.parquet')", ACCESS),
    ("secrets", "SELECT * FROM duckdb_secrets()", ACCESS),
    ("FROM-first", "FROM read_text('{secret}')", ACCESS),
    ("DESCRIBE", "DESCRIBE SELECT * FROM read_text('{secret}')", ACCESS),
    ("SUMMARIZE", "SUMMARIZE SELECT * FROM read_text('{secret}')", ACCESS),
    ("scalar subquery", "SELECT (SELECT count(*) FROM read_text('{secret}')) AS n FROM loans", ACCESS),
    ("getenv", "SELECT getenv('HOME') AS h", "getenv does not exist"),
    ("query() COPY", "SELECT * FROM query('COPY (SELECT 1) TO ''{out}/q.csv''')", "Expected a single SELECT"),
    # statements that are not a SELECT
    ("COPY", "COPY (SELECT 42) TO '{out}/c.csv'", NOT_SELECT),
    ("ATTACH", "ATTACH '{out}/a.db'", NOT_SELECT),
    ("ATTACH memory", "ATTACH ':memory:' AS m", NOT_SELECT),
    ("DETACH", "DETACH DATABASE memory", NOT_SELECT),
    ("USE", "USE memory", NOT_SELECT),
    ("INSTALL", "INSTALL httpfs", NOT_SELECT),
    ("LOAD", "LOAD httpfs", NOT_SELECT),
    ("SET", "SET memory_limit = '1GB'", NOT_SELECT),
    ("SET GLOBAL access", "SET GLOBAL enable_external_access = false", NOT_SELECT),
    ("SET GLOBAL memory", "SET GLOBAL memory_limit = '10MB'", NOT_SELECT),
    ("RESET", "RESET memory_limit", NOT_SELECT),
    ("PRAGMA", "PRAGMA enable_profiling", NOT_SELECT),
    ("PRAGMA setting", "PRAGMA memory_limit = '1MB'", NOT_SELECT),
    ("CALL", "CALL pragma_version()", NOT_SELECT),
    ("CHECKPOINT", "CHECKPOINT", NOT_SELECT),
    ("VACUUM", "VACUUM", NOT_SELECT),
    ("EXPORT", "EXPORT DATABASE '{out}/exp'", NOT_SELECT),
    ("IMPORT", "IMPORT DATABASE '{out}'", NOT_SELECT),
    ("CREATE SECRET", "CREATE SECRET s (TYPE S3, KEY_ID 'x', SECRET 'y')", NOT_SELECT),
    ("CREATE TABLE", "CREATE TABLE t AS SELECT 1", NOT_SELECT),
    ("EXPLAIN ANALYZE", "EXPLAIN ANALYZE SELECT * FROM loans", NOT_SELECT),
    # smuggling a second statement
    ("Preview's old wrapper", "SELECT 1 AS x) t; COPY (SELECT 42) TO '{out}/p.csv'; SELECT * FROM (SELECT 1 AS x",
     "Parser Error"),
    ("parenthesised then COPY", "(SELECT 1); COPY (SELECT 42) TO '{out}/p2.csv'", "holds 2 statements"),
    ("SELECT then ATTACH", "SELECT 1; ATTACH '{out}/a2.db'", "holds 2 statements"),
    ("COPY in a comment", "SELECT 1 AS x /* ; COPY (SELECT 42) TO '{out}/p3.csv' */", OK),
    ("COPY after --", "SELECT 1 AS x -- ; COPY (SELECT 42) TO '{out}/p4.csv'", OK),
    ("';' in a string", "SELECT * FROM loans WHERE region <> 'a;b'", OK),
    # harmless: settings can be read, not changed; the spill folder is the workspace's own
    ("current_setting", "SELECT current_setting('temp_directory') AS t", OK),
    ("checkpoint()", "SELECT * FROM checkpoint()", OK),
    # no limits
    ("endless recursive CTE", "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
     TIMEOUT),
    ("cross join", "SELECT count(*) FROM range(100000000) a, range(100000000) b", TIMEOUT),
    ("self cross join", "SELECT count(*) FROM loans a, loans b, loans c, loans d, loans e, loans f, loans g, loans h, loans i, loans j",
     TIMEOUT),
    ("huge GROUP BY", "SELECT i % 50000000 AS k, count(*) AS n FROM range(300000000) t(i) GROUP BY 1", TIMEOUT),
]


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    """A folder outside the workspace, holding a secret file and a parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text(SECRET + "\n")
    pq.write_table(pa.table({"leak": [SECRET]}), folder / "o.parquet")
    return folder


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue() + err.getvalue()


def _settings(root: Path) -> tuple:
    con = cursor(root)
    return con.execute("SELECT current_setting('memory_limit'), current_setting('enable_external_access'), "
                       "current_setting('temp_directory')").fetchall()[0]


@pytest.mark.parametrize("name, template, expected", QUERIES, ids=[q[0] for q in QUERIES])
def test_an_attack_through_preview_build_and_the_cli(tiny_ws, outside, monkeypatch, name, template, expected):
    monkeypatch.setenv(boundary.SECONDS_VAR, "1")
    monkeypatch.setenv("WB_ATTACK_TOKEN", ENV_SECRET)
    sql = template.format(secret=outside / "secret.txt", out=outside, out_name=outside.name, root=tiny_ws.root)
    before_out, settings = _listing(outside), _settings(tiny_ws.root)
    if expected is OK:
        shown = build.preview(tiny_ws, sql)
        built = build.build(tiny_ws, "harmless", sql)
        rc, text = _cli("build", "harmless_cli", "--sql", sql, "--workspace", str(tiny_ws.root))
        assert rc == 0, text
        seen = str(shown.rows.to_dicts()) + str(built.path)
        if name == "current_setting":
            assert Path(shown.rows["t"][0]) == tiny_ws.root / ".workbench" / "tmp"
    else:
        with pytest.raises(WorkbenchError) as pv:
            build.preview(tiny_ws, sql)
        with pytest.raises(WorkbenchError) as bd:
            build.build(tiny_ws, "attack", sql)
        rc, text = _cli("build", "attack_cli", "--sql", sql, "--workspace", str(tiny_ws.root))
        assert rc != 0 and "Traceback" not in text
        for message in (str(pv.value), str(bd.value), text):
            assert expected in message and "\n" not in message.strip()
        assert not (tiny_ws.datasets_dir / "attack").exists() and not (tiny_ws.datasets_dir / "attack_cli").exists()
        seen = str(pv.value) + str(bd.value) + text
    assert SECRET not in seen and ENV_SECRET not in seen
    assert _listing(outside) == before_out  # nothing written outside the workspace
    assert _settings(tiny_ws.root) == settings  # nothing changed for anyone else


def test_a_refused_set_leaves_every_session_working(tiny_ws):
    """SET GLOBAL through Preview used to give every other session a PermissionException."""
    for sql in ("SET GLOBAL enable_external_access = false", "SET GLOBAL memory_limit = '10MB'"):
        with pytest.raises(WorkbenchError):
            build.preview(tiny_ws, sql)
        with pytest.raises(Exception, match="locked"):  # not even a raw cursor of ours may change them
            cursor(tiny_ws.root).execute(sql)
    results = []
    threads = [threading.Thread(target=lambda: results.append(build.preview(tiny_ws, "SELECT count(*) AS n FROM loans")
                                                              .rows["n"][0])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [12] * 4 and build.build(tiny_ws, "after", "SELECT * FROM loans").rows == 12


def test_a_query_over_the_memory_limit_ends_in_a_message(tmp_path, monkeypatch):
    """A query that needs more than the limit ends in a message (or spills inside the workspace),
    never in a file outside it."""
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "64MB")
    monkeypatch.setenv(boundary.SECONDS_VAR, "20")
    ws = Workspace.open(tmp_path / "ws")  # a new folder: a database opened with this limit
    with pytest.raises(WorkbenchError) as e:
        build.preview(ws, "SELECT list(i) AS l FROM range(60000000) t(i)")
    assert str(e.value).startswith("The query needs more memory than the workbench allows DuckDB")
    assert "$WORKBENCH_MEMORY_LIMIT" in str(e.value)
    assert build.preview(ws, "SELECT 1 AS x").row_count == 1


def test_a_runaway_query_does_not_block_another_session(tiny_ws, monkeypatch):
    """One session's endless query runs to its time limit while another's small query on the same
    workspace completes meanwhile, and the runaway one ends in the time-limit message."""
    monkeypatch.setenv(boundary.SECONDS_VAR, "3")
    started, outcome = threading.Event(), {}

    def runaway():
        started.set()
        try:
            build.preview(tiny_ws, "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
                                   "SELECT count(*) FROM r")
        except WorkbenchError as e:
            outcome["runaway"] = str(e)

    thread = threading.Thread(target=runaway)
    thread.start()
    started.wait()
    small = build.preview(tiny_ws, "SELECT count(*) AS n FROM loans WHERE approved")
    outcome["small_done_first"] = thread.is_alive()  # the small one did not wait for the runaway one
    thread.join(timeout=60)
    assert small.rows["n"][0] == 7
    assert outcome["small_done_first"]
    assert outcome["runaway"] == boundary.TIMEOUT.format(seconds=3, var=boundary.SECONDS_VAR)


# ---- a slice's condition: save-slice, slices, saved.save ----

CONDITION = "A slice's condition must be one SQL expression"
SUBQUERY = "it reads a table (a subquery)"
CONDITIONS = [
    ("trailing --", "c0 = 'a' --", "c0 = 'a'"),
    ("trailing comment", "c0 = 'a' -- the planted column", "c0 = 'a'"),
    ("block comment", "c0 = 'a' /* ; DROP */", "c0 = 'a'"),
    ("';' in a string", "c0 <> 'a;b'", "c0 <> 'a;b'"),
    ("UNION", "c0 = 'a' UNION SELECT 1", CONDITION),
    ("closing parenthesis", "x0 > 0) OR (1 = 1", CONDITION),
    ("second statement", "x0 > 0; COPY (SELECT 1) TO '{out}/w.csv'", CONDITION),
    ("ORDER BY", "x0 > 0 ORDER BY 1", CONDITION),
    ("LIMIT", "x0 > 0 LIMIT 1", CONDITION),
    ("two expressions", "x0 > 0, x1 > 0", CONDITION),
    ("file oracle outside", "EXISTS (SELECT 1 FROM read_text('{secret}') WHERE content LIKE 'token%')", SUBQUERY),
    ("file oracle inside", "EXISTS (SELECT 1 FROM read_parquet('{root}/source.parquet') WHERE x0 > 0)", SUBQUERY),
    ("FROM-first subquery", "EXISTS (FROM read_parquet('{root}/source.parquet'))", SUBQUERY),
    ("IN subquery", "x0 IN (SELECT 1)", SUBQUERY),
    ("endless scalar subquery", "(SELECT count(*) FROM range(100000000000)) > 0", SUBQUERY),
    ("subquery in a lambda", "list_filter([1], v -> v > (SELECT 0))[1] = 1 AND x0 > 0", SUBQUERY),
    ("getenv", "getenv('HOME') IS NOT NULL", "getenv does not exist"),
]


@pytest.fixture(scope="module")
def slice_ws(trained, tmp_path_factory):
    """A copy of the binary run's workspace for this module's slices."""
    ws, run = trained["binary"]
    root = tmp_path_factory.mktemp("attacks") / "ws"
    shutil.copytree(ws.root, root)
    copy = Workspace.open(root)
    return copy, runs.load_run(copy, run.run_id)


@pytest.mark.parametrize("name, template, expected", CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_an_attack_through_a_slices_condition(slice_ws, outside, monkeypatch, name, template, expected):
    monkeypatch.setenv(boundary.SECONDS_VAR, "2")
    ws, run = slice_ws
    where = template.format(secret=outside / "secret.txt", out=outside, root=ws.root)
    key = "".join(ch if ch.isalnum() else "_" for ch in name)
    before_out = _listing(outside)
    rc, text = _cli("save-slice", f"cli_{key}", "--run", run.run_id, "--where", where, "--workspace", str(ws.root))
    assert "Traceback" not in text
    if expected.startswith((CONDITION, SUBQUERY, "getenv")):
        with pytest.raises(WorkbenchError) as e:
            saved.save(ws, f"core_{key}", where, run=run)
        assert expected in str(e.value) and expected in text and rc != 0
        assert not (ws.slices_dir / f"core_{key}.json").exists() and not (ws.slices_dir / f"cli_{key}.json").exists()
        assert SECRET not in str(e.value) + text
    else:
        kept = saved.save(ws, f"core_{key}", where, run=run)
        assert rc == 0 and kept.where == expected
        # the saved condition works in a later breakdown, through the CLI too
        rc, text = _cli("slices", run.run_id, "--by", f"slice:core_{key}", "--json", "--workspace",
                        str(ws.root))
        assert rc == 0, text
        rows = json.loads(text)["slices"]
        assert sum(r["n"] for r in rows) == run.record.split.n_holdout
    assert _listing(outside) == before_out


def test_a_hand_edited_slice_file_breaks_no_breakdown(slice_ws):
    """A condition written into the file by hand (a UNION, a subquery) is not offered, and the
    breakdowns that do not use it keep working."""
    ws, run = slice_ws
    ws.slices_dir.mkdir(parents=True, exist_ok=True)
    for name, where in (("hand_union", "c0 = 'a' UNION SELECT 1"), ("hand_sub", "x0 IN (SELECT 1)"),
                        ("hand_comment", "c0 = 'a' --")):
        (ws.slices_dir / f"{name}.json").write_text(json.dumps(
            {"name": name, "where": where, "predicate": where, "run_id": run.run_id, "created": "2026-01-01"}))
    offered = saved.applicable(ws, run)
    assert "slice:hand_union" not in offered and "slice:hand_sub" not in offered
    assert offered["slice:hand_comment"] == "c0 = 'a'"
    rc, text = _cli("slices", run.run_id, "--by", "slice:hand_union", "--workspace", str(ws.root))
    assert rc != 0 and "Traceback" not in text and "slice:hand_union" in text
    rc, text = _cli("slices", run.run_id, "--by", "c0", "--workspace", str(ws.root))
    assert rc == 0, text


# ---- the app's boxes: Preview and Save on the Data page ----

@pytest.mark.parametrize("template, button", [
    ("SELECT 1 AS x) t; COPY (SELECT 42) TO '{out}/page.csv'; SELECT * FROM (SELECT 1 AS x", 0),
    ("SELECT 1 AS x) t; COPY (SELECT 42) TO '{out}/page.csv'; SELECT * FROM (SELECT 1 AS x", 1),
    ("SELECT * FROM read_text('{secret}')", 0),
    ("SELECT * FROM read_text('{secret}')", 1),
    ("ATTACH '{out}/page.db'", 0),
    ("SET GLOBAL enable_external_access = false", 0),
], ids=["inject-preview", "inject-save", "read-preview", "read-save", "attach-preview", "set-global-preview"])
def test_an_attack_through_the_data_page(tiny_ws, outside, monkeypatch, template, button):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tiny_ws.root))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "data.py"), default_timeout=120).run()
    at.text_area(key="sql").set_value(template.format(out=outside, secret=outside / "secret.txt"))
    at.text_input(key="dataset_name").set_value("from_page")
    at.button[button].click().run()
    assert not at.exception
    assert at.error and SECRET not in at.error[0].value
    assert not [c for c in at.caption if "Nothing was written" in c.value]
    assert _listing(outside) == {"secret.txt", "o.parquet"}
    assert not (tiny_ws.datasets_dir / "from_page").exists()
    # the page still works for the next query
    at.text_area(key="sql").set_value("SELECT count(*) AS n FROM loans")
    at.button[0].click().run()
    assert not at.exception and [c for c in at.caption if "Nothing was written" in c.value]
