import re

import duckdb
import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from workbench.store import runs
from workbench.analysis import slices
from workbench.analysis.binning import MISSING
from workbench import WorkbenchError
from test_calibration import naive_ece

ORACLE = {
    "error_rate": lambda f, y: 1 - f["_correct"].mean(),
    "accuracy": lambda f, y: f["_correct"].mean(),
    "log_loss": lambda f, y: skm.log_loss(y, f["_score"], labels=[0, 1]) if "_score" in f.columns else f["_loss"].mean(),
    "brier": lambda f, y: skm.brier_score_loss(y, f["_score"]),
    "roc_auc": lambda f, y: skm.roc_auc_score(y, f["_score"]) if 0 < y.sum() < len(y) else np.nan,
    "positive_rate": lambda f, y: y.mean(),
    "mean_score": lambda f, y: f["_score"].mean(),
    "rmse": lambda f, y: np.sqrt(skm.mean_squared_error(f["_label"], f["_pred"])),
    "mae": lambda f, y: skm.mean_absolute_error(f["_label"], f["_pred"]),
    "bias": lambda f, y: (f["_pred"] - f["_label"]).mean(),
    "ece": lambda f, y: naive_ece(y, f["_score"]),
}


def _elsewhere(run: runs.Run, root) -> runs.Run:
    """The same run record in another workspace under ``root``, whose predictions a test writes."""
    folder = root / ".workbench" / "runs" / run.run_id
    folder.mkdir(parents=True)
    return runs.Run(folder, run.record)


def _cases():
    for task, names in slices.SLICE_METRICS.items():
        for metric in names:
            yield task, metric


@pytest.mark.parametrize("task, metric", list(_cases()))
@pytest.mark.parametrize("by", [("c0",), ("x0",), ("c1", "x2")])
def test_each_slice_equals_scikit_learn_on_its_rows(trained, task, metric, by):
    """The oracle: filter the rows of each slice by its WHERE clause and recompute naively."""
    _, run = trained[task]
    table = slices.breakdown(run, by, metric=metric, bins=4)
    frame = pl.read_parquet(run.predictions)
    con = duckdb.connect()  # the oracle filters with plain SQL, not the breakdown's code
    con.register("p", frame.to_arrow())
    for r in table.slices.iter_rows(named=True):
        rows = con.sql(f"SELECT * FROM p WHERE {r['where']}").pl()
        assert rows.height == r["n"]
        y = (rows["_label"].cast(pl.Int64)).to_numpy() if task == "binary" else None
        expected = ORACLE[metric](_Frame(rows), y)
        if r["value"] is None:
            assert np.isnan(expected)
        else:
            assert r["value"] == pytest.approx(expected, rel=1e-9, abs=1e-12), r


class _Frame:
    """Column access returning numpy arrays, and ``columns``, for the oracle lambdas."""

    def __init__(self, frame):
        self.frame, self.columns = frame, frame.columns

    def __getitem__(self, name):
        return self.frame[name].to_numpy().astype(float) if name != "_correct" else self.frame[name].to_numpy()


def test_rest_of_data_auc_is_exact(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ["c0"], metric="roc_auc")
    frame = pl.read_parquet(run.predictions)
    for r in table.slices.iter_rows(named=True):
        rest = frame.filter(pl.col("c0") != r["c0"])
        assert r["rest_value"] == pytest.approx(
            skm.roc_auc_score(rest["_label"].cast(pl.Int64), rest["_score"]))
    assert table.overall["value"] == pytest.approx(run.metrics["lightgbm"]["roc_auc"])


@pytest.mark.parametrize("by", [("c0",), ("x0",), ("x2",), ("c0", "x1"), ("ts",)])
def test_slices_partition_the_holdout(trained, by):
    _, run = trained["binary"]
    table = slices.breakdown(run, by, bins=5)
    assert table.slices["n"].sum() == table.overall["n"] == run.record.split.n_holdout
    assert table.slices["share"].sum() == pytest.approx(1.0)
    assert table.slices.select(by).is_unique().all()
    p = table.slices["p_value"].drop_nulls()
    assert ((p >= 0) & (p <= 1)).all()
    assert (table.slices["q_value"].drop_nulls() >= p.min()).all()


def test_nulls_are_a_slice_of_their_own(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ["x2"], bins=3)
    nulls = table.slices.filter(pl.col("x2") == MISSING)
    assert nulls.height == 1 and nulls["where"][0] == '(("x2" IS NULL OR isnan("x2")))'  # NaN is missing too
    assert nulls["n"][0] == pl.read_parquet(run.predictions)["x2"].null_count()
    assert table.slices.height == 4


