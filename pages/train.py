"""Train: LightGBM beside trivial and linear baselines on a dataset, with holdout metrics and charts;
or review predictions made elsewhere, imported from a parquet file as a run."""
import io
import re
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import streamlit as st

from threshold_panel import threshold_panel
from ui import fmt_ci, link, param, progress_bar, run_diagnostics, set_params, setup, training_defaults
import workbench as wb
from workbench import WorkbenchError
from workbench.render.safe import md_code, md_text

ws = setup("Train a baseline")
all_datasets = wb.list_datasets(ws)
if not all_datasets:
    st.info("No datasets yet: build one on the Data page first.")
    link("data", "Go to Data →")
    st.stop()


def show_run(run: wb.Run) -> None:
    """Holdout metrics of the three models with 95% intervals, then the standard charts; for a
    binary run, its decisions at a threshold the reader sets (confusion matrix, precision, recall,
    F1, selection rate) with the threshold marked on the ROC and PR curves."""
    r = run.record
    split, d = r.split, r.dataset
    st.subheader(f"Run {md_text(run.run_id)}")
    src = r.source
    if src is not None:  # predictions made elsewhere: no trees, no training, rows matched on a key
        unmatched = f" ({src['rows_unmatched']:,} matched none)" if src.get("rows_unmatched") else ""
        unlabelled = (f", {src['rows_unlabelled']:,} left out for a missing label"
                      if src.get("rows_unlabelled") else "")
        st.caption(f"{run.task} · target {md_code(r.target)} · {md_text(d.name)} v{d.version} (hash `{d.hash}`) · "
                   f"predictions imported from {md_code(src['file'])} on key {md_code(src['key'])}: {src['rows_matched']:,} of "
                   f"{src['rows_in_file']:,} rows in the file matched{unmatched}{unlabelled}; "
                   f"{split.n_holdout:,} rows reviewed · per-row loss: {md_text(src['loss'])} · no model to explain")
    else:
        st.caption(f"{run.task} · target {md_code(r.target)} · {md_text(d.name)} v{d.version} (hash `{d.hash}`) · "
                   f"{split.kind} split{' on ' + md_code(split.column) if split.column else ''}: "
                   f"{split.n_train:,} train, {split.n_valid:,} validation, {split.n_holdout:,} holdout rows · "
                   f"{r.best_iteration} trees · trained in {r.timings['total']:.1f} s")
    table = wb.comparison(run.task, run.metrics)
    shown = (table.with_columns(cell=pl.struct("value", "ci_low", "ci_high", "best").map_elements(
        lambda r: ("★ " if r["best"] else "") + fmt_ci(r["value"], [r["ci_low"], r["ci_high"]]), return_dtype=pl.String))
        .pivot("metric", index="model", values="cell"))
    st.dataframe(shown.rename(lambda c: wb.charts.METRIC_LABELS.get(c, c)), hide_index=True)
    positive = (f"ROC AUC, PR AUC, F1, log loss and Brier score are about the positive class "
                f"{md_code(r.positive_class)} of {md_code(r.target)} (classes: {', '.join(md_code(c) for c in r.classes)}). "
                if run.task == "binary" else "")
    st.caption(positive + ("Metrics of the imported predictions" if src is not None else "Holdout metrics") +
               " with 95% intervals; ★ marks the best point value. "
               "Intervals: Wilson (accuracy), t (log loss, Brier, MAE, RMSE), DeLong (ROC AUC), "
               "logit (PR AUC), bootstrap (F1, R²).")
    if run.task == "binary":  # the confusion matrix at a threshold, and the curves marking it
        threshold_panel(run)
    elif run.task == "regression":
        diag = run_diagnostics(str(ws.root), run.run_id)
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
c2.caption(f"**{md_text(dataset)}** v{version.version}: {version.rows:,} rows × {len(columns)} columns, hash `{version.hash}`")
set_params(dataset=dataset)
try:
    guess = training_defaults(str(ws.root), dataset, version.hash)
