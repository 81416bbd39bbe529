"""How a column of a run's holdout is cut into slices: by value, at quantile edges, or in and
out of a saved slice's condition.

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
    slice's ``condition`` (rows are in it or not). ``nan_missing`` marks a float column."""

    column: str
    edges: tuple[Any, ...] = ()
    condition: str | None = None
    nan_missing: bool = False

    @property
    def binned(self) -> bool:
        return bool(self.edges)

    def _inside(self) -> str:
        return f"coalesce(({self.condition}), FALSE)"

    def _missing(self) -> str:
        return missing_sql(self.column, nan=self.nan_missing)

    def labels(self) -> list[str]:
        """The labels of the bins (or of in/out of a saved slice), in key order."""
        if self.condition is not None:
            name = self.column.removeprefix("slice:")
            return [f"in {name}", f"not in {name}"]
        e = [_fmt(x) for x in self.edges]
        return [f"< {e[0]}"] + [f"[{a}, {b})" for a, b in zip(e, e[1:])] + [f"≥ {e[-1]}"]

    def key_sql(self) -> str:
        """The grouping key: 0/1 for in/out of a saved slice; the value as text (NULL stays NULL)
        for a column by value; for a binned column the bin's index (-1 for missing), which groups
        faster than a text label made for every row."""
        c = quote(self.column)
        if self.condition is not None:
            return f"CASE WHEN {self._inside()} THEN 0 ELSE 1 END"
        if not self.binned:
            text = f"CAST({c} AS VARCHAR)"
            return f"CASE WHEN isnan({c}) THEN NULL ELSE {text} END" if self.nan_missing else text
        cases = " ".join(f"WHEN {c} < {sql_literal(e)} THEN {i}" for i, e in enumerate(self.edges))
        return f"CASE WHEN {self._missing()} THEN -1 {cases} ELSE {len(self.edges)} END"

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
        i = int(key)
        lo = f"{c} >= {sql_literal(self.edges[i - 1])}" if i > 0 else None
        hi = f"{c} < {sql_literal(self.edges[i])}" if i < len(self.edges) else None
        if hi is None and self.nan_missing:  # NaN sorts above every number in DuckDB
            hi = f"NOT isnan({c})"
        return " AND ".join(p for p in (lo, hi) if p)


def column_binning(con: duckdb.DuckDBPyConnection, src: str, column: str, dtype: str, bins: int,
                   *, rows: int = 0) -> Binning:
    """Quantile edges for numbers and times with more distinct values than ``bins``.

    For a holdout of more than 2 x EDGE_SAMPLE ``rows``, edges come from every k-th row by
    ``_row`` (the row's place in the dataset, unrelated to the stored loss order): half the time
    at a million rows. Edges only name the bins; every count and metric uses all rows. NaN never
    becomes an edge."""
    nan = is_float_type(dtype)
    if not is_ordered_type(dtype) or bins < 2:
        return Binning(column, nan_missing=nan)
    c = quote(column)
    qs = ", ".join(str(i / bins) for i in range(1, bins))
    every = rows // EDGE_SAMPLE if rows > 2 * EDGE_SAMPLE else 1
    keep = [f"_row % {every} = 0"] if every > 1 else []
    if nan:
        keep.append(f"NOT isnan({c})")
    where = f" WHERE {' AND '.join(keep)}" if keep else ""
    distinct, edges, low = fetch_row(
        con, f"SELECT approx_count_distinct({c}), quantile_disc({c}, [{qs}]), min({c}) FROM {src}{where}")
    if distinct is None or distinct <= bins or not edges:
        return Binning(column, nan_missing=nan)
    # an edge at the minimum would make an empty first bin
    uniq = sorted({e for e in edges if e is not None and e != low})
    return Binning(column, tuple(uniq), nan_missing=nan)
