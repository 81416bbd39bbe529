"""Column profiles of a table or dataset, computed in DuckDB in two scans."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from workbench.catalog import is_numeric_type, is_ordered_type
from workbench.workspace import Workspace, WorkbenchError, quote, sql_literal



@dataclass(frozen=True)
class Profile:
    """One row per column: name, type, null_share, distinct, min, max, mean, top_values."""

    relation: str
    rows: int
    columns: pl.DataFrame

    def to_dict(self) -> dict:
        return {"relation": self.relation, "rows": self.rows, "columns": self.columns.to_dicts()}


def profile(ws: Workspace, relation: str, *, top: int = 5) -> Profile:
    """Profile every column of a source table or dataset (its latest version).

    Min and max are given for ordered types, the mean for numeric ones, and the ``top`` most
    frequent values (as text, with counts) for every column.
    """
    con = ws.connect()
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if relation not in views:
        known = ", ".join(sorted(views)) or "none"
        raise WorkbenchError(f"Unknown table or dataset {relation!r}; known: {known}.")
    rel = quote(relation)
    schema = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    parts = ["count(*)"]
    for name, type_, *_ in schema:
        c = quote(name)
        parts += [f"count({c})", f"count(DISTINCT {c})",
                  f"CAST(min({c}) AS VARCHAR)" if is_ordered_type(type_) else "NULL",
                  f"CAST(max({c}) AS VARCHAR)" if is_ordered_type(type_) else "NULL",
                  f"avg({c})::DOUBLE" if is_numeric_type(type_) else "NULL"]
    try:
        stats = con.execute(f"SELECT {', '.join(parts)} FROM {rel}").fetchall()[0]
        tops = _top_values(con, rel, [s[0] for s in schema], top)
    except duckdb.Error as e:
        raise WorkbenchError(f"Cannot profile {relation!r}: {str(e).splitlines()[0]}") from None
    rows = int(stats[0])
    records = []
    for i, (name, type_, *_) in enumerate(schema):
        non_null, distinct, lo, hi, mean = stats[1 + 5 * i: 6 + 5 * i]
        records.append({"name": name, "type": type_,
                        "null_share": (rows - non_null) / rows if rows else 0.0,
                        "distinct": int(distinct), "min": lo, "max": hi, "mean": mean,
                        "top_values": tops.get(name, [])})
    schema_pl = {"name": pl.String, "type": pl.String, "null_share": pl.Float64,
                 "distinct": pl.Int64, "min": pl.String, "max": pl.String, "mean": pl.Float64,
                 "top_values": pl.List(pl.Struct({"value": pl.String, "count": pl.Int64}))}
    return Profile(relation, rows, pl.DataFrame(records, schema=schema_pl))


def _top_values(con: duckdb.DuckDBPyConnection, rel: str, columns: list[str], top: int) -> dict:
    """The most frequent values of each column, in one statement."""
    if not columns:
        return {}
    unions = " UNION ALL ".join(
        f"SELECT {sql_literal(c)} AS col, CAST({quote(c)} AS VARCHAR) AS value, count(*) AS n "
        f"FROM {rel} GROUP BY ALL" for c in columns)
    rows = con.execute(
        f"SELECT col, value, n FROM ({unions}) "
        f"QUALIFY row_number() OVER (PARTITION BY col ORDER BY n DESC, value) <= {int(top)}"
    ).fetchall()
    out: dict[str, list] = {}
    for col, value, n in rows:
        out.setdefault(col, []).append({"value": value, "count": int(n)})
    for v in out.values():
        v.sort(key=lambda r: -r["count"])
    return out
