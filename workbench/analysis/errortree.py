"""The error tree: a shallow decision tree fit on each holdout row's error, as in Microsoft's
Error Analysis dashboard. Every node is a slice (the path of predicates from the root) with its
size, mean error and 95% interval, and a SQL ``WHERE`` that selects its rows.

The tree is fit on a seeded sample of at most 200,000 rows (a 1M-row fit takes 14 s on two
cores); node sizes and errors are then counted on every row through each node's ``WHERE``.
Numbers split as they are, booleans as 0/1; a text column is ordered by its values' mean error,
so a split ``<= t`` groups the worst values together and reads as ``carrier in {EV, FL, ...}``.
Missing values (NULL, NaN in a float column, and text values beyond the 200 most frequent) follow
the side scikit-learn sends them to, in the ``WHERE`` as in the fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl
from sklearn.tree import DecisionTreeRegressor

from workbench import stats
from workbench.analysis.binning import missing_sql
from workbench.analysis.rowerror import ErrorKind, error_sql
from workbench.engine import is_float_type, limits, quote, sql_literal
from workbench.errors import WorkbenchError
from workbench.store.runs import Run

MAX_VALUES = 200  # text columns keep their most frequent values; the rest become missing
FIT_ROWS = 200_000  # the tree is fit on a seeded sample of this many rows; node stats use all rows


@dataclass(frozen=True)
class ErrorTree:
    """The tree's ``nodes``, root first (depth-first): id, parent, depth, predicate (the path),
    where, leaf, n, error, ci_low, ci_high (Wilson for misclassification, t for loss)."""

    run_id: str
    error: str
    params: dict
    nodes: pl.DataFrame

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "error": self.error, "params": self.params,
                "nodes": self.nodes.to_dicts()}


def error_tree(run: Run, *, error: ErrorKind = "loss", max_depth: int = 3,
               min_rows: int = 32, columns: list[str] | None = None, seed: int = 0) -> ErrorTree:
    """A shallow decision tree on each holdout row's error; every node a slice."""
    err_sql = error_sql(run, error)
    if max_depth < 1 or min_rows < 1:
        raise WorkbenchError("max_depth and min_rows must be at least 1.")
    con = run.workspace.cursor()
    src = f"read_parquet({sql_literal(str(run.predictions))})"
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    columns = columns or [c for c in run.record.features if c in schema]
    with limits(con):
        frame = con.sql(f"SELECT {', '.join(quote(c) for c in columns)}, ({err_sql})::DOUBLE AS _e FROM {src}").pl()
    e = frame["_e"].to_numpy()
    X, orders = [], {}
    for c in columns:
        s = frame[c]
        if s.dtype.is_numeric() or s.dtype == pl.Boolean:
            X.append(s.cast(pl.Float64).to_numpy())
        elif s.dtype.is_temporal():
            X.append(s.dt.epoch("s").cast(pl.Float64).to_numpy())
        else:  # text: values ordered by mean error; code = rank in that order
            means = (pl.DataFrame({"v": s.cast(pl.String), "e": e}).drop_nulls("v").group_by("v")
                     .agg(pl.col("e").mean(), pl.len().alias("n")).sort("n", descending=True).head(MAX_VALUES)
                     .sort("e", "v"))
            orders[c] = means["v"].to_list()
            X.append(s.cast(pl.String).replace_strict(orders[c], list(range(len(orders[c]))), default=None,
                                                      return_dtype=pl.Float64).to_numpy())
    X = np.column_stack(X) if X else np.empty((len(e), 0))
    has_null = {c: bool(np.isnan(X[:, j]).any()) for j, c in enumerate(columns)}
    fit = np.arange(len(e))
    if len(e) > FIT_ROWS:
        fit = np.random.default_rng(seed).choice(len(e), FIT_ROWS, replace=False)
    tree = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_rows, random_state=seed)
    tree = tree.fit(X[fit], e[fit]).tree_
    nodes, stack = [], [(0, -1, 0, [], [])]
    while stack:
        node, parent, depth, text, sql = stack.pop()
        nodes.append({"id": node, "parent": parent, "depth": depth,
                      "predicate": " and ".join(text) or "all rows", "where": " AND ".join(sql) or "TRUE",
                      "leaf": bool(tree.children_left[node] == -1)})
        if tree.children_left[node] != -1:
            c = columns[tree.feature[node]]
            t = float(tree.threshold[node])
            missing = None if not has_null[c] else bool(tree.missing_go_to_left[node])
            left_text, right_text, left_sql, right_sql = _split(c, t, orders.get(c), schema[c], missing)
            stack.append((tree.children_right[node], node, depth + 1, text + [right_text], sql + [right_sql]))
            stack.append((tree.children_left[node], node, depth + 1, text + [left_text], sql + [left_sql]))
    table = pl.DataFrame(nodes)
    # sizes and errors by the WHERE clauses themselves, so they match what a user's query returns
    with limits(con):
        sums = con.sql("SELECT " + ", ".join(
            f"count(*) FILTER (WHERE {w}), avg({err_sql}) FILTER (WHERE {w}), "
            f"stddev_samp({err_sql}) FILTER (WHERE {w})" for w in table["where"]) + f" FROM {src}").fetchall()[0]
    n = np.array(sums[0::3], float)
    mean = np.array([np.nan if v is None else v for v in sums[1::3]], float)
    sd = np.array([np.nan if v is None else v for v in sums[2::3]], float)
    if error == "misclassification":
        lo, hi = stats.wilson_interval(mean * n, n)
    else:
        lo, hi = stats.mean_interval(mean, sd, n, bounds="positive")  # losses are >= 0
    nodes = table.with_columns(n=pl.Series(n.astype(np.int64)), error=pl.Series(mean), ci_low=pl.Series(lo),
                               ci_high=pl.Series(hi)).with_columns(pl.col(pl.Float64).fill_nan(None))
    params = {"max_depth": max_depth, "min_rows": min_rows, "columns": columns, "seed": seed}
    return ErrorTree(run.run_id, error, params, nodes)


