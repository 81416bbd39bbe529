"""The Explain page through its widgets (AppTest): it opens on the demo run and on each task's run,
reopens a link's view, contrasts a slice, explains a row and its what-if, and says what is wrong
with a bad condition or value, never with a traceback. Every figure it shows is checked against
the core function that computes it. Rendering and deep links on a real server are in
tests/browser/test_explain_in_browser.py."""
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from test_app import assert_clean, page as open_page
from test_safe import shown
import workbench as wb
from workbench.store import runs

TIMEOUT = 300
ROOT = Path(__file__).resolve().parent.parent
WHERE = "month = 12 AND humid > 80"
ROWS = 300  # a small sample keeps each run of the page quick


def page(**params):
    return open_page("pages/explain.py", **params)


def text(at) -> str:
    return shown("\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]))


def submit_whatif(at, run_id: str, row: int):
    return at.button(key=f"FormSubmitter:whatif-form|{run_id}|{row}-Show the what-if").click().run()


@pytest.fixture
def on_demo(demo_ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(demo_ws.root))
    return demo_ws, runs.list_runs(demo_ws)[-1]  # the fixture's own run: other app tests train newer ones here


def test_the_page_opens_on_the_demo_and_writes_its_view_into_the_url(on_demo):
    ws, _ = on_demo
    at = page()
    assert_clean(at)
    run = runs.list_runs(ws)[0]  # without a link, the newest run
    holdout = run.record.split.n_holdout
    assert at.query_params["run"] == run.run_id
    assert at.query_params["rows"] == str(wb.SHAP_SAMPLE_ROWS)
    imp = wb.importance(run, rows=wb.SHAP_SAMPLE_ROWS)
    assert at.query_params["dep"] == imp.table["feature"][0] and at.query_params["color"] == "auto"
    assert f"{wb.SHAP_SAMPLE_ROWS:,} of {holdout:,} holdout rows explained (seed 0)" in text(at)
    assert imp.method in text(at)
    assert at.button[0].label == f"Explain all {holdout:,} holdout rows"
    # no slice: the rows offered are the holdout's worst, the first one explained
    worst, _ = wb.slice_rows(run, None, limit=1)
    assert at.query_params["row"] == str(worst["_row"][0])
    before = wb.explain_row(run, worst["_row"][0]).before
    assert f"**{before.prediction:.4g}**" in text(at)


def test_the_page_opens_through_app_py(on_demo):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/explain.py").run()
    assert_clean(at)
    assert at.title[0].value == "Explain"


def test_a_link_reopens_the_same_view(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS), dep="humid", color="none")
    assert_clean(at)
    assert at.number_input(key=f"rows|{run.run_id}").value == ROWS
    assert at.selectbox(key=f"dep|{run.run_id}").value == "humid"
    assert at.selectbox(key=f"color|{run.run_id}").value == "none"
    assert f"{ROWS:,} of {run.record.split.n_holdout:,} holdout rows explained" in text(at)
    assert not at.toast


def test_the_dependence_plot_is_coloured_by_the_strongest_interaction(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS), dep="humid")
    assert_clean(at)
    strongest = wb.interactions(wb.importance(run, rows=ROWS), "humid")[0]
    assert f"Coloured by **{strongest}**" in text(at)
    at.selectbox(key=f"dep|{run.run_id}").set_value("temp").run()
    assert_clean(at)
    assert at.query_params["dep"] == "temp"
    assert f"Coloured by **{wb.interactions(wb.importance(run, rows=ROWS), 'temp')[0]}**" in text(at)


def test_a_links_unknown_feature_or_size_falls_back_and_says_so(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows="0", dep="no_such_feature")
    assert not at.exception
    assert at.query_params["rows"] == str(wb.SHAP_SAMPLE_ROWS)
    toasts = " ".join(t.value for t in at.toast)
    assert "This link's rows `0` is not available here" in toasts
    assert "This link's dep `no_such_feature` is not available here" in toasts


