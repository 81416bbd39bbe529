"""The panels of the Explain page: cached explanations keyed on small values, the dependence plot,
a slice against the rest, and one row with its what-if. Kept out of ``pages/`` so that Streamlit
does not list it as a page.

Explanations are cached with ``st.cache_resource``, not ``cache_data``: a result object is never
changed once made, and an importance over the whole holdout is tens of megabytes that
``cache_data`` would copy on every rerun."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from ui import param, set_params, slice_rows, table_height
import workbench as wb
from workbench import Workspace, WorkbenchError
from workbench.render import explain_charts
from workbench.render.safe import md_text

SEED = 0  # the seeded order the CLI uses too, so the page and `workbench explain` agree
INTERACTION_ROWS = 2000  # rows the strongest interaction is judged on (shap's heuristic is slow on more)
TOP_DISTRIBUTIONS = 4    # features whose values are shown inside the slice and on the rest
ROW_CHOICES = 200        # rows offered to explain: the slice's (or the holdout's) worst
MISSING = "(missing)"
PER_ROW_SECONDS = 0.001  # TreeSHAP on the demo, for the wait a spinner announces


def _run(root: str, run_id: str) -> wb.Run:
    return wb.load_run(Workspace(Path(root)), run_id)


@st.cache_resource(max_entries=32, show_spinner=False)
def importance_of(root: str, run_id: str, rows: int, seed: int, cls: str | None) -> wb.Importance:
    return wb.importance(_run(root, run_id), rows=rows, seed=seed, cls=cls)


@st.cache_resource(max_entries=64, show_spinner=False)
def interaction_order(root: str, run_id: str, rows: int, seed: int, cls: str | None, feature: str) -> list[str]:
    """The other features, strongest interaction with ``feature`` first, judged on the first
    ``INTERACTION_ROWS`` rows of the sample (a random sample of it)."""
    return wb.interactions(importance_of(root, run_id, min(rows, INTERACTION_ROWS), seed, cls), feature)


@st.cache_resource(max_entries=64, show_spinner=False)
def contrast_of(root: str, run_id: str, where: str, rows: int, seed: int, cls: str | None) -> wb.SliceContrast:
    return wb.slice_contrast(_run(root, run_id), where, rows=rows, seed=seed, cls=cls)


@st.cache_data(max_entries=256, show_spinner=False)
def row_explained(root: str, run_id: str, row: int, changes: tuple[tuple[str, Any], ...],
                  cls: str | None) -> wb.RowExplanation:
    return wb.explain_row(_run(root, run_id), row, dict(changes), cls=cls)


def explaining(run: wb.Run, rows: int) -> str:
    """What a spinner says while up to ``rows`` rows may need TreeSHAP."""
    todo = max(0, rows - wb.explained_count(run))
    if todo < 2000:
        return "Explaining the sample with TreeSHAP…"
    return f"Explaining up to {todo:,} more rows with TreeSHAP (about {todo * PER_ROW_SECONDS:.0f} s on two cores)…"


def outcome(run: wb.Run, cls: Any = None) -> str:
    """What a row's prediction is, in words: 'P(late = True)', 'P(class 2)', 'predicted fare'."""
    r = run.record
    if run.task == "binary":
        return f"P({r.target} = {r.positive_class})"
    if run.task == "multiclass":
        return f"P({r.target} = {cls})"
    return f"predicted {r.target}"


# ---- dependence -----------------------------------------------------------------------------


@st.fragment
def dependence(imp: wb.Importance, root: str, cls: str | None) -> None:
    """A feature's value against its SHAP value, coloured by a second feature (by default the
    one it interacts with most); a fragment, so choosing a feature redraws only this plot."""
    features = imp.table["feature"].to_list()
    c1, c2 = st.columns(2)
    feature = c1.selectbox("Dependence of", features, index=features.index(param("dep", features[0], features)),
                           key=f"dep|{imp.run_id}")
    strongest = interaction_order(root, imp.run_id, imp.rows_explained, imp.seed, cls, feature)[0] \
        if len(features) > 1 else None
    colors = ["auto", "none"] + [f for f in features if f != feature]
    named = {"auto": f"auto: strongest interaction ({strongest})" if strongest else "auto", "none": "no colour"}
    color = c2.selectbox("Colour by", colors, index=colors.index(param("color", "auto", colors)),
                         format_func=lambda c: named.get(c, c), key=f"color|{imp.run_id}")
    set_params(dep=feature, color=color)
    by = strongest if color == "auto" else None if color == "none" else color
    st.plotly_chart(explain_charts.dependence_chart(imp, feature, by), key=f"dependence|{imp.run_id}")
    if color == "auto" and strongest:
        st.caption(f"Coloured by **{md_text(strongest)}**, the feature whose values best explain the spread of "
                   f"{md_text(feature)}'s SHAP values at the same {md_text(feature)} (shap's approximate_interactions heuristic, "
                   f"on up to {INTERACTION_ROWS:,} of the sampled rows).")


