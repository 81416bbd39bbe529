"""A comparison of two runs as the reader sees it: a plain verdict for each overall metric, the
slices in the order a reviewer reads them (regressions first, then the slices where the candidate
lost most), and a chart of each slice's paired difference with its interval.

Everything here reads a :class:`~workbench.analysis.compare.Comparison`; nothing is computed anew.
A verdict is "better" or "worse" only where the paired test rejects at 5% *and* the paired 95%
interval leaves out 0 (the two can disagree by a hair for McNemar's test beside Newcombe's
interval), so it raises a false alarm on at most 5% of comparisons of equally good models."""
from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl

from workbench.analysis.compare import FDR, HIGHER_IS_BETTER, Comparison
from workbench.render.charts import BAD, BAR_STEP, FAINT, LABEL_BAND, LABEL_MOST, METRIC_LABELS, NEUTRAL, OK, \
    OVERALL, _layout, _short
from workbench.render.explain_charts import plain

LEVEL = 0.05  # a verdict's test level: 95% intervals
NO_TEST = "no test possible"
UNCLEAR = "no clear difference"
# a slice's bar color: a regression, a slice where the candidate is clearly better, the rest
SLICE_COLORS = {"regression": BAD, "improvement": OK, "unclear": NEUTRAL, "untested": FAINT}


def higher_is_better(metric: str) -> bool | None:
    """Whether a higher value of ``metric`` is better (None where the metric has no direction)."""
    return HIGHER_IS_BETTER.get(metric)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def verdict(metric: str, delta: float | None, ci: tuple | list | None, p_value: float | None) -> str:
    """'better', 'worse' or 'no clear difference' for the candidate at 95% ('higher' or 'lower'
    for a metric with no better direction; 'no test possible' without a p-value)."""
    if _missing(delta) or _missing(p_value):
        return NO_TEST
    low, high = (None, None) if not ci else ci
    excludes_zero = not (_missing(low) or _missing(high)) and (low > 0 or high < 0)
    if p_value >= LEVEL or not excludes_zero or delta == 0:
        return UNCLEAR
    up = higher_is_better(metric)
    if up is None:
        return "higher" if delta > 0 else "lower"
    return "better" if (delta > 0) == up else "worse"


def overall_table(c: Comparison) -> pl.DataFrame:
    """One row per overall metric: its label, both runs' values, the difference, its interval,
    p-value, verdict and method, in the comparison's order (new metrics simply show up)."""
    rows = []
    for metric, e in c.overall.items():
        low, high = (e.get("ci") or [None, None])[:2]
        rows.append({"metric": METRIC_LABELS.get(metric, metric), "baseline": e.get("baseline"),
                     "candidate": e.get("candidate"), "delta": e.get("delta"), "ci_low": low, "ci_high": high,
                     "p_value": e.get("p_value"),
                     "verdict": verdict(metric, e.get("delta"), (low, high), e.get("p_value")),
                     "method": c.method.get(metric, "")})
    schema = {"metric": pl.String, "baseline": pl.Float64, "candidate": pl.Float64, "delta": pl.Float64,
              "ci_low": pl.Float64, "ci_high": pl.Float64, "p_value": pl.Float64, "verdict": pl.String,
              "method": pl.String}
    return pl.DataFrame(rows, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))


def _worse_by(c: Comparison) -> pl.Expr:
    """How much worse the candidate is on a slice (its delta, turned for a higher-is-better metric)."""
    return -pl.col("delta") if higher_is_better(c.metric) else pl.col("delta")


def ranked(c: Comparison) -> pl.DataFrame:
    """The comparison's slices, regressions first, then by how much the candidate got worse; with
    ``outcome`` (regression, improvement, unclear, untested), the key of :data:`SLICE_COLORS`."""
    t = c.slices
    better = (pl.col("delta") > 0) if higher_is_better(c.metric) else (pl.col("delta") < 0)
    outcome = (pl.when(pl.col("regression")).then(pl.lit("regression"))
               .when(pl.col("q_value").is_null()).then(pl.lit("untested"))
               .when((pl.col("q_value") < FDR) & better).then(pl.lit("improvement"))
               .otherwise(pl.lit("unclear")))
    return (t.with_columns(outcome=outcome, _worse=_worse_by(c))
            .sort(["regression", "_worse"], descending=[True, True], nulls_last=True, maintain_order=True)
            .drop("_worse"))


def slice_label(row: dict) -> str:
    """'column = value' (each filter of a found slice, joined by 'and'), with the slice's source
    where the comparison names one other than a column's ('saved', 'found')."""
    filters = row.get("filters")
    if filters and filters.get("column"):
        label = " and ".join(f"{c} = {v}" for c, v in zip(filters["column"], filters["value"]))
    else:
        column, value = row.get("column"), row.get("value")
        label = f"{column} = {value}" if column not in (None, "") else str(value)
    source = row.get("source")
    return label if source in (None, "", "column") else f"{label} ({source})"


def _labels(t: pl.DataFrame) -> list[str]:
    """One label a row, made unique (a repeated label would put two slices on one bar)."""
    out, seen = [], {}
    for r in t.iter_rows(named=True):
        label = slice_label(r)
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def delta_chart(c: Comparison, *, max_slices: int = 40) -> go.Figure:
    """Horizontal bars of each slice's difference (candidate - baseline) in the order of
    :func:`ranked` (its first row on top), with paired 95% interval whiskers; regressions in red,
    slices where the candidate is clearly better in green, the rest grey (faint where no test was
    possible); a line at 0. Each bar's ``customdata`` is its row index in :func:`ranked`."""
    t = ranked(c).head(max_slices)
    labels = [plain(x) for x in _labels(t)]
    ticks = [plain(_short(x, LABEL_MOST)) for x in _labels(t)]
    name = METRIC_LABELS.get(c.metric, c.metric)
    delta = t["delta"].fill_null(0.0)
    low, high = t["ci_low"].fill_null(delta), t["ci_high"].fill_null(delta)
    fig = go.Figure(go.Bar(
        y=labels, x=delta, orientation="h", marker_color=[SLICE_COLORS[o] for o in t["outcome"]],
        customdata=list(range(t.height)),
        error_x=dict(type="data", symmetric=False, array=(high - delta).clip(0), arrayminus=(delta - low).clip(0),
                     color="#334155"),
        hovertext=[f"{o} · {n:,} rows<br>{name}: {_num(b)} → {_num(a)}<br>q {_num(q, '.2g')}"
                   for o, n, b, a, q in zip(t["outcome"], t["n"], t["baseline"], t["candidate"], t["q_value"])],
        hovertemplate="%{y}<br>difference %{x:+.4g}<br>%{hovertext}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color=OVERALL, dash="dash"))
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=labels,
                     tickmode="array", tickvals=labels, ticktext=ticks)
    shown = f" (first {max_slices} of {c.slices.height})" if c.slices.height > max_slices else ""
    up = higher_is_better(c.metric)
    worse = "higher" if up is False else "lower" if up else "different"
    subtitle = (f"candidate − baseline; {worse} is worse · whiskers: paired 95% CI",
                f"red: regression (q < {FDR:g}, candidate worse) · green: clearly better",
                "grey: no clear difference · faint: no test possible")
    height = max(300, 166 + BAR_STEP * t.height)
    fig = _layout(fig, f"Change in {name} by slice{shown}", f"difference in {name}", "slice",
                  subtitle=subtitle, band=LABEL_BAND, height=height)
    return fig.update_layout(showlegend=False, margin_r=24)


def _num(x, fmt: str = ".4g") -> str:
    return "–" if _missing(x) else f"{x:{fmt}}"
