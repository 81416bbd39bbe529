import duckdb
import polars as pl
import pytest

from workbench.analysis import discover
from workbench import WorkbenchError


def test_planted_slice_is_found_and_confirmed(trained):
    """c0 = a is planted (labels flipped at random where x0 > 1); chance slices do not confirm."""
    _, run = trained["binary"]
    d = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error="misclassification")
    assert "c0 = a" in d.slices["predicate"][0] and d.slices["q_value"][0] < 0.05
    c = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error="misclassification",
                          confirm=True)
    planted = c.slices.filter(pl.col("predicate").str.contains("c0 = a"))
    assert planted.height and planted["confirmed"].all()
    assert (c.slices["confirm_size"] > 0).all() and not c.slices["confirmed"].all()
    assert c.n < run.record.split.n_holdout


@pytest.mark.parametrize("error, column", [("loss", "_loss"), ("misclassification", "1 - _correct::INT")])
@pytest.mark.parametrize("binner", ["model", "quantile"])
def test_each_slice_equals_its_rows(trained, error, column, binner):
    """The oracle: select each slice's rows with its WHERE clause and recompute size and error."""
    _, run = trained["binary"]
    alpha = 0.99 if error == "loss" else 0.95
    d = discover.discover(run, k=5, max_level=3, alpha=alpha, min_support=10, error=error, binner=binner)
    assert d.slices.height > 0 and d.n == run.record.split.n_holdout
    con = duckdb.connect()
    for r in d.slices.iter_rows(named=True):
        n, mean = con.execute(f"SELECT count(*), avg({column}) FROM read_parquet('{run.predictions}') "
                              f"WHERE {r['where']}").fetchall()[0]
        assert n == r["size"] and mean == pytest.approx(r["error"])
        assert r["ci_low"] <= r["error"] <= r["ci_high"] and r["lift"] > 1 and r["score"] > 0
        assert 0 <= r["p_value"] <= r["q_value"] <= 1
    scores = d.slices["score"].to_list()
    assert scores == sorted(scores, reverse=True)


def test_regression_runs_use_squared_error(trained):
    _, run = trained["regression"]
    d = discover.discover(run, k=2, max_level=2, alpha=0.95, min_support=20)
    assert d.error == "loss" and d.slices.height >= 1
    assert d.to_dict()["slices"][0]["filters"]


@pytest.mark.parametrize("kwargs, message", [
    ({"error": "misclassification"}, "needs a classification run"),
    ({"alpha": 0}, "Invalid alpha 0"),
    ({"min_support": -1}, "Invalid min_support -1"),
    ({"columns": ["nope"]}, "Unknown column"),
    ({"k": 0}, "at least 1"),
])
def test_bad_discovery_input(trained, kwargs, message):
    _, run = trained["regression"]
    with pytest.raises(WorkbenchError, match=message):
        discover.discover(run, **kwargs)


def test_to_dict_matches_the_cli_shape(trained):
    _, run = trained["binary"]
    out = discover.discover(run, k=2, alpha=0.95, min_support=20).to_dict()
    assert set(out) >= {"slices", "n", "mean_error", "candidates_evaluated", "seconds"}
    assert set(out["slices"][0]) >= {"filters", "where", "size", "error", "score", "ci", "p_value", "q_value",
                                     "confirmed"}
    frame = discover.discover(run, k=2, alpha=0.95, min_support=20).slices
    for row, shown in zip(frame.iter_rows(named=True), out["slices"]):
        assert (shown["size"], shown["error"], shown["ci"]) == (row["size"], row["error"], [row["ci_low"], row["ci_high"]])
        assert shown["filters"] == dict(zip(row["filters"]["column"], row["filters"]["value"]))


def test_q_values_adjust_over_every_candidate_evaluated(trained):
    """Benjamini-Hochberg over all candidates: q is at least p, at most p times the number of
    candidates, and above p for some slice (raw p-values reported as q would fail)."""
    _, run = trained["binary"]
    d = discover.discover(run, k=8, max_level=3, alpha=0.95, min_support=10, error="misclassification")
    s = d.slices.filter(pl.col("p_value").is_not_null())
    m = d.candidates_evaluated
    assert s.height >= 4 and m > s.height
    assert (s["q_value"] >= s["p_value"] - 1e-15).all()
    assert (s["q_value"] <= (s["p_value"] * m).clip(upper_bound=1.0) + 1e-12).all()
    assert (s["q_value"] > s["p_value"]).any()


def test_discovery_tests_are_one_sided(trained):
    """'Does this slice err more than the rest?': statsmodels' pooled z-test, alternative larger,
    on the slice's rows against the rest's."""
    from statsmodels.stats.proportion import proportions_ztest
    _, run = trained["binary"]
    d = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error="misclassification")
    con = duckdb.connect()
    total, wrong_total = con.execute(f"SELECT count(*), sum(1 - _correct::INT) FROM "
                                     f"read_parquet('{run.predictions}')").fetchall()[0]
    for r in d.slices.iter_rows(named=True):
        size, wrong = con.execute(f"SELECT count(*), sum(1 - _correct::INT) FROM read_parquet('{run.predictions}') "
                                  f"WHERE {r['where']}").fetchall()[0]
        assert size == r["size"]
        _, p = proportions_ztest([wrong, wrong_total - wrong], [size, total - size], alternative="larger")
        assert r["p_value"] == pytest.approx(p, rel=1e-8)
