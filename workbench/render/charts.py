"""Plotly figures built from result objects; the app and (later) the report render these."""
from __future__ import annotations

import plotly.graph_objects as go

from workbench.analysis.diagnostics import Diagnostics
from workbench.analysis.slices import SliceTable

COLORS = {"lightgbm": "#2563eb", "linear": "#f59e0b", "trivial": "#9ca3af"}
BAD, OK, NEUTRAL = "#dc2626", "#16a34a", "#94a3b8"
METRIC_LABELS = {
    "error_rate": "error rate", "accuracy": "accuracy", "log_loss": "log loss", "brier": "Brier score",
    "roc_auc": "ROC AUC", "positive_rate": "positive rate", "mean_score": "mean predicted probability",
    "rmse": "RMSE", "mae": "MAE", "bias": "mean error (predicted − actual)", "pr_auc": "PR AUC",
    "f1": "F1", "macro_f1": "macro F1", "r2": "R²",
}


def _layout(fig: go.Figure, title: str, x: str, y: str, *, height: int = 380) -> go.Figure:
    # No template: the app applies Streamlit's theme, and applying one costs 15 ms a figure.
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def roc_chart(d: Diagnostics) -> go.Figure:
    fig = go.Figure()
    for model, part in d.roc.group_by("model", maintain_order=True):
        fig.add_scatter(x=part["fpr"], y=part["tpr"], mode="lines", name=model[0],
                        line=dict(color=COLORS.get(model[0])))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(color=NEUTRAL, dash="dot"))
    return _layout(fig, "ROC curve (holdout)", "false positive rate", "true positive rate")


def pr_chart(d: Diagnostics) -> go.Figure:
    fig = go.Figure()
    for model, part in d.pr.group_by("model", maintain_order=True):
        fig.add_scatter(x=part["recall"], y=part["precision"], mode="lines", name=model[0],
                        line=dict(color=COLORS.get(model[0])))
    fig.add_hline(y=d.base_rate, line=dict(color=NEUTRAL, dash="dot"),
                  annotation_text=f"base rate {d.base_rate:.1%}")
    return _layout(fig, "Precision-recall curve (holdout)", "recall", "precision")


def calibration_chart(d: Diagnostics) -> go.Figure:
    c = d.calibration
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                    line=dict(color=NEUTRAL, dash="dot"))
    fig.add_scatter(x=c["predicted"], y=c["observed"], mode="markers+lines", name="lightgbm",
                    line=dict(color=COLORS["lightgbm"]),
                    error_y=dict(type="data", symmetric=False, array=c["high"] - c["observed"],
                                 arrayminus=c["observed"] - c["low"]),
                    customdata=c["n"], hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata:,} rows")
    return _layout(fig, "Calibration (deciles, 95% CI)",
                   "mean predicted probability", "observed positive rate")


def _scatter_by_model(d: Diagnostics, x: str, y: str) -> go.Figure:
    """One marker trace per model from the residual sample."""
    fig = go.Figure()
    for model, part in d.residuals.group_by("model", maintain_order=True):
        fig.add_scatter(x=part[x], y=part[y], mode="markers", name=model[0], opacity=0.5,
                        marker=dict(size=4, color=COLORS.get(model[0])))
    return fig


def predicted_vs_actual_chart(d: Diagnostics) -> go.Figure:
    r = d.residuals
    fig = _scatter_by_model(d, "actual", "predicted")
    lo, hi = float(r["actual"].min()), float(r["actual"].max())
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = actual",
                    line=dict(color=NEUTRAL, dash="dot"))
    return _layout(fig, "Predicted vs actual (holdout sample)", "actual", "predicted")


def residuals_chart(d: Diagnostics) -> go.Figure:
    fig = _scatter_by_model(d, "predicted", "residual")
    fig.add_hline(y=0, line=dict(color=NEUTRAL, dash="dot"))
    return _layout(fig, "Residuals (actual − predicted) vs predicted", "predicted", "residual")


def slice_chart(st: SliceTable, *, max_slices: int = 40) -> go.Figure:
    """Horizontal bars, worst slice on top, 95% intervals, significant slices colored, the
    overall value as a line. Each bar's ``customdata`` is its row index in ``st.slices``."""
    t = st.slices.head(max_slices).with_row_index("_i")
    labels = [" · ".join(str(r[c]) for c in st.by) for r in t.iter_rows(named=True)]
    overall = st.overall["value"]
    colors = []
    for r in t.iter_rows(named=True):
        if not r["significant"] or st.higher_is_better is None:
            colors.append(NEUTRAL if not r["significant"] else COLORS["lightgbm"])
        else:
            worse = (r["value"] < overall) if st.higher_is_better else (r["value"] > overall)
            colors.append(BAD if worse else OK)
    name = METRIC_LABELS.get(st.metric, st.metric)
    fig = go.Figure(go.Bar(
        y=labels, x=t["value"], orientation="h", marker_color=colors, customdata=t["_i"],
        error_x=dict(type="data", symmetric=False, array=(t["ci_high"] - t["value"]).fill_null(0),
                     arrayminus=(t["value"] - t["ci_low"]).fill_null(0), color="#334155"),
        text=[f"n={n:,}" for n in t["n"]], textposition="inside", insidetextanchor="start",
        hovertemplate="%{y}<br>" + name + " %{x:.4g}<br>%{text}<extra></extra>"))
    fig.add_vline(x=overall, line=dict(color="#111827", dash="dash"),
                  annotation_text=f"overall {overall:.4g}", annotation_position="top")
    fig.update_yaxes(autorange="reversed", type="category")
    shown = f" (worst {max_slices} of {st.slices.height})" if st.slices.height > max_slices else ""
    return _layout(fig, f"{name} by {' × '.join(st.by)}{shown}<br><sup>whiskers: 95% CI · red/green: worse/better "
                        "than the rest of the holdout (q < 0.05) · grey: no clear difference</sup>",
                   name, " × ".join(st.by), height=max(320, 90 + 24 * t.height))
