"""Model against model on the same rows: every paired test against its oracle (scipy, statsmodels,
a brute-force DeLong), a planted regression found and nothing else, an A/A comparison flagging no
more than the nominal rate, refusals of runs that cannot be compared, and the CLI's JSON."""
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import special, stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

import workbench as wb
from workbench import WorkbenchError
from workbench.analysis import compare as cmp
from workbench.cli.main import main
from workbench.data import synthetic
from workbench.model import train
from workbench.stats import delong_variance
from workbench.stats.paired import (MCNEMAR_EXACT_BELOW, mcnemar_p, newcombe_interval, paired_delong, paired_means,
                                    paired_rates)
from workbench.store import build, saved as saved_store

OUTPUT = {"binary": "_score", "multiclass": "_pred", "regression": "_pred"}


# --- the paired tests against their oracles -------------------------------------------------

def test_paired_means_is_scipys_paired_t_per_group():
    rng = np.random.default_rng(0)
    n = 900
    g = rng.integers(0, 6, n)
    a = rng.gamma(2.0, size=n)
    b = a + rng.normal(0.1 * g, 1.0)  # a shift that grows with the group
    s = paired_means(a, b, groups=g)
    for k in range(6):
        m = g == k
        t = sps.ttest_rel(b[m], a[m])
        ci = t.confidence_interval()
        assert s.n[k] == m.sum()
        assert s.baseline[k] == pytest.approx(a[m].mean()) and s.candidate[k] == pytest.approx(b[m].mean())
        assert s.delta[k] == pytest.approx((b[m] - a[m]).mean())
        assert s.p_value[k] == pytest.approx(t.pvalue, rel=1e-9)
        assert (s.ci_low[k], s.ci_high[k]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    # no group: one group of all rows; a group below min_rows gets no interval or test
    whole = paired_means(a, b)
    assert whole.p_value[0] == pytest.approx(sps.ttest_rel(b, a).pvalue, rel=1e-9)
    few = paired_means(a[:10], b[:10], min_rows=30)
    assert math.isnan(few.p_value[0]) and math.isnan(few.ci_low[0]) and not math.isnan(few.delta[0])
    same = paired_means(a, a)  # identical losses: no difference, certainly
    assert (same.delta[0], same.ci_low[0], same.ci_high[0], same.p_value[0]) == (0, 0, 0, 1)


@pytest.mark.parametrize("worse, better", [(0, 0), (3, 0), (7, 5), (12, 12), (10, 14), (20, 4), (40, 25), (300, 260)])
def test_mcnemar_is_statsmodels(worse, better):
    table = [[50, worse], [better, 60]]
    exact = worse + better < MCNEMAR_EXACT_BELOW
    expected = mcnemar(table, exact=exact, correction=True).pvalue if worse + better else 1.0
    assert mcnemar_p(worse, better) == pytest.approx(expected, rel=1e-9)
    if exact and worse + better:
        assert mcnemar_p(worse, better) == pytest.approx(
            sps.binomtest(worse, worse + better, 0.5).pvalue, rel=1e-9)


def _newcombe_scalar(a, b, c, d):
    """Newcombe (1998) method 10 written out for one table, Wilson intervals from statsmodels."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, method="wilson")
    l2, u2 = proportion_confint(a + c, n, method="wilson")
    den = (a + b) * (c + d) * (a + c) * (b + d)
    ad_bc = a * d - b * c  # Newcombe's continuity correction of phi (as biostatUZH's confIntPairedProportion)
    ad_bc = ad_bc - n / 2 if ad_bc > n / 2 else (ad_bc if ad_bc < 0 else 0.0)
    phi = ad_bc / math.sqrt(den) if den else 0.0
    dl = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    du = math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return p1 - p2 - dl, p1 - p2 + du


@pytest.mark.parametrize("cells", [(12, 5, 1, 2), (0, 0, 0, 40), (10, 0, 0, 10), (3, 9, 2, 86), (40, 30, 35, 400)])
def test_newcombe_interval_is_the_formula_with_statsmodels_wilson(cells):
    low, high = newcombe_interval(*cells)
    assert (float(low), float(high)) == pytest.approx(_newcombe_scalar(*cells), abs=1e-12)


@pytest.mark.parametrize("cells", [(3, 0, 0, 3), (50, 0, 0, 50), (0, 0, 0, 6), (10, 0, 0, 0)])
def test_newcombe_interval_keeps_a_width_without_discordant_pairs(cells):
    """Two models that agree on every row still leave the difference uncertain: never [0, 0]."""
    low, high = newcombe_interval(*cells)
    assert float(low) < 0 < float(high) and -1 <= float(low) and float(high) <= 1


def test_newcombe_interval_covers_the_true_difference():
    """Coverage over 4,000 simulated paired tables (n = 150) near 95% where Wald's falls short."""
    rng = np.random.default_rng(1)
    probs = np.array([0.05, 0.04, 0.02, 0.89])  # both wrong, only candidate, only baseline, neither
    cells = rng.multinomial(150, probs, size=4000).T
    low, high = newcombe_interval(*cells)
    true = probs[1] - probs[2]
    coverage = np.mean((low <= true) & (true <= high))
    assert 0.93 <= coverage <= 0.975


def test_paired_rates_counts_the_table_per_group():
    rng = np.random.default_rng(2)
    g = rng.integers(0, 4, 2000)
    a = rng.random(2000) < 0.2
    b = np.where(rng.random(2000) < 0.8, a, rng.random(2000) < 0.3 + 0.05 * g)
    s = paired_rates(a, b, groups=g)
    for k in range(4):
        m = g == k
        worse, better = int((~a[m] & b[m]).sum()), int((a[m] & ~b[m]).sum())
        table = [[int((a[m] & b[m]).sum()), better], [worse, int((~a[m] & ~b[m]).sum())]]
        assert s.delta[k] == pytest.approx(b[m].mean() - a[m].mean())
        assert s.p_value[k] == pytest.approx(mcnemar(table, exact=worse + better < 25).pvalue, rel=1e-9)
        assert (s.ci_low[k], s.ci_high[k]) == pytest.approx(
            _newcombe_scalar(table[0][0], worse, better, table[1][1]), abs=1e-12)


def _brute_delong(y, sa, sb):
    """Paired DeLong from every positive-negative pair, as the 1988 paper writes it."""
    def psi(s):
        pos, neg = s[y == 1], s[y == 0]
        return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    pa, pb = psi(sa), psi(sb)
    v10 = np.vstack([pa.mean(axis=1), pb.mean(axis=1)])
    v01 = np.vstack([pa.mean(axis=0), pb.mean(axis=0)])
    S = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    return pa.mean(), pb.mean(), S[0, 0] + S[1, 1] - 2 * S[0, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_delong_is_the_pairwise_computation(seed):
    rng = np.random.default_rng(seed)
    n = 300
    y = (rng.random(n) < 0.3).astype(int)
    sa = np.round(y + rng.normal(0, 1.0, n), 1)  # rounded: ties count one half
    sb = np.round(0.5 * sa + y * 0.3 + rng.normal(0, 0.7, n), 1)
    auc_a, auc_b, var = _brute_delong(y, sa, sb)
    s = paired_delong(y, sa, sb)
    assert s.baseline[0] == pytest.approx(roc_auc_score(y, sa)) and s.baseline[0] == pytest.approx(auc_a)
    assert s.candidate[0] == pytest.approx(auc_b)
    se = math.sqrt(var)
    assert (s.ci_low[0], s.ci_high[0]) == pytest.approx((auc_b - auc_a - 1.959964 * se, auc_b - auc_a + 1.959964 * se))
    assert s.p_value[0] == pytest.approx(2 * sps.norm.sf(abs(auc_b - auc_a) / se), rel=1e-6)
    # against an independent score (no covariance), the variance is the sum of the two DeLong variances
    _, var_a = delong_variance(y, sa)
    same = paired_delong(y, sa, sa)
    assert (same.delta[0], same.p_value[0]) == (0.0, 1.0) and var_a > 0


# --- runs: a trained baseline and candidates imported from its predictions ------------------

def _workspace(root: Path, task: str, rows: int) -> wb.Workspace:
    ws = wb.Workspace.open(root)
    synthetic.write(root / "source.parquet", rows, numeric=4, text=3, task=task, seed=0)
    build.build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source")
    return ws


def _import(ws, name, frame: pl.DataFrame, task, root: Path):
    path = root / f"{name}.parquet"
    frame.write_parquet(path)
    option = "score" if task == "binary" else "pred"
    return wb.import_predictions(ws, name, dataset="synth", file=path, key="id", target="y", **{option: "p"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{task: (workspace, root, trained run, its holdout predictions)}."""
    out = {}
    for task, rows in (("binary", 3000), ("multiclass", 1500), ("regression", 1500)):
        root = tmp_path_factory.mktemp(f"compare_{task}")
        ws = _workspace(root, task, rows)
        run = train.train(ws, train.TrainSpec("synth", "y", task=task, split="time:ts", seed=0, drop=("id",)))
        out[task] = (ws, root, run, pl.read_parquet(run.predictions).sort("_row"))
    return out


def _joined(a: wb.Run, b: wb.Run) -> pl.DataFrame:
    cols = ["_row", "_label", "_loss", "_pred"] + {"binary": ["_correct", "_score"], "multiclass": ["_correct"],
                                                   "regression": []}[a.task]
    return pl.read_parquet(a.predictions).select(*cols, "c0").join(
        pl.read_parquet(b.predictions).select(cols), on="_row", suffix="_b").sort("_row")


def test_a_planted_regression_is_flagged_and_nothing_else(runs):
    ws, root, base, preds = runs["binary"]
    # the candidate: the baseline's own scores, turned around on one slice (c0 = 'b')
    degraded = preds.select("id", pl.when(pl.col("c0") == "b").then(1 - pl.col("_score"))
                            .otherwise(pl.col("_score")).alias("p"))
    cand = _import(ws, "planted", degraded, "binary", root)
    c = wb.compare(base, cand, by=["c0", "x0"])
    flagged = c.regressions()
    c0 = c.slices.filter(pl.col("column") == "c0")
    assert c0.filter(pl.col("regression"))["value"].to_list() == ["b"]
    # every other c0 slice is unchanged: delta 0 and p 1; x0's bins are hit through c0 = 'b' rows
    assert c0.filter(pl.col("value") != "b")["delta"].to_list() == [0.0] * 4
    assert (flagged["delta"] > 0).all() and c.overall["error_rate"]["delta"] > 0
    # the overall figures against the oracles on the joined rows
    j = _joined(base, cand)
    a_wrong, b_wrong = ~j["_correct"].to_numpy(), ~j["_correct_b"].to_numpy()
    table = [[int((a_wrong & b_wrong).sum()), int((a_wrong & ~b_wrong).sum())],
             [int((~a_wrong & b_wrong).sum()), int((~a_wrong & ~b_wrong).sum())]]
    o = c.overall
    assert set(o) == {"error_rate", "log_loss", "roc_auc", "pr_auc", "brier", "f1"}
    assert o["error_rate"]["p_value"] == pytest.approx(mcnemar(table, exact=False).pvalue, rel=1e-9)
    t = sps.ttest_rel(j["_loss_b"].to_numpy(), j["_loss"].to_numpy())
    assert o["log_loss"]["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
    assert o["log_loss"]["ci"] == pytest.approx(list(t.confidence_interval()), rel=1e-9)
    y = (j["_label"] == base.record.positive_class).to_numpy()
    assert o["roc_auc"]["baseline"] == pytest.approx(roc_auc_score(y, j["_score"].to_numpy()))
    assert o["roc_auc"]["candidate"] == pytest.approx(roc_auc_score(y, j["_score_b"].to_numpy()))
    # the flagged slice: its where selects its rows, and its figures are McNemar's on them
    row = flagged.filter(pl.col("column") == "c0").row(0, named=True)
    inside = base.workspace.cursor().execute(
        f"SELECT count(*) FROM read_parquet('{base.predictions}') WHERE {row['where']}").fetchone()[0]
    assert inside == row["n"] == j.filter(pl.col("c0") == "b").height
    s = j.filter(pl.col("c0") == "b")
    assert row["delta"] == pytest.approx((~s["_correct_b"]).mean() - (~s["_correct"]).mean())


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_other_tasks_compare_their_metrics_against_the_oracle(runs, task):
    ws, root, base, preds = runs[task]
    rng = np.random.default_rng(3)
    if task == "regression":
        p = preds["_pred"].to_numpy() + rng.normal(0, 0.3, preds.height)
    else:  # a tenth of the predicted classes moved on by one
        p = np.where(rng.random(preds.height) < 0.1, (preds["_pred"].to_numpy() + 1) % 3, preds["_pred"].to_numpy())
    cand = _import(ws, f"noisy_{task}", preds.select("id").with_columns(p=pl.Series(p)), task, root)
    c = wb.compare(base, cand, by=["c1"])
    j = _joined(base, cand)
    if task == "regression":  # mse from the per-row squared errors, mae from the absolute ones
        assert set(c.overall) == {"mse", "mae", "rmse", "r2"} and c.metric == "mse"
        t = sps.ttest_rel(j["_loss_b"].to_numpy(), j["_loss"].to_numpy())
        assert c.overall["mse"]["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
        ae = [(j["_label"] - j[c_]).abs().to_numpy() for c_ in ("_pred", "_pred_b")]
        assert c.overall["mae"]["p_value"] == pytest.approx(sps.ttest_rel(ae[1], ae[0]).pvalue, rel=1e-9)
        assert c.overall["mae"]["baseline"] == pytest.approx(ae[0].mean())
    else:  # a multiclass import has no probabilities: no log loss
        assert set(c.overall) == {"error_rate", "macro_f1"} and c.metric == "error_rate"
        assert c.overall["error_rate"]["delta"] == pytest.approx(
            (~j["_correct_b"]).mean() - (~j["_correct"]).mean())
    assert c.slices["n"].sum() == c.n == preds.height


def _noisy(preds: pl.DataFrame, seed: int, scale: float = 1.0) -> pl.DataFrame:
    """The model's scores with independent noise on the logit: two draws are exchangeable on every row."""
    rng = np.random.default_rng(seed)
    logit = special.logit(np.clip(preds["_score"].to_numpy(), 1e-6, 1 - 1e-6))
    return preds.select("id").with_columns(p=pl.Series(special.expit(logit + rng.normal(0, scale, preds.height))))


AA_COLUMNS = ["c0", "c1", "c2", "x0", "x1", "x3"]


def _wilson(k, n):
    return tuple(float(x) for x in proportion_confint(k, n, method="wilson"))


def test_an_aa_comparison_flags_no_more_than_the_nominal_rate(runs):
    """Two exchangeable predictions of every row (the same model's scores, independent noise):
    every slice is a true null. Over 12 pairs x 30 slices, regressions (q < 0.05 and worse) are at
    most 5% of slices, and raw p < 0.05 is no more often than 5% (a Wilson interval reaching 5%)."""
    ws, root, base, preds = runs["binary"]
    flagged = raw = tested = 0
    for i in range(12):
        a = _import(ws, f"aa{i}a", _noisy(preds, 100 + 2 * i), "binary", root)
        b = _import(ws, f"aa{i}b", _noisy(preds, 101 + 2 * i), "binary", root)
        s = wb.compare(a, b, by=AA_COLUMNS).slices.filter(pl.col("p_value").is_not_null())
        tested += s.height
        flagged += int(s["regression"].sum())
        raw += int((s["p_value"] < 0.05).sum())
    print(f"A/A (noise): {flagged}/{tested} flagged = {flagged / tested:.3%}, Wilson {_wilson(flagged, tested)}; "
          f"raw p < 0.05: {raw}/{tested}, Wilson {_wilson(raw, tested)}")
    assert tested >= 300
    assert flagged / tested <= 0.05
    assert _wilson(raw, tested)[0] <= 0.05


def test_two_seeds_on_one_time_split_are_comparable_and_rarely_flagged(runs):
    """Trained A/A: the same data, split and settings, another seed (LightGBM's feature_fraction
    makes the models differ). Both hold out the same rows, so they compare."""
    ws, root, base, preds = runs["binary"]
    others = [train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=s, drop=("id",))) for s in (1, 2)]
    flagged = tested = 0
    for a, b in ((base, others[0]), (base, others[1]), (others[0], others[1])):
        s = wb.compare(a, b, by=AA_COLUMNS).slices.filter(pl.col("p_value").is_not_null())
        tested += s.height
        flagged += int(s["regression"].sum())
    print(f"A/A (seeds): {flagged}/{tested} flagged, Wilson {_wilson(flagged, tested)}")
    assert _wilson(flagged, tested)[0] <= 0.05


# --- refusals -------------------------------------------------------------------------------

def test_runs_that_did_not_score_the_same_rows_are_refused(runs, tmp_path):
    ws, root, base, preds = runs["binary"]
    random_split = train.train(ws, train.TrainSpec("synth", "y", seed=0, drop=("id",)))
    with pytest.raises(WorkbenchError, match=r"their holdouts are different rows \(.*time:ts split; .*random split"):
        wb.compare(base, random_split)
    part = _import(ws, "half", preds.head(preds.height // 2).select("id", p=pl.col("_score")), "binary", root)
    with pytest.raises(WorkbenchError, match="their holdouts are different rows"):
        wb.compare(base, part)
    with pytest.raises(WorkbenchError) as e:
        wb.compare(base, base)
    assert str(e.value) == cmp.SAME_RUN.format(run=base.run_id)
    with pytest.raises(WorkbenchError, match=r"Unknown column 'nope' in run .*; columns: id, x0"):
        wb.compare(base, part, by=["nope"])
    # another version of the dataset, and another dataset (in a workspace of their own)
    ws = _workspace(tmp_path, "binary", 800)
    base = train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=0, drop=("id",)))
    build.build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source WHERE x1 < 2")
    v2 = train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=0, drop=("id",)))
    with pytest.raises(WorkbenchError) as e:
        wb.compare(base, v2)
    assert str(e.value).startswith(f"Runs {base.run_id} and {v2.run_id} cannot be compared: they were made on "
                                   f"different versions of dataset 'synth' (v1, hash ")
    build.build(ws, "other", "SELECT row_number() OVER () AS id, * FROM source")
    other = train.train(ws, train.TrainSpec("other", "y", split="time:ts", seed=0, drop=("id",)))
    with pytest.raises(WorkbenchError) as e:
        wb.compare(base, other)
    what = "they were made on different datasets ('synth' and 'other')"
    assert str(e.value) == cmp.DIFFERENT.format(baseline=base.run_id, candidate=other.run_id, what=what)


