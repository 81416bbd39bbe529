"""Why the model fails where it does: SHAP importance over a sample of the holdout, and a slice's
SHAP values against the rest's.

Both read the run's SHAP cache (:mod:`workbench.model.explain`), explaining the rows it lacks.
Importance is the mean |SHAP| per feature over the first ``rows`` rows of the seeded order, with
a bootstrap interval over those rows. A slice's contrast compares the slice's first ``rows``
rows in the same order with the rest's first ``rows``: two random samples, one of each side, so
a slice of 1% of the holdout is explained on its own rows, not on the few that fall into a
global sample. Per feature: mean SHAP and mean |SHAP| inside and outside, their differences
with Welch intervals and Benjamini-Hochberg q-values over the features, ranked by how
differently the feature pushes the score inside. The mean SHAP differences add up to the
difference in mean raw score, so the table accounts for the whole gap between the two sides.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from workbench import stats
from workbench.engine import limits, parse_condition, sql_literal
from workbench.errors import WorkbenchError
from workbench.model import explain as shap_cache
from workbench.model import features
from workbench.stats.bootstrap import mean_intervals, mean_intervals_method, welch_difference
from workbench.store.runs import Run

SAMPLE_ROWS = 1000  # rows explained for a first view: about a second of TreeSHAP on two cores
MOST_ROWS = 1_000_000_000
INTERACTION_ROWS = 2000  # rows the strongest interaction is judged on (about 0.1 s)
TOP_DISTRIBUTIONS = 5  # features whose values the contrast summarizes inside and outside
PLOT_ROWS = 5000  # rows a result carries for plots (a beeswarm of more is a blur) and distributions
SHAP_PREFIX = "shap:"
Progress = shap_cache.Progress

NOT_LIGHTGBM = "Run {run_id} has no LightGBM model to explain (model.txt is missing)."
BAD_ROWS = "Rows to explain must be a whole number from 1 up (got {rows!r})."
UNKNOWN_CLASS = "Unknown class {cls!r} for run {run_id}; classes: {classes}."
EMPTY_SLICE = "The condition selects no holdout rows of run {run_id}: {where}"
WHOLE_SLICE = "The condition selects every holdout row of run {run_id}, so there is no rest to compare with: {where}"


def _check(run: Run, rows: int, cls: Any) -> int | None:
    if not run.model_path.is_file():
        raise WorkbenchError(NOT_LIGHTGBM.format(run_id=run.run_id))
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or not 1 <= rows <= MOST_ROWS:
        raise WorkbenchError(BAD_ROWS.format(rows=rows))
    if cls is None:
        return None
    classes = list(run.record.classes)
    if run.task != "multiclass" or cls not in classes and str(cls) not in map(str, classes):
        shown = ", ".join(map(str, classes)) if run.task == "multiclass" else "none (only multiclass runs have one per class)"
        raise WorkbenchError(UNKNOWN_CLASS.format(cls=cls, run_id=run.run_id, classes=shown))
    return [str(c) for c in classes].index(str(cls))


def _per_row(values: np.ndarray, k: int | None, absolute: bool) -> np.ndarray:
    """(rows, features): one output's values, or for all of a multiclass model's outputs
    (``k`` None) the sum of |SHAP| over classes, the stacked bars of a multiclass importance."""
    if k is None and values.shape[1] > 1:
        return np.abs(values).sum(axis=1)
    v = values[:, k or 0, :]
    return np.abs(v) if absolute else v


@dataclass(frozen=True)
class Importance:
    """Mean |SHAP| per feature over ``rows_explained`` holdout rows (a seeded random sample).

    ``table``: feature, mean_abs_shap, ci_low, ci_high, mean_shap, most important first.
    ``sample``: the first ``PLOT_ROWS`` rows explained (a random sample of them), with ``_row``,
    each feature's value and ``shap:FEATURE`` (of ``sample_class`` for a multiclass run), for the
    beeswarm and dependence plots; ``matrix`` the same rows as the model saw them. A multiclass run without a class sums |SHAP| over the
    classes, and has no signed mean; its base value is then the sum of the classes'."""

    run_id: str
    task: str
    cls: Any
    rows_explained: int
    holdout_rows: int
    seed: int
    base_value: float
    table: pl.DataFrame
    method: str
    seconds: float
    sample: pl.DataFrame = field(repr=False)
    matrix: np.ndarray = field(repr=False)
    sample_class: Any = None  # the class whose SHAP values ``sample`` holds (multiclass)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "class": self.cls, "rows_explained": self.rows_explained,
                "holdout_rows": self.holdout_rows, "seed": self.seed, "base_value": self.base_value,
                "importance": [{"feature": r["feature"], "mean_abs_shap": r["mean_abs_shap"],
                                "ci": [r["ci_low"], r["ci_high"]], "mean_shap": r["mean_shap"]}
                               for r in self.table.iter_rows(named=True)],
                "method": self.method, "seconds": self.seconds}


