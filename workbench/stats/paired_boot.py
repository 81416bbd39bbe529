"""Paired bootstrap differences for the metrics that are not means of per-row values.

F1, macro F1, PR AUC (average precision), RMSE and R² of two models on the same rows: each draw
resamples the rows once and scores both models on the same resampled rows, so the difference's
spread is that of the rows both models see. Draws are seeded. The interval is the percentile
interval of the drawn differences (candidate - baseline); the two-sided p-value inverts it: twice
the smaller share of draws on either side of 0, (1 + count) / (1 + draws), at most 1.

Each metric is drawn the cheapest way that is the same in law as resampling rows:

- F1 and macro F1 depend only on the counts of the joint cells (label, baseline's decision,
  candidate's decision): multinomial draws over those cells (8 for F1), instant at any size;
- RMSE and R² depend only on sums of per-row values: each draw is a vector of resampling counts
  per row and one matrix product;
- PR AUC depends on each model's ranking of the rows: each draw re-weights the rows by their
  resampling counts and sums along each model's fixed order.

The last two cost a pass over the rows per draw (at 1M rows, 200 draws took 23 s for RMSE and
R²). Above ``MAX_ROWS`` rows their draws resample a seeded random subset of that many rows, and
the drawn differences' spread is scaled by sqrt(subset / rows) (these metrics' errors shrink as
1/sqrt(rows)); the interval is then the normal one from that spread, and the p-value its z-test.
The point values are always those of all the rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from workbench.stats.paired import PairedStats

DRAWS = 2000         # draws where a draw is a multinomial over a few cells
ROW_DRAWS = 200      # draws where a draw costs a pass over the rows
MAX_ROWS = 100_000   # above this, draws where a draw costs a pass over the rows resample a subset
PAIRED_BOOTSTRAP = ("paired bootstrap over rows ({draws} draws, seeded; both models on the same resampled rows): "
                    "percentile interval, p-value by inverting it")
SUBSAMPLED = ("paired bootstrap over a seeded subset of {m:,} of the {n:,} rows ({draws} draws), the spread "
                     "scaled by sqrt({m:,}/{n:,}): normal interval and z-test")


@dataclass(frozen=True)
class Drawn:
    """A paired statistic's point values and its drawn differences (or a normal spread)."""

    n: int
    baseline: float
    candidate: float
    draws: np.ndarray
    scale: float | None = None  # set: the draws' spread times this is the difference's standard error

    def stats(self) -> PairedStats:
        delta = self.candidate - self.baseline
        d = self.draws[np.isfinite(self.draws)]
        if not np.isfinite(delta) or len(d) < 2:
            low = high = p = np.nan
        elif self.scale is not None:
            se = float(np.std(d, ddof=1)) * self.scale
            low, high = delta - 1.959964 * se, delta + 1.959964 * se
            p = 1.0 if se == 0 and delta == 0 else (0.0 if se == 0 else 2 * stats.norm.sf(abs(delta) / se))
        else:
            low, high = np.quantile(d, [0.025, 0.975])
            side = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0))
            p = min(1.0, 2 * (1 + side) / (1 + len(d)))
            if np.all(d == 0) and delta == 0:
                p = 1.0
        one = lambda x: np.array([float(x)])  # noqa: E731
        return PairedStats(np.array([self.n]), one(self.baseline), one(self.candidate), one(delta), one(low),
                           one(high), one(p))


def _f1(tp, fp, fn) -> np.ndarray:
    tp, fp, fn = (np.asarray(x, float) for x in (tp, fp, fn))
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros(np.broadcast(tp, den).shape), where=den > 0)


def paired_f1(y, baseline_pred, candidate_pred, *, seed: int = 0, draws: int = DRAWS) -> PairedStats:
    """Binary F1 (positive = True) of two models' decisions on the same rows, by multinomial draws
    over the 8 joint cells (label x baseline decision x candidate decision)."""
    y, a, b = (np.asarray(x).astype(bool) for x in (y, baseline_pred, candidate_pred))
    cells = np.bincount(y * 4 + a * 2 + b, minlength=8).astype(float)
    n = int(cells.sum())
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, cells / n, size=draws).astype(float) if n else np.zeros((0, 8))

    def f1(c, side):  # c[..., 8]; side 2 = the baseline's decision bit, 1 = the candidate's
        pos = [i for i in range(8) if i & side]
        tp = sum(c[..., i] for i in pos if i & 4)
        fp = sum(c[..., i] for i in pos if not i & 4)
        fn = sum(c[..., i] for i in range(8) if i & 4 and not i & side)
        return _f1(tp, fp, fn)
    return Drawn(n, float(f1(cells, 2)), float(f1(cells, 1)), f1(drawn, 1) - f1(drawn, 2)).stats()