except WorkbenchError as e:  # a dataset too large to scan in the time limit, say: plain first choices
    st.caption(f"No suggested target or split: {md_text(e)}")
    guess = wb.TrainDefaults(columns[-1], "random", None, (), (), ())
types = dict(version.schema)
with st.form("train"):
    c1, c2 = st.columns(2)
    default_target = param("target", wb.demo.TARGET if wb.demo.TARGET in columns else guess.target, columns)
    target = c1.selectbox("Target", columns, index=columns.index(default_target), key=f"target|{dataset}",
                          format_func=lambda c: f"{c} ({types[c]})")
    seed = c2.number_input("Seed", min_value=0, value=0, step=1, key="seed")
    c1, c2, c3 = st.columns(3)
    task = c1.selectbox("Task", ["auto", "binary", "multiclass", "regression"], key="task",
                        help="auto: two values → binary; text or ≤10 whole numbers → multiclass; else regression.")
    kinds = ["random", "time", "column"]
    split_kind = c2.selectbox("Split", kinds, key=f"split|{dataset}", index=kinds.index(guess.split), format_func={
        "random": "random 80/20 (stratified)", "time": "time: latest 20% held out",
        "column": "given by a column ('test' = holdout)"}.get)
    # the columns a split can use first: those marking test rows, then dates and timestamps
    offered = [*guess.split_columns, *guess.time_columns]
    split_columns = offered + [c for c in columns if c not in offered]
    split_col = c3.selectbox("Split column (time or column split)", split_columns,
                             index=split_columns.index(guess.split_column) if guess.split_column else 0,
                             format_func=lambda c: f"{c} ({types[c]})", key=f"split_column|{dataset}",
                             help="A time split orders rows by a date or timestamp; a column split holds out "
                                  "the rows marked 'test'.")
    numeric_time = c3.checkbox("The column counts time", key=f"numeric_time|{dataset}",
                               help="For a time split on a number that counts time, such as a day number or a "
                                    "period index. Left unticked, a time split on a number is refused.")
    drop = st.multiselect("Columns to leave out", [c for c in columns if c != target], key=f"drop|{dataset}",
                          default=[c for c in guess.identifiers if c != target],
                          help="Identifiers (a distinct value in every row) are left out at first: a model "
                               "cannot learn from them.")
    with st.expander("LightGBM settings"):
        d = wb.DEFAULT_PARAMS
        c1, c2, c3, c4, c5 = st.columns(5)
        fields = {"learning_rate": "Learning rate", "num_leaves": "Leaves per tree",
                  "min_data_in_leaf": "Min rows per leaf", "num_boost_round": "Max trees",
                  "early_stopping_rounds": "Early stopping (rounds)"}
        settings = {
            "learning_rate": c1.number_input(fields["learning_rate"], 0.001, 1.0, d["learning_rate"], format="%.3f"),
            "num_leaves": c2.number_input(fields["num_leaves"], 2, 4096, d["num_leaves"]),
            "min_data_in_leaf": c3.number_input(fields["min_data_in_leaf"], 1, 100_000, d["min_data_in_leaf"]),
            "num_boost_round": c4.number_input(fields["num_boost_round"], 1, 20_000, wb.NUM_BOOST_ROUND),
            "early_stopping_rounds": c5.number_input(fields["early_stopping_rounds"], 1, 1_000, wb.EARLY_STOPPING),
        }
        more = st.text_area("More settings, one NAME=VALUE a line", key="more_params", height=80,
                            placeholder="bagging_fraction=0.8\nbagging_freq=1",
                            help="Any LightGBM parameter or alias; names are checked against LightGBM's own list.")
    submitted = st.form_submit_button("Train", type="primary")

