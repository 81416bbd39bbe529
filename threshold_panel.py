"""A binary run's decisions at a threshold in the app: the run view's threshold slider with the
confusion matrix, precision, recall, F1 and selection rate (:func:`threshold_panel`), the threshold
a breakdown of a rate uses (:func:`threshold_slider`), and cached wrappers of the core keyed on
small values. Kept out of ``pages/`` so that Streamlit does not list it as a page.

The threshold lives in the URL (``threshold``), so a copied link reopens the same decisions."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from ui import float_param, fmt_ci, run_diagnostics, set_params
import workbench as wb
from workbench import WorkbenchError, Workspace
from workbench.analysis.thresholds import ThresholdView, at_threshold
from workbench.render import threshold_charts
from workbench.render.safe import md_text

STEP = 0.01
LOW, HIGH = 0.01, 0.99
METRIC_NAMES = {"precision": "precision", "recall": "recall (TPR)", "f1": "F1", "selection_rate": "selection rate",
                "accuracy": "accuracy", "fpr": "false positive rate"}


@st.cache_data(max_entries=256, show_spinner=False)
def threshold_view(root: str, run_id: str, threshold: float) -> ThresholdView:
    """A run's confusion matrix and metrics at ``threshold``, cached on the run and the threshold."""
    return at_threshold(wb.load_run(Workspace(Path(root)), run_id), threshold)


@st.cache_data(max_entries=256, show_spinner="Computing the breakdown…")
def threshold_breakdown(root: str, run_id: str, by: tuple[str, ...], metric: str, bins: int, min_size: int,
                        saved: tuple[tuple[str, str], ...], order: str, threshold: float) -> "wb.SliceTable":
    """A run's breakdown of a rate at ``threshold`` (``ui.breakdown`` takes no threshold)."""
    run = wb.load_run(Workspace(Path(root)), run_id)
    return wb.breakdown(run, by, metric=metric, bins=bins, min_size=min_size, saved=dict(saved), order=order,
                        threshold=threshold)


def threshold_slider(key: str, *, label: str = "Decision threshold") -> float:
    """A threshold slider starting from the URL's ``threshold`` (default 0.5), written back to it."""
    start = round(float_param("threshold", 0.5, LOW, HIGH) / STEP) * STEP
    t = st.slider(label, LOW, HIGH, round(start, 2), STEP, key=key, format="%.2f",
                  help="A row is predicted positive when its score (the probability of the positive class) is "
                       "at least this.")
    t = round(float(t), 2)
    set_params(threshold=None if t == 0.5 else t)
    return t


def confusion_table(v: ThresholdView) -> pl.DataFrame:
    """The 2 x 2 matrix as text cells: count and share of all rows."""
    def cell(k: int) -> str:
        return f"{k:,} ({k / v.n:.1%})" if v.n else "0"
    pos = str(v.positive_class)
    return pl.DataFrame({"": [f"actual {pos}", f"actual not {pos}"],
                         f"predicted {pos}": [cell(v.tp), cell(v.fp)],
                         f"predicted not {pos}": [cell(v.fn), cell(v.tn)]})


def metrics_table(v: ThresholdView) -> pl.DataFrame:
    return pl.DataFrame({
        "metric": [METRIC_NAMES[m] for m in v.metrics["metric"]],
        "value [95% CI]": [fmt_ci(r["value"], [r["ci_low"], r["ci_high"]]) for r in v.metrics.iter_rows(named=True)],
        "of rows": [f"{r['k']:,} of {r['of']:,}" if r["of"] is not None else "confusion cells"
                    for r in v.metrics.iter_rows(named=True)],
        "interval": v.metrics["interval"]})


@st.fragment
def threshold_panel(run: "wb.Run") -> None:
    """The run view's decisions at a chosen threshold, with the ROC and PR curves marking it. A
    fragment: moving the slider reruns only this part of the page."""
    st.markdown("#### Decisions at a threshold")
    t = threshold_slider(f"threshold|{run.run_id}")
    try:
        v = threshold_view(str(run.workspace.root), run.run_id, t)
    except WorkbenchError as e:
        st.error(md_text(e))
        return
    c1, c2 = st.columns([2, 3])
    with c1:
        st.table(confusion_table(v))  # st.table: text cells, never read as markdown
    with c2:
        st.table(metrics_table(v))
    st.caption(f"{v.n:,} holdout rows. {v.method} The metrics table above is at threshold 0.5.")
    diag = run_diagnostics(str(run.workspace.root), run.run_id)
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(threshold_charts.roc_at(diag, v), key=f"roc|{run.run_id}")
    c2.plotly_chart(threshold_charts.pr_at(diag, v), key=f"pr|{run.run_id}")
    c3.plotly_chart(wb.charts.calibration_chart(diag), key=f"calibration|{run.run_id}")
