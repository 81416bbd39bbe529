"""Slice discovery for a run: SliceLine over its holdout, with statistics a reviewer can trust.

The model's features are coded in DuckDB: text and few-valued columns by value (the 50 most
frequent, the rest as "other"), numbers into bins at the LightGBM model's own split thresholds
(the strongest by total gain) or at quantiles; nulls are a level of their own. SliceLine
(``workbench.sliceline``) finds the top-k slices. For each: its mean error with a 95% interval
(Wilson for misclassification, t for loss), lift over the rest of the holdout, a one-sided
test that it errs more than the rest, and a Benjamini-Hochberg q-value over every candidate
the search evaluated. In discover-then-confirm mode the search runs on a random half of the
holdout and each slice is tested again on the other half.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import duckdb
import lightgbm as lgb
import numpy as np
import polars as pl

from workbench import stats
from workbench.analysis import sliceline
from workbench.analysis.rowerror import ErrorKind, error_sql
from workbench.analysis.binning import MISSING, Binning, column_binning, missing_sql
from workbench.engine import is_numeric_type, limits, quote, sql_literal
from workbench.errors import WorkbenchError
from workbench.store.runs import Run

Binner = Literal["model", "quantile"]
MAX_LEVELS = 50
OTHER = "(other)"


@dataclass(frozen=True)
class Feature:
    """How one column is coded: bins (``binning``) or values (``values``, codes 1..; 0 = null)."""

    column: str
    binning: Binning | None = None
    values: tuple[str, ...] = ()
    nan_missing: bool = False  # a float column: NaN is missing, like NULL

    @property
    def domain(self) -> int:
        if self.binning is not None:
            return len(self.binning.edges) + 2  # null, then the bins
        return len(self.values) + 2             # null, the values, other

    def code_sql(self) -> str:
        c = quote(self.column)
        if self.binning is not None:
            return f"({self.binning.key_sql()}) + 1"
        missing = self._missing()
        if not self.values:
            return f"CASE WHEN {missing} THEN 0 ELSE 1 END"
        listed = "[" + ", ".join(sql_literal(v) for v in self.values) + "]"
        return (f"CASE WHEN {missing} THEN 0 ELSE "
                f"coalesce(list_position({listed}, CAST({c} AS VARCHAR)), {len(self.values) + 1}) END")

    def _missing(self) -> str:
        return missing_sql(self.column, nan=self.nan_missing)

    def label(self, code: int) -> str:
        if code == 0:
            return MISSING
        if self.binning is not None:
            return self.binning.label(code - 1)
        return self.values[code - 1] if code <= len(self.values) else OTHER

    def predicate(self, code: int) -> str:
        """Readable: 'carrier = EV', 'hour in [17, 20)', 'temp is missing'."""
        lab = self.label(code)
        if code == 0:
            return f"{self.column} is missing"
        if self.binning is not None:
            return f"{self.column} {lab}" if lab[0] in "<≥" else f"{self.column} in {lab}"
        return f"{self.column} = {lab}" if lab != OTHER else f"{self.column} not in the top {len(self.values)}"

    def where(self, code: int) -> str:
        c = quote(self.column)
        if self.binning is not None:
            return self.binning.where(code - 1)
        if code == 0:
            return self._missing()
        if code <= len(self.values):
            return f"CAST({c} AS VARCHAR) = {sql_literal(self.values[code - 1])}"
        listed = ", ".join(sql_literal(v) for v in self.values)
        return f"CAST({c} AS VARCHAR) NOT IN ({listed}) AND NOT {self._missing()}"


@dataclass(frozen=True)
class Discovery:
    """Top slices, best first. ``slices`` columns: predicate, filters (column -> value or bin),
    where (SQL), size, error, score, ci_low, ci_high, rest_error, lift, p_value, q_value, and
    with confirmation: confirm_size, confirm_error, confirm_p, confirmed."""

    run_id: str
    error: ErrorKind
    params: dict
    n: int
    mean_error: float
    candidates_evaluated: int
    levels: list[dict]
    seconds: float
    slices: pl.DataFrame

    def to_dict(self) -> dict:
        rows = []
        for r in self.slices.iter_rows(named=True):
            row = {"predicate": r["predicate"], "filters": dict(zip(r["filters"]["column"], r["filters"]["value"])),
                   "where": r["where"], "size": r["size"], "error": r["error"], "score": r["score"],
                   "ci": [r["ci_low"], r["ci_high"]], "rest_error": r["rest_error"], "lift": r["lift"],
                   "p_value": r["p_value"], "q_value": r["q_value"], "confirmed": r.get("confirmed")}
            if "confirm_error" in r:
                row.update(confirm_size=r["confirm_size"], confirm_error=r["confirm_error"], confirm_p=r["confirm_p"])
            rows.append(row)
        return {"run_id": self.run_id, "error": self.error, "params": self.params, "slices": rows,
                "n": self.n, "mean_error": self.mean_error, "candidates_evaluated": self.candidates_evaluated,
                "levels": self.levels, "seconds": self.seconds}


def model_thresholds(run: Run) -> dict[str, list[tuple[float, float]]]:
    """(threshold, total split gain) of every numeric split in the run's LightGBM model."""
    model = lgb.Booster(model_file=str(run.model_path)).dump_model()
    column_of = dict(zip(run.record.model_feature_names, run.record.features))
    names = [column_of.get(n, n) for n in model["feature_names"]]
    gains: dict[str, dict[float, float]] = {}
    stack = [t["tree_structure"] for t in model["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        if node.get("decision_type") == "<=":
            per = gains.setdefault(names[node["split_feature"]], {})
            per[node["threshold"]] = per.get(node["threshold"], 0.0) + node.get("split_gain", 0.0)
        stack += [node["left_child"], node["right_child"]]
    return {f: sorted(g.items()) for f, g in gains.items()}


def encode(run: Run, con: duckdb.DuckDBPyConnection, src: str, columns: list[str], *, bins: int,
           binner: Binner) -> list[Feature]:
    """Decide how each column is coded, from the holdout and (for ``binner='model'``) the model."""
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    thresholds = model_thresholds(run) if binner == "model" else {}
    rows = run.record.split.n_holdout
    features = []
    for c in columns:
        b = column_binning(con, src, c, schema[c], bins, rows=rows)
        if b.binned and binner == "model" and is_numeric_type(schema[c]) and thresholds.get(c):
            best = sorted(thresholds[c], key=lambda tg: -tg[1])[:bins - 1]
            b = Binning(c, tuple(sorted(t for t, _ in best)), nan_missing=b.nan_missing)
        if b.binned:
            features.append(Feature(c, binning=b))
            continue
        top = con.execute(f"SELECT CAST({quote(c)} AS VARCHAR) v FROM {src} "
                          f"WHERE NOT {missing_sql(c, nan=b.nan_missing)} "
                          f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {MAX_LEVELS}").fetchall()
        features.append(Feature(c, values=tuple(sorted(v for (v,) in top)), nan_missing=b.nan_missing))
    return features


def discover(run: Run, *, k: int = sliceline.DEFAULT_K, max_level: int | None = 3,
             alpha: float = sliceline.DEFAULT_ALPHA, min_support: float = sliceline.DEFAULT_MIN_SUPPORT,
             error: ErrorKind = "loss", bins: int = 5, binner: Binner = "model",
             columns: list[str] | None = None, confirm: bool = False, seed: int = 0) -> Discovery:
    """The top-k slices of ``run``'s holdout where its model errs most, with statistics."""
    started = time.perf_counter()
    _check(run, k=k, max_level=max_level, alpha=alpha, min_support=min_support, error=error, bins=bins)
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    available = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall() if not r[0].startswith("_")]
    columns = columns or [c for c in run.record.features if c in available]
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise WorkbenchError(f"Unknown column(s) {', '.join(unknown)} in run {run.run_id}; columns: {', '.join(available)}.")
    features = encode(run, con, src, columns, bins=bins, binner=binner)
    err_sql = error_sql(run, error)
    with limits(con):
        coded = con.sql(f"SELECT {', '.join(f.code_sql() + f' AS f{i}' for i, f in enumerate(features))}, "
                        f"({err_sql})::DOUBLE AS e FROM {src}").fetchnumpy()
    X = np.column_stack([coded[f"f{i}"] for i in range(len(features))]).astype(np.int64)
    e = coded["e"]
    find, check = np.ones(len(e), bool), None
    if confirm:
        find = np.random.default_rng(seed).random(len(e)) < 0.5
        check = ~find
    try:
        lattice = sliceline.find_slices(X[find], e[find], [f.domain for f in features], k=k,
                                        max_level=max_level, alpha=alpha, min_support=min_support)
    except ValueError as exc:
        raise WorkbenchError(f"Slice discovery: {exc}.") from None
    rate = error == "misclassification"
    table = _statistics(lattice, features, e[find], rate=rate)
    if confirm and table.height:
        table = _confirm(table, lattice, X[check], e[check], rate=rate)
    params = {"k": k, "max_level": max_level, "alpha": alpha, "min_support": min_support,
              "bins": bins, "binner": binner, "columns": columns, "confirm": confirm, "seed": seed}
    return Discovery(run.run_id, error, params, lattice.n, lattice.mean_error, len(lattice.evaluated),
                     lattice.levels, round(time.perf_counter() - started, 3), table)


def _check(run: Run, *, k, max_level, alpha, min_support, error, bins) -> None:
    error_sql(run, error)
    if not 0 < alpha <= 1:
        raise WorkbenchError(f"Invalid alpha {alpha}: use a number in (0, 1].")
    if k < 1 or (max_level is not None and max_level < 1) or bins < 2:
        raise WorkbenchError("k and max_level must be at least 1 and bins at least 2.")
    if min_support <= 0:
        raise WorkbenchError(f"Invalid min_support {min_support}: a row count, or a fraction in (0, 1).")


def _mean_stats(size, err, sq, total_n, total_err, total_sq, *, rate: bool) -> stats.GroupStats:
    """Mean error, 95% interval, rest mean and one-sided p (the slice errs more than the rest)."""
    if rate:
        return stats.rates_vs_rest(err, size, total_err, total_n, alternative="greater")
    return stats.means_vs_rest(err, sq, size, total_err, total_sq, total_n, alternative="greater")


def _statistics(lattice: sliceline.Lattice, features: list[Feature], e: np.ndarray, *, rate: bool) -> pl.DataFrame:
    """Statistics of the top slices; q-values over every candidate evaluated."""
    ev = lattice.evaluated
    total_err, total_sq = float(e.sum()), float((e * e).sum())
    q_all = stats.bh_qvalues(_mean_stats(ev[:, 0], ev[:, 1], ev[:, 2], lattice.n, total_err, total_sq,
                                         rate=rate).p_value)
    ts = lattice.top_stats
    g = _mean_stats(ts[:, 1], ts[:, 2], ts[:, 3], lattice.n, total_err, total_sq, rate=rate)
    mean, lo, hi, rest, p = g.value, g.ci_low, g.ci_high, g.rest, g.p_value
    rows = []
    for i, items in enumerate(lattice.top):
        parts = [(features[lattice.feature_of[it]], int(lattice.code_of[it])) for it in items]
        rows.append({"predicate": " and ".join(f.predicate(c) for f, c in parts),
                     "filters": {"column": [f.column for f, _ in parts], "value": [f.label(c) for f, c in parts]},
                     "where": " AND ".join(f"({f.where(c)})" for f, c in parts),
                     "items": list(items)})
    return pl.DataFrame({
        "predicate": [r["predicate"] for r in rows],
        "filters": [r["filters"] for r in rows],
        "where": [r["where"] for r in rows],
        "items": [r["items"] for r in rows],
        "size": ts[:, 1].astype(np.int64), "error": mean, "score": ts[:, 0],
        "ci_low": lo, "ci_high": hi, "rest_error": rest,
        "lift": np.divide(mean, rest, out=np.full(len(mean), np.nan), where=rest > 0), "p_value": p, "q_value": q_all[ts[:, 4].astype(np.int64)] if len(ts) else [],
    }, schema_overrides={"filters": pl.Struct({"column": pl.List(pl.String), "value": pl.List(pl.String)}),
                         "items": pl.List(pl.Int64), "size": pl.Int64}).with_columns(pl.col(pl.Float64).fill_nan(None))


def _confirm(table: pl.DataFrame, lattice: sliceline.Lattice, X: np.ndarray, e: np.ndarray, *,
             rate: bool) -> pl.DataFrame:
    """Each slice's size, error and one-sided test on the half of the holdout it was not found on;
    confirmed when its Benjamini-Hochberg q over the k tests is below 0.05."""
    size, err, sq = [], [], []
    for items in table["items"]:
        mask = np.ones(len(e), bool)
        for it in items:
            mask &= X[:, lattice.feature_of[it]] == lattice.code_of[it]
        size.append(mask.sum())
        err.append(e[mask].sum())
        sq.append((e[mask] ** 2).sum())
    g = _mean_stats(size, err, sq, len(e), e.sum(), (e ** 2).sum(), rate=rate)
    mean, p = g.value, g.p_value
    q = stats.bh_qvalues(p)
    return table.with_columns(confirm_size=pl.Series(np.asarray(size, np.int64)),
                              confirm_error=pl.Series(mean, dtype=pl.Float64).fill_nan(None),
                              confirm_p=pl.Series(p, dtype=pl.Float64).fill_nan(None),
                              confirmed=pl.Series(q < 0.05))
