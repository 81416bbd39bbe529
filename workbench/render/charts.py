"""Plotly figures built from result objects; the app and (later) the report render these.

Every figure is laid out so that its text never meets other text, from a chart 170 px wide (a
third of the page beside Streamlit's sidebar at a 1000 px window) up: titles are short, with the
detail on a smaller second line; the title sits at the top of the figure and the legend at its
bottom, each in space of its own; the axes push the margins as far as their labels need.
tests/browser/test_chart_text.py checks this in the app at two window sizes."""
from __future__ import annotations

import plotly.graph_objects as go

from workbench.analysis.calibration import SliceCalibration
from workbench.analysis.diagnostics import Diagnostics
from workbench.analysis.slices import SliceTable
from workbench.render.safe import html_text

COLORS = {"lightgbm": "#2563eb", "linear": "#f59e0b", "trivial": "#9ca3af"}
BAD, OK, NEUTRAL = "#dc2626", "#16a34a", "#94a3b8"
FLAG = COLORS["lightgbm"]           # a slice that differs, for a metric with no better direction
FAINT = "rgba(148, 163, 184, 0.35)"  # NEUTRAL, fainter: too small to tell, on a light or dark page
# a slice bar's color by its reading (workbench.analysis.slices.READINGS)
READING_COLORS = {"worse": BAD, "better": OK, "higher": FLAG, "lower": FLAG,
                  "no clear difference": NEUTRAL, "too small to tell": FAINT}
OVERALL, MUTED = "#111827", "#64748b"
METRIC_LABELS = {
    "error_rate": "error rate", "accuracy": "accuracy", "log_loss": "log loss", "brier": "Brier score",
    "roc_auc": "ROC AUC", "positive_rate": "positive rate", "mean_score": "mean predicted probability",
    "rmse": "RMSE", "mae": "MAE", "bias": "mean error (predicted − actual)", "pr_auc": "PR AUC",
    "f1": "F1", "macro_f1": "macro F1", "r2": "R²", "ece": "expected calibration error",
}
LABEL_BAND = 20                     # px between the subtitle and the plot for labels of the plot's top
BAR_STEP = 24                       # px per slice bar
LABEL_MOST = 36                     # characters of a slice label shown on the axis (all in the hover)


def _layout(fig: go.Figure, title: str, x: str, y: str, *, subtitle: tuple[str, ...] = (),
            height: int = 380, band: int = 0) -> go.Figure:
    """The title, its subtitle lines under it and ``band`` px for labels above the plot, all at
    the top of the figure; the legend at its bottom; each in space it pushes the margins for."""
    # No template: the app applies Streamlit's theme, and applying one costs 15 ms a figure.
    fig.update_layout(
        title=dict(text=title, subtitle=dict(text="<br>".join(subtitle)), x=0, xanchor="left", xref="container",
                   y=1, yanchor="top", yref="container", pad=dict(t=8, l=4, b=8 + band), automargin=True),
        height=height, margin=dict(l=8, r=12, t=8, b=8),
        legend=dict(orientation="h", x=0, xanchor="left", xref="container", y=0, yanchor="bottom", yref="container"))
    fig.update_xaxes(title_text=x, automargin=True)
    fig.update_yaxes(title_text=y, automargin=True)
    return fig


def _unit_square(fig: go.Figure) -> go.Figure:
    """Both axes over 0 to 1 with a little room, so that neither axis's 0 meets the other's labels."""
    return fig.update_xaxes(range=[-0.04, 1.04]).update_yaxes(range=[-0.04, 1.04])


def roc_chart(d: Diagnostics) -> go.Figure:
    fig = go.Figure()
    for model, part in d.roc.group_by("model", maintain_order=True):
        fig.add_scatter(x=part["fpr"], y=part["tpr"], mode="lines", name=model[0],
                        line=dict(color=COLORS.get(model[0])))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(color=NEUTRAL, dash="dot"))
    return _unit_square(_layout(fig, "ROC curve", "false positive rate", "true positive rate", subtitle=("holdout",)))