def test_row_order_does_not_change_any_result(trained, tmp_path):
    _, run = trained["binary"]
    shuffled = _elsewhere(run, tmp_path)
    frame = pl.read_parquet(run.predictions)
    frame.sample(fraction=1.0, shuffle=True, seed=5).write_parquet(shuffled.predictions)
    for metric in ("error_rate", "log_loss", "roc_auc"):
        a = slices.breakdown(run, ["c0", "x1"], metric=metric, bins=3)
        b = slices.breakdown(shuffled, ["c0", "x1"], metric=metric, bins=3)
        cols = ["c0", "x1", "n", "value", "ci_low", "ci_high", "rest_value", "p_value"]
        left, right = a.slices.select(cols).sort("c0", "x1"), b.slices.select(cols).sort("c0", "x1")
        assert left.select("c0", "x1", "n").equals(right.select("c0", "x1", "n"))
        for c in cols[3:]:
            np.testing.assert_allclose(left[c].to_numpy().astype(float), right[c].to_numpy().astype(float), rtol=1e-9)


def test_planted_slice_is_worst_and_significant(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ["c0", "x0"], bins=4, min_size=20)
    worst = table.slices.row(0, named=True)
    assert worst["c0"] == "a" and worst["x0"].startswith("≥") and worst["significant"]


def test_min_size_hides_small_slices_but_keeps_them_in_the_rest(trained):
    _, run = trained["binary"]
    every = slices.breakdown(run, ["c0", "x0"], bins=10)
    big = slices.breakdown(run, ["c0", "x0"], bins=10, min_size=16)
    assert big.slices["n"].min() >= 16 and big.slices.height < every.slices.height
    assert big.overall == every.overall


def test_slice_rows_come_worst_first(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ["c0"])
    rows, count = slices.slice_rows(run, table.slices["where"][0], limit=10)
    assert count == table.slices["n"][0] and rows.height == 10
    assert rows["_loss"].is_sorted(descending=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"by": ["nope"]}, "Unknown column 'nope'"),
    ({"by": ["_loss"]}, "Unknown column '_loss'"),
    ({"by": ["c0", "c1", "c2"]}, "one or two different columns"),
    ({"by": ["c0"], "metric": "rmse"}, "Metric 'rmse' is not available for a binary run"),
])
def test_bad_breakdowns(trained, kwargs, message):
    _, run = trained["binary"]
    with pytest.raises(WorkbenchError, match=message):
        slices.breakdown(run, **kwargs)


def test_slice_vs_rest_reports_the_inside_rows(trained):
    """Oracle: each metric inside the slice and on the rest equals scikit-learn on those rows."""
    _, run = trained["binary"]
    where = "c0 = 'a' AND x0 > 0"
    table = slices.slice_vs_rest(run, where)
    assert table["metric"].to_list() == list(slices.SLICE_METRICS["binary"])
    frame = pl.read_parquet(run.predictions)
    con = duckdb.connect()
    con.register("p", frame.to_arrow())
    inside = con.sql(f"SELECT * FROM p WHERE {where}").pl()
    rest = con.sql(f"SELECT * FROM p WHERE NOT ({where})").pl()
    assert (table["n"] == inside.height).all()
    for r in table.iter_rows(named=True):
        for rows, value in ((inside, r["value"]), (rest, r["rest_value"])):
            y = rows["_label"].cast(pl.Int64).to_numpy()
            assert value == pytest.approx(ORACLE[r["metric"]](_Frame(rows), y), rel=1e-9)


def test_q_values_are_benjamini_hochberg_over_the_slices_tested(trained):
    """statsmodels is the oracle: a breakdown that reported raw p-values as q would fail, and so
    would one that counted a slice too small for a test in the family."""
    from statsmodels.stats.multitest import multipletests
    _, run = trained["binary"]
    untested = 0
    for metric in ("error_rate", "log_loss", "roc_auc"):
        table = slices.breakdown(run, ["c0", "x1"], metric=metric, bins=4).slices
        tested = table.filter(pl.col("p_value").is_not_null())
        expected = multipletests(tested["p_value"].to_numpy(), method="fdr_bh")[1]
        np.testing.assert_allclose(tested["q_value"].to_numpy(), expected, rtol=1e-12)
        assert (table["q_value"] > table["p_value"]).any()  # many slices: BH raises some
        rest = table.filter(pl.col("p_value").is_null())
        assert rest["q_value"].is_null().all() and rest["detectable"].is_null().all()
        assert (rest["reading"] == "too small to tell").all()
        untested += rest.height
    assert untested  # the family question arises: some slices had no test


