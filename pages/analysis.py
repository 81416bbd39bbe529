"""Error analysis: a run's metric by one or two columns, found problem slices, the error tree,
and each slice's rows.

Every view keeps its state in the URL (the run, the columns, the metric, the search settings,
the chosen slice), so a copied link reopens it. A chosen slice is named by its SQL condition,
which stays the same whatever order the slices are shown in, and belongs to the view it was
chosen in (see ``ui.chosen``)."""
import math

import polars as pl
import pyarrow.parquet as pq
import streamlit as st

from ui import (breakdown, chosen, discovered, linked_choice, selection_key, export_rows, flash, float_param, fmt_ci, grown_tree, int_param, link,
                param, set_params, setup, slice_rows, slice_vs_rest, table_height)
import workbench as wb
from workbench import WorkbenchError

ROWS_PAGE = 200  # rows of a slice on one page

ws = setup("Error analysis")
all_runs = {r.run_id: r for r in wb.list_runs(ws)}
if not all_runs:
    st.info("No runs yet: train a model first.")
    link("train", "Go to Train →")
    st.stop()

ids = list(all_runs)
run_id = st.selectbox("Run", ids, index=ids.index(param("run", ids[0], ids)),
                      format_func=lambda i: all_runs[i].label(), key="run")
run = all_runs[run_id]
set_params(run=run_id)
if run.task == "binary":
    st.caption(wb.text.positive_note(run))
schema = pq.read_schema(run.predictions)
conditions = wb.applicable_slices(ws, run)  # saved slices usable with this run, as slice:NAME columns
columns = [f.name for f in schema if not f.name.startswith("_")] + list(conditions)
text_cols = [f.name for f in schema if not f.name.startswith("_") and str(f.type) in ("string", "large_string")]
metric_names = wb.SLICE_METRICS[run.task]
ERRORS = ["loss"] if run.task == "regression" else ["misclassification", "loss"]
LINKED = {"search": st.query_params.get("search") == "1", "grow": st.query_params.get("grow") == "1"}


def linked_once(flag: str) -> bool:
    """Whether the URL asks for a search or a tree that this session has not yet shown: a link's
    results open by themselves once; later visits wait for the button."""
    if st.session_state.get(f"_linked|{flag}"):
        return False
    st.session_state[f"_linked|{flag}"] = True
    return LINKED[flag]


def rows_panel(run: wb.Run, where: str, view: str, family: str) -> None:
    """A slice's rows, a page at a time, worst errors first, and all of them as a download. The
    page is in the URL (``slice_page`` and the like); a link's page opens with the link's slice."""
    root = str(ws.root)
    key = f"rows-page|{view}|{where}"
    # the page the pager holds (or the link's), so one query gives the rows and the slice's size
    page = st.session_state.get(key) or (int_param(f"{family}_page", 1, 1, 10 ** 9)
                                         if linked_choice(family) == where else 1)
    try:
        rows, count = slice_rows(root, run.run_id, where, ROWS_PAGE, (page - 1) * ROWS_PAGE)
    except WorkbenchError as e:
        st.error(str(e))
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


def slice_detail(run: wb.Run, row: dict, view: str, family: str) -> None:
    """A found slice or tree node: its SQL, a way to save it, its metrics against the rest of the
    holdout, and its rows."""
    try:
        compared = slice_vs_rest(str(ws.root), run.run_id, row["where"])
    except WorkbenchError as e:
        st.error(str(e))
        return
    st.subheader(f"Rows where {row['predicate']}")
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
                st.error(str(e))
            else:  # rerun the whole page, so that 'Slice by' lists the new column at once
                flash(f"Saved: choose **{kept.column}** under 'Slice by' in the breakdown.", "toast")
                st.rerun(scope="app")
    # its breakdown: each of the run's metrics inside the slice and on the rest of the holdout
    st.dataframe(compared.with_columns(pl.col("metric").replace(wb.charts.METRIC_LABELS)), hide_index=True,
                 column_config={
                     "n": st.column_config.NumberColumn("rows in slice (whole holdout)", format="localized"),
                     "value": st.column_config.NumberColumn("in slice", format="%.4g"),
                     **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g") for c in ("ci_low", "ci_high")},
                     "rest_value": st.column_config.NumberColumn("rest of holdout", format="%.4g"),
                     "p_value": st.column_config.NumberColumn("p", format="%.2e")})
    rows_panel(run, row["where"], view, family)


