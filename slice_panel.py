"""The panels of a chosen slice that every view of the Error analysis page opens the same way:
which slice a view has chosen (:func:`selected_where`), a found slice's or tree node's SQL, save
form and metrics against the rest (:func:`slice_detail`), a binary run's slice's reliability curve
(:func:`calibration_panel`), and a slice's rows, a page at a time, with links to explain it or
to retrain up-weighting it (:func:`rows_panel`). Kept out of ``pages/`` so that Streamlit does not list it as a page."""
import math

import polars as pl
import streamlit as st

from ui import (chosen, export_rows, flash, int_param, link, linked_choice, set_params, slice_calibration,
                slice_rows, slice_vs_rest)
import workbench as wb
from workbench import WorkbenchError
from workbench.render.safe import md_code, md_text

ROWS_PAGE = 200  # rows of a slice on one page


def rows_panel(ws: wb.Workspace, run: wb.Run, where: str, view: str, family: str) -> None:
    """A slice's rows, a page at a time, worst errors first, and all of them as a download. The
    page is in the URL (``slice_page`` and the like); a link's page opens with the link's slice."""
    root = str(ws.root)
    if run.model_path.is_file():  # a run with a LightGBM model: SHAP says why it errs here
        link("explain", "Why this slice? Its SHAP values against the rest's, and any row's what-if →",
             icon=":material/lightbulb:", run=run.run_id, where=where)
    if run.imported:  # predictions made elsewhere carry no model or settings to train again
        st.caption("This run's predictions were made elsewhere: it cannot be retrained here to up-weight "
                   "this slice.")
    else:
        link("compare", "Retrain up-weighting this slice →", icon=":material/model_training:",
             baseline=run.run_id, upweight=where)
    key = f"rows-page|{view}|{where}"
    # the page the pager holds (or the link's), so one query gives the rows and the slice's size
    page = st.session_state.get(key) or (int_param(f"{family}_page", 1, 1, 10 ** 9)
                                         if linked_choice(family) == where else 1)
    try:
        rows, count = slice_rows(root, run.run_id, where, ROWS_PAGE, (page - 1) * ROWS_PAGE)
    except WorkbenchError as e:
        st.error(md_text(e))
        return
    pages = max(1, math.ceil(count / ROWS_PAGE))
    if page > pages:  # a link's page past the slice's end
        page = 1
        rows, count = slice_rows(root, run.run_id, where, ROWS_PAGE, 0)
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages:,})", 1, pages, page, key=key))
    set_params(**{f"{family}_page": page if page > 1 else None})
    first = (page - 1) * ROWS_PAGE
    shown = f"rows {first + 1:,}–{first + rows.height:,}" if rows.height else "no rows"
    st.caption(f"{shown} of the slice's {count:,} holdout rows, worst errors (highest loss) first")
    st.dataframe(rows, hide_index=True)
    c1, c2, _ = st.columns([1, 1, 4])
    stem = f"{run.run_id}-slice"
    c1.download_button("Download rows (parquet)", export_rows(root, run.run_id, where, "parquet"),
                       file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet", on_click="ignore",
                       key=f"dl-parquet|{view}|{where}", icon=":material/download:")
    c2.download_button("Download rows (CSV)", export_rows(root, run.run_id, where, "csv"),
                       file_name=f"{stem}.csv", mime="text/csv", on_click="ignore",
                       key=f"dl-csv|{view}|{where}", icon=":material/download:")


def calibration_panel(run: wb.Run, where: str, view: str = "") -> None:
    """A binary run's slice: its reliability curve beside the holdout's (nothing for other tasks)."""
    if run.task != "binary":
        return
    try:
        curves = slice_calibration(str(run.workspace.root), run.run_id, where)
    except WorkbenchError as e:
        st.error(md_text(e))
        return
    st.plotly_chart(wb.charts.slice_calibration_chart(curves), key=f"calibration|{view}|{where}")
    st.caption(f"Scores are the probability of {md_code(repr(run.record.positive_class))}; the points are deciles of each "
               "one's own scores with Wilson 95% intervals; ECE as in the breakdown (debiased, equal-width "
               "score bins).")


def pick(table: pl.DataFrame, where: str | None) -> dict | None:
    """The row of ``table`` whose condition is ``where``, if any."""
    if where is None:
        return None
    hit = table.filter(pl.col("where") == where)
    return hit.row(0, named=True) if hit.height else None


def selected_where(family: str, view: str, table: pl.DataFrame,
                   sources: dict[str, tuple[str, int | None]]) -> str | None:
    """The condition of the slice chosen in this view, from the rows of ``table`` that ``sources``
    (a chart, a table: widget key and row index) point at; the latest click wins (``ui.chosen``)."""
    wheres = table["where"].to_list()
    named = {k: (key, wheres[i] if i is not None and 0 <= i < len(wheres) else None)
             for k, (key, i) in sources.items()}
    return chosen(family, view, named, set(wheres), {"found": "found slice", "node": "tree node"}.get(family, "slice"))


def slice_detail(ws: wb.Workspace, run: wb.Run, row: dict, view: str, family: str, note: str = "") -> None:
    """A found slice or tree node: its SQL, a way to save it, its metrics against the rest of the
    holdout (with ``note`` on which rows they count), and its rows."""
    try:
        compared = slice_vs_rest(str(ws.root), run.run_id, row["where"])
    except WorkbenchError as e:
        st.error(md_text(e))
        return
    st.subheader(f"Rows where {md_text(row['predicate'])}")
    st.code(f"WHERE {row['where']}", language="sql")
    with st.form(f"save|{row['where']}", border=False):
        c1, c2 = st.columns([3, 1])
        name = c1.text_input("Save this slice as", placeholder="e.g. december_humid",
                             help="A saved slice becomes a column 'slice:NAME' in the breakdown of any run "
                                  "that has its columns.")
        if c2.form_submit_button("Save slice") and name:
            try:
                kept = wb.save_slice(ws, name, row["where"], run=run, predicate=row["predicate"])
            except WorkbenchError as e:
                st.error(md_text(e))
            else:  # rerun the whole page, so that 'Slice by' lists the new column at once
                flash(f"Saved: choose **{md_text(kept.column)}** under 'Slice by' in the breakdown.", "toast")
                st.rerun(scope="app")
    # its breakdown: each of the run's metrics inside the slice and on the rest of the holdout
    if note:
        st.caption(note)
    st.dataframe(compared.with_columns(pl.col("metric").replace(wb.charts.METRIC_LABELS)), hide_index=True,
                 column_config={
                     "n": st.column_config.NumberColumn("rows in slice (whole holdout)", format="localized"),
                     "value": st.column_config.NumberColumn("in slice", format="%.4g"),
                     **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g") for c in ("ci_low", "ci_high")},
                     "rest_value": st.column_config.NumberColumn("rest of holdout", format="%.4g"),
                     "p_value": st.column_config.NumberColumn("p", format="%.2e")})
    calibration_panel(run, row["where"], view)
    rows_panel(ws, run, row["where"], view, family)
