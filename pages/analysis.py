"""Error analysis: a run's metric by one or two columns, with intervals, and each slice's rows."""
import pyarrow.parquet as pq
import streamlit as st

from ui import breakdown, fmt_ci, int_param, link, param, set_params, setup, slice_rows, table_height
from workbench import charts, runs, slices

ws = setup("Error analysis")
all_runs = {r.run_id: r for r in runs.list_runs(ws)}
if not all_runs:
    st.info("No runs yet: train a model first.")
    link("train", "Go to Train →")
    st.stop()

ids = list(all_runs)
run_id = st.selectbox("Run", ids, index=ids.index(param("run", ids[0], ids)),
                      format_func=lambda i: all_runs[i].label(), key="run")
run = all_runs[run_id]
schema = pq.read_schema(run.predictions)
columns = [f.name for f in schema if not f.name.startswith("_")]
text_cols = [f.name for f in schema if not f.name.startswith("_") and str(f.type) in ("string", "large_string")]
metric_names = slices.SLICE_METRICS[run.task]

c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 1, 1])
by = c1.selectbox("Slice by", columns, index=columns.index(param("by", (text_cols or columns)[0], columns)), key="by")
second = ["(none)"] + [c for c in columns if c != by]
by2 = c2.selectbox("and by", second, index=second.index(param("by2", "(none)", second)), key="by2")
metric = c3.selectbox("Metric", metric_names, format_func=lambda m: charts.METRIC_LABELS.get(m, m),
                      index=metric_names.index(param("metric", metric_names[0], metric_names)), key="metric")
bins = c4.number_input("Bins", 2, 50, int_param("bins", 5, 2, 50), help="Quantile bins for numeric and time columns.", key="bins")
min_size = c5.number_input("Min rows", 1, 1_000_000, int_param("min_size", 20, 1, 1_000_000),
                           help="Hide slices with fewer holdout rows (they still count in 'the rest').", key="min_size")
keys = (by,) if by2 == "(none)" else (by, by2)
table = breakdown(str(ws.root), run_id, keys, metric, int(bins), int(min_size))
set_params(run=run_id, by=by, by2=None if by2 == "(none)" else by2, metric=metric, bins=int(bins),
           min_size=int(min_size))

label = charts.METRIC_LABELS.get(metric, metric)
o = table.overall
st.markdown(f"**{label}** on the whole holdout: {fmt_ci(o['value'], o['ci'])} over {o['n']:,} rows · "
            f"{table.slices.height} slices · {int(table.slices['significant'].sum())} differ from the rest (q < 0.05)")
if table.slices.is_empty():
    st.warning(f"No slice has at least {int(min_size)} rows; lower 'Min rows'.")
    st.stop()


@st.fragment
def slices_view(table: slices.SliceTable, view: str) -> None:
    """Chart, table and the chosen slice's rows. A fragment: a click reruns only this part."""
    event = st.plotly_chart(charts.slice_chart(table), on_select="rerun", selection_mode="points", key=f"chart|{view}")
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
        rows, count = slice_rows(str(ws.root), run_id, row["where"])
        st.subheader(f"Rows where {name}")
        st.caption(f"{count:,} holdout rows · {label} {fmt_ci(row['value'], [row['ci_low'], row['ci_high']])} vs "
                   f"{row['rest_value']:.4g} on the rest · worst errors (highest loss) first, {rows.height} shown")
        st.code(f"SELECT * FROM read_parquet('{run.predictions}')\nWHERE {row['where']}\nORDER BY _loss DESC", language="sql")
        first = [c for c in ("_label", "_pred", "_score", "_loss", "_correct") if c in rows.columns]
        st.dataframe(rows.select(first + [c for c in rows.columns if c not in first]), hide_index=True)
    else:
        set_params(slice=None)


slices_view(table, f"{run_id}|{'|'.join(keys)}|{metric}|{bins}|{min_size}")  # a new view starts unselected
