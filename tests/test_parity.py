"""Rates at a threshold and fairness parity, against fairlearn, scikit-learn, statsmodels and scipy."""
import json

import duckdb
import numpy as np
import polars as pl
import pytest
from fairlearn import metrics as flm
from scipy import stats as sps
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from workbench import WorkbenchError
from workbench.analysis import parity as par
from workbench.analysis import slices
from workbench.analysis.thresholds import THRESHOLD_METRICS
from workbench.cli.main import main
from workbench.stats import rates
from workbench.store import runs

THRESHOLDS = (0.2, 0.5, 0.8)
# rate -> (scikit-learn / fairlearn function of (y_true, y_pred), its denominator as a mask of (y, p))
ORACLE = {
    "selection_rate": (flm.selection_rate, lambda y, p: np.ones(len(y), bool)),
    "tpr": (lambda y, p: skm.recall_score(y, p, zero_division=np.nan), lambda y, p: y == 1),
    "fpr": (flm.false_positive_rate, lambda y, p: y == 0),
    "fnr": (flm.false_negative_rate, lambda y, p: y == 1),
    "precision": (lambda y, p: skm.precision_score(y, p, zero_division=np.nan), lambda y, p: p == 1),
}


def _frame(run):
    f = pl.read_parquet(run.predictions)
    return f, (f["_label"] == run.record.positive_class).cast(pl.Int64).to_numpy()


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_group_rates_equal_fairlearn_metric_frame(trained, threshold):
    _, run = trained["binary"]
    result = par.parity(run, ["c0", "c1"], threshold=threshold, resamples=200)
    f, y = _frame(run)
    p = (f["_score"].to_numpy() >= threshold).astype(int)
    for col in ("c0", "c1"):
        frame = flm.MetricFrame(metrics={r: ORACLE[r][0] for r in THRESHOLD_METRICS}, y_true=y, y_pred=p,
                                sensitive_features=f[col].to_numpy())
        got = result.groups.filter(pl.col("column") == col)
        for r in got.iter_rows(named=True):
            expected = frame.by_group.loc[r["group"], r["rate"]]
            assert (r["value"] is None and np.isnan(expected)) or r["value"] == pytest.approx(expected, abs=1e-12), r
        m = {r["measure"]: r for r in result.measures.filter(pl.col("column") == col).iter_rows(named=True)}
        kw = {"sensitive_features": f[col].to_numpy()}
        assert m["demographic_parity"]["difference"] == pytest.approx(flm.demographic_parity_difference(y, p, **kw))
        assert m["demographic_parity"]["ratio"] == pytest.approx(flm.demographic_parity_ratio(y, p, **kw))
        assert m["equalized_odds"]["difference"] == pytest.approx(flm.equalized_odds_difference(y, p, **kw))
        assert m["equalized_odds"]["ratio"] == pytest.approx(flm.equalized_odds_ratio(y, p, **kw))
        assert m["equal_opportunity"]["difference"] == pytest.approx(flm.equal_opportunity_difference(y, p, **kw))
        assert m["equal_opportunity"]["ratio"] == pytest.approx(flm.equal_opportunity_ratio(y, p, **kw))
        for r in m.values():  # seeded percentile bootstrap: ordered, inside the measure's range
            assert 0 <= r["difference_low"] <= r["difference_high"] <= 1
            assert 0 <= r["ratio_low"] <= r["ratio_high"] <= 1


