"""Slice breakdowns: a metric by one or two columns, with intervals and a test against the rest.

One breakdown is one DuckDB ``GROUP BY`` over ``predictions.parquet``: per slice the row count
and the sums that the metric, its interval and the comparison with the rest of the data need.
The rest of the data is the total minus the slice, so no second pass is made. ROC AUC, which
sums cannot give, takes two sorts in numpy instead (``_auc_groups``). Columns are cut by
:mod:`workbench.analysis.binning`; every interval and test comes from :mod:`workbench.stats`.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from workbench import stats
from workbench.analysis import thresholds
from workbench.analysis.binning import Binning, column_binning
from workbench.engine import (fetch_row, is_numeric_type, is_ordered_type, limits, parse_condition, quote,
                              sql_literal)
from workbench.errors import WorkbenchError
from workbench.store.runs import Run

# metric -> (kind, per-row SQL expression, higher is better, bounds of the per-row values);
# kind decides interval and test, bounds the scale of a mean's interval (stats.mean_interval)
_ROW = {
    "error_rate": ("rate", "1 - _correct::INT", False, None),
    "accuracy": ("rate", "_correct::INT", True, None),
    "log_loss": ("mean", "_loss", False, "positive"),
    "brier": ("mean", "(_score - {y}) ^ 2", False, "unit"),
    "roc_auc": ("auc", None, True, None),
    "positive_rate": ("rate", "{y}", None, None),
    "mean_score": ("mean", "_score", None, "unit"),
    "rmse": ("rmse", "_loss", False, "positive"),
    "mae": ("mean", "abs(_label - _pred)", False, "positive"),
    "bias": ("mean", "_pred - _label", None, None),
    "ece": ("ece", None, False, None),
}
_SCALE = {None: "t", "unit": "t on the logit scale", "positive": "t on the log scale"}


def method(metric: str, threshold: float = 0.5) -> str:
    """How a breakdown's intervals and tests of ``metric`` are made, in words, for captions."""
    if metric in thresholds.THRESHOLD_METRICS:
        return (f"{thresholds.describe(metric, threshold)}. Intervals: Wilson on those rows; test: "
                f"two-proportion z-test of each slice's rate against the rest's")
    kind, _, _, bounds = _ROW[metric]
    if kind == "rate":
        label = ("positive_rate: the share of rows labelled positive, not of those the model predicts "
                 "positive (selection_rate). " if metric == "positive_rate" else "")
        return f"{label}Intervals: Wilson; test: two-proportion z-test of each slice against the rest"
    if kind == "auc":
        return (f"Intervals: DeLong on the logit scale; test: z-test of each slice's logit AUC against the rest's; "
                f"a slice needs at least {stats.AUC_MIN_CLASS} positives and {stats.AUC_MIN_CLASS} negatives")
    if kind == "ece":
        return (f"ECE: {stats.ECE_BINS} equal-width score bins, debiased (Kumar et al. 2019); intervals: "
                f"bias-corrected Poisson bootstrap percentile ({stats.ECE_DRAWS} draws), 0 at the low end where a "
                f"chi-square test does not reject calibration; test: chi-square of the slice's mean residual "
                f"(label - score) against the rest's in each score bin, bins merged to {stats.EXPECTED_MIN} "
                f"expected positives and negatives; a slice needs at least {stats.ECE_MIN_ROWS} rows")
    root = " (RMSE: the root of the MSE's)" if kind == "rmse" else ""
    return (f"Intervals: {_SCALE[bounds]}{root}; test: Welch's t-test of each slice against the rest; "
            f"a slice needs at least {stats.MEAN_MIN_ROWS} rows")


# a slice "can tell" when it would see (at 80% power) a difference of this share of the metric's
# room: its distance from the nearer bound for a rate or score in [0, 1], its edge over chance
# for ROC AUC, its value for a loss; beyond it a grey bar reads "too small to tell"
TELL_SHARE = 0.5
READINGS = ("worse", "better", "higher", "lower", "no clear difference", "too small to tell")

