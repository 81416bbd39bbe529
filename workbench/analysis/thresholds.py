"""Rates of a binary run's decisions at a threshold: a row is predicted positive when its score
(the probability of the positive class) is at least the threshold.

Each rate is a share of some of the rows: the selection rate of all of them, TPR and FNR of the
actual positives, FPR of the actual negatives, precision of the predicted positives. Its per-row
SQL is NULL outside those rows, so ``count(x)`` is the rate's denominator and ``sum(x)`` its
count, in a breakdown's one ``GROUP BY`` as in parity's.

:func:`at_threshold` is the run view's reading of one threshold: the four confusion counts from one
DuckDB query, and precision, recall, F1, selection rate, accuracy and FPR with 95% intervals."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from workbench import stats
from workbench.engine import limits, sql_literal
from workbench.errors import WorkbenchError
from workbench.stats import rates
from workbench.store.runs import Run

THRESHOLD_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "precision")
# metric -> (per-row SQL with {y} the 0/1 label and {t} the threshold, higher is better)
_SQL = {
    "selection_rate": ("(_score >= {t})::INT", None),
    "tpr": ("CASE WHEN {y} = 1 THEN (_score >= {t})::INT END", True),
    "fpr": ("CASE WHEN {y} = 0 THEN (_score >= {t})::INT END", False),
    "fnr": ("CASE WHEN {y} = 1 THEN (_score < {t})::INT END", False),
    "precision": ("CASE WHEN _score >= {t} THEN {y} END", True),
}
OF_ROWS = {"selection_rate": "all rows", "tpr": "the actual positives", "fpr": "the actual negatives",
           "fnr": "the actual positives", "precision": "the predicted positives"}


def check_threshold(threshold: float) -> float:
    """The threshold as a float, or a WorkbenchError naming it and the range allowed."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0 < t < 1:
        raise WorkbenchError(f"Threshold {threshold!r} is outside (0, 1); give a probability strictly "
                             f"between 0 and 1, e.g. 0.5.")
    return t


def row_sql(metric: str, y: str, threshold: float) -> str:
    """The per-row SQL of ``metric`` at ``threshold`` (NULL outside the rate's denominator)."""
    return _SQL[metric][0].format(y=y, t=repr(check_threshold(threshold)))


def higher_is_better(metric: str) -> bool | None:
    return _SQL[metric][1]


def describe(metric: str, threshold: float) -> str:
    """A threshold rate in words: what it counts, of which rows, at which threshold."""
    return (f"{metric} at threshold {threshold:.10g} (predicted positive: score >= {threshold:.10g}), "
            f"a share of {OF_ROWS[metric]}")


# ---- a run's decisions at one threshold: the confusion matrix and the metrics it gives ----------

F1_RESAMPLES = 2000
# metric -> how its interval is made, for captions and --json
VIEW_METRICS = {"precision": "Wilson", "recall": "Wilson", "f1": "bootstrap", "selection_rate": "Wilson",
                "accuracy": "Wilson", "fpr": "Wilson"}


@dataclass(frozen=True)
class ThresholdView:
    """A binary run's holdout decisions at ``threshold`` (score >= threshold is predicted
    ``positive_class``): the four confusion counts and, in ``metrics``, one row per metric of
    ``VIEW_METRICS`` with ``value``, ``ci_low``, ``ci_high`` (95%), ``k`` and ``of`` (its count and
    denominator; F1 has none) and ``interval`` (the method's name). A metric whose denominator is
    empty (precision with no predicted positives) is None, never a made-up 0."""

    run_id: str
    positive_class: Any
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    metrics: pl.DataFrame
    method: str
    seed: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def value(self, metric: str) -> float | None:
        return self.metrics.filter(pl.col("metric") == metric)["value"][0]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "positive_class": self.positive_class, "threshold": self.threshold,
                "n": self.n, "confusion": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
                "metrics": {r["metric"]: {"value": r["value"], "ci": [r["ci_low"], r["ci_high"]],
                                          "interval": r["interval"]}
                            for r in self.metrics.iter_rows(named=True)},
                "method": self.method, "seed": self.seed}


