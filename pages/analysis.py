"""Error analysis: a run's metric by one or two columns (for a binary run, its rates at a
threshold too), found problem slices, the error tree, each slice's rows, and a binary run's parity
between the groups of sensitive columns.

Every view keeps its state in the URL (the run, the columns, the metric, the search settings,
the chosen slice), so a copied link reopens it. A chosen slice is named by its SQL condition,
which stays the same whatever order the slices are shown in, and belongs to the view it was
chosen in (see ``ui.chosen``)."""
import polars as pl
import pyarrow.parquet as pq
import streamlit as st

from found_panel import found_table, shuffle_note
from parity_panel import parity_view
from slice_panel import calibration_panel, pick, rows_panel, selected_where, slice_detail
from threshold_panel import threshold_breakdown, threshold_slider
from ui import (bool_param, breakdown, choose_run, discover_default, discovered, float_param, fmt_ci, grown_tree,
                int_param, param, selection_key, set_params, setup, table_height)
import workbench as wb
from workbench import WorkbenchError
from workbench.render import threshold_charts
from workbench.render.safe import md_text

PERMUTATIONS_MOST = 1000  # shuffles a search may ask for: each is one more search

ws = setup("Error analysis")
run = choose_run(ws)
if run.task == "binary":
    st.caption(wb.text.positive_note(run))
schema = pq.read_schema(run.predictions)
conditions = wb.applicable_slices(ws, run)  # saved slices usable with this run, as slice:NAME columns
columns = [f.name for f in schema if not f.name.startswith("_")] + list(conditions)
text_cols = [f.name for f in schema if not f.name.startswith("_") and str(f.type) in ("string", "large_string")]
# a binary run's rates at a threshold (selection rate, TPR, FPR, FNR, precision) after its plain metrics
AT_THRESHOLD = wb.THRESHOLD_METRICS if run.task == "binary" else ()
metric_names = [*wb.slice_metrics(run), *AT_THRESHOLD]
ERRORS = ["loss"] if run.task == "regression" else ["misclassification", "loss"]
LINKED = {"search": st.query_params.get("search") == "1", "grow": st.query_params.get("grow") == "1"}


def linked_once(flag: str) -> bool:
    """Whether the URL asks for a search or a tree that this session has not yet shown: a link's
    results open by themselves once; later visits wait for the button."""
    if st.session_state.get(f"_linked|{flag}"):
        return False
    st.session_state[f"_linked|{flag}"] = True
    return LINKED[flag]


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
    c = st.columns([1, 1.5, 1, 2.5])
    perm = c[0].number_input(
        "Shuffles", 0, PERMUTATIONS_MOST,
        int_param("perm", discover_default("permutations"), 0, PERMUTATIONS_MOST), key="d_perm",
        help="Searches of shuffled errors behind the top score's p-value (0: none). Each is one more search.")
    group = c[1].checkbox("Group overlapping slices", value=bool_param("group", discover_default("group")),
                          key="d_group", help="List a slice whose rows mostly overlap a higher one's under it, as "
                                              "'also', so that each row of the table is a different finding.")
    overlap = c[2].slider("Overlap to group", 0.05, 1.0,
                          round(float_param("overlap", discover_default("overlap"), 0.05, 1.0) * 20) / 20, 0.05,
                          key="d_overlap", disabled=not group,
                          help="The share of two slices' rows they have in common (Jaccard) from which the "
                               "lower-ranked one is grouped under the other.")
    confirm = c[3].checkbox("Count every figure on rows the search did not see", key="d_confirm",
                            value=bool_param("confirm", discover_default("confirm")),
                            help="Search one random half of the holdout and count each slice's figures on the "
                                 "other. Off: search and count on the whole holdout, where the figures flatter "
                                 "the slices the search picked.")
    settings = (int(k), int(level), float(alpha), float(support), error, binner, confirm, int(perm), group,
                float(overlap))
    if st.button("Find problem slices", type="primary") or linked_once("search"):
        st.session_state[f"found|{run.run_id}"] = settings
    searched = st.session_state.get(f"found|{run.run_id}") == settings
    set_params(k=int(k), level=int(level), alpha=float(alpha), support=int(support), error=error, binning=binner,
               confirm=int(confirm), perm=int(perm), group=int(group), overlap=float(overlap),
               search=1 if searched else None)
    if not searched:
        set_params(found=None)
        st.caption("Set the search and click **Find problem slices**.")
        return
    # the search first, without shuffles, so its table shows at once; the shuffles' p-value follows
    # (the same halves and slices: the seed draws the halves before the shuffles)
    try:
        with st.spinner("Searching the slice lattice (SliceLine)…"):
            found = discovered(str(ws.root), run.run_id, settings[:7] + (0,) + settings[8:])
    except WorkbenchError as e:
        st.error(md_text(e))
        return
    searched_on = wb.text.searched_rows(found, run.record.split.n_holdout)
    st.markdown(f"**{found.slices.height} slices** found on {searched_on} (mean {error} {found.mean_error:.4g}); "
                f"{found.candidates_evaluated:,} candidates evaluated in {found.seconds:.1f} s.")
    if found.slices.is_empty():
        set_params(found=None)
        st.info("No slice scores above 0: raise α to weigh error more than size, or lower 'Min rows'.")
        return
    note_slot = st.empty()
    view = f"{run.run_id}|{settings}"
    table_key = selection_key("found", "table", view)
    picked = found_table(found, table_key)
    rows = picked.selection.rows if picked else []
    where = selected_where("found", view, found.slices, {"table": (table_key, rows[0] if rows else None)})
    row = pick(found.slices, where)
    if row is not None:
        slice_detail(ws, run, row, view, "found", note=wb.text.whole_holdout_note(found))
    shuffle_note(note_slot, ws, run, settings)


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
        st.error(md_text(e))
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
        slice_detail(ws, run, row, view, "node")