# --- the CLI --------------------------------------------------------------------------------

def test_cli_json_is_the_comparison_and_a_refusal_is_one_line(runs, capsys):
    ws, root, base, preds = runs["binary"]
    cand = _import(ws, "cli_cand", _noisy(preds, 7, 0.5), "binary", root)
    args = ["compare", base.run_id, cand.run_id, "--by", "c0", "--by", "x0", "--workspace", str(ws.root)]
    assert main([*args, "--json"]) == 0  # by default the CLI also searches for slices where the candidate is worse
    searched = json.loads(capsys.readouterr().out)
    assert searched["params"]["find"] is True and searched["params"]["saved"] == []
    args.append("--no-find")
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads(json.dumps(wb.compare(base, cand, by=["c0", "x0"]).to_dict(), allow_nan=True)
                             .replace("NaN", "null"))
    assert (out["baseline"], out["candidate"], out["by"], out["metric"]) == (base.run_id, cand.run_id,
                                                                              ["c0", "x0"], "error_rate")
    assert set(out["overall"]) == {"error_rate", "log_loss", "roc_auc", "pr_auc", "brier", "f1"} == set(out["method"])
    for entry in out["overall"].values():
        assert set(entry) == {"baseline", "candidate", "delta", "ci", "p_value"} and len(entry["ci"]) == 2
    assert len(out["slices"]) >= 10
    for s in out["slices"]:
        assert set(s) == {"filters", "where", "n", "baseline", "candidate", "delta", "ci", "p_value", "q_value",
                          "regression", "source", "method"} and s["source"] == "column"
        assert len(s["filters"]) == 1 and isinstance(s["regression"], bool)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "against" in text and "McNemar" in text and "q: Benjamini-Hochberg" in text
    assert main(["compare", base.run_id, "nope", "--workspace", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown run 'nope'") and err.count("\n") == 1


# --- the paired bootstrap metrics against direct resampling loops ---------------------------

def _loop(rng, n, draws, statistic):
    """The textbook paired bootstrap: resample row indices, score both sides on them."""
    return np.array([statistic(rng.integers(0, n, size=n)) for _ in range(draws)])


def test_rmse_r2_and_pr_auc_draws_are_a_resampling_loop_over_rows():
    from sklearn.metrics import average_precision_score, mean_squared_error, r2_score
    from workbench.stats.paired_boot import paired_pr_auc, paired_regression
    rng = np.random.default_rng(4)
    n = 400
    y = rng.normal(size=n)
    a, b = y + rng.normal(0, 1, n), y + rng.normal(0, 1.2, n)
    rmse, r2, method = paired_regression(y, a, b, seed=9, draws=60)
    assert "paired bootstrap over rows (60 draws" in method
    loop = np.random.default_rng(9)
    d = _loop(loop, n, 60, lambda i: (mean_squared_error(y[i], b[i]) ** 0.5 - mean_squared_error(y[i], a[i]) ** 0.5,
                                      r2_score(y[i], b[i]) - r2_score(y[i], a[i])))
    assert rmse.baseline[0] == pytest.approx(mean_squared_error(y, a) ** 0.5)
    assert r2.candidate[0] == pytest.approx(r2_score(y, b))
    assert (rmse.ci_low[0], rmse.ci_high[0]) == pytest.approx(tuple(np.quantile(d[:, 0], [0.025, 0.975])), rel=1e-9)
    assert (r2.ci_low[0], r2.ci_high[0]) == pytest.approx(tuple(np.quantile(d[:, 1], [0.025, 0.975])), rel=1e-9)
    side = min((d[:, 1] <= 0).sum(), (d[:, 1] >= 0).sum())
    assert r2.p_value[0] == pytest.approx(min(1, 2 * (1 + side) / 61))
    # PR AUC with tied scores (rounded), against scikit-learn's average precision on each draw
    yb = rng.random(n) < 0.3
    sa, sb = np.round(yb * 0.4 + rng.random(n), 1), np.round(yb * 0.2 + rng.random(n), 1)
    s, method = paired_pr_auc(yb, sa, sb, seed=5, draws=60)
    d = _loop(np.random.default_rng(5), n, 60,
              lambda i: average_precision_score(yb[i], sb[i]) - average_precision_score(yb[i], sa[i]))
    assert s.baseline[0] == pytest.approx(average_precision_score(yb, sa))
    assert (s.ci_low[0], s.ci_high[0]) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])), rel=1e-9)
    # above max_rows: a subset's spread, scaled; the point values still all the rows'
    big, method = paired_pr_auc(yb, sa, sb, seed=5, draws=60, max_rows=100)
    assert "subset of 100 of the 400 rows" in method and big.delta[0] == pytest.approx(s.delta[0])
    assert big.ci_low[0] < big.delta[0] < big.ci_high[0]