@st.fragment
def problem_slices(run: wb.Run) -> None:
    """SliceLine over the holdout; a fragment, so its widgets do not rerun the breakdown."""
    c = st.columns([1, 1, 1, 1, 1, 1])
    k = c[0].number_input("Slices (k)", 1, 50, int_param("k", 8, 1, 50), key="d_k")
    level = c[1].number_input("Max predicates", 1, 5, int_param("level", 3, 1, 5), key="d_level")
    alpha = c[2].slider("Error vs size (α)", 0.05, 1.0, round(float_param("alpha", 0.95, 0.05, 1.0) * 20) / 20, 0.05,
                        key="d_alpha", help="SliceLine's α. The paper's 0.5 favors large slices; 0.95 favors high error.")
    support = c[3].number_input("Min rows", 1, 1_000_000, int_param("support", 32, 1, 1_000_000), key="d_support")
    error = c[4].selectbox("Error", ERRORS, index=ERRORS.index(param("error", ERRORS[0], ERRORS)), key="d_error",
                           help="Per-row loss, or 1 for a wrong class.")
    binners = ["model", "quantile"]
    binner = c[5].selectbox("Numeric bins", binners, index=binners.index(param("binning", "model", binners)),
                            key="d_binner",
                            help="model: the LightGBM model's strongest split thresholds; quantile: equal-count bins.")
    confirm = st.checkbox("Confirm on unseen rows: find on one random half of the holdout, test on the other",
                          value=param("confirm", "1") == "1", key="d_confirm")
    settings = (int(k), int(level), float(alpha), float(support), error, binner, confirm)
    if st.button("Find problem slices", type="primary") or linked_once("search"):
        st.session_state[f"found|{run.run_id}"] = settings
    searched = st.session_state.get(f"found|{run.run_id}") == settings
    set_params(k=int(k), level=int(level), alpha=float(alpha), support=int(support), error=error, binning=binner,
               confirm=int(confirm), search=1 if searched else None)
    if not searched:
        set_params(found=None)
        st.caption("Set the search and click **Find problem slices**.")
        return
    try:
        with st.spinner("Searching the slice lattice (SliceLine)…"):
            found = discovered(str(ws.root), run.run_id, settings)
    except WorkbenchError as e:
        st.error(str(e))
        return
    searched_on = wb.text.searched_rows(found, run.record.split.n_holdout)
    st.markdown(f"**{found.slices.height} slices** found on {searched_on} (mean {error} {found.mean_error:.4g}); "
                f"{found.candidates_evaluated:,} candidates evaluated in {found.seconds:.1f} s.")
    if found.slices.is_empty():
        set_params(found=None)
        st.info("No slice scores above 0: raise α to weigh error more than size, or lower 'Min rows'.")
        return
    half = " (search half)" if confirm else ""
    cols = (["predicate", "size", "error", "ci_low", "ci_high", "lift", "q_value"]
            + (["confirm_size", "confirm_error", "confirmed"] if confirm else []))
    view = f"{run.run_id}|{settings}"
    table_key = selection_key("found", "table", view)
    picked = st.dataframe(found.slices.select(cols), hide_index=True, on_select="rerun", selection_mode="single-row",
                          key=table_key, height=table_height(found.slices.height), column_config={
                              "predicate": st.column_config.TextColumn("slice", width="large"),
                              "size": st.column_config.NumberColumn(f"rows{half}", format="localized"),
                              "error": st.column_config.NumberColumn(f"error{half}", format="%.4g"),
                              **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g")
                                 for c in ("ci_low", "ci_high", "lift")},
                              "confirm_size": st.column_config.NumberColumn("rows (other half)", format="localized"),
                              "confirm_error": st.column_config.NumberColumn("error (other half)", format="%.4g"),
                              "q_value": st.column_config.NumberColumn("q (BH, all candidates)", format="%.2e")})
    st.caption(("rows, error, CI and lift count the half of the holdout the search ran on; 'other half' the rows it "
                "did not see; a slice's rows below count the whole holdout. " if confirm else "")
               + "error: mean per-row error with 95% CI · lift: error over the rest · q: one-sided "
               f"test that the slice errs more than the rest, Benjamini-Hochberg over all "
               f"{found.candidates_evaluated:,} candidates the search evaluated"
               + (f" · confirmed: the same holds on the other half (q < 0.05, Benjamini-Hochberg over the "
                  f"{found.slices.height} slices shown)" if confirm else "")
               + ". Select a row for its rows.")
    rows = picked.selection.rows if picked else []
    where = selected_where("found", view, found.slices, {"table": (table_key, rows[0] if rows else None)})
    row = pick(found.slices, where)
    if row is not None:
        slice_detail(run, row, view, "found")


