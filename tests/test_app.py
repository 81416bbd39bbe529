"""Every page runs without an exception, alone and through app.py, and the main flow works
through the widgets. What AppTest cannot see (rendering, plotly clicks, deep links on a real
server) is covered by the browser tests."""
import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import workbench as wb
from workbench.analysis.slices import READINGS
from workbench.store import datasets, runs
from workbench.data import demo
from workbench.render.safe import md_text
from test_safe import shown

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
    assert "Saved **winter** v1" in shown(at.success[0].value)
    assert at.query_params["dataset"] == "winter"

    at = page("pages/train.py", dataset="winter")
    assert at.selectbox(key="dataset").value == "winter"
    at.selectbox(key="split|winter").set_value("time")
    at.button[0].click().run()  # Train
    assert_clean(at)
    run_id = at.query_params["run"]
    assert shown(at.subheader[0].value) == f"Run {run_id}"
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
    run = runs.list_runs(on_demo)[-1]
    where = wb.breakdown(run, ["origin"], metric="log_loss", bins=3).slices["where"][1]
    at = page("pages/analysis.py", run=run.run_id, by="origin", metric="log_loss", bins="3", slice=where)
    assert_clean(at)
    assert at.selectbox(key="by").value == "origin" and at.selectbox(key="metric").value == "log_loss"
    assert at.number_input(key="bins").value == 3
    value = where.split("'")[1]  # ("origin" = 'JFK') -> JFK
    # the slice's label is data: escaped as markdown, it renders as the literal text
    assert at.subheader[0].value == f"Rows where {md_text(f'origin = {value}')}"
    assert shown(at.subheader[0].value) == f"Rows where origin = {value}"
    assert any("q: Benjamini-Hochberg over the 3 of 3 slices shown that could be tested" in c.value
               for c in at.caption)
    assert not at.toast


def test_a_link_to_a_slice_of_another_view_says_so_and_opens_none(on_demo):
    run = runs.list_runs(on_demo)[-1]
    at = page("pages/analysis.py", run=run.run_id, by="origin", slice="0")  # an index, as links once had
    assert not at.exception and not at.subheader
    assert any("This link's slice `0` is not among the slices shown here." in t.value for t in at.toast)
    assert "slice" not in at.query_params


def test_bad_sql_is_a_message_in_the_page(on_demo):
    at = page("pages/data.py")
    at.text_area(key="sql").set_value("SELECT * FROM no_such_table")
    at.button[0].click().run()  # Preview
    assert not at.exception
    assert "SQL error: Catalog Error" in shown(at.error[0].value)
    at.text_input(key="dataset_name").set_value("bad/name")
    at.button[1].click().run()
    assert "Invalid dataset name 'bad/name'" in shown(at.error[0].value)


def test_unknown_query_params_fall_back_to_defaults_and_say_so(on_demo):
    at = page("pages/analysis.py", run="nope", by="nope", metric="nope", bins="x")
    assert not at.exception
    [run] = runs.list_runs(on_demo)[:1]
    notices = [t.value for t in at.toast]
    assert f"This link's run `nope` is not available here; showing `{run.run_id}` instead." in notices
    assert any(n.startswith("This link's by `nope`") for n in notices)
    at.run()  # the same link, rerun: told once
    assert not [t for t in at.toast if "`nope`" in t.value]


def _labels(frame) -> dict[str, str]:
    """A shown table's column headers, by column name."""
    return {name: c.get("label") for name, c in json.loads(frame.proto.columns or "{}").items()}


def _found(at):
    """The found slices' table and the search half's (None when the search had no other half)."""
    frames = [d for d in at.dataframe if "predicate" in d.value.columns]
    found = [d for d in frames if "search_error" not in d.value.columns]
    searched = [d for d in frames if "search_error" in d.value.columns]
    assert len(found) == 1 and len(searched) <= 1
    return found[0], searched[0] if searched else None


