"""Saved slices: a named SQL condition over a run's holdout columns, kept in the workspace.

A slice found by discovery (or written by hand) is saved under a name in
``.workbench/slices/NAME.json`` and can then be used as a column, ``slice:NAME``, in any
breakdown whose run has the columns it names: its rows are "in NAME", the others "not in NAME".
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from workbench.engine import limits, parse_condition, sql_literal
from workbench.errors import WorkbenchError
from workbench.store.runs import Run
from workbench.store.workspace import Workspace, check_name, write_json

PREFIX = "slice:"
DOES_NOT_APPLY = "The slice's condition does not apply to run {run_id}: {detail}"
SELECTS_NONE = "The condition selects no rows of run {run_id}; nothing was saved."


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

    def to_dict(self) -> dict:
        return {"name": self.name, "column": self.column, "where": self.where, "run_id": self.run_id,
                "predicate": self.predicate, "created": self.created}


def _check_where(run: Run, where: str, *, count: bool = True) -> int:
    """Rows of ``run``'s holdout the condition selects (or 0 with ``count=False``, which only
    binds the query: enough to know it applies); a clear error if it does not apply.
    ``where`` has passed :func:`~workbench.engine.parse_condition`."""
    what = "count(*)" if count else "0"
    limit = "" if count else " LIMIT 0"
    con = run.workspace.cursor()
    try:
        with limits(con):
            rows = con.execute(f"SELECT {what} FROM read_parquet({sql_literal(str(run.predictions))}) "
                               f"WHERE {where}{limit}").fetchall()
    except WorkbenchError as e:
        raise WorkbenchError(DOES_NOT_APPLY.format(run_id=run.run_id, detail=e)) from None
    return rows[0][0] if rows else 0


def save(ws: Workspace, name: str, where: str, *, run: Run, predicate: str | None = None) -> SavedSlice:
    """Save ``where`` under ``name`` after checking it selects rows of ``run``'s holdout."""
    check_name(name, kind="slice name")
    where = parse_condition(where)
    if _check_where(run, where) == 0:
        raise WorkbenchError(SELECTS_NONE.format(run_id=run.run_id))
    s = SavedSlice(name, where, predicate or where, run.run_id,
                   datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_json(ws.slices_dir / f"{name}.json", asdict(s))
    return s


def list_saved(ws: Workspace) -> list[SavedSlice]:
    folder = ws.slices_dir
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.json")):
        try:
            out.append(SavedSlice(**json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):  # a file edited by hand into something else: not a slice
            continue
    return out


def applicable(ws: Workspace, run: Run) -> dict[str, str]:
    """``slice:NAME`` -> condition, for the saved slices whose columns this run has (a condition
    that does not parse, say one written into the file by hand, applies to no run)."""
    out = {}
    for s in list_saved(ws):
        try:
            where = parse_condition(s.where)
            _check_where(run, where, count=False)
        except WorkbenchError:
            continue
        out[s.column] = where
    return out