# ---- a slice against the rest ---------------------------------------------------------------


def slice_condition(ws: wb.Workspace, run: wb.Run) -> str:
    """The slice to explain: the URL's, a saved slice picked from a list, or one typed in."""
    key = f"where|{run.run_id}"
    if key not in st.session_state:
        st.session_state[key] = param("where", "") or ""
    saved = wb.applicable_slices(ws, run)
    c1, c2 = st.columns([1, 3])
    if saved:
        def use_saved() -> None:
            picked = st.session_state[f"saved|{run.run_id}"]
            if picked in saved:
                st.session_state[key] = saved[picked]
        c1.selectbox("Saved slice", ["(none)", *saved], key=f"saved|{run.run_id}", on_change=use_saved,
                     help="The workspace's saved slices that this run has the columns for.")
    where = c2.text_input("Slice (SQL condition on the holdout's columns)", key=key,
                          placeholder="e.g. month = 12 AND humid > 80",
                          help="Any condition the Error analysis page shows for a slice: a bar's, a found "
                               "slice's or a tree node's WHERE. Empty: no slice.").strip()
    set_params(where=where or None)
    return where


def contrast_panel(run: wb.Run, where: str, rows: int, cls: str | None) -> wb.SliceContrast | None:
    """Which features behave differently inside the slice than on the rest of the holdout."""
    try:
        with st.spinner(explaining(run, 2 * rows)):
            c = contrast_of(str(run.workspace.root), run.run_id, where, rows, SEED, cls)
    except WorkbenchError as e:
        st.error(md_text(e))
        return None
    about = f" (margin of class {md_text(c.cls)})" if c.cls is not None else ""
    st.markdown(f"**{c.slice_rows:,}** holdout rows in the slice: mean raw score{about} **{c.mean_raw_inside:.3g}** "
                f"against **{c.mean_raw_outside:.3g}** on the rest ({c.rest_rows:,} rows). The differences in mean "
                "SHAP below add up to that gap.")
    st.plotly_chart(explain_charts.contrast_chart(c), key=f"contrast|{run.run_id}|{where}")
    shown = c.table.select("feature", "mean_shap_inside", "mean_shap_outside", "diff", "ci_low", "ci_high",
                           "q_value", "mean_abs_inside", "mean_abs_outside")
    number = {"format": "%+.4g"}
    st.dataframe(shown, hide_index=True, key=f"contrast-table|{run.run_id}|{where}",
                 height=table_height(shown.height), column_config={
                     "feature": st.column_config.TextColumn("feature"),
                     "mean_shap_inside": st.column_config.NumberColumn("mean SHAP inside", **number),
                     "mean_shap_outside": st.column_config.NumberColumn("mean SHAP rest", **number),
                     "diff": st.column_config.NumberColumn("difference", **number),
                     "ci_low": st.column_config.NumberColumn("95% CI low", **number),
                     "ci_high": st.column_config.NumberColumn("95% CI high", **number),
                     "q_value": st.column_config.NumberColumn("q (BH)", format="%.2e"),
                     "mean_abs_inside": st.column_config.NumberColumn("mean |SHAP| inside", format="%.4g"),
                     "mean_abs_outside": st.column_config.NumberColumn("mean |SHAP| rest", format="%.4g")})
    st.caption(c.method)
    st.markdown("**Where the top features' values lie**: the slice's explained rows against the rest's")
    top = c.table["feature"].head(TOP_DISTRIBUTIONS).to_list()
    for start in range(0, len(top), 2):
        for column, feature in zip(st.columns(2), top[start:start + 2]):
            column.plotly_chart(explain_charts.distribution_chart(c, feature),
                                key=f"distribution|{run.run_id}|{where}|{feature}")
    return c


# ---- one row ---------------------------------------------------------------------------------


