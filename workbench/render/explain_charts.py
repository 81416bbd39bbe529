"""Plotly figures of SHAP explanations: importance with intervals, a beeswarm summary, dependence,
a slice's SHAP against the rest's and its feature distributions, one row's waterfall and a
what-if's contributions before and after.

Built from the result objects of ``workbench.analysis.explain`` and ``workbench.model.whatif``;
laid out as the other charts are (``charts._layout``: title and subtitle at the top, legend at
the bottom, margins pushed by the labels). Feature names and values come from the data, so every
one of them is escaped before plotly sees it (:func:`plain`): a category named ``<b>x</b>`` or
``<a href=…>`` is shown as written, never as markup or a link; and no data text is ever put into
a ``hovertemplate``, where ``%{…}`` would be read as a reference."""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from workbench.analysis.explain import SHAP_PREFIX, Importance, SliceContrast
from workbench.model.whatif import RowExplanation, RowPrediction
from workbench.render.charts import MUTED, NEUTRAL, OVERALL, _layout, _short
from workbench.render.safe import html_text

UP, DOWN = "#dc2626", "#2563eb"   # a contribution that raises the score, one that lowers it
INSIDE, OUTSIDE = "#dc2626", "#64748b"
BEFORE, AFTER = "#94a3b8", "#2563eb"
BAR = "#93c5fd"  # importance bars, light so that the dark whiskers read on them
VALUE_SCALE = [[0, "#2563eb"], [0.5, "#c4b5fd"], [1, "#dc2626"]]  # low to high feature value
LABEL_MOST = 32   # characters of a label shown on an axis (the whole label is in the hover)
BAR_STEP = 22     # px per bar of a horizontal bar chart
POINTS_MOST = 3000  # rows drawn per feature in a beeswarm or dependence plot (a random sample)
CATEGORIES_MOST = 8  # values of a categorical shown by name; the rest are 'other'
MISSING = "(missing)"


def plain(text: Any) -> str:
    """``text`` as plotly shows it literally (see :func:`workbench.render.safe.html_text`)."""
    return html_text(text)


def _label(text: Any, most: int = LABEL_MOST) -> str:
    return plain(_short(str(text), most))


def _value_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _hbar_layout(fig: go.Figure, labels: list[str], title: str, x: str, y: str, subtitle: tuple[str, ...]) -> go.Figure:
    """A horizontal bar chart's category axis, first label on top, and its height for the bars."""
    fig.update_yaxes(type="category", autorange="reversed", categoryorder="array", categoryarray=labels)
    height = max(300, 150 + BAR_STEP * len(labels))
    return _layout(fig, title, x, y, subtitle=subtitle, height=height)


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique (two features cut to the same short label would share a bar)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def _of_class(cls: Any) -> str:
    return "" if cls is None else f" · class {plain(cls)}"


# ---- the whole holdout ----------------------------------------------------------------------


def importance_chart(imp: Importance, *, top: int = 20) -> go.Figure:
    """Mean |SHAP| per feature, most important on top, with 95% bootstrap whiskers."""
    t = imp.table.head(top)
    labels = _unique([_label(f) for f in t["feature"]])
    value = t["mean_abs_shap"]
    fig = go.Figure(go.Bar(
        y=labels, x=value, orientation="h", marker_color=BAR,
        error_x=dict(type="data", symmetric=False, array=(t["ci_high"].fill_null(value) - value).fill_null(0),
                     arrayminus=(value - t["ci_low"].fill_null(value)).fill_null(0), color=OVERALL),
        hovertext=[f"{plain(f)}<br>mean |SHAP| {v:.4g} [{lo:.4g}, {hi:.4g}]"
                   for f, v, lo, hi in zip(t["feature"], value, t["ci_low"].fill_null(np.nan),
                                           t["ci_high"].fill_null(np.nan))],
        hoverinfo="text"))
    every = imp.task == "multiclass" and imp.cls is None
    shown = f" (top {top} of {imp.table.height})" if imp.table.height > top else ""
    subtitle = (f"{imp.rows_explained:,} of {imp.holdout_rows:,} holdout rows{_of_class(imp.cls)}"
                + (" · summed over classes" if every else ""), "whiskers: 95% bootstrap CI")
    return _hbar_layout(fig, labels, f"Mean |SHAP| per feature{shown}", "mean |SHAP| (raw score)", "", subtitle)


