"""Building datasets: a user's SELECT, checked at the SQL boundary, written as the next version.

The query runs on the workspace's sandboxed database through :func:`workbench.engine.run_select`;
its rows go to parquet by DuckDB's relation writer, so the user's text is never spliced into a
``COPY`` or any other statement of ours.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from workbench.engine import fetch_row, parse_select, run_select, sql_literal
from workbench.errors import WorkbenchError
from workbench.store import catalog, views
from workbench.store.datasets import (DATA, META, DatasetVersion, content_hash, list_datasets, load_version,
                                      read_version)
from workbench.store.workspace import Discard, Workspace, check_name, stage, write_json

NO_COLUMNS = "The query returns no columns; select at least one."
NAME_TAKEN = "Dataset name {name!r} is taken by a source table; choose another name."


@dataclass(frozen=True)
class Preview:
    rows: pl.DataFrame
    row_count: int

    def to_dict(self) -> dict:
        return {"row_count": self.row_count, "rows": self.rows.to_dicts()}


def preview(ws: Workspace, sql: str, *, limit: int = 100) -> Preview:
    """The first ``limit`` rows of a query and its row count, without writing anything."""
    con = views.connect(ws, referenced_tables(ws, sql))  # a broken file elsewhere costs nothing
    rows, count = run_select(con, sql, lambda rel: (rel.limit(int(limit)).pl(),
                                                   rel.aggregate("count(*)").fetchall()[0][0]))
    return Preview(rows, int(count))


def referenced_tables(ws: Workspace, sql: str) -> set[str]:
    """Names the query reads as tables, from DuckDB's parse tree (no binding, so no views needed).

    CTE names may be among them; callers keep only names they know as tables or datasets."""
    text = parse_select(sql)
    tree = json.loads(fetch_row(ws.cursor(), f"SELECT json_serialize_sql({sql_literal(text)})")[0])
    if tree.get("error"):
        raise WorkbenchError(f"SQL error: Parser Error: {tree.get('error_message', 'cannot parse the query')}")
    names, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                names.add(node["table_name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _sources(ws: Workspace, sql: str, cat: catalog.Catalog, latest: dict[str, DatasetVersion]) -> list[dict]:
    """What the query reads: source tables with their file fingerprints, datasets with version and hash."""
    # names in SQL ignore case, as DuckDB's do: FROM Flights reads flights.parquet
    by_name = {t.name.casefold(): t for t in cat.tables}
    datasets = {name.casefold(): v for name, v in latest.items()}
    out = []
    for n in sorted({n.casefold() for n in referenced_tables(ws, sql)}):
        if n in datasets:
            v = datasets[n]
            out.append({"name": v.name, "kind": "dataset", "version": v.version, "hash": v.hash})
        elif n in by_name:
            out.append({"name": by_name[n].name, "kind": "table", "files": by_name[n].fingerprint})
        else:
            for p in cat.problems:
                if Path(p.location).stem.casefold() == n:
                    raise WorkbenchError(f"Table {Path(p.location).stem!r} cannot be read: {p.message}")
            # a CTE name or table function; DuckDB reports truly unknown names when it runs
    return out


def build(ws: Workspace, name: str, sql: str) -> DatasetVersion:
    """Run ``sql`` and store its result as the next version of dataset ``name``.

    If the newest version has the same SQL and the same content, no version is added and
    that version comes back with ``unchanged=True``.
    """
    check_name(name, kind="dataset name")
    sql = parse_select(sql).rstrip(";").strip()
    cat = catalog.scan(ws)
    if name in {t.name for t in cat.tables}:
        raise WorkbenchError(NAME_TAKEN.format(name=name))
    latest = {d.name: d.versions[-1] for d in list_datasets(ws)}
    sources = _sources(ws, sql, cat, latest)
    # Rows may be written in any order unless the SQL says ORDER BY: it lets DuckDB stream
    # with less memory, and the content hash ignores row order anyway.
    con = views.connect(ws, [s["name"] for s in sources], ordered=False)
    previous = latest.get(name)
    version = previous.version + 1 if previous else 1
    final = ws.datasets_dir / name / f"v{version:04d}"
    started = time.perf_counter()
    same = None
    with stage(final, what=f"dataset {name}") as staged:
        tmp = staged.path
        run_select(con, sql, lambda rel: rel.write_parquet(str(tmp / DATA), compression="zstd"))
        rows, schema, digest = content_hash(con, tmp / DATA)
        if not schema:
            raise WorkbenchError(NO_COLUMNS)
        for _ in range(1000):
            if previous and previous.hash == digest and previous.sql == sql:
                same = previous  # the newest version already holds exactly this
                raise Discard
            write_json(tmp / META, {
                "name": name, "version": version, "rows": rows, "hash": digest, "sql": sql, "schema": schema,
                "sources": sources, "seconds": round(time.perf_counter() - started, 3),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "duckdb_version": duckdb.__version__})
            if staged.publish(final):
                break
            # a concurrent build of this name published this version first: come after it
            previous = load_version(ws, name)
            version = max(previous.version, version) + 1
            final = ws.datasets_dir / name / f"v{version:04d}"
        else:
            raise WorkbenchError(f"Dataset {name!r} is being built by many others at once; try again.")
    return replace(same, unchanged=True) if same else read_version(final)
