"""Quantile bins and point masses: a value that holds a large share of the rows gets a bin of its
own, every key's WHERE selects exactly the rows its key groups, and bins come in the column's order.

The oracles are plain numpy / polars counts over the same rows, not the binning's own SQL."""
import re
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.analysis import slices
from workbench.analysis.binning import EDGE_SAMPLE, MISSING, Binning, column_binning
from workbench.store import runs


def _bin(frame: pl.DataFrame, column: str, bins: int, *, rows: int = 0):
    """The binning of ``column`` of ``frame`` (given a ``_row``), with a connection that reads it as ``t``."""
    con = duckdb.connect()
    con.register("t", frame.with_row_index("_row").to_arrow())
    dtype = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM t").fetchall()}[column]
    return con, column_binning(con, "t", column, dtype, bins, rows=rows)


def _keyed(con, b: Binning) -> pl.DataFrame:
    """Every row's value and key, as DuckDB's CASE gives it."""
    return con.sql(f"SELECT {b.column} AS x, {b.key_sql()} AS k FROM t").pl()


def _check_partition(con, b: Binning) -> dict[int, int]:
    """Each key's WHERE selects exactly the rows its key groups, over every key including missing
    and the empty ones; the counts add up to all rows. Returns the count per key."""
    grouped = dict(con.execute(f"SELECT {b.key_sql()} AS k, count(*) FROM t GROUP BY k").fetchall())
    assert set(grouped) <= set(range(-1, b.n_bins))
    counts = {k: con.execute(f"SELECT count(*) FROM t WHERE {b.where(k)}").fetchall()[0][0]
              for k in range(-1, b.n_bins)}
    assert counts == {k: grouped.get(k, 0) for k in range(-1, b.n_bins)}
    assert sum(counts.values()) == con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    assert len(b.labels()) == b.n_bins and b.label(-1) == MISSING
    return counts


def _check_order(con, b: Binning) -> None:
    """Bins in key order are in the column's order: each non-empty bin's values all lie below the
    next one's, and a point's bin holds only that point."""
    f = _keyed(con, b).filter(pl.col("k") >= 0)
    if f["x"].dtype in (pl.Float32, pl.Float64):
        f = f.filter(pl.col("x").is_not_nan())
    spans = f.group_by("k").agg(lo=pl.col("x").min(), hi=pl.col("x").max()).sort("k")
    assert (spans["hi"][:-1] < spans["lo"][1:]).all()
    for k, label in enumerate(b.labels()):
        if label.startswith("= "):
            assert f.filter(pl.col("k") == k)["x"].n_unique() <= 1


