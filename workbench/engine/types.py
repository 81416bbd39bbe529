"""DuckDB type families: the one place that says which column types are numbers or ordered."""
from __future__ import annotations

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_FLOAT = ("FLOAT", "DOUBLE", "REAL")
_TEMPORAL = ("DATE", "TIMESTAMP", "TIME")


def is_numeric_type(duckdb_type: str) -> bool:
    """Whether a DuckDB column type holds numbers (``DECIMAL(18,3)`` included)."""
    return duckdb_type.upper().split("(")[0] in _NUMERIC


def is_float_type(duckdb_type: str) -> bool:
    """Whether a column can hold NaN (FLOAT and DOUBLE)."""
    return duckdb_type.upper() in _FLOAT


def is_ordered_type(duckdb_type: str) -> bool:
    """Numbers, dates, times and timestamps: types with a min, a max and quantiles."""
    return is_numeric_type(duckdb_type) or duckdb_type.upper().startswith(_TEMPORAL)
