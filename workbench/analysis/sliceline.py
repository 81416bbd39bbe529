"""SliceLine (Sagadeeva and Boehm, SIGMOD 2021): the top-k slices where a model errs most.

A slice is a conjunction of predicates ``feature = value`` over integer-coded features. Its
score is ``alpha * ((se / ss) / e_bar - 1) - (1 - alpha) * (n / ss - 1)`` for size ``ss``,
error sum ``se``, mean error ``e_bar`` and ``n`` rows. The lattice is searched level by level:
level-L candidates join two level-(L-1) slices that share L-2 predicates, and a candidate is
evaluated only if all its parents survived (size >= min_support, error > 0) and the upper
bound of its score beats the k-th best score so far.

Where this differs from the reference implementation (Apache SystemDS) and the ``sliceline``
package, and why the top-k is the same:

- the score's upper bound uses ``n`` = the number of rows, as the score does; both references
  pass the number of one-hot columns there, a looser bound that prunes less (and, with more
  one-hot columns than rows, one that could prune a true top-k slice);
- the upper bound takes the minimum size, error and maximum error over all parents (as SystemDS;
  the package uses the first pair of parents only);
- the maximum error of a slice at level 2 or more is bounded by its parents' maxima instead of
  computed; a larger bound only prunes less, so results are unchanged;
- ties at the k-th score are cut at exactly k slices (as SystemDS; the package keeps every tie),
  ordered by score, then fewer predicates, then predicate ids.

Evaluation is vectorized: for each surviving parent slice, one ``bincount`` over its rows gives
size, error sum and squared-error sum for every one-predicate extension of it at once. The
loop runs over parents, never over rows or candidates, and its cost shrinks with each level as
slices get smaller.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_K = 4             # the defaults of the reference implementation
DEFAULT_MIN_SUPPORT = 32
DEFAULT_ALPHA = 0.5


@dataclass(frozen=True)
class Lattice:
    """The search's result.

    ``top``: one row per slice, best first, each a tuple of item ids (``feature_of`` and
    ``code_of`` decode them); ``top_stats``: score, size, error sum, squared-error sum, and the
    slice's row in ``evaluated``.
    ``evaluated``: size, error sum and squared-error sum of every candidate evaluated (all
    levels), for multiple-testing correction. ``levels``: per level, candidates and valid ones.
    """

    top: list[tuple[int, ...]]
    top_stats: np.ndarray
    evaluated: np.ndarray
    levels: list[dict]
    feature_of: np.ndarray
    code_of: np.ndarray
    n: int
    mean_error: float


def score(size, error_sum, *, n: int, mean_error: float, alpha: float) -> np.ndarray:
    """SliceLine's score; -inf where it is undefined (empty slices)."""
    size, error_sum = np.asarray(size, float), np.asarray(error_sum, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = alpha * ((error_sum / size) / mean_error - 1) - (1 - alpha) * (n / size - 1)
    return np.nan_to_num(sc, nan=-np.inf)


def score_upper_bound(size, error_sum, max_error, *, n: int, mean_error: float, alpha: float,
                      min_support: float) -> np.ndarray:
    """The largest score any sub-slice of size >= min_support could have. The score is monotone
    on each side of ``error_sum / max_error``, so probing three sizes gives the maximum."""
    size, error_sum, max_error = (np.asarray(a, float) for a in (size, error_sum, max_error))
    with np.errstate(divide="ignore", invalid="ignore"):
        probes = np.column_stack([np.full(len(size), float(min_support)),
                                  np.maximum(error_sum / max_error, min_support), size])
        reachable = np.minimum(probes * max_error[:, None], error_sum[:, None])
        sc = alpha * ((reachable / probes) / mean_error - 1) - (1 - alpha) * (n / probes - 1)
    return np.nan_to_num(sc, nan=-np.inf).max(axis=1)


def find_slices(codes: np.ndarray, errors: np.ndarray, domains: list[int] | np.ndarray, *,
                k: int = DEFAULT_K, max_level: int | None = None, alpha: float = DEFAULT_ALPHA,
                min_support: float = DEFAULT_MIN_SUPPORT, floor: float = -np.inf) -> Lattice:
    """Run SliceLine on ``codes`` (n x m ints, feature j coded 0..domains[j]-1) and ``errors``.

    ``min_support`` below 1 is a fraction of the rows. ``max_level`` None searches all levels.
    ``floor`` prunes every candidate whose score's upper bound is not above it, as if the k-th
    best score were already that high: a permutation test, which asks only whether a search of
    shuffled errors reaches the real top score, skips the rest of the lattice (on the demo's
    33,000-row search half, 0.16 s a search without it).
    """
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    errors = np.asarray(errors, dtype=np.float64)
    n, m = codes.shape
    domains = np.asarray(domains, dtype=np.int64)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    sigma = int(min_support * n) if 0 < min_support < 1 else min_support
    offsets = np.concatenate([[0], np.cumsum(domains)[:-1]])
    n_items = int(domains.sum())
    feature_of = np.repeat(np.arange(m), domains)
    code_of = np.arange(n_items) - offsets[feature_of]
    mean_error = float(errors.mean()) if n else 0.0
    sc = dict(n=n, mean_error=mean_error, alpha=alpha)
    empty = Lattice([], np.zeros((0, 5)), np.zeros((0, 3)), [], feature_of, code_of, n, mean_error)
    if n == 0 or mean_error <= 0:
        return empty

    items = codes + offsets  # each row's item id per feature
    columns = np.ascontiguousarray(items.T)  # one contiguous array per feature, for fast gathers
    sq = errors * errors
    size1 = np.bincount(items.ravel(), minlength=n_items).astype(float)
    err1 = np.bincount(items.ravel(), np.repeat(errors, m), minlength=n_items)
    sq1 = np.bincount(items.ravel(), np.repeat(sq, m), minlength=n_items)
    max1 = np.zeros(n_items)
    np.maximum.at(max1, items.ravel(), np.repeat(errors, m))
    evaluated = [np.column_stack([size1, err1, sq1])]
    levels = [{"level": 1, "candidates": n_items, "valid": int(((size1 >= sigma) & (err1 > 0)).sum())}]

    # working set: slices as sorted item tuples, with size, error sum, max error
    keep = (size1 >= sigma) & (err1 > 0)
    slices = np.flatnonzero(keep)[:, None]
    stats = np.column_stack([size1[keep], err1[keep], max1[keep], sq1[keep]])
    top, top_stats = _top_k(np.zeros((0, 1), np.int64), np.zeros((0, 5)), slices,
                            np.column_stack([score(stats[:, 0], stats[:, 1], **sc), stats[:, 0], stats[:, 1],
                                             stats[:, 3], np.flatnonzero(keep)]), k, sigma)
    done = n_items  # rows of ``evaluated`` so far
    top_list = [tuple(int(i) for i in t) for t in top]

    masks = {}  # item id -> boolean row mask, built on first use
    binary = bool(np.array_equal(sq, errors))  # 0/1 errors: e² = e, so squared sums are the sums
    max_level = m if not max_level or max_level <= 0 else min(max_level, m)
    level = 1
    while len(slices) and level < max_level:
        level += 1
        keep = (stats[:, 0] >= sigma) & (stats[:, 1] > 0)
        slices, stats = slices[keep], stats[keep]
        minsc = max(top_stats[-1, 0] if len(top_stats) == k else -np.inf, floor)
        cand, parent, last, ub_stats = _candidates(slices, stats, feature_of, n_items)
        if not len(cand):
            break
        ub = score_upper_bound(ub_stats[:, 0], ub_stats[:, 1], ub_stats[:, 2], min_support=sigma, **sc)
        ok = (ub > minsc) & (ub > 0) & (ub_stats[:, 0] >= sigma)
        cand, parent, last, ub_stats = cand[ok], parent[ok], last[ok], ub_stats[ok]
        if not len(cand):
            levels.append({"level": level, "candidates": 0, "valid": 0})
            break
        size, err, sqe = _evaluate(columns, errors, None if binary else sq, slices, parent, last,
                                   masks, n_items, feature_of)
        evaluated.append(np.column_stack([size, err, sqe]))
        valid = (size >= sigma) & (err > 0)
        levels.append({"level": level, "candidates": int(len(cand)), "valid": int(valid.sum())})
        new_scores = score(size, err, **sc)
        top, top_stats = _top_k(_pad(top, level), top_stats, cand,
                                np.column_stack([new_scores, size, err, sqe, done + np.arange(len(cand))]), k, sigma)
        done += len(cand)
        top_list = [tuple(int(i) for i in t if i >= 0) for t in top]
        # the next level's parents; their max error is bounded by their parents' (see module doc)
        slices = cand
        stats = np.column_stack([size, err, np.minimum(ub_stats[:, 2], max1[last]), sqe])
    return Lattice(top_list, top_stats, np.concatenate(evaluated), levels, feature_of, code_of, n, mean_error)


def _pad(top: np.ndarray, width: int) -> np.ndarray:
    """Top-k slices as rows of ``width`` item ids, -1 for unused positions."""
    out = np.full((len(top), width), -1, dtype=np.int64)
    out[:, :top.shape[1]] = top
    return out


def _top_k(top, top_stats, slices, slice_stats, k, sigma):
    """Merge evaluated slices into the top-k: score > 0 and size >= min support; ties broken by
    fewer predicates, then predicate ids."""
    ok = (slice_stats[:, 0] > 0) & (slice_stats[:, 1] >= sigma)
    width = max(top.shape[1], slices.shape[1])
    pool = np.concatenate([_pad(top, width), _pad(slices[ok], width)])
    pool_stats = np.concatenate([top_stats, slice_stats[ok]])
    if not len(pool):
        return pool, pool_stats
    n_predicates = (pool >= 0).sum(axis=1)
    keys = [pool[:, j] for j in reversed(range(width))] + [n_predicates, -pool_stats[:, 0]]
    order = np.lexsort(keys)[:k]
    return pool[order], pool_stats[order]


def _keys(slices: np.ndarray, n_items: int) -> np.ndarray:
    """One integer per slice (its sorted item ids in base n_items), for set lookups."""
    base = np.int64(n_items)
    key = np.zeros(len(slices), dtype=np.int64)
    for j in range(slices.shape[1]):
        key = key * base + slices[:, j]
    return key


def _candidates(slices, stats, feature_of, n_items):
    """Join slices sharing all but their last item into candidates one level up, keep those
    whose every parent is in ``slices``, and give each the minimum size, error and max error
    over its parents. Returns (candidates, left parent index, added item, parent bounds)."""
    width = slices.shape[1]
    if (width + 1) * np.log2(max(n_items, 2)) >= 62:
        raise ValueError(f"{width + 1} levels over {n_items} predicates exceed this implementation's "
                         "64-bit slice ids; lower max_level or bin features more coarsely")
    order = np.lexsort([slices[:, j] for j in reversed(range(width))])
    slices, stats = slices[order], stats[order]
    prefix = _keys(slices[:, :-1], n_items) if width > 1 else np.zeros(len(slices), np.int64)
    # pairs (i, j), i < j, within runs of equal prefix
    starts = np.flatnonzero(np.r_[True, prefix[1:] != prefix[:-1]])
    ends = np.r_[starts[1:], len(slices)]
    run_end = np.repeat(ends, ends - starts)
    count = run_end - np.arange(len(slices)) - 1
    i = np.repeat(np.arange(len(slices)), count)
    j = i + 1 + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    a, b = slices[i, -1], slices[j, -1]
    distinct = feature_of[a] != feature_of[b]
    i, j, b = i[distinct], j[distinct], b[distinct]
    cand = np.column_stack([slices[i], b])
    # every parent (drop one item) must be a surviving slice; bound stats over all parents
    keys = _keys(slices, n_items)
    bounds = np.full((len(cand), 3), np.inf)
    present = np.ones(len(cand), dtype=bool)
    for drop in range(width + 1):
        sub = np.delete(cand, drop, axis=1)
        pos = np.searchsorted(keys, _keys(sub, n_items))
        pos = np.minimum(pos, len(keys) - 1)
        found = keys[pos] == _keys(sub, n_items)
        present &= found
        bounds = np.minimum(bounds, np.where(found[:, None], stats[pos][:, :3], np.inf))
    # ``order[i]`` maps the sorted working set back to the caller's slice indices
    return cand[present], order[i[present]], b[present], bounds[present]


def _evaluate(columns, errors, sq, slices, parent, last, masks, n_items, feature_of):
    """Size, error sum and squared-error sum of each candidate ``slices[parent] + last``: for each
    distinct parent, one bincount over its rows per feature its candidates extend it with."""
    size = np.empty(len(parent))
    err = np.empty(len(parent))
    sqe = np.empty(len(parent)) if sq is not None else None
    order = np.argsort(parent, kind="stable")
    bounds = np.flatnonzero(np.r_[True, parent[order][1:] != parent[order][:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        group = order[s:e]
        mask = None
        for item in slices[parent[group[0]]]:
            if item not in masks:
                masks[item] = columns[feature_of[item]] == item
            mask = masks[item] if mask is None else mask & masks[item]
        rows = np.flatnonzero(mask)
        e_rows = errors[rows]
        sq_rows = sq[rows] if sq is not None else None
        wanted = last[group]
        for f in np.unique(feature_of[wanted]):
            pick = group[feature_of[wanted] == f]
            col = columns[f][rows]
            size[pick] = np.bincount(col, minlength=n_items)[last[pick]]
            err[pick] = np.bincount(col, e_rows, minlength=n_items)[last[pick]]
            if sq is not None:
                sqe[pick] = np.bincount(col, sq_rows, minlength=n_items)[last[pick]]
    return size, err, sqe if sq is not None else err
