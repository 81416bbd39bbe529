"""The release gate: its rule parser (good rules, bad ones with messages naming the grammar), each
kind of rule against direct computation on the rows (scikit-learn, fairlearn, statsmodels, scipy's
Benjamini-Hochberg), false alarms under the null, the CLI's exit codes and its JUnit XML."""
import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fairlearn import metrics as flm
from scipy import special, stats as sps
from statsmodels.stats.proportion import proportion_confint

import workbench as wb
from workbench import WorkbenchError
from workbench.analysis import gate as g
from workbench.cli.main import GATE_INTERNAL
from workbench.cli.main import main
from workbench.data import synthetic
from workbench.model import train
from workbench.render import junit, text
from workbench.store import build


# --- the parser -------------------------------------------------------------------------------

GOOD = [
    ("roc_auc>=0.85", dict(kind="metric", metric="roc_auc", op=">=", threshold=0.85, bound=None)),
    ("roc_auc.low >= 0.85", dict(kind="metric", metric="roc_auc", bound="low")),
    ("log_loss.high<.5 model=linear", dict(kind="metric", bound="high", op="<", threshold=0.5,
                                           options={"model": "linear"})),
    ("worst_slice(carrier,origin).error_rate<=0.3 min_size=200",
     dict(kind="worst_slice", columns=("carrier", "origin"), metric="error_rate", options={"min_size": 200})),
    ("worst_slice(c0).fpr.high<=0.3 threshold=0.7 bins=3",
     dict(kind="worst_slice", metric="fpr", bound="high", options={"threshold": 0.7, "bins": 3})),
    ("parity(sex).fpr_difference<=0.05", dict(kind="parity", columns=("sex",), metric="fpr_difference")),
    ("parity(sex, race).demographic_parity_ratio.low>=0.8 threshold=0.4",
     dict(kind="parity", columns=("sex", "race"), metric="demographic_parity_ratio", bound="low",
          options={"threshold": 0.4})),
    ("regressions==0", dict(kind="regressions", columns=(), metric=None, op="==", threshold=0.0)),
    ("regressions <= 2 by=carrier,origin min_size=50", dict(kind="regressions", columns=("carrier", "origin"),
                                                             options={"min_size": 50})),
    ("delta(roc_auc).low>=-0.01", dict(kind="delta", metric="roc_auc", bound="low", threshold=-0.01)),
    ("delta(log_loss)!=1e-3", dict(kind="delta", metric="log_loss", op="!=", threshold=0.001)),
]


@pytest.mark.parametrize("rule, fields", GOOD)
def test_good_rules_parse_into_their_parts(rule, fields):
    r = g.parse_rule(rule)
    assert r.text == rule.strip()
    for name, value in fields.items():
        assert getattr(r, name) == value, name


BAD = [
    ("", "it is empty"),
    ("roc_auc", "expected a comparison (>=, <=, >, <, == or !=), found the end"),
    ("roc_auc>=", "expected a number after the comparison, found the end"),
    ("roc_auc=>0.5", "expected a comparison (>=, <=, >, <, == or !=), found '='"),
    ("roc_auc>=high", "expected a number after the comparison, found 'high'"),
    ("roc_auc.mid>=0.5", "unknown bound 'mid'; write .low or .high"),
    ("roc_auc>=0.5; import os", "unexpected '; import os'"),
    ("__import__('os')>=1", "unexpected \"'os')>=1\""),
    ("__import__(os)>=1", "unknown function '__import__'; the functions are worst_slice, parity and delta"),
    ("worst_slice().error_rate<=0.3", "expected a column name, found ')'"),
    ("worst_slice(c0)<=0.3", "expected '.', found '<='"),
    ("worst_slice(c0).error_rate<=0.3 min_size=0", "min_size must be a whole number of at least 1, got 0"),
    ("worst_slice(c0).error_rate<=0.3 min_size=2.5", "min_size must be a whole number of at least 1, got 2.5"),
    ("worst_slice(c0).error_rate<=0.3 foo=1", "unknown option 'foo' for a worst_slice rule (options: min_size, "
                                              "bins, threshold)"),
    ("worst_slice(c0).error_rate<=0.3 threshold=0.4", "threshold= applies to the rates at a threshold"),
    ("worst_slice(c0).fpr<=0.3 bins=2 bins=3", "option 'bins' is given twice"),
    ("parity(sex).fpr<=0.05", "unknown parity measure 'fpr' (measures: demographic_parity_difference"),
    ("regressions.low==0", "regressions is a count; it has no .low or .high"),
    ("delta(roc_auc,log_loss)>=0", "delta(...) takes one metric"),
    ("roc_auc>=0.8 min_size=3", "unknown option 'min_size' for a metric rule (options: model)"),
    ("delta(roc_auc)>=0 by=c0", "unknown option 'by' for a delta rule (options: none)"),
    ("worst_slice(c0,c0).error_rate<=0.3", "column 'c0' is named twice"),
    ("regressions==0 by=c0,c0", "column 'c0' is named twice"),
]


