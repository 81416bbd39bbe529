"""Predictions made elsewhere become a run: the round trip through a trained run's own
predictions, each bad input's message, the CLI, every analysis and the pages on an imported run."""
import json
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

import workbench as wb
from workbench import WorkbenchError
from workbench.analysis import discover, errortree, explain, slices
from workbench.cli.main import main
from workbench.data import synthetic
from workbench.model import train, whatif
from workbench.store import build

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = {"binary": "_score", "multiclass": "_pred", "regression": "_pred"}


def _workspace(root: Path, task: str, rows: int = 1200) -> wb.Workspace:
    ws = wb.Workspace.open(root)
    synthetic.write(root / "source.parquet", rows, numeric=6, text=3, task=task, seed=0)
    build.build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source")
    return ws


def _export(run: wb.Run, path: Path, column: str = "p") -> Path:
    """A trained run's holdout predictions as another team would hand them over: key and output."""
    pl.read_parquet(run.predictions).select("id", pl.col(OUTPUT[run.task]).alias(column)).write_parquet(path)
    return path


def _import(ws, path, task, name="ext", **kw):
    option = "score" if task == "binary" else "pred"
    return wb.import_predictions(ws, name, dataset="synth", file=path, key="id", target="y",
                                 **{option: "p", **kw})


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """{task: (workspace, trained run, imported run of the trained run's own predictions)}."""
    out = {}
    for task in ("binary", "multiclass", "regression"):
        root = tmp_path_factory.mktemp(f"imported_{task}")
        ws = _workspace(root, task)
        trained = train.train(ws, train.TrainSpec("synth", "y", task=task, seed=0, drop=("id",)))
        out[task] = (ws, trained, _import(ws, _export(trained, root / "preds.parquet"), task))
    return out


