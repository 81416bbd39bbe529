"""Figures of a binary run's decisions at a threshold: the ROC and precision-recall curves with
the threshold's point marked, a breakdown of a rate at a threshold titled with it, and parity's
rates per group with their intervals. Built from result objects only (``ThresholdView``,
``SliceTable``, ``Parity``), laid out as :mod:`workbench.render.charts` lays out its own.

Text that comes from data (group labels) is escaped: plotly reads a few HTML tags in its text,
and a label such as ``<b>`` must show as itself."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from workbench.analysis.diagnostics import Diagnostics
from workbench.analysis.parity import Parity
from workbench.analysis.slices import SliceTable
from workbench.analysis.thresholds import THRESHOLD_METRICS, ThresholdView
from workbench.render import charts
from workbench.render.safe import html_text

RATE_LABELS = {"selection_rate": "selection rate", "tpr": "TPR (recall)", "fpr": "FPR", "fnr": "FNR",
               "precision": "precision"}
GROUP_COLORS = ("#2563eb", "#f59e0b", "#16a34a", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
                "#ea580c", "#475569")


def plain(text: object) -> str:
    """Data as plotly text that shows as written (see :func:`workbench.render.safe.html_text`)."""
    return html_text(text)


def rate_label(metric: str, threshold: float | None = None) -> str:
    """'FPR at threshold 0.3' for a rate at a threshold; the usual label for any other metric."""
    if metric in THRESHOLD_METRICS:
        name = RATE_LABELS[metric]
        return name if threshold is None else f"{name} at threshold {threshold:g}"
    return charts.METRIC_LABELS.get(metric, metric)


def _marker(fig: go.Figure, x: float | None, y: float | None, view: ThresholdView) -> go.Figure:
    if x is not None and y is not None:
        fig.add_scatter(x=[x], y=[y], mode="markers", name=f"threshold {view.threshold:g}",
                        marker=dict(color=charts.OVERALL, size=11, symbol="x"),
                        hovertemplate=f"threshold {view.threshold:g}<br>x %{{x:.3f}}<br>y %{{y:.3f}}<extra></extra>")
    return fig


def roc_at(d: Diagnostics, view: ThresholdView) -> go.Figure:
    """The ROC curves with the run's (LightGBM's or the imported scores') point at the threshold."""
    return _marker(charts.roc_chart(d), view.value("fpr"), view.value("recall"), view)


def pr_at(d: Diagnostics, view: ThresholdView) -> go.Figure:
    """The precision-recall curves with the run's point at the threshold."""
    return _marker(charts.pr_chart(d), view.value("recall"), view.value("precision"), view)


def threshold_slice_chart(table: SliceTable) -> go.Figure:
    """A breakdown's chart; for a rate at a threshold, its title and axis name the threshold."""
    fig = charts.slice_chart(table)
    if table.threshold is None:
        return fig
    label = rate_label(table.metric, table.threshold)
    short = charts.METRIC_LABELS.get(table.metric, table.metric)
    fig.update_layout(title_text=fig.layout.title.text.replace(short, label, 1))
    return fig.update_xaxes(title_text=label)


def parity_chart(p: Parity, column: str) -> go.Figure:
    """Each rate (x) by group (one bar of a color per group) with its Wilson 95% whiskers."""
    g = p.groups.filter(pl.col("column") == column)
    fig = go.Figure()
    groups = g["group"].unique(maintain_order=True).to_list()
    for i, name in enumerate(groups):
        rows = g.filter(pl.col("group") == name)
        value = rows["value"]
        low, high = rows["ci_low"].fill_null(value), rows["ci_high"].fill_null(value)
        label = plain(name)
        fig.add_bar(x=[RATE_LABELS[r] for r in rows["rate"]], y=value, name=label,
                    marker_color=GROUP_COLORS[i % len(GROUP_COLORS)],
                    error_y=dict(type="data", symmetric=False, array=(high - value).fill_null(0),
                                 arrayminus=(value - low).fill_null(0), color="#334155"),
                    customdata=list(zip(rows["k"], rows["of"])),
                    hovertemplate=(f"{label}<br>%{{x}} %{{y:.3f}}<br>%{{customdata[0]:,}} of "
                                   "%{customdata[1]:,} rows<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.04])
    return charts._layout(fig, f"Rates by {plain(column)}", "rate", "share",
                          subtitle=(f"score >= {p.threshold:g} is positive · whiskers: Wilson 95% CI",),
                          height=420)