SLICE_METRICS = {
    "binary": ("error_rate", "accuracy", "log_loss", "brier", "roc_auc", "positive_rate", "mean_score", "ece"),
    "multiclass": ("error_rate", "accuracy", "log_loss"),
    "regression": ("rmse", "mae", "bias"),
}
ORDERS = ("auto", "natural", "worst")
# the columns a reader looks at first in a slice's rows: what the model saw as truth and said
FIRST_COLUMNS = ("_label", "_pred", "_score", "_loss", "_correct")
ROWS_MOST = 10_000  # the most rows of a slice one call returns (a page); the export has them all
EXPORT_FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class SliceTable:
    """A breakdown: ``overall`` (value, ci, n) and one row per slice in ``slices``.

    ``slices`` has a column per ``by`` column (the value or bin label), then ``n``, ``share``,
    ``value``, ``ci_low``, ``ci_high``, ``rest_value``, ``diff``, ``p_value``, ``q_value``
    (Benjamini-Hochberg over the slices tested; None for a slice too small for a test),
    ``significant`` (q < 0.05), ``detectable`` (the difference from the rest the slice's size lets
    the test find with 80% power; None without a test), ``reading``
    (one of ``READINGS``) and ``where``. ``method`` names the interval and test.
    Rows come in ``order``: ``natural`` (bins low to high, values in their order, missing last)
    or ``worst`` (worst value first). ``positive_class`` names the class a binary run's rates and
    scores are about (None for other tasks).
    """

    run_id: str
    metric: str
    higher_is_better: bool | None
    by: tuple[str, ...]
    overall: dict
    slices: pl.DataFrame
    binnings: tuple[Binning, ...]
    order: str = "worst"
    positive_class: Any = None
    method: str = ""
    threshold: float | None = None  # the decision threshold of a rate at a threshold (tpr, fpr, ...)

    def to_dict(self) -> dict:
        rows = [{"filters": {c: r[c] for c in self.by}, "n": r["n"], "share": r["share"],
                 "value": r["value"], "ci": [r["ci_low"], r["ci_high"]], "rest_value": r["rest_value"],
                 "diff": r["diff"], "p_value": r["p_value"], "q_value": r["q_value"],
                 "significant": r["significant"], "detectable": r["detectable"], "reading": r["reading"],
                 "where": r["where"]}
                for r in self.slices.iter_rows(named=True)]
        return {"run_id": self.run_id, "metric": self.metric, "by": list(self.by), "order": self.order,
                "positive_class": self.positive_class, "method": self.method, "power": stats.POWER,
                "threshold": self.threshold,
                "overall": self.overall, "slices": rows}


def _without_probabilities(run: Run) -> bool:
    """A classification run imported with predicted classes only: its ``_loss`` is 0/1, not log loss."""
    source = run.record.source or {}
    return run.task == "multiclass" and source.get("pred") is not None and source.get("score") is None


def _about(run: Run) -> str:
    return ("a multiclass run imported with predicted classes and no probabilities" if _without_probabilities(run)
            else f"a {run.task} run")


def slice_metrics(run: Run) -> tuple[str, ...]:
    """The metrics a breakdown of ``run`` offers: its task's, less log loss where no
    probabilities were imported (its per-row loss is then 0/1, which error_rate already counts)."""
    metrics = SLICE_METRICS[run.task]
    return tuple(m for m in metrics if m != "log_loss") if _without_probabilities(run) else metrics


def default_metric(task: str) -> str:
    return SLICE_METRICS[task][0]


