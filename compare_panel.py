"""The parts of the Compare page: which runs can be compared with a baseline, the cached
comparison, the overall table, the slices' chart and table, a chosen slice's figures in both runs,
and the closing-the-loop action that retrains a run up-weighting a slice. Kept out of ``pages/``
so that Streamlit does not list it as a page.

Text that comes from data (run ids, column values, slice conditions) is shown in dataframes, code
blocks or with its markdown escaped (:func:`md`, which is :func:`workbench.render.safe.md_text`),
never read as markdown."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import streamlit as st

from ui import fmt_ci, progress_bar, slice_vs_rest, table_height
import workbench as wb
from workbench import Workspace, WorkbenchError
from workbench.analysis import compare as cmp
from workbench.render import compare_charts
from workbench.render.safe import md_text as md

FACTOR = 3.0  # the default weight of an up-weighted slice's rows


@st.cache_data(max_entries=64, show_spinner="Comparing the two runs row by row…")
def comparison(root: str, baseline: str, candidate: str, by: tuple[str, ...], bins: int, min_size: int,
               find: bool = False, saved: tuple = ()) -> "wb.Comparison":
    """Two runs compared, cached on the workspace, the run ids and the settings (a run never
    changes once written; ``saved``, the baseline's saved slices, so that saving one is seen)."""
    ws = Workspace(Path(root))
    return wb.compare(wb.load_run(ws, baseline), wb.load_run(ws, candidate), by=list(by), bins=bins,
                      min_size=min_size, find=find)


@st.cache_data(max_entries=512, show_spinner=False)
def holdout_rows(root: str, run_id: str) -> str:
    """A fingerprint of the holdout rows a run scored (its ``_row`` values), cached on the run id."""
    rows = pq.read_table(wb.load_run(Workspace(Path(root)), run_id).predictions, columns=["_row"])["_row"]
    return hashlib.sha256(np.sort(rows.to_numpy()).tobytes()).hexdigest()


def comparable(baseline: wb.Run, run: wb.Run) -> bool:
    """Whether ``run`` scored the same holdout rows as ``baseline``: the same dataset version,
    target and task (``compare.difference``), and the same ``_row`` values, which ``wb.compare``
    checks on its join; this only decides which runs to offer."""
    if run.run_id == baseline.run_id or cmp.difference(baseline, run) is not None:
        return False
    if baseline.record.split.n_holdout != run.record.split.n_holdout:
        return False
    root = str(baseline.workspace.root)
    return holdout_rows(root, baseline.run_id) == holdout_rows(root, run.run_id)


def overall_view(c: wb.Comparison) -> None:
    """Each metric's baseline, candidate, paired difference with its interval, p and verdict; the
    method of each interval in a caption."""
    table = compare_charts.overall_table(c)
    st.dataframe(table.drop("method"), hide_index=True, height=table_height(table.height), column_config={
        "metric": st.column_config.TextColumn("metric"),
        "baseline": st.column_config.NumberColumn("baseline", format="%.4g"),
        "candidate": st.column_config.NumberColumn("candidate", format="%.4g"),
        "delta": st.column_config.NumberColumn("difference", format="%+.4g", help="candidate − baseline"),
        "ci_low": st.column_config.NumberColumn("95% CI low", format="%+.4g"),
        "ci_high": st.column_config.NumberColumn("95% CI high", format="%+.4g"),
        "p_value": st.column_config.NumberColumn("p", format="%.2e"),
        "verdict": st.column_config.TextColumn(
            "candidate is", help="better or worse where the paired test rejects at 5% and the 95% interval "
                                 "leaves out 0; otherwise no clear difference")})
    methods = " · ".join(f"{m}: {how}" for m, how in zip(table["metric"], table["method"]))
    st.caption(md(f"Paired on the {c.n:,} holdout rows both runs scored; difference = candidate − baseline. "
                  f"Intervals and tests: {methods}."))


def slice_columns(c: wb.Comparison, t: pl.DataFrame) -> tuple[list[str], dict]:
    """The slices table's columns (``source`` where the comparison has one) and their formats."""
    label = wb.charts.METRIC_LABELS.get(c.metric, c.metric)
    shown = (["source"] if "source" in t.columns else []) + [
        "column", "value", "n", "baseline", "candidate", "delta", "ci_low", "ci_high", "p_value", "q_value",
        "regression"]
    config = {"source": st.column_config.TextColumn("source"), "column": st.column_config.TextColumn("column"),
              "value": st.column_config.TextColumn("slice"),
              "n": st.column_config.NumberColumn("rows", format="localized"),
              "baseline": st.column_config.NumberColumn(f"baseline {label}", format="%.4g"),
              "candidate": st.column_config.NumberColumn(f"candidate {label}", format="%.4g"),
              "delta": st.column_config.NumberColumn("difference", format="%+.4g"),
              "ci_low": st.column_config.NumberColumn("95% CI low", format="%+.4g"),
              "ci_high": st.column_config.NumberColumn("95% CI high", format="%+.4g"),
              "p_value": st.column_config.NumberColumn("p", format="%.2e"),
              "q_value": st.column_config.NumberColumn("q (BH)", format="%.2e"),
              "regression": st.column_config.CheckboxColumn("regression")}
    return shown, config


def slices_caption(c: wb.Comparison) -> str:
    label = wb.charts.METRIC_LABELS.get(c.metric, c.metric)
    method = c.method.get(c.metric, "")
    flagged = int(c.slices["regression"].sum()) if c.slices.height else 0
    return md(f"{c.slices.height} slices tested, {flagged} regressions. Each slice's {label}: paired difference "
              f"and 95% interval ({method}); q: Benjamini-Hochberg false discovery rate over all "
              f"{c.slices.height} slices; a regression has q < {compare_charts.FDR:g} "
              f"and the candidate worse. Regressions first, then the slices where the candidate lost most; "
              f"click a column's header to sort by it, a bar or a row to open the slice.")


def chosen_slice_view(ws: wb.Workspace, c: wb.Comparison, row: dict) -> None:
    """Baseline against candidate on one slice: the paired figures, then each run's metrics on the
    slice beside the rest of the holdout."""
    label = wb.charts.METRIC_LABELS.get(c.metric, c.metric)
    st.subheader("The chosen slice")
    st.text(compare_charts.slice_label(row))
    st.code(f"WHERE {row['where']}", language="sql")
    said = compare_charts.verdict(c.metric, row["delta"], (row["ci_low"], row["ci_high"]), row["p_value"])
    st.markdown(md(f"{label} on the slice's {row['n']:,} rows: baseline {row['baseline']:.4g}, candidate "
                   f"{row['candidate']:.4g}; difference {fmt_ci(row['delta'], [row['ci_low'], row['ci_high']])}, "
                   f"q {row['q_value'] if row['q_value'] is not None else float('nan'):.2g}: candidate ") +
                f"**{md(said)}**" + (" (a regression)" if row["regression"] else ""))
    both_runs(ws, c.baseline, c.candidate, row["where"])


def both_runs(ws: wb.Workspace, baseline: str, candidate: str, where: str) -> None:
    """Each run's metrics on the slice and on the rest of the holdout, side by side."""
    try:
        a = slice_vs_rest(str(ws.root), baseline, where)
        b = slice_vs_rest(str(ws.root), candidate, where)
    except WorkbenchError as e:
        st.error(md(str(e)))
        return
    keep = ["metric", "value", "ci_low", "ci_high", "rest_value"]
    table = a.select(keep).join(b.select(keep), on="metric", how="inner", suffix="_c", maintain_order="left")
    table = table.with_columns(pl.col("metric").replace(wb.charts.METRIC_LABELS))
    st.dataframe(table, hide_index=True, column_config={
        "metric": st.column_config.TextColumn("metric"),
        "value": st.column_config.NumberColumn("baseline in slice", format="%.4g"),
        "ci_low": st.column_config.NumberColumn("low", format="%.4g"),
        "ci_high": st.column_config.NumberColumn("high", format="%.4g"),
        "rest_value": st.column_config.NumberColumn("baseline on the rest", format="%.4g"),
        "value_c": st.column_config.NumberColumn("candidate in slice", format="%.4g"),
        "ci_low_c": st.column_config.NumberColumn("low ", format="%.4g"),
        "ci_high_c": st.column_config.NumberColumn("high ", format="%.4g"),
        "rest_value_c": st.column_config.NumberColumn("candidate on the rest", format="%.4g")})
    st.caption("Each run's metrics on the slice's rows (95% intervals, each run on its own) and on the rest of "
               "the holdout.")


def retrain_form(ws: wb.Workspace, run: wb.Run, where: str) -> "wb.Run | None":
    """The closing-the-loop action: retrain ``run`` with the slice's rows weighted ``factor`` times
    (and columns dropped or added back), with a progress bar. The new run, once trained."""
    if run.imported:
        st.info(md(f"Run {run.run_id} holds predictions made elsewhere, without a model or training settings: "
                   "it cannot be retrained here. Retrain a run trained in the workbench."))
        return None
    record = run.record
    addable = list(record.dropped)  # retrain adds back only what the run was told to drop
    with st.form(f"retrain|{run.run_id}|{where}"):
        st.markdown(md(f"Retrain run {run.run_id} with the rows of this slice weighted more:"))
        st.code(f"WHERE {where}", language="sql")
        c1, c2, c3 = st.columns([1, 2, 2])
        factor = c1.number_input("Weight factor", min_value=1.0, max_value=1000.0, value=FACTOR, step=0.5,
                                 help="Each of the slice's training rows counts this many times.")
        drop = c2.multiselect("Drop columns", list(record.features), help="Train without these features.")
        add = c3.multiselect("Add back columns", addable, disabled=not addable,
                             help="Columns the run was trained without, to train on again.")
        go = st.form_submit_button("Retrain up-weighting this slice", type="primary",
                                   icon=":material/model_training:")
    if not go:
        return None
    bar, progress = progress_bar()

    try:
        new = wb.retrain(ws, run, upweight=where, factor=float(factor), drop=tuple(drop), add=tuple(add),
                         progress=progress)
    except WorkbenchError as e:
        bar.empty()
        st.error(md(str(e)))
        return None
    bar.empty()
    return new
