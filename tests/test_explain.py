"""Oracle tests of the SHAP explanations: ``model/explain.py`` (TreeSHAP and its cache),
``analysis/explain.py`` (importance, interactions, a slice's contrast), ``model/whatif.py`` and the
CLI's ``explain`` and ``explain-row``.

The oracles: shap's ``TreeExplainer`` on a model matrix coded here from the raw holdout columns
(not by ``features.matrix``); shap's own C++ TreeSHAP where it can parse the trees (models without
categorical splits: for those with them shap hands the work to LightGBM's ``pred_contrib``);
LightGBM's ``raw_score``; the training-time scores stored in ``predictions.parquet``; Welch by
``scipy.stats.ttest_ind`` and BH by ``false_discovery_control``; shap's ``approximate_interactions``.
"""
import json
import shutil
import warnings

import lightgbm as lgb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shap
from scipy import stats

from helpers import synthetic_ws
from workbench import Workspace
from workbench.analysis import explain as ax
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.model import explain, features, train, whatif
from workbench.stats.bootstrap import mean_intervals
from workbench.store import build, runs
from workbench.stats import wilson_interval

TASKS = ("binary", "multiclass", "regression")
PLANTED_SLICE = "c0 = 'a' AND x0 > 1"
ONE_THREAD = {"num_threads": 1}  # OpenMP threads spin against each other on a busy 2-core machine


# ---- fixtures and oracles ----------------------------------------------------------------------


def _copy(run, root, *, model: bool = True):
    """The run copied into a workspace of its own, without any SHAP cache (and without its model
    if ``model`` is False)."""
    ws = Workspace.open(root)
    ignore = ["shap"] + ([] if model else [runs.MODEL])
    shutil.copytree(run.path, ws.runs_dir / run.run_id, ignore=shutil.ignore_patterns(*ignore))
    return runs.load_run(ws, run.run_id)


@pytest.fixture(scope="module")
def runs_(trained, tmp_path_factory):
    """This module's copies of the session's runs: their SHAP caches stay out of the shared folders."""
    return {task: _copy(run, tmp_path_factory.mktemp(f"explain-{task}")) for task, (_, run) in trained.items()}


@pytest.fixture
def fresh(runs_, tmp_path):
    """A copy of a run with an empty SHAP cache: fresh('binary')."""
    return lambda task: _copy(runs_[task], tmp_path / task)


def _holdout(run) -> pl.DataFrame:
    return pl.read_parquet(run.predictions)


def _matrix(run, rows) -> np.ndarray:
    """The model's input for holdout rows ``rows``, coded here with pandas from the raw columns
    and the stored encoding: numbers as floats, timestamps as epoch seconds, categories by their
    place in the stored list, anything else (null, unseen) missing."""
    frame = pq.read_table(run.predictions).to_pandas().set_index("_row").loc[np.asarray(rows)]
    enc = run.record.encoding
    cols = []
    for c in enc["numeric"]:
        s = frame[c]
        if np.issubdtype(s.dtype, np.datetime64):
            cols.append(s.to_numpy().astype("datetime64[s]").astype(np.int64).astype(float))
        else:
            cols.append(s.astype(float).to_numpy())
    for c, cats in enc["categorical"].items():
        cols.append(frame[c].map({v: float(i) for i, v in enumerate(cats)}).astype(float).to_numpy())
    return np.column_stack(cols)


def _shap(run, X) -> tuple[np.ndarray, np.ndarray]:
    """shap.TreeExplainer's values as (rows, outputs, features), and its expected values."""
    ex = shap.TreeExplainer(lgb.Booster(model_file=str(run.model_path)))
    with warnings.catch_warnings():  # shap's note that binary LightGBM output changed shape
        warnings.simplefilter("ignore", UserWarning)
        sv = np.asarray(ex.shap_values(X))
    sv = sv[:, None, :] if sv.ndim == 2 else sv.transpose(0, 2, 1)
    return sv, np.atleast_1d(np.asarray(ex.expected_value, float))


def _raw(run, X) -> np.ndarray:
    booster = lgb.Booster(model_file=str(run.model_path))
    return np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)


def _rows_with_nulls(run, n: int = 200) -> np.ndarray:
    """The first ``n`` rows of the seeded order, and every holdout row with x2 missing."""
    hold = _holdout(run)
    nulls = hold.filter(pl.col("x2").is_null())["_row"].to_numpy()
    first = explain.explain_order(run, 0)[:n]
    return np.concatenate([first, np.setdiff1d(nulls, first)])


