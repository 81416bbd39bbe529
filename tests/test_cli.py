"""The CLI through a subprocess, as a user or a script would call it."""
import json
import subprocess
import sys

import pytest

from helpers import synthetic_ws


def cli(*args, ws=None):
    cmd = [sys.executable, "-m", "workbench", *args] + (["--workspace", str(ws.root)] if ws else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def ok_json(*args, ws):
    p = cli(*args, "--json", ws=ws)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)  # stdout is exactly one JSON object


def _snapshot(ws):
    return sorted((str(p.relative_to(ws.root)), p.stat().st_size) for p in ws.root.rglob("*") if p.is_file())


def test_the_whole_loop_in_json(tmp_path):
    ws = synthetic_ws(tmp_path, 1500, "binary")
    tables = ok_json("tables", ws=ws)["tables"]
    assert tables[0]["name"] == "source" and tables[0]["rows"] == 1500
    assert {"name": "c0", "type": "VARCHAR"} in tables[0]["columns"]
    built = ok_json("build", "small", "--sql", "SELECT * FROM source WHERE x1 < 1", ws=ws)
    assert set(built) >= {"dataset", "version", "rows", "hash", "path"} and built["version"] == 1
    names = {d["name"]: d for d in ok_json("datasets", ws=ws)["datasets"]}
    assert names["small"]["versions"][0]["hash"] == built["hash"]
    prof = ok_json("profile", "small", ws=ws)
    assert {c["name"] for c in prof["columns"]} >= {"x0", "c0", "y"}
    assert {"null_share", "distinct", "min", "max", "mean"} <= set(prof["columns"][0])
    run = ok_json("train", "small", "--target", "y", "--split", "time:ts", "--drop", "x5", "--seed", "2",
                  "--param", "num_leaves=15", "--param", "learning_rate=0.2", ws=ws)
    assert run["task"] == "binary" and run["n_holdout"] > 0 and run["n_train"] > 0
    assert set(run["metrics"]) == {"lightgbm", "trivial", "linear"}
    m = run["metrics"]["lightgbm"]
    assert m["roc_auc_ci"][0] <= m["roc_auc"] <= m["roc_auc_ci"][1]
    assert ok_json("runs", ws=ws)["runs"][0]["run_id"] == run["run_id"]
    sl = ok_json("slices", run["run_id"], "--by", "c0", "--by", "x0", "--bins", "3", "--metric", "log_loss",
                 "--min-size", "5", ws=ws)
    assert sl["metric"] == "log_loss" and sl["overall"]["n"] == run["n_holdout"]
    first = sl["slices"][0]
    assert set(first["filters"]) == {"c0", "x0"} and len(first["ci"]) == 2
    assert {"n", "share", "value", "p_value"} <= set(first)
    found = ok_json("discover", run["run_id"], "--k", "3", "--alpha", "0.95", "--min-support", "10",
                    "--error", "misclassification", "--permutations", "20", ws=ws)
    assert 0 < found["n"] < run["n_holdout"] and found["candidates_evaluated"] > 0  # found on half
    assert {"filters", "where", "size", "error", "score", "ci", "p_value", "q_value", "confirmed", "also",
            "search"} <= set(found["slices"][0])
    assert found["figures_from"].startswith("the other half") and found["permutations"] == 20
    assert 1 / 21 <= found["top_score_p"] <= 1


def test_text_output_is_readable(tmp_path):
    ws = synthetic_ws(tmp_path, 300, "binary")
    p = cli("tables", ws=ws)
    assert p.returncode == 0 and p.stdout.splitlines()[0].split() == ["table", "rows", "columns"]