def slices_view(run: wb.Run, table: wb.SliceTable, keys: tuple[str, ...], label: str, view: str) -> None:
    """Chart, table and the chosen slice's rows. ``view`` names the slices shown, whatever their
    order: a chosen slice stays chosen when the order changes."""
    chart_key = selection_key("slice", "chart", f"{view}|{table.order}")
    table_key = selection_key("slice", "table", f"{view}|{table.order}")
    event = st.plotly_chart(threshold_charts.threshold_slice_chart(table), on_select="rerun", selection_mode="points",
                            key=chart_key)
    shown = table.slices.select(*table.by, "n", "share", "value", "ci_low", "ci_high", "rest_value", "diff", "reading",
                                "detectable", "p_value", "q_value")
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
                       "reading": st.column_config.TextColumn("reading"),
                       "detectable": st.column_config.NumberColumn(
                           "could detect", format="±%.4g",
                           help="The difference from the rest that a slice of this size shows with 80% power."),
                       "p_value": st.column_config.NumberColumn("p", format="%.2e"),
                       "q_value": st.column_config.NumberColumn("q (BH)", format="%.2e")})
    st.caption(f"Click a bar or a table row to see the slice's rows. {table.method}. {wb.text.multiplicity(table)}")
    points = event.selection.points if event else []
    bar = int(points[0].get("customdata", points[0].get("point_index", 0))) if points else None
    rows = picked.selection.rows if picked else []
    where = selected_where("slice", view, table.slices,
                           {"chart": (chart_key, bar), "table": (table_key, int(rows[0]) if rows else None)})
    row = pick(table.slices, where)
    if row is None:
        return
    name = " and ".join(f"{c} = {row[c]}" for c in keys)
    st.subheader(f"Rows where {md_text(name)}")
    st.caption(f"{label} {fmt_ci(row['value'], [row['ci_low'], row['ci_high']])} on the slice's {row['n']:,} holdout "
               f"rows vs {row['rest_value']:.4g} on the rest: {md_text(row['reading'])} "
               f"({wb.charts.detectable_text(row['detectable'])})")
    st.code(f"SELECT * FROM read_parquet('{run.predictions}')\nWHERE {row['where']}\nORDER BY _loss DESC, _row",
            language="sql")
    calibration_panel(run, row["where"], view)
    rows_panel(ws, run, row["where"], view, "slice")


