"""Slice discovery for a run: SliceLine over its holdout, with statistics a reviewer can trust.

The model's features are coded in DuckDB: text and few-valued columns by value (the 50 most
frequent, the rest as "other"), numbers into bins at the LightGBM model's own split thresholds
(the strongest by total gain; a run without a model, imported predictions, gets quantile
bins, and its ``params`` say ``binner_note``) or at quantiles, a value holding a large share of the rows in a
bin of its own; nulls are a level of their own. SliceLine (``workbench.sliceline``) finds the
top slices.

A search picks the slices whose rows err most, so its own rows flatter them: under coin-flip
labels, 48 of 73 slices it returned had p < 0.05 on those rows. By default the search runs on a
random half of the holdout and every figure a reviewer acts on (size, error with its 95%
interval, lift, a one-sided test that the slice errs more than the rest, the Benjamini-Hochberg
q over the slices shown, "confirmed") comes from the other half, which the search never saw.
The search half's figures stay available, named ``search_*``, with q-values over every
candidate the search evaluated. A permutation test asks whether the search found anything at
all: the per-row errors are shuffled over the search half R times and the search rerun; the
share of shuffles whose best score reaches the real one is the top score's p-value.

Found slices whose rows mostly overlap a higher-ranked one (Jaccard over the holdout's rows) are
listed under it as ``also``, so the top k are k different findings.
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
PERMUTATIONS = 100  # searches of shuffled errors behind the top score's p-value
OVERLAP = 0.5       # a slice whose rows overlap a higher one's this much (Jaccard) is listed under it
NO_MODEL_BINS = "the run has no model (imported predictions): numbers are cut at quantiles, not split thresholds"
POOL = 16           # grouping draws its k findings from the search's top POOL x k slices
MAX_COLUMNS = 100   # columns searched when none are named: past it, the model's strongest (by total gain)


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
            return self.binning.n_bins + 1  # null, then the bins
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
        """Readable: 'carrier = EV', 'hour in [17, 20)', 'gain = 0', 'gain > 0', 'temp is missing'."""
        lab = self.label(code)
        if code == 0:
            return f"{self.column} is missing"
        if self.binning is not None:
            return f"{self.column} {lab}" if lab[0] in "<≥=>" else f"{self.column} in {lab}"
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


FROM_OTHER_HALF = "the other half of the holdout, which the search did not see"
FROM_SEARCH = "the rows the search chose them on (optimistic: the search picks slices that err there)"


@dataclass(frozen=True)
class Discovery:
    """Top slices, best first, each a different finding. ``slices`` columns: predicate, filters
    (column -> value or bin), where (SQL), score, also (the lower-ranked slices grouped under it),
    then size, error, ci_low, ci_high, rest_error, lift, p_value, q_value and confirmed, counted on
    the rows ``figures_from`` names; with confirmation also the search half's search_size,
    search_error, search_ci_low, search_ci_high, search_p and search_q. ``top_score_p`` is the
    permutation p-value of the top score over ``permutations`` shuffles (None without any)."""

    run_id: str
    error: ErrorKind
    params: dict
    n: int
    mean_error: float
    candidates_evaluated: int
    levels: list[dict]
    seconds: float
    slices: pl.DataFrame
    figures_from: str = FROM_SEARCH
    top_score_p: float | None = None
    permutations: int = 0

    def to_dict(self) -> dict:
        rows = []
        for r in self.slices.iter_rows(named=True):
            row = {"predicate": r["predicate"], "filters": dict(zip(r["filters"]["column"], r["filters"]["value"])),
                   "where": r["where"], "score": r["score"], "size": r["size"], "error": r["error"],
                   "ci": [r["ci_low"], r["ci_high"]], "rest_error": r["rest_error"], "lift": r["lift"],
                   "p_value": r["p_value"], "q_value": r["q_value"], "confirmed": r["confirmed"],
                   "also": r["also"]}
            if "search_error" in r:
                row["search"] = {"size": r["search_size"], "error": r["search_error"],
                                 "ci": [r["search_ci_low"], r["search_ci_high"]], "p_value": r["search_p"],
                                 "q_value": r["search_q"]}
            rows.append(row)
        return {"run_id": self.run_id, "error": self.error, "params": self.params, "figures_from": self.figures_from,
                "top_score_p": self.top_score_p, "permutations": self.permutations, "slices": rows,
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


def strongest(run: Run, columns: list[str]) -> tuple[list[str], str | None]:
    """At most ``MAX_COLUMNS`` of ``columns`` to search, and a note when some were left out: the
    search's lattice grows with the square of its columns (2,000 columns took 91 s and 5.9 GB at
    4,000 rows), and the columns the model leans on least are the least likely to explain its errors."""
    if len(columns) <= MAX_COLUMNS:
        return columns, None
    how = "the first"
    if run.model_path.is_file():
        booster = lgb.Booster(model_file=str(run.model_path))
        column_of = dict(zip(run.record.model_feature_names, run.record.features))
        gain = {column_of.get(n, n): g for n, g in zip(booster.feature_name(), booster.feature_importance("gain"))}
        columns = sorted(columns, key=lambda c: -gain.get(c, 0.0))
        how = "the model's strongest (by total split gain)"
    kept = columns[:MAX_COLUMNS]
    return kept, (f"searched {how} {MAX_COLUMNS} of the run's {len(columns):,} feature columns; "
                  f"name columns to search others")


def encode(run: Run, con: duckdb.DuckDBPyConnection, src: str, columns: list[str], *, bins: int,
           binner: Binner) -> list[Feature]:
    """Decide how each column is coded, from the holdout and (for ``binner='model'``) the model."""
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    thresholds = model_thresholds(run) if binner == "model" else {}
    rows = run.record.split.n_holdout
    features = []
    for c in columns:
        b = column_binning(con, src, c, schema[c], bins, rows=rows)
        # a number with more values than bins is cut at the model's thresholds where it has some
        # (a point mass such as 0 included: LightGBM puts a threshold right above it)
        if b.binned and binner == "model" and is_numeric_type(schema[c]) and thresholds.get(c):
            # a threshold right beside a point mass (LightGBM cuts 0 from the rest at 1e-35) only
            # splits off an empty sliver: the point's own bin already does that cut
            beside = [t for t, _ in thresholds[c] if any(abs(t - p) <= 1e-9 * max(1.0, abs(p)) for p in b.points)]
            best = sorted((tg for tg in thresholds[c] if tg[0] not in beside), key=lambda tg: -tg[1])[:bins - 1]
            b = Binning(c, tuple(sorted(t for t, _ in best)), nan_missing=b.nan_missing, points=b.points)
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
             columns: list[str] | None = None, confirm: bool = True, seed: int = 0,
             permutations: int = PERMUTATIONS, group: bool = True, overlap: float = OVERLAP) -> Discovery:
    """The top-k slices of ``run``'s holdout where its model errs most, with statistics.

    ``confirm`` searches a random half (drawn by ``seed``) and counts every figure on the other;
    ``permutations`` shuffles (seeded too; 0 for none) give the top score's p-value; ``group``
    lists a slice whose rows overlap a higher one's by ``overlap`` (Jaccard) or more under it."""
    started = time.perf_counter()
    _check(run, k=k, max_level=max_level, alpha=alpha, min_support=min_support, error=error, bins=bins,
           permutations=permutations, overlap=overlap)
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    available = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall() if not r[0].startswith("_")]
    named = bool(columns)
    columns = columns or [c for c in run.record.features if c in available]
    columns, columns_note = (columns, None) if named else strongest(run, columns)
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise WorkbenchError(f"Unknown column(s) {', '.join(unknown)} in run {run.run_id}; columns: {', '.join(available)}.")
    note = None
    if binner == "model" and not run.model_path.is_file():  # imported predictions: no model, no thresholds
        binner, note = "quantile", NO_MODEL_BINS
    features = encode(run, con, src, columns, bins=bins, binner=binner)
    err_sql = error_sql(run, error)
    with limits(con):
        coded = con.sql(f"SELECT {', '.join(f.code_sql() + f' AS f{i}' for i, f in enumerate(features))}, "
                        f"({err_sql})::DOUBLE AS e FROM {src}").fetchnumpy()
    X = np.column_stack([coded[f"f{i}"] for i in range(len(features))]).astype(np.int64)
    e = coded["e"]
    rng = np.random.default_rng(seed)
    find = rng.random(len(e)) < 0.5 if confirm else np.ones(len(e), bool)
    domains = [f.domain for f in features]
    search = dict(max_level=max_level, alpha=alpha, min_support=min_support)
    try:
        lattice = sliceline.find_slices(X[find], e[find], domains, k=k * POOL if group else k, **search)
    except ValueError as exc:
        raise WorkbenchError(f"Slice discovery: {exc}.") from None
    def rows_of(i: int) -> np.ndarray:
        return _rows(X, lattice, lattice.top[i])
    keep, also = _group(rows_of, len(lattice.top), k, overlap) if group else (list(range(min(k, len(lattice.top)))), {})
    rate = error == "misclassification"
    table = _statistics(lattice, features, e[find], rate=rate, keep=keep, also=also)
    if confirm:  # an empty table gets the same columns, so a reader of it needs no special case
        table = _confirm(table, [rows_of(i)[~find] for i in keep], e[~find], rate=rate)
    else:
        table = table.with_columns(confirmed=pl.lit(None, pl.Boolean))
    top_score_p = None
    if permutations and len(lattice.top):
        top_score_p = _permutation_p(X[find], e[find], domains, lattice.top_stats[0, 0], permutations, rng, search)
    params = {"k": k, "max_level": max_level, "alpha": alpha, "min_support": min_support, "bins": bins,
              "binner": binner, "columns": columns, "confirm": confirm, "seed": seed, "permutations": permutations,
              "group": group, "overlap": overlap, **({"binner_note": note} if note else {}),
              **({"columns_note": columns_note} if columns_note else {})}
    return Discovery(run.run_id, error, params, lattice.n, lattice.mean_error, len(lattice.evaluated),
                     lattice.levels, round(time.perf_counter() - started, 3), table,
                     FROM_OTHER_HALF if confirm else FROM_SEARCH, top_score_p,
                     permutations if top_score_p is not None else 0)


