"""The data behind a run's standard charts, read from its ``predictions.parquet``.

Classification: ROC and precision-recall curves (LightGBM and the linear baseline) and a
calibration table. Regression: a sample of predicted against actual values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from workbench.stats import curves
from workbench.store.runs import Run

MODELS = {"lightgbm": "_score", "linear": "_score_linear"}


@dataclass(frozen=True)
class Diagnostics:
    task: str
    roc: pl.DataFrame | None = None          # model, fpr, tpr
    pr: pl.DataFrame | None = None           # model, recall, precision
    calibration: pl.DataFrame | None = None  # n, predicted, observed, low, high
    residuals: pl.DataFrame | None = None    # model, actual, predicted, residual
    base_rate: float | None = None


def diagnostics(run: Run) -> Diagnostics:
    """Curves for a binary run, residual samples for regression, nothing for multiclass."""
    if run.task == "multiclass":
        return Diagnostics(run.task)
    names = pq.read_schema(run.predictions).names
    if run.task == "binary":
        cols = ["_label"] + [c for c in MODELS.values() if c in names]
        frame = pl.read_parquet(run.predictions, columns=cols)
        y = (frame["_label"] == run.record.positive_class).to_numpy().astype(np.int64)
        rocs, prs = [], []
        for model, col in MODELS.items():
            if col in frame.columns:
                s = frame[col].to_numpy()
                rocs.append(curves.roc_points(y, s).with_columns(model=pl.lit(model)))
                prs.append(curves.pr_points(y, s).with_columns(model=pl.lit(model)))
        return Diagnostics(run.task, roc=pl.concat(rocs), pr=pl.concat(prs),
                           calibration=curves.calibration_points(y, frame["_score"].to_numpy()),
                           base_rate=float(y.mean()))
    cols = ["_label", "_pred"] + (["_pred_linear"] if "_pred_linear" in names else [])
    frame = pl.read_parquet(run.predictions, columns=cols)
    y = frame["_label"].cast(pl.Float64).to_numpy()
    parts = [curves.residual_points(y, frame["_pred"].to_numpy()).with_columns(model=pl.lit("lightgbm"))]
    if "_pred_linear" in frame.columns:
        parts.append(curves.residual_points(y, frame["_pred_linear"].to_numpy()).with_columns(model=pl.lit("linear")))
    return Diagnostics(run.task, residuals=pl.concat(parts))