def breakdown(run: Run, by: list[str] | tuple[str, ...], *, metric: str | None = None,
              bins: int = 5, min_size: int = 1, saved: dict[str, str] | None = None,
              order: str = "auto", threshold: float = 0.5) -> SliceTable:
    """The metric of ``run``'s model on each slice of the holdout defined by one or two columns.

    ``order`` is ``natural`` (bins and values in their own order), ``worst`` (worst value first)
    or ``auto``: natural when the first column is a number or a time, worst first otherwise.
    ``saved`` maps ``slice:NAME`` to a condition (a saved slice's, from
    ``workbench.store.saved.applicable``), so a saved slice can be one of the columns; each passes
    the SQL boundary here too. A binary run's ``thresholds.THRESHOLD_METRICS`` (selection_rate,
    tpr, fpr, fnr, precision) count a row as predicted positive where its score is at least
    ``threshold``; each is a rate of some rows (tpr of the actual positives, ...), tested on those."""
    saved = {name: parse_condition(where) for name, where in (saved or {}).items()}
    task = run.task
    metric = metric or default_metric(task)
    offered = slice_metrics(run) + (thresholds.THRESHOLD_METRICS if task == "binary" else ())
    if metric not in offered:
        raise WorkbenchError(f"Metric {metric!r} is not available for {_about(run)}; "
                             f"choose one of: {', '.join(offered)}.")
    at = metric in thresholds.THRESHOLD_METRICS
    threshold = thresholds.check_threshold(threshold)
    by = tuple(by)
    if not 1 <= len(by) <= 2 or len(set(by)) != len(by):
        raise WorkbenchError("Slice by one or two different columns.")
    if order not in ORDERS:
        raise WorkbenchError(f"Unknown order {order!r}; choose one of: {', '.join(ORDERS)}.")
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    usable = [c for c in schema if not c.startswith("_")]
    for c in by:
        if c not in usable and c not in saved:
            raise WorkbenchError(f"Unknown column {c!r} in run {run.run_id}; columns: {', '.join(usable + list(saved))}.")
    rows = pq.read_metadata(run.predictions).num_rows
    binnings = tuple(Binning(c, condition=saved[c]) if c in saved
                     else column_binning(con, src, c, schema[c], bins, rows=rows) for c in by)
    keys = [f"k{i}" for i in range(len(by))]
    key_sql = ", ".join(f"{b.key_sql()} AS {k}" for b, k in zip(binnings, keys))
    y = f"(_label = {sql_literal(run.record.positive_class)})::INT" if task == "binary" else None
    kind, expr, higher, bounds = (("crate", thresholds.row_sql(metric, y, threshold),
                                   thresholds.higher_is_better(metric), None) if at else _ROW[metric])
    try:
        with limits(con):
            delong = calibration = None
            if kind == "auc":
                agg, delong = _auc_groups(con, src, key_sql, keys, y)
            elif kind == "ece":
                agg, calibration = _ece_groups(con, src, key_sql, keys, y)
            else:
                agg = con.sql(
                    f"SELECT {', '.join(keys)}, count(*)::BIGINT AS n, count(x)::BIGINT AS nx, coalesce(sum(x), 0)::DOUBLE AS sx, "
                    f"sum(x * x)::DOUBLE AS sxx FROM (SELECT {key_sql}, ({expr.format(y=y)})::DOUBLE AS x "
                    f"FROM {src}) GROUP BY ALL").pl()
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot compute {metric} for run {run.run_id}: {e}") from None
    # each slice's WHERE and place in the natural order from its key, before keys become labels
    key_rows = list(agg.select(keys).iter_rows())
    where = [" AND ".join(f"({b.where(key)})" for b, key in zip(binnings, r)) for r in key_rows]
    numeric = [b.condition is None and not b.binned and is_numeric_type(schema.get(b.column, "")) for b in binnings]
    rank = sorted(range(len(key_rows)), key=lambda i: [_natural(b, k, num) for b, k, num
                                                         in zip(binnings, key_rows[i], numeric)])
    place = np.empty(len(key_rows), dtype=np.int64)
    place[rank] = np.arange(len(key_rows))
    agg = agg.with_columns(*(b.label_keys(agg[k]).alias(k) for b, k in zip(binnings, keys)),
                           pl.Series("where", where, dtype=pl.String), pl.Series("_natural", place))
    table, overall = _statistics(agg, kind, keys, extra=("_natural",), delong=delong, bounds=bounds,
                                  calibration=calibration)
    table = table.rename(dict(zip(keys, by))).filter(pl.col("n") >= min_size)
    # Benjamini-Hochberg over the slices tested: a slice too small for a test is no member of the family
    p = table["p_value"].fill_null(np.nan).to_numpy()
    q = np.full(len(p), np.nan)
    q[np.isfinite(p)] = stats.bh_qvalues(p[np.isfinite(p)])
    table = table.with_columns(q_value=pl.Series(q, dtype=pl.Float64).fill_nan(None))
    table = table.with_columns(significant=(pl.col("q_value") < 0.05) & pl.col("p_value").is_not_null())
    up = pl.col("diff") > 0
    direction = (pl.when(up).then(pl.lit("higher")).otherwise(pl.lit("lower")) if higher is None else
                 pl.when(up == higher).then(pl.lit("better")).otherwise(pl.lit("worse")))
    table = table.with_columns(reading=pl.when(pl.col("significant")).then(direction)
                               .when(pl.col("_can_tell")).then(pl.lit("no clear difference"))
                               .otherwise(pl.lit("too small to tell")))
    if order == "auto":
        first = binnings[0]
        order = "natural" if first.condition is None and is_ordered_type(schema.get(first.column, "")) else "worst"
    if order == "natural":
        table = table.sort("_natural")
    else:
        table = table.sort(["value", "_natural"], descending=[higher is False, False], nulls_last=True)
    cols = [*by, "n", "share", "value", "ci_low", "ci_high", "rest_value", "diff", "p_value",
            "q_value", "significant", "detectable", "reading", "where"]
    positive = run.record.positive_class if task == "binary" else None
    return SliceTable(run.run_id, metric, higher, by, overall, table.select(cols), binnings, order, positive,
                      method(metric, threshold), threshold if at else None)


