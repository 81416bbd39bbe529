import numpy as np
import pytest
from sklearn import metrics as skm

from workbench import stats
from workbench.stats import metrics


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(5, 10)
    assert (float(lo), float(hi)) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = stats.wilson_interval(0, 20)
    assert float(lo) == pytest.approx(0, abs=1e-12) and float(hi) == pytest.approx(0.1611, abs=1e-4)


def _slow_delong_se(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)), psi.mean()


def test_delong_interval_matches_the_pairwise_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = np.round(y * 0.4 + rng.random(400), 1)  # rounding makes ties
    se, auc = _slow_delong_se(y, s)
    lo, hi = stats.delong_interval(y, s)
    assert auc == pytest.approx(skm.roc_auc_score(y, s))
    assert (lo, hi) == pytest.approx((auc - stats.Z95 * se, auc + stats.Z95 * se))


@pytest.fixture
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    p = np.clip(0.35 * y + 0.65 * rng.random(3000), 0, 1)
    return y, (p >= 0.5).astype(int), p


def test_binary_metrics_equal_scikit_learn(binary):
    y, pred, p = binary
    m = metrics.evaluate("binary", y, pred, p)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))


def test_multiclass_and_regression_metrics_equal_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 2000)
    proba = rng.dirichlet([1, 1, 1], 2000)
    m = metrics.evaluate("multiclass", y, proba.argmax(1), proba, n_classes=3)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, proba.argmax(1), average="macro"))
    yr = rng.normal(size=2000)
    pr = yr + rng.normal(scale=0.5, size=2000)
    r = metrics.evaluate("regression", yr, pr)
    assert r["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(yr, pr)))
    assert r["mae"] == pytest.approx(skm.mean_absolute_error(yr, pr))
    assert r["r2"] == pytest.approx(skm.r2_score(yr, pr))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_interval_contains_its_value_and_is_seeded(task, binary):
    rng = np.random.default_rng(2)
    if task == "binary":
        args = binary
    elif task == "multiclass":
        proba = rng.dirichlet([2, 1, 1], 1500)
        args = (rng.integers(0, 3, 1500), proba.argmax(1), proba)
    else:
        y = rng.normal(size=1500)
        args = (y, y + rng.normal(size=1500), None)
    a = metrics.evaluate(task, *args, n_classes=3, seed=7)
    assert a == metrics.evaluate(task, *args, n_classes=3, seed=7)
    for name in metrics.METRICS[task]:
        lo, hi = a[f"{name}_ci"]
        assert lo <= a[name] <= hi, name


def test_row_loss_is_per_row_log_loss():
    y = np.array([0, 1, 1])
    p = np.array([0.2, 0.9, 0.4])
    assert metrics.row_loss("binary", y, None, p).mean() == pytest.approx(skm.log_loss(y, p))


def test_comparison_marks_the_best_model(binary):
    y, pred, p = binary
    scores = {"good": metrics.evaluate("binary", y, pred, p),
              "prior": metrics.evaluate("binary", y, np.zeros_like(y), np.full(len(y), y.mean()))}
    table = metrics.comparison("binary", scores)
    best = {r["metric"]: r["model"] for r in table.filter("best").to_dicts()}
    assert best["roc_auc"] == "good" and best["log_loss"] == "good"