@pytest.mark.parametrize("metric", THRESHOLD_METRICS)
@pytest.mark.parametrize("by", [("c0",), ("x0",), ("c1", "x2")])
def test_breakdown_rates_equal_scikit_learn_on_each_slice(trained, metric, by):
    """Value, Wilson interval and the test against the rest, on the rows each slice's WHERE selects."""
    _, run = trained["binary"]
    threshold = 0.6
    table = slices.breakdown(run, by, metric=metric, bins=4, threshold=threshold)
    assert table.threshold == threshold and table.to_dict()["threshold"] == threshold
    f, y_all = _frame(run)
    p_all = (f["_score"].to_numpy() >= threshold).astype(int)
    score, mask = ORACLE[metric]
    hits = {"precision": y_all, "fnr": 1 - p_all}.get(metric, p_all)  # what the rate counts
    K, N = hits[mask(y_all, p_all)].sum(), mask(y_all, p_all).sum()
    assert table.overall["value"] == pytest.approx(K / N)
    con = duckdb.connect()
    con.register("p", f.with_row_index("_i").to_arrow())
    for r in table.slices.iter_rows(named=True):
        idx = con.sql(f"SELECT _i FROM p WHERE {r['where']}").pl()["_i"].to_numpy()
        y, pred = y_all[idx], p_all[idx]
        assert len(idx) == r["n"]
        inside = mask(y, pred)
        if not inside.any():
            assert r["value"] is None and r["p_value"] is None
            continue
        assert r["value"] == pytest.approx(score(y, pred), abs=1e-12), r
        k, n = round(r["value"] * inside.sum()), int(inside.sum())
        low, high = proportion_confint(k, n, method="wilson")
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high), abs=1e-12)
        if n < N and 0 < K < N:
            assert r["p_value"] == pytest.approx(proportions_ztest([k, K - k], [n, N - n])[1], rel=1e-9)


def test_positive_rate_stays_the_label_rate_and_says_so(trained):
    _, run = trained["binary"]
    assert "not of those the model predicts" in slices.method("positive_rate")
    assert "fpr" not in slices.slice_metrics(run)  # offered at a threshold, not among the plain metrics
    with pytest.raises(WorkbenchError, match="not available for a regression run"):
        slices.breakdown(trained["regression"][1], ["c0"], metric="fpr")


def test_pairwise_tests_equal_statsmodels_and_fisher():
    k = np.array([30, 45, 2, 60, 0])
    n = np.array([100, 110, 9, 150, 0])
    t = rates.pairwise_rates(k, n)
    for i, (a, b) in enumerate(zip(t.a, t.b)):
        if n[a] == 0 or n[b] == 0:
            assert np.isnan(t.p_value[i]) and t.test[i] == "none"
        elif t.test[i] == "z":
            assert t.p_value[i] == pytest.approx(proportions_ztest([k[a], k[b]], [n[a], n[b]])[1], rel=1e-9)
        else:
            table = [[k[a], n[a] - k[a]], [k[b], n[b] - k[b]]]
            assert t.test[i] == "fisher" and t.p_value[i] == pytest.approx(sps.fisher_exact(table).pvalue)
    assert {"z", "fisher", "none"} == set(t.test)
    tested = np.isfinite(t.p_value)
    assert t.q_value[tested] == pytest.approx(sps.false_discovery_control(t.p_value[tested]))


def test_parity_pairs_equal_statsmodels_on_the_run(trained):
    _, run = trained["binary"]
    result = par.parity(run, ["c0"], threshold=0.5, resamples=100)
    g = {(r["group"], r["rate"]): (r["k"], r["of"]) for r in result.groups.iter_rows(named=True)}
    for r in result.pairs.filter(pl.col("test") == "z").iter_rows(named=True):
        (ka, na), (kb, nb) = g[(r["group_a"], r["rate"])], g[(r["group_b"], r["rate"])]
        assert r["p_value"] == pytest.approx(proportions_ztest([ka, kb], [na, nb])[1], rel=1e-9)


def test_bootstrap_keeps_group_sizes_and_is_seeded():
    cells = np.array([[10, 5, 3, 30], [0, 0, 4, 6]])
    draws = rates.bootstrap_cells(cells, resamples=50, seed=3)
    assert (draws.sum(axis=2) == cells.sum(axis=1)).all()
    assert (draws == rates.bootstrap_cells(cells, resamples=50, seed=3)).all()


def _fake_run(trained, root, frame) -> runs.Run:
    """The trained binary run's record over predictions a test writes, in a workspace under ``root``."""
    _, run = trained["binary"]
    folder = root / ".workbench" / "runs" / run.run_id
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "predictions.parquet")
    return runs.Run(folder, run.record)


def _simulated(seed, n, fpr_b=None):
    """Labels, scores and a sensitive column g; independent unless group b's FPR is raised to ``fpr_b``."""
    rng = np.random.default_rng(seed)
    g = rng.choice(list("abcd"), n)
    y = rng.random(n) < 0.4
    score = rng.random(n) * np.where(y, 1.0, 0.5 / 0.85)  # FPR 0.15 at 0.5, TPR 0.5
    if fpr_b is not None:
        raise_ = (g == "b") & ~y
        score[raise_] = np.where(rng.random(raise_.sum()) < fpr_b, 0.75, 0.25)
    return pl.DataFrame({"_row": np.arange(n), "g": g, "_label": y, "_score": np.clip(score, 0, 0.999)})


