"""A release gate: rules a run must meet before it ships, each checked and explained.

A CI job runs ``python -m workbench gate RUN --rule EXPR ...`` and reads the verdicts. Each rule
is ``TARGET OP NUMBER [OPTION=VALUE ...]`` (``GRAMMAR``), parsed by :mod:`workbench.analysis.gate_rules`'s small tokenizer, never
``eval``. Targets:

- ``roc_auc>=0.85``: a holdout metric of the run's model (``model=NAME`` for another of the
  run's models); ``roc_auc.low`` / ``roc_auc.high`` compare the bound of its 95% interval.
- ``worst_slice(carrier,origin).error_rate<=0.3 min_size=200``: over the slices of each column
  (:func:`workbench.analysis.slices.breakdown`, one column at a time), the slice that most
  threatens the rule on the quantity compared: the largest for ``<``/``<=``, the smallest for
  ``>``/``>=`` (for ``==``/``!=``, the worst by the metric's direction). The rule holds when that
  slice meets it, so every slice does. On a bound, each slice's interval is widened to a
  Bonferroni simultaneous one over the slices compared (``SIMULTANEOUS``), kept inside the
  metric's range: the worst of many 95% bounds would cross by chance far more often than 2.5%.
- ``parity(sex).fpr_difference<=0.05``: a measure of :func:`workbench.analysis.parity.parity`
  (``demographic_parity``, ``equal_opportunity``, ``equalized_odds``) or of one rate
  (``selection_rate``, ``tpr``, ``fpr``, ``fnr``, ``precision``), as ``_difference`` (max - min
  over groups) or ``_ratio`` (min / max), with a stratified bootstrap interval; over several
  columns the worst column counts (on a bound, of intervals simultaneous over the columns).
- ``regressions==0`` (needs a baseline): how many of the overall metrics of
  :func:`workbench.analysis.compare.compare` and the slices of its ``by=`` columns are
  significantly worse in the run than in the baseline: candidate worse and Benjamini-Hochberg
  q < ``FDR`` over all of them together, so that on two equally good models the count is above 0
  in no more than about 5% of gates.
- ``delta(roc_auc).low>=-0.01`` (needs a baseline): the overall paired difference run - baseline
  of one metric, or a bound of its paired 95% interval.

A verdict whose value cannot be computed (an AUC of one class, no slice big enough) fails: a gate
fails closed. A rule on a bound of the interval is how a verdict holds under the null: a point
value crosses a threshold by chance alone, a lower bound above it only rarely.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import polars as pl

from workbench import stats
from workbench.analysis import compare as cmp
from workbench.analysis import parity as par
from workbench.analysis.slices import breakdown
from workbench.errors import WorkbenchError
from workbench.stats import rates
from workbench.stats.intervals import bonferroni_scale
from workbench.analysis.gate_rules import (BOUNDS, COMPARATORS, GRAMMAR, NEEDS_BASELINE, PARITY_MEASURES,  # noqa: F401
                                         Rule, parse_rule)
from workbench.analysis.thresholds import THRESHOLD_METRICS
from workbench.store.runs import Run

FDR = cmp.FDR


@dataclass(frozen=True)
class Verdict:
    """One rule's verdict: the ``value`` compared (None where it cannot be computed: the rule
    fails), the 95% interval ``ci`` it comes with, ``on`` (what it was computed on: the model,
    the worst slice, the column, the regressions found), ``method`` and ``passed``."""

    rule: Rule
    value: float | None
    ci: tuple[float | None, float | None] | None
    on: str
    method: str
    passed: bool
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else ("no value" if self.value is None else "fail")

    def to_dict(self) -> dict:
        r = self.rule
        return {"rule": r.text, "kind": r.kind, "quantity": r.quantity, "bound": r.bound, "op": r.op,
                "threshold": r.threshold, "options": dict(r.options, **({"by": list(r.columns)} if r.kind ==
                                                                        "regressions" else {})),
                "value": self.value, "ci": list(self.ci) if self.ci else None, "passed": self.passed,
                "verdict": self.verdict, "on": self.on, "method": self.method, "seconds": self.seconds,
                "details": self.details}


@dataclass(frozen=True)
class Gate:
    """Every rule's verdict for ``run_id`` (against ``baseline`` where given); ``passed`` when all hold."""

    run_id: str
    baseline: str | None
    verdicts: tuple[Verdict, ...]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def failed(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if not v.passed)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "baseline": self.baseline, "passed": self.passed,
                "n_rules": len(self.verdicts), "n_failed": len(self.failed), "fdr": FDR,
                "rules": [v.to_dict() for v in self.verdicts]}


