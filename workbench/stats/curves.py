"""The points behind the standard charts: ROC, precision-recall, calibration, residuals."""
from __future__ import annotations

import numpy as np
import polars as pl

from workbench.stats.intervals import wilson_interval


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
