"""A slice's reliability curve beside the whole holdout's, for a binary run.

The data behind the chart that opens with a chosen slice: observed positive rate against mean
score in quantile bins (:func:`workbench.stats.curves.calibration_points`, Wilson intervals), for
the holdout and for the rows a condition selects, and the ECE of each
(:func:`workbench.stats.calibration_error`). The condition passes the SQL boundary
(:func:`workbench.engine.parse_condition`) and the query runs under the workspace's limits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from workbench import stats
from workbench.engine import limits, parse_condition, sql_literal
from workbench.errors import WorkbenchError
from workbench.stats.curves import calibration_points
from workbench.store.runs import Run

CURVE_BINS = 10  # quantile bins of each curve


@dataclass(frozen=True)
class SliceCalibration:
    """Reliability curves (``predicted``, ``observed``, ``low``, ``high``, ``n`` per bin) of the
    whole holdout (``overall``) and of the slice ``where`` (``inside``, empty for a slice of no
    rows), with each one's row count and debiased ECE (None where it has no rows)."""

    run_id: str
    where: str
    overall: pl.DataFrame
    inside: pl.DataFrame
    n_overall: int
    n_inside: int
    ece_overall: float | None
    ece_inside: float | None
    positive_class: object = None

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "where": self.where, "positive_class": self.positive_class,
                "overall": {"n": self.n_overall, "ece": self.ece_overall, "points": self.overall.to_dicts()},
                "inside": {"n": self.n_inside, "ece": self.ece_inside, "points": self.inside.to_dicts()}}


def slice_calibration(run: Run, where: str, *, bins: int = CURVE_BINS) -> SliceCalibration:
    """The reliability curve of the rows ``where`` selects and of the whole holdout of a binary run."""
    if run.task != "binary":
        raise WorkbenchError(f"A reliability curve needs a binary run; run {run.run_id} is {run.task}.")
    cond = parse_condition(where)
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    y = f"(_label = {sql_literal(run.record.positive_class)})::DOUBLE"
    try:
        with limits(con):
            f = con.sql(f"SELECT {y} AS y, _score::DOUBLE AS s, coalesce(({cond}), false) AS inside "
                        f"FROM {src} ORDER BY _row").fetchnumpy()
    except WorkbenchError as e:
        raise WorkbenchError(f"Cannot select the slice's rows: {e}") from None
    ys, s, inside = (np.asarray(f[c]) for c in ("y", "s", "inside"))
    inside = inside.astype(bool)

    def curve(m):
        if not m.any():
            return pl.DataFrame(schema={"n": pl.UInt32, "predicted": pl.Float64, "observed": pl.Float64,
                                        "low": pl.Float64, "high": pl.Float64}), None
        points = calibration_points(ys[m], s[m], bins=bins).select("predicted", "observed", "low", "high", "n")
        return points, stats.calibration_error(ys[m], s[m])

    (overall, e_all), (part, e_in) = curve(np.ones(len(ys), bool)), curve(inside)
    return SliceCalibration(run.run_id, where, overall, part, len(ys), int(inside.sum()), e_all, e_in,
                            run.record.positive_class)
