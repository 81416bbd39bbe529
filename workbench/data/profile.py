"""Column profiles of a table or dataset, computed in DuckDB.

Three statements: one scan for counts, min, max, mean and an approximate distinct count
(HyperLogLog); one for the exact distinct count of the columns where that is cheap; one for
the most frequent values of every column. Grouping on the raw values, not their text, and
counting high-cardinality columns approximately is what keeps a 1M-row profile near a second
(casting a million floats to text to group them took ten seconds).
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from workbench.engine import first_line, is_numeric_type, is_ordered_type, quote, sql_literal
from workbench.errors import WorkbenchError
from workbench.store import catalog, views
from workbench.store.datasets import latest_paths
from workbench.store.workspace import Workspace

# columns with up to this many distinct values (by the estimate) are counted exactly; beyond
# it an exact count needs a hash table of every value, and the estimate is within a few percent
EXACT_DISTINCT_UP_TO = 100_000
_NESTED = ("STRUCT", "MAP", "UNION")  # grouped by their text


@dataclass(frozen=True)
class Profile:
    """One row per column: name, type, null_share, distinct, distinct_exact, min, max, mean,
    top_values. ``distinct`` counts non-null values; it is an estimate where ``distinct_exact``
    is false."""

    relation: str
    rows: int
    columns: pl.DataFrame

    def to_dict(self) -> dict:
        return {"relation": self.relation, "rows": self.rows, "columns": self.columns.to_dicts()}


def profile(ws: Workspace, relation: str, *, top: int = 5) -> Profile:
    """Profile every column of a source table or dataset (its latest version).

    Min and max are given for ordered types, the mean for numeric ones, and the ``top`` most
    frequent values (as text, with counts; null included) for every column.
    """
    con = views.connect(ws, [relation])
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if relation not in names:
        known = ", ".join(sorted({*catalog.source_expressions(ws), *latest_paths(ws)})) or "none"
        raise WorkbenchError(f"Unknown table or dataset {relation!r}; known: {known}.")
    rel = quote(relation)
    schema = [(name, type_) for name, type_, *_ in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
    parts = ["count(*)"]
    for name, type_ in schema:
        c = quote(name)
        parts += [f"count({c})", f"approx_count_distinct({c})",
                  f"CAST(min({c}) AS VARCHAR)" if is_ordered_type(type_) else "NULL",
                  f"CAST(max({c}) AS VARCHAR)" if is_ordered_type(type_) else "NULL",
                  f"avg({c})::DOUBLE" if is_numeric_type(type_) else "NULL"]
    try:
        stats = con.execute(f"SELECT {', '.join(parts)} FROM {rel}").fetchall()[0]
        estimated = {name: stats[2 + 5 * i] for i, (name, _) in enumerate(schema)}
        exact = _exact_distinct(con, rel, [n for n, d in estimated.items() if d <= EXACT_DISTINCT_UP_TO])
        tops = _top_values(con, rel, schema, top)
    except duckdb.Error as e:
        raise WorkbenchError(f"Cannot profile {relation!r}: {first_line(e)}") from None
    rows = int(stats[0])
    records = []
    for i, (name, type_) in enumerate(schema):
        non_null, _, lo, hi, mean = stats[1 + 5 * i: 6 + 5 * i]
        records.append({"name": name, "type": type_,
                        "null_share": (rows - non_null) / rows if rows else 0.0,
                        # the estimate can overshoot; there are never more distinct values than values
                        "distinct": int(exact.get(name, min(estimated[name], non_null))),
                        "distinct_exact": name in exact,
                        "min": lo, "max": hi, "mean": mean, "top_values": tops.get(name, [])})
    schema_pl = {"name": pl.String, "type": pl.String, "null_share": pl.Float64,
                 "distinct": pl.Int64, "distinct_exact": pl.Boolean, "min": pl.String, "max": pl.String,
                 "mean": pl.Float64, "top_values": pl.List(pl.Struct({"value": pl.String, "count": pl.Int64}))}
    return Profile(relation, rows, pl.DataFrame(records, schema=schema_pl))


def _exact_distinct(con: duckdb.DuckDBPyConnection, rel: str, columns: list[str]) -> dict[str, int]:
    if not columns:
        return {}
    counts = con.execute(f"SELECT {', '.join(f'count(DISTINCT {quote(c)})' for c in columns)} FROM {rel}").fetchall()[0]
    return dict(zip(columns, counts))


def _top_values(con: duckdb.DuckDBPyConnection, rel: str, schema: list[tuple[str, str]], top: int) -> dict:
    """The most frequent values of each column, in one statement: each column grouped on its
    own values (text only for nested types), cut to ``top`` before anything becomes text."""
    if not schema:
        return {}
    unions = " UNION ALL ".join(
        f"(SELECT {sql_literal(name)} AS col, CAST(v AS VARCHAR) AS value, n FROM "
        f"(SELECT {_grouped(name, type_)} AS v, count(*) AS n FROM {rel} GROUP BY ALL "
        f"ORDER BY n DESC, v NULLS LAST LIMIT {int(top)}))" for name, type_ in schema)
    out: dict[str, list] = {}
    for col, value, n in con.execute(unions).fetchall():
        out.setdefault(col, []).append({"value": value, "count": int(n)})
    for v in out.values():
        v.sort(key=lambda r: -r["count"])
    return out


def _grouped(name: str, type_: str) -> str:
    return f"CAST({quote(name)} AS VARCHAR)" if type_.upper().startswith(_NESTED) else quote(name)