def test_a_slice_from_the_url_is_contrasted_with_the_rest(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS), where=WHERE)
    assert_clean(at)
    c = wb.slice_contrast(run, WHERE, rows=ROWS)
    shown = at.dataframe[0].value
    assert shown["feature"].tolist() == c.table["feature"].to_list()
    assert shown["feature"].tolist()[:3] == ["humid", "precip", "visib"]  # what the demo's slice is about
    assert shown["diff"].tolist() == pytest.approx(c.table["diff"].to_list(), nan_ok=True)
    assert f"**{c.slice_rows:,}** holdout rows in the slice" in text(at)
    assert c.method in text(at)
    # the rows offered are the slice's worst
    worst, _ = wb.slice_rows(run, WHERE, limit=1)
    assert at.query_params["row"] == str(worst["_row"][0])
    assert at.query_params["where"] == WHERE


def test_a_bad_condition_is_a_message_not_a_traceback(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS), where="month = = 12")
    assert not at.exception
    assert len(at.error) == 1
    with pytest.raises(wb.WorkbenchError) as said:
        wb.slice_contrast(run, "month = = 12", rows=ROWS)
    assert shown(at.error[0].value) == str(said.value)  # the message as written, escaped as markdown
    at.text_input(key=f"where|{run.run_id}").set_value("no_such_column > 1").run()
    assert not at.exception
    assert "no_such_column" in shown(at.error[0].value)
    at.text_input(key=f"where|{run.run_id}").set_value("month = 13").run()
    assert not at.exception
    assert "selects no holdout rows" in at.error[0].value


def test_a_saved_slice_can_be_picked(demo_ws, tmp_path, monkeypatch):
    root = tmp_path / "ws"
    shutil.copytree(demo_ws.root, root)
    ws = wb.Workspace.open(root)
    run = runs.list_runs(ws)[-1]  # the demo fixture's run: other app tests train newer ones
    wb.save_slice(ws, "wet_december", WHERE, run=run)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    at = page(run=run.run_id, rows=str(ROWS))
    assert_clean(at)
    at.selectbox(key=f"saved|{run.run_id}").set_value("slice:wet_december").run()
    assert_clean(at)
    saved = wb.applicable_slices(ws, run)["slice:wet_december"]
    assert at.text_input(key=f"where|{run.run_id}").value == saved
    assert at.query_params["where"] == saved
    assert at.dataframe[0].value["feature"].tolist()[0] == "humid"


def test_a_what_if_shows_the_edited_rows_prediction_beside_the_rows(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS), where=WHERE)
    row = int(at.query_params["row"])
    at.text_input(key=f"whatif-input|{run.run_id}|{row}|humid").set_value("30")
    at.selectbox(key=f"whatif-input|{run.run_id}|{row}|origin").set_value("(missing)")
    submit_whatif(at, run.run_id, row)
    assert_clean(at)
    e = wb.explain_row(run, row, {"humid": "30", "origin": None})
    assert e.after.prediction != e.before.prediction
    said = [shown(m.value) for m in at.markdown if m.value.startswith("With ")]
    assert said == [f"With humid = 30.0, origin = (missing): P(late = True) after **{e.after.prediction:.4g}** "
                    f"(before {e.before.prediction:.4g}; change {e.after.prediction - e.before.prediction:+.4g}) "
                    f"· raw score {e.after.raw_score:.4g} (before {e.before.raw_score:.4g})"]


def test_a_what_if_with_a_bad_value_says_why(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS))
    row = int(at.query_params["row"])
    at.text_input(key=f"whatif-input|{run.run_id}|{row}|humid").set_value("very")
    submit_whatif(at, run.run_id, row)
    assert not at.exception
    assert shown(at.error[0].value) == ("'humid' is a number column; 'very' is not a number. Give a number, or an empty "
                                 "value for missing.")
    submit_whatif(at, run.run_id, row)  # unchanged form: the same message, not a stale result
    at.text_input(key=f"whatif-input|{run.run_id}|{row}|humid").set_value("")  # empty: missing
    submit_whatif(at, run.run_id, row)
    assert_clean(at)
    assert any(shown(m.value).startswith("With humid = (missing):") for m in at.markdown)