@st.fragment
def error_tree_view(run: wb.Run) -> None:
    """A shallow tree fit on each row's error; its nodes open like slices."""
    c1, c2, c3 = st.columns(3)
    error = c1.selectbox("Error", ERRORS, index=ERRORS.index(param("tree_error", ERRORS[0], ERRORS)), key="t_error")
    depth = c2.number_input("Depth", 1, 6, int_param("depth", 3, 1, 6), key="t_depth")
    min_rows = c3.number_input("Min rows per node", 1, 1_000_000, int_param("min_rows", 32, 1, 1_000_000),
                               key="t_min_rows")
    settings = (error, int(depth), int(min_rows))
    if st.button("Grow the error tree") or linked_once("grow"):
        st.session_state[f"tree|{run.run_id}"] = settings
    grown = st.session_state.get(f"tree|{run.run_id}") == settings
    set_params(tree_error=error, depth=int(depth), min_rows=int(min_rows), grow=1 if grown else None)
    if not grown:
        set_params(node=None)
        st.caption("A decision tree fit on each row's error: its nodes are slices. Click **Grow the error tree**.")
        return
    try:
        with st.spinner("Fitting the error tree…"):
            nodes = grown_tree(str(ws.root), run.run_id, *settings).nodes
    except WorkbenchError as e:
        st.error(str(e))
        return
    shown = nodes.with_columns(node=pl.concat_str(pl.lit("    ").repeat_by(pl.col("depth")).list.join(""),
                                                  pl.col("predicate").str.split(" and ").list.last()))
    view = f"{run.run_id}|{settings}"
    table_key = selection_key("node", "table", view)
    picked = st.dataframe(shown.select("node", "n", "error", "ci_low", "ci_high", "leaf"), hide_index=True,
                          on_select="rerun", selection_mode="single-row", key=table_key,
                          height=table_height(shown.height), column_config={
                              "node": st.column_config.TextColumn("node (each row refines its parent)", width="large"),
                              "n": st.column_config.NumberColumn("rows (whole holdout)", format="localized"),
                              **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g")
                                 for c in ("error", "ci_low", "ci_high")}})
    rows = picked.selection.rows if picked else []
    where = selected_where("node", view, nodes, {"table": (table_key, rows[0] if rows else None)})
    row = pick(nodes, where)
    if row is not None:
        slice_detail(run, row, view, "node")


def slices_view(run: wb.Run, table: wb.SliceTable, keys: tuple[str, ...], label: str, view: str) -> None:
    """Chart, table and the chosen slice's rows. ``view`` names the slices shown, whatever their
    order: a chosen slice stays chosen when the order changes."""
    chart_key = selection_key("slice", "chart", f"{view}|{table.order}")
    table_key = selection_key("slice", "table", f"{view}|{table.order}")
    event = st.plotly_chart(wb.charts.slice_chart(table), on_select="rerun", selection_mode="points", key=chart_key)
    shown = table.slices.drop("where")
    picked = st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="single-row", key=table_key,
        height=table_height(shown.height),
        column_config={"share": st.column_config.NumberColumn(format="percent"),
                       "n": st.column_config.NumberColumn("rows", format="localized"),
                       "value": st.column_config.NumberColumn(label, format="%.4g"),
                       "ci_low": st.column_config.NumberColumn("95% CI low", format="%.4g"),
                       "ci_high": st.column_config.NumberColumn("95% CI high", format="%.4g"),
                       "rest_value": st.column_config.NumberColumn("rest of holdout", format="%.4g"),
                       "diff": st.column_config.NumberColumn("difference", format="%+.4g"),
                       "p_value": st.column_config.NumberColumn("p", format="%.2e"),
                       "q_value": st.column_config.NumberColumn("q (BH)", format="%.2e"),
                       "significant": st.column_config.CheckboxColumn("q < 0.05")})
    st.caption("Click a bar or a table row to see the slice's rows. Intervals: Wilson for rates, t for means "
               f"(none, and no test, under {wb.MEAN_MIN_ROWS} rows), Hanley-McNeil for a slice's ROC AUC (none, and no test, with fewer than "
               f"{wb.AUC_MIN_CLASS} of either class or an AUC of exactly 0 or 1), DeLong for the whole holdout's; "
               f"p: slice vs the rest of the holdout; q: Benjamini-Hochberg over the {table.slices.height} slices shown.")

    points = event.selection.points if event else []
    bar = int(points[0].get("customdata", points[0].get("point_index", 0))) if points else None
    rows = picked.selection.rows if picked else []
    where = selected_where("slice", view, table.slices,
                           {"chart": (chart_key, bar), "table": (table_key, int(rows[0]) if rows else None)})
    row = pick(table.slices, where)
    if row is None:
        return
    name = " and ".join(f"{c} = {row[c]}" for c in keys)
    st.subheader(f"Rows where {name}")
    st.caption(f"{label} {fmt_ci(row['value'], [row['ci_low'], row['ci_high']])} on the slice's {row['n']:,} holdout "
               f"rows vs {row['rest_value']:.4g} on the rest")
    st.code(f"SELECT * FROM read_parquet('{run.predictions}')\nWHERE {row['where']}\nORDER BY _loss DESC, _row",
            language="sql")
    rows_panel(run, row["where"], view, "slice")


