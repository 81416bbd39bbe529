"""Every page runs without an exception, alone and through app.py, and the main flow works
through the widgets. What AppTest cannot see (rendering, plotly clicks, deep links on a real
server) is covered by the browser tests."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from workbench.store import datasets, runs
from workbench.data import demo

PAGES = ["app.py", "pages/data.py", "pages/train.py", "pages/analysis.py"]
TIMEOUT = 180
ROOT = Path(__file__).resolve().parent.parent


def page(path, **params):
    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def assert_clean(at):
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def on_demo(demo_ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(demo_ws.root))
    return demo_ws


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_on_the_demo(on_demo, path):
    assert_clean(page(path))


def test_an_empty_workspace_sets_up_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    at = page("pages/train.py")
    assert_clean(at)
    assert [d.name for d in datasets.list_datasets(demo.Workspace.open(tmp_path))] == [demo.DATASET]
    assert at.selectbox(key="dataset").value == demo.DATASET
    assert at.selectbox(key=f"target|{demo.DATASET}").value == demo.TARGET


@pytest.mark.parametrize("path", ["pages/train.py", "pages/analysis.py"])
def test_pages_without_data_say_what_to_do(tmp_path, monkeypatch, path):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    (tmp_path / "notes.parquet").write_bytes(b"")  # not empty, so no demo; but unreadable
    at = page(path)
    assert not at.exception
    assert at.info and ("No datasets yet" in at.info[0].value or "No runs yet" in at.info[0].value)


def test_build_train_and_slice_through_the_widgets(on_demo):
    at = page("pages/data.py")
    at.text_area(key="sql").set_value(f"SELECT * FROM {demo.DATASET} WHERE month IN (1, 2)")
    at.text_input(key="dataset_name").set_value("winter")
    at.button[1].click().run()  # Save dataset
    assert_clean(at)
    assert "Saved **winter** v1" in at.success[0].value
    assert at.query_params["dataset"] == "winter"

    at = page("pages/train.py", dataset="winter")
    assert at.selectbox(key="dataset").value == "winter"
    at.selectbox(key="split").set_value("time")
    at.button[0].click().run()  # Train
    assert_clean(at)
    run_id = at.query_params["run"]
    assert at.subheader[0].value == f"Run {run_id}"
    assert runs.load_run(on_demo, run_id).record.split.kind == "time"
    table = at.dataframe[0].value
    assert list(table["model"]) == ["lightgbm", "linear", "trivial"]

    at = page("pages/analysis.py", run=run_id)
    at.selectbox(key="by").set_value("carrier")
    at.selectbox(key="by2").set_value("origin").run()
    assert_clean(at)
    assert "error rate" in at.markdown[0].value
    assert at.query_params["by"] == "carrier" and at.query_params["by2"] == "origin"


def test_a_link_reopens_the_same_view(on_demo):
    run_id = runs.list_runs(on_demo)[-1].run_id
    at = page("pages/analysis.py", run=run_id, by="origin", metric="log_loss", bins="3", slice="0")
    assert_clean(at)
    assert at.selectbox(key="by").value == "origin" and at.selectbox(key="metric").value == "log_loss"
    assert at.number_input(key="bins").value == 3
    assert at.subheader[0].value.startswith("Rows where origin = ")


def test_bad_sql_is_a_message_in_the_page(on_demo):
    at = page("pages/data.py")
    at.text_area(key="sql").set_value("SELECT * FROM no_such_table")
    at.button[0].click().run()  # Preview
    assert not at.exception
    assert "SQL error: Catalog Error" in at.error[0].value
    at.text_input(key="dataset_name").set_value("bad/name")
    at.button[1].click().run()
    assert "Invalid dataset name 'bad/name'" in at.error[0].value


def test_unknown_query_params_fall_back_to_defaults_and_say_so(on_demo):
    at = page("pages/analysis.py", run="nope", by="nope", metric="nope", bins="x")
    assert not at.exception
    [run] = runs.list_runs(on_demo)[:1]
    notices = [t.value for t in at.toast]
    assert f"This link's run `nope` is not available here; showing `{run.run_id}` instead." in notices
    assert any(n.startswith("This link's by `nope`") for n in notices)
    at.run()  # the same link, rerun: told once
    assert not [t for t in at.toast if "`nope`" in t.value]


def test_find_problem_slices_on_the_demo(on_demo):
    at = page("pages/analysis.py", view="Find problem slices")
    [find] = [b for b in at.button if b.label == "Find problem slices"]
    find.click().run()  # with the app's defaults
    assert_clean(at)
    summary = [m.value for m in at.markdown if "candidates evaluated" in m.value]
    assert summary and "slices** over" in summary[0]
    [found] = [d.value for d in at.dataframe if "predicate" in d.value.columns]
    assert len(found) >= 1 and {"predicate", "size", "error", "q_value", "confirmed"} <= set(found.columns)


def test_error_tree_on_the_demo(on_demo):
    at = page("pages/analysis.py", view="Error tree")
    [grow] = [b for b in at.button if b.label == "Grow the error tree"]
    grow.click().run()
    assert_clean(at)
    [nodes] = [d.value for d in at.dataframe if "node" in d.value.columns]
    shown_run = runs.load_run(on_demo, at.selectbox(key="run").value)
    assert not [d for d in at.dataframe if "carrier" in d.value.columns]  # the breakdown tab did not run
    assert len(nodes) > 1 and nodes["n"].iloc[0] == shown_run.record.split.n_holdout