def test_f1_and_macro_f1_cells_match_a_resampling_loop():
    from sklearn.metrics import f1_score
    from workbench.stats.paired_boot import paired_f1, paired_macro_f1
    rng = np.random.default_rng(6)
    n = 500
    y = rng.random(n) < 0.4
    a = np.where(rng.random(n) < 0.8, y, ~y)
    b = np.where(rng.random(n) < 0.7, y, ~y)
    s = paired_f1(y, a, b, seed=1)
    assert (s.baseline[0], s.candidate[0]) == pytest.approx((f1_score(y, a), f1_score(y, b)))
    d = _loop(np.random.default_rng(2), n, 2000, lambda i: f1_score(y[i], b[i]) - f1_score(y[i], a[i]))
    low, high = np.quantile(d, [0.025, 0.975])
    width = high - low
    assert abs(s.ci_low[0] - low) < 0.1 * width and abs(s.ci_high[0] - high) < 0.1 * width
    yc = rng.integers(0, 4, n)
    pa, pb = (np.where(rng.random(n) < q, yc, rng.integers(0, 4, n)) for q in (0.7, 0.6))
    m = paired_macro_f1(yc, pa, pb, n_classes=5, seed=1)  # class 4: no row, no prediction, F1 0
    assert m.baseline[0] == pytest.approx(f1_score(yc, pa, average="macro", labels=range(5), zero_division=0))
    d = _loop(np.random.default_rng(3), n, 2000, lambda i: f1_score(yc[i], pb[i], average="macro", labels=range(5),
                                                                   zero_division=0)
              - f1_score(yc[i], pa[i], average="macro", labels=range(5), zero_division=0))
    low, high = np.quantile(d, [0.025, 0.975])
    assert abs(m.ci_low[0] - low) < 0.1 * (high - low) and abs(m.ci_high[0] - high) < 0.1 * (high - low)