def _rows(X: np.ndarray, lattice: sliceline.Lattice, items) -> np.ndarray:
    """The rows of ``X`` in the slice made of ``items``."""
    mask = np.ones(len(X), bool)
    for it in items:
        if it >= 0:
            mask &= X[:, lattice.feature_of[it]] == lattice.code_of[it]
    return mask


def _group(rows_of, count: int, k: int, overlap: float) -> tuple[list[int], dict[int, list[int]]]:
    """The first ``k`` of ``count`` slices (in rank order) that overlap no higher kept slice by
    ``overlap`` or more (Jaccard over the holdout's rows, ``rows_of(i)`` a row mask), and for each
    kept slice the later ones grouped under it. Only the kept slices' masks are held."""
    keep, masks, sizes, also = [], {}, {}, {}
    for i in range(count):
        m = rows_of(i)
        size = np.count_nonzero(m)
        for j in keep:
            inter = np.count_nonzero(m & masks[j])
            if inter / (size + sizes[j] - inter) >= overlap:
                also.setdefault(j, []).append(i)
                break
        else:
            if len(keep) < k:
                keep.append(i)
                masks[i], sizes[i] = m, size
    return keep, also


def _permutation_p(X: np.ndarray, e: np.ndarray, domains: list[int], best: float, permutations: int,
                   rng: np.random.Generator, search: dict) -> float:
    """How often the search's best score on shuffled errors reaches ``best``: (1 + hits) / (1 + R).
    Shuffling breaks any tie between the rows' columns and their errors and keeps everything
    else (the codes, the errors' distribution, the search's settings), so it is the search's
    own null distribution of its top score. Each shuffled search prunes every candidate that
    cannot reach ``best``."""
    floor = best - 1e-9 * max(1.0, abs(best))  # a shuffle that ties the real score counts as a hit
    hits = 0
    for _ in range(permutations):
        shuffled = sliceline.find_slices(X, rng.permutation(e), domains, k=1, floor=floor, **search)
        hits += bool(len(shuffled.top)) and shuffled.top_stats[0, 0] >= floor
    return (1 + hits) / (1 + permutations)


