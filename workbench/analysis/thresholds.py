"""Rates of a binary run's decisions at a threshold: a row is predicted positive when its score
(the probability of the positive class) is at least the threshold.

Each rate is a share of some of the rows: the selection rate of all of them, TPR and FNR of the
actual positives, FPR of the actual negatives, precision of the predicted positives. Its per-row
SQL is NULL outside those rows, so ``count(x)`` is the rate's denominator and ``sum(x)`` its
count, in a breakdown's one ``GROUP BY`` as in parity's."""
from __future__ import annotations

from workbench.errors import WorkbenchError

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
    return (f"{metric} at threshold {threshold:g} (predicted positive: score >= {threshold:g}), "
            f"a share of {OF_ROWS[metric]}")
