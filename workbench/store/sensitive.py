"""Sensitive columns of a dataset: the columns (sex, race, age band) whose groups a fairness
review compares, marked once by the user and kept with the dataset, so that every run of it
offers them first.

They are kept in ``.workbench/datasets/NAME/sensitive.json``, beside the dataset's versions and
shared by all of them, written atomically. A column must be one of the dataset's (in any of its
versions); an unknown one is refused with the closest names."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Iterable

from workbench.errors import WorkbenchError
from workbench.store.datasets import list_datasets, load_version
from workbench.store.workspace import Workspace, write_json

FILE = "sensitive.json"
UNKNOWN = "Unknown column {column!r} in dataset {dataset!r}{near}; its columns: {columns}."


@dataclass(frozen=True)
class Sensitive:
    """A dataset's sensitive columns, as the CLI's ``sensitive`` command shows them."""

    dataset: str
    columns: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "columns": list(self.columns)}


def sensitive_columns(ws: Workspace, dataset: str) -> tuple[str, ...]:
    """The columns marked sensitive in ``dataset``, in the order they were marked (none: ``()``)."""
    load_version(ws, dataset)  # an unknown dataset is an error, not "no sensitive columns"
    path = ws.datasets_dir / dataset / FILE
    if not path.is_file():
        return ()
    try:
        return tuple(json.loads(path.read_text())["columns"])
    except (ValueError, KeyError, TypeError):
        raise WorkbenchError(f"{path} is not a list of sensitive columns; mark them again, or delete the file.") from None


def for_run(ws: Workspace, run) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The marked columns of ``run``'s dataset that its holdout has (a parity's default columns),
    and those it lacks: a column of another version, or the run's target, which its predictions
    hold only as ``_label``."""
    import pyarrow.parquet as pq
    held = set(pq.read_schema(run.predictions).names)
    marked = sensitive_columns(ws, run.record.dataset.name)
    return tuple(c for c in marked if c in held), tuple(c for c in marked if c not in held)


def mark(ws: Workspace, dataset: str, columns: Iterable[str], *, replace: bool = False) -> tuple[str, ...]:
    """Mark ``columns`` of ``dataset`` sensitive (added to those marked, or instead of them with
    ``replace``) and return all the columns now marked.

    >>> mark(ws, "credit", ["sex", "age_band"])          # doctest: +SKIP
    ('sex', 'age_band')
    """
    columns = list(dict.fromkeys(columns))
    _check(ws, dataset, columns)
    kept = () if replace else sensitive_columns(ws, dataset)
    return _write(ws, dataset, (*kept, *(c for c in columns if c not in kept)))


def unmark(ws: Workspace, dataset: str, columns: Iterable[str]) -> tuple[str, ...]:
    """Mark ``columns`` of ``dataset`` as no longer sensitive; return the columns still marked."""
    columns = set(columns)
    return _write(ws, dataset, tuple(c for c in sensitive_columns(ws, dataset) if c not in columns))


def _write(ws: Workspace, dataset: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    write_json(ws.datasets_dir / dataset / FILE, {"dataset": dataset, "columns": list(columns)})
    return columns


def _check(ws: Workspace, dataset: str, columns: list[str]) -> None:
    """Each column must be one of the dataset's (any version's), else a message with the nearest."""
    known: list[str] = []
    for d in list_datasets(ws):
        if d.name == dataset:
            for v in d.versions:
                known += [c for c, _ in v.schema if c not in known]
    if not known:
        load_version(ws, dataset)  # raises the unknown-dataset message
    for c in columns:
        if c not in known:
            close = difflib.get_close_matches(str(c), known, n=3, cutoff=0.6)
            near = f" (did you mean {', '.join(repr(x) for x in close)}?)" if close else ""
            raise WorkbenchError(UNKNOWN.format(column=c, dataset=dataset, near=near, columns=", ".join(known)))
