"""The SQL boundary: one read-only SELECT (or one expression) decided by DuckDB's parser, run on
a database that reads and writes only inside the workspace, under time and memory limits.

Each attack below got through before the boundary existed (Preview wrapped the text in
``SELECT * FROM (...)``; every query ran on an unrestricted database)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.engine import boundary, connection, cursor, first_line, parse_condition, parse_select, run_select
from workbench.errors import WorkbenchError
from workbench.store import build, views


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if ".workbench/tmp" not in str(p)}


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    """A folder outside the workspace, holding a secret the workspace's SQL must not read."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text("token=abc123\n")
    return folder


@pytest.mark.parametrize("sql", [
    "SELECT 1 AS x", "select * from loans;", "WITH t AS (SELECT 1 AS a) SELECT * FROM t", "FROM loans",
    "VALUES (1, 2)", "  -- a comment\nSELECT 2 /* inline */", "DESCRIBE loans", "SUMMARIZE loans",
    "(SELECT 1) UNION ALL (SELECT 2)",
])
def test_one_select_passes(sql):
    assert parse_select(sql) == sql.strip()


@pytest.mark.parametrize("sql, message", [
    ("", boundary.EMPTY),
    (" ;; ", boundary.EMPTY),
    ("SELECT 1 AS x) ; COPY (SELECT 42) TO 'pwned.csv'; SELECT * FROM (SELECT 1 AS x", "SQL error: Parser Error"),
    ("SELECT 1; SELECT 2", boundary.MANY.format(count=2)),
    ("SELECT 1; COPY (SELECT 1) TO 'x.csv'", boundary.MANY.format(count=2)),
    ("COPY (SELECT 1) TO 'x.csv'", boundary.NOT_SELECT.format(kind="COPY")),
    ("ATTACH 'x.db'", boundary.NOT_SELECT.format(kind="ATTACH")),
    ("SET GLOBAL memory_limit = '1GB'", boundary.NOT_SELECT.format(kind="SET")),
    ("INSTALL httpfs", boundary.NOT_SELECT.format(kind="LOAD")),
    ("CREATE TABLE t AS SELECT 1", boundary.NOT_SELECT.format(kind="CREATE")),
    ("PRAGMA enable_profiling", boundary.NOT_SELECT.format(kind="PRAGMA")),
    ("EXPORT DATABASE 'x'", boundary.NOT_SELECT.format(kind="EXPORT")),
    ("PIVOT loans ON region USING sum(income)", boundary.PIVOT_VALUES),
])
def test_anything_else_is_refused_with_a_message_that_names_it(sql, message):
    with pytest.raises(WorkbenchError) as e:
        parse_select(sql)
    assert str(e.value).startswith(message)


def test_the_preview_injection_writes_nothing(tiny_ws, outside):
    """The text that used to close Preview's wrapper and COPY a file out of the workspace."""
    target = outside / "pwned.csv"
    sql = f"SELECT 1 AS x) ; COPY (SELECT 42) TO '{target}'; SELECT * FROM (SELECT 1 AS x"
    before = _files(tiny_ws.root)
    with pytest.raises(WorkbenchError):
        build.preview(tiny_ws, sql)
    with pytest.raises(WorkbenchError):
        build.build(tiny_ws, "pwned", sql)
    assert not target.exists() and _files(tiny_ws.root) == before


@pytest.mark.parametrize("template", [
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM glob('{folder}/*')",
    "SELECT * FROM read_text('/proc/self/environ')",
    "SELECT * FROM read_text('{root}/../{name}/secret.txt')",
    "SELECT (SELECT count(*) FROM read_text('{secret}')) AS leak FROM loans",
])
def test_files_outside_the_workspace_cannot_be_read(tiny_ws, outside, template):
    sql = template.format(secret=outside / "secret.txt", folder=outside, root=tiny_ws.root, name=outside.name)
    with pytest.raises(WorkbenchError, match="may read only the workspace") as e:
        build.preview(tiny_ws, sql)
    assert "abc123" not in str(e.value)
    with pytest.raises(WorkbenchError, match="may read only the workspace"):
        build.build(tiny_ws, "leak", sql)
    assert not (tiny_ws.datasets_dir / "leak").exists()


def test_files_inside_the_workspace_can_be_read(tiny_ws):
    p = build.preview(tiny_ws, f"SELECT count(*) AS n FROM read_parquet('{tiny_ws.root / 'loans.parquet'}')")
    assert p.rows["n"][0] == 12


