"""Saved slices: a named SQL condition over a run's holdout columns, kept in the workspace.

A slice found by discovery (or written by hand) is saved under a name in
``.workbench/slices/NAME.json`` and can then be used as a column, ``slice:NAME``, in any
breakdown whose run has the columns it names: its rows are "in NAME", the others "not in NAME".
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import duckdb

from workbench.runs import Run
from workbench.workspace import Workspace, WorkbenchError, check_name, cursor, sql_literal, write_json

PREFIX = "slice:"


@dataclass(frozen=True)
class SavedSlice:
    name: str
    where: str
    predicate: str
    run_id: str
    created: str

    @property
    def column(self) -> str:
        """How the slice is named where columns are chosen."""
        return PREFIX + self.name


def _folder(ws: Workspace):
    return ws.artifacts / "slices"


def _check_where(run: Run, where: str, *, count: bool = True) -> int:
    """Rows of ``run``'s holdout the condition selects (or 0 with ``count=False``, which only
    binds the query: enough to know it applies); a clear error if it does not apply."""
    what = "count(*)" if count else "0"
    limit = "" if count else " LIMIT 0"
    try:
        rows = cursor().execute(
            f"SELECT {what} FROM read_parquet({sql_literal(str(run.predictions))}) WHERE {where}{limit}").fetchall()
        return rows[0][0] if rows else 0
    except duckdb.Error as e:
        raise WorkbenchError(f"The slice's condition does not apply to run {run.run_id}: "
                             f"{str(e).strip().splitlines()[0]}") from None


def save(ws: Workspace, name: str, where: str, *, run: Run, predicate: str | None = None) -> SavedSlice:
    """Save ``where`` under ``name`` after checking it selects rows of ``run``'s holdout."""
    check_name(name, kind="slice name")
    if not where or ";" in where:
        raise WorkbenchError("A slice's condition is one SQL expression, without ';'.")
    if _check_where(run, where) == 0:
        raise WorkbenchError(f"The condition selects no rows of run {run.run_id}; nothing was saved.")
    s = SavedSlice(name, where, predicate or where, run.run_id,
                   datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_json(_folder(ws) / f"{name}.json", asdict(s))
    return s


def list_saved(ws: Workspace) -> list[SavedSlice]:
    folder = _folder(ws)
    if not folder.is_dir():
        return []
    return [SavedSlice(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def applicable(ws: Workspace, run: Run) -> dict[str, str]:
    """``slice:NAME`` -> condition, for the saved slices whose columns this run has."""
    out = {}
    for s in list_saved(ws):
        try:
            _check_where(run, s.where, count=False)
        except WorkbenchError:
            continue
        out[s.column] = s.where
    return out
