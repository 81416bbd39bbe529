"""Every chart builds from its result object, with a title and labelled axes."""
import pytest

from workbench.render import charts
from workbench.analysis import diagnostics, slices


def _labelled(fig):
    layout = fig.layout
    assert layout.title.text and layout.xaxis.title.text and layout.yaxis.title.text
    return fig


def test_classification_charts(trained):
    _, run = trained["binary"]
    d = diagnostics.diagnostics(run)
    for build in (charts.roc_chart, charts.pr_chart, charts.calibration_chart):
        fig = _labelled(build(d))
        assert len(fig.data) >= 2
    assert set(d.roc["model"]) == {"lightgbm", "linear"} and d.roc.height <= 700


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


def test_multiclass_has_no_curves(trained):
    _, run = trained["multiclass"]
    assert diagnostics.diagnostics(run).roc is None
