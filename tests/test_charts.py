"""Every chart builds from its result object, with a title and labelled axes; the slice chart
draws the table's rows in its order, with the overall line and each slice's row count labelled
where no other text is (tests/browser/test_chart_text.py checks the drawn text in the app)."""
import dataclasses
import math

import polars as pl
import pytest

from workbench.render import charts
from workbench.render.safe import html_text
from workbench.analysis import diagnostics, slices


def _labelled(fig):
    layout = fig.layout
    assert layout.title.text and layout.xaxis.title.text and layout.yaxis.title.text
    # the title pushes the top margin and the legend reserves the bottom: neither meets the axes
    assert layout.title.automargin and layout.title.yref == "container" and layout.legend.yref == "container"
    return fig


def test_classification_charts(trained):
    _, run = trained["binary"]
    d = diagnostics.diagnostics(run)
    for build in (charts.roc_chart, charts.pr_chart, charts.calibration_chart):
        fig = _labelled(build(d))
        assert len(fig.data) >= 2
        assert tuple(fig.layout.xaxis.range) == tuple(fig.layout.yaxis.range) == (-0.04, 1.04)
    assert set(d.roc["model"]) == {"lightgbm", "linear"} and d.roc.height <= 700
    # the base rate is a legend entry, not a label on the plot
    pr = charts.pr_chart(d)
    assert f"base rate {d.base_rate:.1%}" in [t.name for t in pr.data] and not pr.layout.annotations


def test_regression_charts(trained):
    _, run = trained["regression"]
    d = diagnostics.diagnostics(run)
    for build in (charts.predicted_vs_actual_chart, charts.residuals_chart):
        _labelled(build(d))
    assert d.residuals.height <= 4000


@pytest.mark.parametrize("by", [("c0",), ("c0", "x1")])
def test_slice_chart_has_a_bar_per_slice_in_order(trained, by):
    _, run = trained["binary"]
    table = slices.breakdown(run, by, bins=3)
    fig = _labelled(charts.slice_chart(table))
    assert list(fig.data[0].customdata) == list(range(table.slices.height))
    assert list(fig.data[0].x) == table.slices["value"].to_list()


@pytest.mark.parametrize("by", [("c0",), ("x1",), ("c0", "x1")])
@pytest.mark.parametrize("shuffle", ["as given", "reversed", "shuffled"])
def test_slice_bars_follow_the_table_row_order_whatever_it_is(trained, by, shuffle):
    """Natural, worst first or any other: the first row on top, each bar's customdata its row."""
    _, run = trained["binary"]
    table = slices.breakdown(run, by, bins=4)
    rows = {"as given": table.slices, "reversed": table.slices.reverse(),
            "shuffled": table.slices.sample(fraction=1.0, shuffle=True, seed=3)}[shuffle]
    table = dataclasses.replace(table, slices=rows)
    fig = charts.slice_chart(table)
    bar, labels = fig.data[0], charts.slice_labels(table)
    assert labels == [" · ".join(str(r[c]) for c in by) for r in rows.iter_rows(named=True)]
    # each bar's y is its label as plotly text: escaped, so that '< 0.5' shows as written
    assert list(bar.y) == [html_text(label) for label in labels] and list(bar.x) == rows["value"].to_list()
    assert list(bar.customdata) == list(range(rows.height))
    yaxis = fig.layout.yaxis
    assert yaxis.categoryorder == "array" and list(yaxis.categoryarray) == list(bar.y)
    assert yaxis.autorange == "reversed"  # the first row on top


