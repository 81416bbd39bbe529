"""A binary run's decisions at a threshold (the run view's confusion matrix and metrics), against
scikit-learn on the run's rows and statsmodels' Wilson interval; the threshold figures."""
import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint

from workbench import WorkbenchError
from workbench.analysis import slices
from workbench.analysis.diagnostics import diagnostics
from workbench.analysis.thresholds import at_threshold
from workbench.render import threshold_charts
from workbench.store import runs

THRESHOLDS = (0.05, 0.3, 0.5, 0.77, 0.99)


def _rows(run, threshold):
    f = pl.read_parquet(run.predictions)
    y = (f["_label"] == run.record.positive_class).cast(pl.Int64).to_numpy()
    return y, (f["_score"].to_numpy() >= threshold).astype(int)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_confusion_and_metrics_equal_scikit_learn_on_the_rows(trained, threshold):
    _, run = trained["binary"]
    v = at_threshold(run, threshold)
    y, p = _rows(run, threshold)
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    assert (v.tp, v.fp, v.fn, v.tn) == (tp, fp, fn, tn) and v.n == len(y)
    expected = {"precision": skm.precision_score(y, p, zero_division=np.nan),
                "recall": skm.recall_score(y, p, zero_division=np.nan),
                "f1": skm.f1_score(y, p, zero_division=0), "accuracy": skm.accuracy_score(y, p),
                "selection_rate": p.mean(), "fpr": p[y == 0].mean()}
    for r in v.metrics.iter_rows(named=True):
        want = expected[r["metric"]]
        if np.isnan(want):
            assert r["value"] is None and r["ci_low"] is None, r
            continue
        assert r["value"] == pytest.approx(want, abs=1e-12), r
        if r["interval"] == "Wilson":
            low, high = proportion_confint(r["k"], r["of"], method="wilson")
            assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high), abs=1e-12)
        else:
            assert r["ci_low"] <= r["value"] <= r["ci_high"]


def test_f1_interval_is_seeded_and_agrees_with_a_bootstrap_over_rows(trained):
    """The multinomial draws over the cells are a bootstrap of rows: the two intervals agree."""
    _, run = trained["binary"]
    a, b = at_threshold(run, 0.4, seed=3), at_threshold(run, 0.4, seed=3)
    assert a.metrics.equals(b.metrics) and a.to_dict() == b.to_dict()
    y, p = _rows(run, 0.4)
    rng = np.random.default_rng(0)
    draws = [skm.f1_score(y[i], p[i]) for i in rng.integers(0, len(y), (600, len(y)))]
    low, high = np.percentile(draws, [2.5, 97.5])
    f1 = a.metrics.filter(pl.col("metric") == "f1").row(0, named=True)
    assert f1["ci_low"] == pytest.approx(low, abs=0.01) and f1["ci_high"] == pytest.approx(high, abs=0.01)


def test_f1_interval_covers_the_true_f1_at_about_the_nominal_rate(trained, tmp_path):
    """Simulated runs with a known population F1: the share of intervals that cover it."""
    _, base = trained["binary"]
    folder = tmp_path / ".workbench" / "runs" / base.run_id
    folder.mkdir(parents=True)
    # population: P(y=1) 0.3; P(hit | y=1) 0.6; P(hit | y=0) 0.1 -> tp 0.18, fp 0.07, fn 0.12
    true_f1 = 2 * 0.18 / (2 * 0.18 + 0.07 + 0.12)
    covered, trials = 0, 200
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        y = rng.random(400) < 0.3
        hit = rng.random(400) < np.where(y, 0.6, 0.1)
        pl.DataFrame({"_row": np.arange(400), "_label": y, "_score": np.where(hit, 0.9, 0.1)}).write_parquet(
            folder / "predictions.parquet")
        f1 = at_threshold(runs.Run(folder, base.record), 0.5, resamples=500).metrics.row(2, named=True)
        covered += f1["ci_low"] <= true_f1 <= f1["ci_high"]
    print(f"F1 bootstrap coverage: {covered} of {trials}")
    assert covered / trials >= 0.91


def test_to_dict_shape(trained):
    _, run = trained["binary"]
    d = at_threshold(run, 0.5).to_dict()
    assert set(d) == {"run_id", "positive_class", "threshold", "n", "confusion", "metrics", "method", "seed"}
    assert set(d["confusion"]) == {"tp", "fp", "fn", "tn"} and sum(d["confusion"].values()) == d["n"]
    assert set(d["metrics"]) == {"precision", "recall", "f1", "selection_rate", "accuracy", "fpr"}
    assert set(d["metrics"]["f1"]) == {"value", "ci", "interval"}
    assert "Wilson" in d["method"] and "bootstrap" in d["method"]


def test_bad_threshold_and_task_are_one_line_messages(trained):
    _, run = trained["binary"]
    with pytest.raises(WorkbenchError, match=r"^Threshold 1\.0 is outside \(0, 1\)"):
        at_threshold(run, 1.0)
    _, reg = trained["regression"]
    with pytest.raises(WorkbenchError, match=rf"^A decision threshold needs a binary run; run {reg.run_id} is a "
                                             r"regression run\.$"):
        at_threshold(reg, 0.5)


def test_figures_mark_the_threshold_and_name_it(trained):
    _, run = trained["binary"]
    v = at_threshold(run, 0.3)
    d = diagnostics(run)
    roc = threshold_charts.roc_at(d, v)
    point = [t for t in roc.data if t.name == "threshold 0.3"][0]
    assert (point.x[0], point.y[0]) == (v.value("fpr"), v.value("recall"))
    pr = [t for t in threshold_charts.pr_at(d, v).data if t.name == "threshold 0.3"][0]
    assert (pr.x[0], pr.y[0]) == (v.value("recall"), v.value("precision"))
    table = slices.breakdown(run, ["c0"], metric="fpr", threshold=0.3)
    fig = threshold_charts.threshold_slice_chart(table)
    assert "FPR at threshold 0.3" in fig.layout.title.text and fig.layout.xaxis.title.text == "FPR at threshold 0.3"


def test_f1_keeps_a_width_where_no_resample_differs(trained):
    """At a threshold above every score nothing is predicted positive: F1 is 0 in every resample,
    and its interval is J's Wilson interval mapped to F1, never [0, 0]."""
    from statsmodels.stats.proportion import proportion_confint
    _, run = trained["binary"]
    view = at_threshold(run, 0.9999999)
    row = view.metrics.filter(pl.col("metric") == "f1").row(0, named=True)
    assert view.tp == 0 and row["value"] == 0.0
    j_low, j_high = proportion_confint(0, view.fn + view.fp, method="wilson")
    assert row["ci_low"] == 0.0 and row["ci_high"] == pytest.approx(2 * j_high / (1 + j_high)) and row["ci_high"] > 0
    assert "0.9999999" in view.method
