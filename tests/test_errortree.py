import duckdb
import pytest

from workbench import errortree
from workbench.workspace import WorkbenchError


@pytest.mark.parametrize("task, error", [("binary", "misclassification"), ("binary", "loss"), ("regression", "loss")])
def test_leaves_partition_the_holdout_and_match_their_rows(trained, task, error):
    _, run = trained[task]
    nodes = errortree.error_tree(run, error=error, max_depth=3, min_rows=20)
    n = run.info["split"]["n_holdout"]
    assert nodes["n"][0] == n and nodes["predicate"][0] == "all rows"
    assert nodes.filter("leaf")["n"].sum() == n
    column = "_loss" if error == "loss" else "1 - _correct::INT"
    con = duckdb.connect()
    for r in nodes.iter_rows(named=True):
        count, mean = con.execute(f"SELECT count(*), avg({column}) FROM read_parquet('{run.predictions}') "
                                  f"WHERE {r['where']}").fetchall()[0]
        assert count == r["n"] and mean == pytest.approx(r["error"])
        assert r["n"] == 0 or r["ci_low"] <= r["error"] <= r["ci_high"]
    # children refine their parent: their rows add up to it
    for r in nodes.filter(~nodes["leaf"]).iter_rows(named=True):
        assert nodes.filter(nodes["parent"] == r["id"])["n"].sum() == r["n"]


def test_text_splits_read_as_value_sets(trained):
    _, run = trained["binary"]
    nodes = errortree.error_tree(run, error="misclassification", max_depth=4, min_rows=10, columns=["c0", "c1"])
    assert any(" in {" in p for p in nodes["predicate"])


def test_bad_tree_input(trained):
    _, run = trained["regression"]
    with pytest.raises(WorkbenchError, match="needs a classification run"):
        errortree.error_tree(run, error="misclassification")