BAD = [
    (["build", "x", "--sql", "SELEC 1"], "SQL error: Parser Error"),
    (["build", "x", "--sql", "SELECT * FROM nowhere"], "SQL error: Catalog Error"),
    (["build", "a/b", "--sql", "SELECT 1"], "Invalid dataset name 'a/b'"),
    (["build", "..", "--sql", "SELECT 1"], "Invalid dataset name '..'"),
    (["profile", "nope"], "Unknown table or dataset 'nope'"),
    (["train", "nope", "--target", "y"], "Unknown dataset 'nope'"),
    (["train", "synth", "--target", "nope"], "Unknown target column 'nope'"),
    (["train", "synth", "--target", "const"], "Target 'const' is constant or missing"),
    (["train", "synth", "--target", "gone"], "Target 'gone' is constant or missing"),
    (["train", "synth", "--target", "y", "--split", "time:nope"], "Unknown split column 'nope'"),
    (["train", "synth", "--target", "y", "--drop", "nope"], "Unknown column(s) to drop: nope"),
    (["slices", "nope", "--by", "c0"], "Unknown run 'nope'"),
    (["slices", "../../etc", "--by", "c0"], "Unknown run '../../etc'"),
    (["train", "synth"], "the following arguments are required: --target"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["discover", "nope"], "Unknown run 'nope'"),
    (["train", "synth", "--target", "y", "--param", "num_leaves"],
     "error: Invalid LightGBM setting 'num_leaves': write NAME=VALUE, e.g. learning_rate=0.05.\n"),
    (["train", "synth", "--target", "y", "--param", " "],
     "error: Invalid --param ' ': write NAME=VALUE, e.g. learning_rate=0.05.\n"),
    (["train", "synth", "--target", "y", "--param", "num_leaves=-1"], "LightGBM refused the settings"),
    (["build", "x", "--sql", "COPY (SELECT 1) TO 'x.csv'"], "Only a read-only SELECT query is accepted"),
    (["build", "x", "--sql", "SELECT 1; SELECT 2"], "holds 2 statements"),
    (["build", "x", "--sql", "SELECT * FROM read_text('/etc/hostname')"], "may read only the workspace"),
    (["build", "x\n", "--sql", "SELECT 1"], "Invalid dataset name"),
    (["tree", "nope"], "Unknown run 'nope'"),
    (["train", "synth", "--target", "y", "--param", "learning_rat=0.05"],
     "error: Unknown LightGBM setting 'learning_rat' (did you mean learning_rate?); LightGBM's settings are listed "
     "at https://lightgbm.readthedocs.io/en/latest/Parameters.html\n"),
    (["train", "synth", "--target", "y", "--param", "learning_rate=abc"],
     "error: LightGBM refused the settings: learning_rate='abc': it must be a number.\n"),
    (["train", "synth", "--target", "y", "--param", "objective=poisson"],
     "error: LightGBM setting 'objective' is set by the workbench: it follows the task"),
    (["train", "synth", "--target", "y", "--param", "learning_rate="],
     "error: Invalid LightGBM setting 'learning_rate=': give a value after '=', e.g. learning_rate=0.05.\n"),
    (["train", "synth", "--target", "y", "--param", "num_leaves=8", "--param", "num_leaves=16"],
     "error: LightGBM setting num_leaves is given twice (8 and 16); give it once.\n"),
    (["train", "synth", "--target", "y", "--split", "column:y"],
     "error: Target 'y' is also the split column; the column that picks the holdout rows cannot be what the "
     "model predicts: choose another target or split.\n"),
    (["train", "synth", "--target", "y", "--split", "time:const"],
     "error: Split column 'const' is INTEGER, not a date or timestamp; a time split needs one, or if 'const' "
     "counts time (a day number, a period index) pass --numeric-time (on the Train page, tick 'The column "
     "counts time').\n"),
    (["train", "synth", "--target", "y", "--numeric-time"],
     "error: numeric_time applies only to a time split, and the split is 'random'; leave --numeric-time out or "
     "split by time:COLUMN.\n"),
    (["build", "x", "--sql", "SELECT x00 FROM source"],
     'error: SQL error: Binder Error: Referenced column "x00" not found in FROM clause! Candidate bindings: "x0"'),
]


@pytest.fixture(scope="module")
def bad_ws(tmp_path_factory):
    ws = synthetic_ws(tmp_path_factory.mktemp("bad"), 300, "binary")
    p = cli("build", "synth", "--sql", "SELECT *, 1 AS const, NULL::INT AS gone FROM source", ws=ws)
    assert p.returncode == 0, p.stderr
    return ws


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(bad_ws, args, message):
    before = _snapshot(bad_ws)
    p = cli(*args, "--json", ws=bad_ws)
    assert p.returncode == 2
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert message in p.stderr
    assert _snapshot(bad_ws) == before


def test_unreadable_parquet_is_named(bad_ws, tmp_path):
    ws = synthetic_ws(tmp_path, 100, "binary")
    (ws.root / "broken.parquet").write_bytes(b"PAR1 nope")
    p = cli("tables", ws=ws)  # the bad file is listed with its problem; the other tables still work
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert "cannot be read" in p.stdout and "broken.parquet" in p.stdout and "source" in p.stdout
    p = cli("build", "b", "--sql", "SELECT * FROM broken", ws=ws)
    assert p.returncode == 2 and "Table 'broken' cannot be read" in p.stderr


