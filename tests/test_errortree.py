import duckdb
import pytest

from workbench.analysis import errortree
from workbench import WorkbenchError


@pytest.mark.parametrize("task, error", [("binary", "misclassification"), ("binary", "loss"), ("regression", "loss")])
def test_leaves_partition_the_holdout_and_match_their_rows(trained, task, error):
    _, run = trained[task]
    nodes = errortree.error_tree(run, error=error, max_depth=3, min_rows=20).nodes
    n = run.record.split.n_holdout
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
    nodes = errortree.error_tree(run, error="misclassification", max_depth=4, min_rows=10, columns=["c0", "c1"]).nodes
    assert any(" in {" in p for p in nodes["predicate"])


def test_bad_tree_input(trained):
    _, run = trained["regression"]
    with pytest.raises(WorkbenchError, match="needs a classification run"):
        errortree.error_tree(run, error="misclassification")


def test_odd_columns_and_missing_value_splits(tmp_path):
    """Names with spaces, quotes and accents, a date, a list column, mostly-null columns."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.store import build
    from workbench.analysis import slices
    from workbench.model import train
    from workbench import Workspace

    rng = np.random.default_rng(0)
    n = 2000
    missing = rng.random(n) < 0.5
    pq.write_table(pa.table({
        "my col": rng.normal(size=n),
        'quo"te': pa.array(np.where(missing, None, rng.choice(["a", "b"], n)).tolist()),
        "ünïcode": rng.integers(0, 4, n),
        "when": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 300, n)]),
        "tags": pa.array([["x", "y"][: int(k)] for k in rng.integers(0, 3, n)]),
        "target": np.where(missing, rng.random(n) < 0.8, rng.random(n) < 0.1),
    }), tmp_path / "odd.parquet")
    ws = Workspace.open(tmp_path)
    build.build(ws, "odd_ds", "SELECT * FROM odd")
    run = train.train(ws, train.TrainSpec("odd_ds", "target"))
    assert run.record.ignored_columns == ("tags",) and 'quo"te' in run.record.features
    assert slices.breakdown(run, ['quo"te', "ünïcode"]).slices["n"].sum() == run.record.split.n_holdout
    nodes = errortree.error_tree(run, error="loss", max_depth=2, min_rows=20).nodes
    assert nodes.filter("leaf")["n"].sum() == run.record.split.n_holdout


def test_missing_values_follow_the_side_the_tree_sends_them(tmp_path):
    """scikit-learn's routing is the oracle: refit the same tree on the same error and count the
    rows each leaf receives, missing values included. A tree whose WHERE sent missing values to
    the other side would still partition the holdout, but not as the tree does."""
    import numpy as np
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.tree import DecisionTreeRegressor
    from workbench import Workspace
    from workbench.model import train
    from workbench.store import build

    rng = np.random.default_rng(4)
    n = 4000
    x = rng.normal(size=n)
    missing = rng.random(n) < 0.3
    nan = missing & (rng.random(n) < 0.5)  # half of the missing values NaN, half NULL
    z = rng.normal(size=n)
    noisy = (x > 0.5) | missing  # labels are coin flips here: the model must err
    y = np.where(noisy, rng.random(n) < 0.5, z > 0)
    pq.write_table(pa.table({"x": pa.array(np.where(nan, np.nan, x), mask=missing & ~nan), "z": z, "y": y}),
                   tmp_path / "raw.parquet")
    ws = Workspace.open(tmp_path)
    build.build(ws, "m", "SELECT * FROM raw")
    run = train.train(ws, train.TrainSpec("m", "y"))
    for missing_left in (False, True):
        frame = pl.read_parquet(run.predictions)
        e = (~frame["_correct"]).cast(pl.Float64).to_numpy()
        xs = frame["x"].cast(pl.Float64).to_numpy()
        if missing_left:  # mirror x so the noisy side, where missing values belong, is the left one
            frame = frame.with_columns(-pl.col("x"))
            xs = -xs
            pq.write_table(frame.to_arrow(), run.predictions)
        tree = errortree.error_tree(run, error="misclassification", max_depth=1, min_rows=32, columns=["x"]).nodes
        oracle = DecisionTreeRegressor(max_depth=1, min_samples_leaf=32, random_state=0).fit(xs[:, None], e)
        leaves = oracle.apply(xs[:, None])
        left_leaf = oracle.tree_.children_left[0]
        left, right = tree.filter(pl.col("parent") == 0).sort("id")["n"].to_list()
        assert (left, right) == ((leaves == left_leaf).sum(), (leaves != left_leaf).sum())
        with_missing = tree.filter(pl.col("predicate").str.contains("missing"))
        assert with_missing.height == 1 and with_missing["error"][0] > 0.3


def test_boolean_and_rare_text_splits_count_every_row(tmp_path):
    """A boolean feature splits as 0/1 (DuckDB refuses comparing a BOOLEAN with 0.5), and text
    values beyond the most frequent ones go where the tree sent them: with the missing values."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from workbench import Workspace
    from workbench.model import train
    from workbench.store import build

    rng = np.random.default_rng(5)
    n = 3000
    flag = rng.random(n) < 0.4
    words = np.array([f"w{i}" for i in rng.integers(0, 400, n)])  # 400 values, the tree codes 200
    y = np.where(flag, rng.random(n) < 0.5, rng.random(n) < 0.1)
    pq.write_table(pa.table({"flag": flag, "word": words, "y": y}), tmp_path / "raw.parquet")
    ws = Workspace.open(tmp_path)
    build.build(ws, "b", "SELECT * FROM raw")
    run = train.train(ws, train.TrainSpec("b", "y"))
    for columns in (["flag"], ["word"]):
        nodes = errortree.error_tree(run, error="misclassification", max_depth=2, min_rows=20, columns=columns).nodes
        assert nodes.height > 1 and nodes.filter("leaf")["n"].sum() == run.record.split.n_holdout
        for r in nodes.filter(~nodes["leaf"]).iter_rows(named=True):
            assert nodes.filter(nodes["parent"] == r["id"])["n"].sum() == r["n"]