def _check(run: Run, *, k, max_level, alpha, min_support, error, bins, permutations, overlap) -> None:
    error_sql(run, error)
    if not 0 < alpha <= 1:
        raise WorkbenchError(f"Invalid alpha {alpha}: use a number in (0, 1].")
    if k < 1 or (max_level is not None and max_level < 1) or bins < 2:
        raise WorkbenchError("k and max_level must be at least 1 and bins at least 2.")
    if min_support <= 0:
        raise WorkbenchError(f"Invalid min_support {min_support}: a row count, or a fraction in (0, 1).")
    if permutations < 0:
        raise WorkbenchError(f"Invalid permutations {permutations}: use 0 (none) or more (100 is the default).")
    if not 0 < overlap <= 1:
        raise WorkbenchError(f"Invalid overlap {overlap}: a share of rows in (0, 1].")


def _mean_stats(size, err, sq, total_n, total_err, total_sq, *, rate: bool) -> stats.GroupStats:
    """Mean error, 95% interval, rest mean and one-sided p (the slice errs more than the rest)."""
    if rate:
        return stats.rates_vs_rest(err, size, total_err, total_n, alternative="greater")
    return stats.means_vs_rest(err, sq, size, total_err, total_sq, total_n, alternative="greater", bounds="positive",
                               min_rows=stats.MEAN_MIN_ROWS)


