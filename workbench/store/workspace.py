"""The workspace: a folder of source parquet files plus the workbench's own artifacts.

The workbench writes only below ``<root>/.workbench``; that folder is never read as a
source. Every DuckDB cursor on a workspace comes from :meth:`Workspace.cursor`, a database
sandboxed to this folder (:mod:`workbench.engine.connection`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb

from workbench.engine import cursor
from workbench.errors import WorkbenchError

ARTIFACTS = ".workbench"
ENV_VAR = "WORKBENCH_WORKSPACE"
DEFAULT_ROOT = "data"

# \Z, not $: "$" also matches before a final newline, and a name must hold none
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
BAD_NAME = ("Invalid {kind} {name!r}: use letters, digits and underscores, starting with a "
            "letter or underscore, at most 64 characters (no path separators or spaces).")


def check_name(name: str, *, kind: str = "name") -> str:
    """Return ``name`` if it can be a table, dataset or column-safe identifier, else raise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise WorkbenchError(BAD_NAME.format(kind=kind, name=name))
    return name


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

    @property
    def slices_dir(self) -> Path:
        return self.artifacts / "slices"

    @property
    def exports_dir(self) -> Path:
        """Files written for a download, each removed once read."""
        return self.artifacts / "exports"

    def cursor(self, *, ordered: bool = True) -> duckdb.DuckDBPyConnection:
        """A fresh cursor on this workspace's sandboxed DuckDB database (no views; see
        :func:`workbench.store.views.connect` for one with every table and dataset)."""
        return cursor(self.root, ordered=ordered)


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