def test_slice_chart_labels_row_counts_and_the_overall_line_outside_the_bars(trained):
    _, run = trained["regression"]
    table = slices.breakdown(run, ("c0",), metric="bias")
    assert (table.slices["value"] < 0).any(), "the test needs a negative bar"
    fig = charts.slice_chart(table)
    assert fig.data[0].text is None  # no text inside the bars, where a short one cannot hold it
    assert [h.split("<br>")[-1] for h in fig.data[0].hovertext] == [f"{n:,} rows" for n in table.slices["n"]]
    notes = {a.text: a for a in fig.layout.annotations}
    # the row counts: a column right of the plot, one per bar, under the heading 'rows'
    counts = [a for a in fig.layout.annotations if a.yref == "y"]
    assert [(a.y, a.text) for a in counts] == [(i, f"{n:,}") for i, n in enumerate(table.slices["n"])]
    assert all(a.xref == "paper" and a.x == 1 and a.xanchor == "left" for a in counts + [notes["rows"]])
    # the overall value: a dashed line, labelled in a band between the subtitle and the plot
    overall = table.overall["value"]
    label = notes[f"overall {overall:.4g}"]
    assert (label.x, label.yref, label.y, label.yanchor) == (overall, "paper", 1, "bottom")
    assert fig.layout.title.pad.b >= charts.LABEL_BAND
    [line] = fig.layout.shapes
    assert line.x0 == line.x1 == overall and line.line.dash == "dash"
    # every bar and whisker, negative ones too, lies inside the x range
    lo, hi = fig.layout.xaxis.range
    assert lo <= min(table.slices["ci_low"].min(), 0) and hi >= max(table.slices["ci_high"].max(), overall)


@pytest.mark.parametrize("overall,anchor", [(0.05, "left"), (0.5, "center"), (0.95, "right")])
def test_the_overall_label_is_anchored_to_stay_inside_the_plot(trained, overall, anchor):
    _, run = trained["binary"]
    table = slices.breakdown(run, ("c0",), bins=3)
    rows = table.slices.with_columns(value=pl.lit(0.5), ci_low=pl.lit(0.4), ci_high=pl.lit(0.96))
    fig = charts.slice_chart(dataclasses.replace(table, slices=rows, overall={**table.overall, "value": overall}))
    [label] = [a for a in fig.layout.annotations if a.text.startswith("overall")]
    assert label.xanchor == anchor


def test_long_and_repeated_slice_labels(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ("c0", "x1"), bins=3)
    rows = table.slices.with_columns(c0=pl.lit("a slice label far longer than the axis has room for"),
                                     x1=pl.lit("same"))
    fig = charts.slice_chart(dataclasses.replace(table, slices=rows))
    labels = list(fig.data[0].y)
    assert len(set(labels)) == rows.height  # each slice its own bar
    assert labels[0] == "a slice label far longer than the axis has room for · same" and labels[1].endswith(" (2)")
    ticks = fig.layout.yaxis.ticktext
    assert list(fig.layout.yaxis.tickvals) == labels
    assert all(len(t) <= charts.LABEL_MOST + 3 for t in ticks) and ticks[0].split(" · ")[0].endswith("…")


def test_a_long_table_draws_its_first_rows(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ("c0", "x1"), bins=3)
    fig = charts.slice_chart(table, max_slices=2)
    assert list(fig.data[0].y) == [html_text(label) for label in charts.slice_labels(table)[:2]]
    assert f"(first 2 of {table.slices.height})" in fig.layout.title.text


@pytest.mark.parametrize("task,metric", [("binary", "error_rate"), ("binary", "roc_auc"), ("binary", "mean_score"),
                                         ("regression", "bias")])
def test_slice_bars_are_colored_by_their_reading(trained, task, metric):
    """Each bar's color and hover come from its reading, whatever the metric's direction."""
    _, run = trained[task]
    table = slices.breakdown(run, ("c0", "x1"), metric=metric, bins=3)
    bar = charts.slice_chart(table).data[0]
    readings = table.slices["reading"].to_list()
    assert list(bar.marker.color) == [charts.READING_COLORS[r] for r in readings]
    for hover, reading, d in zip(bar.hovertext, readings, table.slices["detectable"]):
        assert hover.startswith(f"{reading} · ")
        said = "no test possible" if d is None or not math.isfinite(d) else f"could detect ±{d:.4g}"
        assert said in hover