def test_null_share_of_pairs_flagged_is_at_most_nominal(trained, tmp_path):
    """Sensitive column independent of labels and scores: the share of pairs with q < 0.05."""
    flagged = total = 0
    for seed in range(60):
        run = _fake_run(trained, tmp_path / f"s{seed}", _simulated(seed, 1200))
        pairs = par.parity(run, ["g"], resamples=20).pairs
        flagged += int(pairs["significant"].sum())
        total += pairs.height
    share = flagged / total
    low, high = proportion_confint(flagged, total, method="wilson")
    print(f"null: {flagged} of {total} pairs flagged, {share:.4f} [{low:.4f}, {high:.4f}]")
    assert low < 0.05 and share <= 0.05


def test_planted_fpr_disparity_is_found(trained, tmp_path):
    run = _fake_run(trained, tmp_path, _simulated(7, 4000, fpr_b=0.30))
    result = par.parity(run, ["g"], resamples=500)
    fpr = result.pairs.filter(pl.col("rate") == "fpr")
    with_b = fpr.filter((pl.col("group_a") == "b") | (pl.col("group_b") == "b"))
    assert with_b["significant"].all() and with_b.height == 3  # b against each of a, c, d
    # the planted gap is the largest; pairs without b differ by chance only (a vs c: 0.135 against 0.187 here)
    assert with_b["diff"].abs().min() > fpr.filter(~pl.col("group_a").eq("b") & ~pl.col("group_b").eq("b"))["diff"].abs().max()
    tpr = result.pairs.filter(pl.col("rate") == "tpr")
    assert not tpr["significant"].any()  # TPR was left equal
    odds = result.measures.filter(pl.col("measure") == "equalized_odds").row(0, named=True)
    assert odds["difference"] == pytest.approx(0.15, abs=0.06)
    assert odds["difference_low"] > 0.05


def test_cli_json_shape(trained, capsys):
    ws, run = trained["binary"]
    assert main(["parity", run.run_id, "--sensitive", "c0", "--sensitive", "c2", "--threshold", "0.4",
                 "--workspace", str(ws.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold"] == 0.4 and out["sensitive"] == ["c0", "c2"] and out["method"]
    c0 = out["columns"]["c0"]
    assert set(c0) == {"groups", "measures", "pairs"}
    assert set(c0["measures"]) == {"demographic_parity", "equal_opportunity", "equalized_odds"}
    assert set(c0["groups"][0]["rates"]) == set(THRESHOLD_METRICS)
    assert set(c0["groups"][0]["rates"]["tpr"]) == {"value", "ci", "k", "of"}
    assert len(c0["pairs"]) == len(THRESHOLD_METRICS) * len(c0["groups"]) * (len(c0["groups"]) - 1) // 2
    assert main(["parity", run.run_id, "--sensitive", "c0", "--workspace", str(ws.root)]) == 0
    assert "demographic_parity" in capsys.readouterr().out
    assert main(["slices", run.run_id, "--by", "c0", "--metric", "fpr", "--threshold", "0.3",
                 "--workspace", str(ws.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "fpr" and out["threshold"] == 0.3


@pytest.mark.parametrize("args, message", [
    (["--sensitive", "nope"], "error: Unknown sensitive column 'nope' in run {run}; columns: "),
    (["--sensitive", "c0", "--threshold", "1.5"],
     "error: Threshold 1.5 is outside (0, 1); give a probability strictly between 0 and 1, e.g. 0.5."),
    (["--sensitive", "c0", "--threshold", "0"],
     "error: Threshold 0.0 is outside (0, 1); give a probability strictly between 0 and 1, e.g. 0.5."),
])
def test_cli_bad_input_is_one_line(trained, capsys, args, message):
    ws, run = trained["binary"]
    assert main(["parity", run.run_id, *args, "--workspace", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(run=run.run_id)) and err.count("\n") == 1


def test_parity_needs_a_binary_run(trained):
    _, run = trained["multiclass"]
    with pytest.raises(WorkbenchError, match=rf"^Parity needs a binary run; run {run.run_id} is a multiclass run\.$"):
        par.parity(run, ["c0"])