def _sample_frame(run: Run, rows: np.ndarray, per_row: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """The first ``PLOT_ROWS`` of ``rows`` (a random sample themselves) with values and SHAP."""
    rows, per_row = rows[:PLOT_ROWS], per_row[:PLOT_ROWS]
    values = shap_cache.feature_rows(run, rows)
    names = list(run.record.features)
    shap = pl.DataFrame({f"{SHAP_PREFIX}{f}": per_row[:, j] for j, f in enumerate(names)})
    return pl.concat([values, shap], how="horizontal"), features.matrix(values, shap_cache.encoding(run))


def importance(run: Run, *, rows: int = SAMPLE_ROWS, seed: int = 0, cls: Any = None,
               progress: Progress | None = None) -> Importance:
    """Mean |SHAP| per feature over the first ``rows`` holdout rows of the seeded order (all of
    them if the holdout is smaller), with 95% bootstrap intervals over those rows. For a
    multiclass run, ``cls`` picks a class; without it, |SHAP| is summed over the classes."""
    k = _check(run, rows, cls)
    started = time.perf_counter()
    order = shap_cache.explain_order(run, seed)
    chosen = order[:rows]
    sv = shap_cache.shap_values(run, chosen, progress)
    absolute = _per_row(sv.values, k, absolute=True)
    low, high = mean_intervals(absolute, positive=True, seed=seed)
    every_class = k is None and sv.values.shape[1] > 1  # |SHAP| summed over classes: no one signed mean
    shown = k or 0  # the output whose values the sample holds
    signed = sv.values[:, shown, :]
    names = list(run.record.features)
    table = pl.DataFrame({"feature": names, "mean_abs_shap": absolute.mean(axis=0), "ci_low": low, "ci_high": high,
                          "mean_shap": np.full(len(names), np.nan) if every_class else signed.mean(axis=0)})
    table = table.with_columns(pl.col(pl.Float64).fill_nan(None)).sort(["mean_abs_shap", "feature"],
                                                                        descending=[True, False])
    sample, matrix = _sample_frame(run, sv.rows, signed)
    classes = run.record.classes
    return Importance(run.run_id, run.task, None if k is None else classes[k], len(chosen), len(order), seed,
                      float(sv.base.sum() if every_class else sv.base[shown]), table,
                      "Intervals: " + mean_intervals_method(len(chosen)), round(time.perf_counter() - started, 3),
                      sample, matrix, classes[shown] if run.task == "multiclass" else None)


def interactions(imp: Importance, feature: str) -> list[str]:
    """The other features, most interacting with ``feature`` first, by the heuristic of shap's
    ``approximate_interactions``: sort the rows by the feature's value, cut them into runs of
    about a tenth (at most 50 rows), and add up each other feature's |correlation| with the
    feature's SHAP value within the runs (or that of its being missing, if larger). Judged on
    the sample's first ``INTERACTION_ROWS`` rows, as shap judges on 10,000."""
    names = [c.removeprefix(SHAP_PREFIX) for c in imp.sample.columns if c.startswith(SHAP_PREFIX)]
    if feature not in names:
        raise WorkbenchError(f"Unknown feature {feature!r}; features: {', '.join(names)}.")
    i = names.index(feature)
    X = imp.matrix[:INTERACTION_ROWS]  # the sample's rows are in random order: its first ones are a sample too
    srt = np.argsort(X[:, i], kind="stable")
    ref = imp.sample[f"{SHAP_PREFIX}{feature}"].to_numpy()[:INTERACTION_ROWS][srt]
    step = max(min(len(srt) // 10, 50), 1)
    scores = np.zeros(len(names))
    for j in range(len(names)):
        if j == i:
            continue
        other = X[srt, j]
        scores[j] = max(_binned_correlation(ref, np.where(np.isnan(other), np.nanmean(other) if np.isfinite(other).any()
                                                          else 0.0, other), step),
                        _binned_correlation(ref, np.isnan(other).astype(float), step))
    order = np.argsort(-scores, kind="stable")
    return [names[j] for j in order if j != i]


def _binned_correlation(ref: np.ndarray, other: np.ndarray, step: int) -> float:
    total = 0.0
    for start in range(0, len(ref), step):
        a, b = ref[start:start + step], other[start:start + step]
        if len(a) > 1 and a.std() > 0 and b.std() > 0:
            total += abs(float(np.corrcoef(a, b)[0, 1]))
    return total


@dataclass(frozen=True)
class SliceContrast:
    """A slice's SHAP values against the rest's. ``table``: feature, mean_shap_inside,
    mean_shap_outside, diff, ci_low, ci_high, p_value, q_value, mean_abs_inside, mean_abs_outside,
    abs_diff, abs_ci_low, abs_ci_high; ranked by |diff|. ``sample`` holds up to ``PLOT_ROWS`` of
    the rows explained on each side (``_inside`` says which) with feature values and
    ``shap:FEATURE``; ``distributions`` summarizes the top features' values in those rows."""

    run_id: str
    where: str
    cls: Any
    slice_rows: int
    rest_rows: int
    inside_explained: int
    outside_explained: int
    seed: int
    mean_raw_inside: float
    mean_raw_outside: float
    table: pl.DataFrame
    distributions: list[dict]
    method: str
    seconds: float
    sample: pl.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "where": self.where, "class": self.cls, "slice_rows": self.slice_rows,
                "rest_rows": self.rest_rows, "inside_explained": self.inside_explained,
                "outside_explained": self.outside_explained, "seed": self.seed,
                "mean_raw_inside": self.mean_raw_inside, "mean_raw_outside": self.mean_raw_outside,
                "features": [{"feature": r["feature"], "inside": r["mean_shap_inside"], "outside": r["mean_shap_outside"],
                              "diff": r["diff"], "ci": [r["ci_low"], r["ci_high"]], "p_value": r["p_value"],
                              "q_value": r["q_value"], "abs_inside": r["mean_abs_inside"],
                              "abs_outside": r["mean_abs_outside"], "abs_diff": r["abs_diff"],
                              "abs_ci": [r["abs_ci_low"], r["abs_ci_high"]]}
                             for r in self.table.iter_rows(named=True)],
                "distributions": self.distributions, "method": self.method, "seconds": self.seconds}


def slice_members(run: Run, where: str) -> np.ndarray:
    """The ``_row`` values of the holdout rows ``where`` selects (through the SQL boundary)."""
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    try:
        with limits(con):
            rows = con.sql(f"SELECT _row FROM {src} WHERE {parse_condition(where)}").fetchnumpy()["_row"]
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot select the slice's rows: {e}") from None
    return np.asarray(rows, np.int64)


QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _quantiles(values: pl.Series) -> list:
    """The values at ``QUANTILES`` (nearest rank), dates and times as text; None where none are known."""
    known = values.drop_nulls()
    if known.dtype.is_float():
        known = known.drop_nans()
    if not known.len():
        return [None] * len(QUANTILES)
    picked = known.sort().gather([min(int(q * known.len()), known.len() - 1) for q in QUANTILES])
    return [str(v) for v in picked] if values.dtype.is_temporal() else [float(v) for v in picked]


def _distribution(name: str, inside: pl.Series, outside: pl.Series) -> dict:
    """Where a feature's values lie inside and outside: quartiles of a number, shares of the most
    common values of anything else, and the share missing."""
    out: dict[str, Any] = {"feature": name, "missing_inside": inside.null_count() / max(len(inside), 1),
                           "missing_outside": outside.null_count() / max(len(outside), 1)}
    if inside.dtype.is_temporal() or inside.dtype.is_numeric() and inside.dtype != pl.Boolean:
        out["kind"] = "numeric"
        out["quantiles"] = list(QUANTILES)
        out["inside"], out["outside"] = _quantiles(inside), _quantiles(outside)
        return out
    values = pl.concat([inside.cast(pl.String), outside.cast(pl.String)]).value_counts(sort=True).head(5)
    top = values[values.columns[0]].to_list()
    out["kind"] = "categorical"
    out["values"] = top
    out["inside"] = [float((inside.cast(pl.String) == v).sum()) / max(len(inside), 1) for v in top]
    out["outside"] = [float((outside.cast(pl.String) == v).sum()) / max(len(outside), 1) for v in top]
    return out


def slice_contrast(run: Run, where: str, *, rows: int = SAMPLE_ROWS, seed: int = 0, cls: Any = None,
                   progress: Progress | None = None) -> SliceContrast:
    """SHAP values of the slice ``where`` against the rest of the holdout: up to ``rows``
    explained rows on each side, each side's first rows in the seeded order."""
    k = _check(run, rows, cls)
    if k is None and run.task == "multiclass":
        k = 0  # a slice is contrasted on one class's margin: the first unless one is chosen
    started = time.perf_counter()
    members = slice_members(run, where)
    order = shap_cache.explain_order(run, seed)
    inside_mask = np.isin(order, members)
    if not inside_mask.any():
        raise WorkbenchError(EMPTY_SLICE.format(run_id=run.run_id, where=where))
    if inside_mask.all():
        raise WorkbenchError(WHOLE_SLICE.format(run_id=run.run_id, where=where))
    inside, outside = order[inside_mask][:rows], order[~inside_mask][:rows]
    sv = shap_cache.shap_values(run, np.concatenate([inside, outside]), progress)
    n_in = len(inside)
    signed = _per_row(sv.values, k, absolute=False)
    absolute = _per_row(sv.values, k, absolute=True)
    diff, lo, hi, p = welch_difference(signed[:n_in], signed[n_in:])
    adiff, alo, ahi, _ = welch_difference(absolute[:n_in], absolute[n_in:])
    q = np.full(len(p), np.nan)
    q[np.isfinite(p)] = stats.bh_qvalues(p[np.isfinite(p)])
    names = list(run.record.features)
    table = pl.DataFrame({
        "feature": names, "mean_shap_inside": signed[:n_in].mean(axis=0), "mean_shap_outside": signed[n_in:].mean(axis=0),
        "diff": diff, "ci_low": lo, "ci_high": hi, "p_value": p, "q_value": q,
        "mean_abs_inside": absolute[:n_in].mean(axis=0), "mean_abs_outside": absolute[n_in:].mean(axis=0),
        "abs_diff": adiff, "abs_ci_low": alo, "abs_ci_high": ahi,
    }).with_columns(pl.col(pl.Float64).fill_nan(None))
    table = table.sort([pl.col("diff").abs(), pl.col("feature")], descending=[True, False], nulls_last=True)
    inside_plot, _ = _sample_frame(run, sv.rows[:n_in], signed[:n_in])
    outside_plot, _ = _sample_frame(run, sv.rows[n_in:], signed[n_in:])
    sample = pl.concat([inside_plot.with_columns(_inside=pl.lit(True)), outside_plot.with_columns(_inside=pl.lit(False))])
    top = table["feature"].head(TOP_DISTRIBUTIONS).to_list()
    distributions = [_distribution(f, sample.filter(pl.col("_inside"))[f], sample.filter(~pl.col("_inside"))[f])
                     for f in top]
    raw = signed.sum(axis=1) + sv.base[k or 0]
    method = (f"Inside: the slice's first {n_in:,} rows in the seeded order (a random sample of its "
              f"{int(inside_mask.sum()):,}); outside: the rest's first {len(outside):,}. Intervals: Welch's t for the "
              f"difference of means; q: Benjamini-Hochberg over the {int(np.isfinite(p).sum())} features tested.")
    return SliceContrast(run.run_id, where, run.record.classes[k] if run.task == "multiclass" else None, int(inside_mask.sum()),
                         int((~inside_mask).sum()), n_in, len(outside), seed, float(raw[:n_in].mean()),
                         float(raw[n_in:].mean()), table, distributions, method,
                         round(time.perf_counter() - started, 3), sample)


@dataclass(frozen=True)
class Explanation:
    """What ``explain`` prints: the importance over a sample and, for a slice, its contrast."""

    importance: Importance
    contrast: SliceContrast | None = None

    def to_dict(self) -> dict:
        out = self.importance.to_dict()
        if self.contrast is not None:
            out["slice"] = self.contrast.to_dict()
            out["seconds"] = round(self.importance.seconds + self.contrast.seconds, 3)
        return out


def explain(run: Run, *, rows: int = SAMPLE_ROWS, where: str | None = None, seed: int = 0, cls: Any = None,
            progress: Progress | None = None) -> Explanation:
    """Importance over ``rows`` sampled holdout rows and, with ``where``, that slice against the rest."""
    # the contrast first: it refuses a bad condition (an unknown column too) before explaining any row
    contrast = slice_contrast(run, where, rows=rows, seed=seed, cls=cls, progress=progress) if where is not None else None
    return Explanation(importance(run, rows=rows, seed=seed, cls=cls, progress=progress), contrast)
