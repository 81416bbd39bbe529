"""DuckDB databases, one per workspace folder, each a sandbox: every query goes through here.

A database can read and write only below its workspace folder (DuckDB's
``allowed_directories`` with ``enable_external_access = false``), spills only into the
workspace's ``.workbench/tmp``, has a memory limit, and its configuration is locked, so no
statement can widen any of it, nor change another session's settings (``SET GLOBAL``).

Opening a DuckDB database costs about 23 ms, a cursor a few microseconds: each database is
opened once per process and every call takes a cursor of its own, which is safe across threads
and carries its own temporary views.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import duckdb

MEMORY_VAR = "WORKBENCH_MEMORY_LIMIT"
# of physical memory, for each of a workspace's two databases (ordered and not), so both at once
# stay within half the machine; $WORKBENCH_MEMORY_LIMIT sets each instead
MEMORY_SHARE = 0.25
SPILL = (".workbench", "tmp")
KEEP_OPEN = 8  # databases held open; the least recently used one beyond this is closed

_databases: OrderedDict[tuple[Path, bool], duckdb.DuckDBPyConnection] = OrderedDict()
_lock = threading.Lock()


def memory_limit() -> str:
    """DuckDB's memory limit for each database: ``$WORKBENCH_MEMORY_LIMIT`` (e.g. ``4GB``), else a
    quarter of physical memory (DuckDB's own default, 80% per database, leaves nothing for the
    model, and a workspace has two)."""
    chosen = os.environ.get(MEMORY_VAR)
    if chosen:
        return chosen
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(int(total * MEMORY_SHARE) // 2**20, 256)}MB"


def _open(root: Path, ordered: bool) -> duckdb.DuckDBPyConnection:
    spill = root.joinpath(*SPILL)
    db = duckdb.connect(config={"memory_limit": memory_limit(), "temp_directory": str(spill),
                                "preserve_insertion_order": ordered, "autoinstall_known_extensions": False,
                                "autoload_known_extensions": False})
    db.execute("SET allowed_directories = $dirs", {"dirs": [str(root) + os.sep]})
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db


def cursor(root: Path, *, ordered: bool = True) -> duckdb.DuckDBPyConnection:
    """A new cursor on the sandboxed database of the workspace at ``root``.

    ``ordered=False`` gives a database that may write a query's rows in any order unless the SQL
    says ORDER BY (DuckDB's ``preserve_insertion_order = false``): it streams large results with
    less memory, and suits writing datasets, whose content hash ignores row order. Analyses use
    the ordered one, so a seeded sample of rows is the same sample every time."""
    key = (Path(root).resolve(), ordered)
    with _lock:
        db = _databases.get(key)
        if db is None:
            db = _databases[key] = _open(key[0], ordered)
            while len(_databases) > KEEP_OPEN:
                # not close(): that would end cursors still in use; dropping it frees the database
                _databases.popitem(last=False)  # freed once no cursor uses it
        _databases.move_to_end(key)
        return db.cursor()