def _num(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _verdict(rule: Rule, value: Any, ci: Any, on: str, method: str, **details) -> Verdict:
    """Compare ``value`` (or the rule's bound of ``ci``) with the rule's threshold."""
    ci = (_num(ci[0]), _num(ci[1])) if ci is not None else None
    if rule.bound is not None:
        value = ci[BOUNDS[rule.bound]] if ci else None
    value = _num(value)
    passed = value is not None and bool(COMPARATORS[rule.op](value, rule.threshold))
    return Verdict(rule, value, ci, on, method, passed, details=details)


class _Evaluator:
    """Evaluates rules on one run, computing each breakdown, parity and comparison once."""

    def __init__(self, run: Run, baseline: Run | None):
        self.run, self.baseline, self.cache = run, baseline, {}

    def once(self, key: tuple, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def metric(self, rule: Rule) -> Verdict:
        metrics = self.run.record.metrics
        model = rule.options.get("model") or ("imported" if "imported" in metrics else "lightgbm")
        if model not in metrics:
            raise WorkbenchError(f"Rule {rule.text!r}: run {self.run.run_id} has no model {model!r}; "
                                 f"models: {', '.join(metrics)}.")
        m = metrics[model]
        names = [k for k in m if not k.endswith("_ci")]
        if rule.metric not in names:
            raise WorkbenchError(f"Rule {rule.text!r}: unknown metric {rule.metric!r} for run {self.run.run_id}; "
                                 f"metrics: {', '.join(names)}.")
        return _verdict(rule, m[rule.metric], m.get(f"{rule.metric}_ci"), f"model {model}, "
                        f"{self.run.record.split.n_holdout:,} holdout rows",
                        "the holdout metric and its 95% interval as the run recorded them (workbench.stats.metrics)")

    def worst_slice(self, rule: Rule) -> Verdict:
        t = rule.options.get("threshold", 0.5)
        tables = [self.once(("slices", c, rule.metric, rule.options.get("bins", 5), rule.options.get("min_size", 1), t),
                            lambda c=c: breakdown(self.run, [c], metric=rule.metric, bins=rule.options.get("bins", 5),
                                                  min_size=rule.options.get("min_size", 1), threshold=t))
                  for c in rule.columns]
        quantity = {None: "value", "low": "ci_low", "high": "ci_high"}[rule.bound]
        higher = tables[0].higher_is_better
        if higher is None:
            if rule.op in ("==", "!="):
                raise WorkbenchError(f"Rule {rule.text!r}: {rule.metric} has no better direction, so the worst "
                                     f"slice is the one the comparison cares about; use <, <=, > or >=.")
            higher = rule.op in (">", ">=")
        rows = [(r[quantity], c, r) for c, st in zip(rule.columns, tables) for r in st.slices.iter_rows(named=True)
                if r[quantity] is not None and math.isfinite(r[quantity])]
        method = tables[0].method
        if not rows:
            return _verdict(rule, None, None, f"no slice of {', '.join(rule.columns)} with a value "
                            f"(min_size {rule.options.get('min_size', 1)})", method)
        k = len(rows)
        if rule.bound:  # simultaneous intervals: the worst of k bounds must not cross by chance alone
            rows = [(_widen(r["value"], (r["ci_low"], r["ci_high"]), k, rule.metric)[BOUNDS[rule.bound]], c, r)
                    for _, c, r in rows]
            method += SIMULTANEOUS.format(k=k)
        # the slice that most threatens the rule: the smallest for > and >=, the largest for < and <=
        # (for == and != the worst by the metric's direction)
        lowest = rule.op in (">", ">=") if rule.op not in ("==", "!=") else higher
        _, col, worst = (min if lowest else max)(rows, key=lambda x: x[0])
        on = f"worst of {k} slices: {col} = {worst[col]} ({worst['n']:,} rows)"
        ci = (worst["ci_low"], worst["ci_high"])
        return _verdict(rule, worst["value"], _widen(worst["value"], ci, k, rule.metric) if rule.bound else ci, on,
                        method, column=col, slice=worst[col], where=worst["where"], n=worst["n"], slices=k,
                        ci_95=[worst["ci_low"], worst["ci_high"]])

    def parity(self, rule: Rule) -> Verdict:
        t, bins = rule.options.get("threshold", 0.5), rule.options.get("bins", 5)
        p = self.once(("parity", rule.columns, t, bins), lambda: par.parity(self.run, rule.columns, threshold=t,
                                                                            bins=bins))
        name, stat = rule.metric.rsplit("_", 1)
        results = []
        for i, col in enumerate(rule.columns):
            if name in par.MEASURES:
                m = p.measures.filter((pl.col("column") == col) & (pl.col("measure") == name)).row(0, named=True)
                results.append((col, m[stat], (m[f"{stat}_low"], m[f"{stat}_high"])))
            else:
                results.append((col, *_rate_gap(p, col, name, stat, seed=p.seed + i)))
        quantity = {None: 1, "low": 2, "high": 3}[rule.bound]
        keyed = [(r[1] if quantity == 1 else r[2][quantity - 2], r) for r in results]
        keyed = [k for k in keyed if k[0] is not None and math.isfinite(k[0])]
        if not keyed:
            return _verdict(rule, None, None, f"{', '.join(rule.columns)}: fewer than two groups with a value",
                            p.method)
        k, method = len(keyed), p.method
        if rule.bound and k > 1:  # as worst_slice: simultaneous over the columns
            keyed = [(_widen(r[1], r[2], k, rule.metric)[BOUNDS[rule.bound]], r) for _, r in keyed]
            method += SIMULTANEOUS.format(k=k).replace("slices", "columns")
        _, (col, value, ci) = (max if stat == "difference" else min)(keyed, key=lambda k: k[0])
        groups = p.groups.filter(pl.col("column") == col)["group"].unique(maintain_order=True).to_list()
        on = f"{col} ({len(groups)} groups: {', '.join(map(str, groups[:6]))}{'...' if len(groups) > 6 else ''})"
        return _verdict(rule, value, _widen(value, ci, k, rule.metric) if rule.bound else ci, on, method, column=col,
                        ci_95=list(ci))

    def comparison(self, rule: Rule, by: tuple[str, ...]) -> cmp.Comparison:
        if self.baseline is None:
            raise WorkbenchError(NEEDS_BASELINE.format(rule=rule.text))
        bins, min_size = rule.options.get("bins", 5), rule.options.get("min_size", 1)
        return self.once(("compare", by, bins, min_size),
                         lambda: cmp.compare(self.baseline, self.run, by=by, bins=bins, min_size=min_size,
                                             saved=False, find=False))

    def delta(self, rule: Rule) -> Verdict:
        c = self.comparison(rule, ())
        if rule.metric not in c.overall:
            raise WorkbenchError(f"Rule {rule.text!r}: no paired difference of {rule.metric!r} for a {c.task} run; "
                                 f"metrics: {', '.join(c.overall)}.")
        o = c.overall[rule.metric]
        return _verdict(rule, o["delta"], o["ci"], f"{c.n:,} rows both runs scored; delta = {c.candidate} - "
                        f"{c.baseline} (p {o['p_value']:.3g})", c.method[rule.metric])

    def regressions(self, rule: Rule) -> Verdict:
        c = self.comparison(rule, rule.columns)
        found = regressions(c)
        tested = len(c.overall) + int(c.slices["p_value"].is_not_null().sum())
        on = (f"{tested} tests ({len(c.overall)} overall metrics"
              f"{', slices of ' + ', '.join(c.by) if c.by else ''}) against baseline {c.baseline}"
              + (": " + "; ".join(f"{f['what']} (delta {f['delta']:+.4g}, q {f['q_value']:.3g})" for f in found)
                 if found else ""))
        method = (f"candidate worse and Benjamini-Hochberg q < {FDR:g} over the overall metrics and the slices "
                  f"together; " + "; ".join(f"{m}: {how}" for m, how in c.method.items()))
        return _verdict(rule, float(len(found)), None, on, method, regressions=found, tested=tested)


def regressions(c: cmp.Comparison) -> list[dict]:
    """The overall metrics and slices of ``c`` where the candidate is worse with q < ``FDR``,
    Benjamini-Hochberg over all of them together (one family, so that a gate on two equally good
    models finds any regression in no more than about ``FDR`` of cases)."""
    items = [{"what": f"overall {m}", "metric": m, "delta": o["delta"], "p_value": o["p_value"],
              "worse": (o["delta"] < 0) if cmp.HIGHER_IS_BETTER[m] else (o["delta"] > 0)}
             for m, o in c.overall.items()]
    items += [{"what": f"{r['column']} = {r['value']}", "metric": c.metric, "where": r["where"], "n": r["n"],
               "delta": r["delta"], "p_value": r["p_value"],
               "worse": (r["delta"] < 0) if cmp.HIGHER_IS_BETTER[c.metric] else (r["delta"] > 0)}
              for r in c.slices.iter_rows(named=True) if r["p_value"] is not None and math.isfinite(r["p_value"])]
    items = [i for i in items if i["p_value"] is not None and math.isfinite(i["p_value"])]
    if not items:
        return []
    q = stats.bh_qvalues(np.array([i["p_value"] for i in items]))
    return [{**i, "q_value": float(qi)} for i, qi in zip(items, q) if i["worse"] and qi < FDR]


SIMULTANEOUS = (". Bound: of a Bonferroni simultaneous 95% interval over the {k} slices compared, each 95% "
                "interval's reach on either side of the value widened by z(1 - 0.025/{k}) / z(0.975) (exact for a normal "
                "interval, close for Wilson, t and bootstrap ones), so that a bound crosses the threshold by chance in "
                "no more than about 2.5% of gates")


# the range each quantity lives in, which a widened interval must not leave: shares and AUCs in
# [0, 1], losses and errors at or above 0, a regression's bias anywhere
UNIT = {"error_rate", "accuracy", "brier", "roc_auc", "positive_rate", "mean_score", "ece", *THRESHOLD_METRICS}
NON_NEGATIVE = {"log_loss", "rmse", "mae"}


def _range(metric: str) -> tuple[float, float]:
    if metric in UNIT or metric.endswith(("_difference", "_ratio")):  # parity's gaps of rates in [0, 1]
        return 0.0, 1.0
    return (0.0, math.inf) if metric in NON_NEGATIVE else (-math.inf, math.inf)


def _widen(value: Any, ci: Any, k: int, metric: str = "") -> tuple[float | None, float | None]:
    """The 95% interval ``ci`` around ``value`` widened to a Bonferroni simultaneous one over ``k``
    (each side's reach scaled by the ratio of the normal quantiles), kept inside ``metric``'s range."""
    low, high, value = _num(ci[0]), _num(ci[1]), _num(value)
    if k <= 1 or value is None:
        return low, high
    scale = bonferroni_scale(k)
    lo, hi = _range(metric)
    return (None if low is None else max(lo, value - scale * (value - low)),
            None if high is None else min(hi, value + scale * (high - value)))


def _rate_gap(p: par.Parity, col: str, rate: str, stat: str, *, seed: int,
              resamples: int = rates.RESAMPLES) -> tuple[float | None, tuple]:
    """One rate's difference (max - min) or ratio (min / max) over ``col``'s groups, with a percentile
    bootstrap interval stratified by group, as parity's measures have (their confusion cells rebuilt
    from the groups' TPR and FPR counts)."""
    g = p.groups.filter(pl.col("column") == col)
    tpr, fpr = g.filter(pl.col("rate") == "tpr"), g.filter(pl.col("rate") == "fpr")
    tp, fp = tpr["k"].to_numpy(), fpr["k"].to_numpy()
    cells = np.column_stack([tp, fp, tpr["of"].to_numpy() - tp, fpr["of"].to_numpy() - fp])
    i = 0 if stat == "difference" else 1

    def gap(c):
        k, n = rates.rate_counts(c, rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            return rates.gap_and_ratio(np.where(n > 0, k / n, np.nan))[i]
    value = gap(cells)
    if not np.isfinite(value):
        return None, (None, None)
    draws = gap(rates.bootstrap_cells(cells, resamples=resamples, seed=seed))
    return float(value), tuple(stats.percentile_interval(draws[np.isfinite(draws)]))


def gate(run: Run, rules: Sequence[str | Rule], *, baseline: Run | None = None) -> Gate:
    """Check ``rules`` (texts in the ``GRAMMAR``, or parsed :class:`Rule`) on ``run``, against
    ``baseline`` for ``regressions`` and ``delta`` rules. Every rule is parsed before any is
    computed, so a bad one costs nothing.

    >>> g = gate(run, ["roc_auc.low>=0.8", "worst_slice(carrier).error_rate<=0.3 min_size=200"])  # doctest: +SKIP
    >>> g.passed                                                                                    # doctest: +SKIP
    """
    parsed = [r if isinstance(r, Rule) else parse_rule(r) for r in rules]
    if not parsed:
        raise WorkbenchError("Give at least one rule, e.g. --rule 'roc_auc.low>=0.8'. " + GRAMMAR)
    if baseline is None:
        for r in parsed:
            if r.kind in ("regressions", "delta"):
                raise WorkbenchError(NEEDS_BASELINE.format(rule=r.text))
    ev = _Evaluator(run, baseline)
    verdicts = []
    for r in parsed:
        clock = time.perf_counter()
        v = getattr(ev, r.kind)(r)
        verdicts.append(Verdict(v.rule, v.value, v.ci, v.on, v.method, v.passed, time.perf_counter() - clock,
                                v.details))
    return Gate(run.run_id, baseline.run_id if baseline else None, tuple(verdicts))
