"""Error analysis: a run's metric by one or two columns, with intervals, and each slice's rows."""
import polars as pl
import pyarrow.parquet as pq
import streamlit as st

from ui import (breakdown, discovered, fmt_ci, grown_tree, slice_vs_rest, int_param, link, param, set_params, setup, slice_rows,
                table_height)
import workbench as wb
from workbench import WorkbenchError

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
schema = pq.read_schema(run.predictions)
conditions = wb.applicable_slices(ws, run)  # saved slices usable with this run, as slice:NAME columns
columns = [f.name for f in schema if not f.name.startswith("_")] + list(conditions)
text_cols = [f.name for f in schema if not f.name.startswith("_") and str(f.type) in ("string", "large_string")]
metric_names = wb.SLICE_METRICS[run.task]

@st.fragment
def problem_slices(run: wb.Run) -> None:
    """SliceLine over the holdout; a fragment, so its widgets do not rerun the breakdown."""
    c = st.columns([1, 1, 1, 1, 1, 1])
    k = c[0].number_input("Slices (k)", 1, 50, 8, key="d_k")
    level = c[1].number_input("Max predicates", 1, 5, 3, key="d_level")
    alpha = c[2].slider("Error vs size (α)", 0.05, 1.0, 0.95, 0.05, key="d_alpha",
                        help="SliceLine's α. The paper's 0.5 favors large slices; 0.95 favors high error.")
    support = c[3].number_input("Min rows", 1, 1_000_000, 32, key="d_support")
    kinds = ["loss"] if run.task == "regression" else ["misclassification", "loss"]
    error = c[4].selectbox("Error", kinds, key="d_error", help="Per-row loss, or 1 for a wrong class.")
    binner = c[5].selectbox("Numeric bins", ["model", "quantile"], key="d_binner",
                            help="model: the LightGBM model's strongest split thresholds; quantile: equal-count bins.")
    confirm = st.checkbox("Confirm on unseen rows: find on one random half of the holdout, test on the other",
                          value=True, key="d_confirm")
    settings = (int(k), int(level), float(alpha), float(support), error, binner, confirm)
    if st.button("Find problem slices", type="primary"):
        st.session_state[f"found|{run.run_id}"] = settings
    if st.session_state.get(f"found|{run.run_id}") != settings:
        st.caption("Set the search and click **Find problem slices**.")
        return
    try:
        with st.spinner("Searching the slice lattice (SliceLine)…"):
            found = discovered(str(ws.root), run.run_id, settings)
    except WorkbenchError as e:
        st.error(str(e))
        return
    st.markdown(f"**{found.slices.height} slices** over {found.n:,} rows (mean {error} {found.mean_error:.4g}); "
                f"{found.candidates_evaluated:,} candidates evaluated in {found.seconds:.1f} s.")
    if found.slices.is_empty():
        st.info("No slice scores above 0: raise α to weigh error more than size, or lower 'Min rows'.")
        return
    cols = ["predicate", "size", "error", "ci_low", "ci_high", "lift", "q_value"] + (["confirmed", "confirm_error"] if confirm else [])
    picked = st.dataframe(found.slices.select(cols), hide_index=True, on_select="rerun", selection_mode="single-row",
                          key=f"found-table|{settings}", height=table_height(found.slices.height), column_config={
                              "predicate": st.column_config.TextColumn("slice", width="large"),
                              "size": st.column_config.NumberColumn("rows", format="localized"),
                              **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g")
                                 for c in ("error", "ci_low", "ci_high", "lift", "confirm_error")},
                              "q_value": st.column_config.NumberColumn("q (BH, all candidates)", format="%.2e")})
    st.caption("error: mean per-row error with 95% CI · lift: error over the rest of the holdout · q: one-sided "
               "test that the slice errs more than the rest, adjusted over every candidate evaluated · confirmed: "
               "the same holds on the half it was not found on (q < 0.05). Select a row for its rows.")
    if picked and picked.selection.rows:
        show_rows(run, found.slices.row(picked.selection.rows[0], named=True))


@st.fragment
def error_tree_view(run: wb.Run) -> None:
    """A shallow tree fit on each row's error; its nodes open like slices."""
    c1, c2, c3 = st.columns(3)
    kinds = ["loss"] if run.task == "regression" else ["misclassification", "loss"]
    error = c1.selectbox("Error", kinds, key="t_error")
    depth = c2.number_input("Depth", 1, 6, 3, key="t_depth")
    min_rows = c3.number_input("Min rows per node", 1, 1_000_000, 32, key="t_min_rows")
    settings = (error, int(depth), int(min_rows))
    if st.button("Grow the error tree"):
        st.session_state[f"tree|{run.run_id}"] = settings
    if st.session_state.get(f"tree|{run.run_id}") != settings:
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
    picked = st.dataframe(shown.select("node", "n", "error", "ci_low", "ci_high", "leaf"), hide_index=True,
                          on_select="rerun", selection_mode="single-row", key=f"tree|{error}|{depth}|{min_rows}",
                          height=table_height(shown.height), column_config={
                              "node": st.column_config.TextColumn("node (each row refines its parent)", width="large"),
                              "n": st.column_config.NumberColumn("rows", format="localized"),
                              **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g")
                                 for c in ("error", "ci_low", "ci_high")}})
    if picked and picked.selection.rows:
        show_rows(run, nodes.row(picked.selection.rows[0], named=True))


