"""The engine layer: DuckDB databases (sandboxed per workspace), the one boundary for user SQL,
SQL text helpers and type families. It imports nothing else of the workbench."""
from workbench.engine.boundary import limits, parse_condition, parse_select, run_select
from workbench.engine.connection import cursor
from workbench.engine.sql import fetch_row, first_line, quote, sql_literal
from workbench.engine.types import is_float_type, is_numeric_type, is_ordered_type

__all__ = ["cursor", "fetch_row", "first_line", "is_float_type", "is_numeric_type", "is_ordered_type",
           "limits", "parse_condition", "parse_select", "quote", "run_select", "sql_literal"]