def _statistics(lattice: sliceline.Lattice, features: list[Feature], e: np.ndarray, *, rate: bool,
                keep: list[int], also: dict[int, list[int]]) -> pl.DataFrame:
    """Statistics of the kept top slices on the search's rows; q-values over every candidate evaluated."""
    ev = lattice.evaluated
    total_err, total_sq = float(e.sum()), float((e * e).sum())
    q_all = stats.bh_qvalues(_mean_stats(ev[:, 0], ev[:, 1], ev[:, 2], lattice.n, total_err, total_sq,
                                         rate=rate).p_value)
    ts = lattice.top_stats[keep] if keep else np.zeros((0, 5))
    g = _mean_stats(ts[:, 1], ts[:, 2], ts[:, 3], lattice.n, total_err, total_sq, rate=rate)
    mean, rest = g.value, g.rest

    def described(items):
        parts = [(features[lattice.feature_of[it]], int(lattice.code_of[it])) for it in items if it >= 0]
        return parts, " and ".join(f.predicate(c) for f, c in parts)
    rows = []
    for i in keep:
        parts, predicate = described(lattice.top[i])
        rows.append({"predicate": predicate,
                     "filters": {"column": [f.column for f, _ in parts], "value": [f.label(c) for f, c in parts]},
                     "where": " AND ".join(f"({f.where(c)})" for f, c in parts),
                     "also": [described(lattice.top[j])[1] for j in also.get(i, [])]})
    return pl.DataFrame({
        "predicate": [r["predicate"] for r in rows], "filters": [r["filters"] for r in rows],
        "where": [r["where"] for r in rows], "score": ts[:, 0], "also": [r["also"] for r in rows],
        "size": ts[:, 1].astype(np.int64), "error": mean, "ci_low": g.ci_low, "ci_high": g.ci_high,
        "rest_error": rest, "lift": _lift(mean, rest), "p_value": g.p_value,
        "q_value": q_all[ts[:, 4].astype(np.int64)] if len(ts) else [],
    }, schema_overrides={"filters": pl.Struct({"column": pl.List(pl.String), "value": pl.List(pl.String)}),
                         "also": pl.List(pl.String), "size": pl.Int64, "predicate": pl.String, "where": pl.String,
                         **dict.fromkeys(["score", "error", "ci_low", "ci_high", "rest_error", "lift", "p_value",
                                          "q_value"], pl.Float64)}).with_columns(pl.col(pl.Float64).fill_nan(None))