def test_settings_are_locked_for_everyone(tiny_ws):
    """SET cannot pass the boundary; and even on a raw cursor of the workspace's database the
    configuration is locked, so no session can change another's limits or open the sandbox."""
    con = cursor(tiny_ws.root)
    for statement in ("SET GLOBAL enable_external_access = true", "SET GLOBAL memory_limit = '100GB'",
                      "SET allowed_directories = ['/']", "SET GLOBAL temp_directory = '/tmp'"):
        with pytest.raises(Exception, match="locked"):
            con.execute(statement)
    assert build.preview(tiny_ws, "SELECT count(*) AS n FROM loans").rows["n"][0] == 12


def test_spill_and_memory_stay_inside_limits(tiny_ws):
    con = cursor(tiny_ws.root)
    temp = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert Path(temp) == tiny_ws.root / ".workbench" / "tmp"  # not the server's working directory


def test_memory_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(connection.MEMORY_VAR, "300MB")
    con = cursor(tmp_path)  # a new folder: a new database, opened with the setting
    shown = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert shown.replace(" ", "") in ("286.1MiB", "300.0MB", "300MB")


def test_default_memory_limit_is_a_share_of_the_machine(monkeypatch):
    monkeypatch.delenv(connection.MEMORY_VAR, raising=False)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mb = int(connection.memory_limit().removesuffix("MB"))
    assert 0.2 * total / 2**20 < mb < 0.3 * total / 2**20  # a quarter for each of two databases


def test_an_endless_query_is_stopped_by_the_time_limit(tiny_ws, monkeypatch):
    monkeypatch.setenv(boundary.SECONDS_VAR, "1")
    endless = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    with pytest.raises(WorkbenchError) as e:
        build.preview(tiny_ws, endless)
    assert str(e.value) == boundary.TIMEOUT.format(seconds=1, var=boundary.SECONDS_VAR)
    # the database is still usable afterwards
    assert build.preview(tiny_ws, "SELECT 1 AS x").row_count == 1


@pytest.mark.parametrize("value", ["5 min", "0", "-3", "nan", "inf"])
def test_a_time_limit_that_is_not_a_positive_number_is_refused(tiny_ws, monkeypatch, value):
    """Before, '5 min' silently meant 300 s, and 0 stopped every query at once."""
    monkeypatch.setenv(boundary.SECONDS_VAR, value)
    with pytest.raises(WorkbenchError) as e:
        build.preview(tiny_ws, "SELECT 1 AS x")
    assert str(e.value) == (f"$WORKBENCH_QUERY_SECONDS is {value!r}, not a number of seconds above 0; set it to "
                            "one (e.g. 300) or unset it for the default, 300 s.")


@pytest.mark.parametrize("value, seconds", [("", 300.0), (" 2.5 ", 2.5), ("60", 60.0)])
def test_the_time_limit_comes_from_the_environment(monkeypatch, value, seconds):
    monkeypatch.setenv(boundary.SECONDS_VAR, value)
    assert boundary.query_seconds() == seconds


def test_a_cross_join_blow_up_is_stopped(tiny_ws, monkeypatch):
    monkeypatch.setenv(boundary.SECONDS_VAR, "1")
    huge = "SELECT count(*) FROM range(100000000) a, range(100000000) b"
    with pytest.raises(WorkbenchError, match="stopped after 1 s"):
        build.build(tiny_ws, "huge", huge)
    assert not (tiny_ws.datasets_dir / "huge").exists()


@pytest.mark.parametrize("where, canonical", [
    ("carrier = 'EV'", "carrier = 'EV'"),
    ("carrier = 'EV' -- a trailing comment", "carrier = 'EV'"),
    ("carrier <> 'a;b'", "carrier <> 'a;b'"),
    ("hour >= 17 AND carrier IN ('EV', 'FL')", "hour >= 17 AND carrier IN ('EV', 'FL')"),
])
def test_a_condition_is_kept_as_duckdb_renders_it(where, canonical):
    """No comment survives, so the condition can stand inside other SQL; rendering is stable."""
    assert parse_condition(where) == canonical == parse_condition(canonical)
    assert parse_select(f"SELECT 1 WHERE ({parse_condition(where)}) AND FALSE")


@pytest.mark.parametrize("where", [
    "", "carrier = 'EV'; DROP TABLE x", "carrier = 'EV' UNION SELECT 1", "a = 1, b = 2", "a = 1) OR (1 = 1",
    "EXISTS (SELECT 1)", "a IN (FROM t)", "a = 1 AND (SELECT true)",
])
def test_a_condition_that_is_not_one_expression_is_refused(where):
    with pytest.raises(WorkbenchError) as e:
        parse_condition(where)
    assert str(e.value).startswith(boundary.CONDITION.split("{")[0])