def _numeric(series: pl.Series) -> bool:
    return series.dtype.is_numeric() or series.dtype == pl.Boolean or series.dtype.is_temporal()


def _as_float(series: pl.Series) -> np.ndarray:
    """Numbers, booleans and times as floats (times as epoch microseconds), missing as NaN."""
    if series.dtype.is_temporal():
        series = series.dt.epoch("us")
    return series.cast(pl.Float64).fill_nan(None).to_numpy().astype(float)


def _color_scale(series: pl.Series) -> np.ndarray:
    """Each value's rank among the feature's values, 0 (lowest) to 1 (highest); NaN if missing."""
    values = _as_float(series)
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    if ok.sum() > 1:
        ranks = pl.Series(values[ok]).rank("average").to_numpy()
        out[ok] = (ranks - 1) / (ok.sum() - 1)
    elif ok.any():
        out[ok] = 0.5
    return out


def _swarm(shap: np.ndarray, width: float = 0.38, bins: int = 80) -> np.ndarray:
    """Vertical offsets that stack points of about the same SHAP value side by side, as a
    beeswarm does: each point's place within its bin, alternating up and down."""
    if not len(shap):
        return np.zeros(0)
    lo, hi = float(shap.min()), float(shap.max())
    cells = np.floor((shap - lo) / ((hi - lo) / bins or 1.0)).astype(int)
    order = np.lexsort((np.arange(len(shap)), cells))
    place = np.empty(len(shap), int)
    starts = np.r_[0, np.flatnonzero(np.diff(cells[order])) + 1]
    counts = np.diff(np.r_[starts, len(shap)])
    place[order] = np.arange(len(shap)) - np.repeat(starts, counts)
    most = max(int(counts.max()), 1)
    step = width / max(most / 2, 1)
    return np.where(place % 2 == 0, 1, -1) * ((place + 1) // 2) * step


def beeswarm_chart(imp: Importance, *, top: int = 10, points: int = POINTS_MOST) -> go.Figure:
    """The top features' SHAP values, one dot per explained row, coloured by the feature's value
    (its rank: blue low, red high; grey for categories and missing values)."""
    features = imp.table["feature"].head(top).to_list()
    sample = imp.sample.head(points)
    labels = _unique([_label(f) for f in features])
    fig = go.Figure()
    for i, (feature, label) in enumerate(zip(features, labels)):
        shap = sample[f"{SHAP_PREFIX}{feature}"].to_numpy().astype(float)
        y = i + _swarm(shap)
        values = sample[feature]
        numeric = _numeric(values)
        color = _color_scale(values) if numeric else np.full(len(shap), np.nan)
        hover = [f"{plain(feature)} = {plain(_value_text(v))}<br>SHAP {s:+.4g}" for v, s in zip(values.to_list(), shap)]
        known = ~np.isnan(color)
        if known.any():
            scale = dict(title=dict(text="value", side="right"), thickness=10, tickvals=[0, 1],
                         ticktext=["low", "high"], len=0.6)
            fig.add_scatter(x=shap[known], y=y[known], mode="markers", showlegend=False,
                            hovertext=np.array(hover)[known], hoverinfo="text",
                            marker=dict(size=4, color=color[known], colorscale=VALUE_SCALE, cmin=0, cmax=1,
                                        showscale=i == 0, colorbar=scale))
        if (~known).any():
            fig.add_scatter(x=shap[~known], y=y[~known], mode="markers", showlegend=False,
                            hovertext=np.array(hover)[~known], hoverinfo="text",
                            marker=dict(size=4, color=NEUTRAL))
    fig.add_vline(x=0, line=dict(color=MUTED, width=1))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed",
                     zeroline=False, showgrid=False)
    drawn = f"{sample.height:,} of {imp.rows_explained:,} explained rows" if sample.height < imp.sample.height \
        else f"{sample.height:,} explained rows"
    fig = _layout(fig, f"SHAP values of the top {len(features)} features", "SHAP value (raw score)", "",
                  subtitle=(f"{drawn}{_of_class(imp.sample_class)}", "colour: the feature's value, blue low, red "
                            "high; grey: a category or missing"), height=max(320, 150 + 34 * len(features)))
    return fig