def test_find_problem_slices_on_the_demo(on_demo):
    at = page("pages/analysis.py", view="Find problem slices", perm="5")
    assert at.checkbox(key="d_confirm").value and at.checkbox(key="d_group").value  # the core's defaults
    [find] = [b for b in at.button if b.label == "Find problem slices"]
    find.click().run()  # with the app's defaults, but 5 shuffles
    assert_clean(at)
    summary = [m.value for m in at.markdown if "candidates evaluated" in m.value]
    holdout = runs.load_run(on_demo, at.selectbox(key="run").value).record.split.n_holdout
    # the search ran on half the holdout (confirmation is on): the counts say so
    assert summary and re.search(rf"found on a random half of the holdout \([\d,]+ of {holdout:,} rows\)", summary[0])
    frame, searched = _found(at)
    found = frame.value
    assert len(found) >= 1 and {"predicate", "size", "error", "q_value", "confirmed", "also"} <= set(found.columns)
    assert not {"search_size", "search_error"} & set(found.columns)
    # every figure is from the half the search did not see, and the headers say so
    labels = _labels(frame)
    assert labels["size"] == "rows (unseen half)" and labels["error"] == "error (unseen half)"
    assert labels["q_value"] == "q (BH, slices shown)" and labels["also"].startswith("also")
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Figures from the other half of the holdout, which the search did not see")
               and f"over the {len(found)} slices shown" in c for c in captions)
    # the top score against 5 searches of shuffled errors
    assert any(re.match(r"Top score p = [\d.]+: .*\b5 searches of shuffled errors", m)
               for m in captions + [w.value for w in at.warning])
    # 'also': the overlapping slices grouped under each, as the core has them
    run = runs.load_run(on_demo, at.query_params["run"])
    core = wb.discover(run, k=8, max_level=3, alpha=0.95, min_support=32, error="misclassification", permutations=0)
    assert list(found["also"]) == ["; ".join(a) for a in core.slices["also"]]
    assert list(found["error"]) == pytest.approx(core.slices["error"].to_list())
    # the search half's figures, apart and named as optimistic, with the family its q counts
    assert any(e.label == "Search half's figures (optimistic)" for e in at.expander)
    assert list(searched.value["search_error"]) == pytest.approx(core.slices["search_error"].to_list())
    evaluated = int(re.search(r"([\d,]+) candidates evaluated", summary[0])[1].replace(",", ""))
    assert any(f"Benjamini-Hochberg over all {evaluated:,} candidates the search evaluated" in c for c in captions)


def test_search_settings_reopen_from_the_url(on_demo):
    at = page("pages/analysis.py", view="Find problem slices", perm="7", group="0", overlap="0.3", confirm="0")
    assert_clean(at)
    assert at.number_input(key="d_perm").value == 7
    assert at.checkbox(key="d_group").value is False and at.checkbox(key="d_confirm").value is False
    assert at.slider(key="d_overlap").value == pytest.approx(0.3) and at.slider(key="d_overlap").disabled
    assert (at.query_params["perm"], at.query_params["group"], at.query_params["confirm"]) == ("7", "0", "0")
    assert float(at.query_params["overlap"]) == pytest.approx(0.3)
    assert not at.toast
    # a fresh visit starts where the core does; a bad value falls back to it, and says so
    at = page("pages/analysis.py", view="Find problem slices", perm="-3", overlap="2")
    assert not at.exception
    assert at.number_input(key="d_perm").value == 100 and at.slider(key="d_overlap").value == pytest.approx(0.5)
    assert at.checkbox(key="d_confirm").value and at.checkbox(key="d_group").value
    notices = [t.value for t in at.toast]
    assert "This link's perm `-3` is not available here; showing `100` instead." in notices
    assert any(n.startswith("This link's overlap `2`") for n in notices)


