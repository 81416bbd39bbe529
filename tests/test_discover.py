import duckdb
import numpy as np
import polars as pl
import pytest

from workbench.analysis import discover
from workbench import WorkbenchError


WHOLE = dict(confirm=False, permutations=0)  # search and count on the whole holdout, no shuffles


def test_planted_slice_is_found_and_confirmed(trained):
    """c0 = a is planted (labels flipped at random where x0 > 1); chance slices do not confirm."""
    _, run = trained["binary"]
    d = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error="misclassification", **WHOLE)
    assert "c0 = a" in d.slices["predicate"][0] and d.slices["q_value"][0] < 0.05
    assert d.figures_from == discover.FROM_SEARCH and d.slices["confirmed"].is_null().all()
    c = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error="misclassification",
                          permutations=0)
    planted = c.slices.filter(pl.col("predicate").str.contains("c0 = a"))
    assert planted.height and planted["confirmed"].all()
    assert (c.slices["size"] > 0).all() and not c.slices["confirmed"].all()
    assert c.n < run.record.split.n_holdout and c.figures_from == discover.FROM_OTHER_HALF


def _halves(run, seed: int = 0):
    """The holdout's rows in file order, and the rows the search saw: the documented draw, one
    uniform number per row from ``numpy.random.default_rng(seed)``, below 0.5."""
    import numpy as np
    rows = pl.read_parquet(run.predictions)
    return rows, np.random.default_rng(seed).random(rows.height) < 0.5


@pytest.mark.parametrize("error", ["loss", "misclassification"])
def test_figures_shown_come_from_the_half_the_search_did_not_see(trained, error):
    """The oracle: each slice's rows by its WHERE clause, split by the same draw, recounted; the
    shown size, error, interval and one-sided test are the unseen half's, the search_* the other."""
    from statsmodels.stats.proportion import proportions_ztest
    from scipy import stats as sps
    _, run = trained["binary"]
    d = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error=error, permutations=0, seed=3)
    rows, seen = _halves(run, seed=3)
    e = (rows["_loss"] if error == "loss" else 1 - rows["_correct"].cast(pl.Int64)).to_numpy().astype(float)
    con = duckdb.connect()
    con.register("h", rows.with_row_index("_i"))
    assert d.slices.height
    for r in d.slices.iter_rows(named=True):
        inside = np.zeros(rows.height, bool)
        inside[[i for (i,) in con.execute(f"SELECT _i FROM h WHERE {r['where']}").fetchall()]] = True
        for half, size, err, p in ((~seen, r["size"], r["error"], r["p_value"]),
                                   (seen, r["search_size"], r["search_error"], r["search_p"])):
            x, rest = e[half & inside], e[half & ~inside]
            assert size == len(x) and err == pytest.approx(x.mean())
            if error == "misclassification":
                oracle = proportions_ztest([x.sum(), rest.sum()], [len(x), len(rest)], alternative="larger")[1]
            else:
                oracle = sps.ttest_ind(x, rest, equal_var=False, alternative="greater").pvalue
            assert p == pytest.approx(oracle, rel=1e-6)
        assert r["ci_low"] < r["error"] < r["ci_high"]


@pytest.mark.parametrize("error, column", [("loss", "_loss"), ("misclassification", "1 - _correct::INT")])
@pytest.mark.parametrize("binner", ["model", "quantile"])
def test_each_slice_equals_its_rows(trained, error, column, binner):
    """The oracle: select each slice's rows with its WHERE clause and recompute size and error."""
    _, run = trained["binary"]
    alpha = 0.99 if error == "loss" else 0.95
    d = discover.discover(run, k=5, max_level=3, alpha=alpha, min_support=10, error=error, binner=binner, **WHOLE)
    assert d.slices.height > 0 and d.n == run.record.split.n_holdout
    con = duckdb.connect()
    for r in d.slices.iter_rows(named=True):
        n, mean = con.execute(f"SELECT count(*), avg({column}) FROM read_parquet('{run.predictions}') "
                              f"WHERE {r['where']}").fetchall()[0]
        assert n == r["size"] and mean == pytest.approx(r["error"])
        assert r["lift"] > 1 and r["score"] > 0
        if error == "loss" and r["size"] < 30:  # a mean of losses over so few rows gets no interval or test
            assert r["ci_low"] is None and r["p_value"] is None and r["q_value"] == 1
            continue
        assert r["ci_low"] <= r["error"] <= r["ci_high"]
        assert 0 <= r["p_value"] <= r["q_value"] <= 1
    scores = d.slices["score"].to_list()
    assert scores == sorted(scores, reverse=True)