def _category_codes(values: pl.Series, shap: np.ndarray, most: int = 30) -> tuple[np.ndarray, list[str]]:
    """Positions for a categorical's values on a numeric axis: its ``most`` most common values
    (missing included, as its own value) ordered by mean SHAP; NaN for the rest."""
    text = values.cast(pl.String).fill_null(MISSING)
    frame = pl.DataFrame({"v": text, "s": shap})
    kept = (frame.group_by("v").agg(n=pl.len(), m=pl.col("s").mean()).sort(["n", "v"], descending=[True, False])
            .head(most).sort(["m", "v"]))
    names = kept["v"].to_list()
    code = {v: i for i, v in enumerate(names)}
    return np.array([code.get(v, np.nan) for v in text.to_list()], dtype=float), names


def dependence_chart(imp: Importance, feature: str, color: str | None = None, *,
                     points: int = POINTS_MOST) -> go.Figure:
    """``feature``'s value against its SHAP value, one dot per explained row, coloured by the
    feature ``color`` (a number: a colour scale; a category: its most common values by name)."""
    sample = imp.sample.head(points)
    shap = sample[f"{SHAP_PREFIX}{feature}"].to_numpy().astype(float)
    values = sample[feature]
    rng = np.random.default_rng(0)
    if _numeric(values):
        x_axis: dict = {}
        if values.dtype.is_temporal():
            x, missing = values.to_numpy(), values.is_null().to_numpy()
        else:
            x = _as_float(values)
            missing = np.isnan(x)
    else:
        codes, names = _category_codes(values, shap)
        x = codes + rng.uniform(-0.3, 0.3, len(codes))
        missing = np.isnan(codes)
        x_axis = dict(tickmode="array", tickvals=list(range(len(names))), ticktext=[_label(n, 16) for n in names])
    keep = ~missing
    hover_values = values.to_list()
    other = sample[color].to_list() if color else [None] * sample.height
    hover = np.array([f"{plain(feature)} = {plain(_value_text(v))}<br>SHAP {s:+.4g}"
                      + (f"<br>{plain(color)} = {plain(_value_text(o))}" if color else "")
                      for v, s, o in zip(hover_values, shap, other)], dtype=object)
    fig = go.Figure()
    if color is None:
        fig.add_scatter(x=x[keep], y=shap[keep], mode="markers", hovertext=hover[keep], hoverinfo="text",
                        showlegend=False, marker=dict(size=5, color=OVERALL, opacity=0.6))
    elif _numeric(sample[color]):
        scale = _color_scale(sample[color])
        known = keep & ~np.isnan(scale)
        fig.add_scatter(x=x[known], y=shap[known], mode="markers", hovertext=hover[known], hoverinfo="text",
                        showlegend=False, marker=dict(size=5, color=scale[known], colorscale=VALUE_SCALE, cmin=0,
                                                      cmax=1, showscale=True, colorbar=dict(
                                                          title=dict(text=_label(color, 14), side="right"),
                                                          thickness=10, tickvals=[0, 1], ticktext=["low", "high"])))
        gone = keep & np.isnan(scale)
        if gone.any():
            fig.add_scatter(x=x[gone], y=shap[gone], mode="markers", hovertext=hover[gone], hoverinfo="text",
                            name=f"{_label(color, 14)} missing", marker=dict(size=5, color=NEUTRAL))
    else:
        text = sample[color].cast(pl.String).fill_null(MISSING)
        common = text.value_counts(sort=True).head(CATEGORIES_MOST)[text.name].to_list()
        groups = np.array([v if v in common else "other" for v in text.to_list()], dtype=object)
        for value in common + (["other"] if (groups == "other").any() else []):
            at = keep & (groups == value)
            if at.any():
                fig.add_scatter(x=x[at], y=shap[at], mode="markers", hovertext=hover[at], hoverinfo="text",
                                name=_label(value, 16), marker=dict(size=5, opacity=0.7))
    fig.add_hline(y=0, line=dict(color=MUTED, width=1))
    if x_axis:
        fig.update_xaxes(**x_axis)
    left_out = int(missing.sum())
    subtitle = [f"{int(keep.sum()):,} explained rows{_of_class(imp.sample_class)}"
                + (f" · {left_out:,} not drawn (missing or a rare value)" if left_out else "")]
    subtitle.append(f"colour: {_label(color)}" if color else "no colour")
    return _layout(fig, f"Dependence: {_label(feature)}", _label(feature), f"SHAP of {_label(feature, 20)}",
                   subtitle=tuple(subtitle), height=420)