def pr_chart(d: Diagnostics) -> go.Figure:
    fig = go.Figure()
    for model, part in d.pr.group_by("model", maintain_order=True):
        fig.add_scatter(x=part["recall"], y=part["precision"], mode="lines", name=model[0],
                        line=dict(color=COLORS.get(model[0])))
    # the base rate as a legend entry: a label on the line would sit on the curves or the axis
    fig.add_scatter(x=[0, 1], y=[d.base_rate, d.base_rate], mode="lines", name=f"base rate {d.base_rate:.1%}",
                    line=dict(color=NEUTRAL, dash="dot"), hoverinfo="name")
    return _unit_square(_layout(fig, "Precision-recall", "recall", "precision", subtitle=("holdout",)))


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
    return _unit_square(_layout(fig, "Calibration", "mean predicted", "observed positive rate",
                                subtitle=("deciles, 95% CI",)))


def _reliability(fig: go.Figure, c, name: str, color: str, rows: int, ece: float | None) -> None:
    """One reliability curve: points with their Wilson intervals, joined by a line."""
    label = f"{name} ({rows:,} rows{'' if ece is None else f', ECE {ece:.3g}'})"
    fig.add_scatter(x=c["predicted"], y=c["observed"], mode="markers+lines", name=label, line=dict(color=color),
                    error_y=dict(type="data", symmetric=False, array=c["high"] - c["observed"],
                                 arrayminus=c["observed"] - c["low"]),
                    customdata=c["n"], hovertemplate=f"{name}<br>predicted %{{x:.3f}}<br>observed %{{y:.3f}}"
                                                     "<br>%{customdata:,} rows<extra></extra>")


