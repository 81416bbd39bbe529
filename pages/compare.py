"""Compare: a candidate run against a baseline on the same holdout rows. Each metric's paired
difference with its interval and a plain verdict, every slice of the chosen columns with its
paired difference and q-value (regressions first, in red), a chosen slice in both runs, and the
action that closes the loop: retrain up-weighting a slice, then compare the new run with the old.

The view is in the URL: ``baseline``, ``candidate``, ``by`` (columns, comma-separated), ``bins``,
``min_size``, the chosen ``slice`` (its SQL condition), and ``upweight``, the condition of a slice
that the Error analysis page sent here to retrain on."""
import pyarrow.parquet as pq
import streamlit as st

from compare_panel import (both_runs, chosen_slice_view, comparable, comparison, md, overall_view,
                           retrain_form, slice_columns, slices_caption)
from slice_panel import pick, selected_where
from ui import bool_param, flash, int_param, link, param, selection_key, set_params, setup, table_height
import workbench as wb
from workbench import WorkbenchError
from workbench.render import compare_charts

ws = setup("Compare")
runs = {r.run_id: r for r in wb.list_runs(ws)}
ids = list(runs)  # newest first
if not ids:
    st.info("No runs yet: train a model first.")
    link("train", "Go to Train →")
    st.stop()


def default_pair() -> tuple[str, str | None]:
    """The newest run that another run can be compared with, and the newest of those before it."""
    for i in ids:
        partners = [j for j in ids if comparable(runs[i], runs[j])]
        if partners:
            return partners[0], i
    return ids[0], None


def opened(old: str, new: wb.Run, where: str) -> None:
    """After a retrain: compare the new run with the old one and open the up-weighted slice."""
    set_params(baseline=old, candidate=new.run_id, upweight=None, slice=None)
    st.session_state["_next_pair"] = (old, new.run_id)  # the run pickers take it before they are drawn
    st.session_state["_focus"] = where
    flash(f"Trained {md(new.run_id)} up-weighting the slice: compared below with {md(old)}.", "toast")
    st.rerun()


# after a retrain the run pickers show the new pair, and take no default that would contradict it
repaired = "_next_pair" in st.session_state
if repaired:
    st.session_state["c_baseline"], st.session_state["c_candidate"] = st.session_state.pop("_next_pair")


first_base, first_cand = default_pair()
c1, c2 = st.columns(2)
base_id = c1.selectbox("Baseline", ids, key="c_baseline", format_func=lambda i: runs[i].label(),
                       **({} if repaired else {"index": ids.index(param("baseline", first_base, ids))}))
base = runs[base_id]
show_all = c2.toggle("List runs that cannot be compared", key="c_all_runs",
                     help="Only runs that scored the same holdout rows as the baseline are listed; list every "
                          "run to see why another cannot be compared.")
options = [j for j in ids if j != base_id and (show_all or comparable(base, runs[j]))]
linked = st.query_params.get("candidate")
if linked in runs and linked != base_id and linked not in options:  # a link's pair: say why it cannot be compared
    options.append(linked)
upweight = param("upweight")
set_params(baseline=base_id, upweight=upweight)

if upweight:
    st.subheader("Retrain up-weighting a slice")
    st.caption(md(f"Sent from Error analysis: retrain run {base_id} with this slice's rows weighted more, then "
                  "compare the new run with it."))
    new = retrain_form(ws, base, upweight)
    if new is not None:
        opened(base_id, new, upweight)

if not options:
    st.info(md(f"No other run scored the same holdout rows as {base_id}. Train another run on the same dataset "
               "version with the same split (a time: or column: split gives the same holdout whatever the seed), "
               "or import predictions for this run's holdout rows."))
    link("train", "Go to Train →", dataset=base.record.dataset.name)
    st.stop()
first = first_cand if first_cand in options else options[0]
cand_id = c2.selectbox("Candidate", options, key="c_candidate", format_func=lambda i: runs[i].label(),
                       **({} if repaired else {"index": options.index(param("candidate", first, options))}))