# ---- a slice against the rest ---------------------------------------------------------------


def contrast_chart(c: SliceContrast, *, top: int = 15) -> go.Figure:
    """Mean SHAP inside the slice minus outside, per feature, ranked by |difference|, with 95%
    Welch whiskers: red where the feature pushes the score up more inside, blue where less."""
    t = c.table.head(top)
    labels = _unique([_label(f) for f in t["feature"]])
    diff = t["diff"].fill_null(0.0)
    fig = go.Figure(go.Bar(
        y=labels, x=diff, orientation="h", marker_color=[UP if d > 0 else DOWN for d in diff],
        error_x=dict(type="data", symmetric=False, array=(t["ci_high"].fill_null(t["diff"]) - t["diff"]).fill_null(0),
                     arrayminus=(t["diff"] - t["ci_low"].fill_null(t["diff"])).fill_null(0), color=MUTED),
        hovertext=[f"{plain(r['feature'])}<br>mean SHAP inside {r['mean_shap_inside']:+.4g}, outside "
                   f"{r['mean_shap_outside']:+.4g}<br>difference {r['diff'] or 0:+.4g}"
                   + (f" · q {r['q_value']:.2g}" if r["q_value"] is not None else "")
                   for r in t.iter_rows(named=True)],
        hoverinfo="text"))
    fig.add_vline(x=0, line=dict(color=MUTED, width=1))
    shown = f" (top {top} of {c.table.height})" if c.table.height > top else ""
    subtitle = (f"{c.inside_explained:,} slice rows vs {c.outside_explained:,} of the rest{_of_class(c.cls)}",
                "red: pushes the score up more inside · whiskers: 95% CI")
    return _hbar_layout(fig, labels, f"Mean SHAP, slice − rest{shown}", "difference in mean SHAP (raw score)", "",
                        subtitle)


def distribution_chart(c: SliceContrast, feature: str, *, bins: int = 30) -> go.Figure:
    """``feature``'s values among the slice's explained rows against the rest's: overlaid
    histograms (each side's share of its rows) for a number, grouped share bars for a category."""
    inside = c.sample.filter(pl.col("_inside"))[feature]
    outside = c.sample.filter(~pl.col("_inside"))[feature]
    fig = go.Figure()
    sides = (("slice", inside, INSIDE), ("rest", outside, OUTSIDE))
    if _numeric(inside) and not inside.dtype.is_temporal():
        both = np.concatenate([_as_float(inside), _as_float(outside)])
        both = both[~np.isnan(both)]
        lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
        size = (hi - lo) / bins or 1.0
        for name, values, colour in sides:
            v = _as_float(values)
            fig.add_histogram(x=v[~np.isnan(v)], name=f"{name} ({len(values):,} rows)", histnorm="percent",
                              marker_color=colour, opacity=0.55, xbins=dict(start=lo, end=hi + size, size=size))
        fig.update_layout(barmode="overlay")
        y = "% of each side's rows"
    else:
        text_in = inside.cast(pl.String).fill_null(MISSING)
        text_out = outside.cast(pl.String).fill_null(MISSING)
        counts = pl.concat([text_in, text_out]).value_counts(sort=True)
        common = counts.head(CATEGORIES_MOST)[counts.columns[0]].to_list()
        labels = _unique([_label(v, 16) for v in common])
        for name, text, colour in ((sides[0][0], text_in, INSIDE), (sides[1][0], text_out, OUTSIDE)):
            shares = [100 * float((text == v).sum()) / max(len(text), 1) for v in common]
            fig.add_bar(x=labels, y=shares, name=f"{name} ({len(text):,} rows)", marker_color=colour,
                        hovertext=[f"{plain(v)}: {s:.1f}% of the {name}'s rows" for v, s in zip(common, shares)],
                        hoverinfo="text")
        fig.update_layout(barmode="group")
        fig.update_xaxes(type="category")
        y = "% of each side's rows"
    missing = (f"missing: {inside.null_count() / max(len(inside), 1):.0%} of the slice, "
               f"{outside.null_count() / max(len(outside), 1):.0%} of the rest")
    return _layout(fig, _label(feature), _label(feature), y, subtitle=(missing,), height=320)


