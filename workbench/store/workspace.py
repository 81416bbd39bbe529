"""The workspace: a folder of source parquet files plus the workbench's own artifacts.

The workbench writes only below ``<root>/.workbench``; that folder is never read as a
source. Everything there is written under a temporary name and renamed into place, so a
killed or failed write leaves nothing half-written in view; what such a write left behind is
swept the next time the workspace is opened. Every DuckDB cursor on a workspace comes from :meth:`Workspace.cursor`, a database
sandboxed to this folder (:mod:`workbench.engine.connection`).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
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

# \Z, not $: "$" also matches before a final newline, and a name must hold none. ASCII only, so
# every accepted name is one safe path component on any file system: no separators, no dots, no
# control characters, no leading dot (hidden, and the workbench's own staging names start so)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
BAD_NAME = ("Invalid {kind} {name!r}: use letters, digits and underscores, starting with a "
            "letter or underscore, at most 64 characters (no path separators or spaces).")
NO_SPACE = ("No space left on the disk holding {folder} (writing {what}); nothing was saved and the "
            "workspace is as it was. Free some space there, or open a workspace on a larger disk, "
            "then try again.")
TAKEN = "{what} exists already in {folder}; choose another name."

# Staging names carry who writes them (host, pid and the pid's start time), so a later start can
# tell a killed writer's leftovers from a live writer's work in progress:
# ".<final>.<host>-<pid>-<start>.<random>.tmp"
_STAGED = re.compile(r"\.(?P<final>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<start>\d+)\.[^.]+\.tmp")
_TMP = re.compile(r"\..+\.tmp")
STALE_SECONDS = 24 * 3600  # a leftover nobody can vouch for (another host, an older workbench)
_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = ("no space left on device", "disk quota exceeded")


def check_name(name: str, *, kind: str = "name") -> str:
    """Return ``name`` if it can be a table, dataset or column-safe identifier, else raise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
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
        ws = cls(path)
        sweep(ws)
        return ws

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



def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if it is gone or a zombie.

    With the pid it names one process for good: a pid reused by a later process differs in this."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and ")"
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _owner() -> str:
    """This process's part of a staging name: host, pid and the pid's start time."""
    return f"{_host()}-{os.getpid()}-{_start_time(os.getpid()) or 0}"


class DiskFull(WorkbenchError):
    """The disk holding the workspace is full: :data:`NO_SPACE`."""


def no_space(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full, whoever raised it."""
    if isinstance(error, DiskFull) or isinstance(error, OSError) and error.errno in _FULL:
        return True
    text = str(error).lower()
    return any(t in text for t in _FULL_TEXT)


def _full_disk(error: BaseException, folder: Path, what: str) -> BaseException:
    """The user's message for a full disk, else ``error`` itself."""
    if no_space(error):
        return DiskFull(NO_SPACE.format(folder=str(folder), what=what))
    return error


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, then a rename.

    A full disk raises a WorkbenchError and leaves ``path`` as it was."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_owner()}.", suffix=".tmp")
    except OSError as e:
        raise _full_disk(e, path.parent, path.name) from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=str)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if no_space(e):
            raise _full_disk(e, path.parent, path.name) from None
        raise


class Discard(Exception):
    """Raised inside :func:`staging_dir` or :func:`stage` to drop what was staged, without an error."""


class Staging:
    """A temporary folder being filled; :meth:`publish` renames it to its final name."""

    def __init__(self, path: Path):
        self.path = path
        self.published: Path | None = None

    def publish(self, final: Path) -> bool:
        """Rename the staged folder to ``final`` in one step; False (and still staged) if
        ``final`` is taken, by a concurrent writer say. ``final`` must be beside the staged folder."""
        try:
            os.rename(self.path, final)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise
        self.published = final
        return True


def _make_staging(final: Path) -> tuple[Path, list[Path]]:
    """A fresh staging folder beside ``final`` and the folders made for it, deepest first."""
    for _ in range(20):  # a concurrent writer's clean-up or the sweep may remove an empty parent
        created = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{_owner()}.",
                                         suffix=".tmp")), created
        except FileNotFoundError:
            continue
    raise WorkbenchError(f"Cannot create a folder in {str(final.parent)!r}; check it exists and is writable.")


@contextmanager
def stage(final: Path, *, what: str | None = None) -> Iterator[Staging]:
    """Yield a :class:`Staging` folder beside ``final``; the block publishes it (perhaps under
    another name, when ``final`` is taken). Whatever is not published is removed, with any
    folders made for it; a full disk becomes a WorkbenchError naming it; :class:`Discard` ends
    the block quietly."""
    what = what or final.name
    try:
        tmp, created = _make_staging(final)
    except OSError as e:
        raise _full_disk(e, final.parent, what) from None
    staged = Staging(tmp)
    failure: BaseException | None = None
    try:
        os.chmod(tmp, 0o755)
        yield staged
    except Discard:
        pass
    except BaseException as e:
        failure = e
    if staged.published is None:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # deepest first: leave no empty folders behind
            try:
                folder.rmdir()
            except OSError:
                break
    if failure is not None:
        raise _full_disk(failure, final.parent, what) from (None if no_space(failure) else failure.__cause__)


@contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` only if the block succeeds.

    If the block fails, or raises :class:`Discard`, nothing is left behind; ``Discard`` is not
    an error and goes no further. A ``final`` that exists by then is an error, never overwritten."""
    with stage(final) as staged:
        yield staged.path
        if not staged.publish(final):
            raise WorkbenchError(TAKEN.format(what=final.name, folder=str(final.parent)))


def _stale(entry: Path, now: float) -> bool:
    """Whether a staging entry was left by a writer that is gone (killed, or long dead)."""
    m = _STAGED.fullmatch(entry.name)
    if m and m["host"] == _host():
        start = _start_time(int(m["pid"]))
        return start is None or (int(m["start"]) != 0 and start != int(m["start"]))
    try:
        return now - entry.lstat().st_mtime > STALE_SECONDS
    except OSError:
        return False


def sweep(ws: "Workspace") -> list[Path]:
    """Remove what killed writers left in the workspace: staging folders and files whose
    process is gone, and dataset folders left empty. A live writer's staging is kept, in this
    process or another. Returns what was removed; never fails (the next start tries again)."""
    removed: list[Path] = []
    if not ws.artifacts.is_dir():
        return removed
    now = time.time()
    folders = [ws.artifacts, ws.datasets_dir, ws.runs_dir, ws.slices_dir]
    try:
        datasets = [d for d in ws.datasets_dir.iterdir() if d.is_dir() and not d.name.startswith(".")] \
            if ws.datasets_dir.is_dir() else []
    except OSError:
        datasets = []
    for folder in folders + datasets:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if not (_TMP.fullmatch(entry.name) and _stale(entry, now)):
                continue
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    for d in datasets:
        try:
            d.rmdir()  # only if empty: a first build killed before it published
            removed.append(d)
        except OSError:
            pass
    return removed