def test_json_is_the_result_objects_to_dict(tmp_path):
    """One summary, many renderers: --json prints exactly what the core's result object says."""
    from workbench.analysis import errortree
    from workbench.cli.main import jsonable
    from workbench.model import train
    from workbench.store import catalog
    ws = synthetic_ws(tmp_path, 1200, "binary")
    run = train.train(ws, train.TrainSpec("synth", "y"))
    assert ok_json("tables", ws=ws) == jsonable(catalog.scan(ws).to_dict())
    tree = ok_json("tree", run.run_id, "--max-depth", "2", "--error", "misclassification", ws=ws)
    assert tree == jsonable(errortree.error_tree(run, max_depth=2, error="misclassification").to_dict())
    assert tree["nodes"][0]["n"] == run.record.split.n_holdout
    listed = ok_json("runs", ws=ws)["runs"][0]
    assert listed == jsonable(run.to_dict())
    text = cli("tree", run.run_id, ws=ws)
    assert text.returncode == 0 and text.stdout.splitlines()[0].split() == ["node", "n", "error", "ci"]


def _workbench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_global_options_go_before_or_after_the_command(tmp_path):
    """As git -C or docker --host: `--workspace DIR tables` was refused ('invalid choice')."""
    ws = synthetic_ws(tmp_path / "ws", 100, "binary")
    for args in (["--workspace", str(ws.root), "--json", "tables"], ["--json", "tables", "--workspace", str(ws.root)],
                 [f"--workspace={ws.root}", "tables", "--json"]):
        p = _workbench(*args)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["tables"][0]["name"] == "source"
    other = tmp_path / "other"
    p = _workbench("--workspace", str(other), "tables", "--workspace", str(ws.root))  # after the command wins
    assert p.returncode == 0 and p.stdout.split()[:4] == ["table", "rows", "columns", "source"]
    assert not other.exists()


def test_an_empty_workspace_is_refused_not_replaced_by_the_default(tmp_path):
    p = _workbench("tables", "--workspace", "")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == ("error: --workspace is empty; give a folder, or leave it out for $WORKBENCH_WORKSPACE "
                        "or ./data.\n")


def test_top_level_help_documents_the_global_options():
    p = _workbench("--help")
    assert p.returncode == 0
    words = " ".join(p.stdout.split())  # as read, whatever the terminal's width
    assert words.startswith("usage: python -m workbench [-h] [--workspace DIR] [--json] {tables,")
    assert ("global options (before or after the command): --workspace DIR workspace folder (default: "
            "$WORKBENCH_WORKSPACE or ./data) --json print one JSON object on stdout, and nothing else "
            "--workspace and --json go before the command or after it: `python -m workbench --workspace DIR "
            "tables` and `python -m workbench tables --workspace DIR` are the same; given in both places, the one "
            "after the command wins.") in words


def test_text_output_names_the_positive_class(tmp_path):
    """A binary run's metrics are about one class; every text that shows them says which."""
    from workbench.model import train
    ws = synthetic_ws(tmp_path, 1200, "binary")
    p = cli("train", "synth", "--target", "y", ws=ws)
    assert p.returncode == 0, p.stderr
    run = ok_json("runs", ws=ws)["runs"][0]
    assert p.stdout.splitlines()[1] == (f"run {run['run_id']} (binary, positive class: 'True', "
                                        f"{run['n_train']:,} train / {run['n_holdout']:,} holdout rows)")
    listed = cli("runs", ws=ws).stdout.splitlines()
    assert listed[0].split() == ["run_id", "dataset", "target", "task", "positive_class", "created"]
    assert listed[1].split()[:5] == [run["run_id"], "synth", "y", "binary", "'True'"]
    sliced = cli("slices", run["run_id"], "--by", "c0", ws=ws).stdout.splitlines()[0]
    assert " overall " in sliced and sliced.endswith(f" on {run['n_holdout']:,} rows; positive class: 'True'")
    found = cli("discover", run["run_id"], "--k", "2", "--min-support", "10", ws=ws).stdout.splitlines()[0]
    assert "; positive class: 'True'); " in found
    tree = cli("tree", run["run_id"], "--max-depth", "1", "--error", "misclassification", ws=ws).stdout.splitlines()
    assert tree[0].split() == ["node", "n", "error", "ci"]
    assert tree[-1] == "misclassification of a binary run, positive class: 'True'"
    regression = train.train(synthetic_ws(tmp_path / "r", 600, "regression"), train.TrainSpec("synth", "y"))
    from workbench.render import text
    assert "positive class" not in text.render(regression)


