"""Train: LightGBM beside trivial and linear baselines on a dataset, with holdout metrics and charts."""
import polars as pl
import streamlit as st

from ui import fmt_ci, link, param, run_diagnostics, set_params, setup
import workbench as wb
from workbench import WorkbenchError

ws = setup("Train a baseline")
all_datasets = wb.list_datasets(ws)
if not all_datasets:
    st.info("No datasets yet: build one on the Data page first.")
    link("data", "Go to Data →")
    st.stop()


def show_run(run: wb.Run) -> None:
    """Holdout metrics of the three models with 95% intervals, then the standard charts."""
    r = run.record
    split, d = r.split, r.dataset
    st.subheader(f"Run {run.run_id}")
    st.caption(f"{run.task} · target `{r.target}` · {d.name} v{d.version} (hash `{d.hash}`) · "
               f"{split.kind} split{' on ' + split.column if split.column else ''}: "
               f"{split.n_train:,} train, {split.n_valid:,} validation, {split.n_holdout:,} holdout rows · "
               f"{r.best_iteration} trees · trained in {r.timings['total']:.1f} s")
    table = wb.comparison(run.task, run.metrics)
    shown = (table.with_columns(cell=pl.struct("value", "ci_low", "ci_high", "best").map_elements(
        lambda r: ("★ " if r["best"] else "") + fmt_ci(r["value"], [r["ci_low"], r["ci_high"]]), return_dtype=pl.String))
        .pivot("metric", index="model", values="cell"))
    st.dataframe(shown.rename(lambda c: wb.charts.METRIC_LABELS.get(c, c)), hide_index=True)
    st.caption("Holdout metrics with 95% intervals; ★ marks the best point value. "
               "Intervals: Wilson (accuracy), t (log loss, Brier, MAE, RMSE), DeLong (ROC AUC), "
               "logit (PR AUC), bootstrap (F1, R²).")
    diag = run_diagnostics(str(ws.root), run.run_id)
    if run.task == "binary":
        c1, c2, c3 = st.columns(3)
        c1.plotly_chart(wb.charts.roc_chart(diag))
        c2.plotly_chart(wb.charts.pr_chart(diag))
        c3.plotly_chart(wb.charts.calibration_chart(diag))
    elif run.task == "regression":
        c1, c2 = st.columns(2)
        c1.plotly_chart(wb.charts.predicted_vs_actual_chart(diag))
        c2.plotly_chart(wb.charts.residuals_chart(diag))
    link("analysis", "Find where this model fails →", run=run.run_id)


names = [d.name for d in all_datasets]
c1, c2 = st.columns(2)
default_ds = param("dataset", wb.demo.DATASET if wb.demo.DATASET in names else names[-1], names)
dataset = c1.selectbox("Dataset", names, index=names.index(default_ds), key="dataset")
version = wb.load_version(ws, dataset)
columns = [c for c, _ in version.schema]
c2.caption(f"**{dataset}** v{version.version}: {version.rows:,} rows × {len(columns)} columns, hash `{version.hash}`")
with st.form("train"):
    c1, c2 = st.columns(2)
    default_target = param("target", wb.demo.TARGET if wb.demo.TARGET in columns else columns[-1], columns)
    target = c1.selectbox("Target", columns, index=columns.index(default_target), key=f"target|{dataset}")
    seed = c2.number_input("Seed", min_value=0, value=0, step=1, key="seed")
    c1, c2, c3 = st.columns(3)
    task = c1.selectbox("Task", ["auto", "binary", "multiclass", "regression"], key="task",
                        help="auto: two values → binary; text or ≤10 whole numbers → multiclass; else regression.")
    split_kind = c2.selectbox("Split", ["random", "time", "column"], key="split", format_func={
        "random": "random 80/20 (stratified)", "time": "time: latest 20% held out",
        "column": "given by a column ('test' = holdout)"}.get)
    time_like = [c for c, t in version.schema if t.upper().startswith(("TIMESTAMP", "DATE"))] or columns
    split_col = c3.selectbox("Split column (time or column split)", columns,
                             index=columns.index(time_like[0]) if time_like[0] in columns else 0,
                             key=f"split_column|{dataset}")
    drop = st.multiselect("Columns to leave out", [c for c in columns if c != target], key=f"drop|{dataset}")
    with st.expander("LightGBM settings"):
        d = wb.DEFAULT_PARAMS
        c1, c2, c3, c4, c5 = st.columns(5)
        settings = {
            "learning_rate": c1.number_input("Learning rate", 0.001, 1.0, d["learning_rate"], format="%.3f"),
            "num_leaves": c2.number_input("Leaves per tree", 2, 4096, d["num_leaves"]),
            "min_data_in_leaf": c3.number_input("Min rows per leaf", 1, 100_000, d["min_data_in_leaf"]),
            "num_boost_round": c4.number_input("Max trees", 1, 20_000, wb.NUM_BOOST_ROUND),
            "early_stopping_rounds": c5.number_input("Early stopping (rounds)", 1, 1_000, wb.EARLY_STOPPING),
        }
    submitted = st.form_submit_button("Train", type="primary")

if submitted:
    spec = wb.TrainSpec(dataset, target, task=task, seed=int(seed), drop=tuple(drop), params=settings,
                           split=split_kind if split_kind == "random" else f"{split_kind}:{split_col}")
    bar = st.progress(0.0, text="Starting…")
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.01 or fraction >= 1:
            last[0] = fraction
            bar.progress(min(fraction, 1.0), text=message)

    try:
        run = wb.train(ws, spec, progress=progress)
        bar.empty()
        set_params(dataset=dataset, target=target, run=run.run_id)
    except WorkbenchError as e:
        bar.empty()
        st.error(str(e))

all_runs = {r.run_id: r for r in wb.list_runs(ws)}
current = param("run", None, list(all_runs))
if current:
    show_run(all_runs[current])
elif all_runs:
    st.caption("Earlier runs are listed on the Error analysis page.")