def test_a_query_opens_only_the_tables_it_reads(tiny_ws):
    """A broken file elsewhere in the workspace does not stop a query that does not read it; one
    that reads it gets a message naming it."""
    (tiny_ws.root / "broken.parquet").write_bytes(b"not parquet")
    assert build.preview(tiny_ws, "SELECT count(*) AS n FROM loans").rows["n"][0] == 12
    con = views.connect(tiny_ws, ["loans"])
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert names == {"loans"}
    with pytest.raises(WorkbenchError, match="Table 'broken' cannot be read"):
        build.preview(tiny_ws, "SELECT * FROM broken")


def test_table_names_ignore_case_and_pivot_with_values_works(tiny_ws):
    """As in DuckDB itself: FROM Loans reads loans.parquet, in a preview and in a build."""
    assert build.preview(tiny_ws, "SELECT count(*) AS n FROM Loans").rows["n"][0] == 12
    v = build.build(tiny_ws, "upper", "SELECT * FROM LOANS WHERE approved")
    assert v.rows == 7 and v.sources[0]["name"] == "loans" and v.sources[0]["kind"] == "table"
    pivot = build.preview(tiny_ws, "PIVOT loans ON approved IN (true, false) USING count(*) GROUP BY region")
    assert pivot.rows.height > 0


@pytest.fixture
def con(tmp_path):
    """A workspace database holding tables adult (age, workclass) and b (age), as views."""
    c = cursor(tmp_path)
    c.execute("CREATE TEMP VIEW adult AS SELECT * FROM (VALUES (39, 'State-gov')) t(age, workclass)")
    c.execute("CREATE TEMP VIEW b AS SELECT * FROM (VALUES (1)) t(age)")
    return c


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM adlt", 'Catalog Error: Table with name adlt does not exist! Did you mean "adult"?'),
    ("SELECT agee FROM adult",
     'Binder Error: Referenced column "agee" not found in FROM clause! Candidate bindings: "age"'),
    ("SELECT age FROM adult JOIN b ON true",
     "Binder Error: Ambiguous reference to column name \"age\" (use: 'adult.age' or 'b.age')"),
    ("SELECT sum(age), workclass FROM adult",
     'Binder Error: column "workclass" must appear in the GROUP BY clause or must be part of an aggregate '
     'function. Either add it to the GROUP BY list, or use ANY_VALUE("workclass") if the exact value of '
     '"workclass" is not important.'),
    ("SELECT strptime('x', '%Y')",
     'Invalid Input Error: Could not parse string "x" according to format specifier "%Y"; Error: Expected a number'),
    ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
])
def test_duckdbs_hints_are_kept_on_one_line(con, sql, message):
    """DuckDB prints its hints on the lines after the first; the echo of the query and the caret
    under it are left out."""
    with pytest.raises(WorkbenchError) as e:
        run_select(con, sql, lambda rel: rel.fetchall())
    assert str(e.value) == boundary.SQL_ERROR.format(detail=message)
    assert "\n" not in str(e.value) and "LINE 1" not in str(e.value) and "^" not in str(e.value)


def test_a_hint_naming_duckdbs_own_catalog_is_left_out(tmp_path):
    """With no table near the name, DuckDB suggests one of its system views ('pg_constraint'),
    which no user meant."""
    with pytest.raises(WorkbenchError) as e:
        run_select(cursor(tmp_path), "SELECT * FROM lons", lambda rel: rel.fetchall())
    assert str(e.value) == "SQL error: Catalog Error: Table with name lons does not exist!"


def test_a_long_list_in_an_error_is_cut_to_its_first_items():
    listed = "".join(f"\n\tf(x TYPE{i}) -> TYPE{i}" for i in range(8))
    error = Exception(f"Binder Error: No function matches. Add explicit casts.\n\tCandidate functions:{listed}"
                      "\n\nLINE 1: SELECT f('a')\n               ^")
    assert first_line(error) == ("Binder Error: No function matches. Add explicit casts. Candidate functions: "
                                 "f(x TYPE0) -> TYPE0; f(x TYPE1) -> TYPE1; f(x TYPE2) -> TYPE2; f(x TYPE3) -> TYPE3; "
                                 "f(x TYPE4) -> TYPE4; (and 3 more)")


def test_no_time_limit_thread_outlives_its_query(tiny_ws):
    """A timer thread holding the connection at interpreter shutdown aborts the process
    (duckdb/duckdb#13904): every one ends with its block."""
    import threading
    from workbench.engine import limits
    con = tiny_ws.cursor()
    for _ in range(50):
        with limits(con):
            con.execute("SELECT 42").fetchall()
        assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]