def test_slices_order_and_a_search_says_which_rows_it_counted(tmp_path):
    ws = synthetic_ws(tmp_path, 1200, "binary")
    assert cli("train", "synth", "--target", "y", ws=ws).returncode == 0
    run = ok_json("runs", ws=ws)["runs"][0]
    natural = ok_json("slices", run["run_id"], "--by", "x0", "--bins", "4", ws=ws)
    assert natural["order"] == "natural"
    labels = [s["filters"]["x0"] for s in natural["slices"]]
    starts = [-float("inf") if b.startswith("<") else float(b.strip("[≥ ").split(",")[0]) for b in labels]
    assert starts == sorted(starts) and labels[0].startswith("<")  # every bin after the one below it
    worst = ok_json("slices", run["run_id"], "--by", "x0", "--bins", "4", "--order", "worst", ws=ws)
    assert [s["value"] for s in worst["slices"]] == sorted((s["value"] for s in worst["slices"]), reverse=True)
    bad = cli("slices", run["run_id"], "--by", "x0", "--order", "best", ws=ws)
    assert bad.returncode == 2 and "invalid choice: 'best'" in bad.stderr
    lines = cli("discover", run["run_id"], "--k", "2", "--min-support", "10", "--alpha", "0.95", "--permutations", "9",
                ws=ws).stdout.splitlines()
    assert f" found on a random half of the holdout (" in lines[0] and f" of {run['n_holdout']:,} rows) (" in lines[0]
    assert lines[1].startswith("figures from the other half of the holdout, which the search did not see")
    assert lines[2].startswith("top score p = ") and "of 9 searches of shuffled errors" in lines[2]
    lines = cli("discover", run["run_id"], "--k", "2", "--min-support", "10", "--alpha", "0.99", "--no-confirm",
                "--permutations", "0", ws=ws).stdout.splitlines()
    assert f" found on the whole holdout ({run['n_holdout']:,} rows) " in lines[0]
    assert lines[1].startswith("figures from the rows the search chose them on (optimistic")
    assert not any(line.startswith("top score p") for line in lines)


def test_threshold_sensitive_parity_retrain_and_profile_commands(tmp_path):
    """The commands of the review loop, end to end as a script calls them: the decisions at a
    threshold equal a count over the run's predictions, parity defaults to the dataset's marked
    columns, a retrain records its weighting and compares with the run before."""
    import pyarrow.parquet as pq
    ws = synthetic_ws(tmp_path, 1500, "binary")
    base = ok_json("train", "synth", "--target", "y", "--split", "time:ts", ws=ws)["run_id"]

    view = ok_json("threshold", base, "--threshold", "0.3", ws=ws)
    rows = pq.read_table(ws.artifacts / "runs" / base / "predictions.parquet").to_pylist()
    positive = view["positive_class"]
    tp = sum(r["_score"] >= 0.3 and r["_label"] == positive for r in rows)
    fp = sum(r["_score"] >= 0.3 and r["_label"] != positive for r in rows)
    assert (view["confusion"]["tp"], view["confusion"]["fp"]) == (tp, fp) and view["n"] == len(rows)
    p = cli("threshold", base, "--threshold", "1.5", ws=ws)
    assert p.returncode == 2 and "threshold" in p.stderr.lower()

    p = cli("parity", base, ws=ws)
    assert p.returncode == 2 and "no sensitive columns marked" in p.stderr and "sensitive synth --mark" in p.stderr
    assert ok_json("sensitive", "synth", "--mark", "c0", ws=ws) == {"dataset": "synth", "columns": ["c0"]}
    assert ok_json("parity", base, ws=ws) == ok_json("parity", base, "--sensitive", "c0", ws=ws)
    ok_json("sensitive", "synth", "--mark", "y", ws=ws)  # the target: left out of the default, saying so
    p = cli("parity", base, "--json", ws=ws)
    assert p.returncode == 0 and "left out: y" in p.stderr and json.loads(p.stdout) == ok_json(
        "parity", base, "--sensitive", "c0", ws=ws)
    ok_json("sensitive", "synth", "--unmark", "c0", ws=ws)
    p = cli("parity", base, ws=ws)
    assert p.returncode == 2 and "(y) are not columns of run" in p.stderr
    p = cli("sensitive", "synth", "--mark", "nope", ws=ws)
    assert p.returncode == 2 and "Unknown column 'nope'" in p.stderr

    p = cli("retrain", base, "--factor", "4", ws=ws)
    assert p.returncode == 2 and "needs a slice to weigh" in p.stderr
    new = ok_json("retrain", base, "--upweight", "c0 = 'a'", "--factor", "4", ws=ws)
    record = json.loads((ws.artifacts / "runs" / new["run_id"] / "run.json").read_text())
    assert record["weighting"]["where"] == "c0 = 'a'" and record["weighting"]["factor"] == 4
    assert new["weighting"] == record["weighting"]
    compared = ok_json("compare", base, new["run_id"], "--by", "c0", "--no-find", ws=ws)
    assert {s["source"] for s in compared["slices"]} == {"column"} and compared["params"]["find"] is False
    assert "in 'a'" not in cli("compare", base, new["run_id"], ws=ws).stdout  # no --by: overall only, and found slices

    prof = ok_json("profile", "synth", "--columns", "c0", "x1", ws=ws)
    assert [c["name"] for c in prof["columns"]] == ["x1", "c0"] or [c["name"] for c in prof["columns"]] == ["c0", "x1"]
    assert "y" in prof["skipped"]