def test_p_values_are_two_sided_tests_against_the_rest(trained):
    """Each slice against the rest of the holdout, recomputed from the raw rows: statsmodels'
    pooled two-proportion z-test for a rate, scipy's Welch t-test for a mean."""
    from scipy import stats as sps
    from statsmodels.stats.proportion import proportions_ztest
    _, run = trained["binary"]
    frame = pl.read_parquet(run.predictions)
    for metric in ("error_rate", "log_loss"):
        for r in slices.breakdown(run, ["c0"], metric=metric).slices.iter_rows(named=True):
            inside = (frame["c0"] == r["c0"]).to_numpy()
            if metric == "error_rate":
                wrong = (~frame["_correct"]).to_numpy()
                _, p = proportions_ztest([wrong[inside].sum(), wrong[~inside].sum()], [inside.sum(), (~inside).sum()])
            else:
                loss = frame["_loss"].to_numpy()
                p = sps.ttest_ind(loss[inside], loss[~inside], equal_var=False).pvalue
            assert r["p_value"] == pytest.approx(p, rel=1e-8)


def _odd_values_run(tmp_path):
    """A run whose holdout has a text column holding 'null' beside real NULLs, and a float column
    that is 40% NaN."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from workbench import Workspace
    from workbench.model import train
    from workbench.store import build
    rng = np.random.default_rng(0)
    n = 3000
    text = np.array(["a", "b", "null", None], dtype=object)[rng.integers(0, 4, n)]
    nanny = np.where(rng.random(n) < 0.4, np.nan, rng.normal(size=n))
    x = rng.normal(size=n)
    few = np.array([0.5, 1.5, np.nan])[rng.integers(0, 3, n)]  # too few values to bin: by value
    pq.write_table(pa.table({"word": pa.array(list(text), pa.string()), "nanny": nanny, "few": few, "x": x,
                             "y": rng.random(n) < 1 / (1 + np.exp(-2 * x))}), tmp_path / "raw.parquet")
    ws = Workspace.open(tmp_path)
    build.build(ws, "odd", "SELECT * FROM raw")
    return train.train(ws, train.TrainSpec("odd", "y"))


def test_a_text_null_is_its_own_slice_and_each_where_selects_its_rows(tmp_path):
    run = _odd_values_run(tmp_path)
    frame = pl.read_parquet(run.predictions)
    table = slices.breakdown(run, ["word"]).slices
    counts = {r["word"]: r["n"] for r in table.iter_rows(named=True)}
    assert counts == {"a": (frame["word"] == "a").sum(), "b": (frame["word"] == "b").sum(),
                      "null": (frame["word"] == "null").sum(), MISSING: frame["word"].null_count()}
    con = duckdb.connect()
    for r in table.iter_rows(named=True):
        assert con.execute(f"SELECT count(*) FROM read_parquet('{run.predictions}') WHERE {r['where']}"
                           ).fetchall()[0][0] == r["n"]


def test_nan_is_missing_and_never_a_bin_edge(tmp_path):
    run = _odd_values_run(tmp_path)
    frame = pl.read_parquet(run.predictions)
    table = slices.breakdown(run, ["nanny"], bins=4).slices
    missing = table.filter(pl.col("nanny") == MISSING)
    assert missing["n"][0] == frame["nanny"].is_nan().sum() + frame["nanny"].null_count()
    assert table["n"].sum() == frame.height and not any(re.search(r"\bnan\b", str(v).lower()) for v in table["nanny"])
    con = duckdb.connect()
    for r in table.iter_rows(named=True):
        assert con.execute(f"SELECT count(*) FROM read_parquet('{run.predictions}') WHERE {r['where']}"
                           ).fetchall()[0][0] == r["n"]
    few = slices.breakdown(run, ["few"], bins=4).slices
    assert sorted(few["few"]) == sorted(["0.5", "1.5", MISSING])
    assert few.filter(pl.col("few") == MISSING)["n"][0] == frame["few"].is_nan().sum()
    from workbench.analysis import discover
    found = discover.discover(run, k=8, alpha=0.99, min_support=10, columns=["nanny", "word", "few", "x"],
                              confirm=False, permutations=0)
    assert found.slices.height > 0 and not any(re.search(r"\bnan\b", p.lower()) for p in found.slices["predicate"])
    for r in found.slices.iter_rows(named=True):
        assert con.execute(f"SELECT count(*) FROM read_parquet('{run.predictions}') WHERE {r['where']}"
                           ).fetchall()[0][0] == r["size"]


def _lower_edge(label: str) -> float:
    """The number a bin label starts from: '< a' is below everything, '[a, b)' starts at a, '≥ a' at a."""
    if label.startswith("<"):
        return -np.inf
    return float(label.strip("[≥ ").split(",")[0])


def test_numeric_bins_come_in_their_natural_order_with_missing_last(tmp_path):
    run = _odd_values_run(tmp_path)
    table = slices.breakdown(run, ["nanny"], bins=4)
    assert table.order == "natural"
    labels = table.slices["nanny"].to_list()
    assert labels[-1] == MISSING
    starts = [_lower_edge(v) for v in labels[:-1]]
    assert starts == sorted(starts) and len(starts) == 4
    # by value: numbers by their value, not as text ('10' after '9')
    frame = pl.read_parquet(run.predictions)
    assert slices.breakdown(run, ["few"], bins=4).slices["few"].to_list() == ["0.5", "1.5", MISSING]
    # asked for worst first, the same slices sort by the metric
    worst = slices.breakdown(run, ["nanny"], bins=4, order="worst")
    assert worst.order == "worst" and worst.slices["value"].to_list() == sorted(worst.slices["value"], reverse=True)
    assert sorted(worst.slices["nanny"]) == sorted(labels) and frame.height == worst.slices["n"].sum()


def test_numbers_by_value_sort_as_numbers(trained, tmp_path):
    _, run = trained["regression"]
    copy = _elsewhere(run, tmp_path)
    frame = pl.read_parquet(run.predictions).with_columns(k=(pl.col("_row") % 12).cast(pl.Int64))
    frame.write_parquet(copy.predictions)  # a column of 12 whole numbers: by value at 20 bins
    table = slices.breakdown(copy, ["k"], bins=20, metric="mae")
    assert table.order == "natural" and table.slices["k"].to_list() == [str(i) for i in range(12)]


def test_text_columns_come_worst_first_unless_asked(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ["c0"])  # error rate: worst is highest
    assert table.order == "worst" and table.slices["value"].to_list() == sorted(table.slices["value"], reverse=True)
    natural = slices.breakdown(run, ["c0"], order="natural")
    assert natural.slices["c0"].to_list() == sorted(natural.slices["c0"])
    auc = slices.breakdown(run, ["c0"], metric="roc_auc")  # higher is better: worst is lowest
    assert auc.slices["value"].drop_nulls().to_list() == sorted(auc.slices["value"].drop_nulls())
    with pytest.raises(WorkbenchError, match="Unknown order 'best'"):
        slices.breakdown(run, ["c0"], order="best")


def test_a_binary_breakdown_names_its_positive_class(trained):
    _, binary = trained["binary"]
    # as run.json has it (True, not 'True'), so `slices --json` and `runs --json` agree
    positive = slices.breakdown(binary, ["c0"]).to_dict()["positive_class"]
    assert positive == binary.record.positive_class and type(positive) is type(binary.record.positive_class)
    _, regression = trained["regression"]
    assert slices.breakdown(regression, ["c0"]).positive_class is None


def test_slice_rows_page_through_a_slice_without_repeats_or_gaps(trained):
    _, run = trained["binary"]
    where = "c0 = 'a'"
    frame = pl.read_parquet(run.predictions).filter(pl.col("c0") == "a")
    pages, offset = [], 0
    while True:
        rows, count = slices.slice_rows(run, where, limit=97, offset=offset)
        assert count == frame.height
        if rows.is_empty():
            break
        assert rows.columns[:5] == ["_label", "_pred", "_score", "_loss", "_correct"]
        pages.append(rows)
        offset += 97
    every = pl.concat(pages)
    assert every.height == frame.height and every["_row"].n_unique() == frame.height
    assert every["_loss"].to_list() == sorted(frame["_loss"], reverse=True)
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": slices.ROWS_MOST + 1}):
        with pytest.raises(WorkbenchError, match="Ask for 1 to"):
            slices.slice_rows(run, where, **bad)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_slice_exports_all_its_rows(trained, fmt, tmp_path):
    _, run = trained["binary"]
    data = slices.export_rows(run, "c0 = 'b'", fmt)
    path = tmp_path / f"rows.{fmt}"
    path.write_bytes(data)
    got = pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path)
    want = pl.read_parquet(run.predictions).filter(pl.col("c0") == "b")
    assert got.height == want.height and got.columns[:4] == ["_label", "_pred", "_score", "_loss"]
    assert sorted(got["_row"].to_list()) == sorted(want["_row"].to_list())
    with pytest.raises(WorkbenchError, match="Unknown format 'xlsx'"):
        slices.export_rows(run, "c0 = 'b'", "xlsx")
    assert not list(run.workspace.exports_dir.iterdir())  # nothing left behind


def test_an_export_that_fails_is_a_message_and_leaves_nothing(trained):
    _, run = trained["binary"]
    with pytest.raises(WorkbenchError, match=r"^Cannot export rows: .*"):
        slices.export_rows(run, "CAST(c0 AS INTEGER) > 0")  # fails only as the rows are read
    assert not list(run.workspace.exports_dir.iterdir())


def test_the_whole_holdouts_auc_interval_is_delong_as_on_the_train_page(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ["c0"], metric="roc_auc")
    frame = pl.read_parquet(run.predictions)
    y = (frame["_label"] == run.record.positive_class).cast(pl.Int8).to_numpy()
    from workbench import stats
    np.testing.assert_allclose(table.overall["ci"], stats.delong_interval(y, frame["_score"].to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(table.overall["ci"], run.metrics["lightgbm"]["roc_auc_ci"], rtol=1e-12)


def test_a_slice_with_few_of_a_class_gets_no_auc_interval_or_test(trained, tmp_path):
    _, run = trained["binary"]
    copy = _elsewhere(run, tmp_path)
    frame = pl.read_parquet(run.predictions)
    y = frame["_label"] == run.record.positive_class
    # three rows the model ranks perfectly (AUC exactly 1): Hanley-McNeil's standard error is 0 there
    best_pos = frame.with_row_index("i").filter(y).sort("_score", descending=True)["i"][:2].to_list()
    worst_neg = frame.with_row_index("i").filter(~y).sort("_score")["i"][:1].to_list()
    tiny = np.full(frame.height, "rest", dtype=object)
    tiny[best_pos + worst_neg] = "tiny"
    # and a slice of mixed scores with enough of each class
    middle = frame.with_row_index("i").with_columns(y=y).sort("_score")[frame.height // 2 - 40: frame.height // 2 + 40]
    assert middle["y"].sum() >= 10 and (~middle["y"]).sum() >= 10
    tiny[middle["i"].to_list()] = "ten_each"
    frame.with_columns(tiny=pl.Series(tiny, dtype=pl.String)).write_parquet(copy.predictions)
    table = slices.breakdown(copy, ["tiny"], metric="roc_auc").slices
    row = table.filter(pl.col("tiny") == "tiny").row(0, named=True)
    assert row["value"] == 1.0 and row["n"] == 3
    assert row["ci_low"] is None and row["ci_high"] is None and row["p_value"] is None and not row["significant"]
    ten = table.filter(pl.col("tiny") == "ten_each").row(0, named=True)
    assert 0 < ten["value"] < 1 and ten["p_value"] is not None and ten["ci_low"] < ten["value"] < ten["ci_high"]


@pytest.mark.parametrize("task, metric", [("binary", "log_loss"), ("binary", "brier"), ("regression", "mae"),
                                          ("regression", "rmse")])
def test_a_mean_over_fewer_than_30_rows_gets_no_interval_or_test(trained, task, metric):
    from workbench import stats
    _, run = trained[task]
    table = slices.breakdown(run, ["x0"], metric=metric, bins=40).slices  # about 20 rows a bin
    small, big = table.filter(pl.col("n") < stats.MEAN_MIN_ROWS), table.filter(pl.col("n") >= stats.MEAN_MIN_ROWS)
    assert small.height and small["ci_low"].null_count() == small.height and small["p_value"].null_count() == small.height
    assert not small["significant"].any() and small["value"].null_count() == 0
    table = slices.breakdown(run, ["c0"], metric=metric).slices
    assert table["n"].min() >= stats.MEAN_MIN_ROWS and table["p_value"].null_count() == 0
    assert (table["ci_low"] < table["ci_high"]).all()


@pytest.mark.parametrize("metric", ["error_rate", "log_loss", "roc_auc", "mean_score"])
def test_each_slice_says_what_difference_it_could_detect_and_reads_by_it(trained, metric):
    """The oracle: statsmodels' power of the two-sample z-test solved for the effect found with 80%
    power at 5%, in units of the overall per-row SD (rates: sqrt(p(1 - p)); means: the rows' SD;
    ROC AUC: the paper's Hanley-McNeil SE of the slice's and the rest's AUC at the overall AUC).
    The reading: the direction where q < 0.05, else 'too small to tell' where the slice could not
    see half of the metric's room (or had no test), else 'no clear difference'."""
    from statsmodels.stats.power import NormalIndPower
    _, run = trained["binary"]
    table = slices.breakdown(run, ["c0", "x1"], metric=metric, bins=3)
    frame = pl.read_parquet(run.predictions)
    y = (frame["_label"] == run.record.positive_class).cast(pl.Float64).to_numpy()
    s = frame["_score"].to_numpy()
    per_row = {"error_rate": 1 - frame["_correct"].cast(pl.Float64).to_numpy(), "log_loss": frame["_loss"].to_numpy(),
               "mean_score": s}.get(metric)
    N, overall = frame.height, table.overall["value"]
    power = NormalIndPower()
    if metric == "roc_auc":
        room = abs(overall - 0.5)
    elif metric == "error_rate":
        room = min(overall, 1 - overall)
    else:
        room = overall if metric == "log_loss" else min(overall, 1 - overall)
    con = duckdb.connect()
    con.register("h", frame.with_columns(_y=pl.Series(y)))
    for r in table.slices.iter_rows(named=True):
        n, pos = con.execute(f"SELECT count(*), sum(_y) FROM h WHERE {r['where']}").fetchall()[0]
        if metric == "roc_auc":
            if min(pos, n - pos, y.sum() - pos, N - n - (y.sum() - pos)) == 0:
                expected = np.inf
            else:
                def hm(m, k):
                    a = overall
                    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
                    return (a * (1 - a) + (m - 1) * (q1 - a * a) + (k - 1) * (q2 - a * a)) / (m * k)
                se = np.sqrt(hm(pos, n - pos) + hm(y.sum() - pos, N - n - (y.sum() - pos)))
                expected = power.solve_power(None, nobs1=2, alpha=0.05, power=0.8, ratio=1) * se
        else:
            sd = np.sqrt(overall * (1 - overall)) if metric == "error_rate" else per_row.std(ddof=1)
            expected = power.solve_power(None, nobs1=n, alpha=0.05, power=0.8, ratio=(N - n) / n) * sd
        if r["p_value"] is None:  # no test, nothing it could detect
            expected = np.inf
        assert (r["detectable"] if r["detectable"] is not None else np.inf) == pytest.approx(expected, rel=1e-4)
        if r["significant"]:
            worse = (r["diff"] > 0) == (metric in ("error_rate", "log_loss"))
            assert r["reading"] == ({"worse": "worse", "better": "better"}["worse" if worse else "better"]
                                    if metric != "mean_score" else ("higher" if r["diff"] > 0 else "lower"))
        elif r["p_value"] is None or not expected <= 0.5 * room:
            assert r["reading"] == "too small to tell"
        else:
            assert r["reading"] == "no clear difference"
    assert table.method and table.to_dict()["method"] == table.method
    readings = set(table.slices["reading"])
    assert readings <= set(slices.READINGS)


def test_readings_do_not_depend_on_the_units_of_the_target():
    """RMSE: the same squared errors in other units (x 100, x 0.01) read the same."""
    rng = np.random.default_rng(2)
    sizes = np.array([40, 50, 200, 1000, 5000])
    sq = [rng.exponential(1.0, n) * (1.5 if i == 2 else 1) for i, n in enumerate(sizes)]
    readings = []
    for scale in (0.01, 1.0, 100.0):
        agg = pl.DataFrame({"k0": [str(i) for i in range(len(sizes))], "where": ["TRUE"] * len(sizes),
                            "n": sizes, "sx": [(s * scale ** 2).sum() for s in sq],
                            "sxx": [((s * scale ** 2) ** 2).sum() for s in sq]})
        table, _ = slices._statistics(agg, "rmse", ["k0"], bounds="positive")
        readings.append(table["_can_tell"].to_list())  # "no clear difference" unless significant
    assert readings[0] == readings[1] == readings[2]
    assert any(readings[1])