def test_regression_runs_use_squared_error(trained):
    _, run = trained["regression"]
    d = discover.discover(run, k=2, max_level=2, alpha=0.95, min_support=20, **WHOLE)
    assert d.error == "loss" and d.slices.height >= 1
    assert d.to_dict()["slices"][0]["filters"]


@pytest.mark.parametrize("kwargs, message", [
    ({"error": "misclassification"}, "needs a classification run"),
    ({"alpha": 0}, "Invalid alpha 0"),
    ({"min_support": -1}, "Invalid min_support -1"),
    ({"columns": ["nope"]}, "Unknown column"),
    ({"k": 0}, "at least 1"),
    ({"permutations": -1}, "Invalid permutations -1"),
    ({"overlap": 0}, "Invalid overlap 0"),
])
def test_bad_discovery_input(trained, kwargs, message):
    _, run = trained["regression"]
    with pytest.raises(WorkbenchError, match=message):
        discover.discover(run, **kwargs)


def test_to_dict_matches_the_cli_shape(trained):
    _, run = trained["binary"]
    found = discover.discover(run, k=2, alpha=0.95, min_support=20, permutations=5)
    out = found.to_dict()
    assert set(out) >= {"slices", "n", "mean_error", "candidates_evaluated", "seconds", "figures_from", "top_score_p",
                        "permutations"}
    assert set(out["slices"][0]) >= {"filters", "where", "size", "error", "score", "ci", "p_value", "q_value",
                                     "confirmed", "also", "search"}
    assert out["figures_from"] == discover.FROM_OTHER_HALF and out["permutations"] == 5
    frame = found.slices
    for row, shown in zip(frame.iter_rows(named=True), out["slices"]):
        assert (shown["size"], shown["error"], shown["ci"]) == (row["size"], row["error"], [row["ci_low"], row["ci_high"]])
        assert shown["filters"] == dict(zip(row["filters"]["column"], row["filters"]["value"]))


def test_q_values_adjust_over_every_candidate_evaluated(trained):
    """Benjamini-Hochberg over all candidates: q is at least p, at most p times the number of
    candidates, and above p for some slice (raw p-values reported as q would fail)."""
    _, run = trained["binary"]
    d = discover.discover(run, k=8, max_level=3, alpha=0.95, min_support=10, error="misclassification", **WHOLE)
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
    d = discover.discover(run, k=4, max_level=2, alpha=0.95, min_support=10, error="misclassification", **WHOLE)
    con = duckdb.connect()
    total, wrong_total = con.execute(f"SELECT count(*), sum(1 - _correct::INT) FROM "
                                     f"read_parquet('{run.predictions}')").fetchall()[0]
    for r in d.slices.iter_rows(named=True):
        size, wrong = con.execute(f"SELECT count(*), sum(1 - _correct::INT) FROM read_parquet('{run.predictions}') "
                                  f"WHERE {r['where']}").fetchall()[0]
        assert size == r["size"]
        _, p = proportions_ztest([wrong, wrong_total - wrong], [size, total - size], alternative="larger")
        assert r["p_value"] == pytest.approx(p, rel=1e-8)


def _row_sets(run, frame) -> list[set[int]]:
    con = duckdb.connect()
    con.register("h", pl.read_parquet(run.predictions).with_row_index("_i"))
    return [{i for (i,) in con.execute(f"SELECT _i FROM h WHERE {w}").fetchall()} for w in frame["where"]]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


@pytest.mark.parametrize("confirm", [True, False])
def test_a_search_that_finds_nothing_has_the_same_columns(trained, confirm):
    _, run = trained["binary"]
    found = discover.discover(run, k=2, alpha=0.05, min_support=10, confirm=confirm, permutations=5)
    some = discover.discover(run, k=2, alpha=0.95, min_support=10, confirm=confirm, permutations=0)
    assert found.slices.is_empty() and found.top_score_p is None and found.permutations == 0
    assert found.slices.schema == some.slices.schema and some.slices.height


def test_loss_means_of_slices_under_30_unseen_rows_get_no_interval_or_test(trained):
    _, run = trained["binary"]
    found = discover.discover(run, k=8, alpha=0.99, min_support=5, max_level=3, permutations=0)
    small = found.slices.filter(pl.col("size") < 30)
    assert small.height and small["ci_low"].is_null().all() and small["p_value"].is_null().all()
    assert not small["confirmed"].any()


