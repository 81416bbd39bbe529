"""Holdout metrics with 95% intervals, and the curve data behind the standard charts.

Point values come from scikit-learn. Intervals use the exact or analytic form where one
exists, because a bootstrap of every metric would cost seconds per model:

- rates (accuracy, error rate): Wilson score interval;
- means of per-row values (log loss, Brier, MAE, MSE): t interval; RMSE is the square root
  of the MSE interval;
- ROC AUC: DeLong's variance (overall) or Hanley and McNeil's (per slice, from counts only);
- PR AUC (average precision): the logit interval of Boyd, Eng and Page (2013);
- F1 and macro F1: a seeded bootstrap, drawn as multinomial counts over the confusion-matrix
  cells (identical in law to resampling rows, and instant);
- R²: a seeded bootstrap over rows.

scikit-learn is imported inside the functions that use it: the per-slice intervals need only
NumPy and SciPy, and the error-analysis page, opened on a freshly started server, should not
wait for scikit-learn to import.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from scipy import special, stats

Task = Literal["binary", "multiclass", "regression"]
Z95 = stats.norm.ppf(0.975)
EPS = 1e-15
BOOTSTRAP = 400

# name -> higher is better; drives sorting and the default slice metric
METRICS: dict[Task, dict[str, bool]] = {
    "binary": {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False,
               "accuracy": True, "f1": True},
    "multiclass": {"accuracy": True, "macro_f1": True, "log_loss": False},
    "regression": {"rmse": False, "mae": False, "r2": True},
}


def wilson_interval(k, n, *, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes out of n (vectorized)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def mean_interval(mean, sd, n) -> tuple[np.ndarray, np.ndarray]:
    """Student t interval for a mean from its sample standard deviation (vectorized)."""
    mean, sd, n = np.asarray(mean, float), np.asarray(sd, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    return mean - half, mean + half


def hanley_mcneil_se(auc, n_pos, n_neg) -> np.ndarray:
    """Standard error of ROC AUC from the AUC and class counts (Hanley and McNeil, 1982)."""
    a, m, n = np.asarray(auc, float), np.asarray(n_pos, float), np.asarray(n_neg, float)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n)
    return np.sqrt(np.maximum(var, 0))


def delong_interval(y_true: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """95% interval of ROC AUC from DeLong's variance, via midranks (Sun and Xu, 2014)."""
    pos, neg = score[y_true == 1], score[y_true == 0]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return (np.nan, np.nan)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:m] - stats.rankdata(pos)) / n
    v10 = 1 - (tz[m:] - stats.rankdata(neg)) / m
    se = np.sqrt(v01.var(ddof=1) / m + v10.var(ddof=1) / n)
    return (max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se))


def _logit_interval(value: float, n_pos: int) -> tuple[float, float]:
    if not 0 < value < 1 or n_pos == 0:
        return (value, value)
    eta, tau = np.log(value / (1 - value)), 1 / np.sqrt(n_pos * value * (1 - value))
    return tuple(float(special.expit(eta + s * Z95 * tau)) for s in (-1, 1))


def _percentile(draws: np.ndarray) -> list[float]:
    draws = draws[np.isfinite(draws)]
    return [float(x) for x in np.percentile(draws, [2.5, 97.5])] if len(draws) else [np.nan, np.nan]


def _confusion_bootstrap(y_true, y_pred, n_classes, statistic, rng) -> list[float]:
    """Bootstrap a statistic of the confusion matrix by multinomial draws over its cells."""
    from sklearn import metrics as skm
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes)).ravel()
    draws = rng.multinomial(cm.sum(), cm / cm.sum(), size=BOOTSTRAP)
    return _percentile(statistic(draws.reshape(-1, n_classes, n_classes)))


