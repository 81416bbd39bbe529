"""The run record: one folder per training run, readable without the workbench.

``.workbench/runs/<run_id>/`` holds ``model.txt`` (LightGBM's text format; no pickle; absent
for a run imported from predictions made elsewhere), ``run.json`` (everything needed to reproduce
and report the run: a :class:`RunRecord`) and
``predictions.parquet`` (the holdout rows with ``_label``, ``_pred``, ``_score``, ``_loss``
and ``_correct``, worst loss first; ``_row`` gives each row's place in the dataset).
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.errors import WorkbenchError
from workbench.store.workspace import Workspace, stage, write_json

RECORD = "run.json"
MODEL = "model.txt"
PREDICTIONS = "predictions.parquet"
ROW_GROUP = 65_536
UNKNOWN_RUN = "Unknown run {run_id!r}; recent runs: {known}."
RUN_EXISTS = "Run {run_id!r} exists already; choose another name."
_GENERATED_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]+")  # train's ids: UTC time stamp and a random suffix


def _safe_statistics(table: pa.Table) -> list[str]:
    """Columns whose parquet min/max statistics may be written: all but float columns holding NaN.

    pyarrow leaves NaN out of min/max (as the parquet format says), and DuckDB 2.0 then folds
    ``isnan(x)`` to false from those statistics, so a NaN check over such a file finds nothing."""
    safe = []
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
            continue
        safe.append(name)
    return safe


def worst_first(predictions: pa.Table) -> pa.Table:
    """Rows by descending ``_loss`` (stable). Stored so, with small row groups, the worst rows of
    any slice are found by reading a few row groups: 36 ms instead of 264 ms on a 1M-row holdout."""
    order = pc.sort_indices(predictions, sort_keys=[("_loss", "descending")])
    return predictions.take(order)


# the columns a run's predictions.parquet adds beside the dataset's own
OWN_COLUMNS = ("_row", "_label", "_pred", "_score", "_loss", "_correct", "_score_linear", "_pred_linear")
OWN_NAME = ("Dataset {dataset!r} has {which} named like the workbench's own columns in a run's predictions "
            "({own}), which would be overwritten there; rename {it} in the dataset's SQL, e.g. "
            "SELECT * EXCLUDE ({first}), {first} AS {plain} FROM ...")


def check_own_names(columns, dataset: str) -> None:
    """Refuse a dataset with a column named like one the workbench writes into predictions
    (``OWN_COLUMNS``): stored beside the workbench's value, one of the two would be lost."""
    clash = [c for c in columns if c in OWN_COLUMNS]
    if clash:
        several = len(clash) > 1
        raise WorkbenchError(OWN_NAME.format(
            dataset=dataset, which=f"columns {', '.join(map(repr, clash))}" if several else f"a column {clash[0]!r}",
            own=", ".join(OWN_COLUMNS), it="them" if several else "it", first=clash[0], plain=clash[0].lstrip("_")))


@dataclass(frozen=True)
class DatasetRef:
    """The dataset version a run was trained on."""

    name: str
    version: int
    hash: str
    rows: int


@dataclass(frozen=True)
class SplitInfo:
    """How the rows were split: ``kind`` random, time or column, on ``column``, and the counts."""

    kind: str
    column: str | None
    n_train: int
    n_valid: int
    n_holdout: int
    numeric_time: bool = False  # a time split on a number that counts time (TrainSpec.numeric_time)


