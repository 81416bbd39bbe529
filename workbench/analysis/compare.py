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
  the per-row absolute error);
- the metrics a run reports that are not means of per-row values, by a seeded paired bootstrap
  over rows (:mod:`workbench.stats.paired_boot`): binary ``f1`` and ``pr_auc``, multiclass
  ``macro_f1``, regression ``rmse`` and ``r2``; and binary ``brier`` (paired t on the per-row
  squared error of the score).

Then the slice metric (the task's first: ``error_rate`` for classification, ``mse`` for
regression; the mean of per-row values, so a slice's difference is a mean of paired differences)
on every slice of each ``by`` column, cut as a breakdown cuts it (:func:`column_binning` on the
baseline's holdout), each with its paired interval and p-value, and Benjamini-Hochberg q-values
over all slices tested. Beside the ``by`` columns (``source`` "column"), the saved slices whose
columns the baseline has (``saved``; "saved": the rows inside each), and, with ``find``, the
slices SliceLine finds where the candidate is worse ("found"): the search runs on the per-row
increase in the slice metric, max(candidate's - baseline's, 0), over a seeded random half of the
rows, and each slice found is tested on the other half only, which the search never saw, so its
p-value is not flattered by the search (its ``n`` and figures count that half). All slices
tested, of every source, form one Benjamini-Hochberg family. A slice is a **regression** when its q-value is below ``FDR`` and the
candidate is worse there. ``delta`` is always candidate - baseline: positive means worse for a
loss or an error rate, better for ROC AUC.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from workbench.analysis.binning import Binning, column_binning
from workbench.analysis.discover import search_rows, strongest
from workbench.analysis.slices import _without_probabilities
from workbench.engine import limits, sql_literal
from workbench.errors import WorkbenchError
from workbench.stats.paired import MCNEMAR, PAIRED_DELONG, PAIRED_T, PairedStats, paired_delong, paired_means, \
    paired_rates
from workbench.stats.paired_boot import DRAWS, PAIRED_BOOTSTRAP, paired_f1, paired_macro_f1, paired_pr_auc, \
    paired_regression
from workbench.stats.significance import MEAN_MIN_ROWS, bh_qvalues
from workbench.store import saved as saved_slices
from workbench.store.runs import Run

FDR = 0.05  # a slice whose q-value is below this, with the candidate worse, is a regression
OVERALL_METRICS = {"binary": ("error_rate", "log_loss", "roc_auc", "pr_auc", "brier", "f1"),
                   "multiclass": ("error_rate", "log_loss", "macro_f1"), "regression": ("mse", "mae", "rmse", "r2")}
NEEDS_PROBABILITIES = ("log_loss", "brier", "pr_auc")
SLICE_METRIC = {"binary": "error_rate", "multiclass": "error_rate", "regression": "mse"}
HIGHER_IS_BETTER = {"error_rate": False, "log_loss": False, "roc_auc": True, "mse": False, "mae": False,
                    "pr_auc": True, "brier": False, "f1": True, "macro_f1": True, "rmse": False, "r2": True}
METHODS = {"error_rate": MCNEMAR, "log_loss": f"{PAIRED_T} (per-row log loss)", "roc_auc": PAIRED_DELONG,
           "mse": f"{PAIRED_T} (per-row squared error)", "mae": f"{PAIRED_T} (per-row absolute error)",
           "brier": f"{PAIRED_T} (per-row squared error of the score)",
           "f1": PAIRED_BOOTSTRAP.format(draws=DRAWS) + ", drawn over the 8 cells label x decisions",
           "macro_f1": PAIRED_BOOTSTRAP.format(draws=DRAWS) + ", drawn over the cells label x classes"}
FIND_K = 10          # slices the search for regressions keeps
SOURCE_METHOD = {
    "column": "the slice's rows",
    "saved": "the rows inside the saved slice",
    "found": ("found by SliceLine on max(candidate - baseline, 0) per row over a seeded random half of the rows; "
              "tested on the other half only (n counts it), which the search did not see")}

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
    has one row per slice tested: ``column`` and ``value`` (the column(s) and the slice in words),
    ``filters`` (column -> value), ``where``, ``source`` (column, saved or found), ``n``,
    ``baseline``, ``candidate``, ``delta``, ``ci_low``, ``ci_high``, ``p_value``, ``q_value``
    (Benjamini-Hochberg over every slice tested, all sources together) and ``regression``;
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
    params: dict = field(default_factory=dict)  # saved, find, seed: which slices were tested

    def regressions(self) -> pl.DataFrame:
        """The slices flagged as regressions."""
        return self.slices.filter(pl.col("regression"))

    def to_dict(self) -> dict:
        rows = [{"filters": dict(zip(r["filters"]["column"], r["filters"]["value"])), "where": r["where"],
                 "n": r["n"], "baseline": r["baseline"], "candidate": r["candidate"], "delta": r["delta"],
                 "ci": [r["ci_low"], r["ci_high"]], "p_value": r["p_value"], "q_value": r["q_value"],
                 "regression": r["regression"], "source": r["source"], "method": SOURCE_METHOD[r["source"]]}
                for r in self.slices.iter_rows(named=True)]
        return {"baseline": self.baseline, "candidate": self.candidate, "task": self.task, "n": self.n,
                "by": list(self.by), "metric": self.metric, "higher_is_better": HIGHER_IS_BETTER[self.metric],
                "positive_class": self.positive_class, "fdr": FDR, "method": self.method, "params": self.params,
                "overall": self.overall, "slices": rows}


def difference(baseline: Run, candidate: Run) -> str | None:
    """What keeps two runs from having scored the same rows of the same data, in words, from
    their records alone (None where nothing does; the holdout rows themselves are checked on the
    join). The Compare page offers only the runs this says nothing of."""
    a, b = baseline.record, candidate.record
    if a.dataset.name != b.dataset.name:
        return f"they were made on different datasets ({a.dataset.name!r} and {b.dataset.name!r})"
    if a.dataset.hash != b.dataset.hash:
        return (f"they were made on different versions of dataset {a.dataset.name!r} (v{a.dataset.version}, hash "
                f"{a.dataset.hash[:12]}, and v{b.dataset.version}, hash {b.dataset.hash[:12]})")
    if a.target != b.target:
        return f"they predict different targets ({a.target!r} and {b.target!r})"
    if a.task != b.task or tuple(a.classes) != tuple(b.classes):
        return f"their tasks differ ({a.task} with classes {list(a.classes)}, {b.task} with {list(b.classes)})"
    if baseline.workspace.root.resolve() != candidate.workspace.root.resolve():
        return f"they live in different workspaces ({baseline.workspace.root} and {candidate.workspace.root})"
    return None


def _check_comparable(baseline: Run, candidate: Run) -> None:
    """Refuse two runs that did not score the same rows of the same data, naming the difference."""
    if baseline.run_id == candidate.run_id and baseline.path == candidate.path:
        raise WorkbenchError(SAME_RUN.format(run=baseline.run_id))
    what = difference(baseline, candidate)
    if what:
        raise WorkbenchError(DIFFERENT.format(baseline=baseline.run_id, candidate=candidate.run_id, what=what))


def _split(run: Run) -> str:
    s = run.record.split
    return s.kind if s.column is None else f"{s.kind}:{s.column}"


def compare(baseline: Run, candidate: Run, *, by: list[str] | tuple[str, ...] = (), bins: int = 5,
            min_size: int = 1, saved: bool = True, find: bool = False, seed: int = 0) -> Comparison:
    """``candidate`` against ``baseline`` on their shared holdout rows: every metric of the task
    overall, and the slice metric on every slice of the ``by`` columns, the saved slices
    (``saved``) and the slices found where the candidate is worse (``find``, searched on a half
    drawn by ``seed``, which seeds the bootstraps too) with at least ``min_size`` rows (see the
    module's docstring for the tests).

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
    conditions = saved_slices.applicable(baseline.workspace, baseline) if saved else {}
    key_sql += "".join(f", coalesce(({w}), false) AS s{i}" for i, w in enumerate(conditions.values()))
    keys_out = keys + [f"s{i}" for i in range(len(conditions))]
    sql = _joined_sql(task, baseline.record.positive_class, src_a, src_b, key_sql, keys_out)
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
        metrics = tuple(m for m in metrics if m not in NEEDS_PROBABILITIES)
    overall, method = {}, {}
    for m in metrics:
        s, method[m] = _overall(m, frame, baseline.record.classes, seed)
        overall[m] = _entry(s)
    metric = SLICE_METRIC[task]
    parts = _column_slices(frame, metric, by, binnings, keys)
    parts += [_one_slice(frame, metric, frame[f"s{i}"].to_numpy(), {name: f"in {name.removeprefix('slice:')}"},
                         where, "saved") for i, (name, where) in enumerate(conditions.items())]
    note = None
    if find:
        found, note = _found_slices(baseline, frame, metric, by, seed)
        parts += found
    slices = _slices(parts, metric, min_size)
    positive = baseline.record.positive_class if task == "binary" else None
    return Comparison(baseline.run_id, candidate.run_id, task, frame.height, by, metric, overall, slices,
                      method, positive, {"saved": sorted(conditions), "find": find, "seed": seed,
                       **({"columns_note": note} if note else {})})


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
    return (f"SELECT a._row, ({y}) AS y, a._label AS lab, a._correct AS a_correct, b._correct AS b_correct, a.loss AS a_loss, "
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


def _overall(metric: str, frame: pl.DataFrame, classes, seed: int) -> tuple[PairedStats, str]:
    """One overall metric's paired statistics on the joined rows, and its method's text."""
    if metric in ("error_rate", "roc_auc", "log_loss", "mse", "mae"):
        return _paired(metric, frame), METHODS[metric]
    if metric == "brier":
        y = frame["y"].to_numpy().astype(float)
        return paired_means((frame["a_out"].to_numpy() - y) ** 2, (frame["b_out"].to_numpy() - y) ** 2), \
            METHODS[metric]
    if metric == "f1":
        y = frame["y"].to_numpy()  # a side decides positive where it is right on a positive or wrong on a negative
        return paired_f1(y, frame["a_correct"].to_numpy() == y, frame["b_correct"].to_numpy() == y,
                         seed=seed), METHODS[metric]
    if metric == "pr_auc":
        return paired_pr_auc(frame["y"].to_numpy(), frame["a_out"].to_numpy(), frame["b_out"].to_numpy(), seed=seed)
    if metric == "macro_f1":  # the run's classes, then any other value a side predicts
        values = pl.concat([pl.Series(list(classes)).cast(pl.String), frame["lab"].cast(pl.String),
                            frame["a_out"].cast(pl.String), frame["b_out"].cast(pl.String)]).unique(maintain_order=True)
        code = {v: i for i, v in enumerate(values.to_list())}
        y, a, b = (frame[c].cast(pl.String).replace_strict(code, return_dtype=pl.Int64).to_numpy()
                   for c in ("lab", "a_out", "b_out"))
        return paired_macro_f1(y, a, b, n_classes=len(code), seed=seed), METHODS[metric]
    rmse, r2, method = paired_regression(frame["lab"].to_numpy(), frame["a_out"].to_numpy(),
                                         frame["b_out"].to_numpy(), seed=seed)
    return (rmse if metric == "rmse" else r2), method


SLICE_COLUMNS = ("column", "value", "filters", "where", "source", "n", "baseline", "candidate", "delta", "ci_low",
                 "ci_high", "p_value", "q_value", "regression")
FLOATS = ("baseline", "candidate", "delta", "ci_low", "ci_high", "p_value")
FILTERS = pl.Struct({"column": pl.List(pl.String), "value": pl.List(pl.String)})


def _part(column, value, filters, where, source, order, s: PairedStats) -> pl.DataFrame:
    return pl.DataFrame({
        "column": column, "value": value, "filters": filters, "where": where, "source": [source] * len(where),
        "_order": order, "n": s.n, "baseline": s.baseline, "candidate": s.candidate, "delta": s.delta,
        "ci_low": s.ci_low, "ci_high": s.ci_high, "p_value": s.p_value},
        schema_overrides={"n": pl.Int64, "_order": pl.Float64, "filters": FILTERS, "column": pl.String,
                          "value": pl.String, "where": pl.String, **dict.fromkeys(FLOATS, pl.Float64)})


def _column_slices(frame: pl.DataFrame, metric: str, by: tuple[str, ...], binnings: tuple[Binning, ...],
                   keys: list[str]) -> list[pl.DataFrame]:
    """Every slice of every ``by`` column, in the column's own order."""
    parts = []
    for j, (column, binning, k) in enumerate(zip(by, binnings, keys)):
        g, key_values = _codes(frame[k])
        s = _paired(metric, frame, g, min_rows=MEAN_MIN_ROWS)
        place = sorted(range(len(key_values)), key=lambda i: _order(binning, key_values[i]))
        labels = [binning.label(v) for v in key_values]
        parts.append(_part([column] * len(labels), labels, [{"column": [column], "value": [v]} for v in labels],
                           [binning.where(v) for v in key_values], "column", j + np.argsort(place) / (len(place) + 1),
                           s))
    return parts


def _one_slice(frame: pl.DataFrame, metric: str, mask: np.ndarray, filters: dict, where: str, source: str,
               order: float = 1e9, value: str | None = None) -> pl.DataFrame:
    """The paired statistics of the rows in ``mask``; ``value`` says the slice in words."""
    s = _paired(metric, frame.filter(pl.Series(mask)), min_rows=MEAN_MIN_ROWS)
    return _part([", ".join(filters)], [value or " and ".join(map(str, filters.values()))],
                 [{"column": list(filters), "value": [str(v) for v in filters.values()]}], [where], source, [order], s)


def _found_slices(baseline: Run, frame: pl.DataFrame, metric: str, by: tuple[str, ...],
                  seed: int) -> tuple[list, str | None]:
    """SliceLine's slices where the candidate is worse, searched on a seeded half of the rows and
    tested on the other half; past ``discover.MAX_COLUMNS`` columns, over the model's strongest
    (and a note saying so), as discovery does."""
    if metric == "error_rate":
        d = (~frame["b_correct"].to_numpy()).astype(float) - (~frame["a_correct"].to_numpy())
    else:
        d = frame["b_loss"].to_numpy() - frame["a_loss"].to_numpy()
    e = np.maximum(d, 0.0)
    search = np.random.default_rng(seed).random(len(e)) < 0.5
    con = baseline.workspace.cursor()
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(baseline.predictions))})")
             .fetchall() if not r[0].startswith("_")]
    columns, note = strongest(baseline, [c for c in baseline.record.features if c in names] or list(by) or names)
    if not e[search].any() or not columns:  # the candidate is nowhere worse on the search half
        return [], None
    try:
        found = search_rows(baseline, e, search, columns=columns, k=FIND_K)
    except ValueError as exc:
        raise WorkbenchError(f"Searching for regressions: {exc}.") from None
    test = frame.filter(pl.Series(~search))
    return [_one_slice(test, metric, mask[~search], filters, where, "found", order=2e9, value=predicate)
            for filters, where, predicate, mask in found], note


