"""The Parity view of the Error analysis page: a binary run's decisions at a threshold compared
between the groups of sensitive columns. Per group, each rate (selection rate, TPR, FPR, FNR,
precision) with its Wilson interval; the parity measures (fairlearn's demographic parity, equal
opportunity, equalized odds: difference and ratio) with bootstrap intervals; and every pair of
groups tested against each other, with q-values, the pairs that differ flagged. The columns
marked sensitive in the run's dataset are chosen at first, and the view offers to mark the ones
chosen. Kept out of ``pages/`` so that Streamlit does not list it as a page.

Column names and group labels come from the data: they are shown as plain text (tables, charts,
escaped markdown), never read as markdown."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import streamlit as st

from threshold_panel import threshold_slider
from ui import flash, fmt_ci, set_params, table_height
import workbench as wb
from workbench import WorkbenchError, Workspace
from workbench.render import threshold_charts
from workbench.render.safe import md_text as plain
from workbench.store import sensitive

MEASURE_NAMES = {"demographic_parity": "demographic parity (selection rate)",
                 "equal_opportunity": "equal opportunity (TPR)", "equalized_odds": "equalized odds (TPR and FPR)"}


@st.cache_data(max_entries=64, show_spinner="Comparing the groups…")
def parity_result(root: str, run_id: str, columns: tuple[str, ...], threshold: float) -> "wb.Parity":
    """A run's parity by ``columns`` at ``threshold``, cached on small values."""
    return wb.parity(wb.load_run(Workspace(Path(root)), run_id), columns, threshold=threshold)


def _marked(ws: Workspace, dataset: str) -> tuple[str, ...]:
    try:
        return sensitive.sensitive_columns(ws, dataset)
    except WorkbenchError:  # the run's dataset was removed, or its file damaged: nothing marked
        return ()


def _chosen_columns(columns: list[str], marked: tuple[str, ...]) -> list[str]:
    """The URL's sensitive columns (comma-separated), else the dataset's marked ones."""
    if "sensitive" in st.query_params:
        return [c for c in st.query_params["sensitive"].split(",") if c in columns]
    return [c for c in marked if c in columns]


def _marks(ws: Workspace, dataset: str, chosen: list[str], marked: tuple[str, ...]) -> None:
    """Buttons that keep the chosen columns as the dataset's sensitive columns, or forget them."""
    c1, c2, _ = st.columns([2, 1.2, 2])
    if chosen and set(chosen) != set(marked):
        if c1.button(f"Mark these as the sensitive columns of {dataset}", key="p_mark",
                     help="Kept with the dataset: every run of it starts its Parity view with them, and the CLI's "
                          "parity uses them when no --sensitive is given."):
            try:
                sensitive.mark(ws, dataset, chosen, replace=True)
            except WorkbenchError as e:
                st.error(plain(e))
            else:
                flash(f"Marked {len(chosen)} sensitive column{'s' * (len(chosen) > 1)} of {plain(dataset)}.", "toast")
                st.rerun(scope="app")
    if marked and c2.button("Unmark all", key="p_unmark", help=f"Forget the marked columns: {', '.join(marked)}."):
        sensitive.unmark(ws, dataset, marked)
        flash(f"No sensitive columns marked in {plain(dataset)} now.", "toast")
        st.rerun(scope="app")


def _groups_table(p: "wb.Parity", column: str) -> pl.DataFrame:
    """One row per group: its rows, then each rate with its interval as text."""
    g = p.groups.filter(pl.col("column") == column)
    cells = g.with_columns(cell=pl.struct("value", "ci_low", "ci_high").map_elements(
        lambda r: fmt_ci(r["value"], [r["ci_low"], r["ci_high"]]), return_dtype=pl.String))
    wide = cells.pivot("rate", index=["group", "n"], values="cell")
    return wide.rename({r: threshold_charts.RATE_LABELS[r] for r in wb.THRESHOLD_METRICS if r in wide.columns})