def _lift(mean, rest) -> np.ndarray:
    mean, rest = np.asarray(mean, float), np.asarray(rest, float)
    return np.divide(mean, rest, out=np.full(len(mean), np.nan), where=rest > 0)


def _confirm(table: pl.DataFrame, masks: list[np.ndarray], e: np.ndarray, *, rate: bool) -> pl.DataFrame:
    """The slices' figures on the half of the holdout the search did not see become the figures
    shown; the search half's are kept as ``search_*``. Confirmed: the Benjamini-Hochberg q over
    the slices shown is below 0.05 on the unseen half."""
    size = np.array([m.sum() for m in masks], float)
    err = np.array([e[m].sum() for m in masks])
    sq = np.array([(e[m] ** 2).sum() for m in masks])
    g = _mean_stats(size, err, sq, len(e), e.sum(), (e ** 2).sum(), rate=rate)
    q = stats.bh_qvalues(g.p_value)
    searched = table.rename({"size": "search_size", "error": "search_error", "ci_low": "search_ci_low",
                             "ci_high": "search_ci_high", "p_value": "search_p", "q_value": "search_q"})
    return searched.drop("rest_error", "lift").with_columns(
        size=pl.Series(size.astype(np.int64)), error=pl.Series(g.value, dtype=pl.Float64),
        ci_low=pl.Series(g.ci_low, dtype=pl.Float64), ci_high=pl.Series(g.ci_high, dtype=pl.Float64),
        rest_error=pl.Series(g.rest, dtype=pl.Float64), lift=pl.Series(_lift(g.value, g.rest), dtype=pl.Float64),
        p_value=pl.Series(g.p_value, dtype=pl.Float64), q_value=pl.Series(q, dtype=pl.Float64),
        confirmed=pl.Series(q < 0.05)).with_columns(pl.col(pl.Float64).fill_nan(None))


def search_rows(run: Run, e: np.ndarray, search: np.ndarray, *, columns: list[str], k: int, bins: int = 5,
                max_level: int | None = 2, alpha: float = 0.95) -> list[tuple[dict, str, str, np.ndarray]]:
    """SliceLine on per-row errors ``e`` given by the caller (aligned with ``run``'s holdout in
    ``_row`` order), searching only the rows in the mask ``search``: the top ``k`` different
    findings as (filters, where, predicate, mask over all the rows). A comparison searches the
    per-row difference in loss between two models this way and tests what it finds elsewhere."""
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    features = encode(run, con, src, columns, bins=bins, binner="model" if run.model_path.is_file() else "quantile")
    with limits(con):
        coded = con.sql(f"SELECT {', '.join(f.code_sql() + f' AS f{i}' for i, f in enumerate(features))} "
                        f"FROM {src} ORDER BY _row").fetchnumpy()
    X = np.column_stack([coded[f"f{i}"] for i in range(len(features))]).astype(np.int64)
    lattice = sliceline.find_slices(X[search], np.asarray(e, float)[search], [f.domain for f in features],
                                    k=k * POOL, max_level=max_level, alpha=alpha)
    keep, _ = _group(lambda i: _rows(X, lattice, lattice.top[i]), len(lattice.top), k, OVERLAP)
    out = []
    for i in keep:
        parts = [(features[lattice.feature_of[it]], int(lattice.code_of[it])) for it in lattice.top[i] if it >= 0]
        out.append(({f.column: f.label(c) for f, c in parts}, " AND ".join(f"({f.where(c)})" for f, c in parts),
                    " and ".join(f.predicate(c) for f, c in parts), _rows(X, lattice, lattice.top[i])))
    return out