def _slices(parts: list[pl.DataFrame], metric: str, min_size: int) -> pl.DataFrame:
    """The slices of every source: q-values over all slices tested together, and whether each is
    a regression. Column slices first (by column, each in its order), then the saved ones, then
    the found ones, worst first."""
    if not parts:
        return pl.DataFrame(schema={c: pl.Float64 for c in SLICE_COLUMNS}).with_columns(
            pl.col("column", "value", "where", "source").cast(pl.String), pl.col("n").cast(pl.Int64),
            pl.col("filters").cast(FILTERS), pl.col("regression").cast(pl.Boolean))
    table = pl.concat(parts).filter(pl.col("n") >= min_size)
    p = table["p_value"].fill_nan(None).fill_null(np.nan).to_numpy()
    q = np.full(len(p), np.nan)
    q[np.isfinite(p)] = bh_qvalues(p[np.isfinite(p)])
    worse = table["delta"].to_numpy() < 0 if HIGHER_IS_BETTER[metric] else table["delta"].to_numpy() > 0
    table = table.with_columns(q_value=pl.Series(q, dtype=pl.Float64),
                               regression=pl.Series(np.isfinite(q) & (q < FDR) & worse, dtype=pl.Boolean))
    table = table.with_columns(pl.col(pl.Float64).fill_nan(None))
    worst = pl.when(pl.col("source") == "found").then(-pl.col("delta").fill_null(0)).otherwise(0.0)
    return table.sort(pl.col("_order"), worst, maintain_order=True).select(SLICE_COLUMNS)


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