def test_overlapping_findings_are_grouped_under_the_higher_one(trained):
    """Grouped: no two slices shown share as many rows as the threshold (Jaccard by each WHERE
    clause's rows); every grouped slice overlaps the one it is under that much; k findings are
    shown where the search found enough; the raw list (group=False) is the search's top k."""
    _, run = trained["binary"]
    args = dict(k=4, max_level=3, alpha=0.95, min_support=10, error="misclassification", **WHOLE)
    raw = discover.discover(run, group=False, **args)
    grouped = discover.discover(run, overlap=0.3, **args)
    wide = discover.discover(run, group=False, **{**args, "k": 4 * discover.POOL})
    assert raw.slices["predicate"].to_list() == wide.slices["predicate"].head(4).to_list()
    assert grouped.slices.height == 4 and raw.slices["also"].list.len().sum() == 0
    shown = _row_sets(run, grouped.slices)
    for i in range(len(shown)):
        for j in range(i):
            assert _jaccard(shown[i], shown[j]) < 0.3
    everything = dict(zip(wide.slices["predicate"], _row_sets(run, wide.slices)))
    assert grouped.slices["also"].list.len().sum() > 0  # this data has near-duplicates at 0.3
    for r, rows in zip(grouped.slices.iter_rows(named=True), shown):
        for other in r["also"]:
            assert _jaccard(everything[other], rows) >= 0.3


def test_the_permutation_p_value_is_uniform_under_the_null():
    """On errors unrelated to the columns, the top score's p-value is about uniform: its share at or
    below 0.1 and its mean are within binomial and sampling bounds; on a planted slice it is the
    smallest possible, 1 / (R + 1)."""
    from workbench.analysis import sliceline
    rng = np.random.default_rng(0)
    search = dict(max_level=2, alpha=0.95, min_support=10)
    ps = []
    for _ in range(80):
        X = rng.integers(0, 4, size=(300, 4))
        e = (rng.random(300) < 0.2).astype(float)
        lattice = sliceline.find_slices(X, e, [4] * 4, k=1, **search)
        if len(lattice.top):
            ps.append(discover._permutation_p(X, e, [4] * 4, lattice.top_stats[0, 0], 19, rng, search))
    ps = np.array(ps)
    assert len(ps) >= 60
    assert 0.02 <= (ps <= 0.1).mean() <= 0.22 and 0.4 <= ps.mean() <= 0.6
    X = rng.integers(0, 4, size=(300, 4))
    e = np.where((X[:, 0] == 1) & (X[:, 1] == 2), 1.0, (rng.random(300) < 0.1).astype(float))
    best = sliceline.find_slices(X, e, [4] * 4, k=1, **search).top_stats[0, 0]
    assert discover._permutation_p(X, e, [4] * 4, best, 19, rng, search) == pytest.approx(1 / 20)


def test_a_zero_inflated_feature_is_cut_at_the_models_thresholds_with_zero_its_own_bin(tmp_path):
    """A number that is 0 on most rows (capital gains) was coded by its 50 most frequent values;
    it is binned: 0 in a bin of its own, the rest cut at the LightGBM model's own thresholds."""
    from helpers import synthetic_ws
    from workbench.analysis import discover as d
    from workbench.engine import sql_literal
    from workbench.model import train
    from workbench.store import build
    ws = synthetic_ws(tmp_path, 3000, "binary")
    build.build(ws, "gains", "SELECT *, CASE WHEN x0 > 0.8 THEN round(exp(x1 + 3)) ELSE 0 END AS gain FROM source")
    run = train.train(ws, train.TrainSpec("gains", "y", task="binary", seed=1))
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    (feature,) = d.encode(run, ws.cursor(), src, ["gain"], bins=5, binner="model")
    thresholds = {t for t, _ in d.model_thresholds(run)["gain"]}
    assert feature.binning is not None and feature.binning.points == (0,)
    assert set(feature.binning.edges) <= thresholds and feature.domain <= 5 + 3
    assert feature.predicate(feature.binning.labels().index("= 0") + 1) == "gain = 0"
    found = d.discover(run, k=4, alpha=0.95, min_support=10, columns=["gain", "c0"], **WHOLE)
    assert found.slices.height and all("gain in" not in p or "," in p for p in found.slices["predicate"])


def test_a_wide_run_searches_the_models_strongest_columns_and_says_so(trained, monkeypatch):
    import lightgbm as lgb
    _, run = trained["binary"]
    monkeypatch.setattr(discover, "MAX_COLUMNS", 3)
    d = discover.discover(run, k=2, permutations=0)
    booster = lgb.Booster(model_file=str(run.model_path))
    column_of = dict(zip(run.record.model_feature_names, run.record.features))
    gain = sorted(zip(booster.feature_importance("gain"), [column_of[n] for n in booster.feature_name()]), reverse=True)
    assert d.params["columns"] == [c for _, c in gain[:3]]
    assert f"3 of the run's {len(run.record.features)} feature columns" in d.params["columns_note"]
    named = discover.discover(run, k=2, permutations=0, columns=list(run.record.features))
    assert named.params["columns"] == list(run.record.features) and "columns_note" not in named.params
