"""How a column of a run's holdout is cut into slices: by value, at quantile edges, or in and
out of a saved slice's condition.

A value that holds a large share of the rows (a point mass: the 0 of a capital gain that 90% of
people never had) gets a bin of its own, ``= 0``, and the other values are cut at their own
quantiles around it; without that, every quantile edge would be 0 and the column would fall back
to one slice per value.

Every slice's SQL ``WHERE`` is made from its grouping key, never from its label, so a text value
that reads like the missing-value label (``'null'``, say) stays a slice of its own and its
``WHERE`` selects exactly the rows counted. In a float column NaN counts as missing, like NULL:
a NaN would otherwise sort above every number and land in the top bin.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from workbench.engine import fetch_row, is_float_type, is_ordered_type, quote, sql_literal

MISSING = "(missing)"  # the label of missing values (NULL, and NaN in a float column)
EDGE_SAMPLE = 100_000  # bin edges of larger holdouts come from about this many rows
MAX_POINTS = 3  # at most this many point masses get a bin of their own


def _fmt(x: Any) -> str:
    if isinstance(x, datetime):
        return x.isoformat(sep=" ", timespec="minutes") if x.second == 0 else x.isoformat(sep=" ")
    if isinstance(x, date):
        return x.isoformat()
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def missing_sql(column: str, *, nan: bool) -> str:
    """The rows where ``column`` is missing: NULL, and NaN too where ``nan`` (a float column)."""
    c = quote(column)
    return f"({c} IS NULL OR isnan({c}))" if nan else f"{c} IS NULL"


@dataclass(frozen=True)
class Binning:
    """How one column is cut: by value, at quantile ``edges`` (numbers or times), or by a saved
    slice's ``condition`` (rows are in it or not). ``points`` are values with a bin of their own
    (``= 0``), placed among the intervals in the column's order. ``nan_missing`` marks a float
    column.

    A binned column's keys count its bins from the lowest, 0 to ``n_bins - 1``; -1 is missing.
    The bins are the intervals between consecutive cuts (edges and points together), each point
    between the interval below it and the one above, whose lower end it leaves open: ``< 0``,
    ``= 0``, ``(0, 12)``, ``[12, 40)``, ``≥ 40``."""

    column: str
    edges: tuple[Any, ...] = ()
    condition: str | None = None
    nan_missing: bool = False
    points: tuple[Any, ...] = ()

    @property
    def binned(self) -> bool:
        return bool(self.edges or self.points)

    @property
    def n_bins(self) -> int:
        """How many bins a binned column has besides missing (0 for a column by value or a saved
        slice). A bin below the lowest point, above the highest or between two may hold no rows."""
        return len(self._bins())  # an edge that is also a point (a model's threshold) counts once

    def _bins(self) -> list[tuple[str, Any, Any]]:
        """The bins in key order: ``('=', p, p)`` for a point; for an interval ``('[', lo, hi)``
        or ``('(', lo, hi)`` by whether its lower end is in it, None for an open end."""
        out: list[tuple[str, Any, Any]] = []
        lo, shut = None, "["
        for cut in sorted({*self.edges, *self.points}):
            out.append((shut, lo, cut))
            point = cut in self.points
            if point:
                out.append(("=", cut, cut))
            lo, shut = cut, "(" if point else "["
        return out + [(shut, lo, None)] if self.binned else []

    def _inside(self) -> str:
        return f"coalesce(({self.condition}), FALSE)"

    def _missing(self) -> str:
        return missing_sql(self.column, nan=self.nan_missing)

    def labels(self) -> list[str]:
        """The labels of the bins (or of in/out of a saved slice), in key order."""
        if self.condition is not None:
            name = self.column.removeprefix("slice:")
            return [f"in {name}", f"not in {name}"]
        return [_bin_label(*b) for b in self._bins()]

    def key_sql(self) -> str:
        """The grouping key: 0/1 for in/out of a saved slice; the value as text (NULL stays NULL)
        for a column by value; for a binned column the bin's index (-1 for missing), which groups
        faster than a text label made for every row. Points are tested first, so each interval
        needs only its upper end."""
        c = quote(self.column)
        if self.condition is not None:
            return f"CASE WHEN {self._inside()} THEN 0 ELSE 1 END"
        if not self.binned:
            text = f"CAST({c} AS VARCHAR)"
            return f"CASE WHEN isnan({c}) THEN NULL ELSE {text} END" if self.nan_missing else text
        bins = self._bins()
        points = [f"WHEN {c} = {sql_literal(lo)} THEN {i}" for i, (kind, lo, _) in enumerate(bins)
                  if kind == "="]
        below = [f"WHEN {c} < {sql_literal(hi)} THEN {i}" for i, (kind, _, hi) in enumerate(bins)
                 if kind != "=" and hi is not None]
        return f"CASE WHEN {self._missing()} THEN -1 {' '.join(points + below)} ELSE {len(bins) - 1} END"

    def label(self, key: Any) -> str:
        """The readable label of one grouping key of :meth:`key_sql`."""
        if self.condition is not None:
            return self.labels()[int(key)]
        if key is None or (self.binned and key == -1):
            return MISSING
        return self.labels()[int(key)] if self.binned else str(key)

    def label_keys(self, keys: pl.Series) -> pl.Series:
        """Readable labels for a column of grouping keys."""
        return pl.Series(keys.name, [self.label(k) for k in keys.to_list()], dtype=pl.String)

    def where(self, key: Any) -> str:
        """The SQL predicate that selects the rows of the slice with grouping key ``key``."""
        c = quote(self.column)
        if self.condition is not None:
            return self._inside() if int(key) == 0 else f"NOT {self._inside()}"
        if key is None or (self.binned and key == -1):
            return self._missing()
        if not self.binned:
            return f"CAST({c} AS VARCHAR) = {sql_literal(key)}"
        kind, lo, hi = self._bins()[int(key)]
        if kind == "=":
            return f"{c} = {sql_literal(lo)}"
        low = f"{c} {'>' if kind == '(' else '>='} {sql_literal(lo)}" if lo is not None else None
        high = f"{c} < {sql_literal(hi)}" if hi is not None else None
        if high is None and self.nan_missing:  # NaN sorts above every number in DuckDB
            high = f"NOT isnan({c})"
        return " AND ".join(p for p in (low, high) if p)


def _bin_label(kind: str, lo: Any, hi: Any) -> str:
    """``= 0``, ``< 3``, ``[3, 5)``, ``(0, 5)``, ``≥ 5`` or ``> 0``."""
    if kind == "=":
        return f"= {_fmt(lo)}"
    if lo is None:
        return f"< {_fmt(hi)}"
    if hi is None:
        return f"{'>' if kind == '(' else '≥'} {_fmt(lo)}"
    return f"{kind}{_fmt(lo)}, {_fmt(hi)})"


def column_binning(con: duckdb.DuckDBPyConnection, src: str, column: str, dtype: str, bins: int,
                   *, rows: int = 0) -> Binning:
    """Quantile edges for numbers and times with more distinct values than ``bins``, and a bin of
    its own for each of up to MAX_POINTS values that hold at least ``1 / bins`` of the rows (they
    would fill a quantile bin alone).

    For a holdout of more than 2 x EDGE_SAMPLE ``rows``, edges come from every k-th row by
    ``_row`` (the row's place in the dataset, unrelated to the stored loss order): half the time
    at a million rows. Edges only name the bins; every count and metric uses all rows. NaN never
    becomes an edge or a point. A column without a point mass takes one query; one with, three."""
    nan = is_float_type(dtype)
    if not is_ordered_type(dtype) or bins < 2:
        return Binning(column, nan_missing=nan)
    c = quote(column)
    every = rows // EDGE_SAMPLE if rows > 2 * EDGE_SAMPLE else 1
    keep = [f"_row % {every} = 0"] if every > 1 else []
    if nan:
        keep.append(f"NOT isnan({c})")
    where = f" WHERE {' AND '.join(keep)}" if keep else ""
    sample = f"SELECT {c} AS v FROM {src}{where}"
    # quantiles on a grid three times finer than the bins: a value holding 1 / bins of the rows
    # spans at least two neighbouring grid points (min and max count as the ends), so only then
    # is the costlier count of the most frequent values needed
    fine = 3 * bins
    distinct, grid, low, high = fetch_row(
        con, f"WITH s AS ({sample}) SELECT approx_count_distinct(v), quantile_disc(v, [{_quantiles(fine)}]), "
             f"min(v), max(v) FROM s")
    if distinct is None or distinct <= bins or not grid:
        return Binning(column, nan_missing=nan)
    ends = [low, *grid, high]
    if any(a == b for a, b in zip(ends, ends[1:])):
        # the most frequent values, each with how many rows lie below it
        n, top = fetch_row(
            con, f"WITH s AS ({sample}), top AS (SELECT v, count(*) AS n FROM s WHERE v IS NOT NULL "
                 f"GROUP BY v ORDER BY n DESC, v LIMIT {MAX_POINTS}) "
                 f"SELECT count(v), (SELECT list(struct_pack(v, n, below := (SELECT count(*) FROM s WHERE s.v < top.v))) "
                 f"FROM top) FROM s")
        points = sorted((t for t in top or [] if t["n"] * bins >= n), key=lambda t: t["v"])
        if points:
            return _around_points(con, sample, column, points, n, bins, nan=nan)
    # the bins' own quantiles are every third of the grid; an edge at the minimum would make an
    # empty first bin
    edges = grid[2::3]
    uniq = sorted({e for e in edges if e is not None and e != low})
    return Binning(column, tuple(uniq), nan_missing=nan)


def _quantiles(bins: int, start: float = 0.0, stop: float = 1.0) -> str:
    """The cumulative shares that cut ``start``..``stop`` into ``bins`` equal parts, for SQL."""
    return ", ".join(str(start + (stop - start) * i / bins) for i in range(1, bins))


def _around_points(con: duckdb.DuckDBPyConnection, sample: str, column: str, points: list[dict], n: int,
                   bins: int, *, nan: bool) -> Binning:
    """Bins for the values other than ``points``: the points cut them into stretches (below the
    lowest point, between two, above the highest), and each stretch gets its share of
    ``bins - len(points)`` bins (at least 2 in all, 1 for any stretch that holds rows), cut at
    its own quantiles. So no bin is a sliver beside a point: with 40% of rows at 5 and the rest
    spread over 0..10, five bins read ``< 2.5``, ``[2.5, 5)``, ``= 5``, ``(5, 7.5)``, ``≥ 7.5``."""
    values = tuple(p["v"] for p in points)
    k = max(bins - len(points), 2)
    rest = n - sum(p["n"] for p in points)
    # each point's place among the other values: the rows below it, less the points below it
    bounds = [0.0] + [(p["below"] - sum(q["n"] for q in points[:i])) / max(rest, 1)
                      for i, p in enumerate(points)] + [1.0]
    shares = ", ".join(filter(None, (_quantiles(max(1, int((b - a) * k + 0.5)), a, b)
                                     for a, b in zip(bounds, bounds[1:]) if b > a)))
    if not shares:
        return Binning(column, nan_missing=nan, points=values)
    # an edge at the lowest value of its stretch would make an empty bin
    lows = "".join(f", min(v) FILTER (WHERE v > {sql_literal(p)})" for p in values)
    edges, *mins = fetch_row(
        con, f"WITH s AS ({sample}) SELECT quantile_disc(v, [{shares}]), min(v){lows} "
             f"FROM s WHERE v NOT IN ({', '.join(sql_literal(p) for p in values)})")
    kept = {e for e in edges or [] if e is not None} - set(mins)
    return Binning(column, tuple(sorted(kept)), nan_missing=nan, points=values)