def test_each_reading_has_its_own_color_and_a_slice_too_small_to_tell_is_fainter(trained):
    _, run = trained["binary"]
    table = slices.breakdown(run, ("c0", "x1"), bins=3)
    cycle = list(slices.READINGS) * (table.slices.height // len(slices.READINGS) + 1)
    rows = table.slices.with_columns(reading=pl.Series(cycle[:table.slices.height]))
    bar = charts.slice_chart(dataclasses.replace(table, slices=rows)).data[0]
    color = dict(zip(rows["reading"], bar.marker.color))
    assert set(color) == set(slices.READINGS)
    assert (color["worse"], color["better"]) == (charts.BAD, charts.OK)  # the flag and its other color
    assert color["higher"] == color["lower"] == charts.FLAG  # no better direction: one flag color
    # a grey bar on 40 rows and one on 40,000 read differently: the same grey, fainter
    assert color["no clear difference"] == charts.NEUTRAL != color["too small to tell"] == charts.FAINT
    assert charts.FAINT.startswith("rgba(148, 163, 184, ") and int(charts.NEUTRAL[1:3], 16) == 148
    assert len({color[r] for r in ("worse", "better", "higher", "no clear difference", "too small to tell")}) == 5
    # the key to the colors is in the subtitle, one line each so that none is wider than the chart
    subtitle = charts.slice_chart(table).layout.title.subtitle.text.split("<br>")
    assert subtitle[1:] == ["red/green: worse/better than the rest (q < 0.05)",
                            "grey: no clear difference · faint: too small to tell"]


def test_detectable_text():
    assert charts.detectable_text(0.05123) == "could detect ±0.05123"
    assert charts.detectable_text(None) == charts.detectable_text(float("inf")) == charts.detectable_text(float("nan"))
    assert charts.detectable_text(None) == "no test possible"


def test_multiclass_has_no_curves(trained):
    _, run = trained["multiclass"]
    assert diagnostics.diagnostics(run).roc is None


HOSTILE = ['<a href="http://127.0.0.1:9">a</a>', "<b>x</b><br>y", "%{x} $1$", "[click](http://127.0.0.1:9/x)", "say \"hi\" &mu;"]


def _plotly_text(fig) -> list[str]:
    """Every string of the figure that plotly reads as text: trace y values and hover text, tick
    labels, titles, the legend's names, annotations."""
    layout = fig.layout
    out = [layout.title.text or "", layout.xaxis.title.text or "", layout.yaxis.title.text or "",
           *(a.text for a in layout.annotations), *(layout.yaxis.ticktext or ())]
    for trace in fig.data:
        out += [str(v) for v in (trace.y or ())] + [str(v) for v in (trace.hovertext or ())] + [trace.name or ""]
    return out


def test_data_in_the_slice_chart_is_plain_text(trained):
    """Values and column names that hold plotly's pseudo-HTML, a template placeholder or LaTeX
    reach the chart escaped: no tag, no '%{', no '$' in any text plotly reads, and each reads
    (as plotly.js decodes it: tests/test_safe.py) as the value as written."""
    from test_safe import plotly_reads

    def reads(text: str) -> str:
        tags, visible = plotly_reads(text)
        assert not tags, tags
        return visible
    _, run = trained["binary"]
    table = slices.breakdown(run, ("c0",), bins=3)
    rows = table.slices.head(len(HOSTILE))
    values = HOSTILE[:rows.height]
    column = '<a href="http://127.0.0.1:9">c</a>'
    rows = rows.with_columns(c0=pl.Series(values)).rename({"c0": column})
    fig = charts.slice_chart(dataclasses.replace(table, slices=rows, by=(column,)))
    texts = _plotly_text(fig)
    assert not any("%{x}" in t or "$1" in t for t in texts)
    assert [reads(y) for y in fig.data[0].y] == values
    assert [reads(y) for y in fig.layout.yaxis.ticktext] == [charts._short(v, charts.LABEL_MOST) for v in values]
    assert reads(fig.layout.title.text).startswith(f"error rate by {column}")
    assert reads(fig.layout.yaxis.title.text) == column