def _missing_sql(column: str, order: list[str] | None, dtype: str) -> str:
    """The rows the tree saw as missing: NULL, NaN in a float column, and in a text column any value
    beyond the ``MAX_VALUES`` it coded (they were fit as missing too)."""
    if order is not None:
        q, known = quote(column), ", ".join(sql_literal(v) for v in order) or "NULL"
        return f"({q} IS NULL OR CAST({q} AS VARCHAR) NOT IN ({known}))"
    return missing_sql(column, nan=is_float_type(dtype))


def _split(column: str, threshold: float, order: list[str] | None, dtype: str, missing_left: bool | None):
    """Readable and SQL predicates for the two sides of one split, routing every row as the tree
    does; ``missing_left`` is None when the column had no missing values."""
    q = quote(column)
    missing = _missing_sql(column, order, dtype)
    if not np.isfinite(threshold):  # scikit-learn's split of missing values from all the others
        return (f"{column} is not missing", f"{column} is missing", f"(NOT {missing})", f"({missing})")
    if order is not None:  # text, coded by rank in ``order``
        left = order[: int(np.floor(threshold)) + 1]
        right = order[int(np.floor(threshold)) + 1:]
        listed = lambda vs: ", ".join(sql_literal(v) for v in vs)  # noqa: E731
        shown = lambda vs: "{" + ", ".join(vs[:6]) + (", …" if len(vs) > 6 else "") + "}"  # noqa: E731
        left_sql = f"CAST({q} AS VARCHAR) IN ({listed(left)})"
        right_sql = f"CAST({q} AS VARCHAR) IN ({listed(right)})" if right else "FALSE"
        left_text, right_text = f"{column} in {shown(left)}", f"{column} in {shown(right) if right else '{other}'}"
    else:
        temporal = dtype.upper().startswith(("TIMESTAMP", "DATE"))
        # times were split as seconds since 1970; say and compare them as times (no time zone);
        # booleans were split as 0/1
        value = f"make_timestamp({int(threshold * 1_000_000)})" if temporal else repr(threshold)
        shown_t = (datetime.fromtimestamp(threshold, timezone.utc).strftime("%Y-%m-%d %H:%M").removesuffix(" 00:00")
                   if temporal else f"{threshold:.4g}")
        v = f"CAST({q} AS DOUBLE)" if dtype.upper() == "BOOLEAN" else q
        left_sql, right_sql = f"{v} <= {value} AND NOT {missing}", f"{v} > {value} AND NOT {missing}"
        left_text, right_text = f"{column} ≤ {shown_t}", f"{column} > {shown_t}"
    if missing_left:
        left_sql, left_text = f"{left_sql} OR {missing}", left_text + " (or missing)"
    elif missing_left is False:
        right_sql, right_text = f"{right_sql} OR {missing}", right_text + " (or missing)"
    return left_text, right_text, f"({left_sql})", f"({right_sql})"