if submitted:
    bar, progress = progress_bar()

    try:
        if more.strip():
            given = wb.parse_settings(more.splitlines())
            extra = wb.check_params(given)  # under LightGBM's own names: eta is learning_rate
            for (typed, _), name in zip(given.items(), extra):
                if name in fields:
                    also = f" ({name})" if typed != name else ""
                    raise WorkbenchError(f"'{typed}'{also} is the field '{fields[name]}' above: set it there, "
                                         "not again under 'More settings'.")
            settings.update(extra)
        spec = wb.TrainSpec(dataset, target, task=task, seed=int(seed), drop=tuple(drop), params=settings,
                            split=split_kind if split_kind == "random" else f"{split_kind}:{split_col}",
                            numeric_time=numeric_time and split_kind == "time")
        run = wb.train(ws, spec, progress=progress)
        bar.empty()
        set_params(dataset=dataset, target=target, run=run.run_id)
    except WorkbenchError as e:
        bar.empty()
        st.error(md_text(e))



def _run_name(filename: str) -> str:
    """A run name from an uploaded file's name: 'prod scores.parquet' -> 'prod_scores'."""
    stem = re.sub(r"\W", "_", Path(filename).stem)[:64] or "imported"
    return stem if re.match(r"[A-Za-z_]", stem) else f"imported_{stem}"[:64]


def review_predictions(dataset: str, version: wb.DatasetVersion, columns: list[str], default_target: str) -> None:
    """Predictions made elsewhere, uploaded as parquet and aligned on a key: imported as a run."""
    with st.expander("Review predictions made elsewhere"):
        st.caption(f"The predictions of any model (a production model, a deep net, another team's) on rows of "
                   f"**{md_text(dataset)}** v{version.version}: a parquet file with one row per prediction and a key column "
                   "the dataset has too. The matched rows become a run that every breakdown, search, tree and "
                   "comparison works on. A binary target takes a score (the probability of the second of its "
                   "sorted classes); a regression target the predicted value; a multiclass one the predicted class.")
        upload = st.file_uploader("Predictions (parquet)", type=["parquet"], key=f"import_file|{dataset}")
        if upload is None:
            return
        try:
            file_columns = pq.read_schema(io.BytesIO(upload.getvalue())).names
        except (pa.ArrowException, OSError) as e:
            st.error(md_text(f"{upload.name} is not a readable parquet file ({str(e).splitlines()[0]})."))
            return
        shared = [c for c in file_columns if c in columns]
        if not shared or len(file_columns) < 2:
            st.error(md_text(f"{upload.name} needs a key column that {dataset} has too and a column of predictions; "
                            f"its columns: {', '.join(file_columns)}."))
            return
        c1, c2, c3 = st.columns(3)
        key = c1.selectbox("Key (a column of both)", shared, key=f"import_key|{dataset}")
        kind = c2.radio("The file holds", ["score", "pred"], horizontal=True, key="import_kind",
                        format_func={"score": "scores (binary)", "pred": "predictions"}.get,
                        help="Scores: the probability of the positive class of a binary target. Predictions: "
                             "the predicted value (regression) or class (multiclass).")
        others = [c for c in file_columns if c != key]
        column = c3.selectbox("Prediction column", others, key=f"import_column|{dataset}")
        c1, c2 = st.columns(2)
        target = c1.selectbox("Target (the dataset's true labels)", columns, index=columns.index(default_target),
                              key=f"import_target|{dataset}")
        name = c2.text_input("Run name", value=_run_name(upload.name), key="import_name")
        if not st.button("Import predictions", type="primary"):
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "predictions.parquet"
            path.write_bytes(upload.getvalue())
            try:
                run = wb.import_predictions(ws, name.strip(), dataset=dataset, version=version.version, file=path,
                                            key=key, target=target, file_name=upload.name, **{kind: column})
            except WorkbenchError as e:
                st.error(md_text(e))
                return
        set_params(dataset=dataset, target=target, run=run.run_id)


review_predictions(dataset, version, columns, target)
all_runs = {r.run_id: r for r in wb.list_runs(ws)}
current = param("run", None, list(all_runs))
if current:
    show_run(all_runs[current])
elif all_runs:
    st.caption("Earlier runs are listed on the Error analysis page.")