def test_a_link_to_an_unknown_row_says_so(on_demo):
    ws, run = on_demo
    at = page(run=run.run_id, rows=str(ROWS), row="5")
    assert not at.exception
    assert shown(at.error[0].value).startswith(f"Run {run.run_id} has no holdout row with _row = 5")


@pytest.mark.parametrize("task", ["multiclass", "regression", "binary"])
def test_each_task_explains_all_its_rows_and_a_what_if(trained, monkeypatch, tmp_path, task):
    src, run = trained[task]
    root = tmp_path / "ws"
    shutil.copytree(src.root, root)  # explaining all writes the cache: keep the shared run as it was
    run = runs.load_run(wb.Workspace.open(root), run.run_id)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    holdout = run.record.split.n_holdout
    at = page(rows="100")
    assert_clean(at)
    if task == "multiclass":
        assert "|SHAP| summed over the classes" in text(at)
        cls = str(run.record.classes[1])
        at.selectbox(key=f"cls|{run.run_id}").set_value(cls).run()
        assert_clean(at)
        assert at.query_params["cls"] == cls
        assert f"class {cls}" in text(at)
    at.button[0].click().run()  # Explain all
    assert_clean(at)
    assert wb.explained_count(run) == holdout
    assert at.query_params["rows"] == str(holdout)
    assert f"{holdout:,} of {holdout:,} holdout rows explained" in text(at)
    row = int(at.query_params["row"])
    feature = next(f for f in run.record.features if f not in run.record.encoding["categorical"])
    at.text_input(key=f"whatif-input|{run.run_id}|{row}|{feature}").set_value("0")
    submit_whatif(at, run.run_id, row)
    assert_clean(at)
    assert any(shown(m.value).startswith(f"With {feature} = 0") for m in at.markdown)


def test_a_run_without_a_model_says_so(on_demo, tmp_path, monkeypatch):
    demo_ws, _ = on_demo
    root = tmp_path / "ws"
    shutil.copytree(demo_ws.root, root)
    run = runs.list_runs(wb.Workspace.open(root))[0]
    run.model_path.unlink()  # as a run of imported predictions has none
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    at = page()
    assert not at.exception and not at.error
    assert "without a LightGBM model to explain" in at.info[0].value


def test_data_text_in_the_explain_charts_is_shown_as_written_never_as_markup():
    """A category or feature name holding plotly's pseudo-HTML (a link, a line break) is escaped
    in every label and hover text, and no data text reaches a hovertemplate."""
    from workbench.model.whatif import RowExplanation, RowPrediction
    from workbench.render import explain_charts

    evil = "<a href='https://example.com'>x</a><br>%{x}"
    before = RowPrediction({evil: "<b>v</b>", "n": 1.0}, -1.0, -0.5, 0.38, {evil: 0.75, "n": -0.25})
    after = RowPrediction({evil: "<i>w</i>", "n": 1.0}, -1.0, 0.0, 0.5, {evil: 1.25, "n": -0.25})
    e = RowExplanation("r", 1, None, True, {evil: "<i>w</i>"}, before, after)
    for fig in (explain_charts.waterfall_chart(before), explain_charts.before_after_chart(e)):
        texts = [str(t) for trace in fig.data for field in ("y", "hovertext", "text") for t in (trace[field] or ())]
        assert texts and not any("<a" in t or "<b>" in t or "<i>" in t for t in texts)
        assert any("&lt;a href=" in t for t in texts)
        assert all(trace.hovertemplate is None for trace in fig.data)