def slice_calibration_chart(c: SliceCalibration) -> go.Figure:
    """The slice's reliability curve beside the whole holdout's, over the diagonal."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                    line=dict(color=NEUTRAL, dash="dot"))
    _reliability(fig, c.overall, "holdout", MUTED, c.n_overall, c.ece_overall)
    if c.inside.height:
        _reliability(fig, c.inside, "slice", BAD, c.n_inside, c.ece_inside)
    return _unit_square(_layout(fig, "Calibration: slice vs holdout", "mean predicted", "observed positive rate",
                                subtitle=("deciles of each, 95% CI",)))


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
    return _layout(fig, "Predicted vs actual", "actual", "predicted", subtitle=("holdout sample",))


def residuals_chart(d: Diagnostics) -> go.Figure:
    fig = _scatter_by_model(d, "predicted", "residual")
    fig.add_hline(y=0, line=dict(color=NEUTRAL, dash="dot"))
    return _layout(fig, "Residuals", "predicted", "actual − predicted", subtitle=("holdout sample",))


def slice_labels(st: SliceTable) -> list[str]:
    """One label per row of ``st.slices``, in row order: the row's values joined by ' · ',
    made unique (a repeated label would put two slices on one bar)."""
    labels, seen = [], {}
    for r in st.slices.iter_rows(named=True):
        label = " · ".join(str(r[c]) for c in st.by)
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return labels


def _short(label: str, most: int) -> str:
    return label if len(label) <= most else label[:most - 1] + "…"


def detectable_text(value: float | None, fmt: str = ".4g") -> str:
    """'could detect ±0.0512', or what stands in for it where the slice allows no test."""
    if value is None or value != value or value == float("inf"):
        return "no test possible"
    return f"could detect ±{value:{fmt}}"


def slice_chart(st: SliceTable, *, max_slices: int = 40) -> go.Figure:
    """Horizontal bars in the row order of ``st.slices`` (its first row on top), 95% intervals,
    each bar colored by its reading (``READING_COLORS``: a slice that differs from the rest in
    color, one that could have shown a difference but did not in grey, one too small to tell in
    faint grey), the overall value as a dashed line labelled above the plot, and each slice's row
    count in a column right of the plot. Each bar's ``customdata`` is its row index in
    ``st.slices``; the first ``max_slices`` rows are drawn. Labels and column names are escaped
    (:func:`workbench.render.safe.html_text`): a bar's ``y`` is its escaped label."""
    t = st.slices.head(max_slices)
    # data as plotly text: escaped, so that a value reads as written (never a link or a tag)
    labels = [html_text(label) for label in slice_labels(st)[:max_slices]]
    ticks = [" · ".join(html_text(_short(str(r[c]), LABEL_MOST // len(st.by))) for c in st.by)
             for r in t.iter_rows(named=True)]
    by = " × ".join(html_text(c) for c in st.by)
    overall = st.overall["value"]
    colors = [READING_COLORS.get(r, NEUTRAL) for r in t["reading"]]
    name = METRIC_LABELS.get(st.metric, st.metric)
    low, high = t["ci_low"].fill_null(t["value"]), t["ci_high"].fill_null(t["value"])
    fig = go.Figure(go.Bar(
        y=labels, x=t["value"], orientation="h", marker_color=colors, customdata=list(range(t.height)),
        error_x=dict(type="data", symmetric=False, array=(high - t["value"]).fill_null(0),
                     arrayminus=(t["value"] - low).fill_null(0), color="#334155"),
        hovertext=[f"{reading} · {detectable_text(d)}<br>{n:,} rows"
                   for reading, d, n in zip(t["reading"], t["detectable"], t["n"])],
        hovertemplate="%{y}<br>" + name + " %{x:.4g}<br>%{hovertext}<extra></extra>"))
    # x range fixed here, so the overall label can be anchored to stay inside the plot
    lo = min(0.0, overall, *low.drop_nulls(), *t["value"].drop_nulls())
    hi = max(0.0, overall, *high.drop_nulls(), *t["value"].drop_nulls())
    pad = (hi - lo) * 0.04 or 1.0
    lo, hi = lo - pad * (lo < 0), hi + pad
    where = (overall - lo) / (hi - lo)
    fig.add_vline(x=overall, line=dict(color=OVERALL, dash="dash"))
    fig.add_annotation(x=overall, xref="x", y=1, yref="paper", yanchor="bottom", showarrow=False,
                       text=f"overall {overall:.4g}", font=dict(color=OVERALL),
                       xanchor="right" if where > 0.7 else "left" if where < 0.3 else "center")
    # row counts as a column right of the plot: inside a short or negative bar they cannot be read
    fig.add_annotation(x=1, xref="paper", xanchor="left", xshift=8, y=1, yref="paper", yanchor="bottom",
                       text="rows", showarrow=False, font=dict(color=MUTED))
    for i, n in enumerate(t["n"]):  # y: the bar's place on the category axis (a label may read as a number)
        fig.add_annotation(x=1, xref="paper", xanchor="left", xshift=8, y=i, yref="y", text=f"{n:,}",
                           showarrow=False, font=dict(color=MUTED, size=11))
    fig.update_xaxes(range=[lo, hi])
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=labels,
                     tickmode="array", tickvals=labels, ticktext=ticks)
    shown = f" (first {max_slices} of {st.slices.height})" if st.slices.height > max_slices else ""
    if st.higher_is_better is None:
        colored = "blue: higher or lower than the rest (q < 0.05)"
    else:
        colored = "red/green: worse/better than the rest (q < 0.05)"
    # one line each, so that none is wider than the chart
    subtitle = ("whiskers: 95% CI · dashed line: the whole holdout", colored,
                "grey: no clear difference · faint: too small to tell")
    height = max(300, 166 + BAR_STEP * t.height)  # title lines and label band, axis, bars
    fig = _layout(fig, f"{name} by {by}{shown}", name, by,
                  subtitle=subtitle, band=LABEL_BAND, height=height)
    return fig.update_layout(margin_r=80)