@dataclass(frozen=True)
class RunRecord:
    """Everything ``run.json`` says of a run. ``encoding`` is the feature encoding's own dict
    (:meth:`workbench.model.features.Encoding.from_dict` rebuilds it); ``metrics`` maps each
    model (lightgbm, linear, trivial) to its holdout metrics, each ``m`` with ``m_ci``."""

    run_id: str
    created: str
    dataset: DatasetRef
    target: str
    task: str
    classes: tuple
    positive_class: Any
    features: tuple[str, ...]
    model_feature_names: tuple[str, ...]
    split: SplitInfo
    seed: int
    params: dict
    best_iteration: int
    encoding: dict
    metrics: dict[str, dict]
    ignored_columns: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    timings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    # where an imported run's predictions came from (file, size, sha256, key, column, rows
    # matched); None for a trained run
    source: dict | None = None
    # how training weighted its rows where it did not weigh them all alike: the SQL condition of
    # the up-weighted slice and its weight ({"where": ..., "factor": ...}); None for equal weights
    weighting: dict | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "RunRecord":
        return cls(
            run_id=d["run_id"], created=d["created"], dataset=DatasetRef(**d["dataset"]),
            target=d["target"], task=d["task"], classes=tuple(d["classes"]), positive_class=d.get("positive_class"),
            features=tuple(d["features"]), model_feature_names=tuple(d.get("model_feature_names", d["features"])),
            split=SplitInfo(**d["split"]), seed=d["seed"], params=d["params"], best_iteration=d["best_iteration"],
            encoding=d["encoding"], metrics=d["metrics"], ignored_columns=tuple(d.get("ignored_columns", ())),
            dropped=tuple(d.get("dropped", ())), timings=d.get("timings", {}), versions=d.get("versions", {}),
            source=d.get("source"), weighting=d.get("weighting"))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """A finished run as stored on disk."""

    path: Path
    record: RunRecord

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def metrics(self) -> dict[str, dict]:
        return self.record.metrics

    @property
    def workspace(self) -> Workspace:
        """The workspace holding this run (``<root>/.workbench/runs/<run_id>``)."""
        return Workspace(self.path.parents[2])

    def label(self) -> str:
        """A short human name: id, dataset and target."""
        d = self.record.dataset
        return f"{self.run_id} · {d.name} v{d.version} → {self.record.target}"

    @property
    def imported(self) -> bool:
        """Whether the predictions were made elsewhere and imported (no model in the run)."""
        return self.record.source is not None

    def to_dict(self) -> dict:
        r = self.record
        out = {"run_id": r.run_id, "dataset": r.dataset.name, "target": r.target, "task": r.task,
               "created": r.created, "n_train": r.split.n_train, "n_holdout": r.split.n_holdout,
               "positive_class": r.positive_class, "path": str(self.path), "metrics": r.metrics}
        if r.source is not None:
            out["source"] = r.source
        if r.weighting is not None:
            out["weighting"] = r.weighting
        return out


@dataclass(frozen=True)
class RunList:
    runs: tuple[Run, ...]

    def to_dict(self) -> dict:
        return {"runs": [r.to_dict() for r in self.runs]}


def _read(folder: Path) -> Run:
    return Run(folder, RunRecord.from_dict(json.loads((folder / RECORD).read_text())))


def write_run(ws: Workspace, record: RunRecord, model_text: str | None, predictions: pa.Table) -> Run:
    """Store a run atomically: all its files appear together or not at all. ``model_text`` None
    (imported predictions) writes no ``model.txt``.

    A trained run's id is the workbench's to choose: if another run took it meanwhile (two
    trainings in the same second), the run is stored under a fresh id instead, so two runs never
    share a folder. An imported run's id is the user's name, and a taken one is an error."""
    final = ws.runs_dir / record.run_id
    if final.exists() and not _renamable(record):
        raise WorkbenchError(RUN_EXISTS.format(run_id=record.run_id))
    with stage(final, what=f"run {record.run_id}") as staged:
        if model_text is not None:
            (staged.path / MODEL).write_text(model_text)
        pq.write_table(worst_first(predictions), staged.path / PREDICTIONS, compression="zstd",
                       row_group_size=ROW_GROUP, write_statistics=_safe_statistics(predictions))
        for _ in range(100):
            if not final.exists():
                write_json(staged.path / RECORD, record.to_dict())
                if staged.publish(final):
                    break
            if not _renamable(record):
                raise WorkbenchError(RUN_EXISTS.format(run_id=record.run_id))
            record = replace(record, run_id=_fresh_id(record.run_id))
            final = ws.runs_dir / record.run_id
        else:
            raise WorkbenchError(RUN_EXISTS.format(run_id=record.run_id))
    return _read(final)


def _renamable(record: RunRecord) -> bool:
    """Whether the run's id was made by the workbench (a trained run), not named by the user."""
    return record.source is None and _GENERATED_ID.fullmatch(record.run_id) is not None


def _fresh_id(run_id: str) -> str:
    """The same time stamp with a new random suffix."""
    return f"{run_id.rsplit('-', 1)[0]}-{secrets.token_hex(2)}"


def list_runs(ws: Workspace) -> list[Run]:
    """Every complete run, newest first."""
    if not ws.runs_dir.is_dir():
        return []
    runs = [_read(d) for d in ws.runs_dir.iterdir() if not d.name.startswith(".") and (d / RECORD).is_file()]
    return sorted(runs, key=lambda r: (r.record.created, r.run_id), reverse=True)


def load_run(ws: Workspace, run_id: str) -> Run:
    path = ws.runs_dir / str(run_id)
    if "/" in str(run_id) or "\\" in str(run_id) or not (path / RECORD).is_file():
        known = ", ".join(r.run_id for r in list_runs(ws)[:5]) or "none yet (train one first)"
        raise WorkbenchError(UNKNOWN_RUN.format(run_id=run_id, known=known))
    return _read(path)
