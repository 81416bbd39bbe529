"""Source tables: the parquet files and folders in the workspace, seen as DuckDB views.

The rule a user can predict: a ``*.parquet`` file directly in the workspace folder is a
table named after its stem; a folder directly in the workspace folder is one table named
after the folder, made of every parquet file below it, with hive partitions
(``year=2013/``) read as columns. Hidden entries (``.workbench`` among them) are skipped.
Schemas and row counts come from parquet footers; no data is scanned.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from workbench.workspace import Workspace, WorkbenchError, cursor, fetch_row, quote, sql_literal


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_TEMPORAL = ("DATE", "TIMESTAMP", "TIME")


def is_numeric_type(duckdb_type: str) -> bool:
    """Whether a DuckDB column type holds numbers (``DECIMAL(18,3)`` included)."""
    return duckdb_type.upper().split("(")[0] in _NUMERIC


def is_ordered_type(duckdb_type: str) -> bool:
    """Numbers, dates, times and timestamps: types with a min, a max and quantiles."""
    return is_numeric_type(duckdb_type) or duckdb_type.upper().startswith(_TEMPORAL)


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class SourceFile:
    """A file's fingerprint: enough to tell whether a source changed since a build."""

    path: str  # relative to the workspace root
    bytes: int
    modified_ns: int


@dataclass(frozen=True)
class Table:
    name: str
    kind: str  # "file" or "folder"
    location: str  # relative to the workspace root
    rows: int
    columns: tuple[Column, ...]
    files: tuple[SourceFile, ...]

    @property
    def fingerprint(self) -> list[dict]:
        return [f.__dict__ for f in self.files]


@dataclass(frozen=True)
class Problem:
    """A source that could not be read, with the reason."""

    location: str
    message: str


@dataclass(frozen=True)
class Catalog:
    tables: tuple[Table, ...]
    problems: tuple[Problem, ...]

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        for p in self.problems:
            if Path(p.location).stem == name:
                raise WorkbenchError(f"Table {name!r} cannot be read: {p.message}")
        known = ", ".join(t.name for t in self.tables) or "none"
        raise WorkbenchError(f"Unknown table {name!r}; tables in the workspace: {known}.")

    def raise_problems(self) -> None:
        """Raise the first unreadable source as a user-facing error."""
        if self.problems:
            p = self.problems[0]
            raise WorkbenchError(f"Cannot read {p.location!r}: {p.message} Fix or remove the file.")


def candidates(ws: Workspace) -> list[tuple[str, str, list[Path]]]:
    """(name, kind, files) for each entry directly in the workspace folder."""
    out = []
    for entry in sorted(ws.root.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix == ".parquet":
            out.append((entry.stem, "file", [entry]))
        elif entry.is_dir():
            files = sorted(p for p in entry.rglob("*.parquet") if not any(
                part.startswith((".", "_")) for part in p.relative_to(entry).parts))
            if files:
                out.append((entry.name, "folder", files))
    return out


def scan_expression(ws: Workspace, table: Table) -> str:
    """The DuckDB table function that reads ``table``."""
    if table.kind == "file":
        return f"read_parquet({sql_literal(str(ws.root / table.location))})"
    hive = any("=" in part for f in table.files for part in Path(f.path).parts[1:-1])
    glob = str(ws.root / table.location / "**" / "*.parquet")
    return (f"read_parquet({sql_literal(glob)}, hive_partitioning={str(hive).lower()}, "
            "union_by_name=true)")


def scan(ws: Workspace) -> Catalog:
    """Discover the workspace's source tables from parquet metadata."""
    con = cursor()
    tables, problems, seen = [], [], {}
    for name, kind, files in candidates(ws):
        location = str(Path(files[0]).relative_to(ws.root)) if kind == "file" else name
        if name in seen:
            problems.append(Problem(location, f"another source is also named {name!r} "
                                              f"({seen[name]}); rename one of them."))
            continue
        seen[name] = location
        fingerprints = tuple(
            SourceFile(str(p.relative_to(ws.root)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in files)
        stub = Table(name, kind, location, 0, (), fingerprints)
        try:
            expr = scan_expression(ws, stub)
            schema = con.sql(f"DESCRIBE SELECT * FROM {expr}").fetchall()
            paths = "[" + ", ".join(sql_literal(str(p)) for p in files) + "]"
            rows = fetch_row(con, f"SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata({paths})")[0] or 0
        except duckdb.Error as e:
            problems.append(Problem(location, _first_line(e)))
            continue
        cols = tuple(Column(r[0], r[1]) for r in schema)
        tables.append(Table(name, kind, location, int(rows), cols, fingerprints))
    return Catalog(tuple(tables), tuple(problems))


def register_views(ws: Workspace, con: duckdb.DuckDBPyConnection, catalog: Catalog | None = None) -> Catalog:
    """Create a view per readable source table and per dataset (its latest version)."""
    from workbench import datasets  # datasets depends on catalog for fingerprints

    catalog = catalog or scan(ws)
    for t in catalog.tables:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(t.name)} AS SELECT * FROM {scan_expression(ws, t)}")
    for d in datasets.list_datasets(ws):
        latest = d.versions[-1]
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(d.name)} AS "
                    f"SELECT * FROM read_parquet({sql_literal(str(latest.path))})")
    return catalog


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