def _natural(b: Binning, key, numeric: bool) -> tuple:
    """A slice key's place in its column's own order: missing last, bins by index, numbers by
    value (the key is the value as text), other values as text; in or out of a saved slice, in first."""
    missing = key is None or (b.binned and key == -1)
    if missing:
        return (1, 0.0, "")
    if b.condition is not None or b.binned:
        return (0, float(key), "")
    if numeric:
        try:
            return (0, float(key), "")
        except ValueError:
            pass
    return (0, 0.0, str(key))


def _auc_groups(con, src: str, key_sql: str, keys: list[str], y: str) -> tuple[pl.DataFrame, stats.GroupDelong]:
    """Per slice: its keys, and DeLong's AUC and variance for it and for the rest of the holdout,
    and for the whole holdout (:func:`workbench.stats.group_delong`: two sorts in numpy, whatever
    the number of slices). DuckDB numbers the slices."""
    k = ", ".join(keys)
    f = con.sql(f"SELECT {k}, dense_rank() OVER (ORDER BY {k}) - 1 AS _g, y, s FROM "
                f"(SELECT {key_sql}, ({y})::DOUBLE AS y, _score AS s FROM {src})").pl()
    g = f["_g"].to_numpy().astype(np.int64)
    delong = stats.group_delong(g, f["y"].to_numpy(), f["s"].to_numpy())
    first = np.unique(g, return_index=True)[1]
    return f[first].select(keys).with_columns(n=pl.Series(delong.n.astype(np.int64))), delong


def _ece_groups(con, src: str, key_sql: str, keys: list[str], y: str) -> tuple[pl.DataFrame, stats.GroupCalibration]:
    """Per slice: its keys and rows, and its calibration against the rest of the holdout
    (:func:`workbench.stats.group_calibration`). Rows come in row-number order, so that the
    bootstrap's draws do not depend on how the predictions file was written."""
    k = ", ".join(keys)
    f = con.sql(f"SELECT {k}, dense_rank() OVER (ORDER BY {k}) - 1 AS _g, y, s FROM "
                f"(SELECT {key_sql}, ({y})::DOUBLE AS y, _score AS s, _row FROM {src}) ORDER BY _row").pl()
    g = f["_g"].to_numpy().astype(np.int64)
    groups = int(g.max()) + 1 if len(g) else 0
    calibration = stats.group_calibration(g, f["y"].to_numpy(), f["s"].to_numpy(), n_groups=groups)
    first = np.unique(g, return_index=True)[1]
    n = np.bincount(g, minlength=groups)
    return f[first].select(keys).with_columns(n=pl.Series(n.astype(np.int64))), calibration