@pytest.mark.parametrize("rule, problem", BAD)
def test_bad_rules_name_the_problem_and_the_grammar(rule, problem):
    with pytest.raises(WorkbenchError) as e:
        g.parse_rule(rule)
    message = str(e.value)
    assert message.startswith(f"Bad rule {rule.rstrip()!r}: {problem}")
    assert message.endswith(g.GRAMMAR) and "\n" not in message


# --- a binary run of the session, each rule against the rows ------------------------------------

def _frame(run):
    f = pl.read_parquet(run.predictions)
    return f, (f["_label"] == run.record.positive_class).cast(pl.Int64).to_numpy()


@pytest.mark.parametrize("op", list(g.COMPARATORS))
@pytest.mark.parametrize("bound", [None, "low", "high"])
def test_a_metric_rule_compares_the_recorded_metric_or_its_bound(trained, op, bound):
    _, run = trained["binary"]
    m = run.record.metrics["lightgbm"]
    expected = {None: m["roc_auc"], "low": m["roc_auc_ci"][0], "high": m["roc_auc_ci"][1]}[bound]
    for threshold in (round(expected, 3), expected, 0.5, 0.99):
        rule = f"roc_auc{'.' + bound if bound else ''}{op}{threshold!r}"
        v = g.gate(run, [rule]).verdicts[0]
        assert v.value == expected and v.ci == tuple(m["roc_auc_ci"])
        assert v.passed == {">=": expected >= threshold, "<=": expected <= threshold, ">": expected > threshold,
                            "<": expected < threshold, "==": expected == threshold,
                            "!=": expected != threshold}[op], rule
    linear = g.gate(run, ["log_loss<=9 model=linear"]).verdicts[0]
    assert linear.value == run.record.metrics["linear"]["log_loss"] and "model linear" in linear.on


def test_a_metric_rule_refuses_an_unknown_metric_or_model(trained):
    _, run = trained["binary"]
    with pytest.raises(WorkbenchError, match=r"unknown metric 'rmse' for run .*; metrics: log_loss, accuracy"):
        g.gate(run, ["rmse<=1"])
    with pytest.raises(WorkbenchError, match=r"has no model 'xgb'; models: lightgbm"):
        g.gate(run, ["roc_auc>=0.5 model=xgb"])


def _worst(f: pl.DataFrame, y: np.ndarray, column: str, hits: np.ndarray, among: np.ndarray, min_size: int):
    """Per value of ``column``: (rate, k, n of the rate's rows, rows) with at least ``min_size`` rows."""
    out = {}
    for value in f[column].unique().to_list():
        rows = (f[column] == value).to_numpy()
        inside = rows & among
        if rows.sum() >= min_size and inside.sum():
            out[value] = (hits[inside].mean(), int(hits[inside].sum()), int(inside.sum()), int(rows.sum()))
    return out