@st.fragment
def breakdown_view(run: wb.Run, columns: list[str], text_cols: list[str], conditions: dict[str, str]) -> None:
    """Controls, chart, table and rows of the breakdown. A fragment: changing a column or clicking
    a slice reruns only this part, not the page around it."""
    c1, c2, c3, c4, c5, c6 = st.columns([2, 2, 2, 1, 1, 1.4])
    by = c1.selectbox("Slice by", columns, index=columns.index(param("by", (text_cols or columns)[0], columns)), key="by")
    second = ["(none)"] + [c for c in columns if c != by]
    by2 = c2.selectbox("and by", second, index=second.index(param("by2", "(none)", second)), key="by2")
    metric = c3.selectbox("Metric", metric_names, format_func=lambda m: wb.charts.METRIC_LABELS.get(m, m),
                          index=metric_names.index(param("metric", metric_names[0], metric_names)), key="metric")
    bins = c4.number_input("Bins", 2, 50, int_param("bins", 5, 2, 50), help="Quantile bins for numeric and time columns.", key="bins")
    min_size = c5.number_input("Min rows", 1, 1_000_000, int_param("min_size", 20, 1, 1_000_000),
                               help="Hide slices with fewer holdout rows (they still count in 'the rest').", key="min_size")
    orders = {"auto": "auto", "natural": "natural order", "worst": "worst first"}
    order = c6.selectbox("Order", list(orders), format_func=orders.get, key="order",
                         index=list(orders).index(param("order", "auto", list(orders))),
                         help="auto: numbers and times in their natural order (bins low to high), other columns "
                              "worst first.")
    keys = (by,) if by2 == "(none)" else (by, by2)
    try:
        table = breakdown(str(ws.root), run.run_id, keys, metric, int(bins), int(min_size),
                          tuple((k, conditions[k]) for k in keys if k in conditions), order)
    except WorkbenchError as e:
        st.error(str(e))
        return
    set_params(run=run.run_id, by=by, by2=None if by2 == "(none)" else by2, metric=metric, bins=int(bins),
               min_size=int(min_size), order=None if order == "auto" else order)

    label = wb.charts.METRIC_LABELS.get(metric, metric)
    o = table.overall
    st.markdown(f"**{label}** on the whole holdout: {fmt_ci(o['value'], o['ci'])} over {o['n']:,} rows · "
                f"{table.slices.height} slices · {int(table.slices['significant'].sum())} differ from the rest (q < 0.05)")
    if table.slices.is_empty():
        set_params(slice=None)
        st.warning(f"No slice has at least {int(min_size)} rows; lower 'Min rows'.")
    else:
        slices_view(run, table, keys, label, f"{run.run_id}|{'|'.join(keys)}|{metric}|{bins}|{min_size}")


# Lazy tabs: only the open one runs and renders, and which one is open lives in the URL (?view=).
breakdown_tab, discover_tab, tree_tab = st.tabs(["Breakdown by columns", "Find problem slices", "Error tree"],
                                                on_change="rerun", key="view", bind="query-params")
if discover_tab.open:
    with discover_tab:
        problem_slices(run)
if tree_tab.open:
    with tree_tab:
        error_tree_view(run)
if breakdown_tab.open is not False:
    with breakdown_tab:
        breakdown_view(run, columns, text_cols, conditions)