def show_rows(run: wb.Run, row: dict) -> None:
    """A found slice or tree node: its SQL, a way to save it, and its rows, worst errors first."""
    try:
        rows, count = slice_rows(str(ws.root), run.run_id, row["where"])
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
                st.success(f"Saved: choose **{kept.column}** under 'Slice by' in the breakdown.")
            except WorkbenchError as e:
                st.error(str(e))
    # its breakdown: each of the run's metrics inside the slice and on the rest of the holdout
    st.dataframe(compared.with_columns(pl.col("metric").replace(wb.charts.METRIC_LABELS)), hide_index=True,
                 column_config={
                     "n": st.column_config.NumberColumn("rows in slice", format="localized"),
                     "value": st.column_config.NumberColumn("in slice", format="%.4g"),
                     **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.4g") for c in ("ci_low", "ci_high")},
                     "rest_value": st.column_config.NumberColumn("rest of holdout", format="%.4g"),
                     "p_value": st.column_config.NumberColumn("p", format="%.2e")})
    st.caption(f"{count:,} holdout rows, worst errors first")
    st.dataframe(rows, hide_index=True)


def slices_view(run: wb.Run, table: wb.SliceTable, keys: tuple[str, ...], label: str, view: str) -> None:
    """Chart, table and the chosen slice's rows."""
    event = st.plotly_chart(wb.charts.slice_chart(table), on_select="rerun", selection_mode="points", key=f"chart|{view}")
    shown = table.slices.drop("where")
    picked = st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"table|{view}",
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
    st.caption("Click a bar or a table row to see the slice's rows. Intervals: Wilson for rates, t for means, "
               "Hanley-McNeil for ROC AUC; p: slice vs the rest of the holdout; q: Benjamini-Hochberg over the slices.")

    selected = None
    points = event.selection.points if event else []
    if points:
        selected = int(points[0].get("customdata", points[0].get("point_index", 0)))
    elif picked and picked.selection.rows:
        selected = int(picked.selection.rows[0])
    elif param("slice") is not None:
        selected = int_param("slice", -1, 0, table.slices.height - 1)
        selected = None if selected < 0 else selected
    if selected is not None and selected < table.slices.height:
        row = table.slices.row(selected, named=True)
        set_params(slice=selected)
        name = " and ".join(f"{c} = {row[c]}" for c in keys)
        rows, count = slice_rows(str(ws.root), run.run_id, row["where"])
        st.subheader(f"Rows where {name}")
        st.caption(f"{count:,} holdout rows · {label} {fmt_ci(row['value'], [row['ci_low'], row['ci_high']])} vs "
                   f"{row['rest_value']:.4g} on the rest · worst errors (highest loss) first, {rows.height} shown")
        st.code(f"SELECT * FROM read_parquet('{run.predictions}')\nWHERE {row['where']}\nORDER BY _loss DESC", language="sql")
        first = [c for c in ("_label", "_pred", "_score", "_loss", "_correct") if c in rows.columns]
        st.dataframe(rows.select(first + [c for c in rows.columns if c not in first]), hide_index=True)
    else:
        set_params(slice=None)


@st.fragment
def breakdown_view(run: wb.Run, columns: list[str], text_cols: list[str], conditions: dict[str, str]) -> None:
    """Controls, chart, table and rows of the breakdown. A fragment: changing a column or clicking
    a slice reruns only this part, not the page around it."""
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 1, 1])
    by = c1.selectbox("Slice by", columns, index=columns.index(param("by", (text_cols or columns)[0], columns)), key="by")
    second = ["(none)"] + [c for c in columns if c != by]
    by2 = c2.selectbox("and by", second, index=second.index(param("by2", "(none)", second)), key="by2")
    metric = c3.selectbox("Metric", metric_names, format_func=lambda m: wb.charts.METRIC_LABELS.get(m, m),
                          index=metric_names.index(param("metric", metric_names[0], metric_names)), key="metric")
    bins = c4.number_input("Bins", 2, 50, int_param("bins", 5, 2, 50), help="Quantile bins for numeric and time columns.", key="bins")
    min_size = c5.number_input("Min rows", 1, 1_000_000, int_param("min_size", 20, 1, 1_000_000),
                               help="Hide slices with fewer holdout rows (they still count in 'the rest').", key="min_size")
    keys = (by,) if by2 == "(none)" else (by, by2)
    try:
        table = breakdown(str(ws.root), run.run_id, keys, metric, int(bins), int(min_size),
                          tuple((k, conditions[k]) for k in keys if k in conditions))
    except WorkbenchError as e:
        st.error(str(e))
        return
    set_params(run=run.run_id, by=by, by2=None if by2 == "(none)" else by2, metric=metric, bins=int(bins),
               min_size=int(min_size))

    label = wb.charts.METRIC_LABELS.get(metric, metric)
    o = table.overall
    st.markdown(f"**{label}** on the whole holdout: {fmt_ci(o['value'], o['ci'])} over {o['n']:,} rows · "
                f"{table.slices.height} slices · {int(table.slices['significant'].sum())} differ from the rest (q < 0.05)")
    if table.slices.is_empty():
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
