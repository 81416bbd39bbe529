"""The one door for SQL a user writes: a dataset's query, a preview, a slice's condition.

What passes is decided by DuckDB's own parser, never by pattern matching or by wrapping the
text in more SQL: a query must be exactly one read-only ``SELECT`` statement (``WITH``,
``FROM``-first, ``VALUES``, ``DESCRIBE`` and ``SUMMARIZE`` are SELECTs too); a condition must be
exactly one expression, and is kept in DuckDB's own rendering of it, so a trailing comment
or a stray parenthesis cannot reach into the SQL it is placed in. Both run on a workspace's
sandboxed database (:mod:`workbench.engine.connection`), under a time limit, and every engine
error comes back as one :class:`~workbench.errors.WorkbenchError` line that says what to do.
"""
from __future__ import annotations

import json
import math
import os
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import duckdb

from workbench.engine.sql import first_line
from workbench.errors import WorkbenchError

T = TypeVar("T")
SECONDS_VAR = "WORKBENCH_QUERY_SECONDS"
DEFAULT_SECONDS = 300.0

EMPTY = "The SQL is empty: write one SELECT query over the workspace's tables."
MANY = ("The SQL holds {count} statements; write exactly one SELECT query (a ';' ends a "
        "statement).")
NOT_SELECT = ("Only a read-only SELECT query is accepted; this is a {kind} statement. The "
              "workbench writes datasets itself: write the SELECT whose rows you want.")
PIVOT_VALUES = ("A PIVOT without an IN list runs as several statements (DuckDB first looks up the "
                "values); name them instead, e.g. PIVOT t ON col IN ('a', 'b') USING sum(x).")
SQL_ERROR = "SQL error: {detail}"
CONDITION = ("A slice's condition must be one SQL expression over the holdout's columns, such as "
             "carrier = 'EV' AND hour >= 17: {detail}")
TIMEOUT = ("The query was stopped after {seconds:g} s, the time limit; narrow it (a WHERE, a "
           "LIMIT, fewer joins) or raise ${var}.")
MEMORY = ("The query needs more memory than the workbench allows DuckDB; narrow it, or raise "
          "$WORKBENCH_MEMORY_LIMIT. ({detail})")
ACCESS = ("The query may read only the workspace's own tables and files; {detail}")
SUBQUERY = ("it reads a table (a subquery); a condition may use only the holdout's own columns, so "
            "that it cannot look into other files.")
BAD_SECONDS = ("${var} is {value!r}, not a number of seconds above 0; set it to one (e.g. 300) or unset it "
               "for the default, {default:g} s.")


def query_seconds() -> float:
    """The time limit of one user query: ``$WORKBENCH_QUERY_SECONDS``, else 300 s. A value that is
    not a positive number is refused, not replaced by the default unseen."""
    text = os.environ.get(SECONDS_VAR, "").strip()
    if not text:
        return DEFAULT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise WorkbenchError(BAD_SECONDS.format(var=SECONDS_VAR, value=text, default=DEFAULT_SECONDS))
    return seconds


def parse_select(sql: str) -> str:
    """``sql`` if it is exactly one read-only SELECT statement, else a WorkbenchError naming what
    was refused."""
    text = (sql or "").strip()
    if not text.rstrip(";").strip():
        raise WorkbenchError(EMPTY)
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as e:
        raise WorkbenchError(SQL_ERROR.format(detail=first_line(e))) from None
    if len(statements) != 1:
        raise WorkbenchError(MANY.format(count=len(statements)))
    kind = statements[0].type
    if kind == duckdb.StatementType.MULTI and text.lstrip("( \n\t").upper().startswith("PIVOT"):
        raise WorkbenchError(PIVOT_VALUES)
    if kind != duckdb.StatementType.SELECT:
        raise WorkbenchError(NOT_SELECT.format(kind=kind.name))
    return text


def parse_condition(where: str) -> str:
    """DuckDB's rendering of ``where`` if it is exactly one SQL expression that reads no table,
    else a WorkbenchError.

    The rendering has no comments and balanced parentheses, so it can stand inside other SQL. A
    subquery is refused: a slice's condition is about the holdout's rows, and one that reads a
    file (``EXISTS (SELECT ... FROM read_parquet(...) WHERE ...)``) would answer yes or no about
    that file's contents."""
    text = (where or "").strip()
    if not text:
        raise WorkbenchError(CONDITION.format(detail="it is empty."))
    try:
        rendered = str(duckdb.SQLExpression(text))
    except (duckdb.Error, ValueError, TypeError) as e:
        raise WorkbenchError(CONDITION.format(detail=first_line(e))) from None
    if _has_subquery(rendered):
        raise WorkbenchError(CONDITION.format(detail=SUBQUERY))
    return rendered


_parser: duckdb.DuckDBPyConnection | None = None
_parser_lock = threading.Lock()


def _has_subquery(expression: str) -> bool:
    """Whether DuckDB's parse tree of ``expression`` holds a subquery (nothing is bound or run)."""
    global _parser
    with _parser_lock:
        if _parser is None:  # an empty database that only parses: no files, no settings to change
            _parser = duckdb.connect(config={"enable_external_access": False, "lock_configuration": True})
        con = _parser.cursor()
    tree = json.loads(con.execute("SELECT json_serialize_sql($1)", [f"SELECT 1 WHERE {expression}"]).fetchone()[0])
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class") == "SUBQUERY":
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return bool(tree.get("error"))  # cannot happen for a rendered expression; refuse rather than guess


@contextmanager
def limits(con: duckdb.DuckDBPyConnection, *, seconds: float | None = None) -> Iterator[None]:
    """Run the block under a time limit (DuckDB's ``interrupt()`` from a timer), and turn engine
    errors into one-line WorkbenchErrors."""
    seconds = query_seconds() if seconds is None else seconds
    timer = threading.Timer(seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException:
        raise WorkbenchError(TIMEOUT.format(seconds=seconds, var=SECONDS_VAR)) from None
    except duckdb.OutOfMemoryException as e:
        raise WorkbenchError(MEMORY.format(detail=first_line(e))) from None
    except duckdb.PermissionException as e:
        raise WorkbenchError(ACCESS.format(detail=first_line(e).removeprefix("Permission Error: "))) from None
    except duckdb.Error as e:
        raise WorkbenchError(SQL_ERROR.format(detail=first_line(e))) from None
    finally:
        # wait for the timer's thread to end: a thread still holding the connection when Python
        # shuts down aborts the process (duckdb/duckdb#13904), which ended a CLI command with
        # "terminate called ... exception not rethrown" after its work was done
        timer.cancel()
        timer.join()


def run_select(con: duckdb.DuckDBPyConnection, sql: str, use: Callable[[duckdb.DuckDBPyRelation], T], *,
               seconds: float | None = None) -> T:
    """Check ``sql`` (:func:`parse_select`), then hand its relation to ``use`` under the limits.

    ``use`` decides what is done with the rows (the first hundred, a count, a parquet file), so
    nothing is ever spliced around the user's text.

    >>> run_select(con, "SELECT 42 AS x", lambda rel: rel.fetchall())  # doctest: +SKIP
    [(42,)]
    """
    text = parse_select(sql)
    with limits(con, seconds=seconds):
        return use(con.sql(text))
