"""Writing SQL text from names and values the workbench holds (never from user text)."""
from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

import duckdb


_NOT_FINITE = {"nan": "'NaN'::DOUBLE", "inf": "'Infinity'::DOUBLE", "-inf": "'-Infinity'::DOUBLE"}


def quote(identifier: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """Render a Python scalar as a DuckDB literal (NaN and infinities as DOUBLE values, not
    the bare words ``nan`` and ``inf``, which DuckDB would read as column names)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and not math.isfinite(value):
        return _NOT_FINITE[repr(value)]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The first row of a query, with the result fully consumed (DuckDB 2 requires it)."""
    rows = con.execute(sql).fetchall()
    return rows[0] if rows else ()


_SOURCE_LINE = re.compile(r"LINE \d+:")  # DuckDB's echo of the query, with a caret line below
_CARET = re.compile(r"\s*\^+\s*")
# DuckDB suggests the nearest name in its whole catalog; where that is one of its own system views
# (a query may see only some of the workspace's tables), the hint would mislead, so it is left out
_SYSTEM_HINT = re.compile(r'Did you mean "(pg_|pragma_|duckdb_|sqlite_|information_schema)[^"]*"\?')
MAX_LISTED = 5  # of a list DuckDB gives (candidate functions, say), the first five, then a count


def first_line(error: BaseException) -> str:
    """An engine error as one line, its hints kept: DuckDB puts ``Did you mean "adult"?`` and
    ``Candidate bindings: ...`` on the lines after the first. Those are joined on; the echo of the
    query and the caret under it (``LINE 1: ...`` / ``^^^``) are dropped, and of a list (candidate
    functions, say) the first few items are kept, then a count of the rest."""
    lines = str(error).strip().splitlines()
    kept: list[str] = []
    listed = 0
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not line.strip() or _CARET.fullmatch(line) or _SOURCE_LINE.match(line) or _CARET.fullmatch(following):
            continue  # blank, a caret, or the text a caret points into
        if _SYSTEM_HINT.fullmatch(line.strip()):
            continue
        if line.startswith(("\t", "  ")) and not line.endswith(":"):  # an item of a list
            listed += 1
            if listed > MAX_LISTED:
                continue
        kept.append(line.strip())
    if listed > MAX_LISTED:
        kept.append(f"(and {listed - MAX_LISTED} more)")
    if not kept:
        return type(error).__name__
    text = kept[0]
    for line in kept[1:]:  # a sentence's end is followed by a space, anything else by '; '
        text += (" " if text[-1] in ".!?:" else "; ") + line
    return text
