"""Source tables: the parquet files and folders in the workspace, seen as DuckDB views.

The rule a user can predict: a ``*.parquet`` file directly in the workspace folder is a
table named after its stem; a folder directly in the workspace folder is one table named
after the folder, made of every parquet file below it, with hive partitions
(``year=2013/``) read as columns. Hidden entries (``.workbench`` among them) are skipped.
Schemas and row counts come from parquet footers; no data is scanned.

One bad file degrades, never blocks: a truncated, empty, unreadable or vanished file is listed
as a :class:`Problem` with DuckDB's (or the file system's) reason, and every other table stays
usable.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from workbench.engine import fetch_row, first_line, sql_literal
from workbench.errors import WorkbenchError
from workbench.store.datasets import latest_paths
from workbench.store.workspace import Workspace


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

    def to_dict(self) -> dict:
        return {"name": self.name, "rows": self.rows, "location": self.location,
                "columns": [{"name": c.name, "type": c.type} for c in self.columns]}


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

    def to_dict(self) -> dict:
        return {"tables": [t.to_dict() for t in self.tables],
                "problems": [{"location": p.location, "message": p.message} for p in self.problems]}

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
        if entry.suffix == ".parquet" and (entry.is_file() or entry.is_symlink()):
            # a link to a file that is gone is kept, so that scan() lists it as a problem
            out.append((entry.stem, "file", [entry]))
        elif entry.is_dir():
            # regular files only: reading a pipe named like a parquet file would wait forever
            files = sorted(p for p in entry.rglob("*.parquet") if p.is_file() and not any(
                part.startswith((".", "_")) for part in p.relative_to(entry).parts))
            if files:
                out.append((entry.name, "folder", files))
    return out


def scan_expression(ws: Workspace, kind: str, files: list[Path]) -> str:
    """The DuckDB table function that reads a source: one file, or a folder of files (with hive
    partitions where the folder names say ``key=value``)."""
    if kind == "file":
        return f"read_parquet({sql_literal(str(files[0]))})"
    folder = ws.root / files[0].relative_to(ws.root).parts[0]
    hive = any("=" in part for f in files for part in f.relative_to(folder).parts[:-1])
    glob = str(folder / "**" / "*.parquet")
    return (f"read_parquet({sql_literal(glob)}, hive_partitioning={str(hive).lower()}, "
            "union_by_name=true)")


def _fingerprint(ws: Workspace, path: Path) -> SourceFile:
    """Size and modification time of one source file (an OSError if it cannot be read)."""
    with open(path, "rb"):  # stat() alone succeeds on a file no one may read
        pass
    st = path.stat()
    return SourceFile(str(path.relative_to(ws.root)), st.st_size, st.st_mtime_ns)


def source_expressions(ws: Workspace, datasets: dict[str, Path] | None = None) -> dict[str, str]:
    """Each source table's name and the expression that reads it, from the folder listing alone
    (no parquet footer read); sources named like a dataset (``datasets``, else the workspace's)
    are left out (see :func:`scan`)."""
    datasets = latest_paths(ws) if datasets is None else datasets
    out = {}
    for name, kind, files in candidates(ws):
        if name not in datasets and name not in out:
            out[name] = scan_expression(ws, kind, files)
    return out


def scan(ws: Workspace) -> Catalog:
    """Discover the workspace's source tables from parquet metadata.

    A source named like a dataset is a problem, not a table: the name in SQL means the dataset,
    and a file added later must not silently take or lose that name."""
    con = ws.cursor()
    datasets = latest_paths(ws)
    tables, problems, seen = [], [], {}
    for name, kind, files in candidates(ws):
        location = str(Path(files[0]).relative_to(ws.root)) if kind == "file" else name
        if name in datasets:
            problems.append(Problem(location, f"a dataset is also named {name!r}, and {name!r} in SQL "
                                              "means the dataset; rename the source."))
            continue
        if name in seen:
            problems.append(Problem(location, f"another source is also named {name!r} "
                                              f"({seen[name]}); rename one of them."))
            continue
        seen[name] = location
        try:
            fingerprints = tuple(_fingerprint(ws, p) for p in files)
            expr = scan_expression(ws, kind, files)
            schema = con.sql(f"DESCRIBE SELECT * FROM {expr}").fetchall()
            paths = "[" + ", ".join(sql_literal(str(p)) for p in files) + "]"
            rows = fetch_row(con, f"SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata({paths})")[0] or 0
        except duckdb.Error as e:
            problems.append(Problem(location, first_line(e)))
            continue
        except OSError as e:  # removed, unreadable or a dangling link, between listing and reading
            problems.append(Problem(location, f"{e.strerror or type(e).__name__}: {e.filename or location}"))
            continue
        cols = tuple(Column(r[0], r[1]) for r in schema)
        tables.append(Table(name, kind, location, int(rows), cols, fingerprints))
    return Catalog(tuple(tables), tuple(problems))
