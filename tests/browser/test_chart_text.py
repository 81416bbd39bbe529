"""Every chart's text can be read in the app: no two texts of a chart overlap, none sticks out of
its chart and none is shrunk below 8 px (plotly shrinks text inside a bar to the bar), at a
1400x1000 and a 1000x800 window, where the Train page's three charts are 300 and 170 px wide.

One server on a copy of the demo workspace, which holds its binary run, with a regression run
trained here for the regression charts and a breakdown with negative bars (bias). Each view is
a deep link, opened one after another in one page; each wait is for a state (the charts' titles,
a finished script run, text that stops moving). A screenshot of each chart goes to
tests/screenshots/ for a person to look at."""
from __future__ import annotations

import shutil

import pytest

from workbench import Workspace
from workbench.data import demo
from workbench.model import train
from workbench.store import runs

from harness import SHOTS, Server, no_exceptions, settle

CHART = "[data-testid='stPlotlyChart']"
VIEWPORTS = [(1400, 1000), (1000, 800)]
SMALLEST = 8  # px: the least height of a readable text box (tick labels are about 14)

# The text boxes of each chart, as [text, left, top, right, bottom] in the window, and the
# chart's own box: texts that are empty or hidden are left out, and so are hover labels, which
# lie over the chart on purpose and only while the pointer is on it.
TEXT_BOXES = """() => Array.from(document.querySelectorAll("%s")).map(chart => {
  const b = chart.getBoundingClientRect();
  const texts = Array.from(chart.querySelectorAll("svg text"))
    .filter(t => t.textContent.trim() && !t.closest(".hoverlayer")
                 && t.checkVisibility({opacityProperty: true, visibilityProperty: true}))
    .map(t => { const r = t.getBoundingClientRect(); return [t.textContent.trim(), r.left, r.top, r.right, r.bottom]; })
    .filter(([, l, t, r, btm]) => r > l && btm > t);
  return {box: [b.left, b.top, b.right, b.bottom], texts};
})""" % CHART

# Resolves once the text boxes are the same in two animation frames in a row: the charts are
# drawn and Streamlit has given them their width.
STILL = """expected => { const now = JSON.stringify((%s)());
  const charts = JSON.parse(now);
  const drawn = charts.length === expected && charts.every(c => c.texts.length > 0);
  const same = window.__chartText === now; window.__chartText = now; return drawn && same; }""" % TEXT_BOXES


def text_problems(charts: list[dict]) -> list[str]:
    """Each pair of texts of one chart that overlap by more than 1 px both ways, each text that
    sticks out of its chart by more than 1 px and each text under SMALLEST px tall."""
    def show(t):
        return f"{t[0][:60]!r} at ({t[1]:.0f}, {t[2]:.0f})-({t[3]:.0f}, {t[4]:.0f})"
    problems = []
    for i, chart in enumerate(charts):
        left, top, right, bottom = chart["box"]
        texts = chart["texts"]
        for t in texts:
            if t[1] < left - 1 or t[2] < top - 1 or t[3] > right + 1 or t[4] > bottom + 1:
                problems.append(f"chart {i}: {show(t)} sticks out of the chart "
                                f"({left:.0f}, {top:.0f})-({right:.0f}, {bottom:.0f})")
            if t[4] - t[2] < SMALLEST:
                problems.append(f"chart {i}: {show(t)} is {t[4] - t[2]:.1f} px tall, too small to read")
        for j, a in enumerate(texts):
            for b in texts[j + 1:]:
                if min(a[3], b[3]) - max(a[1], b[1]) > 1 and min(a[4], b[4]) - max(a[2], b[2]) > 1:
                    problems.append(f"chart {i}: {show(a)} overlaps {show(b)}")
    return problems


@pytest.fixture(scope="module")
def both_runs(demo_ws, tmp_path_factory):
    """A server on a copy of the demo workspace with its binary run and a regression run of the
    temperature at the origin: (server, binary run id, regression run id)."""
    root = tmp_path_factory.mktemp("charts") / "ws"
    shutil.copytree(demo_ws.root, root)
    ws = Workspace.open(root)
    binary = next(r for r in runs.list_runs(ws) if r.task == "binary")
    regression = train.train(ws, train.TrainSpec(demo.DATASET, "temp", task="regression", split="random"))
    server = Server(root)
    yield server, binary.run_id, regression.run_id
    server.stop()


def views(binary: str, regression: str) -> list[tuple[str, str, list[str]]]:
    """(name, path and query, the charts' titles) of every chart view the app draws."""
    return [
        ("train", f"train?run={binary}", ["ROC curve", "Precision-recall", "Calibration"]),
        ("origin", f"analysis?run={binary}&by=origin", ["error rate by origin"]),
        ("carrier", f"analysis?run={binary}&by=carrier", ["error rate by carrier"]),
        ("hour-origin", f"analysis?run={binary}&by=hour&by2=origin", ["error rate by hour × origin"]),
        ("carrier-auc", f"analysis?run={binary}&by=carrier&metric=roc_auc", ["ROC AUC by carrier"]),
        ("regression", f"train?run={regression}", ["Predicted vs actual", "Residuals"]),
        ("regression-bias", f"analysis?run={regression}&by=carrier&metric=bias",
         ["mean error (predicted − actual) by carrier"]),
    ]


@pytest.mark.parametrize("width,height", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_chart_text_neither_overlaps_nor_sticks_out(page, both_runs, width, height):
    server, binary, regression = both_runs
    page.set_viewport_size({"width": width, "height": height})
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, link, titles in views(binary, regression):
        page.goto(f"{server.url}/{link}")
        for title in titles:
            page.locator(f"{CHART} .gtitle").filter(has_text=title).wait_for()
        settle(page)
        no_exceptions(page)
        page.locator(CHART).first.scroll_into_view_if_needed()
        page.wait_for_function(STILL, arg=len(titles), polling="raf")
        problems += [f"{name} at {width}x{height}, {p}" for p in text_problems(page.evaluate(TEXT_BOXES))]
        charts = page.locator(CHART)
        for i in range(charts.count()):
            charts.nth(i).screenshot(path=str(SHOTS / f"chart-{name}-{i}-{width}x{height}.png"))
    assert not problems, "\n".join(problems)