# ---- shap is the oracle ------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_contributions_equal_shap_on_rows_with_missing_values_and_categories(runs_, task):
    run = runs_[task]
    rows = _rows_with_nulls(run)
    frame = explain.feature_rows(run, rows)
    assert frame["_row"].to_list() == rows.tolist()  # in the order asked
    X = _matrix(run, rows)
    assert np.isnan(X[:, run.record.features.index("x2")]).sum() >= 20
    np.testing.assert_array_equal(features.matrix(frame, explain.encoding(run)), X)  # NaN where NaN
    values = explain.contributions(run, frame)
    sv, base = _shap(run, X)
    assert values.shape == (len(rows), explain.outputs(run), len(run.record.features) + 1)
    np.testing.assert_allclose(values[:, :, :-1], sv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(values[:, :, -1], np.broadcast_to(base, values[:, :, -1].shape), rtol=1e-12)


def test_lightgbm_treeshap_equals_shaps_own_treeshap(tmp_path):
    """shap computes TreeSHAP itself (its C++ extension, not LightGBM's pred_contrib) for trees it
    can parse: those without categorical splits. Numbers, a timestamp and 5% missing in x2."""
    ws = synthetic_ws(tmp_path, 1500, "binary", seed=3)
    run = train.train(ws, train.TrainSpec("synth", "y", task="binary", drop=("c0", "c1", "c2"), seed=2,
                                          params=ONE_THREAD))
    rows = _rows_with_nulls(run, 150)
    X = _matrix(run, rows)
    ex = shap.TreeExplainer(lgb.Booster(model_file=str(run.model_path)))
    assert ex.model.trees is not None
    ex.model.model_type = "internal"  # shap's own algorithm over its parsed trees
    own = np.asarray(ex.shap_values(X, check_additivity=False))
    values = explain.contributions(run, explain.feature_rows(run, rows))
    np.testing.assert_allclose(values[:, 0, :-1], own, rtol=1e-9, atol=1e-12)
    assert values[0, 0, -1] == pytest.approx(float(np.ravel(ex.expected_value)[0]), rel=1e-9)


@pytest.mark.parametrize("task", TASKS)
def test_cached_shap_values_equal_shap_after_the_round_trip(fresh, task):
    run = fresh(task)
    rows = _rows_with_nulls(run, 150)[::-1]  # any order
    sv, base = _shap(run, _matrix(run, rows))
    scale = np.abs(sv).max()
    for _ in range(2):  # explained now, then read back from the cache
        got = explain.shap_values(run, rows)
        assert got.rows.tolist() == rows.tolist()
        assert got.values.shape == sv.shape
        # float32 in the cache: 6e-8 of each value, nothing more
        np.testing.assert_allclose(got.values, sv, rtol=1e-6, atol=1e-7 * scale)
        np.testing.assert_allclose(got.base, base, rtol=1e-12)
    assert explain.explained_count(run) == len(rows)


# ---- additivity, and the stored training-time scores --------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_base_plus_contributions_is_the_raw_score_and_the_stored_prediction(runs_, task):
    run = runs_[task]
    hold = _holdout(run)
    rows = hold["_row"].to_numpy()
    frame = explain.feature_rows(run, rows)
    X = _matrix(run, rows)
    raw = _raw(run, X)
    values = explain.contributions(run, frame)
    np.testing.assert_allclose(values.sum(axis=2), raw, rtol=1e-9, atol=1e-9)  # per class for multiclass
    np.testing.assert_allclose(explain.raw_scores(run, frame), raw, rtol=1e-12)
    pred = explain.prediction(run, raw)
    if task == "binary":  # the score training stored, from the training frame's own matrix
        np.testing.assert_allclose(pred, hold["_score"].to_numpy(), rtol=1e-9)
    elif task == "regression":
        np.testing.assert_allclose(pred, hold["_pred"].to_numpy(), rtol=1e-9, atol=1e-12)
    else:
        proba = lgb.Booster(model_file=str(run.model_path)).predict(X)
        np.testing.assert_allclose(pred, proba, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0)
        classes = np.asarray(run.record.classes)
        assert classes[pred.argmax(axis=1)].tolist() == hold["_pred"].to_list()


@pytest.mark.parametrize("task", TASKS)
def test_cached_values_add_up_to_the_raw_score(runs_, task):
    run = runs_[task]
    rows = explain.explain_order(run, 0)[:200]
    got = explain.shap_values(run, rows)
    raw = _raw(run, _matrix(run, rows))
    np.testing.assert_allclose(got.values.sum(axis=2) + got.base, raw, rtol=1e-5, atol=1e-5)


# ---- importance --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A regression run where x0 dominates and x1 acts only through x0 * x1."""
    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(5)
    n = 2500
    x = rng.normal(size=(n, 4))
    c0 = rng.choice(np.array(list("abcd")), n)
    y = 3 * x[:, 0] + 1.5 * x[:, 0] * x[:, 1] + 0.5 * x[:, 2] + 0.3 * (c0 == "b") + rng.normal(scale=0.3, size=n)
    pq.write_table(pa.table({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "x3": x[:, 3], "c0": c0, "y": y}),
                   root / "source.parquet")
    ws = Workspace.open(root)
    build.build(ws, "planted", "SELECT * FROM source")
    return train.train(ws, train.TrainSpec("planted", "y", task="regression", seed=0, params=ONE_THREAD))


def test_a_planted_strong_feature_ranks_first_and_its_interval_is_clear_of_the_rest(planted):
    imp = ax.importance(planted, rows=400)
    first, second = imp.table.row(0, named=True), imp.table.row(1, named=True)
    assert first["feature"] == "x0"
    assert first["ci_low"] > second["ci_high"]
    assert first["mean_abs_shap"] > 2 * second["mean_abs_shap"]


CLASSES = [("binary", None), ("regression", None), ("multiclass", None), ("multiclass", 2)]


@pytest.mark.parametrize("task,cls", CLASSES)
def test_importance_equals_a_naive_recomputation_from_shap(runs_, task, cls):
    run, seed, n = runs_[task], 3, 300
    imp = ax.importance(run, rows=n, seed=seed, cls=cls)
    chosen = explain.explain_order(run, seed)[:n]
    X = _matrix(run, chosen)
    sv, base = _shap(run, X)
    k = None if cls is None else list(run.record.classes).index(cls)
    every_class = task == "multiclass" and k is None
    absolute = np.abs(sv).sum(axis=1) if every_class else np.abs(sv[:, k or 0, :])
    names = list(run.record.features)
    table = {r["feature"]: r for r in imp.table.iter_rows(named=True)}
    assert imp.table["feature"].to_list() == sorted(names, key=lambda f: -absolute[:, names.index(f)].mean())
    low, high = mean_intervals(absolute, seed=seed)
    for j, f in enumerate(names):
        r = table[f]
        assert r["mean_abs_shap"] == pytest.approx(absolute[:, j].mean(), rel=1e-5)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((low[j], high[j]), rel=1e-5)
        if every_class:
            assert r["mean_shap"] is None  # no one signed mean over the classes
        else:
            assert r["mean_shap"] == pytest.approx(sv[:, k or 0, j].mean(), rel=1e-4, abs=1e-6)
    assert imp.base_value == pytest.approx(base.sum() if every_class else base[k or 0], rel=1e-12)
    assert (imp.rows_explained, imp.holdout_rows, imp.seed) == (n, run.record.split.n_holdout, seed)
    assert imp.cls == cls and imp.sample_class == (run.record.classes[k or 0] if task == "multiclass" else None)
    # the sample: the same rows in the same order, as the model saw them, with the shown class's SHAP
    assert imp.sample["_row"].to_list() == chosen.tolist()
    np.testing.assert_array_equal(imp.matrix, X)
    for j, f in enumerate(names):
        np.testing.assert_allclose(imp.sample[f"{ax.SHAP_PREFIX}{f}"].to_numpy(), sv[:, k or 0, j],
                                   rtol=1e-5, atol=1e-7 * np.abs(sv).max())


@pytest.mark.parametrize("task", TASKS)
def test_importance_intervals_contain_the_estimate_and_have_width(runs_, task):
    imp = ax.importance(runs_[task], rows=250, seed=1)
    for r in imp.table.iter_rows(named=True):
        if r["mean_abs_shap"] == 0:  # a feature no tree uses: no interval, not a zero-width one
            assert r["ci_low"] is None and r["ci_high"] is None
        else:
            assert r["ci_low"] < r["mean_abs_shap"] < r["ci_high"], r
    assert imp.method.startswith("Intervals: percentile bootstrap over the 250 rows")


def test_importance_samples_are_seeded_and_nested(runs_):
    run = runs_["binary"]
    a, b = ax.importance(run, rows=100, seed=4), ax.importance(run, rows=100, seed=4)
    assert a.table.equals(b.table) and a.sample["_row"].to_list() == b.sample["_row"].to_list()
    c = ax.importance(run, rows=100, seed=5)
    assert c.sample["_row"].to_list() != a.sample["_row"].to_list()
    bigger = ax.importance(run, rows=150, seed=4)  # a larger sample extends the smaller one
    assert bigger.sample["_row"].to_list()[:100] == a.sample["_row"].to_list()
    everything = ax.importance(run, rows=10**6)
    assert everything.rows_explained == everything.holdout_rows == run.record.split.n_holdout


@pytest.mark.parametrize("kwargs,message", [
    ({"rows": 0}, "Rows to explain must be a whole number from 1 up (got 0)."),
    ({"rows": -5}, "Rows to explain must be a whole number from 1 up (got -5)."),
    ({"rows": 1.5}, "Rows to explain must be a whole number from 1 up (got 1.5)."),
    ({"rows": True}, "Rows to explain must be a whole number from 1 up (got True)."),
    ({"cls": 1}, "Unknown class 1 for run {run_id}; classes: none (only multiclass runs have one per class)."),
])
def test_importance_refuses_bad_arguments(runs_, kwargs, message):
    run = runs_["binary"]
    with pytest.raises(WorkbenchError) as e:
        ax.importance(run, **kwargs)
    assert str(e.value) == message.format(run_id=run.run_id)


def test_a_multiclass_class_is_checked_and_may_be_given_as_text(runs_):
    run = runs_["multiclass"]
    with pytest.raises(WorkbenchError, match=r"Unknown class 7 for run .*; classes: 0, 1, 2\."):
        ax.importance(run, rows=50, cls=7)
    by_text, by_value = ax.importance(run, rows=50, cls="2"), ax.importance(run, rows=50, cls=2)
    assert by_text.table.equals(by_value.table)


def test_a_run_without_a_model_cannot_be_explained(runs_, tmp_path):
    run = _copy(runs_["binary"], tmp_path, model=False)
    message = f"Run {run.run_id} has no LightGBM model to explain (model.txt is missing)."
    with pytest.raises(WorkbenchError) as e:
        ax.importance(run, rows=10)
    assert str(e.value) == message
    with pytest.raises(WorkbenchError) as e:
        whatif.explain_row(run, int(_holdout(run)["_row"][0]))
    assert str(e.value) == message


# ---- interactions ------------------------------------------------------------------------------


def test_a_planted_interaction_is_found_and_the_order_is_shaps(planted):
    imp = ax.importance(planted, rows=400)
    names = [c.removeprefix(ax.SHAP_PREFIX) for c in imp.sample.columns if c.startswith(ax.SHAP_PREFIX)]
    shap_matrix = np.column_stack([imp.sample[f"{ax.SHAP_PREFIX}{f}"].to_numpy() for f in names])
    assert ax.interactions(imp, "x0")[0] == "x1"
    for f in ["x0", "x1", "x2", "x3"]:  # by a categorical, rows tie: shap's unstable sort cuts them elsewhere
        i = names.index(f)
        want = [names[j] for j in shap.utils.approximate_interactions(i, shap_matrix, imp.matrix) if j != i]
        assert ax.interactions(imp, f) == want, f
    with pytest.raises(WorkbenchError, match=r"Unknown feature 'nope'; features: x0, x1, x2, x3, c0\."):
        ax.interactions(imp, "nope")


# ---- a slice against the rest ------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_the_contrast_finds_the_features_the_planted_slice_is_made_of(runs_, task):
    c = ax.slice_contrast(runs_[task], PLANTED_SLICE, rows=1000)
    top = c.table.head(2)
    # regression's planted slice only adds noise: nothing for c0 to carry there, x0 still does
    planted = {"x0", "c0"} if task != "regression" else {"x0"}
    assert planted <= set(top["feature"]) if task != "regression" else top["feature"][0] == "x0"
    q = dict(zip(c.table["feature"], c.table["q_value"]))
    assert all(q[f] < 0.05 for f in planted)
    np.testing.assert_allclose(c.table["diff"].sum(), c.mean_raw_inside - c.mean_raw_outside, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("task,cls", [("binary", None), ("regression", None), ("multiclass", None),
                                      ("multiclass", 2)])
def test_the_contrast_equals_a_naive_recomputation(runs_, task, cls):
    run, rows, seed = runs_[task], 80, 2
    c = ax.slice_contrast(run, PLANTED_SLICE + " OR x3 > 1.2", rows=rows, seed=seed, cls=cls)
    hold = _holdout(run)
    members = hold.filter(((pl.col("c0") == "a") & (pl.col("x0") > 1)) | (pl.col("x3") > 1.2))["_row"].to_numpy()
    order = explain.explain_order(run, seed)
    inside_all = order[np.isin(order, members)]
    inside, outside = inside_all[:rows], order[~np.isin(order, members)][:rows]
    assert (c.slice_rows, c.rest_rows) == (len(members), hold.height - len(members))
    assert (c.inside_explained, c.outside_explained) == (len(inside), rows) and len(inside_all) > rows
    k = 0 if cls is None else list(run.record.classes).index(cls)
    assert c.cls == (run.record.classes[k] if task == "multiclass" else None)
    sv_in, base = _shap(run, _matrix(run, inside))
    sv_out, _ = _shap(run, _matrix(run, outside))
    a, b = sv_in[:, k, :], sv_out[:, k, :]
    names = list(run.record.features)
    t = {r["feature"]: r for r in c.table.iter_rows(named=True)}
    scale = max(np.abs(a).max(), np.abs(b).max())
    ref = stats.ttest_ind(a, b, equal_var=False, axis=0)
    q = stats.false_discovery_control(ref.pvalue)
    for j, f in enumerate(names):
        assert t[f]["mean_shap_inside"] == pytest.approx(a[:, j].mean(), abs=1e-6 * scale)
        assert t[f]["mean_shap_outside"] == pytest.approx(b[:, j].mean(), abs=1e-6 * scale)
        assert t[f]["mean_abs_inside"] == pytest.approx(np.abs(a[:, j]).mean(), abs=1e-6 * scale)
        assert t[f]["mean_abs_outside"] == pytest.approx(np.abs(b[:, j]).mean(), abs=1e-6 * scale)
        assert t[f]["p_value"] == pytest.approx(ref.pvalue[j], rel=1e-3, abs=1e-12)
        assert t[f]["q_value"] == pytest.approx(q[j], rel=1e-3, abs=1e-12)
        assert t[f]["ci_low"] < t[f]["diff"] < t[f]["ci_high"]
    assert c.mean_raw_inside == pytest.approx(a.sum(axis=1).mean() + base[k], rel=1e-5)
    assert c.mean_raw_outside == pytest.approx(b.sum(axis=1).mean() + base[k], rel=1e-5)
    np.testing.assert_allclose(c.table["diff"].sum(), c.mean_raw_inside - c.mean_raw_outside, rtol=1e-6, atol=1e-6)
    assert c.table["diff"].abs().to_list() == sorted(c.table["diff"].abs().to_list(), reverse=True)
    sample = c.sample
    assert sample.filter(pl.col("_inside"))["_row"].to_list() == inside.tolist()
    assert sample.filter(~pl.col("_inside"))["_row"].to_list() == outside.tolist()


def test_a_small_slice_is_explained_on_all_its_rows(runs_):
    run = runs_["binary"]
    c = ax.slice_contrast(run, PLANTED_SLICE, rows=500)
    assert c.inside_explained == c.slice_rows < 500 and c.outside_explained == 500


NULL_SLICES = [f"hash(_row + {k}) % 4 = 0" for k in range(12)] + [f"_row % 7 = {k}" for k in range(7)]


def test_under_the_null_the_contrast_flags_features_at_about_the_nominal_rate(runs_):
    """Random slices (by _row's hash or remainder) differ from the rest only by chance. Over 3 runs
    x 19 slices x 10 features (570 tests), the share of p < 0.05 lies near 0.05 (measured 0.053 over
    4,500), and BH's q < 0.05 is rare (0.003 there; FDR under the global null: at most 5% of
    slices flag anything). A one-sided p doubles the first; a standard error of the whole slice's
    size rather than the explained rows', or a sample taken in the file's worst-first order, blows
    it up; q = p (no BH) gives about 0.05 on the second."""
    p, q, flagged = [], [], []
    for task in TASKS:
        for i, where in enumerate(NULL_SLICES):
            c = ax.slice_contrast(runs_[task], where, rows=300, seed=i)
            p.append(c.table["p_value"].fill_null(np.nan).to_numpy())
            q.append(c.table["q_value"].fill_null(np.nan).to_numpy())
            flagged.append(bool((q[-1] < 0.05).any()))
    p, q = np.concatenate(p), np.concatenate(q)
    assert np.isfinite(p).mean() > 0.95
    p, q = p[np.isfinite(p)], q[np.isfinite(q)]
    rate = float(np.mean(p < 0.05))
    low, high = wilson_interval((p < 0.05).sum(), len(p))
    print(f"null rate of p < 0.05: {rate:.3f} (95% Wilson {low:.3f}-{high:.3f}) over {len(p)} tests; "
          f"q < 0.05: {np.mean(q < 0.05):.4f}; contrasts flagging any: {np.mean(flagged):.3f}")
    assert 0.02 <= rate <= 0.09
    assert np.mean(q < 0.05) <= 0.02
    assert np.mean(flagged) <= 0.10


@pytest.mark.parametrize("where,message", [
    ("x0 > 100", "The condition selects no holdout rows of run {run_id}: x0 > 100"),
    ("x0 > -100 OR x0 IS NULL", "The condition selects every holdout row of run {run_id}, so there is no rest "
                                "to compare with: x0 > -100 OR x0 IS NULL"),
])
def test_a_slice_needs_rows_on_both_sides(runs_, where, message):
    run = runs_["binary"]
    with pytest.raises(WorkbenchError) as e:
        ax.slice_contrast(run, where, rows=50)
    assert str(e.value) == message.format(run_id=run.run_id)


@pytest.mark.parametrize("where,phrase", [("x0 >", "syntax error"), ("x0 > 1; DROP TABLE t", ""), ("", "it is empty")])
def test_a_bad_condition_is_refused_before_anything_is_explained(fresh, where, phrase):
    run = fresh("binary")
    with pytest.raises(WorkbenchError) as e:
        ax.explain(run, rows=20, where=where)
    assert phrase in str(e.value)
    assert explain.explained_count(run) == 0


def test_an_unknown_column_in_the_condition_is_named(runs_):
    with pytest.raises(WorkbenchError, match=r"Cannot select the slice's rows: .*nope"):
        ax.slice_contrast(runs_["binary"], "nope > 1", rows=20)


def test_a_condition_on_an_unknown_column_is_refused_before_anything_is_explained(fresh):
    run = fresh("binary")
    with pytest.raises(WorkbenchError):
        ax.explain(run, rows=20, where="nope > 1")
    assert explain.explained_count(run) == 0


# ---- what-if -----------------------------------------------------------------------------------


def _pair(run) -> tuple[int, int]:
    """Two holdout rows: A with everything present, B with x2 missing and other categories."""
    hold = _holdout(run).sort("_row")
    a = hold.filter(pl.col("x2").is_not_null()).row(0, named=True)
    b = hold.filter(pl.col("x2").is_null() & (pl.col("c0") != a["c0"]) & (pl.col("c1") != a["c1"])).row(0, named=True)
    return a["_row"], b["_row"]


def _values(run, row) -> dict:
    return _holdout(run).filter(pl.col("_row") == row).row(0, named=True)


@pytest.mark.parametrize("task", TASKS)
def test_what_if_to_another_rows_values_scores_that_row(runs_, task):
    run = runs_[task]
    a, b = _pair(run)
    stored = _values(run, b)
    # as the CLI would pass them: text, empty for missing
    changes = whatif.parse_changes([f"{f}={'' if stored[f] is None else stored[f]}" for f in run.record.features])
    assert changes["x2"] is None
    classes = list(run.record.classes)
    if task == "multiclass":
        after = [whatif.explain_row(run, a, changes, cls=c).after for c in classes]
        probs = np.array([p.prediction for p in after])
        assert probs.sum() == pytest.approx(1.0)
        assert classes[int(probs.argmax())] == stored["_pred"]
        direct = [whatif.explain_row(run, b, cls=c).before for c in classes]
    else:
        after = [whatif.explain_row(run, a, changes).after]
        want = stored["_score"] if task == "binary" else stored["_pred"]
        assert after[0].prediction == pytest.approx(want, rel=1e-9)
        direct = [whatif.explain_row(run, b).before]
    for p, d in zip(after, direct):
        assert p.raw_score == pytest.approx(d.raw_score, rel=1e-12)
        assert p.contributions == pytest.approx(d.contributions, rel=1e-9, abs=1e-12)
        assert p.base_value + sum(p.contributions.values()) == pytest.approx(p.raw_score, rel=1e-9, abs=1e-9)
        assert p.values["x2"] is None


@pytest.mark.parametrize("task", TASKS)
def test_the_row_before_is_the_stored_prediction_and_its_contributions_are_shaps(runs_, task):
    run = runs_[task]
    a, _ = _pair(run)
    r = whatif.explain_row(run, a)
    stored = _values(run, a)
    X = _matrix(run, [a])
    sv, base = _shap(run, X)
    raw = _raw(run, X)[0]
    k = int(raw.argmax()) if task == "multiclass" else 0  # a multiclass row: the predicted class
    assert r.cls == (stored["_pred"] if task == "multiclass" else None) and r.label == stored["_label"]
    assert r.after is None and r.changes == {}
    assert r.before.raw_score == pytest.approx(raw[k], rel=1e-12)
    assert r.before.base_value == pytest.approx(base[k], rel=1e-12)
    assert list(r.before.contributions) == list(run.record.features)
    assert list(r.before.contributions.values()) == pytest.approx(sv[0, k], rel=1e-10, abs=1e-12)
    if task == "binary":
        assert r.before.prediction == pytest.approx(stored["_score"], rel=1e-9)
    elif task == "regression":
        assert r.before.prediction == pytest.approx(stored["_pred"], rel=1e-9)
    d = r.to_dict()
    assert {"row", "base_value", "raw_score", "prediction", "contributions", "values"} <= set(d)
    json.dumps(d)  # dates and times as text


@pytest.mark.parametrize("column", ["x0", "x2", "ts", "c0", "c2"])
def test_a_missing_value_is_scored_as_nan(runs_, column):
    run = runs_["binary"]
    a, _ = _pair(run)
    r = whatif.explain_row(run, a, {column: None})
    X = _matrix(run, [a])
    X[0, run.record.features.index(column)] = np.nan
    assert r.after.raw_score == pytest.approx(_raw(run, X)[0, 0], rel=1e-12)
    assert r.after.values[column] is None and r.changes == {column: None}
    others = [f for f in run.record.features if f != column]
    assert {f: r.after.values[f] for f in others} == {f: r.before.values[f] for f in others}


def test_categorical_changes_go_through_the_stored_encoding(runs_):
    run = runs_["multiclass"]
    a, _ = _pair(run)
    cats = run.record.encoding["categorical"]["c1"]
    j = run.record.features.index("c1")
    seen = set()
    for code, value in enumerate(cats):
        r = whatif.explain_row(run, a, {"c1": value}, cls=1)
        X = _matrix(run, [a])
        X[0, j] = code
        assert r.after.raw_score == pytest.approx(_raw(run, X)[0, 1], rel=1e-12), value
        assert r.after.values["c1"] == value
        seen.add(round(r.after.raw_score, 9))
    assert len(seen) > 1  # the categories move the score: a wrong code would show


def test_numbers_and_timestamps_given_as_text_are_cast_to_the_columns_type(runs_):
    run = runs_["regression"]
    a, _ = _pair(run)
    r = whatif.explain_row(run, a, {"x0": "1.5", "ts": "2024-06-01 12:00:00", "x1": 2})
    X = _matrix(run, [a])
    X[0, run.record.features.index("x0")] = 1.5
    X[0, run.record.features.index("x1")] = 2.0
    X[0, run.record.features.index("ts")] = np.datetime64("2024-06-01T12:00:00", "s").astype(np.int64)
    assert r.after.prediction == pytest.approx(_raw(run, X)[0, 0], rel=1e-12)
    assert r.changes == {"x0": 1.5, "ts": "2024-06-01 12:00:00", "x1": 2.0}


BAD_CHANGES = [
    ({"x0": "abc"}, ["'x0' is a number column", "'abc' is not a number"]),
    ({"x0": "inf"}, ["'x0' is a number column", "'inf' is not a number"]),
    ({"x00": "1"}, ["Unknown feature 'x00' for run", "(did you mean 'x0'?)", "the model's features: x0, x1"]),
    ({"y": "1"}, ["Unknown feature 'y' for run"]),  # the target is no feature
    ({"c0": "zz"}, ["'c0' never had the value 'zz' in training", "it knows 5: 'a', 'b', 'c', 'd', 'e'"]),
    ({"c0": "aa"}, ["'c0' never had the value 'aa'", "(did you mean 'a'?)"]),
    ({"ts": "yesterday"}, ["'ts' is a timestamp column; 'yesterday' is not one", "2013-12-24 18:00:00"]),
]


@pytest.mark.parametrize("changes,phrases", BAD_CHANGES)
def test_bad_changes_are_refused_naming_the_problem(runs_, changes, phrases):
    run = runs_["binary"]
    a, _ = _pair(run)
    with pytest.raises(WorkbenchError) as e:
        whatif.explain_row(run, a, changes)
    for phrase in phrases:
        assert phrase in str(e.value)


def test_an_unknown_row_is_refused_naming_the_range(runs_):
    run = runs_["binary"]
    hold = _holdout(run)["_row"].to_numpy()
    training_row = int(np.setdiff1d(np.arange(hold.min(), hold.max()), hold)[0])  # in range, not held out
    for row in (10**9, training_row, -1):
        with pytest.raises(WorkbenchError) as e:
            whatif.explain_row(run, row)
        assert str(e.value).startswith(f"Run {run.run_id} has no holdout row with _row = {row}; its holdout rows' "
                                       f"_row values lie between {hold.min()} and {hold.max()}")


def test_parse_changes():
    assert whatif.parse_changes(["x0=1", " c0 =a=b", "x2="]) == {"x0": "1", "c0": "a=b", "x2": None}
    for bad in ("x0", "=1", " =1"):
        with pytest.raises(WorkbenchError) as e:
            whatif.parse_changes([bad])
        assert str(e.value) == f"A change is COLUMN=VALUE (an empty VALUE means missing); got {bad!r}."


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_class_for_a_row_of_a_run_without_classes_is_refused(runs_, task):
    run = runs_[task]
    with pytest.raises(WorkbenchError, match="only multiclass runs have one per class"):
        whatif.explain_row(run, _pair(run)[0], cls=1)


def test_an_unknown_class_of_a_row_is_refused(runs_):
    run = runs_["multiclass"]
    with pytest.raises(WorkbenchError, match=r"Unknown class 'x' for run .*; classes: 0, 1, 2\."):
        whatif.explain_row(run, _pair(run)[0], cls="x")


# ---- the cache ---------------------------------------------------------------------------------


def test_a_second_call_explains_nothing_and_gives_the_same_values(fresh):
    run = fresh("binary")
    rows = explain.explain_order(run, 0)[:120]
    assert explain.ensure(run, rows) == 120
    first = explain.shap_values(run, rows)
    assert explain.ensure(run, rows) == 0
    assert explain.ensure(run, rows[::-1][:50]) == 0
    again = explain.shap_values(run, rows)
    assert np.array_equal(first.values, again.values) and np.array_equal(first.base, again.base)
    more = explain.explain_order(run, 0)[:150]  # a larger sample explains only the new rows
    assert explain.ensure(run, more) == 30 and explain.explained_count(run) == 150


def test_rows_are_keyed_by_row_whatever_the_order_asked(fresh):
    run = fresh("multiclass")
    rows = explain.explain_order(run, 0)[:80]
    explain.ensure(run, rows[::-1])  # cached in one order
    ref = explain.shap_values(run, rows)
    perm = np.random.default_rng(0).permutation(80)
    got = explain.shap_values(run, rows[perm])
    assert got.rows.tolist() == rows[perm].tolist()
    assert np.array_equal(got.values, ref.values[perm])
    one = explain.shap_values(run, rows[[7]])  # any row's values are its own, not its place's
    assert np.array_equal(one.values[0], ref.values[7])
    direct = explain.contributions(run, explain.feature_rows(run, rows[[7]]))[0, :, :-1]
    np.testing.assert_allclose(one.values[0], direct, rtol=1e-6, atol=1e-7)


def test_many_parts_are_compacted_without_losing_rows(fresh, monkeypatch):
    run = fresh("regression")
    rows = explain.explain_order(run, 0)[:140]
    monkeypatch.setattr(explain, "CHUNK", 4)  # 35 parts in one call, more than COMPACT_PARTS
    messages = []
    assert explain.ensure(run, rows, lambda f, m: messages.append((f, m))) == 140
    assert len(messages) == 35 and messages[-1][0] == 1.0
    assert messages[-1][1] == "Explained 140 of 140 rows (35 of 35 chunks)"
    parts = list(explain.cache_dir(run).glob("part-*.parquet"))
    assert len(parts) == 1 and pq.read_metadata(parts[0]).num_rows == 140
    got = explain.shap_values(run, rows)
    direct = explain.contributions(run, explain.feature_rows(run, rows))
    np.testing.assert_allclose(got.values, direct[:, :, :-1], rtol=1e-6, atol=1e-7)
    monkeypatch.setattr(explain, "CHUNK", 10_000)
    extra = explain.explain_order(run, 0)[140:140 + explain.COMPACT_PARTS]
    for row in extra:  # one part per call: compacted when they pass COMPACT_PARTS
        explain.ensure(run, np.array([row]))
    assert len(list(explain.cache_dir(run).glob("part-*.parquet"))) <= explain.COMPACT_PARTS
    assert explain.explained_count(run) == 140 + len(extra)
    assert sorted(explain.explained_rows(run)) == sorted(np.concatenate([rows, extra]).tolist())


def test_a_leftover_temporary_part_is_ignored(fresh):
    run = fresh("binary")
    rows = explain.explain_order(run, 0)[:60]
    explain.ensure(run, rows[:30])
    good = pq.read_table(next(explain.cache_dir(run).glob("part-*.parquet")))
    # a killed write: a whole part with other rows and bogus values, and a truncated one
    bogus = good.set_column(0, "_row", pa.array(rows[30:60])).set_column(1, good.column_names[1],
                                                                         pa.array(np.full(30, 99.0, np.float32)))
    pq.write_table(bogus, explain.cache_dir(run) / ".part-0123456789abcdef.parquet.tmp")
    (explain.cache_dir(run) / ".part-fedcba9876543210.parquet.tmp").write_bytes(b"PAR1 half a part")
    assert explain.explained_count(run) == 30
    assert explain.ensure(run, rows) == 30
    got = explain.shap_values(run, rows)
    direct = explain.contributions(run, explain.feature_rows(run, rows))
    np.testing.assert_allclose(got.values, direct[:, :, :-1], rtol=1e-6, atol=1e-7)


def test_explain_all_explains_every_holdout_row(fresh, monkeypatch):
    run = fresh("binary")
    monkeypatch.setattr(explain, "CHUNK", 300)
    messages = []
    n = run.record.split.n_holdout
    assert explain.explain_all(run, progress=lambda f, m: messages.append(f)) == n
    assert messages == pytest.approx([300 / n, 600 / n, 1.0])
    assert explain.explained_count(run) == n
    assert sorted(explain.explained_rows(run)) == sorted(_holdout(run)["_row"].to_list())
    assert explain.explain_all(run, seed=9) == 0


def test_the_seeded_order_is_a_permutation_of_the_holdout_and_only_the_seeds(runs_, tmp_path):
    run = runs_["binary"]
    hold = _holdout(run)["_row"].to_numpy()
    order = explain.explain_order(run, 0)
    assert sorted(order.tolist()) == sorted(hold.tolist()) and len(set(order.tolist())) == len(hold)
    assert np.array_equal(order, explain.explain_order(run, 0))
    assert not np.array_equal(order, explain.explain_order(run, 1))
    assert not np.array_equal(order, np.sort(order)) and not np.array_equal(order, hold)
    # the same rows stored in another order give the same order: it depends on the set and the seed
    copy = _copy(run, tmp_path)
    table = pq.read_table(copy.predictions)
    pq.write_table(table.take(np.random.default_rng(1).permutation(table.num_rows)), copy.predictions)
    assert np.array_equal(explain.explain_order(copy, 0), order)


def test_feature_rows_come_in_the_order_asked(runs_):
    run = runs_["regression"]
    rows = explain.explain_order(run, 3)[:40]
    frame = explain.feature_rows(run, rows)
    assert frame.columns == ["_row", *run.record.features]
    assert frame["_row"].to_list() == rows.tolist()
    stored = _holdout(run).filter(pl.col("_row").is_in(rows.tolist()))
    for r in frame.head(5).iter_rows(named=True):
        assert stored.filter(pl.col("_row") == r["_row"]).select(frame.columns).row(0, named=True) == r


# ---- the CLI -----------------------------------------------------------------------------------


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _ok(capsys, run, *args):
    code, out, err = _cli(capsys, *args, "--workspace", str(run.workspace.root), "--json")
    assert code == 0, err
    return json.loads(out)


def test_cli_explain_json(runs_, capsys):
    run = runs_["binary"]
    d = _ok(capsys, run, "explain", run.run_id, "--rows", "120", "--seed", "1")
    assert d["rows_explained"] == 120 and d["holdout_rows"] == run.record.split.n_holdout and d["seed"] == 1
    assert isinstance(d["base_value"], float) and d["seconds"] >= 0
    assert {f["feature"] for f in d["importance"]} == set(run.record.features)
    first = d["importance"][0]
    assert set(first) >= {"feature", "mean_abs_shap", "ci"} and first["ci"][0] < first["mean_abs_shap"] < first["ci"][1]
    imp = ax.importance(run, rows=120, seed=1)  # the JSON is the core's result
    assert [f["feature"] for f in d["importance"]] == imp.table["feature"].to_list()
    assert d["importance"][0]["mean_abs_shap"] == pytest.approx(imp.table["mean_abs_shap"][0])
    d = _ok(capsys, run, "explain", run.run_id, "--rows", "100", "--where", PLANTED_SLICE)
    s = d["slice"]
    assert s["where"] == PLANTED_SLICE and s["inside_explained"] == s["slice_rows"]
    assert {"feature", "inside", "outside", "diff", "ci", "p_value", "q_value"} <= set(s["features"][0])
    assert {s["features"][0]["feature"], s["features"][1]["feature"]} == {"x0", "c0"}
    assert sum(f["diff"] for f in s["features"]) == pytest.approx(s["mean_raw_inside"] - s["mean_raw_outside"])


def test_cli_explain_row_json(runs_, capsys):
    run = runs_["multiclass"]
    a, _ = _pair(run)
    d = _ok(capsys, run, "explain-row", run.run_id, "--row", str(a))
    assert d["row"] == a and set(d) >= {"base_value", "raw_score", "prediction", "contributions"}
    assert d["base_value"] + sum(d["contributions"].values()) == pytest.approx(d["raw_score"])
    d = _ok(capsys, run, "explain-row", run.run_id, "--row", str(a), "--class", "1", "--set", "x0=2.5", "--set", "x2=")
    assert d["class"] == 1 and d["changes"] == {"x0": 2.5, "x2": None}
    assert d["before"]["row"] == a and d["after"]["values"]["x0"] == 2.5 and d["after"]["values"]["x2"] is None
    want = whatif.explain_row(run, a, {"x0": "2.5", "x2": None}, cls=1).after
    assert d["after"]["prediction"] == pytest.approx(want.prediction)


def test_cli_text_output(runs_, capsys):
    run = runs_["binary"]
    ws = ["--workspace", str(run.workspace.root)]
    code, out, err = _cli(capsys, "explain", run.run_id, "--rows", "60", "--where", PLANTED_SLICE, *ws)
    assert code == 0, err
    assert f"mean |SHAP| over 60 of {run.record.split.n_holdout:,} holdout rows" in out
    assert f"slice {PLANTED_SLICE}:" in out and "x0" in out
    a, _ = _pair(run)
    code, out, err = _cli(capsys, "explain-row", run.run_id, "--row", str(a), "--set", "c0=b", *ws)
    assert code == 0, err
    assert out.startswith(f"row {a} (label ") and "before: " in out and "after: " in out
    code, out, err = _cli(capsys, "explain-row", run.run_id, "--row", str(a), *ws)
    assert code == 0 and "prediction: " in out


CLI_BAD = [
    (["explain-row", "{run}", "--row", "{row}", "--set", "x0=abc"], "'x0' is a number column"),
    (["explain-row", "{run}", "--row", "{row}", "--set", "x0"], "A change is COLUMN=VALUE"),
    (["explain-row", "{run}", "--row", "{row}", "--set", "nope=1"], "Unknown feature 'nope'"),
    (["explain-row", "{run}", "--row", "{row}", "--set", "c0=zz"], "'c0' never had the value 'zz'"),
    (["explain-row", "{run}", "--row", "{row}", "--set", "ts=soon"], "'ts' is a timestamp column"),
    (["explain-row", "{run}", "--row", "999999"], "has no holdout row with _row = 999999"),
    (["explain-row", "{run}", "--row", "x"], "argument --row: invalid int value: 'x'"),
    (["explain-row", "{run}", "--row", "{row}", "--class", "1"], "Unknown class '1'"),
    (["explain", "{run}", "--where", "x0 >"], ""),
    (["explain", "{run}", "--where", "x0 > 100"], "The condition selects no holdout rows"),
    (["explain", "{run}", "--rows", "0"], "Rows to explain must be a whole number from 1 up (got 0)."),
    (["explain", "{run}", "--class", "1"], "only multiclass runs have one per class"),
    (["explain", "nope"], "Unknown run 'nope'"),
]


@pytest.mark.parametrize("args,phrase", CLI_BAD)
def test_cli_bad_input_exits_2_with_one_line(runs_, capsys, args, phrase):
    run = runs_["binary"]
    a, _ = _pair(run)
    argv = [x.format(run=run.run_id, row=a) for x in args] + ["--workspace", str(run.workspace.root)]
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert phrase in err