def view_method(threshold: float, resamples: int = F1_RESAMPLES, seed: int = 0) -> str:
    """How a threshold view's figures are made, in words, for captions."""
    return (f"Predicted positive: score >= {threshold:.10g}. 95% intervals: Wilson for precision (of the predicted "
            f"positives), recall (of the actual positives), FPR (of the actual negatives), selection rate and "
            f"accuracy (of all rows); F1: percentile bootstrap over rows, drawn as multinomial counts of the "
            f"four confusion cells ({resamples:,} resamples, seed {seed}); where every resample gives the same F1 "
            f"(no true positives, say), the Wilson interval of J = TP/(TP+FP+FN) mapped to F1 = 2J/(1+J).")


def at_threshold(run: Run, threshold: float = 0.5, *, resamples: int = F1_RESAMPLES,
                 seed: int = 0) -> ThresholdView:
    """The confusion matrix of a binary ``run``'s holdout at ``threshold``, with precision, recall,
    F1, selection rate, accuracy and FPR and their 95% intervals: one DuckDB query counts the cells.

    >>> v = at_threshold(run, 0.3)                       # doctest: +SKIP
    >>> v.tp, v.fp, v.value("f1")                        # doctest: +SKIP
    """
    if run.task != "binary":
        raise WorkbenchError(f"A decision threshold needs a binary run; run {run.run_id} is a {run.task} run.")
    threshold = check_threshold(threshold)
    y = f"(_label = {sql_literal(run.record.positive_class)})"
    hit = f"(_score >= {threshold!r})"
    con = run.workspace.cursor()
    with limits(con):
        tp, fp, fn, tn = con.execute(
            f"SELECT count_if({hit} AND {y}), count_if({hit} AND NOT {y}), count_if(NOT {hit} AND {y}), "
            f"count_if(NOT {hit} AND NOT {y}) FROM read_parquet({sql_literal(str(run.predictions))})").fetchone()
    cells = np.array([tp, fp, fn, tn], np.int64)
    rows = []
    for metric, (top, bottom) in _VIEW_CELLS.items():
        k, n = int(cells[list(top)].sum()), int(cells[list(bottom)].sum())
        low, high = stats.wilson_interval(k, n)
        rows.append({"metric": metric, "value": k / n if n else None, "ci_low": _finite(low),
                     "ci_high": _finite(high), "k": k, "of": n, "interval": "Wilson"})
    f1_low, f1_high = _f1_interval(cells, resamples=resamples, seed=seed)
    rows.insert(2, {"metric": "f1", "value": _f1(cells[None])[0], "ci_low": f1_low, "ci_high": f1_high,
                    "k": None, "of": None, "interval": "bootstrap"})
    frame = pl.DataFrame(rows, schema={"metric": pl.String, "value": pl.Float64, "ci_low": pl.Float64,
                                       "ci_high": pl.Float64, "k": pl.Int64, "of": pl.Int64, "interval": pl.String})
    return ThresholdView(run.run_id, run.record.positive_class, threshold, int(tp), int(fp), int(fn), int(tn),
                         frame, view_method(threshold, resamples, seed), seed)


# metric -> (cells counted, cells of the denominator), by index in (tp, fp, fn, tn)
_VIEW_CELLS = {"precision": ((0,), (0, 1)), "recall": ((0,), (0, 2)), "selection_rate": ((0, 1), (0, 1, 2, 3)),
               "accuracy": ((0, 3), (0, 1, 2, 3)), "fpr": ((1,), (1, 3))}


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _f1(cells: np.ndarray) -> np.ndarray:
    """F1 of each row of (tp, fp, fn, tn) counts; 0 where there are no positives of either kind,
    as scikit-learn's ``zero_division=0``."""
    tp, fp, fn = (cells[..., i].astype(float) for i in range(3))
    bottom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, 2 * tp / bottom, 0.0)


def _f1_interval(cells: np.ndarray, *, resamples: int, seed: int) -> tuple[float | None, float | None]:
    """The bootstrap's percentile interval of F1; where it has no width (every resample alike, as
    with no true positive at an extreme threshold), F1 = 2J/(1+J) of J = TP/(TP+FP+FN)'s Wilson
    interval, which keeps a width and stays in [0, 1]."""
    tp, fp, fn = (int(c) for c in cells[:3])
    if cells.sum() == 0 or tp + fp + fn == 0:
        return None, None
    draws = rates.bootstrap_cells(cells[None], resamples=resamples, seed=seed)[:, 0]
    low, high = stats.percentile_interval(_f1(draws))
    if not high > low:
        j_low, j_high = (float(x) for x in stats.wilson_interval(tp, tp + fp + fn))
        low, high = 2 * j_low / (1 + j_low), 2 * j_high / (1 + j_high)
    return _finite(low), _finite(high)
