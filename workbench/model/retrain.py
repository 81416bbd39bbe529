"""Closing the loop: train again from an existing run, the problem slice up-weighted or columns changed.

From a regression or a problem slice, the reviewer's next step is a new run that differs from
the old one in one named way: the slice's training rows weigh more (``upweight``, an SQL
condition, ``factor`` times), or columns are dropped or added back. Everything else is the old
run's: dataset version, target, task, split, seed and LightGBM settings, so the two runs hold out
the same rows and their comparison is paired.
"""
from __future__ import annotations

from typing import Sequence

from workbench.errors import WorkbenchError
from workbench.model.params import SET_BY_WORKBENCH
from workbench.model.train import Progress, TrainSpec, train
from workbench.store.runs import Run
from workbench.store.workspace import Workspace

IMPORTED = ("Run {run} holds imported predictions (from {file}): there is no training spec to retrain. "
            "Retrain a run the workbench trained.")
NOT_DROPPED = ("Cannot add {columns}: run {run} did not drop {them}; columns it dropped: {dropped}.")
DROP_AND_ADD = "Column(s) {columns} are both dropped and added; name each once."


def spec_of(run: Run) -> TrainSpec:
    """The spec that trained ``run``: the same dataset version, target, task, split, seed,
    LightGBM settings, dropped columns and up-weighting."""
    if run.imported:
        raise WorkbenchError(IMPORTED.format(run=run.run_id, file=(run.record.source or {}).get("file", "a file")))
    r = run.record
    split = r.split.kind if r.split.column is None else f"{r.split.kind}:{r.split.column}"
    weighting = r.weighting or {}
    return TrainSpec(dataset=r.dataset.name, target=r.target, task=r.task, split=split, drop=tuple(r.dropped),
                     seed=r.seed, version=r.dataset.version,
                     # the settings as recorded, less those the workbench sets itself (seed, verbosity, ...)
                     params={k: v for k, v in r.params.items() if k not in SET_BY_WORKBENCH},
                     numeric_time=r.split.numeric_time, upweight=weighting.get("where"),
                     upweight_factor=weighting.get("factor", 3.0))


def retrain(ws: Workspace, run: Run, *, upweight: str | None = None, factor: float | None = None,
            drop: Sequence[str] = (), add: Sequence[str] = (), progress: Progress | None = None) -> Run:
    """A new run trained as ``run`` was, with the rows inside ``upweight`` weighing ``factor``
    (3 unless given; without ``upweight``, the old run's slice, at ``factor`` if given), ``drop``
    columns dropped too and ``add`` columns (ones the old run dropped) used again. Compare it
    with ``run``:

    >>> new = retrain(ws, old, upweight="carrier = 'EV'", factor=3)   # doctest: +SKIP
    >>> compare(old, new, by=["carrier"])                              # doctest: +SKIP
    """
    spec = spec_of(run)
    drop, add = tuple(dict.fromkeys(drop)), tuple(dict.fromkeys(add))
    both = [c for c in drop if c in add]
    if both:
        raise WorkbenchError(DROP_AND_ADD.format(columns=", ".join(both)))
    missing = [c for c in add if c not in spec.drop]
    if missing:
        raise WorkbenchError(NOT_DROPPED.format(columns=", ".join(missing), run=run.run_id,
                                                them="it" if len(missing) == 1 else "them",
                                                dropped=", ".join(spec.drop) or "none"))
    own = [c for c in drop if c in (spec.target, run.record.split.column)]
    if own:
        raise WorkbenchError(f"Cannot drop {own[0]!r}: it is run {run.run_id}'s "
                             f"{'target' if own[0] == spec.target else 'split column'}, never a feature.")
    dropped = tuple(c for c in (*spec.drop, *drop) if c not in add)
    if upweight is None and factor is not None and spec.upweight is None:
        raise WorkbenchError(f"A weight factor needs a slice to weigh: run {run.run_id} up-weighted none; "
                             f"give the slice's condition too (--upweight SQL).")
    if upweight is not None:
        weighting = dict(upweight=upweight, upweight_factor=3.0 if factor is None else factor)
    else:  # the old run's slice, at the new factor where one is given
        weighting = dict(upweight=spec.upweight, upweight_factor=spec.upweight_factor if factor is None else factor)
    new = TrainSpec(spec.dataset, spec.target, task=spec.task, split=spec.split, drop=tuple(dict.fromkeys(dropped)),
                    seed=spec.seed, version=spec.version, params=spec.params, numeric_time=spec.numeric_time,
                    **weighting)
    return train(ws, new, progress)
