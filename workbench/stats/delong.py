"""DeLong's variance of ROC AUC for every slice of a holdout and for the rest of it, in one pass.

A breakdown by ROC AUC compares each slice's AUC with the AUC of the rows outside it. DeLong's
variance of an AUC needs each positive's *placement* (the share of the same rows' negatives
scored below it, ties counting one half) and each negative's (the share of positives above it).
A slice's placements count within the slice; the rest's count within the rest, which differs per
slice, so computing them directly costs a pass over the holdout for every slice. Here the rest's
sums of placements and of their squares are rebuilt from global quantities instead:

for a positive ``i`` outside slice ``g``, its count of the rest's negatives below it is
``B_i - B_i^g`` (all negatives below it, less those of ``g``), so

    sum (B_i - B_i^g)^2 = sum B_i^2 - 2 sum B_i B_i^g + sum (B_i^g)^2     (i outside g)

and each term is a sum over the rows of ``g`` of a function of the global score order:
``sum_i B_i B_i^g = sum_{j in g, negative} W(s_j)`` with ``W(s)`` the sum of ``B_i`` over positives
above ``s``; ``sum_i (B_i^g)^2`` is a sum over pairs of ``g``'s negatives of the positives above
both. The negatives' side is the same with the classes swapped and the scores negated, read off
the same sorts backwards. Two sorts in all (by score, and by slice then score), whatever the
number of slices.

``tests/test_stats.py`` checks every figure against a direct DeLong on each slice's rows and on
the rest's."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupDelong:
    """Per group (arrays indexed by group): rows, positives, negatives, the group's AUC and
    DeLong variance, and the same for the rows outside the group; and the whole holdout's
    AUC and variance. A variance is NaN where a side has fewer than two of either class."""

    n: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    auc: np.ndarray
    var: np.ndarray
    rest_auc: np.ndarray
    rest_var: np.ndarray
    overall_auc: float
    overall_var: float


@dataclass(frozen=True)
class _Side:
    """Sums over one class (the 'focal' one: positives, or negatives with scores negated) per group."""

    n_focal: np.ndarray    # focal rows in the group
    within: np.ndarray     # sum of within-group placement counts
    within2: np.ndarray    # ... and of their squares
    total: float           # sum of global placement counts over every focal row
    total2: float          # ... and of their squares
    glob: np.ndarray       # sum of global placement counts over the group's focal rows
    glob2: np.ndarray      # ... and of their squares
    cross: np.ndarray      # sum over the group's focal rows of global x within counts
    other_above: np.ndarray  # sum over the group's other rows of focal rows above them (global)
    w: np.ndarray          # sum over the group's other rows of W(s): global counts of focal rows above
    pairs: np.ndarray      # sum over the group's pairs of other rows of focal rows above both


def _levels(order: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Each row's level in ``order`` (a sort by ``keys``): rows with equal keys share one."""
    new = np.ones(len(order), bool)
    if len(order):
        new[1:] = np.logical_or.reduce([k[order][1:] != k[order][:-1] for k in keys])
    return np.cumsum(new) - 1


def _side(gs: np.ndarray, fs: np.ndarray, gl: np.ndarray, lvl_g: np.ndarray, levels: int, groups: int) -> _Side:
    """The sums of one class's placements. Every array is per row in the order of the sort by
    (group, score): ``gs`` the group, ``fs`` 1.0 for the focal class, ``gl`` the row's level in
    the holdout's score order (of ``levels``), ``lvl_g`` its level in the (group, score) order."""
    f, o = fs, 1.0 - fs
    # global levels of the score: counts of each class at a level, and those below it
    f_l, o_l = np.bincount(gl, f, levels), np.bincount(gl, o, levels)
    o_below = np.cumsum(o_l) - o_l
    f_above = f_l.sum() - np.cumsum(f_l)
    b_l = o_below + 0.5 * o_l                  # a focal row's count of other rows below it
    a_l = f_above + 0.5 * f_l                  # an other row's count of focal rows above it
    a2_l = f_above + 0.25 * f_l                # ... of focal rows above it and a tied partner
    bsum_l = f_l * b_l
    w_l = (bsum_l.sum() - np.cumsum(bsum_l)) + 0.5 * bsum_l
    b, a, a2, w = b_l[gl], a_l[gl], a2_l[gl], w_l[gl]
    # within-group levels: (group, score)
    og_l = np.bincount(lvl_g, o)               # the group's other rows at each level
    lvl_group = np.empty(len(og_l), np.int64)
    lvl_group[lvl_g] = gs
    o_cum = np.cumsum(og_l) - og_l
    first = np.r_[0, np.flatnonzero(np.diff(lvl_group)) + 1] if len(lvl_group) else np.zeros(0, np.int64)
    base = np.zeros(groups)
    base[lvl_group[first]] = o_cum[first]
    o_below_g = o_cum - base[lvl_group]        # the group's other rows strictly below the level
    bw = (o_below_g + 0.5 * og_l)[lvl_g]
    lb = o_below_g[lvl_g]
    # pairs of the group's other rows: a lower one and a higher one see the focal rows above the
    # higher (2 x, for both orders); a tied pair (itself included) sees a2 at its level
    a2_at_level = np.zeros(len(og_l))
    a2_at_level[lvl_g] = a2
    pairs = np.bincount(gs, o * 2 * lb * a, groups) + np.bincount(lvl_group, og_l ** 2 * a2_at_level, groups)

    def per(x):
        return np.bincount(gs, x, groups)
    fb = f * b
    return _Side(n_focal=per(f), within=per(f * bw), within2=per(f * bw * bw), total=float(fb.sum()),
                 total2=float((fb * b).sum()), glob=per(fb), glob2=per(fb * b), cross=per(fb * bw),
                 other_above=per(o * a), w=per(o * w), pairs=pairs)


