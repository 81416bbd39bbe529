"""Column profiles of a table or dataset, computed in DuckDB.

Three statements: one scan for counts, min, max, mean and an approximate distinct count
(HyperLogLog); one for the exact distinct count of the columns where that is cheap; one for
the most frequent values of every column. Grouping on the raw values, not their text, and
counting high-cardinality columns approximately is what keeps a 1M-row profile near a second
(casting a million floats to text to group them took ten seconds).

Wide tables are bounded work. Each of the statements above reads the relation once per column
it groups, and binding a read of a 2,000-column parquet file costs ~0.1 s however few columns it
takes, so a 2,000-column table ran for over 15 minutes. Past ``WIDE`` columns, the columns are
copied into a temporary table a batch at a time (one read per batch, its size set by a budget
of cells) and profiled there; and only the first ``MAX_COLUMNS`` are profiled unless the user
names the columns or raises the limit, the rest listed as skipped.
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
MAX_COLUMNS = 300  # columns profiled when the user names none; the rest are listed as skipped
WIDE = 64  # past this many columns, profile a batch of columns at a time from a temporary table
DISTINCT_BATCH = 32  # exact distinct counts per statement
BATCH_CELLS = 20_000_000  # values copied into one batch's temporary table (~160 MB of numbers)
_NESTED = ("STRUCT", "MAP", "UNION")  # grouped by their text


@dataclass(frozen=True)
class Profile:
    """One row per column: name, type, null_share, distinct, distinct_exact, min, max, mean,
    top_values. ``distinct`` counts non-null values; it is an estimate where ``distinct_exact``
    is false."""

    relation: str
    rows: int
    columns: pl.DataFrame
    skipped: tuple[str, ...] = ()  # columns left out by the column limit, in table order

    def to_dict(self) -> dict:
        return {"relation": self.relation, "rows": self.rows, "columns": self.columns.to_dicts(),
                "skipped": list(self.skipped)}


def profile(ws: Workspace, relation: str, *, top: int = 5, columns: list[str] | tuple[str, ...] | None = None,
            max_columns: int = MAX_COLUMNS) -> Profile:
    """Profile the columns of a source table or dataset (its latest version): the ``columns``
    named, else the first ``max_columns`` (the others are listed in ``skipped``).

    Min and max are given for ordered types, the mean for numeric ones, and the ``top`` most
    frequent values (as text, with counts; null included) for every column.
    """
    if max_columns < 1:
        raise WorkbenchError(f"The column limit must be at least 1, got {max_columns}.")
    con = views.connect(ws, [relation])
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if relation not in names:
        known = ", ".join(sorted({*catalog.source_expressions(ws), *latest_paths(ws)})) or "none"
        raise WorkbenchError(f"Unknown table or dataset {relation!r}; known: {known}.")
    rel = quote(relation)
    schema = [(name, type_) for name, type_, *_ in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
    schema, skipped = _chosen(relation, schema, columns, max_columns)
    if len(schema) <= WIDE:
        return Profile(relation, *_profiled(con, relation, rel, schema, top), skipped)
    rows = con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]
    step = max(1, min(len(schema), BATCH_CELLS // max(rows, 1)))
    frames = []
    for start in range(0, len(schema), step):
        batch = schema[start:start + step]
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _profile_batch AS SELECT "
                        f"{', '.join(quote(n) for n, _ in batch)} FROM {rel}")
        except duckdb.Error as e:
            raise WorkbenchError(f"Cannot profile {relation!r}: {first_line(e)}") from None
        frames.append(_profiled(con, relation, "_profile_batch", batch, top)[1])
    con.execute("DROP TABLE IF EXISTS _profile_batch")
    return Profile(relation, rows, pl.concat(frames), skipped)


def _chosen(relation: str, schema: list[tuple[str, str]], columns, max_columns: int):
    """The columns to profile, in table order, and the ones left out."""
    if columns:
        known = {n for n, _ in schema}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise WorkbenchError(f"No column {unknown[0]!r} in {relation!r}; its columns include "
                                 f"{', '.join(n for n, _ in schema[:10])}.")
        wanted = set(columns)
        return [c for c in schema if c[0] in wanted], tuple(n for n, _ in schema if n not in wanted)
    return schema[:max_columns], tuple(n for n, _ in schema[max_columns:])


def _profiled(con: duckdb.DuckDBPyConnection, relation: str, rel: str, schema: list[tuple[str, str]],
              top: int) -> tuple[int, pl.DataFrame]:
    """The row count and the profile rows of ``schema``'s columns of ``rel``."""
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
    return rows, pl.DataFrame(records, schema=schema_pl)


def _exact_distinct(con: duckdb.DuckDBPyConnection, rel: str, columns: list[str]) -> dict[str, int]:
    """Exact distinct counts, ``DISTINCT_BATCH`` columns per statement: one statement's many
    DISTINCT aggregates slow down faster than their number (300 at once took 14 s, in tens 1.8 s)."""
    out: dict[str, int] = {}
    for i in range(0, len(columns), DISTINCT_BATCH):
        part = columns[i:i + DISTINCT_BATCH]
        counts = con.execute(f"SELECT {', '.join(f'count(DISTINCT {quote(c)})' for c in part)} FROM {rel}").fetchone()
        out.update(zip(part, counts))
    return out


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