def test_a_search_without_confirmation_names_its_figures_optimistic(on_demo):
    at = page("pages/analysis.py", view="Find problem slices", perm="0", group="0", confirm="0", search="1")
    assert_clean(at)
    assert any("found on the whole holdout" in m.value for m in at.markdown)
    frame, searched = _found(at)
    assert searched is None and not {"confirmed", "also"} & set(frame.value.columns)
    labels = _labels(frame)
    assert labels["error"] == "error (searched rows)" and labels["q_value"] == "q (BH, all candidates)"
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Figures from the rows the search chose them on (optimistic") for c in captions)
    assert any(c.startswith("No shuffles") for c in captions)


def test_the_breakdown_reads_each_slice_and_names_its_method(on_demo):
    run = runs.list_runs(on_demo)[-1]
    at = page("pages/analysis.py", run=run.run_id, by="dest", metric="roc_auc")
    assert_clean(at)
    table = wb.breakdown(run, ["dest"], metric="roc_auc", min_size=20)  # the page's default Min rows
    [frame] = [d for d in at.dataframe if "dest" in d.value.columns]
    shown = frame.value
    assert list(shown["reading"]) == table.slices["reading"].to_list()
    assert set(shown["reading"]) <= set(READINGS)
    # 'could detect' as the core has it, empty where a slice allows no test
    finite = [d if d is not None and d != float("inf") else None for d in table.slices["detectable"]]
    assert [None if d != d else d for d in shown["detectable"]] == pytest.approx(finite)
    assert _labels(frame)["detectable"] == "could detect"
    assert any(table.method in c.value and "Benjamini-Hochberg" in c.value for c in at.caption)
    # too-small slices are there, and the summary counts them
    small = table.slices["reading"].to_list().count("too small to tell")
    assert small and any(f"· {small} too small to tell" in m.value for m in at.markdown)


def test_error_tree_on_the_demo(on_demo):
    at = page("pages/analysis.py", view="Error tree")
    [grow] = [b for b in at.button if b.label == "Grow the error tree"]
    grow.click().run()
    assert_clean(at)
    [nodes] = [d.value for d in at.dataframe if "node" in d.value.columns]
    shown_run = runs.load_run(on_demo, at.selectbox(key="run").value)
    assert not [d for d in at.dataframe if "carrier" in d.value.columns]  # the breakdown tab did not run
    assert len(nodes) > 1 and nodes["n"].iloc[0] == shown_run.record.split.n_holdout


@pytest.mark.parametrize("path", PAGES)
def test_an_ordinary_visit_shows_no_notice_about_a_link(on_demo, path):
    at = page(path)
    assert_clean(at)
    assert not at.toast, [t.value for t in at.toast]


def test_a_saved_dataset_is_listed_in_the_same_run_that_saved_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"x": [1, 2, 3], "y": [0, 1, 0]}), tmp_path / "points.parquet")  # no demo here
    at = page("pages/data.py")
    assert [i.value for i in at.info if i.value.startswith("No datasets yet")]
    at.text_area(key="sql").set_value("SELECT * FROM points")
    at.text_input(key="dataset_name").set_value("points_all")
    at.button[1].click().run()  # Save dataset
    assert_clean(at)
    assert "Saved **points_all** v1" in shown(at.success[0].value)
    assert not [i.value for i in at.info if i.value.startswith("No datasets yet")]
    assert any(shown(e.label).startswith("**points_all** · v1") for e in at.expander)
    assert "points_all" in at.selectbox[0].options  # the profile offers it too


def _breakdown_page(on_demo, **params):
    run = runs.list_runs(on_demo)[-1]
    where = wb.breakdown(run, [params.get("by", "origin")]).slices["where"][0]
    return page("pages/analysis.py", run=run.run_id, slice=where, **params), run


def test_another_column_starts_with_no_slice_chosen(on_demo):
    at, _ = _breakdown_page(on_demo, by="origin")
    assert at.subheader and at.subheader[0].value.startswith("Rows where origin")
    at.selectbox(key="by").set_value("carrier").run()
    assert_clean(at)
    assert not at.subheader and "slice" not in at.query_params
    at.selectbox(key="by").set_value("origin").run()  # back to the first view: still nothing chosen
    assert not at.subheader


def test_another_metric_or_run_starts_with_no_slice_chosen(on_demo):
    at, _ = _breakdown_page(on_demo, by="origin")
    at.selectbox(key="metric").set_value("log_loss").run()
    assert_clean(at)
    assert not at.subheader
    first = runs.list_runs(on_demo)[-1]
    other = _copy_run(on_demo, first, "20000101-000000-copy")  # an older run, listed after it
    try:
        where = wb.breakdown(first, ["origin"]).slices["where"][0]
        at = page("pages/analysis.py", run=first.run_id, by="origin", slice=where)
        assert at.subheader
        at.selectbox(key="run").set_value(other).run()
        assert_clean(at)
        assert not at.subheader and "slice" not in at.query_params
    finally:
        shutil.rmtree(on_demo.runs_dir / other)


