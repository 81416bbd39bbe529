"""Oracle tests of ``stats/bootstrap.py``: the percentile bootstrap of many means against
``scipy.stats.bootstrap``, its t-interval branch against the formula, Welch's difference against
scipy's ``ttest_ind(equal_var=False)`` and statsmodels' ``CompareMeans``."""
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from workbench.stats import bootstrap as bs
from workbench.stats.bootstrap import (BOOTSTRAP_ROWS, RESAMPLES, mean_intervals, mean_intervals_method,
                                       welch_difference)
from workbench.stats.intervals import mean_interval


def _columns(n: int, seed: int = 0) -> np.ndarray:
    """Five differently shaped columns: normal, skewed (|SHAP|-like), heavy-tailed, mostly zero, very
    skewed (where a symmetric interval would miss the percentile one)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(2, 1, n), rng.exponential(1, n), np.abs(rng.standard_t(3, n)),
                            rng.exponential(1, n) * (rng.random(n) < 0.1), rng.lognormal(0, 1.5, n)])


# ---- the percentile bootstrap ----------------------------------------------------------------


@pytest.mark.parametrize("n", [40, 300])
def test_the_bootstrap_agrees_with_scipy_within_monte_carlo_error(n):
    values = _columns(n, seed=n)
    low, high = mean_intervals(values, seed=3, resamples=4000)
    ref = stats.bootstrap((values,), np.mean, axis=0, vectorized=True, method="percentile", n_resamples=4000,
                          rng=np.random.default_rng(7)).confidence_interval
    se = values.std(axis=0, ddof=1) / np.sqrt(n)
    # an endpoint of 4,000 resamples moves by about 0.05 se between seeds: 0.2 se is 4 sigma, and
    # a 90% interval (1.645 against 1.96 se) or resampling n - 1 rows is a 0.3 se miss
    np.testing.assert_array_less(np.abs(low - ref.low), 0.2 * se)
    np.testing.assert_array_less(np.abs(high - ref.high), 0.2 * se)


def test_the_bootstrap_is_seeded():
    values = _columns(100)
    a, b = mean_intervals(values, seed=5), mean_intervals(values, seed=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = mean_intervals(values, seed=6)
    assert not np.array_equal(a[0], c[0])


def test_resamples_not_a_multiple_of_the_chunk_are_all_drawn():
    values = _columns(50)
    low, high = mean_intervals(values, seed=1, resamples=150)  # one chunk of 100 and one of 50
    assert np.isfinite(low).all() and (low < values.mean(axis=0)).all() and (values.mean(axis=0) < high).all()


def test_a_column_is_resampled_with_the_others_not_alone():
    """Each column's interval is the same whether it comes alone or beside others (one draw of
    counts per resample, applied to every column)."""
    values = _columns(80)
    both = mean_intervals(values, seed=2)
    for j in range(values.shape[1]):
        alone = mean_intervals(values[:, [j]], seed=2)
        assert alone[0][0] == pytest.approx(both[0][j], rel=1e-12)
        assert alone[1][0] == pytest.approx(both[1][j], rel=1e-12)


def test_constant_columns_and_single_rows_get_nan_never_a_zero_width_interval():
    rng = np.random.default_rng(0)
    values = np.column_stack([np.zeros(30), np.full(30, 2.5), rng.exponential(size=30)])
    low, high = mean_intervals(values)
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all()
    assert low[2] < values[:, 2].mean() < high[2]
    one = mean_intervals(np.array([[1.0, 2.0]]))
    assert np.isnan(one[0]).all() and np.isnan(one[1]).all()
    none = mean_intervals(np.empty((0, 3)))
    assert none[0].shape == (3,) and np.isnan(none[0]).all()
    # two rows, equal: no interval; two rows, different: an interval of positive width
    low, high = mean_intervals(np.array([[1.0, 1.0], [1.0, 3.0]]))
    assert np.isnan(low[0]) and np.isnan(high[0]) and low[1] < high[1]


def test_a_single_nonzero_value_in_many_rows_still_gets_an_interval():
    """A feature the model used once: resamples differ, so the interval is not NaN, and it covers
    its mean."""
    values = np.zeros((200, 1))
    values[17, 0] = 4.0
    low, high = mean_intervals(values, seed=0)
    assert low[0] <= values.mean() < high[0]


def test_values_must_be_a_matrix():
    with pytest.raises(ValueError, match=r"rows x columns, got shape \(5,\)"):
        mean_intervals(np.ones(5))


@pytest.mark.parametrize("positive", [True, False])
def test_above_bootstrap_rows_the_interval_is_the_t_interval(positive):
    n = BOOTSTRAP_ROWS + 1
    values = _columns(n, seed=1)
    low, high = mean_intervals(values, positive=positive)
    mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    if positive:  # the t interval of log(mean), by the delta method, mapped back
        want = mean * np.exp(-half / mean), mean * np.exp(half / mean)
    else:
        want = mean - half, mean + half
    np.testing.assert_allclose(low, want[0], rtol=1e-12)
    np.testing.assert_allclose(high, want[1], rtol=1e-12)
    ref = mean_interval(mean, sd, n, bounds="positive" if positive else None)
    np.testing.assert_allclose(low, ref[0], rtol=1e-12)
    np.testing.assert_allclose(high, ref[1], rtol=1e-12)
    scale = " on the log scale" if positive else ""
    assert mean_intervals_method(n, positive=positive) == f"t interval{scale} over the {n:,} rows"
    assert mean_intervals_method(n) == f"t interval on the log scale over the {n:,} rows"  # |SHAP| is positive


def test_up_to_bootstrap_rows_it_bootstraps_and_agrees_with_the_t_interval():
    n = BOOTSTRAP_ROWS
    values = np.random.default_rng(4).exponential(size=(n, 1))
    low, high = mean_intervals(values, seed=0, resamples=200)
    t_low, t_high = mean_interval(values.mean(axis=0), values.std(axis=0, ddof=1), n, bounds="positive")
    assert low[0] != t_low[0]  # not the formula: resampled
    se = values.std(ddof=1) / np.sqrt(n)
    assert abs(low[0] - t_low[0]) < 0.3 * se and abs(high[0] - t_high[0]) < 0.3 * se
    assert mean_intervals_method(n) == f"percentile bootstrap over the {n:,} rows, {RESAMPLES:,} resamples"


def test_above_bootstrap_rows_a_constant_column_is_nan():
    values = np.column_stack([np.full(BOOTSTRAP_ROWS + 1, 3.0), np.zeros(BOOTSTRAP_ROWS + 1)])
    low, high = mean_intervals(values)
    assert np.isnan(low).all() and np.isnan(high).all()


def _coverage(draw, truth, reps, **kwargs) -> float:
    hits = 0
    for seed in range(reps):
        low, high = mean_intervals(draw(np.random.default_rng(1000 + seed)), seed=seed, **kwargs)
        hits += int(low[0] <= truth <= high[0])
    return hits / reps


def test_the_bootstrap_covers_a_known_mean_about_95_percent_of_the_time():
    cover = _coverage(lambda rng: rng.normal(2.0, 1.0, size=(80, 1)), 2.0, 400, resamples=500)
    lo, hi = (0.90, 0.98)  # the percentile bootstrap is a little narrow at 80 rows; 400 draws: +- 0.02
    assert lo <= cover <= hi, cover


def test_the_log_scale_t_interval_covers_a_skewed_mean(monkeypatch):
    monkeypatch.setattr(bs, "BOOTSTRAP_ROWS", 50)  # the t branch, on 200 exponential rows
    cover = _coverage(lambda rng: rng.exponential(1.5, size=(200, 1)), 1.5, 400)
    assert 0.91 <= cover <= 0.98, cover


# ---- Welch's difference ----------------------------------------------------------------------


def _sides(n1: int, n2: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inside = np.column_stack([rng.normal(0.3, 2.0, n1), rng.exponential(1, n1), rng.normal(0, 1, n1)])
    outside = np.column_stack([rng.normal(0.0, 0.5, n2), rng.exponential(1.3, n2), rng.normal(0, 1, n2)])
    return inside, outside


@pytest.mark.parametrize("n1,n2", [(2, 2), (5, 400), (30, 30), (300, 40)])
def test_welch_equals_scipy_and_statsmodels(n1, n2):
    inside, outside = _sides(n1, n2, seed=n1 + n2)
    diff, low, high, p = welch_difference(inside, outside)
    ref = stats.ttest_ind(inside, outside, equal_var=False, axis=0)
    np.testing.assert_allclose(p, ref.pvalue, rtol=1e-10)
    np.testing.assert_allclose(diff, inside.mean(axis=0) - outside.mean(axis=0), rtol=1e-12)
    for j in range(inside.shape[1]):
        cm = CompareMeans(DescrStatsW(inside[:, j]), DescrStatsW(outside[:, j]))
        want = cm.tconfint_diff(alpha=0.05, usevar="unequal")
        assert (low[j], high[j]) == pytest.approx(want, rel=1e-10)
        assert p[j] == pytest.approx(cm.ttest_ind(usevar="unequal")[1], rel=1e-10)


def test_welch_is_antisymmetric_and_ignores_row_order():
    inside, outside = _sides(25, 60, seed=9)
    d, lo, hi, p = welch_difference(inside, outside)
    d2, lo2, hi2, p2 = welch_difference(outside, inside)
    np.testing.assert_allclose(d2, -d)
    np.testing.assert_allclose(lo2, -hi)
    np.testing.assert_allclose(hi2, -lo)
    np.testing.assert_allclose(p2, p)
    rng = np.random.default_rng(0)
    shuffled = welch_difference(inside[rng.permutation(25)], outside[rng.permutation(60)])
    for a, b in zip(shuffled, (d, lo, hi, p)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the constant side
def test_welch_without_enough_rows_or_variance_gives_nan():
    inside, outside = _sides(1, 30)
    diff, low, high, p = welch_difference(inside, outside)
    np.testing.assert_allclose(diff, inside[0] - outside.mean(axis=0))  # a difference, but no interval
    assert np.isnan(low).all() and np.isnan(high).all() and np.isnan(p).all()
    diff, low, high, p = welch_difference(np.empty((0, 3)), outside)
    assert np.isnan(diff).all() and np.isnan(p).all()
    # both sides constant: no test; one side constant: the other's variance carries it
    a = np.column_stack([np.ones(10), np.ones(10)])
    b = np.column_stack([np.full(12, 2.0), np.random.default_rng(0).normal(size=12)])
    diff, low, high, p = welch_difference(a, b)
    assert diff[0] == -1 and np.isnan(low[0]) and np.isnan(high[0]) and np.isnan(p[0])
    ref = stats.ttest_ind(a[:, 1], b[:, 1], equal_var=False)
    assert p[1] == pytest.approx(ref.pvalue, rel=1e-10) and low[1] < diff[1] < high[1]


def test_welch_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(0)
    inside, outside = rng.exponential(size=(40, 2000)), rng.exponential(size=(300, 2000))
    _, low, high, p = welch_difference(inside, outside)
    assert 0.035 <= np.mean(p < 0.05) <= 0.065  # 2,000 tests: +- 0.01 is 2 sigma
    assert 0.93 <= np.mean((low <= 0) & (0 <= high)) <= 0.965