# ---- one row ---------------------------------------------------------------------------------


def _steps(p: RowPrediction, top: int) -> tuple[list[str], list[float], list[str]]:
    """The waterfall's bars: contributions by |size|, the smallest folded into one bar."""
    ranked = sorted(p.contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown, rest = ranked[:top], ranked[top:]
    labels = [_label(f"{f} = {_value_text(p.values.get(f))}") for f, _ in shown]
    values = [v for _, v in shown]
    hover = [f"{plain(f)} = {plain(_value_text(p.values.get(f)))}<br>{v:+.4g}" for f, v in shown]
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(float(sum(v for _, v in rest)))
        hover.append(f"{len(rest)} other features<br>{values[-1]:+.4g}")
    return _unique(labels), values, hover


def waterfall_chart(p: RowPrediction, *, outcome: str = "prediction", title: str = "Why this prediction",
                    top: int = 12) -> go.Figure:
    """From the base value, each contribution in turn (largest first), to the row's raw score."""
    labels, values, hover = _steps(p, top)
    y = ["base value", *labels, "raw score"]
    fig = go.Figure(go.Waterfall(
        orientation="h", y=y, x=[p.base_value, *values, p.raw_score],
        measure=["absolute", *(["relative"] * len(values)), "total"],
        text=[f"{p.base_value:.3g}", *(f"{v:+.3g}" for v in values), f"{p.raw_score:.3g}"], textposition="outside",
        hovertext=[f"base value {p.base_value:.4g}", *hover, f"raw score {p.raw_score:.4g}"], hoverinfo="text",
        increasing=dict(marker=dict(color=UP)), decreasing=dict(marker=dict(color=DOWN)),
        totals=dict(marker=dict(color=OVERALL)), connector=dict(line=dict(color=NEUTRAL, width=1))))
    lo = min(0.0, p.base_value, p.raw_score, *np.cumsum([p.base_value, *values]))
    hi = max(0.0, p.base_value, p.raw_score, *np.cumsum([p.base_value, *values]))
    pad = (hi - lo) * 0.18 or 1.0  # room for the value text beside the bars
    fig.update_xaxes(range=[lo - pad, hi + pad])
    subtitle = (f"{plain(outcome)} {p.prediction:.4g} · raw score {p.raw_score:.4g}",
                "red raises the score, blue lowers it")
    return _hbar_layout(fig, y, title, "raw score", "", subtitle)


def before_after_chart(e: RowExplanation, *, outcome: str = "prediction", top: int = 15) -> go.Figure:
    """Each feature's contribution to the row before and after the what-if, grouped, the
    features whose contribution is largest in either first; a changed feature is marked."""
    if e.after is None:
        raise ValueError("before_after_chart needs a what-if (RowExplanation.after)")
    b, a = e.before.contributions, e.after.contributions
    ranked = sorted(b, key=lambda f: (-max(abs(b[f]), abs(a[f])), f))[:top]
    labels = _unique([_label(f"{f} (changed)" if f in e.changes else f) for f in ranked])
    fig = go.Figure()
    for name, p, colour in (("before", e.before, BEFORE), ("after", e.after, AFTER)):
        fig.add_bar(y=labels, x=[p.contributions[f] for f in ranked], orientation="h", name=name,
                    marker_color=colour, hoverinfo="text",
                    hovertext=[f"{name}: {plain(f)} = {plain(_value_text(p.values.get(f)))}"
                               f"<br>{p.contributions[f]:+.4g}" for f in ranked])
    fig.add_vline(x=0, line=dict(color=MUTED, width=1))
    fig.update_layout(barmode="group")
    subtitle = (f"{plain(outcome)} {e.before.prediction:.4g} → {e.after.prediction:.4g}",
                f"raw score {e.before.raw_score:.4g} → {e.after.raw_score:.4g}")
    fig = _hbar_layout(fig, labels, "Contributions before and after", "contribution (raw score)", "", subtitle)
    return fig.update_layout(height=max(320, 170 + 2 * BAR_STEP * len(labels)))
