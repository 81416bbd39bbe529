"""Fairness parity of a binary run's decisions at a threshold, by one or more sensitive columns.

Per group of each column: the selection rate, TPR, FPR, FNR and precision with Wilson intervals;
across the groups the differences (max - min) and ratios (min / max) of demographic parity
(selection rate), equal opportunity (TPR) and equalized odds (the larger TPR or FPR difference,
the smaller ratio), as fairlearn defines them, with bootstrap intervals; and every pair of groups
tested against each other on each rate (:mod:`workbench.stats.rates`). One DuckDB ``GROUP BY``
per column counts each group's confusion cells; everything after works on those counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from workbench import stats
from workbench.analysis.binning import column_binning
from workbench.analysis.thresholds import THRESHOLD_METRICS, check_threshold
from workbench.engine import limits, sql_literal
from workbench.errors import WorkbenchError
from workbench.stats import rates
from workbench.store.runs import Run

# measure -> the rates whose gaps it takes (the largest difference, the smallest ratio)
MEASURES = {"demographic_parity": ("selection_rate",), "equal_opportunity": ("tpr",),
            "equalized_odds": ("tpr", "fpr")}


@dataclass(frozen=True)
class Parity:
    """Parity of ``run_id``'s decisions (score >= ``threshold`` is positive) by ``sensitive`` columns.

    ``groups``: one row per column, group and rate (``THRESHOLD_METRICS``): ``n`` (the group's
    rows), ``k`` and ``of`` (the rate's count and denominator), ``value``, ``ci_low``, ``ci_high``.
    ``measures``: one row per column and measure (``MEASURES``): ``difference`` and ``ratio``
    with bootstrap intervals. ``pairs``: one row per column, rate and pair of groups: both
    values, ``diff`` (a - b), ``test``, ``p_value``, ``q_value`` (Benjamini-Hochberg over the
    pairs of that column and rate) and ``significant`` (q < 0.05)."""

    run_id: str
    positive_class: Any
    threshold: float
    sensitive: tuple[str, ...]
    groups: pl.DataFrame
    measures: pl.DataFrame
    pairs: pl.DataFrame
    method: str
    seed: int = 0

    def to_dict(self) -> dict:
        columns = {}
        for col in self.sensitive:
            g = self.groups.filter(pl.col("column") == col)
            groups = []
            for name in g["group"].unique(maintain_order=True):
                rows = g.filter(pl.col("group") == name)
                groups.append({"group": name, "n": int(rows["n"][0]), "rates": {
                    r["rate"]: {"value": r["value"], "ci": [r["ci_low"], r["ci_high"]], "k": r["k"], "of": r["of"]}
                    for r in rows.iter_rows(named=True)}})
            measures = {r["measure"]: {"difference": r["difference"],
                                       "difference_ci": [r["difference_low"], r["difference_high"]],
                                       "ratio": r["ratio"], "ratio_ci": [r["ratio_low"], r["ratio_high"]]}
                        for r in self.measures.filter(pl.col("column") == col).iter_rows(named=True)}
            pairs = self.pairs.filter(pl.col("column") == col).drop("column").to_dicts()
            columns[col] = {"groups": groups, "measures": measures, "pairs": pairs}
        return {"run_id": self.run_id, "positive_class": self.positive_class, "threshold": self.threshold,
                "sensitive": list(self.sensitive), "method": self.method, "seed": self.seed, "columns": columns}


def method(threshold: float, resamples: int = rates.RESAMPLES, seed: int = 0) -> str:
    """How a parity's figures are made, in words, for captions."""
    return (f"Predicted positive: score >= {threshold:g}. Rates: Wilson intervals (TPR and FNR of the actual "
            f"positives, FPR of the actual negatives, precision of the predicted positives). Differences "
            f"(max - min over groups) and ratios (min / max) as fairlearn's; equalized odds: the larger of the TPR "
            f"and FPR differences, the smaller ratio. Their intervals: percentile bootstrap over rows stratified "
            f"by group ({resamples:,} resamples, seed {seed}); a max - min lies above 0 even when groups are "
            f"equal, so the pairs' tests, not these intervals, say whether groups differ. Pairs: pooled "
            f"two-proportion z-test, Fisher's exact test where a cell expects under {rates.FISHER_BELOW}; "
            f"q: Benjamini-Hochberg over the pairs of each column and rate.")


def parity(run: Run, sensitive: list[str] | tuple[str, ...], *, threshold: float = 0.5, bins: int = 5,
           resamples: int = rates.RESAMPLES, seed: int = 0) -> Parity:
    """Parity of ``run``'s decisions at ``threshold`` by each column of ``sensitive`` (numbers and
    times cut into ``bins`` quantile bins, as a breakdown cuts them; missing values a group).

    >>> p = parity(run, ["race"], threshold=0.5)     # doctest: +SKIP
    >>> p.measures                                   # doctest: +SKIP
    """
    if run.task != "binary":
        raise WorkbenchError(f"Parity needs a binary run; run {run.run_id} is a {run.task} run.")
    threshold = check_threshold(threshold)
    sensitive = tuple(sensitive)
    if not sensitive or len(set(sensitive)) != len(sensitive):
        raise WorkbenchError("Give one or more different sensitive columns.")
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    usable = [c for c in schema if not c.startswith("_")]
    for c in sensitive:
        if c not in usable:
            raise WorkbenchError(f"Unknown sensitive column {c!r} in run {run.run_id}; columns: {', '.join(usable)}.")
    rows = pq.read_metadata(run.predictions).num_rows
    y = f"(_label = {sql_literal(run.record.positive_class)})"
    hit = f"(_score >= {threshold!r})"
    cells = (f"count_if({hit} AND {y}) AS tp, count_if({hit} AND NOT {y}) AS fp, "
             f"count_if(NOT {hit} AND {y}) AS fn, count_if(NOT {hit} AND NOT {y}) AS tn")
    groups, measures, pairs = [], [], []
    try:
        with limits(con):
            for i, col in enumerate(sensitive):
                b = column_binning(con, src, col, schema[col], bins, rows=rows)
                f = con.sql(f"SELECT {b.key_sql()} AS k, {cells} FROM {src} GROUP BY ALL").pl()
                f = f.sort(pl.col("k").is_null() | (pl.col("k").cast(pl.String) == "-1") if b.binned
                           else pl.col("k").is_null(), "k")
                names = b.label_keys(f["k"]).to_list()
                counts = f.select(rates.CELLS).to_numpy().astype(np.int64)
                groups += _groups(col, names, counts)
                measures += _measures(col, counts, resamples=resamples, seed=seed + i)
                pairs += _pairs(col, names, counts)
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot compute parity for run {run.run_id}: {e}") from None
    return Parity(run.run_id, run.record.positive_class, threshold, sensitive,
                  pl.DataFrame(groups, schema=_GROUPS), pl.DataFrame(measures, schema=_MEASURES),
                  pl.DataFrame(pairs, schema=_PAIRS), method(threshold, resamples, seed), seed)


_F = pl.Float64
_GROUPS = {"column": pl.String, "group": pl.String, "n": pl.Int64, "rate": pl.String, "k": pl.Int64,
           "of": pl.Int64, "value": _F, "ci_low": _F, "ci_high": _F}
_MEASURES = {"column": pl.String, "measure": pl.String, "difference": _F, "difference_low": _F,
             "difference_high": _F, "ratio": _F, "ratio_low": _F, "ratio_high": _F}
_PAIRS = {"column": pl.String, "rate": pl.String, "group_a": pl.String, "group_b": pl.String, "value_a": _F,
          "value_b": _F, "diff": _F, "test": pl.String, "p_value": _F, "q_value": _F, "significant": pl.Boolean}


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _groups(col: str, names: list[str], counts: np.ndarray) -> list[dict]:
    """One row per group and rate: counts, value and Wilson interval."""
    out = []
    for rate in THRESHOLD_METRICS:
        k, n = rates.rate_counts(counts, rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = k / n
        low, high = stats.wilson_interval(k, n)
        out += [{"column": col, "group": g, "n": int(counts[i].sum()), "rate": rate, "k": int(k[i]), "of": int(n[i]),
                 "value": _num(value[i]), "ci_low": _num(low[i]), "ci_high": _num(high[i])}
                for i, g in enumerate(names)]
    return out


def _gaps(counts: np.ndarray, rate_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A measure's difference and ratio from counts (..., groups, 4): the largest difference
    and the smallest ratio over its rates."""
    diffs, ratios = [], []
    for rate in rate_names:
        k, n = rates.rate_counts(counts, rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            d, r = rates.gap_and_ratio(np.where(n > 0, k / n, np.nan))
        diffs.append(d)
        ratios.append(r)
    return np.max(diffs, axis=0), np.min(ratios, axis=0)


def _measures(col: str, counts: np.ndarray, *, resamples: int, seed: int) -> list[dict]:
    draws = rates.bootstrap_cells(counts, resamples=resamples, seed=seed)
    out = []
    for name, rate_names in MEASURES.items():
        d, r = _gaps(counts, rate_names)
        dd, rr = _gaps(draws, rate_names)
        d_lo, d_hi = stats.percentile_interval(dd) if np.isfinite(d) else (np.nan, np.nan)
        r_lo, r_hi = stats.percentile_interval(rr) if np.isfinite(r) else (np.nan, np.nan)
        out.append({"column": col, "measure": name, "difference": _num(d), "difference_low": _num(d_lo),
                    "difference_high": _num(d_hi), "ratio": _num(r), "ratio_low": _num(r_lo), "ratio_high": _num(r_hi)})
    return out


def _pairs(col: str, names: list[str], counts: np.ndarray) -> list[dict]:
    out = []
    for rate in THRESHOLD_METRICS:
        t = rates.pairwise_rates(*rates.rate_counts(counts, rate))
        out += [{"column": col, "rate": rate, "group_a": names[a], "group_b": names[b], "value_a": _num(t.value_a[i]),
                 "value_b": _num(t.value_b[i]), "diff": _num(t.diff[i]), "test": t.test[i], "p_value": _num(t.p_value[i]),
                 "q_value": _num(t.q_value[i]), "significant": bool(t.q_value[i] < 0.05)}
                for i, (a, b) in enumerate(zip(t.a, t.b))]
    return out