def _statistics(agg: pl.DataFrame, kind: str, keys: list[str], extra: tuple[str, ...] = (), *,
                delong: stats.GroupDelong | None = None, bounds: str | None = None,
                calibration: stats.GroupCalibration | None = None) -> tuple[pl.DataFrame, dict]:
    """Value, 95% interval, rest value, p-value, detectable difference and whether it can tell a
    difference (``_can_tell``, the reading's ground before multiplicity) for each slice,
    vectorized over slices."""
    n = agg["n"].to_numpy().astype(float)
    N = n.sum()
    if kind == "auc":
        d = delong
        g = stats.aucs_vs_rest(d.auc, d.var, d.pos, d.neg, d.rest_auc, d.rest_var)
        total = d.overall_auc
        overall_ci = stats.auc_interval(total, d.overall_var)  # as the Train page's interval of the same AUC
        P, Q = d.pos.sum(), d.neg.sum()
        detectable = stats.detectable_auc(total, d.pos, d.neg, P - d.pos, Q - d.neg)
        room = abs(total - 0.5)
    elif kind == "ece":  # room: a shift of the scores by the positive rate's distance from 0 or 1
        c = calibration
        g = stats.GroupStats(c.value, c.ci_low, c.ci_high, c.rest, c.p_value)
        total, overall_ci, detectable = c.overall, c.overall_ci, c.detectable
        room = min(c.base_rate, 1 - c.base_rate)
    elif kind in ("rate", "crate"):  # a conditional rate's denominator: its rows (x not NULL) in the slice
        sx = agg["sx"].to_numpy()
        m = agg["nx"].to_numpy().astype(float) if kind == "crate" else n
        g = stats.rates_vs_rest(sx, m, sx.sum(), m.sum())
        with np.errstate(invalid="ignore", divide="ignore"):  # no rows for the rate: NaN
            total, overall_ci = sx.sum() / m.sum(), stats.wilson_interval(sx.sum(), m.sum())
            detectable, room = stats.detectable_rate(total, m, m.sum()), min(total, 1 - total)
    else:
        sx, sxx = agg["sx"].to_numpy(), agg["sxx"].to_numpy()
        g = stats.means_vs_rest(sx, sxx, n, sx.sum(), sxx.sum(), N, min_rows=stats.MEAN_MIN_ROWS, bounds=bounds)
        total = sx.sum() / N
        sd = stats.sd_from_sums(sx.sum(), sxx.sum(), N)
        overall_ci = stats.mean_interval(total, sd, N, bounds=bounds)
        detectable = stats.detectable_mean(sd, n, N)
        room = {None: sd, "unit": min(total, 1 - total), "positive": total}[bounds]
    value, lo, hi, rest = g.value, g.ci_low, g.ci_high, g.rest
    if kind == "rmse":  # the root of the mean squared error, of its interval's ends and of its reach
        detectable = np.sqrt(total + detectable) - np.sqrt(total)
        value, rest, total = np.sqrt(value), np.sqrt(rest), np.sqrt(total)
        lo, hi, room = np.sqrt(lo), np.sqrt(hi), total  # total is the RMSE by now
        overall_ci = (np.sqrt(overall_ci[0]), np.sqrt(overall_ci[1]))
    diff = value - rest
    detectable = np.where(np.isfinite(g.p_value), detectable, np.inf)  # no test, nothing it could detect
    # a slice can tell when it could have seen TELL_SHARE of the metric's room
    can_tell = np.isfinite(g.p_value) & (detectable <= TELL_SHARE * room)
    table = agg.select(*keys, "where", *extra).with_columns(
        n=pl.Series(n.astype(np.int64)), share=pl.Series(n / N), value=pl.Series(value, dtype=pl.Float64),
        ci_low=pl.Series(lo, dtype=pl.Float64), ci_high=pl.Series(hi, dtype=pl.Float64),
        rest_value=pl.Series(rest, dtype=pl.Float64), diff=pl.Series(diff, dtype=pl.Float64),
        p_value=pl.Series(g.p_value, dtype=pl.Float64), detectable=pl.Series(np.where(np.isfinite(detectable), detectable, np.nan), dtype=pl.Float64),
        _can_tell=pl.Series(can_tell, dtype=pl.Boolean))
    table = table.with_columns(pl.col(pl.Float64).fill_nan(None))
    return table, {"value": float(total), "ci": [float(overall_ci[0]), float(overall_ci[1])], "n": int(N)}