def _zero_inflated(n: int, *, seed: int = 0, integer: bool = False) -> pl.DataFrame:
    """90% zeros, the rest lognormal above 0, 3% NULL and (floats) 2% NaN."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.9, 0.0, np.ceil(rng.lognormal(6, 1.5, n)))
    null = rng.random(n) < 0.03
    if integer:
        return pl.DataFrame({"gain": pl.Series(x.astype(np.int64)).set(pl.Series(null), None)})
    x = np.where(rng.random(n) < 0.02, np.nan, x)
    return pl.DataFrame({"gain": pl.Series(x).set(pl.Series(null), None)})


@pytest.mark.parametrize("integer", [False, True])
def test_zero_inflated_column_gets_a_bin_for_zero_and_quantile_bins_for_the_rest(integer):
    frame = _zero_inflated(5000, integer=integer)
    con, b = _bin(frame, "gain", 5)
    assert b.binned and b.points == (0,) and b.nan_missing is not integer
    labels = b.labels()
    assert labels[:2] == ["< 0", "= 0"] and labels[2].startswith("(0, ") and labels[-1].startswith("≥ ")
    assert b.n_bins <= 5 + 1 and len(b.edges) >= 2
    counts = _check_partition(con, b)
    _check_order(con, b)
    # the oracle: numpy on the same values
    x = frame["gain"].cast(pl.Float64).to_numpy()
    missing = np.isnan(x)  # NULL reads as NaN here, and a NaN is missing too
    assert counts[-1] == missing.sum()
    assert counts[0] == 0 and counts[1] == (x == 0).sum()
    cuts = [0.0, *b.edges, np.inf]
    for k, (lo, hi) in enumerate(zip(cuts, cuts[1:]), start=2):
        inside = (x > lo if k == 2 else x >= lo) & (x < hi)
        assert counts[k] == inside.sum()
        # the values above 0 fall in bins of about a quarter each
        assert 0.15 < inside.sum() / (x > 0).sum() < 0.35


def test_zero_inflated_column_by_breakdown_comes_in_few_slices_not_one_per_value(trained, tmp_path):
    _, run = trained["regression"]
    folder = tmp_path / ".workbench" / "runs" / run.run_id
    folder.mkdir(parents=True)
    copy = runs.Run(folder, run.record)
    frame = pl.read_parquet(run.predictions)
    frame = frame.with_columns(_zero_inflated(frame.height, seed=3))
    frame.write_parquet(copy.predictions)
    table = slices.breakdown(copy, ["gain"], bins=5, metric="mae").slices
    labels = table["gain"].to_list()
    # no row is below 0, so the first slice is 0 itself
    assert table.height <= 5 + 1 and labels[0] == "= 0" and labels[1].startswith("(0, ")
    assert labels[-1] == MISSING
    assert table["n"].sum() == frame.height
    x = frame["gain"].fill_nan(None)
    assert table.filter(pl.col("gain") == "= 0")["n"][0] == (x == 0).sum()
    assert table.filter(pl.col("gain") == MISSING)["n"][0] == x.null_count()
    con = duckdb.connect()
    for r in table.iter_rows(named=True):
        assert con.execute(f"SELECT count(*) FROM read_parquet('{copy.predictions}') WHERE {r['where']}"
                           ).fetchall()[0][0] == r["n"]


def test_a_point_mass_in_the_middle_sits_between_the_bins_around_it():
    rng = np.random.default_rng(1)
    n = 6000
    x = np.where(rng.random(n) < 0.4, 5.0, rng.uniform(0, 10, n))
    con, b = _bin(pl.DataFrame({"x": x}), "x", 5)
    assert b.points == (5.0,)
    labels = b.labels()
    assert [re.sub(r"[\d.]+", "#", s) for s in labels] == ["< #", "[#, #)", "= #", "(#, #)", "≥ #"]
    assert labels[1].endswith(", 5)") and labels[2] == "= 5" and labels[3].startswith("(5, ")
    lo, hi = b.edges  # the other values are cut at their own quartiles, not a sliver beside 5
    assert lo == pytest.approx(2.5, abs=0.3) and hi == pytest.approx(7.5, abs=0.3)
    counts = _check_partition(con, b)
    _check_order(con, b)
    assert counts == {-1: 0, 0: (x < lo).sum(), 1: ((x >= lo) & (x < 5)).sum(), 2: (x == 5).sum(),
                      3: ((x > 5) & (x < hi)).sum(), 4: (x >= hi).sum()}


def test_two_point_masses_leave_the_values_between_them_an_open_interval():
    rng = np.random.default_rng(2)
    n = 4000
    u = rng.random(n)
    x = np.where(u < 0.3, 0.0, np.where(u < 0.6, 1.0, rng.uniform(-1, 2, n)))
    con, b = _bin(pl.DataFrame({"x": x}), "x", 4)
    assert b.points == (0.0, 1.0)
    labels = b.labels()
    # the other values, a third in each stretch, get a bin per stretch
    assert labels == ["< 0", "= 0", "(0, 1)", "= 1", "> 1"]
    counts = _check_partition(con, b)
    _check_order(con, b)
    assert counts[labels.index("(0, 1)")] == ((x > 0) & (x < 1)).sum()
    assert counts[labels.index("= 1")] == (x == 1).sum()


def test_at_most_three_values_get_a_bin_of_their_own_the_most_common_first():
    rng = np.random.default_rng(8)
    u = rng.random(5000)  # four values over a fifth each: the fourth most common goes in a bin of the rest
    x = np.select([u < 0.26, u < 0.5, u < 0.73, u < 0.95], [0.0, 1.0, 2.0, 3.0], rng.uniform(0, 4, 5000))
    con, b = _bin(pl.DataFrame({"x": x}), "x", 5)
    assert b.points == (0.0, 1.0, 2.0) and 3.0 not in b.points
    counts = _check_partition(con, b)
    _check_order(con, b)
    assert b.labels() == ["< 0", "= 0", "(0, 1)", "= 1", "(1, 2)", "= 2", "(2, 3)", "≥ 3"]
    assert counts[7] == (x >= 3).sum() and counts[6] == ((x > 2) & (x < 3)).sum()


def test_a_date_and_a_time_holding_a_large_share_get_their_own_bin():
    rng = np.random.default_rng(4)
    n = 3000
    day = [date(2024, 1, 1) if rng.random() < 0.5 else date(2023, 1, 1) + timedelta(days=int(d))
           for d in rng.integers(0, 365, n)]
    stamp = [datetime(2024, 3, 1, 12) if rng.random() < 0.3
             else datetime(2024, 1, 1) + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 120, n)]
    frame = pl.DataFrame({"day": day, "stamp": stamp})
    con, b = _bin(frame, "day", 4)
    assert b.points == (date(2024, 1, 1),) and "= 2024-01-01" in b.labels()
    counts = _check_partition(con, b)
    _check_order(con, b)
    assert counts[b.labels().index("= 2024-01-01")] == (frame["day"] == date(2024, 1, 1)).sum()
    # the most common day is also the latest: nothing above it
    assert b.labels()[-1] == "> 2024-01-01" and counts[b.n_bins - 1] == 0
    con, b = _bin(frame, "stamp", 4)
    assert b.points == (datetime(2024, 3, 1, 12),) and "= 2024-03-01 12:00" in b.labels()
    assert _check_partition(con, b)[b.labels().index("= 2024-03-01 12:00")] == (
        frame["stamp"] == datetime(2024, 3, 1, 12)).sum()
    _check_order(con, b)


def test_a_column_without_a_point_mass_bins_at_its_quantiles_as_before():
    # hand-checked: 1..10 at five bins cuts at the 2nd, 4th, 6th and 8th value
    con, b = _bin(pl.DataFrame({"x": np.arange(1.0, 11.0)}), "x", 5)
    assert b == Binning("x", (2.0, 4.0, 6.0, 8.0), nan_missing=True)
    assert b.labels() == ["< 2", "[2, 4)", "[4, 6)", "[6, 8)", "≥ 8"] and b.n_bins == 5
    assert b.key_sql() == ('CASE WHEN ("x" IS NULL OR isnan("x")) THEN -1 WHEN "x" < 2.0 THEN 0 '
                           'WHEN "x" < 4.0 THEN 1 WHEN "x" < 6.0 THEN 2 WHEN "x" < 8.0 THEN 3 ELSE 4 END')
    assert b.where(1) == '"x" >= 2.0 AND "x" < 4.0' and b.where(4) == '"x" >= 8.0 AND NOT isnan("x")'
    assert b.where(0) == '"x" < 2.0'
    # the quantile oracle: numpy's inverted CDF, its minimum dropped; a largest share of 15% (under
    # 1/5) is no point mass
    rng = np.random.default_rng(5)
    for x in (rng.normal(size=3000), np.where(rng.random(3000) < 0.15, 0.0, rng.normal(size=3000)),
              rng.integers(0, 40, 3000).astype(float)):
        con, b = _bin(pl.DataFrame({"x": x}), "x", 5)
        want = sorted(set(np.quantile(x, [0.2, 0.4, 0.6, 0.8], method="inverted_cdf")) - {x.min()})
        assert b.points == () and list(b.edges) == want and b.n_bins == len(want) + 1
        _check_partition(con, b)


def test_few_values_stay_by_value_even_with_a_point_mass():
    con, b = _bin(pl.DataFrame({"x": [0.0] * 8 + [1.0, 2.0, 3.0]}), "x", 5)
    assert not b.binned and b.n_bins == 0 and b.points == ()


def test_a_large_holdout_finds_its_point_mass_from_a_sample_and_still_counts_every_row():
    frame = _zero_inflated(2 * EDGE_SAMPLE + 5000, seed=6)
    con, b = _bin(frame, "gain", 5, rows=frame.height)
    assert b.points == (0.0,)
    counts = _check_partition(con, b)
    assert counts[1] == (frame["gain"] == 0).sum()


@st.composite
def _columns(draw):
    """A column of spread values with up to three values repeated, in any share."""
    n = draw(st.integers(20, 400))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(draw(st.sampled_from([0, 1, 3])))
    for share in draw(st.lists(st.floats(0.0, 0.6), max_size=3)):
        x = np.where(rng.random(n) < share, float(rng.integers(-3, 4)), x)
    x = np.where(rng.random(n) < draw(st.floats(0, 0.2)), np.nan, x)
    return x


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_columns(), bins=st.integers(2, 10))
def test_every_binning_partitions_the_rows_in_the_column_order(x, bins):
    con, b = _bin(pl.DataFrame({"x": x}), "x", bins)
    if not b.binned:
        return
    assert b.n_bins <= bins + 2 * len(b.points) + 1 and len(b.points) <= 3
    counts = _check_partition(con, b)
    _check_order(con, b)
    assert counts[-1] == np.isnan(x).sum()
    # the points are the most common values (of the first three) that fill a bin alone
    values, n = np.unique(x[~np.isnan(x)], return_counts=True)
    top = sorted(zip(-n, values))[:3]
    assert sorted(b.points) == sorted(v for m, v in top if -m * bins >= n.sum())
    for p in b.points:
        assert counts[b.labels().index(f"= {p:.4g}")] == (x == p).sum()
    # only a bin with no edge at either end can be empty: below, between or above the points
    labels = ["= "] + b.labels() + ["= "]
    for k in range(b.n_bins):
        if counts[k] == 0:
            assert labels[k].startswith("= ") and labels[k + 2].startswith("= "), (labels, b)


def test_an_edge_at_the_lowest_value_beside_a_point_is_dropped_not_left_as_an_empty_bin():
    # 85% zeros, then 1 (8%, under a fifth: no point) is half of the rest and its lowest value
    rng = np.random.default_rng(7)
    u = rng.random(4000)
    x = np.where(u < 0.85, 0, np.where(u < 0.93, 1, rng.integers(2, 1000, 4000)))
    con, b = _bin(pl.DataFrame({"x": x}), "x", 5)
    assert b.points == (0,) and 1 not in b.edges
    counts = _check_partition(con, b)
    assert b.labels()[2].startswith("(0, ") and counts[2] >= (x == 1).sum()
    assert [k for k, m in counts.items() if m == 0] == [-1, 0]  # nothing missing, nothing below 0
