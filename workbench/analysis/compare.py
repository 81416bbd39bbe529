"""Model against model on the same holdout rows, overall and slice by slice.

Two runs can be compared when they scored the same rows of the same data: the same dataset
(name and content hash), target and task, and holdouts of exactly the same rows (``_row``, each
row's place in the dataset version). Two trained runs with the same split on the same version
qualify, and so does a trained run and predictions imported for its holdout rows. Anything else is
refused with a message naming what differs.

Every comparison is paired (see :mod:`workbench.stats.paired`): a row scored by both models is
one pair, so the difference is measured against the noise of the rows both models see, not
against two independent samples. Overall, each metric of the task:

- binary: ``error_rate`` (McNemar, Newcombe's paired interval), ``log_loss`` (paired t on the
  per-row ``_loss``), ``roc_auc`` (paired DeLong);
- multiclass: ``error_rate``, ``log_loss`` (left out where either run was imported without
  probabilities: its ``_loss`` is then 0/1);
- regression: ``mse`` (paired t on the per-row squared error, ``_loss``) and ``mae`` (paired t on
  the per-row absolute error).

Then the slice metric (the task's first: ``error_rate`` for classification, ``mse`` for
regression; the mean of per-row values, so a slice's difference is a mean of paired differences)
on every slice of each ``by`` column, cut as a breakdown cuts it (:func:`column_binning` on the
baseline's holdout), each with its paired interval and p-value, and Benjamini-Hochberg q-values
over all slices tested. A slice is a **regression** when its q-value is below ``FDR`` and the
candidate is worse there. ``delta`` is always candidate - baseline: positive means worse for a
loss or an error rate, better for ROC AUC.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from workbench.analysis.binning import Binning, column_binning
from workbench.analysis.slices import _without_probabilities
from workbench.engine import limits, sql_literal
from workbench.errors import WorkbenchError
from workbench.stats.paired import MCNEMAR, PAIRED_DELONG, PAIRED_T, PairedStats, paired_delong, paired_means, \
    paired_rates
from workbench.stats.significance import MEAN_MIN_ROWS, bh_qvalues
from workbench.store.runs import Run

FDR = 0.05  # a slice whose q-value is below this, with the candidate worse, is a regression
OVERALL_METRICS = {"binary": ("error_rate", "log_loss", "roc_auc"), "multiclass": ("error_rate", "log_loss"),
                   "regression": ("mse", "mae")}
SLICE_METRIC = {"binary": "error_rate", "multiclass": "error_rate", "regression": "mse"}
HIGHER_IS_BETTER = {"error_rate": False, "log_loss": False, "roc_auc": True, "mse": False, "mae": False}
METHODS = {"error_rate": MCNEMAR, "log_loss": f"{PAIRED_T} (per-row log loss)", "roc_auc": PAIRED_DELONG,
           "mse": f"{PAIRED_T} (per-row squared error)", "mae": f"{PAIRED_T} (per-row absolute error)"}

SAME_RUN = "Baseline and candidate are the same run ({run}); compare two different runs."
DIFFERENT = ("Runs {baseline} and {candidate} cannot be compared: {what}. A comparison needs two runs that "
             "scored the same holdout rows of the same dataset version: train both with the same split "
             "(a time: or column: split gives the same holdout whatever the seed), or import predictions for "
             "the baseline's holdout rows.")
UNKNOWN_BY = "Unknown column {column!r} in run {run}; columns: {columns}."


@dataclass(frozen=True)
class Comparison:
    """A candidate run against a baseline on the same holdout rows.

    ``overall`` maps each metric of the task to its baseline and candidate values, ``delta``
    (candidate - baseline), its paired 95% interval ``ci`` and two-sided ``p_value``. ``slices``
    has one row per slice of the ``by`` columns: ``column`` and ``value`` (its label), ``where``,
    ``n``, ``baseline``, ``candidate``, ``delta``, ``ci_low``, ``ci_high``, ``p_value``, ``q_value``
    (Benjamini-Hochberg over every slice tested, all columns together) and ``regression``;
    ``metric`` names the slices' metric; ``method`` each metric's interval and test."""

    baseline: str
    candidate: str
    task: str
    n: int
    by: tuple[str, ...]
    metric: str
    overall: dict[str, dict]
    slices: pl.DataFrame
    method: dict[str, str]
    positive_class: Any = None

    def regressions(self) -> pl.DataFrame:
        """The slices flagged as regressions."""
        return self.slices.filter(pl.col("regression"))

    def to_dict(self) -> dict:
        rows = [{"filters": {r["column"]: r["value"]}, "where": r["where"], "n": r["n"], "baseline": r["baseline"],
                 "candidate": r["candidate"], "delta": r["delta"], "ci": [r["ci_low"], r["ci_high"]],
                 "p_value": r["p_value"], "q_value": r["q_value"], "regression": r["regression"]}
                for r in self.slices.iter_rows(named=True)]
        return {"baseline": self.baseline, "candidate": self.candidate, "task": self.task, "n": self.n,
                "by": list(self.by), "metric": self.metric, "higher_is_better": HIGHER_IS_BETTER[self.metric],
                "positive_class": self.positive_class, "fdr": FDR, "method": self.method,
                "overall": self.overall, "slices": rows}


def _check_comparable(baseline: Run, candidate: Run) -> None:
    """Refuse two runs that did not score the same rows of the same data, naming the difference
    (the holdout rows themselves are checked on the join)."""
    if baseline.run_id == candidate.run_id and baseline.path == candidate.path:
        raise WorkbenchError(SAME_RUN.format(run=baseline.run_id))
    a, b = baseline.record, candidate.record
    what = None
    if a.dataset.name != b.dataset.name:
        what = f"they were made on different datasets ({a.dataset.name!r} and {b.dataset.name!r})"
    elif a.dataset.hash != b.dataset.hash:
        what = (f"they were made on different versions of dataset {a.dataset.name!r} (v{a.dataset.version}, hash "
                f"{a.dataset.hash[:12]}, and v{b.dataset.version}, hash {b.dataset.hash[:12]})")
    elif a.target != b.target:
        what = f"they predict different targets ({a.target!r} and {b.target!r})"
    elif a.task != b.task or tuple(a.classes) != tuple(b.classes):
        what = f"their tasks differ ({a.task} with classes {list(a.classes)}, {b.task} with {list(b.classes)})"
    elif baseline.workspace.root.resolve() != candidate.workspace.root.resolve():
        what = f"they live in different workspaces ({baseline.workspace.root} and {candidate.workspace.root})"
    if what:
        raise WorkbenchError(DIFFERENT.format(baseline=a.run_id, candidate=b.run_id, what=what))


def _split(run: Run) -> str:
    s = run.record.split
    return s.kind if s.column is None else f"{s.kind}:{s.column}"


def compare(baseline: Run, candidate: Run, *, by: list[str] | tuple[str, ...] = (), bins: int = 5,
            min_size: int = 1) -> Comparison:
    """``candidate`` against ``baseline`` on their shared holdout rows: every metric of the task
    overall, and the slice metric on every slice of the ``by`` columns with at least ``min_size``
    rows (see the module's docstring for the tests).

    >>> c = compare(load_run(ws, "base"), load_run(ws, "cand"), by=["carrier"])  # doctest: +SKIP
    >>> c.regressions()                                                            # doctest: +SKIP
    """
    _check_comparable(baseline, candidate)
    if bins < 1:
        raise WorkbenchError(f"--bins must be at least 1, got {bins}.")
    if min_size < 1:
        raise WorkbenchError(f"--min-size must be at least 1, got {min_size}.")
    by = tuple(by)
    if len(set(by)) != len(by):
        raise WorkbenchError(f"Give each --by column once; got {', '.join(by)}.")
    task = baseline.task
    con = baseline.workspace.cursor()
    src_a = f"read_parquet({sql_literal(str(baseline.predictions))})"
    src_b = f"read_parquet({sql_literal(str(candidate.predictions))})"
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src_a}").fetchall()}
    usable = [c for c in schema if not c.startswith("_")]
    for c in by:
        if c not in usable:
            raise WorkbenchError(UNKNOWN_BY.format(column=c, run=baseline.run_id, columns=", ".join(usable)))
    rows_a = pq.read_metadata(baseline.predictions).num_rows
    rows_b = pq.read_metadata(candidate.predictions).num_rows
    binnings = tuple(column_binning(con, src_a, c, schema[c], bins, rows=rows_a) for c in by)
    keys = [f"k{i}" for i in range(len(by))]
    key_sql = "".join(f", {b.key_sql()} AS {k}" for b, k in zip(binnings, keys))
    sql = _joined_sql(task, baseline.record.positive_class, src_a, src_b, key_sql, keys)
    try:
        with limits(con):
            frame = con.sql(sql).pl()
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot compare runs {baseline.run_id} and {candidate.run_id}: {e}") from None
    if not (frame.height == rows_a == rows_b):
        what = (f"their holdouts are different rows ({baseline.run_id}: {rows_a:,} rows, {_split(baseline)} split; "
                f"{candidate.run_id}: {rows_b:,} rows, {_split(candidate)} split; {frame.height:,} rows in both)")
        raise WorkbenchError(DIFFERENT.format(baseline=baseline.run_id, candidate=candidate.run_id, what=what))
    metrics = OVERALL_METRICS[task]
    if _without_probabilities(baseline) or _without_probabilities(candidate):
        metrics = tuple(m for m in metrics if m != "log_loss")
    overall = {m: _entry(_paired(m, frame)) for m in metrics}
    metric = SLICE_METRIC[task]
    slices = _slices(frame, metric, by, binnings, keys, min_size)
    positive = baseline.record.positive_class if task == "binary" else None
    return Comparison(baseline.run_id, candidate.run_id, task, frame.height, by, metric, overall, slices,
                      {m: METHODS[m] for m in dict.fromkeys((*metrics, metric))}, positive)


def _joined_sql(task: str, positive: Any, src_a: str, src_b: str, key_sql: str, keys: list[str]) -> str:
    """The rows both runs scored, joined on ``_row``: the label (binary: 1 for the positive class),
    each side's correctness, loss, output and absolute error, and the baseline's slice keys."""
    y = f"(_label = {sql_literal(positive)})" if task == "binary" else "NULL"
    correct = "NULL::BOOLEAN" if task == "regression" else "_correct"
    output = "_score" if task == "binary" else "_pred"
    absolute = "abs(_label - _pred)" if task == "regression" else "NULL"

    def side(src: str, extra: str) -> str:
        return (f"SELECT _row, {correct} AS _correct, _loss::DOUBLE AS loss, {output} AS out, "
                f"{absolute}::DOUBLE AS ae{extra} FROM {src}")
    return (f"SELECT a._row, ({y}) AS y, a._correct AS a_correct, b._correct AS b_correct, a.loss AS a_loss, "
            f"b.loss AS b_loss, a.out AS a_out, b.out AS b_out, a.ae AS a_ae, b.ae AS b_ae"
            f"{''.join(f', a.{k}' for k in keys)} FROM ({side(src_a, key_sql + ', _label')}) a "
            f"JOIN ({side(src_b, '')}) b USING (_row) ORDER BY a._row")


def _paired(metric: str, frame: pl.DataFrame, groups: np.ndarray | None = None, min_rows: int = 2) -> PairedStats:
    """One metric's paired statistics on the joined rows (per group, where ``groups``)."""
    if metric == "error_rate":
        return paired_rates(~frame["a_correct"].to_numpy(), ~frame["b_correct"].to_numpy(), groups=groups)
    if metric == "roc_auc":
        return paired_delong(frame["y"].to_numpy(), frame["a_out"].to_numpy(), frame["b_out"].to_numpy())
    a, b = ("a_ae", "b_ae") if metric == "mae" else ("a_loss", "b_loss")
    return paired_means(frame[a].to_numpy(), frame[b].to_numpy(), groups=groups, min_rows=min_rows)


def _entry(s: PairedStats, i: int = 0) -> dict:
    return {"baseline": float(s.baseline[i]), "candidate": float(s.candidate[i]), "delta": float(s.delta[i]),
            "ci": [float(s.ci_low[i]), float(s.ci_high[i])], "p_value": float(s.p_value[i])}


SLICE_COLUMNS = ("column", "value", "where", "n", "baseline", "candidate", "delta", "ci_low", "ci_high",
                 "p_value", "q_value", "regression")


def _slices(frame: pl.DataFrame, metric: str, by: tuple[str, ...], binnings: tuple[Binning, ...],
            keys: list[str], min_size: int) -> pl.DataFrame:
    """Every slice of every ``by`` column: paired statistics, q-values over all slices tested
    together, and whether each is a regression."""
    parts = []
    for column, binning, k in zip(by, binnings, keys):
        g, key_values = _codes(frame[k])
        s = _paired(metric, frame, g, min_rows=MEAN_MIN_ROWS)
        place = sorted(range(len(key_values)), key=lambda i: _order(binning, key_values[i]))
        parts.append(pl.DataFrame({
            "column": [column] * len(key_values), "value": [binning.label(v) for v in key_values],
            "where": [binning.where(v) for v in key_values], "_order": np.argsort(place),
            "n": s.n, "baseline": s.baseline, "candidate": s.candidate, "delta": s.delta,
            "ci_low": s.ci_low, "ci_high": s.ci_high, "p_value": s.p_value},
            schema_overrides={"n": pl.Int64, **{c: pl.Float64 for c in ("baseline", "candidate", "delta", "ci_low",
                                                                        "ci_high", "p_value")}}))
    if not parts:
        return pl.DataFrame(schema={c: pl.Float64 for c in SLICE_COLUMNS}).with_columns(
            pl.col("column", "value", "where").cast(pl.String), pl.col("n").cast(pl.Int64),
            pl.col("regression").cast(pl.Boolean))
    table = pl.concat(parts).filter(pl.col("n") >= min_size)
    p = table["p_value"].fill_nan(None).fill_null(np.nan).to_numpy()
    q = np.full(len(p), np.nan)
    q[np.isfinite(p)] = bh_qvalues(p[np.isfinite(p)])
    worse = table["delta"].to_numpy() < 0 if HIGHER_IS_BETTER[metric] else table["delta"].to_numpy() > 0
    table = table.with_columns(q_value=pl.Series(q, dtype=pl.Float64),
                               regression=pl.Series(np.isfinite(q) & (q < FDR) & worse, dtype=pl.Boolean))
    table = table.with_columns(pl.col(pl.Float64).fill_nan(None))
    column_order = {c: i for i, c in enumerate(by)}
    table = table.with_columns(_column=pl.col("column").replace_strict(column_order, return_dtype=pl.Int64))
    return table.sort("_column", "_order").select(SLICE_COLUMNS)


def _codes(keys: pl.Series) -> tuple[np.ndarray, list]:
    """Each row's group code 0..G-1 and the key of each group (a missing key is a group too)."""
    uniques = keys.unique(maintain_order=True)
    codes = pl.DataFrame({"k": keys}).join(pl.DataFrame({"k": uniques, "g": np.arange(len(uniques))}), on="k",
                                           how="left", nulls_equal=True, maintain_order="left")["g"]
    return codes.to_numpy(), uniques.to_list()


def _order(b: Binning, key: Any) -> tuple:
    """A slice's place within its column: bins low to high (missing last), values in text order."""
    if key is None or (b.binned and key == -1):
        return (1, 0.0, "")
    return (0, float(key), "") if b.binned else (0, 0.0, str(key))