# --- saved slices and slices found where the candidate is worse ----------------------------

def test_a_planted_regression_is_found_by_column_saved_slice_and_search(runs):
    ws, root, base, preds = runs["binary"]
    degraded = preds.select("id", pl.when(pl.col("c0") == "b").then(1 - pl.col("_score"))
                            .otherwise(pl.col("_score")).alias("p"))
    cand = _import(ws, "planted_found", degraded, "binary", root)
    saved_store.save(ws, "bees", "c0 = 'b'", run=base)
    saved_store.save(ws, "not_bees", "c0 <> 'b'", run=base)
    try:
        c = wb.compare(base, cand, by=["c0"], find=True, seed=1)
    finally:
        for name in ("bees", "not_bees"):
            (ws.slices_dir / f"{name}.json").unlink()
    flagged = c.regressions()
    assert set(flagged["source"]) == {"column", "saved", "found"}
    saved = c.slices.filter(pl.col("source") == "saved")
    assert saved.filter(pl.col("regression"))["column"].to_list() == ["slice:bees"]
    assert saved.filter(~pl.col("regression"))["delta"].to_list() == [0.0]  # the rows outside are unchanged
    j = _joined(base, cand).filter(pl.col("c0") == "b")
    row = saved.filter(pl.col("regression")).row(0, named=True)
    assert row["n"] == j.height and row["delta"] == pytest.approx((~j["_correct_b"]).mean() - (~j["_correct"]).mean())
    found = c.slices.filter(pl.col("source") == "found")
    top = found.row(0, named=True)  # worst first: the search's best finding is the planted slice
    assert top["regression"] and "c0" in top["filters"]["column"]
    half = np.random.default_rng(1).random(c.n) >= 0.5  # tested on the half the search did not see
    inside = base.workspace.cursor().execute(
        f"SELECT _row FROM read_parquet('{base.predictions}') WHERE {top['where']} ORDER BY _row").fetchnumpy()["_row"]
    rows = np.sort(pl.read_parquet(base.predictions)["_row"].to_numpy())
    assert top["n"] == int(half[np.isin(rows, inside)].sum())
    out = c.to_dict()
    assert {s["source"] for s in out["slices"]} == {"column", "saved", "found"}
    assert all(s["method"] and set(s["ci"]) for s in out["slices"]) and out["params"]["find"]
    # every slice of every source in one Benjamini-Hochberg family
    p = c.slices["p_value"].drop_nulls().to_numpy()
    from workbench.stats.significance import bh_qvalues
    assert c.slices["q_value"].drop_nulls().to_numpy() == pytest.approx(bh_qvalues(p))