@pytest.mark.parametrize("bound", [None, "low", "high"])
def test_the_worst_slice_is_the_worst_over_every_columns_slices(trained, bound):
    _, run = trained["binary"]
    f, y = _frame(run)
    wrong = (~f["_correct"]).to_numpy().astype(float)
    quantity = {None: 0, "low": 1, "high": 2}[bound]
    groups = {c: _worst(f, y, c, wrong, np.ones(len(y), bool), 100) for c in ("c0", "c1")}
    m = sum(len(x) for x in groups.values())  # slices compared: a bound is simultaneous over them
    scale = sps.norm.ppf(1 - 0.025 / m) / sps.norm.ppf(0.975)
    candidates = []
    for column, found in groups.items():
        for value, (rate, k, n, rows) in found.items():
            low, high = proportion_confint(k, n, method="wilson")
            if bound:  # Bonferroni: each side's reach widened; close to Wilson at alpha 0.05 / m
                low, high = rate - scale * (rate - low), rate + scale * (high - rate)
                assert (low, high) == pytest.approx(proportion_confint(k, n, alpha=0.05 / m, method="wilson"),
                                                    abs=0.01)
            candidates.append(((rate, low, high)[quantity], column, value, rate, (low, high), rows))
    expected = max(candidates, key=lambda c: c[0])
    rule = f"worst_slice(c0,c1).error_rate{'.' + bound if bound else ''}<=0.2 min_size=100"
    v = g.gate(run, [rule]).verdicts[0]
    assert v.value == pytest.approx(expected[0], abs=1e-12)
    assert v.ci == pytest.approx(expected[4], abs=1e-12)
    assert ("Bonferroni simultaneous" in v.method) == (bound is not None)
    assert (v.details["column"], v.details["slice"], v.details["n"]) == expected[1:3] + (expected[5],)
    assert v.details["slices"] == len(candidates)
    assert f"{expected[1]} = {expected[2]}" in v.on and v.passed == (expected[0] <= 0.2)


def test_worst_slice_follows_the_metrics_direction_and_a_threshold(trained):
    _, run = trained["binary"]
    f, y = _frame(run)
    threshold = 0.7
    pred = (f["_score"].to_numpy() >= threshold).astype(float)
    # tpr: higher is better, so the worst is the lowest, among the actual positives
    tpr = _worst(f, y, "c1", pred, y == 1, 1)
    v = g.gate(run, [f"worst_slice(c1).tpr>=0.1 threshold={threshold}"]).verdicts[0]
    assert v.value == pytest.approx(min(r[0] for r in tpr.values())) and v.details["slice"] == min(tpr, key=lambda k: tpr[k][0])
    # selection_rate has no better direction: the comparison decides (the largest for <=, the smallest for >=)
    sel = _worst(f, y, "c1", pred, np.ones(len(y), bool), 1)
    assert g.gate(run, [f"worst_slice(c1).selection_rate<=1 threshold={threshold}"]).verdicts[0].value == \
        pytest.approx(max(r[0] for r in sel.values()))
    assert g.gate(run, [f"worst_slice(c1).selection_rate>=0 threshold={threshold}"]).verdicts[0].value == \
        pytest.approx(min(r[0] for r in sel.values()))
    # a comparison against the metric's direction checks the slice that threatens it: tpr <= x the highest,
    # error_rate >= x the lowest (else a rule would pass while some slice breaks it)
    assert g.gate(run, [f"worst_slice(c1).tpr<=1 threshold={threshold}"]).verdicts[0].value == \
        pytest.approx(max(r[0] for r in tpr.values()))
    wrong = (~f["_correct"]).to_numpy().astype(float)
    errors = _worst(f, y, "c1", wrong, np.ones(len(y), bool), 1)
    assert g.gate(run, ["worst_slice(c1).error_rate>=0"]).verdicts[0].value == \
        pytest.approx(min(r[0] for r in errors.values()))
    with pytest.raises(WorkbenchError, match="selection_rate has no better direction"):
        g.gate(run, ["worst_slice(c1).selection_rate==0.5"])
    none = g.gate(run, ["worst_slice(c0).error_rate<=1 min_size=1000000"]).verdicts[0]
    assert none.value is None and not none.passed and none.verdict == "no value"  # a gate fails closed


def test_a_widened_bound_never_leaves_the_metrics_range(trained):
    """Tiny slices have wide intervals; widened over many slices they must still stay in [0, 1]."""
    _, run = trained["binary"]
    for rule in ("worst_slice(x0,x1).error_rate.high<=0.3 bins=300", "worst_slice(x0,x1).accuracy.low>=0.5 bins=300"):
        v = g.gate(run, [rule]).verdicts[0]
        assert v.details["slices"] > 10 and 0 <= v.ci[0] < v.ci[1] <= 1, rule


