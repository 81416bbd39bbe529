"""Explain: why the model scores as it does. Global importance (mean |SHAP| with bootstrap
intervals), a beeswarm and dependence plots over a seeded sample of the holdout; a slice's SHAP
values against the rest's; one row's waterfall and what-if.

TreeSHAP costs about a millisecond a row, so the page explains a seeded sample first (its size in
the URL as ``rows``) and the whole holdout on demand, with a progress bar; explained rows are
cached beside the run, so each is explained once. The view is in the URL: ``run``, ``rows``,
``cls``, ``dep``, ``color``, ``where`` and ``row``."""
import streamlit as st

from explain_panel import (SEED, choose_row, contrast_panel, dependence, explaining, importance_of, row_panel,
                           slice_condition)
from ui import choose_run, int_param, param, set_params, setup
import workbench as wb
from workbench import WorkbenchError
from workbench.render import explain_charts
from workbench.render.safe import md_text

ALL_CLASSES = "(all classes)"

ws = setup("Explain")
run = choose_run(ws)
run_id = run.run_id
if not run.model_path.is_file():
    st.info(f"Run {md_text(run_id)} holds predictions made elsewhere, without a LightGBM model to explain: "
            "pick a run trained here.")
    st.stop()
root, holdout = str(ws.root), run.record.split.n_holdout

# ---- the sample, and the class of a multiclass run -------------------------------------------
c1, c2, c3 = st.columns([1, 1.2, 1.6])
rows_key = f"rows|{run_id}"
if f"{rows_key}|next" in st.session_state:  # Explain all has just run: show every row
    st.session_state[rows_key] = st.session_state.pop(f"{rows_key}|next")
elif rows_key not in st.session_state:  # the URL's size, once; later the widget's
    st.session_state[rows_key] = int_param("rows", min(wb.SHAP_SAMPLE_ROWS, holdout), 1, holdout)
rows = int(c1.number_input("Rows explained (a seeded random sample)", 1, holdout, key=rows_key, step=1000,
                           help="The first N holdout rows in a seeded random order; a larger N extends the "
                                "same sample. About 1 ms of TreeSHAP per row not yet explained."))
cls = None
if run.task == "multiclass":
    classes = [ALL_CLASSES] + [str(c) for c in run.record.classes]
    picked = c2.selectbox("Class", classes, index=classes.index(param("cls", ALL_CLASSES, classes)),
                          key=f"cls|{run_id}", help="Explain one class's margin, or all classes' |SHAP| summed.")
    cls = None if picked == ALL_CLASSES else picked
set_params(rows=rows, cls=cls)

explained = wb.explained_count(run)
c3.write("")  # line the button up with the inputs
if c3.button(f"Explain all {holdout:,} holdout rows", disabled=explained >= holdout and rows == holdout,
             help="TreeSHAP of every holdout row not yet explained, 10,000 at a time; kept beside the run."):
    bar = st.progress(0.0, text=f"Explaining {holdout - explained:,} rows with TreeSHAP…")
    try:
        wb.explain_all(run, seed=SEED, progress=lambda done, message: bar.progress(done, text=message))
    except WorkbenchError as e:
        st.error(md_text(e))
        st.stop()
    st.session_state[f"{rows_key}|next"] = holdout
    st.rerun()

try:
    with st.spinner(explaining(run, rows)):
        imp = importance_of(root, run_id, rows, SEED, cls)
except WorkbenchError as e:
    st.error(md_text(e))
    st.stop()
explained = wb.explained_count(run)

# ---- the whole holdout -----------------------------------------------------------------------
st.header("Importance")
st.plotly_chart(explain_charts.importance_chart(imp), key=f"importance|{run_id}")
about = (f"class {md_text(imp.cls)}" if imp.cls is not None else
         "|SHAP| summed over the classes" if run.task == "multiclass" else "raw score: log-odds" if
         run.task == "binary" else "the predicted value")
st.caption(f"Mean |SHAP| (LightGBM's TreeSHAP, {about}) per feature: {imp.rows_explained:,} of {holdout:,} holdout "
           f"rows explained (seed {imp.seed}); {explained:,} explained so far and kept with the run. "
           f"{imp.method}. Base value {imp.base_value:.4g}.")
st.plotly_chart(explain_charts.beeswarm_chart(imp), key=f"beeswarm|{run_id}")
st.caption("Each dot is one explained row: how far its value of the feature moved its score from the base "
           "value (right: up). A feature whose red and blue dots lie apart acts in one direction.")
dependence(imp, root, cls)

# ---- a slice --------------------------------------------------------------------------------
st.header("Why this slice")
st.caption("Which features behave differently inside a slice than on the rest of the holdout. A slice from the "
           "Error analysis page (a bar, a found slice, a tree node) carries its condition here.")
where = slice_condition(ws, run)
if not where:
    st.caption("Type a condition, or pick a saved slice, to compare it with the rest.")
elif contrast_panel(run, where, rows, cls) is None:
    where = ""  # the condition's error is said above; rows come from the whole holdout

# ---- a row ----------------------------------------------------------------------------------
st.header("A row")
row = choose_row(run, where)
if row is not None:
    row_panel(run, row, cls)
