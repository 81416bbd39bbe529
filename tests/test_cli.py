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
                    "--error", "misclassification", "--confirm", ws=ws)
    assert 0 < found["n"] < run["n_holdout"] and found["candidates_evaluated"] > 0  # found on half
    assert {"filters", "where", "size", "error", "score", "ci", "p_value", "q_value", "confirmed"} <= set(found["slices"][0])


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
    (["train", "synth", "--target", "y", "--param", "num_leaves"], "Invalid --param 'num_leaves'"),
    (["train", "synth", "--target", "y", "--param", "num_leaves=-1"], "LightGBM refused the settings"),
    (["build", "x", "--sql", "COPY (SELECT 1) TO 'x.csv'"], "Only a read-only SELECT query is accepted"),
    (["build", "x", "--sql", "SELECT 1; SELECT 2"], "holds 2 statements"),
    (["build", "x", "--sql", "SELECT * FROM read_text('/etc/hostname')"], "may read only the workspace"),
    (["build", "x\n", "--sql", "SELECT 1"], "Invalid dataset name"),
    (["tree", "nope"], "Unknown run 'nope'"),
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
    p = cli("tables", ws=ws)
    assert p.returncode == 2 and "Cannot read 'broken.parquet'" in p.stderr and "Traceback" not in p.stderr
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