def choose_row(run: wb.Run, where: str | None) -> int | None:
    """A row to explain, from the slice's worst-predicted rows (or the holdout's)."""
    try:
        rows, count = slice_rows(str(run.workspace.root), run.run_id, where or None, ROW_CHOICES, 0)
    except WorkbenchError as e:
        st.error(md_text(e))
        return None
    if not rows.height:
        st.info("The slice has no rows to explain.")
        return None
    about = {r["_row"]: r for r in rows.select("_row", "_label", "_pred", "_loss").iter_rows(named=True)}
    options = list(about)
    linked = param("row")
    try:
        linked = int(linked) if linked is not None else None
    except ValueError:
        linked = None
    if linked is not None and linked not in about:
        options.insert(0, linked)  # a link's row outside the worst ones shown: explain it all the same

    def named(r: int) -> str:
        if r not in about:
            return f"row {r}"
        a = about[r]
        return f"row {r} · label {a['_label']} · predicted {a['_pred']} · loss {a['_loss']:.3g}"
    of = "the slice's" if where else "the holdout's"
    row = st.selectbox(f"Row ({of} {min(count, ROW_CHOICES):,} worst-predicted of {count:,}, highest loss first)",
                       options, format_func=named, key=f"row|{run.run_id}|{where}",
                       index=options.index(linked) if linked in options else 0)
    set_params(row=row)
    return int(row)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def row_panel(run: wb.Run, row: int, cls: str | None) -> None:
    """The row's values, its waterfall from the base value to its prediction, and what-if."""
    root = str(run.workspace.root)
    try:
        e = row_explained(root, run.run_id, row, (), cls)
    except WorkbenchError as err:
        st.error(md_text(err))
        return
    said = outcome(run, e.cls)
    p = e.before
    st.markdown(f"Row **{row}** · label **{md_text(e.label)}** · {md_text(said)} **{p.prediction:.4g}** (raw score {p.raw_score:.4g} = "
                f"base value {p.base_value:.4g} + the contributions)")
    c1, c2 = st.columns([1, 2])
    values = pl.DataFrame({"feature": list(p.values), "value": [_text(v) for v in p.values.values()],
                           "contribution": [p.contributions[f] for f in p.values]}).sort(
        pl.col("contribution").abs(), descending=True)
    c1.dataframe(values, hide_index=True, height=table_height(values.height, most=560),
                 column_config={"contribution": st.column_config.NumberColumn(format="%+.4g")})
    c2.plotly_chart(explain_charts.waterfall_chart(p, outcome=said, title=f"Why row {row} scores as it does"),
                    key=f"waterfall|{run.run_id}|{row}")
    whatif(run, row, e, cls)


def whatif(run: wb.Run, row: int, e: wb.RowExplanation, cls: str | None) -> None:
    """A form with one input per feature, filled with the row's values; on submit, the edited
    row's prediction and contributions beside the row's own."""
    st.markdown("**What if**: change any of the row's values (numbers, categories, or missing) and see what the "
                "model says of the edited row.")
    categories = run.record.encoding["categorical"]
    stored = f"whatif|{run.run_id}|{row}|{cls}"
    with st.form(f"whatif-form|{run.run_id}|{row}"):
        entered: dict[str, Any] = {}
        columns = st.columns(4)
        for i, (feature, value) in enumerate(e.before.values.items()):
            box = columns[i % 4]
            key = f"whatif-input|{run.run_id}|{row}|{feature}"
            if feature in categories:
                options = list(categories[feature]) + [MISSING]
                current = MISSING if value is None else str(value)
                if current not in options:  # a value training never saw: the model reads it as missing
                    options.insert(0, current)
                entered[feature] = box.selectbox(md_text(feature), options, index=options.index(current), key=key)
            else:
                entered[feature] = box.text_input(md_text(feature), _text(value), key=key, help="Empty: missing.")
        submitted = st.form_submit_button("Show the what-if", type="primary")
    if submitted:
        changes = {}
        for feature, value in e.before.values.items():
            now = entered[feature]
            was = (MISSING if value is None else str(value)) if feature in categories else _text(value)
            if str(now).strip() != was:
                changes[feature] = None if now in (MISSING, "") or not str(now).strip() else str(now).strip()
        st.session_state[stored] = changes
    changes = st.session_state.get(stored)
    if changes is None:
        return
    if not changes:
        st.info("Nothing changed: edit a value above, then click **Show the what-if**.")
        return
    try:
        after = row_explained(str(run.workspace.root), run.run_id, row, tuple(sorted(changes.items())), cls)
    except WorkbenchError as err:
        st.error(md_text(err))
        return
    said = outcome(run, after.cls)
    b, a = after.before, after.after
    shown = ", ".join(f"{f} = {MISSING if v is None else v}" for f, v in after.changes.items())
    st.markdown(f"With {md_text(shown)}: {md_text(said)} after **{a.prediction:.4g}** (before {b.prediction:.4g}; change "
                f"{a.prediction - b.prediction:+.4g}) · raw score {a.raw_score:.4g} (before {b.raw_score:.4g})")
    c1, c2 = st.columns(2)
    c1.plotly_chart(explain_charts.before_after_chart(after, outcome=said), key=f"before-after|{run.run_id}|{row}")
    c2.plotly_chart(explain_charts.waterfall_chart(a, outcome=said, title="The edited row"),
                    key=f"waterfall-after|{run.run_id}|{row}")
