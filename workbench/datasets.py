"""Datasets: named, versioned results of one SQL query over the source tables.

Each version is a folder ``.workbench/datasets/NAME/vNNNN`` holding ``data.parquet``
(written by DuckDB's ``COPY``, never through pandas, so it can be larger than memory) and
``dataset.json`` (the SQL, the sources with their fingerprints, rows, schema, creation time
and a content hash). The content hash covers the schema and the multiset of rows, so the
same SQL over unchanged sources reproduces it whatever order DuckDB's threads wrote rows in.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from workbench.workspace import (Discard, Workspace, WorkbenchError, check_name, cursor, fetch_row, sql_literal, staging_dir, write_json)

META = "dataset.json"
DATA = "data.parquet"


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    path: Path
    rows: int
    hash: str
    sql: str
    schema: tuple[tuple[str, str], ...]
    sources: tuple[dict, ...]
    created: str
    seconds: float
    unchanged: bool = field(default=False, compare=False)

    def summary(self) -> dict:
        return {"dataset": self.name, "version": self.version, "rows": self.rows,
                "hash": self.hash, "path": str(self.path), "unchanged": self.unchanged}


@dataclass(frozen=True)
class Dataset:
    name: str
    versions: tuple[DatasetVersion, ...]


@dataclass(frozen=True)
class Preview:
    rows: pl.DataFrame
    row_count: int


def clean_sql(sql: str) -> str:
    """Strip whitespace and trailing semicolons; refuse empty text."""
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        raise WorkbenchError("The SQL is empty: write a SELECT query over the workspace tables.")
    return text


def sql_error(e: duckdb.Error) -> WorkbenchError:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return WorkbenchError(f"SQL error: {first}")


def _read_meta(folder: Path) -> DatasetVersion:
    m = json.loads((folder / META).read_text())
    return DatasetVersion(m["name"], m["version"], folder / DATA, m["rows"], m["hash"], m["sql"],
                          tuple(tuple(c) for c in m["schema"]), tuple(m["sources"]),
                          m["created"], m["seconds"])


def list_datasets(ws: Workspace) -> list[Dataset]:
    """Every dataset with its complete versions, oldest version first."""
    out = []
    if not ws.datasets_dir.is_dir():
        return out
    for d in sorted(ws.datasets_dir.iterdir()):
        if d.name.startswith("."):
            continue
        versions = [_read_meta(v) for v in sorted(d.glob("v[0-9]*")) if (v / META).is_file()]
        if versions:
            out.append(Dataset(d.name, tuple(versions)))
    return out


def load_version(ws: Workspace, name: str, version: int | None = None) -> DatasetVersion:
    """The given version of dataset ``name`` (the latest when ``version`` is None)."""
    for d in list_datasets(ws):
        if d.name == name:
            if version is None:
                return d.versions[-1]
            for v in d.versions:
                if v.version == version:
                    return v
            have = ", ".join(str(v.version) for v in d.versions)
            raise WorkbenchError(f"Dataset {name!r} has no version {version}; versions: {have}.")
    known = ", ".join(d.name for d in list_datasets(ws)) or "none yet (build one first)"
    raise WorkbenchError(f"Unknown dataset {name!r}; datasets: {known}.")


def preview(ws: Workspace, sql: str, *, limit: int = 100) -> Preview:
    """The first ``limit`` rows of a query and its row count, without writing anything."""
    sql = clean_sql(sql)
    con = ws.connect()
    try:
        rows = con.sql(f"SELECT * FROM ({sql}) LIMIT {int(limit)}").pl()
        count = fetch_row(con, f"SELECT count(*) FROM ({sql})")[0]
    except duckdb.Error as e:
        raise sql_error(e) from None
    return Preview(rows, int(count))


def content_hash(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, tuple, str]:
    """Row count, schema and an order-insensitive hash of a parquet file's contents."""
    src = f"read_parquet({sql_literal(str(path))})"
    schema = tuple((r[0], r[1]) for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall())
    rows, row_sum = fetch_row(con, f"SELECT count(*), coalesce(sum(hash(t))::HUGEINT, 0) FROM {src} t")
    digest = hashlib.sha256(json.dumps([schema, int(rows), str(row_sum)]).encode()).hexdigest()
    return int(rows), schema, digest[:16]


def referenced_tables(sql: str) -> set[str]:
    """Names the query reads as tables, from DuckDB's parse tree (no binding, so no views needed).

    CTE names may be among them; callers keep only names they know as tables or datasets."""
    tree = json.loads(fetch_row(cursor(), f"SELECT json_serialize_sql({sql_literal(sql)})")[0])
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


def _sources(ws: Workspace, sql: str, cat, latest: dict[str, DatasetVersion]) -> list[dict]:
    """What the query reads: source tables with their file fingerprints, datasets with version and hash."""
    by_name = {t.name: t for t in cat.tables}
    out = []
    for n in sorted(referenced_tables(sql)):
        if n in by_name:
            out.append({"name": n, "kind": "table", "files": by_name[n].fingerprint})
        elif n in latest:
            out.append({"name": n, "kind": "dataset", "version": latest[n].version, "hash": latest[n].hash})
        else:
            for p in cat.problems:
                if Path(p.location).stem == n:
                    raise WorkbenchError(f"Table {n!r} cannot be read: {p.message}")
            # a CTE name or table function; DuckDB reports truly unknown names when it runs
    return out


def build(ws: Workspace, name: str, sql: str) -> DatasetVersion:
    """Run ``sql`` and store its result as the next version of dataset ``name``.

    If the newest version has the same SQL and the same content, no version is added and
    that version comes back with ``unchanged=True``.
    """
    from workbench import catalog

    check_name(name, kind="dataset name")
    sql = clean_sql(sql)
    cat = catalog.scan(ws)
    if name in {t.name for t in cat.tables}:
        raise WorkbenchError(f"Dataset name {name!r} is taken by a source table; choose another name.")
    latest = {d.name: d.versions[-1] for d in list_datasets(ws)}
    sources = _sources(ws, sql, cat, latest)
    con = ws.connect(cat)
    # Rows may be written in any order unless the SQL says ORDER BY: it lets DuckDB stream
    # with less memory, and the content hash ignores row order anyway.
    con.execute("SET SESSION preserve_insertion_order = false")
    previous = latest.get(name)
    version = previous.version + 1 if previous else 1
    final = ws.datasets_dir / name / f"v{version:04d}"
    started = time.perf_counter()
    same = None
    with staging_dir(final) as tmp:
        try:
            con.execute(f"COPY ({sql}) TO {sql_literal(str(tmp / DATA))} (FORMAT parquet, COMPRESSION zstd)")
        except duckdb.Error as e:
            raise sql_error(e) from None
        rows, schema, digest = content_hash(con, tmp / DATA)
        if not schema:
            raise WorkbenchError("The query returns no columns.")
        if previous and previous.hash == digest and previous.sql == sql:
            same = previous  # the newest version already holds exactly this
            raise Discard
        write_json(tmp / META, {
            "name": name, "version": version, "rows": rows, "hash": digest, "sql": sql, "schema": schema,
            "sources": sources, "seconds": round(time.perf_counter() - started, 3),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "duckdb_version": duckdb.__version__})
    return replace(same, unchanged=True) if same else _read_meta(final)