@st.fragment
def breakdown_view(run: wb.Run, columns: list[str], text_cols: list[str], conditions: dict[str, str]) -> None:
    """Controls, chart, table and rows of the breakdown. A fragment: changing a column or clicking
    a slice reruns only this part, not the page around it."""
    c1, c2, c3, c4, c5, c6 = st.columns([2, 2, 2, 1, 1, 1.4])
    by = c1.selectbox("Slice by", columns, index=columns.index(param("by", (text_cols or columns)[0], columns)), key="by")
    second = ["(none)"] + [c for c in columns if c != by]
    by2 = c2.selectbox("and by", second, index=second.index(param("by2", "(none)", second)), key="by2")
    metric = c3.selectbox("Metric", metric_names, format_func=threshold_charts.rate_label,
                          index=metric_names.index(param("metric", metric_names[0], metric_names)), key="metric")
    bins = c4.number_input("Bins", 2, 50, int_param("bins", 5, 2, 50), help="Quantile bins for numeric and time columns.", key="bins")
    min_size = c5.number_input("Min rows", 1, 1_000_000, int_param("min_size", 20, 1, 1_000_000),
                               help="Hide slices with fewer holdout rows (they still count in 'the rest').", key="min_size")
    orders = {"auto": "auto", "natural": "natural order", "worst": "worst first"}
    order = c6.selectbox("Order", list(orders), format_func=orders.get, key="order",
                         index=list(orders).index(param("order", "auto", list(orders))),
                         help="auto: numbers and times in their natural order (bins low to high), other columns "
                              "worst first.")
    # a rate at a threshold: the threshold's slider shows for it alone
    threshold = threshold_slider("b_threshold") if metric in AT_THRESHOLD else None
    keys = (by,) if by2 == "(none)" else (by, by2)
    saved = tuple((k, conditions[k]) for k in keys if k in conditions)
    try:
        if threshold is None:
            table = breakdown(str(ws.root), run.run_id, keys, metric, int(bins), int(min_size), saved, order)
        else:
            table = threshold_breakdown(str(ws.root), run.run_id, keys, metric, int(bins), int(min_size), saved,
                                        order, threshold)
    except WorkbenchError as e:
        st.error(md_text(e))
        return
    set_params(run=run.run_id, by=by, by2=None if by2 == "(none)" else by2, metric=metric, bins=int(bins),
               min_size=int(min_size), order=None if order == "auto" else order)

    label = threshold_charts.rate_label(metric, threshold)
    o = table.overall
    small = int((table.slices["reading"] == "too small to tell").sum())
    st.markdown(f"**{label}** on the whole holdout: {fmt_ci(o['value'], o['ci'])} over {o['n']:,} rows · "
                f"{table.slices.height} slices · {int(table.slices['significant'].sum())} differ from the rest "
                f"(q < 0.05) · {small} too small to tell")
    if table.slices.is_empty():
        set_params(slice=None)
        st.warning(f"No slice has at least {int(min_size)} rows; lower 'Min rows'.")
    else:
        at = "" if threshold is None else f"|{threshold:g}"
        slices_view(run, table, keys, label, f"{run.run_id}|{'|'.join(keys)}|{metric}{at}|{bins}|{min_size}")


# Lazy tabs: only the open one runs and renders, and which one is open lives in the URL (?view=).
# Parity: a binary run's decisions compared between the groups of sensitive columns.
tabs = st.tabs(["Breakdown by columns", "Find problem slices", "Error tree", *(["Parity"] if AT_THRESHOLD else [])],
               on_change="rerun", key="view", bind="query-params")
breakdown_tab, discover_tab, tree_tab = tabs[:3]
if AT_THRESHOLD and tabs[3].open:
    with tabs[3]:
        parity_view(ws, run)
if discover_tab.open:
    with discover_tab:
        problem_slices(run)
if tree_tab.open:
    with tree_tab:
        error_tree_view(run)
if breakdown_tab.open is not False:
    with breakdown_tab:
        breakdown_view(run, columns, text_cols, conditions)
