"""Writing SQL text from names and values the workbench holds (never from user text)."""
from __future__ import annotations

import math
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


def first_line(error: BaseException) -> str:
    """The first line of an engine error, for a one-line message."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