@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_parity_rules_equal_fairlearn(trained, threshold):
    _, run = trained["binary"]
    f, y = _frame(run)
    p = (f["_score"].to_numpy() >= threshold).astype(int)
    t = f"threshold={threshold}"
    for col in ("c0", "c1"):
        kw = {"sensitive_features": f[col].to_numpy()}
        fpr = flm.MetricFrame(metrics=flm.false_positive_rate, y_true=y, y_pred=p, **kw)
        assert g.gate(run, [f"parity({col}).fpr_difference<=1 {t}"]).verdicts[0].value == \
            pytest.approx(fpr.difference())
        assert g.gate(run, [f"parity({col}).fpr_ratio>=0 {t}"]).verdicts[0].value == pytest.approx(fpr.ratio())
        assert g.gate(run, [f"parity({col}).demographic_parity_ratio>=0 {t}"]).verdicts[0].value == \
            pytest.approx(flm.demographic_parity_ratio(y, p, **kw))
        assert g.gate(run, [f"parity({col}).equalized_odds_difference<=1 {t}"]).verdicts[0].value == \
            pytest.approx(flm.equalized_odds_difference(y, p, **kw))
    # over two columns the worst counts: the larger difference
    both = g.gate(run, [f"parity(c0,c1).fpr_difference<=1 {t}"]).verdicts[0]
    each = [flm.MetricFrame(metrics=flm.false_positive_rate, y_true=y, y_pred=p,
                            sensitive_features=f[c].to_numpy()).difference() for c in ("c0", "c1")]
    assert both.value == pytest.approx(max(each)) and both.details["column"] == ("c0", "c1")[int(np.argmax(each))]


def test_a_rates_interval_is_parity_s_bootstrap_of_the_same_cells(trained):
    """tpr_difference is equal opportunity's and selection_rate_difference demographic parity's, so
    their bootstrap intervals (the same cells, seed and draws) must agree exactly: the cells are
    rebuilt right from the groups' counts."""
    _, run = trained["binary"]
    p = wb.parity(run, ["c0"])
    m = {r["measure"]: r for r in p.measures.iter_rows(named=True)}
    for rate, measure in (("tpr", "equal_opportunity"), ("selection_rate", "demographic_parity")):
        for stat in ("difference", "ratio"):
            v = g.gate(run, [f"parity(c0).{rate}_{stat}.low>=0"]).verdicts[0]
            assert v.ci == pytest.approx((m[measure][f"{stat}_low"], m[measure][f"{stat}_high"]), abs=1e-12)
            assert v.value == pytest.approx(m[measure][f"{stat}_low"], abs=1e-12)


# --- against a baseline: runs that scored the same rows ------------------------------------------

def _import(ws, name, frame: pl.DataFrame, root: Path):
    path = root / f"{name}.parquet"
    frame.write_parquet(path)
    return wb.import_predictions(ws, name, dataset="synth", file=path, key="id", target="y", score="p")