def _component(sum_v, sum_v2, n_focal, n_other):
    """Mean of the placements (the AUC) and the variance of the mean, from sums of placement
    counts ``sum_v``, ``sum_v2`` (counts out of ``n_other``) over ``n_focal`` rows."""
    sum_v, sum_v2, n_focal, n_other = (np.asarray(a, float) for a in (sum_v, sum_v2, n_focal, n_other))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sum_v / (n_focal * n_other)
        var = (sum_v2 / n_other ** 2 - n_focal * mean * mean) / (n_focal - 1) / n_focal
    return mean, np.where((n_focal >= 2) & (n_other >= 2), np.maximum(var, 0.0), np.nan)


def group_delong(groups: np.ndarray, y: np.ndarray, score: np.ndarray) -> GroupDelong:
    """AUC and DeLong variance of every group (``groups`` coded 0..G-1) and of its rest."""
    g = np.asarray(groups, np.int64)
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, float)
    k = int(g.max()) + 1 if len(g) else 0
    # the sort by score, then a stable sort of the groups over it (a radix sort where the groups
    # fit 16 bits): the sort by (group, score), faster than a two-key lexsort
    order = np.argsort(s, kind="stable")
    small = g.astype(np.int16) if k <= np.iinfo(np.int16).max else g
    order_g = order[np.argsort(small[order], kind="stable")]
    glvl = np.empty(len(g), np.int64)
    glvl[order] = _levels(order, s)
    gs, ys, gl, lvl_g = g[order_g], y[order_g].astype(float), glvl[order_g], _levels(order_g, g, s)
    levels = int(gl.max()) + 1 if len(gl) else 0
    pos_side = _side(gs, ys, gl, lvl_g, levels, k)
    # the negatives' side: the same with the classes swapped and the scores negated, which turns
    # both sorts around (groups then come in the opposite order, which nothing here depends on)
    neg_side = _side(gs[::-1], 1.0 - ys[::-1], levels - 1 - gl[::-1],
                     (lvl_g[-1] if len(lvl_g) else 0) - lvl_g[::-1], levels, k)
    P, Q = float(y.sum()), float((~y).sum())
    n_pos, n_neg = pos_side.n_focal, neg_side.n_focal
    auc, v_pos = _component(pos_side.within, pos_side.within2, n_pos, n_neg)
    _, v_neg = _component(neg_side.within, neg_side.within2, n_neg, n_pos)
    rest = [_rest(side, n_f, n_o, F, O) for side, n_f, n_o, F, O in
            ((pos_side, n_pos, n_neg, P, Q), (neg_side, n_neg, n_pos, Q, P))]
    overall, ov_pos = _component(pos_side.total, pos_side.total2, P, Q)
    _, ov_neg = _component(neg_side.total, neg_side.total2, Q, P)
    return GroupDelong(n=n_pos + n_neg, pos=n_pos, neg=n_neg, auc=auc, var=v_pos + v_neg,
                       rest_auc=rest[0][0], rest_var=rest[0][1] + rest[1][1],
                       overall_auc=float(overall), overall_var=float(ov_pos + ov_neg))


def _rest(side: _Side, n_f, n_o, F: float, O: float):
    """The rest's mean placement and its variance for one class: its focal rows' counts of the
    rest's other rows below them are the global counts less the group's."""
    sum_v = (side.total - side.glob) - (side.other_above - side.within)
    sum_v2 = ((side.total2 - side.glob2) - 2 * (side.w - side.cross) + (side.pairs - side.within2))
    return _component(sum_v, sum_v2, F - n_f, O - n_o)