def paired_macro_f1(y, baseline_pred, candidate_pred, *, n_classes: int, seed: int = 0,
                    draws: int = DRAWS) -> PairedStats:
    """Macro F1 over ``n_classes`` classes (codes 0..K-1; a class with no row and no prediction
    scores 0, as scikit-learn's ``zero_division=0``) of two models' decisions on the same rows, by
    multinomial draws over the joint cells (label, baseline's class, candidate's class) that hold rows."""
    k = n_classes
    y, a, b = (np.asarray(x, np.int64) for x in (y, baseline_pred, candidate_pred))
    cell_ids, counts = np.unique((y * k + a) * k + b, return_counts=True)
    n = int(counts.sum())
    cy, ca, cb = cell_ids // (k * k), (cell_ids // k) % k, cell_ids % k
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, counts / n, size=draws).astype(float) if n else np.zeros((0, len(counts)))
    every = np.vstack([counts.astype(float), drawn])

    def macro(pred):
        tp = np.zeros((len(every), k))
        fp, fn = np.zeros_like(tp), np.zeros_like(tp)
        for c in range(k):
            tp[:, c] = every[:, (cy == c) & (pred == c)].sum(axis=1)
            fp[:, c] = every[:, (cy != c) & (pred == c)].sum(axis=1)
            fn[:, c] = every[:, (cy == c) & (pred != c)].sum(axis=1)
        return _f1(tp, fp, fn).mean(axis=1)
    ma, mb = macro(ca), macro(cb)
    return Drawn(n, float(ma[0]), float(mb[0]), mb[1:] - ma[1:]).stats()


def _row_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)


def _subset(rng: np.random.Generator, n: int, draws: int, max_rows: int) -> tuple[np.ndarray | None, float | None,
                                                                                    str]:
    """(the rows the draws resample, None for all; the spread's scale; the method's text)."""
    if n <= max_rows:
        return None, None, PAIRED_BOOTSTRAP.format(draws=draws)
    keep = np.sort(rng.choice(n, max_rows, replace=False))
    return keep, float(np.sqrt(max_rows / n)), SUBSAMPLED.format(m=max_rows, n=n, draws=draws)


def _regression_values(sums: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """RMSE and R² of each side ([..., 2]) from the row sums of the columns paired_regression stacks."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sst = sums[..., 3] - sums[..., 2] ** 2 / n
        return np.sqrt(sums[..., :2] / n), 1 - sums[..., :2] / np.where(sst > 0, sst, np.nan)[..., None]


def paired_regression(y, baseline_pred, candidate_pred, *, seed: int = 0, draws: int = ROW_DRAWS,
                      max_rows: int = MAX_ROWS) -> tuple[PairedStats, PairedStats, str]:
    """(RMSE, R², the method's text) of two regressions on the same rows, each draw a vector of
    row counts (see the module's docstring for more than ``max_rows`` rows)."""
    y, a, b = (np.asarray(x, float) for x in (y, baseline_pred, candidate_pred))
    n = len(y)
    ym = y - y.mean()  # centred first: R²'s total sum of squares without cancellation
    M = np.column_stack([(y - a) ** 2, (y - b) ** 2, ym, ym ** 2])
    rmse, r2 = _regression_values(M.sum(axis=0), n)
    rng = np.random.default_rng(seed)
    keep, scale, method = _subset(rng, n, draws, max_rows)
    S = M if keep is None else M[keep]
    m = len(S)
    draw_rmse, draw_r2 = _regression_values(np.array([_row_counts(rng, m) @ S for _ in range(draws if m else 0)])
                                            .reshape(-1, 4), m)
    return (Drawn(n, rmse[0], rmse[1], draw_rmse[:, 1] - draw_rmse[:, 0], scale).stats(),
            Drawn(n, r2[0], r2[1], draw_r2[:, 1] - draw_r2[:, 0], scale).stats(), method)


class _Ranked:
    """One score's order of the rows and where its distinct values end, for weighted average
    precision as scikit-learn computes it (tied scores form one threshold)."""

    def __init__(self, y: np.ndarray, score: np.ndarray):
        self.order = np.argsort(-score, kind="stable")
        s = score[self.order]
        self.ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
        self.y = y[self.order]

    def ap(self, w: np.ndarray) -> float:
        ws = w[self.order]
        tp = np.cumsum(ws * self.y)[self.ends]
        seen = np.cumsum(ws)[self.ends]
        if tp[-1] <= 0:
            return np.nan
        precision = np.divide(tp, seen, out=np.zeros(len(tp)), where=seen > 0)
        recall = tp / tp[-1]
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def paired_pr_auc(y, baseline_score, candidate_score, *, seed: int = 0, draws: int = ROW_DRAWS,
                  max_rows: int = MAX_ROWS) -> tuple[PairedStats, str]:
    """Average precision of two scores on the same rows, and the method's text (see the module's
    docstring: above ``max_rows`` rows the draws resample a subset and scale its spread)."""
    y = np.asarray(y).astype(float)
    sa, sb = np.asarray(baseline_score, float), np.asarray(candidate_score, float)
    n = len(y)
    full_a, full_b = _Ranked(y, sa).ap(np.ones(n)), _Ranked(y, sb).ap(np.ones(n))
    rng = np.random.default_rng(seed)
    keep, scale, method = _subset(rng, n, draws, max_rows)
    if keep is not None:
        y, sa, sb = y[keep], sa[keep], sb[keep]
    m = len(y)
    ra, rb = _Ranked(y, sa), _Ranked(y, sb)
    d = np.empty(draws if m else 0)
    for i in range(len(d)):
        w = _row_counts(rng, m)
        d[i] = rb.ap(w) - ra.ap(w)
    return Drawn(n, full_a, full_b, d, scale).stats(), method