def _copy_run(ws, run, run_id: str) -> str:
    """Another run of the same model under ``run_id``: cheaper than training one."""
    folder = ws.runs_dir / run_id
    shutil.copytree(run.path, folder)
    record = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**record, "run_id": run_id, "created": "2000-01-01T00:00:00Z"}))
    return run_id


def test_a_slice_pages_through_its_rows_and_offers_them_for_download(on_demo):
    at, run = _breakdown_page(on_demo, by="origin")
    where = wb.breakdown(run, ["origin"]).slices["where"][0]
    _, count = wb.slice_rows(run, where, limit=1)
    captions = [c.value for c in at.caption if "holdout rows, worst errors" in c.value]
    assert captions == [f"rows 1–200 of the slice's {count:,} holdout rows, worst errors (highest loss) first"]
    [rows] = [d.value for d in at.dataframe if "_loss" in d.value.columns]
    assert list(rows.columns[:4]) == ["_label", "_pred", "_score", "_loss"]
    pages = -(-count // 200)
    [pager] = [n for n in at.number_input if n.label == f"Page (of {pages:,})"]
    pager.set_value(pages).run()
    assert_clean(at)
    last = count - 200 * (pages - 1)
    captions = [c.value for c in at.caption if "holdout rows, worst errors" in c.value]
    assert captions == [f"rows {200 * (pages - 1) + 1:,}–{count:,} of the slice's {count:,} holdout rows, "
                        "worst errors (highest loss) first"]
    [rows] = [d.value for d in at.dataframe if "_loss" in d.value.columns]
    assert len(rows) == last
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download rows (parquet)", "Download rows (CSV)"]


def test_numeric_bins_are_in_their_natural_order_and_can_be_sorted_worst_first(on_demo):
    run = runs.list_runs(on_demo)[-1]
    at = page("pages/analysis.py", run=run.run_id, by="temp", bins="4")
    assert_clean(at)
    [table] = [d.value for d in at.dataframe if "temp" in d.value.columns]
    labels = list(table["temp"])
    assert labels[0].startswith("<") and labels[-2].startswith("≥") and labels[-1] == "(missing)"
    at.selectbox(key="order").set_value("worst").run()
    [table] = [d.value for d in at.dataframe if "temp" in d.value.columns]
    assert list(table["value"]) == sorted(table["value"], reverse=True)
    assert at.query_params["order"] == "worst"


def test_a_found_slice_and_a_tree_node_are_in_the_url(on_demo):
    at = page("pages/analysis.py", view="Find problem slices", perm="5")
    [find] = [b for b in at.button if b.label == "Find problem slices"]
    find.click().run()
    assert at.query_params["search"] == "1" and at.query_params["k"] == "8" and at.query_params["perm"] == "5"
    link = dict(at.query_params)
    run = runs.load_run(on_demo, link["run"])
    found = wb.discover(run, k=8, max_level=3, alpha=0.95, min_support=32, error="misclassification",
                        binner="model", permutations=5)
    row = found.slices.row(1, named=True)
    at = page("pages/analysis.py", **link, found=row["where"])
    assert_clean(at)
    assert shown(at.subheader[0].value) == f"Rows where {row['predicate']}"
    # its metrics against the rest count the whole holdout, which is said to flatter it
    assert any(c.value.startswith("Counted on the whole holdout, the rows the search chose this slice on included")
               for c in at.caption)

    at = page("pages/analysis.py", view="Error tree", run=run.run_id, grow="1", depth="2")
    assert_clean(at)
    nodes = wb.error_tree(run, error="misclassification", max_depth=2, min_rows=32).nodes
    node = nodes.row(2, named=True)
    at = page("pages/analysis.py", view="Error tree", run=run.run_id, grow="1", depth="2", node=node["where"])
    assert_clean(at)
    assert shown(at.subheader[0].value) == f"Rows where {node['predicate']}"


@pytest.fixture
def census(tmp_path, monkeypatch):
    """A workspace with one dataset the workbench has never seen: a given train/test column last."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from workbench.store import build
    rng = np.random.default_rng(0)
    n = 1500
    age = rng.integers(17, 90, n)
    pq.write_table(pa.table({"age": age, "hours": rng.integers(1, 80, n),
                             "workclass": rng.choice(["private", "state", "self"], n),
                             "income": np.where(age + rng.normal(0, 15, n) > 50, ">50K", "<=50K"),
                             "split": rng.choice(["train", "test"], n, p=[0.67, 0.33])}), tmp_path / "adult.parquet")
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    ws = wb.Workspace.open(tmp_path)
    build.build(ws, "census", "SELECT * FROM adult")
    return ws


def test_train_defaults_on_a_new_dataset_use_its_split_and_a_sensible_target(census):
    at = page("pages/train.py", dataset="census")
    assert_clean(at)
    assert at.selectbox(key="target|census").value == "income"
    assert at.selectbox(key="split|census").value == "column"
    assert at.selectbox(key="split_column|census").value == "split"
    [train] = [b for b in at.button if b.label == "Train"]
    train.click().run()
    assert_clean(at)
    run = runs.load_run(census, at.query_params["run"])
    assert (run.record.target, run.record.split.kind, run.record.split.column) == ("income", "column", "split")
    assert any("positive class `>50K` of `income`" in c.value for c in at.caption)


def test_the_train_page_refuses_a_wrong_run_with_a_message(census):
    at = page("pages/train.py", dataset="census")
    at.selectbox(key="split|census").set_value("time")
    at.selectbox(key="split_column|census").set_value("age")
    [train] = [b for b in at.button if b.label == "Train"]
    train.click().run()
    assert not at.exception
    assert shown(at.error[0].value).startswith("Split column 'age' is BIGINT, not a date or timestamp; a time split "
                                        "needs one, or if 'age' counts time")
    at.checkbox(key="numeric_time|census").check()
    at.text_area(key="more_params").set_value("learning_rat=0.05")
    [train] = [b for b in at.button if b.label == "Train"]
    train.click().run()
    assert not at.exception
    assert "Unknown LightGBM setting 'learning_rat' (did you mean learning_rate?)" in shown(at.error[0].value)
    at.text_area(key="more_params").set_value("eta=0.3")
    [train] = [b for b in at.button if b.label == "Train"]
    train.click().run()
    assert shown(at.error[0].value) == ("'eta' (learning_rate) is the field 'Learning rate' above: set it there, "
                                 "not again under 'More settings'.")
    at.selectbox(key="split|census").set_value("column")
    at.selectbox(key="split_column|census").set_value("split")
    at.selectbox(key="target|census").set_value("split")
    at.text_area(key="more_params").set_value("")
    at.checkbox(key="numeric_time|census").uncheck()
    [train] = [b for b in at.button if b.label == "Train"]
    train.click().run()
    assert "Target 'split' is also the split column" in shown(at.error[0].value)
    assert not runs.list_runs(census)


def test_ordinary_use_never_says_a_link_carried_something(census):
    from workbench.store import build
    build.build(census, "census_few", "SELECT age, workclass, split FROM adult")
    at = page("pages/train.py", dataset="census")
    [train] = [b for b in at.button if b.label == "Train"]
    train.click().run()  # writes target=income, run=... into the URL
    assert_clean(at)
    at.selectbox(key="dataset").set_value("census_few").run()  # which has no income column
    assert_clean(at)
    assert not at.toast, [t.value for t in at.toast]
    assert at.query_params["dataset"] == "census_few"
    binary = at.query_params["run"]
    regression = wb.train(census, wb.TrainSpec("census", "hours", task="regression")).run_id
    at = page("pages/analysis.py", run=binary, by="workclass", metric="roc_auc")
    assert_clean(at)
    at.selectbox(key="run").set_value(regression).run()  # no ROC AUC for a regression run
    assert_clean(at)
    assert not at.toast, [t.value for t in at.toast]


def test_a_chosen_slice_survives_another_order_and_its_page_is_in_the_url(on_demo):
    run = runs.list_runs(on_demo)[-1]
    table = wb.breakdown(run, ["temp"], bins=4)
    where = table.slices["where"][0]
    at = page("pages/analysis.py", run=run.run_id, by="temp", bins="4", slice=where, slice_page="2")
    assert_clean(at)
    heading = at.subheader[0].value
    captions = [c.value for c in at.caption if "holdout rows, worst errors" in c.value]
    assert captions and captions[0].startswith("rows 201–400 of the slice's")
    at.selectbox(key="order").set_value("worst").run()
    assert_clean(at)
    assert at.subheader[0].value == heading and at.query_params["slice"] == where


# ---- thresholds, the run view and parity (issue 12) ----------------------------------------------

def _binary_run(ws):
    return [r for r in runs.list_runs(ws) if r.task == "binary"][-1]


def test_the_run_view_shows_the_decisions_at_the_urls_threshold(on_demo):
    from workbench.analysis.thresholds import at_threshold
    run = _binary_run(on_demo)
    at = page("pages/train.py", run=run.run_id, threshold="0.3")
    assert_clean(at)
    assert at.slider(key=f"threshold|{run.run_id}").value == pytest.approx(0.3)
    v = at_threshold(run, 0.3)
    confusion, metrics = at.table[0].value, at.table[1].value
    assert f"{v.tp:,} (" in confusion.iloc[0, 1] and f"{v.tn:,} (" in confusion.iloc[1, 2]
    f1 = v.metrics.filter(v.metrics["metric"] == "f1").row(0, named=True)
    assert metrics.iloc[2, 0] == "F1" and metrics.iloc[2, 1].startswith(f"{f1['value']:.3g} [")
    at.slider(key=f"threshold|{run.run_id}").set_value(0.7).run()
    assert_clean(at)
    assert at.query_params["threshold"] == "0.7"
    assert f"{at_threshold(run, 0.7).tp:,} (" in at.table[0].value.iloc[0, 1]


def test_a_rate_at_a_threshold_in_the_breakdown_names_its_threshold(on_demo):
    run = _binary_run(on_demo)
    at = page("pages/analysis.py", run=run.run_id, by="origin")
    assert not [s for s in at.slider if s.key == "b_threshold"]  # only for a rate at a threshold
    at.selectbox(key="metric").set_value("fpr").run()
    assert_clean(at)
    at.slider(key="b_threshold").set_value(0.3).run()
    assert_clean(at)
    assert at.query_params["metric"] == "fpr" and at.query_params["threshold"] == "0.3"
    assert at.markdown[0].value.startswith("**FPR at threshold 0.3** on the whole holdout: ")
    expected = wb.breakdown(run, ["origin"], metric="fpr", threshold=0.3, min_size=20)
    assert f"over {expected.overall['n']:,} rows" in at.markdown[0].value
    assert any("fpr at threshold 0.3 (predicted positive: score >= 0.3)" in c.value for c in at.caption)


def test_parity_view_marks_sensitive_columns_and_flags_pairs(demo_ws, tmp_path, monkeypatch):
    from workbench.store import sensitive
    root = tmp_path / "ws"
    shutil.copytree(demo_ws.root, root)
    ws = wb.Workspace.open(root)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    run = _binary_run(ws)
    at = page("pages/analysis.py", run=run.run_id, view="Parity")
    assert_clean(at)
    assert at.multiselect(key="p_sensitive").value == [] and at.info  # nothing marked yet
    at.multiselect(key="p_sensitive").set_value(["origin"]).run()
    assert_clean(at)
    assert at.query_params["sensitive"] == "origin"
    expected = wb.parity(run, ["origin"], threshold=0.5)
    pairs = at.dataframe[2].value
    assert len(pairs) == expected.pairs.height
    flagged = int(expected.pairs["significant"].sum())
    assert (pairs["flag"] == "⚑ differs").sum() == flagged and list(pairs["flag"][:flagged]) == ["⚑ differs"] * flagged
    assert any(f"{flagged} of {expected.pairs.height} pairs of groups differ" in m.value for m in at.markdown)
    [mark] = [b for b in at.button if b.key == "p_mark"]
    mark.click().run()
    assert_clean(at)
    assert sensitive.sensitive_columns(ws, run.record.dataset.name) == ("origin",)
    fresh = page("pages/analysis.py", run=run.run_id, view="Parity")  # a new visit starts from the marks
    assert fresh.multiselect(key="p_sensitive").value == ["origin"]