def test_found_slices_flag_no_more_than_the_nominal_rate_under_aa(runs):
    """Exchangeable predictions (independent noise on the same scores): whatever the search
    finds on one half is a true null on the other."""
    ws, root, base, preds = runs["binary"]
    flagged = tested = 0
    for i in range(10):
        a = _import(ws, f"aaf{i}a", _noisy(preds, 500 + 2 * i), "binary", root)
        b = _import(ws, f"aaf{i}b", _noisy(preds, 501 + 2 * i), "binary", root)
        s = wb.compare(a, b, by=["c0"], find=True, seed=i).slices
        s = s.filter((pl.col("source") == "found") & pl.col("p_value").is_not_null())
        tested += s.height
        flagged += int(s["regression"].sum())
    print(f"A/A found slices: {flagged}/{tested} flagged, Wilson {_wilson(flagged, tested)}")
    assert tested >= 30 and _wilson(flagged, tested)[0] <= 0.05


def test_the_search_on_a_wide_run_covers_the_models_strongest_columns_and_says_so(runs, monkeypatch):
    from workbench.analysis import discover
    ws, root, base, preds = runs["binary"]
    degraded = preds.select("id", pl.when(pl.col("c0") == "b").then(1 - pl.col("_score"))
                            .otherwise(pl.col("_score")).alias("p"))
    cand = _import(ws, "planted_wide", degraded, "binary", root)
    monkeypatch.setattr(discover, "MAX_COLUMNS", 2)
    kept, _ = discover.strongest(base, list(base.record.features))
    c = wb.compare(base, cand, find=True, seed=1, saved=False)
    assert "2 of the run's" in c.to_dict()["params"]["columns_note"]
    found = c.slices.filter(pl.col("source") == "found")
    assert found.height and all(set(f["column"]) <= set(kept) for f in found["filters"].to_list())