def _same_metrics(task, ours, theirs):
    """The imported run's metrics equal the trained model's (a multiclass import has no probabilities,
    so no log loss)."""
    expected = {k: v for k, v in theirs.items() if not (task == "multiclass" and k.startswith("log_loss"))}
    assert set(ours) == set(expected)
    for k, v in expected.items():
        assert ours[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_round_trip_gives_the_trained_runs_metrics_and_breakdowns(pair, task):
    ws, trained, imported = pair[task]
    assert imported.run_id == "ext" and imported.task == task
    assert set(imported.metrics) == {"imported"}
    _same_metrics(task, imported.metrics["imported"], trained.metrics["lightgbm"])
    r = imported.record
    assert (r.split.kind, r.split.column, r.split.n_train, r.split.n_holdout) == (
        "imported", "id", 0, trained.record.split.n_holdout)
    assert r.classes == trained.record.classes and r.positive_class == trained.record.positive_class
    assert not imported.model_path.exists() and r.encoding == {} and r.model_feature_names == ()
    assert r.source["rows_matched"] == r.source["rows_in_file"] == r.split.n_holdout
    assert r.source["rows_unmatched"] == 0 and r.source["key"] == "id" and len(r.source["sha256"]) == 64
    # the same rows and columns as training stores, less the linear baseline's
    ours, theirs = pl.read_parquet(imported.predictions), pl.read_parquet(trained.predictions)
    theirs = theirs.drop([c for c in theirs.columns if c.endswith("_linear")])
    assert ours.columns == theirs.columns and ours.schema == theirs.schema
    assert_frame_equal(ours.drop("_loss").sort("_row"), theirs.drop("_loss").sort("_row"))
    if task != "multiclass":
        assert_frame_equal(ours.sort("_row"), theirs.sort("_row"), check_exact=False, rel_tol=1e-12)
        assert ours["_loss"].to_list() == sorted(ours["_loss"].to_list(), reverse=True)  # worst first
    metric_names = wb.slice_metrics(imported)
    for by in (["c0"], ["x0"], ["c0", "x1"]):
        for metric in metric_names:
            a = slices.breakdown(imported, by, metric=metric)
            b = slices.breakdown(trained, by, metric=metric)
            assert a.overall["n"] == b.overall["n"]
            assert a.overall["value"] == pytest.approx(b.overall["value"], rel=1e-9, nan_ok=True)
            assert_frame_equal(a.slices, b.slices, check_exact=False, rel_tol=1e-9)


def test_a_multiclass_import_has_misclassification_as_its_loss(pair):
    _, _, imported = pair["multiclass"]
    frame = pl.read_parquet(imported.predictions)
    assert frame["_loss"].to_list() == (~frame["_correct"]).cast(pl.Float64).to_list()
    assert imported.record.source["loss"].startswith("misclassification")
    assert "log_loss" not in imported.metrics["imported"]


def test_some_unmatched_keys_are_counted_and_said(pair, tmp_path, capsys):
    ws, trained, _ = pair["binary"]
    path = _export(trained, tmp_path / "more.parquet")
    extra = pl.DataFrame({"id": [10**9, 10**9 + 1], "p": [0.5, 0.5]})
    pl.concat([pl.read_parquet(path), extra.cast(pl.read_parquet(path).schema)]).write_parquet(path)
    root = tmp_path / "ws"
    shutil.copytree(ws.root, root, ignore=shutil.ignore_patterns("runs"))
    assert main(["import-predictions", "more", "--dataset", "synth", "--file", str(path), "--key", "id",
                 "--score", "p", "--target", "y", "--workspace", str(root)]) == 0
    out = capsys.readouterr().out
    run = wb.load_run(wb.Workspace.open(root), "more")
    assert run.record.source["rows_unmatched"] == 2 and run.record.source["unmatched_examples"] == [10**9, 10**9 + 1]
    assert run.record.split.n_holdout == trained.record.split.n_holdout
    assert "imported from" in out and "on key 'id'" in out and "2 matched none" in out
    assert f"{run.record.split.n_holdout:,} of {run.record.split.n_holdout + 2:,} rows in the file matched" in out
    assert "train /" not in out


def test_json_is_what_train_prints_plus_the_source(pair, tmp_path, capsys):
    ws, trained, _ = pair["regression"]
    root = tmp_path / "ws"
    shutil.copytree(ws.root, root, ignore=shutil.ignore_patterns("runs"))
    path = _export(trained, tmp_path / "preds.parquet", column="prediction")
    assert main(["import-predictions", "deep_net", "--dataset", "synth", "--version", "1", "--file", str(path),
                 "--key", "id", "--pred", "prediction", "--target", "y", "--workspace", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"run_id", "task", "n_holdout", "path", "metrics", "dataset", "target", "n_train", "created"} <= set(out)
    assert out["run_id"] == "deep_net" and out["task"] == "regression" and out["n_train"] == 0
    assert out["n_holdout"] == trained.record.split.n_holdout and Path(out["path"]).is_dir()
    assert out["metrics"]["imported"]["rmse"] == pytest.approx(trained.metrics["lightgbm"]["rmse"])
    assert out["source"]["file"] == str(path.resolve()) and out["source"]["pred"] == "prediction"
    assert "source" not in trained.to_dict()  # a trained run's JSON is as it was


def test_an_old_run_json_without_source_still_loads(pair, tmp_path):
    _, trained, _ = pair["binary"]
    ws = wb.Workspace.open(tmp_path)
    folder = ws.runs_dir / "old"
    shutil.copytree(trained.path, folder)
    record = json.loads((folder / "run.json").read_text())
    record.pop("source", None)
    (folder / "run.json").write_text(json.dumps({**record, "run_id": "old"}))
    old = wb.load_run(ws, "old")
    assert old.record.source is None and not old.imported and "source" not in old.to_dict()
    assert "train /" in wb.text.run_text(old)


def test_every_analysis_works_on_an_imported_run_or_refuses_clearly(pair):
    _, _, imported = pair["binary"]
    found = discover.discover(imported, k=3, min_support=20, permutations=0)
    assert found.params["binner"] == "quantile" and "no model" in found.params["binner_note"]
    assert found.n > 0 and found.params["columns"] and "id" not in found.params["columns"]
    asked = discover.discover(imported, k=3, min_support=20, permutations=0, binner="quantile")
    assert "binner_note" not in asked.params
    assert asked.slices.to_dicts() == found.slices.to_dicts()
    tree = errortree.error_tree(imported, max_depth=2)
    assert tree.nodes.height > 1
    with pytest.raises(wb.WorkbenchError, match="has no LightGBM model to explain"):
        explain.explain(imported, rows=50)
    row = pl.read_parquet(imported.predictions)["_row"][0]
    with pytest.raises(wb.WorkbenchError, match="has no LightGBM model to explain"):
        whatif.explain_row(imported, int(row))


# ---- bad input -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """A binary workspace and a good predictions file over its first 100 rows."""
    root = tmp_path_factory.mktemp("imported_bad")
    ws = _workspace(root, "binary", rows=300)
    ids = pl.read_parquet(wb.load_version(ws, "synth").path)["id"]
    good = pl.DataFrame({"id": ids[:100], "p": [0.25] * 100})
    good.write_parquet(root / "good.parquet")
    return ws, good


def _file(tmp_path, frame: pl.DataFrame) -> Path:
    path = tmp_path / "preds.parquet"
    frame.write_parquet(path)
    return path


BAD = [  # (what changes: file frame function, keyword arguments), message
    ("both", None, {"pred": "p"}, "Give exactly one of --score"),
    ("neither", None, {"score": None}, "got neither"),
    ("no target", None, {"target": None}, "Name the column of dataset 'synth' v1 that holds the true labels"),
    ("target absent", None, {"target": "label"}, "Target 'label' is not a column of dataset 'synth' v1"),
    ("unknown dataset", None, {"dataset": "nope"}, "Unknown dataset 'nope'"),
    ("unknown version", None, {"version": 7}, "Dataset 'synth' has no version 7"),
    ("bad name", None, {"name": "a/b"}, "Invalid run name 'a/b'"),
    ("key not in file", None, {"key": "x0"}, "Key column 'x0' is not in"),
    ("key not in dataset", lambda f: f.with_columns(ref=pl.col("id")), {"key": "ref"},
     "Key column 'ref' is not in dataset 'synth' v1"),
    ("score column absent", None, {"score": "prob"}, "Column 'prob' (--score) is not in"),
    ("duplicate keys in file", lambda f: pl.concat([f, f.head(3)]), {},
     "3 keys appear more than once in"),
    ("duplicate keys in dataset", lambda f: f.with_columns(c0=pl.lit("a")).unique("c0"), {"key": "c0"},
     "Key 'c0' does not identify rows of dataset 'synth' v1"),
    ("null key", lambda f: f.with_columns(id=pl.when(pl.col("id") == 1).then(None).otherwise(pl.col("id"))), {},
     "1 rows of"),
    ("no match", lambda f: f.with_columns(id=pl.col("id") + 10**6), {}, "None of the 100 keys in"),
    ("missing score", lambda f: f.with_columns(p=pl.when(pl.col("id") == 2).then(None).otherwise(pl.col("p"))), {},
     "1 of 100 predictions in column 'p' are missing (null or NaN), e.g. for id=2"),
    ("NaN score", lambda f: f.with_columns(p=pl.when(pl.col("id") == 3).then(float("nan")).otherwise(pl.col("p"))),
     {}, "are missing (null or NaN), e.g. for id=3"),
    ("score outside", lambda f: f.with_columns(p=pl.col("p") * 8), {}, "100 scores in 'p' are outside [0, 1]"),
    ("text score", lambda f: f.with_columns(p=pl.lit("high")), {}, "Column 'p' has type String"),
    ("binary with pred", None, {"score": None, "pred": "p"},
     "import the probability of the positive class True (the second of the sorted classes) with --score"),
    ("regression with score", None, {"target": "x0"}, "Target 'x0' is regression: import the predicted value with --pred"),
    ("pred not a class", lambda f: f.with_columns(p=pl.lit("zz")), {"target": "c0", "score": None, "pred": "p"},
     "100 predictions in 'p' are not classes of target 'c0' (e.g. 'zz')"),
    ("key types", lambda f: f.with_columns(id=pl.lit("k") + pl.col("id").cast(pl.String)), {},
     "Key 'id' is String in"),
    ("key is target", lambda f: f.with_columns(y=pl.lit(True)), {"key": "y"}, "Key column 'y' is the target too"),
    ("score is key", None, {"score": "id"}, "Column 'id' is the key"),
]


@pytest.mark.parametrize("change, edit, kwargs, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_named_and_writes_nothing(bad, tmp_path, change, edit, kwargs, message):
    ws, good = bad
    path = _file(tmp_path, edit(good) if edit else good)
    args = {"name": "ext", "dataset": "synth", "file": path, "key": "id", "score": "p", "target": "y", **kwargs}
    with pytest.raises(wb.WorkbenchError) as e:
        wb.import_predictions(ws, args.pop("name"), **args)
    assert message in str(e.value)
    assert not ws.runs_dir.exists() or not list(ws.runs_dir.iterdir())


def test_a_missing_or_unreadable_file_and_a_taken_name(bad, tmp_path):
    ws, good = bad
    with pytest.raises(wb.WorkbenchError, match="does not exist"):
        wb.import_predictions(ws, "a", dataset="synth", file=tmp_path / "nope.parquet", key="id", score="p", target="y")
    (tmp_path / "text.parquet").write_text("id,p\n1,0.5\n")
    with pytest.raises(wb.WorkbenchError, match="is not a readable parquet file"):
        wb.import_predictions(ws, "a", dataset="synth", file=tmp_path / "text.parquet", key="id", score="p", target="y")
    root = tmp_path / "ws"
    shutil.copytree(ws.root, root)
    mine = wb.Workspace.open(root)
    path = _file(tmp_path, good.with_columns(id=pl.col("id").cast(pl.String)))  # keys that convert are fine
    run = wb.import_predictions(mine, "a", dataset="synth", file=path, key="id", score="p", target="y")
    assert run.record.split.n_holdout == 100 and math.isclose(run.metrics["imported"]["brier"],
                                                             run.metrics["imported"]["brier"])
    with pytest.raises(wb.WorkbenchError, match="Run 'a' exists already"):
        wb.import_predictions(mine, "a", dataset="synth", file=path, key="id", score="p", target="y")


def test_the_cli_says_bad_input_in_one_line(bad, tmp_path, capsys):
    ws, good = bad
    path = _file(tmp_path, good)
    assert main(["import-predictions", "x", "--dataset", "synth", "--file", str(path), "--key", "id",
                 "--target", "y", "--workspace", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Give exactly one of --score") and len(err.strip().splitlines()) == 1


# ---- pages ---------------------------------------------------------------------------------

@pytest.fixture
def on_copy(pair, tmp_path, monkeypatch):
    """A copy of the binary pair's workspace (never the shared one) as the app's workspace."""
    ws, trained, _ = pair["binary"]
    root = tmp_path / "ws"
    shutil.copytree(ws.root, root)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return wb.Workspace.open(root), trained


def _page(path, **params):
    at = AppTest.from_file(str(ROOT / path), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _clean(at):
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _import_button(at):
    return next(b for b in at.button if b.label == "Import predictions")


def test_the_train_page_shows_an_imported_run_and_analysis_opens_on_it(on_copy):
    at = _page("pages/train.py", run="ext")
    _clean(at)
    caption = " ".join(c.value for c in at.caption)
    assert "imported from" in caption and "on key `id`" in caption and "trees" not in caption
    at = _page("pages/analysis.py", run="ext", by="c0")
    _clean(at)
    assert at.query_params["run"] == "ext"


def test_the_train_page_imports_an_upload(on_copy, tmp_path):
    ws, trained = on_copy
    path = _export(trained, tmp_path / "prod scores.parquet")
    at = _page("pages/train.py", dataset="synth")
    at.file_uploader(key="import_file|synth").upload("prod scores.parquet", path.read_bytes()).run()
    _clean(at)
    at.selectbox(key="import_target|synth").select("y").run()
    assert at.text_input(key="import_name").value == "prod_scores"
    _import_button(at).click().run()
    _clean(at)
    assert at.query_params["run"] == "prod_scores"
    run = wb.load_run(ws, "prod_scores")
    assert run.record.source["file"] == "prod scores.parquet"
    _same_metrics("binary", run.metrics["imported"], trained.metrics["lightgbm"])
    assert any("imported from `prod scores.parquet`" in c.value for c in at.caption)


def test_the_train_page_says_what_is_wrong_with_an_upload(on_copy, tmp_path):
    ws, trained = on_copy
    path = _export(trained, tmp_path / "bad.parquet")
    at = _page("pages/train.py", dataset="synth")
    at.file_uploader(key="import_file|synth").upload("bad.parquet", path.read_bytes()).run()
    at.selectbox(key="import_target|synth").select("y").run()
    at.radio(key="import_kind").set_value("pred").run()
    _import_button(at).click().run()
    assert not at.exception
    from test_safe import shown  # the message as the reader sees it (its punctuation is escaped)
    assert any("with --score, not --pred" in shown(e.value) for e in at.error)
    assert "bad" not in {r.run_id for r in wb.list_runs(ws)}


def test_a_multiclass_import_without_probabilities_offers_no_log_loss(pair):
    """Its per-row loss is 0/1: a breakdown by 'log loss' would show the error rate under that name."""
    _, trained, run = pair["multiclass"]
    assert "log_loss" in slices.slice_metrics(trained)
    assert "log_loss" not in slices.slice_metrics(run) and "error_rate" in slices.slice_metrics(run)
    with pytest.raises(WorkbenchError, match="imported with predicted classes and no probabilities"):
        slices.breakdown(run, ["c0"], metric="log_loss")
