"""The workspace: a folder of source parquet files plus the workbench's own artifacts.

The workbench writes only below ``<root>/.workbench``; that folder is never read as a
source. Every DuckDB connection comes from :meth:`Workspace.connect`, so that sandboxing
user SQL later is one change here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

import duckdb

ARTIFACTS = ".workbench"
ENV_VAR = "WORKBENCH_WORKSPACE"
DEFAULT_ROOT = "data"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class WorkbenchError(ValueError):
    """A problem with the user's input, worded for the user: what is wrong and what to do."""


def check_name(name: str, *, kind: str = "name") -> str:
    """Return ``name`` if it can be a table, dataset or column-safe identifier, else raise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise WorkbenchError(
            f"Invalid {kind} {name!r}: use letters, digits and underscores, starting with a "
            "letter or underscore, at most 64 characters (no path separators or spaces)."
        )
    return name


def quote(identifier: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """Render a Python scalar as a DuckDB literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Workspace:
    """A workspace folder. Source tables live anywhere below ``root``; artifacts in ``root/.workbench``."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike | None = None) -> "Workspace":
        """Open ``root``, else ``$WORKBENCH_WORKSPACE``, else ``./data``; create it if missing."""
        chosen = root or os.environ.get(ENV_VAR) or DEFAULT_ROOT
        path = Path(chosen).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise WorkbenchError(f"Workspace {str(path)!r} is a file; give a folder with --workspace.")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @property
    def artifacts(self) -> Path:
        return self.root / ARTIFACTS

    @property
    def datasets_dir(self) -> Path:
        return self.artifacts / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.artifacts / "runs"

    def connect(self, catalog=None) -> duckdb.DuckDBPyConnection:
        """A fresh DuckDB cursor with every source table and dataset as a (private) view.

        Pass a ``catalog.Catalog`` already scanned to avoid reading the parquet footers again."""
        from workbench import catalog as catalog_module  # catalog depends on workspace, not the reverse

        con = cursor()
        catalog_module.register_views(self, con, catalog)
        return con


_database: duckdb.DuckDBPyConnection | None = None
_database_lock = threading.Lock()


def cursor() -> duckdb.DuckDBPyConnection:
    """A new cursor on this process's in-memory DuckDB database: every query goes through here.

    Opening a DuckDB connection costs about 23 ms, a cursor a few microseconds; each cursor has
    its own temporary views and session settings, and one per call is safe across threads."""
    global _database
    with _database_lock:
        if _database is None:
            _database = duckdb.connect()
        return _database.cursor()


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=str)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Discard(Exception):
    """Raised inside :func:`staging_dir` to drop what was staged, without an error."""


@contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` only if the block succeeds.

    If the block fails, or raises :class:`Discard`, nothing is left behind; ``Discard`` is not
    an error and goes no further."""
    created = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o755)
        yield tmp
        os.rename(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # deepest first: leave no empty folders behind
            try:
                folder.rmdir()
            except OSError:
                break
        if not isinstance(e, Discard):
            raise


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The first row of a query, with the result fully consumed (DuckDB 2 requires it)."""
    rows = con.execute(sql).fetchall()
    return rows[0] if rows else ()
