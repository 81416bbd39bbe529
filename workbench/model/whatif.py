"""One holdout row explained, and what-if: the same row with some values changed.

The row is read from the run's predictions, changed values are checked and cast to the column's
stored type, and both rows are coded by the run's stored encoding (as at training) and explained
by TreeSHAP, so "after" is exactly what the model says of the edited row.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from workbench.errors import WorkbenchError
from workbench.model import explain
from workbench.store.runs import Run

UNKNOWN_ROW = ("Run {run_id} has no holdout row with _row = {row}; its holdout rows' _row values lie between {low} "
               "and {high} (not every number between is one): pick one from a slice's rows.")
UNKNOWN_FEATURE = "Unknown feature {column!r} for run {run_id}{hint}; the model's features: {features}."
NOT_A_NUMBER = "{column!r} is a number column; {value!r} is not a number. Give a number, or an empty value for missing."
NOT_A_TIME = "{column!r} is a {kind} column; {value!r} is not one (write it as {example}), or give an empty value for missing."
NOT_A_BOOL = "{column!r} is a true/false column; {value!r} is neither. Give true or false, or an empty value for missing."
UNSEEN = ("{column!r} never had the value {value!r} in training, so the model would treat it as missing; "
          "choose one it knows{hint} (it knows {count}: {some}), or an empty value for missing.")
BAD_SETTING = "A change is COLUMN=VALUE (an empty VALUE means missing); got {text!r}."
_TIME_EXAMPLES = {pl.Date: "2013-12-24", pl.Datetime: "2013-12-24 18:00:00"}


@dataclass(frozen=True)
class RowPrediction:
    """What the model makes of one row: ``base_value`` plus the ``contributions`` is ``raw_score``
    (the margin: log-odds for binary; the class's margin for multiclass); ``prediction`` is the
    positive class's probability (binary), the class's probability (multiclass) or the value."""

    values: dict[str, Any]
    base_value: float
    raw_score: float
    prediction: float
    contributions: dict[str, float]

    def to_dict(self, row: int) -> dict:
        return {"row": row, "base_value": self.base_value, "raw_score": self.raw_score, "prediction": self.prediction,
                "contributions": self.contributions, "values": self.values}


@dataclass(frozen=True)
class RowExplanation:
    """A holdout row's prediction explained (``before``) and, after a what-if, the edited row's
    (``after``); for a multiclass run both explain the margin of ``cls``."""

    run_id: str
    row: int
    cls: Any
    label: Any
    changes: dict[str, Any]
    before: RowPrediction
    after: RowPrediction | None = None

    def to_dict(self) -> dict:
        if self.after is None:
            return {"run_id": self.run_id, "class": self.cls, "label": self.label, **self.before.to_dict(self.row)}
        return {"run_id": self.run_id, "row": self.row, "class": self.cls, "label": self.label,
                "changes": self.changes, "before": self.before.to_dict(self.row), "after": self.after.to_dict(self.row)}


def parse_changes(texts: list[str]) -> dict[str, str | None]:
    """``COLUMN=VALUE`` texts (the CLI's ``--set``) to a dict; an empty VALUE means missing."""
    changes: dict[str, str | None] = {}
    for text in texts:
        column, sep, value = text.partition("=")
        if not sep or not column.strip():
            raise WorkbenchError(BAD_SETTING.format(text=text))
        changes[column.strip()] = value if value != "" else None
    return changes


def _hint(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def coerce(run: Run, column: str, value: Any, dtype: pl.DataType) -> Any:
    """``value`` as the column's stored type, checked against what training saw; None is missing."""
    enc = run.record.encoding
    if value is None:
        return None
    if column in enc["categorical"]:
        known = list(enc["categorical"][column])
        text = str(value)
        if text not in known:
            some = ", ".join(map(repr, known[:8])) + (", …" if len(known) > 8 else "")
            raise WorkbenchError(UNSEEN.format(column=column, value=text, hint=_hint(text, known), count=len(known),
                                               some=some))
        return pl.Series([text]).cast(dtype).item()
    if dtype == pl.Boolean:
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise WorkbenchError(NOT_A_BOOL.format(column=column, value=value))
        return text in ("true", "1")
    if dtype.is_temporal():
        kind = "date" if dtype == pl.Date else "timestamp"
        try:
            return pl.Series([str(value)]).str.strptime(dtype, strict=True).item()
        except (pl.exceptions.PolarsError, ValueError):
            raise WorkbenchError(NOT_A_TIME.format(column=column, kind=kind, value=value,
                                                   example=_TIME_EXAMPLES.get(dtype.base_type(), "2013-12-24"))) from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WorkbenchError(NOT_A_NUMBER.format(column=column, value=value)) from None
    if not np.isfinite(number):
        raise WorkbenchError(NOT_A_NUMBER.format(column=column, value=value))
    try:
        return pl.Series([number]).cast(dtype, strict=True).item()
    except pl.exceptions.PolarsError:
        raise WorkbenchError(f"{column!r} holds {dtype} values; {value!r} does not fit (a whole number in range, "
                             "say), or give an empty value for missing.") from None


def _explain(run: Run, frame: pl.DataFrame, values: np.ndarray, k: int) -> RowPrediction:
    """One row's prediction from its TreeSHAP ``values`` (outputs x features + 1): each output's
    margin is the sum of its row (base value and contributions)."""
    raw = values.sum(axis=1)
    pred = explain.prediction(run, raw)
    names = list(run.record.features)
    return RowPrediction(values={c: frame[c][0] for c in names}, base_value=float(values[k, -1]),
                         raw_score=float(raw[k]), prediction=float(pred[k] if run.task == "multiclass" else pred),
                         contributions={f: float(v) for f, v in zip(names, values[k, :-1])})


def explain_row(run: Run, row: int, changes: dict[str, Any] | None = None, *, cls: Any = None) -> RowExplanation:
    """The holdout row whose ``_row`` is ``row``, explained; with ``changes`` ({column: value},
    None for missing), the edited row beside it. A multiclass run explains the margin of ``cls``,
    by default the class the model predicts for the row."""
    if not run.model_path.is_file():
        raise WorkbenchError(f"Run {run.run_id} has no LightGBM model to explain (model.txt is missing).")
    frame = explain.feature_rows(run, np.array([row], dtype=np.int64))
    if not frame.height:
        rows = pq.read_table(run.predictions, columns=["_row"])["_row"].to_numpy()
        raise WorkbenchError(UNKNOWN_ROW.format(run_id=run.run_id, row=row, low=int(rows.min()), high=int(rows.max())))
    names = list(run.record.features)
    edited = frame
    coerced: dict[str, Any] = {}
    for column, value in (changes or {}).items():
        if column not in names:
            hint = _hint(column, names)
            raise WorkbenchError(UNKNOWN_FEATURE.format(column=column, run_id=run.run_id, hint=hint,
                                                        features=", ".join(names)))
        coerced[column] = coerce(run, column, value, frame.schema[column])
        edited = edited.with_columns(pl.Series(column, [coerced[column]], dtype=frame.schema[column]))
    classes = list(run.record.classes)
    shap_before = explain.contributions(run, frame)[0]
    label = pl.read_parquet(run.predictions, columns=["_row", "_label"]).filter(pl.col("_row") == row)["_label"][0]
    if run.task == "multiclass":
        if cls is None:
            k = int(np.argmax(shap_before.sum(axis=1)))
        elif str(cls) in map(str, classes):
            k = [str(c) for c in classes].index(str(cls))
        else:
            raise WorkbenchError(f"Unknown class {cls!r} for run {run.run_id}; classes: {', '.join(map(str, classes))}.")
    elif cls is not None:
        raise WorkbenchError(f"Unknown class {cls!r} for run {run.run_id}; classes: none (only multiclass runs "
                             "have one per class).")
    else:
        k = 0
    before = _explain(run, frame, shap_before, k)
    after = _explain(run, edited, explain.contributions(run, edited)[0], k) if changes else None
    return RowExplanation(run.run_id, int(row), classes[k] if run.task == "multiclass" else None, label,
                          {c: _jsonable(v) for c, v in coerced.items()}, _json_values(before),
                          _json_values(after) if after else None)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # dates and times


def _json_values(p: RowPrediction) -> RowPrediction:
    return RowPrediction({c: _jsonable(v) for c, v in p.values.items()}, p.base_value, p.raw_score, p.prediction,
                         p.contributions)