def _f1_from_cm(cms: np.ndarray, *, average: Literal["binary", "macro"]) -> np.ndarray:
    tp = np.diagonal(cms, axis1=1, axis2=2).astype(float)
    fp, fn = cms.sum(axis=1) - tp, cms.sum(axis=2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return f1[:, 1] if average == "binary" else f1.mean(axis=1)


def row_loss(task: Task, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None) -> np.ndarray:
    """Per-row log loss (classification, as scikit-learn clips it) or squared error (regression)."""
    if task == "regression":
        return (y_true - y_pred) ** 2
    p = proba if proba.ndim == 2 else np.column_stack([1 - proba, proba])
    return -np.log(np.clip(p[np.arange(len(y_true)), y_true], EPS, 1))


def evaluate(task: Task, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None,
             *, n_classes: int = 2, seed: int = 0) -> dict[str, float | list[float]]:
    """Metrics of one model on the holdout, each with ``<name>_ci: [low, high]``.

    ``y_true`` and ``y_pred`` are class indices for classification; ``proba`` is the positive
    class probability (binary) or an (n, n_classes) matrix (multiclass).
    """
    from sklearn import metrics as skm
    rng = np.random.default_rng(seed)
    n = len(y_true)
    out: dict[str, float | list[float]] = {}

    def put(name, value, ci):
        out[name] = float(value)
        out[f"{name}_ci"] = [float(ci[0]), float(ci[1])]

    if task == "regression":
        err = y_true - y_pred
        sq = err ** 2
        lo, hi = mean_interval(sq.mean(), sq.std(ddof=1), n)
        put("rmse", np.sqrt(sq.mean()), (np.sqrt(max(lo, 0)), np.sqrt(hi)))
        put("mae", np.abs(err).mean(), mean_interval(np.abs(err).mean(), np.abs(err).std(ddof=1), n))
        idx = rng.integers(0, n, size=(min(BOOTSTRAP, 200), n))
        yt, yp = y_true[idx], y_pred[idx]
        r2 = 1 - ((yt - yp) ** 2).sum(1) / ((yt - yt.mean(1, keepdims=True)) ** 2).sum(1)
        put("r2", skm.r2_score(y_true, y_pred), _percentile(r2))
        return out

    losses = row_loss(task, y_true, y_pred, proba)
    put("log_loss", losses.mean(), mean_interval(losses.mean(), losses.std(ddof=1), n))
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
    put("pr_auc", ap, _logit_interval(ap, int(y_true.sum())))
    brier = (proba - y_true) ** 2
    put("brier", brier.mean(), mean_interval(brier.mean(), brier.std(ddof=1), n))
    put("f1", skm.f1_score(y_true, y_pred, zero_division=0),
        _confusion_bootstrap(y_true, y_pred, 2, lambda c: _f1_from_cm(c, average="binary"), rng))
    return out


def _thin(frame: pl.DataFrame, points: int) -> pl.DataFrame:
    """Keep about ``points`` evenly spaced rows (and the last), so charts stay small."""
    if frame.height <= points:
        return frame
    step = frame.height / points
    keep = sorted({int(i * step) for i in range(points)} | {frame.height - 1})
    return frame[keep]


def roc_points(y_true: np.ndarray, score: np.ndarray, *, points: int = 300) -> pl.DataFrame:
    from sklearn import metrics as skm
    fpr, tpr, _ = skm.roc_curve(y_true, score)
    return _thin(pl.DataFrame({"fpr": fpr, "tpr": tpr}), points)


def pr_points(y_true: np.ndarray, score: np.ndarray, *, points: int = 300) -> pl.DataFrame:
    from sklearn import metrics as skm
    precision, recall, _ = skm.precision_recall_curve(y_true, score)
    return _thin(pl.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}), points)


def calibration_points(y_true: np.ndarray, score: np.ndarray, *, bins: int = 10) -> pl.DataFrame:
    """Mean predicted vs observed positive rate in quantile bins of the score, with Wilson intervals."""
    edges = np.unique(np.quantile(score, np.linspace(0, 1, bins + 1)[1:-1]))
    frame = pl.DataFrame({"y": y_true, "p": score, "bin": np.searchsorted(edges, score, side="right")})
    agg = frame.group_by("bin").agg(pl.len().alias("n"), pl.col("p").mean().alias("predicted"),
                                     pl.col("y").sum().alias("k")).sort("predicted")
    lo, hi = wilson_interval(agg["k"].to_numpy(), agg["n"].to_numpy())
    return agg.with_columns(observed=pl.col("k") / pl.col("n"), low=lo, high=hi).drop("bin", "k")


def residual_points(y_true: np.ndarray, y_pred: np.ndarray, *, points: int = 2000,
                    seed: int = 0) -> pl.DataFrame:
    """A seeded sample of (actual, predicted, residual) for scatter charts."""
    idx = np.arange(len(y_true))
    if len(idx) > points:
        idx = np.sort(np.random.default_rng(seed).choice(idx, points, replace=False))
    return pl.DataFrame({"actual": y_true[idx], "predicted": y_pred[idx],
                         "residual": y_true[idx] - y_pred[idx]})


def comparison(task: Task, scores: dict[str, dict]) -> pl.DataFrame:
    """Long table of every model's metrics: model, metric, value, ci_low, ci_high, best.

    ``best`` marks the model with the best point value of each metric."""
    rows = [{"model": model, "metric": name, "value": s.get(name), "ci_low": (s.get(f"{name}_ci") or [None])[0],
             "ci_high": (s.get(f"{name}_ci") or [None, None])[1]}
            for model, s in scores.items() for name in METRICS[task] if name in s]
    frame = pl.DataFrame(rows, schema={"model": pl.String, "metric": pl.String, "value": pl.Float64,
                                       "ci_low": pl.Float64, "ci_high": pl.Float64}).fill_nan(None)
    higher = pl.col("metric").replace_strict(METRICS[task], return_dtype=pl.Boolean)
    best = pl.when(higher).then(pl.col("value").max().over("metric")).otherwise(pl.col("value").min().over("metric"))
    return frame.with_columns(best=pl.col("value") == best)