def _measures_table(p: "wb.Parity", column: str) -> pl.DataFrame:
    m = p.measures.filter(pl.col("column") == column)
    return pl.DataFrame({
        "measure": [MEASURE_NAMES[x] for x in m["measure"]],
        "difference (max − min) [95% CI]": [fmt_ci(r["difference"], [r["difference_low"], r["difference_high"]])
                                            for r in m.iter_rows(named=True)],
        "ratio (min / max) [95% CI]": [fmt_ci(r["ratio"], [r["ratio_low"], r["ratio_high"]])
                                       for r in m.iter_rows(named=True)]})


def _pairs_table(p: "wb.Parity", column: str) -> pl.DataFrame:
    """Every pair of groups on every rate; the pairs that differ (q < 0.05) first, marked."""
    t = p.pairs.filter(pl.col("column") == column)
    return (t.with_columns(flag=pl.when(pl.col("significant")).then(pl.lit("⚑ differs")).otherwise(pl.lit("")),
                           rate=pl.col("rate").replace_strict(threshold_charts.RATE_LABELS))
            .sort(pl.col("significant").not_(), pl.col("q_value").fill_null(2.0), "rate")
            .select("flag", "rate", "group_a", "group_b", "value_a", "value_b", "diff", "test", "p_value", "q_value"))


PAIR_COLUMNS = {
    "flag": st.column_config.TextColumn("q < 0.05", help="⚑: the two groups' rates differ (q < 0.05)."),
    "group_a": st.column_config.TextColumn("group a"), "group_b": st.column_config.TextColumn("group b"),
    "value_a": st.column_config.NumberColumn("a", format="%.4g"),
    "value_b": st.column_config.NumberColumn("b", format="%.4g"),
    "diff": st.column_config.NumberColumn("a − b", format="%+.4g"),
    "p_value": st.column_config.NumberColumn("p", format="%.2e"),
    "q_value": st.column_config.NumberColumn("q (BH)", format="%.2e")}


def _column(p: "wb.Parity", column: str) -> None:
    """One sensitive column: the rates chart, the groups, the measures and the pairs."""
    pairs = _pairs_table(p, column)
    flagged = int((pairs["flag"] != "").sum())
    st.markdown(f"##### By {plain(column)}: {flagged} of {pairs.height} pairs of groups differ (q < 0.05)")
    st.plotly_chart(threshold_charts.parity_chart(p, column), key=f"parity|{p.run_id}|{column}|{p.threshold}")
    groups = _groups_table(p, column)
    st.dataframe(groups, hide_index=True, height=table_height(groups.height),
                 column_config={"n": st.column_config.NumberColumn("rows", format="localized"),
                                "group": st.column_config.TextColumn("group")})
    st.dataframe(_measures_table(p, column), hide_index=True)
    st.dataframe(pairs, hide_index=True, height=table_height(pairs.height), column_config=PAIR_COLUMNS,
                 key=f"pairs|{p.run_id}|{column}|{p.threshold}")


@st.fragment
def parity_view(ws: Workspace, run: "wb.Run") -> None:
    """Sensitive columns and a threshold, then each column's rates, measures and pair tests. A
    fragment: its widgets rerun only this view."""
    dataset = run.record.dataset.name
    columns = [f.name for f in pq.read_schema(run.predictions) if not f.name.startswith("_")]
    marked = _marked(ws, dataset)
    c1, c2 = st.columns([3, 2])
    chosen = c1.multiselect("Sensitive columns", columns, default=_chosen_columns(columns, marked), key="p_sensitive",
                            help="Columns whose groups should be treated alike (numbers are cut in 5 quantile bins).")
    with c2:
        threshold = threshold_slider("p_threshold")
    set_params(sensitive=",".join(chosen) or None)
    now = [c for c in marked if c in columns]
    st.caption(f"Marked sensitive in {plain(dataset)}: {', '.join(plain(c) for c in now) if now else 'none yet'}.")
    _marks(ws, dataset, chosen, marked)
    if not chosen:
        st.info("Choose one or more sensitive columns to compare their groups' decisions.")
        return
    try:
        p = parity_result(str(ws.root), run.run_id, tuple(chosen), threshold)
    except WorkbenchError as e:
        st.error(plain(e))
        return
    for column in chosen:
        _column(p, column)
    st.caption(p.method)
