"""Holdout metrics of one model, each with a 95% interval, and per-row losses.

Point values come from scikit-learn. Intervals use the exact or analytic form where one
exists, because a bootstrap of every metric would cost seconds per model:

- rates (accuracy): Wilson score interval;
- means of per-row values: t interval on the log scale (log loss, MAE, MSE; values >= 0) or the
  logit scale (Brier; values in [0, 1]), as slices have them; RMSE is the square root of the MSE
  interval;
- ROC AUC: DeLong's variance, on the logit scale, as slices have it;
- PR AUC (average precision): the logit interval of Boyd, Eng and Page (2013);
- F1 and macro F1: a seeded bootstrap, drawn as multinomial counts over the confusion-matrix
  cells (identical in law to resampling rows, and instant);
- R²: a seeded bootstrap over rows, each draw as resampling counts (so memory stays one
  holdout's worth, not draws x rows).

scikit-learn is imported inside the functions that use it: the per-slice intervals need only
NumPy and SciPy, and the error-analysis page, opened on a freshly started server, should not
wait for scikit-learn to import.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from workbench.errors import WorkbenchError
from workbench.stats.intervals import (delong_interval, logit_interval, mean_interval, percentile_interval,
                                       wilson_interval)

Task = Literal["binary", "multiclass", "regression"]
TASKS = ("binary", "multiclass", "regression")
BOOTSTRAP = 400
R2_BOOTSTRAP = 200

# name -> higher is better; drives sorting and the default slice metric
METRICS: dict[str, dict[str, bool]] = {
    "binary": {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False,
               "accuracy": True, "f1": True},
    "multiclass": {"accuracy": True, "macro_f1": True, "log_loss": False},
    "regression": {"rmse": False, "mae": False, "r2": True},
}
UNKNOWN_TASK = "Unknown task {task!r}: use one of binary, multiclass, regression."


def check_task(task: str) -> str:
    """``task`` if the workbench knows it, else a WorkbenchError listing the tasks."""
    if task not in TASKS:
        raise WorkbenchError(UNKNOWN_TASK.format(task=task))
    return task


def _confusion_bootstrap(y_true, y_pred, n_classes, statistic, rng) -> tuple[float, float]:
    """Bootstrap a statistic of the confusion matrix by multinomial draws over its cells."""
    from sklearn import metrics as skm
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes)).ravel()
    draws = rng.multinomial(cm.sum(), cm / cm.sum(), size=BOOTSTRAP)
    return percentile_interval(statistic(draws.reshape(-1, n_classes, n_classes)))


def _f1_from_cm(cms: np.ndarray, *, average: Literal["binary", "macro"]) -> np.ndarray:
    tp = np.diagonal(cms, axis1=1, axis2=2).astype(float)
    fp, fn = cms.sum(axis=1) - tp, cms.sum(axis=2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return f1[:, 1] if average == "binary" else f1.mean(axis=1)


def _r2_bootstrap(y_true: np.ndarray, y_pred: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """R² over resampled rows, each draw as counts per row: the same statistic as indexing the
    rows, in O(rows) memory."""
    n = len(y_true)
    sq_err, y, y2 = (y_true - y_pred) ** 2, y_true, y_true ** 2
    draws = np.empty(R2_BOOTSTRAP)
    for b in range(R2_BOOTSTRAP):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        sy = w @ y
        sst = w @ y2 - sy * sy / n
        draws[b] = 1 - (w @ sq_err) / sst if sst > 0 else np.nan
    return percentile_interval(draws)


def row_loss(task: Task, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None) -> np.ndarray:
    """Per-row log loss (classification, as scikit-learn clips it) or squared error (regression)."""
    check_task(task)
    if task == "regression":
        return (y_true - y_pred) ** 2
    p = proba if proba.ndim == 2 else np.column_stack([1 - proba, proba])
    p = p if p.dtype in (np.float32, np.float64) else p.astype(np.float64)
    eps = np.finfo(p.dtype).eps  # scikit-learn's clip since 1.3: the dtype's eps, not 1e-15
    return -np.log(np.clip(p[np.arange(len(y_true)), y_true], eps, 1 - eps))


def evaluate(task: Task, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None,
             *, n_classes: int = 2, seed: int = 0) -> dict[str, float | list[float]]:
    """Metrics of one model on the holdout, each with ``<name>_ci: [low, high]``.

    ``y_true`` and ``y_pred`` are class indices for classification; ``proba`` is the positive
    class probability (binary) or an (n, n_classes) matrix (multiclass).
    """
    from sklearn import metrics as skm
    check_task(task)
    rng = np.random.default_rng(seed)
    n = len(y_true)
    out: dict[str, float | list[float]] = {}

    def put(name, value, ci):
        out[name] = float(value)
        out[f"{name}_ci"] = [float(ci[0]), float(ci[1])]

    if task == "regression":
        err = y_true - y_pred
        sq = err ** 2
        lo, hi = mean_interval(sq.mean(), sq.std(ddof=1), n, bounds="positive")
        put("rmse", np.sqrt(sq.mean()), (np.sqrt(lo), np.sqrt(hi)))
        put("mae", np.abs(err).mean(), mean_interval(np.abs(err).mean(), np.abs(err).std(ddof=1), n,
                                                     bounds="positive"))
        put("r2", skm.r2_score(y_true, y_pred), _r2_bootstrap(y_true, y_pred, rng))
        return out

    losses = row_loss(task, y_true, y_pred, proba)
    put("log_loss", losses.mean(), mean_interval(losses.mean(), losses.std(ddof=1), n, bounds="positive"))
    correct = int((y_true == y_pred).sum())
    put("accuracy", correct / n, wilson_interval(correct, n))
    if task == "multiclass":
        put("macro_f1", skm.f1_score(y_true, y_pred, average="macro", labels=np.arange(n_classes),
                                     zero_division=0),
            _confusion_bootstrap(y_true, y_pred, n_classes,
                                 lambda c: _f1_from_cm(c, average="macro"), rng))
        return out
    single_class = len(np.unique(y_true)) < 2
    put("roc_auc", np.nan if single_class else skm.roc_auc_score(y_true, proba),
        (np.nan, np.nan) if single_class else delong_interval(y_true, proba))
    ap = np.nan if single_class else skm.average_precision_score(y_true, proba)
    put("pr_auc", ap, logit_interval(ap, int(y_true.sum())))
    brier = (proba - y_true) ** 2
    put("brier", brier.mean(), mean_interval(brier.mean(), brier.std(ddof=1), n, bounds="unit"))
    put("f1", skm.f1_score(y_true, y_pred, zero_division=0),
        _confusion_bootstrap(y_true, y_pred, 2, lambda c: _f1_from_cm(c, average="binary"), rng))
    return out


def comparison(task: Task, scores: dict[str, dict]) -> pl.DataFrame:
    """Long table of every model's metrics: model, metric, value, ci_low, ci_high, best.

    ``best`` marks the model with the best point value of each metric."""
    check_task(task)
    rows = [{"model": model, "metric": name, "value": s.get(name), "ci_low": (s.get(f"{name}_ci") or [None])[0],
             "ci_high": (s.get(f"{name}_ci") or [None, None])[1]}
            for model, s in scores.items() for name in METRICS[task] if name in s]
    frame = pl.DataFrame(rows, schema={"model": pl.String, "metric": pl.String, "value": pl.Float64,
                                       "ci_low": pl.Float64, "ci_high": pl.Float64}).fill_nan(None)
    higher = pl.col("metric").replace_strict(METRICS[task], return_dtype=pl.Boolean)
    best = pl.when(higher).then(pl.col("value").max().over("metric")).otherwise(pl.col("value").min().over("metric"))
    return frame.with_columns(best=pl.col("value") == best)