def _noisy(preds: pl.DataFrame, seed: int, scale: float = 1.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    logit = special.logit(np.clip(preds["_score"].to_numpy(), 1e-6, 1 - 1e-6))
    return preds.select("id").with_columns(p=pl.Series(special.expit(logit + rng.normal(0, scale, preds.height))))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(workspace, root, a trained baseline on a time split, its holdout predictions)."""
    root = tmp_path_factory.mktemp("gate")
    ws = wb.Workspace.open(root)
    synthetic.write(root / "source.parquet", 3000, numeric=4, text=3, task="binary", seed=0)
    build.build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source")
    base = train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=0, drop=("id",)))
    return ws, root, base, pl.read_parquet(base.predictions).sort("_row")


HIGHER_IS_BETTER = {"roc_auc", "pr_auc", "f1", "accuracy", "macro_f1", "r2"}  # of the overall metrics


def test_regressions_count_the_worse_tests_by_benjamini_hochberg_over_all(pair):
    ws, root, base, preds = pair
    planted = preds.select("id", pl.when(pl.col("c0") == "b").then(1 - pl.col("_score"))
                           .otherwise(pl.col("_score")).alias("p"))
    cand = _import(ws, "planted", planted, root)
    v = g.gate(cand, ["regressions==0 by=c0,x0"], baseline=base).verdicts[0]
    c = wb.compare(base, cand, by=["c0", "x0"])
    # the oracle: scipy's BH over the overall tests and every slice tested, worse and q < 0.05
    slices = c.slices.filter(pl.col("p_value").is_not_null())
    p = np.array([o["p_value"] for o in c.overall.values()] + slices["p_value"].to_list())
    worse = np.array([(o["delta"] < 0) if m in HIGHER_IS_BETTER else (o["delta"] > 0) for m, o in c.overall.items()]
                     + (slices["delta"] > 0).to_list())
    q = sps.false_discovery_control(p)
    assert v.value == int((worse & (q < 0.05)).sum()) >= 2 and not v.passed
    found = {r["what"] for r in v.details["regressions"]}
    assert "c0 = b" in found and "overall error_rate" in found
    assert not any(w.startswith("c0 = ") and w != "c0 = b" for w in found)
    assert v.details["tested"] == len(p) and "c0 = b" in v.on


def test_delta_is_the_comparisons_paired_difference(pair):
    ws, root, base, preds = pair
    cand = _import(ws, "noisy", _noisy(preds, 7, 0.5), root)
    c = wb.compare(base, cand)
    for metric in c.overall:
        for bound, expected in ((None, c.overall[metric]["delta"]), ("low", c.overall[metric]["ci"][0]),
                                ("high", c.overall[metric]["ci"][1])):
            v = g.gate(cand, [f"delta({metric}){'.' + bound if bound else ''}>=-0.01"], baseline=base).verdicts[0]
            assert v.value == pytest.approx(expected) and v.passed == (expected >= -0.01)
            assert v.method == c.method[metric]
    with pytest.raises(WorkbenchError, match=r"no paired difference of 'rmse' for a binary run; metrics: error_rate"):
        g.gate(cand, ["delta(rmse)<=0"], baseline=base)
    with pytest.raises(WorkbenchError, match="compares the run with a baseline; give one with --baseline RUN"):
        g.gate(cand, ["roc_auc>=0", "delta(roc_auc)>=0"])


def test_regressions_rarely_fail_two_equally_good_models(pair):
    """A/A: the same scores with independent noise, no true difference anywhere. ``regressions==0``
    fails in no more than 5% of gates (Wilson interval reaching 5%), and ``delta(roc_auc).high>=0``
    (the candidate's AUC surely lower) rarely; the point-value rule ``delta(roc_auc)>=0`` is printed,
    not asserted: under the null it fails whenever the noise favours the baseline."""
    ws, root, base, preds = pair
    fails = point = bound = 0
    pairs = 16
    for i in range(pairs):
        a = _import(ws, f"aa{i}a", _noisy(preds, 200 + 2 * i), root)
        b = _import(ws, f"aa{i}b", _noisy(preds, 201 + 2 * i), root)
        v = g.gate(b, ["regressions==0 by=c0,c1,c2,x0,x1,x3", "delta(roc_auc)>=0", "delta(roc_auc).high>=0"],
                   baseline=a).verdicts
        fails += not v[0].passed
        point += not v[1].passed
        bound += not v[2].passed
    low = proportion_confint(fails, pairs, method="wilson")[0]
    print(f"A/A over {pairs} pairs: regressions==0 failed {fails}, delta(roc_auc)>=0 {point}, "
          f"delta(roc_auc).high>=0 {bound}")
    assert low <= 0.05 and bound <= 2


def test_parity_rules_on_groups_with_no_difference(tmp_path):
    """Random groups, independent of label and score: no true gap. ``fpr_difference<=0.05`` on
    the point value fails often (a max - min is above 0 by chance); on the lower bound, rarely."""
    rng = np.random.default_rng(5)
    n, columns = 2000, 30
    y = rng.random(n) < 0.4
    score = special.expit(rng.normal(0, 1, n) + 1.2 * (2 * y - 1))
    source = pl.DataFrame({"id": np.arange(n), "y": y.astype(int),
                           **{f"g{j}": rng.choice(["a", "b"], n) for j in range(columns)}})
    source.write_parquet(tmp_path / "source.parquet")
    ws = wb.Workspace.open(tmp_path)
    build.build(ws, "synth", "SELECT * FROM source")
    run = _import(ws, "null", pl.DataFrame({"id": np.arange(n), "p": score}), tmp_path)
    point = bound = 0
    for j in range(columns):
        v = g.gate(run, [f"parity(g{j}).fpr_difference<=0.03", f"parity(g{j}).fpr_difference.low<=0.03"]).verdicts
        point += not v[0].passed
        bound += not v[1].passed
    print(f"parity null over {columns} columns: point rule failed {point}, lower-bound rule {bound}")
    assert bound <= 2 and point >= 5


def test_a_worst_slice_bound_rarely_fails_when_every_slice_sits_on_the_threshold(tmp_path):
    """Every row wrong with probability exactly 0.2, five random slices: the true error rate of
    every slice is the threshold. The point rule fails nearly always (the worst of five estimates
    lies above); the lower bound, simultaneous over the five slices, rarely."""
    rng = np.random.default_rng(11)
    n, reps = 3000, 40
    y = rng.random(n) < 0.5
    pl.DataFrame({"id": np.arange(n), "y": y.astype(int), "h": rng.choice(list("abcde"), n)}).write_parquet(
        tmp_path / "source.parquet")
    ws = wb.Workspace.open(tmp_path)
    build.build(ws, "synth", "SELECT * FROM source")
    point = bound = 0
    for i in range(reps):
        wrong = rng.random(n) < 0.2
        run = _import(ws, f"r{i}", pl.DataFrame({"id": np.arange(n), "p": np.where(y != wrong, 0.9, 0.1)}), tmp_path)
        v = g.gate(run, ["worst_slice(h).error_rate<=0.2", "worst_slice(h).error_rate.low<=0.2"]).verdicts
        point += not v[0].passed
        bound += not v[1].passed
    print(f"worst-slice null over {reps} runs: point rule failed {point}, simultaneous lower bound {bound}")
    assert point >= reps * 0.7 and proportion_confint(bound, reps, method="wilson")[0] <= 0.025


# --- the CLI: exit codes, text, JSON and JUnit ------------------------------------------------------

def _cli(ws, *args):
    return main(["gate", *args, "--workspace", str(ws.root)])


def test_exit_codes_are_0_pass_1_fail_2_bad_input_3_internal(trained, capsys, monkeypatch, tmp_path):
    ws, run = trained["binary"]
    auc = run.record.metrics["lightgbm"]["roc_auc"]
    assert _cli(ws, run.run_id, "--rule", "roc_auc>=0.5", "--rule", f"roc_auc.high>={auc}") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"gate of run {run.run_id}: PASSED, every rule holds") and "roc_auc>=0.5" in out
    assert _cli(ws, run.run_id, "--rule", "roc_auc>=0.5", "--rule", f"roc_auc.low>={auc}") == 1
    out = capsys.readouterr().out
    assert "FAILED, 1 of 2 rules failed" in out and "FAIL" in out
    for args in (["--rule", "roc_auc=>0.5"], ["--rule", "regressions==0"], ["--rule", "nosuch>=1"],
                 ["--rule", "worst_slice(nosuch).error_rate<=1"], [], ["--rule", "roc_auc>=0", "--baseline", "nosuch"],
                 ["--rule", "roc_auc>=0", "--junit", str(tmp_path / "missing" / "gate.xml")]):
        assert _cli(ws, run.run_id, *args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert _cli(ws, "nosuch", "--rule", "roc_auc>=0") == 2
    capsys.readouterr()

    def broken(*a, **k):
        raise RuntimeError("a bug")
    monkeypatch.setattr(g, "gate", broken)
    assert _cli(ws, run.run_id, "--rule", "roc_auc>=0") == GATE_INTERNAL == 3
    assert capsys.readouterr().err == "error: unexpected RuntimeError: a bug (set WORKBENCH_DEBUG=1 for details)\n"


def test_a_missing_junit_folder_is_named_before_anything_is_computed(trained, capsys, tmp_path):
    ws, run = trained["binary"]
    path = tmp_path / "reports" / "gate.xml"
    assert _cli(ws, run.run_id, "--rule", "roc_auc>=0", "--junit", str(path)) == 2
    assert capsys.readouterr().err == (f"error: Cannot write the JUnit file {path}: folder {path.parent} does not "
                                       f"exist; create it first or give --junit a path in an existing folder.\n")
    assert _cli(ws, run.run_id, "--rule", "roc_auc>=0", "--junit", str(tmp_path)) == 2
    assert "it is a folder" in capsys.readouterr().err


def test_json_is_the_gate_s_to_dict(trained, capsys):
    ws, run = trained["binary"]
    assert _cli(ws, run.run_id, "--json", "--rule", "roc_auc.low>=0.99", "--rule",
                "worst_slice(c0).error_rate<=1") == 1
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"run_id", "baseline", "passed", "n_rules", "n_failed", "fdr", "rules"}
    assert (d["run_id"], d["baseline"], d["passed"], d["n_rules"], d["n_failed"]) == (run.run_id, None, False, 2, 1)
    first, second = d["rules"]
    assert set(first) == {"rule", "kind", "quantity", "bound", "op", "threshold", "options", "value", "ci", "passed",
                          "verdict", "on", "method", "seconds", "details"}
    assert (first["rule"], first["quantity"], first["verdict"]) == ("roc_auc.low>=0.99", "roc_auc.low", "fail")
    assert first["value"] == run.record.metrics["lightgbm"]["roc_auc_ci"][0]
    assert second["passed"] and second["details"]["column"] == "c0"


def test_junit_xml_has_one_case_per_rule_and_a_failure_for_each_failed_one(trained, tmp_path, capsys):
    ws, run = trained["binary"]
    path = tmp_path / "gate.xml"
    rules = ["roc_auc>=0.5", "roc_auc.low>=0.999", "parity(c0).fpr_difference<=1", "worst_slice(c0).error_rate<=0"]
    assert _cli(ws, run.run_id, "--junit", str(path), *[a for r in rules for a in ("--rule", r)]) == 1
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "0")
    (suite,) = root
    assert suite.tag == "testsuite" and suite.get("tests") == "4" and suite.get("failures") == "2"
    assert suite.get("timestamp") and float(suite.get("time")) >= 0
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == rules
    assert [c.get("classname") for c in cases] == ["workbench.gate.metric"] * 2 + ["workbench.gate.parity",
                                                                                 "workbench.gate.worst_slice"]
    failed = [c.find("failure") is not None for c in cases]
    assert failed == [False, True, False, True]
    low = run.record.metrics["lightgbm"]["roc_auc_ci"][0]
    failure = cases[1].find("failure")
    assert failure.get("message") == f"roc_auc.low = {low:.6g}, rule roc_auc.low>=0.999"
    assert "rule roc_auc.low>=0.999: fail" in failure.text and "method: " in failure.text
    assert all(c.find("system-out") is not None and float(c.get("time")) >= 0 for c in cases)
    # only elements and attributes of the common JUnit schema
    allowed = {"testsuites": {"name", "tests", "failures", "errors", "time"},
               "testsuite": {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname"},
               "testcase": {"classname", "name", "time"}, "failure": {"message", "type"}, "system-out": set()}
    for element in root.iter():
        assert element.tag in allowed and set(element.attrib) <= allowed[element.tag], element.tag
    assert [p.name for p in tmp_path.iterdir()] == ["gate.xml"]  # no temporary file left


def test_junit_is_written_atomically(trained, tmp_path, monkeypatch):
    """A failed write leaves the previous report whole and no temporary file behind."""
    _, run = trained["binary"]
    result = g.gate(run, ["roc_auc>=0.5"])
    path = tmp_path / "gate.xml"
    path.write_text("previous")
    seen = []

    def failing_replace(src, dst):
        seen.append(Path(src))
        assert Path(src).parent == path.parent and Path(src).read_text().startswith("<?xml")
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        junit.write_junit(result, path)
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["gate.xml"] and seen
    monkeypatch.undo()
    junit.write_junit(result, path)
    assert ET.parse(path).getroot().get("tests") == "1"


def test_text_says_what_each_verdict_was_computed_on(trained):
    _, run = trained["binary"]
    out = text.render(g.gate(run, ["roc_auc.low>=0.5", "worst_slice(c0).error_rate<=1 min_size=50"]))
    assert "model lightgbm" in out and "worst of 5 slices: c0 = " in out
    assert "1. roc_auc.low: the holdout metric and its 95% interval" in out
    assert "2. worst slice error_rate: Intervals: Wilson" in out
    assert math.isfinite(g.gate(run, ["roc_auc>=0"]).verdicts[0].seconds)