def slice_rows(run: Run, where: str | None, *, limit: int = 200, offset: int = 0) -> tuple[pl.DataFrame, int]:
    """Rows ``offset`` to ``offset + limit`` of one slice of the holdout, worst errors first (ties
    by row number, so pages neither repeat nor skip a row), and how many rows the slice has.
    ``_label``, ``_pred``, ``_score``, ``_loss`` and ``_correct`` come first."""
    if not 1 <= limit <= ROWS_MOST or offset < 0:
        raise WorkbenchError(f"Ask for 1 to {ROWS_MOST:,} rows from a non-negative offset "
                             f"(asked: {limit} rows from {offset}); the export has all of a slice's rows.")
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    cond = f"WHERE {parse_condition(where)}" if where else ""
    try:
        with limits(con):
            count = fetch_row(con, f"SELECT count(*) FROM {src} {cond}")[0]
            rel = con.sql(f"SELECT * FROM {src} {cond} ORDER BY _loss DESC, _row LIMIT {int(limit)} OFFSET {int(offset)}")
            rows = rel.pl()
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot select rows: {e}") from None
    first = [c for c in FIRST_COLUMNS if c in rows.columns]
    return rows.select(first + [c for c in rows.columns if c not in first]), int(count)


def export_rows(run: Run, where: str | None, fmt: str = "parquet") -> bytes:
    """All of a slice's holdout rows as a parquet or CSV file, worst errors first, with the
    columns in :func:`slice_rows`'s order. DuckDB writes the file (into the workspace's own
    temporary folder, under the query's time and memory limits); its bytes are returned."""
    if fmt not in EXPORT_FORMATS:
        raise WorkbenchError(f"Unknown format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}.")
    ws = run.workspace
    con = ws.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    cond = f"WHERE {parse_condition(where)}" if where else ""
    names = pq.read_schema(run.predictions).names
    first = [c for c in FIRST_COLUMNS if c in names]
    columns = ", ".join(quote(c) for c in first + [c for c in names if c not in first])
    out = ws.exports_dir / f"{run.run_id}-{secrets.token_hex(8)}.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    try:
        with limits(con):
            con.execute(f"COPY (SELECT {columns} FROM {src} {cond} ORDER BY _loss DESC, _row) "
                        f"TO {sql_literal(str(out))} ({options})")
        return out.read_bytes()
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot export rows: {e}") from None
    finally:
        out.unlink(missing_ok=True)


INSIDE = "slice:this slice"


def slice_vs_rest(run: Run, where: str) -> pl.DataFrame:
    """Every metric of ``run``'s task inside the rows ``where`` selects and on the rest of the
    holdout: metric, n (rows inside), value, ci_low, ci_high, rest_value, p_value."""
    rows = []
    for metric in slice_metrics(run):
        table = breakdown(run, [INSIDE], metric=metric, saved={INSIDE: where}).slices
        inside = table.filter(pl.col(INSIDE) == Binning(INSIDE, condition=where).labels()[0])
        if inside.height:
            rows.append({"metric": metric, **inside.drop(INSIDE, "where").row(0, named=True)})
    return pl.DataFrame(rows).select("metric", "n", "value", "ci_low", "ci_high", "rest_value", "p_value")