cand = runs[cand_id]

columns = [f.name for f in pq.read_schema(base.predictions) if not f.name.startswith("_")]
text_cols = [f.name for f in pq.read_schema(base.predictions)
             if not f.name.startswith("_") and str(f.type) in ("string", "large_string")]
given = param("by")
by_default = [c for c in given.split(",") if c in columns] if given is not None else (text_cols or columns)[:1]
c1, c2, c3, c4 = st.columns([3, 1, 1, 2.4])
by = c1.multiselect("Slice by", columns, default=by_default, key="c_by")
find = c4.toggle(
    "Find where the candidate got worse", value=bool_param("find", False), key="c_find",
    help="SliceLine on each row's change in loss, searched on a random half of the rows and tested on the other.")
bins = int(c2.number_input("Bins", 2, 50, int_param("bins", 5, 2, 50), key="c_bins",
                           help="Quantile bins for numeric and time columns."))
min_size = int(c3.number_input("Min rows", 1, 1_000_000, int_param("min_size", 20, 1, 1_000_000), key="c_min_size",
                               help="Leave out slices with fewer holdout rows."))
set_params(candidate=cand_id, by=",".join(by) or ",", bins=bins, min_size=min_size, find=1 if find else None)
try:
    c = comparison(str(ws.root), base_id, cand_id, tuple(by), bins, min_size, find,
                   tuple(sorted(wb.applicable_slices(ws, base).items())))
except WorkbenchError as e:
    st.error(md(str(e)))
    st.stop()

weighting = cand.record.weighting
if weighting:
    st.caption(md(f"Candidate {cand_id} was trained with the rows of this slice weighted "
                  f"×{weighting.get('factor', '?')}:"))
    st.code(f"WHERE {weighting.get('where')}", language="sql")
st.subheader("Overall")
overall_view(c)

st.subheader("Slices")
if c.slices.is_empty() and not by:
    set_params(slice=None)
    st.caption("Choose columns under 'Slice by' to compare the runs slice by slice.")
    st.stop()
if c.slices.is_empty():
    set_params(slice=None)
    st.warning(f"No slice has at least {min_size} rows; lower 'Min rows'.")
    st.stop()
table = compare_charts.ranked(c)
view = f"{base_id}|{cand_id}|{'|'.join(by)}|{bins}|{min_size}|{find}"
focus = st.session_state.pop("_focus", None)
if focus is not None and focus in table["where"].to_list():  # just retrained: open the slice it up-weighted
    st.session_state.get("_chosen", {}).pop("slice", None)
    st.query_params["slice"] = focus
chart_key = selection_key("slice", "chart", view)
table_key = selection_key("slice", "table", view)
event = st.plotly_chart(compare_charts.delta_chart(c), on_select="rerun", selection_mode="points", key=chart_key)
shown, config = slice_columns(c, table)
picked = st.dataframe(table.select(shown), hide_index=True, on_select="rerun", selection_mode="single-row",
                      key=table_key, height=table_height(table.height), column_config=config)
st.caption(slices_caption(c))
points = event.selection.points if event else []
bar = int(points[0].get("customdata", points[0].get("point_index", 0))) if points else None
rows = picked.selection.rows if picked else []
where = selected_where("slice", view, table, {"chart": (chart_key, bar),
                                              "table": (table_key, int(rows[0]) if rows else None)})
row = pick(table, where)
if row is None:
    if weighting and weighting.get("where"):
        st.subheader("The up-weighted slice")
        st.caption("Not among the slices of the columns above: each run on its own.")
        both_runs(ws, base_id, cand_id, weighting["where"])
    st.stop()
chosen_slice_view(ws, c, row)
st.subheader("Close the loop")
new = retrain_form(ws, cand, row["where"])
if new is not None:
    opened(cand_id, new, row["where"])
