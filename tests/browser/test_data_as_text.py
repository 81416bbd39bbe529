"""Nothing from the data runs in the page: a dataset whose column names and values are markdown
links and images, Streamlit directives, emphasis and HTML (an ``<img onerror>``, an ``<a href>``)
is opened on every page in Chromium. Each page must show those texts as written and never turn
them into a script that runs, an image or a link to 127.0.0.1:9 (a closed port: any request
there is recorded), a coloured span or bold text. Each step waits for the state it leads to (a
heading, a chart's tick labels, a line of text); see harness.py."""
from __future__ import annotations

import json
from urllib.parse import quote, urlencode, urlparse

import numpy as np
import polars as pl
import pytest

import workbench as wb
from workbench.model import train
from workbench.store import build

from harness import Server, expect, no_exceptions, settle, wait_long

IMG = "<img src=x onerror=window.__pwned=1>"
LINK = "[click](http://127.0.0.1:9/x)"
IMAGE = "![i](http://127.0.0.1:9/i.png)"
RED = ":red[alarm]"
BOLD = "**bold**"
ANCHOR = '<a href="http://127.0.0.1:9">a</a>'
VALUES = [IMG, LINK, IMAGE, RED, BOLD, ANCHOR]
CHART = "[data-testid='stPlotlyChart']"
SLOW = 600_000  # ms: a first view that trains nothing but explains or searches (seconds when idle)

# what the page made of the data: markup it must not hold (run in the page after each view)
INERT = """() => {
  const bad = [];
  const closed = v => { try { const u = new URL(v, location.href);
                              return u.hostname === '127.0.0.1' && u.port === '9'; } catch (e) { return false; } };
  for (const e of document.querySelectorAll('*')) {
    for (const a of e.getAttributeNames()) {
      if (/(^|:)(src|href)$/.test(a) && closed(e.getAttribute(a))) bad.push(`${e.tagName} ${a}=${e.getAttribute(a)}`);
      if (/^on/.test(a) && /__pwned/.test(e.getAttribute(a))) bad.push(`${e.tagName} ${a}`);
    }
  }
  for (const e of document.querySelectorAll('img[src="x"]')) bad.push('an <img src=x>');
  for (const e of document.querySelectorAll('.js-plotly-plot a')) bad.push(`a link in a chart: ${e.textContent}`);
  for (const e of document.querySelectorAll('span[style*="color"], .stMarkdownColoredText, .stMarkdownColoredBackground, .stMarkdownBadge'))
    if (e.textContent.includes('alarm')) bad.push(`a coloured span: ${e.textContent}`);
  for (const e of document.querySelectorAll('strong, b, em, i'))
    if (['bold', 'alarm', 'click', 'i', 'a'].includes(e.textContent.trim())) bad.push(`${e.tagName} ${e.textContent}`);
  return {pwned: typeof window.__pwned !== 'undefined', bad};
}"""
SHOWN = "() => document.body.innerText.replaceAll('\\u2060', '')"
CHART_TEXT = """() => Array.from(document.querySelectorAll('.js-plotly-plot text'))
                     .map(t => t.textContent.replaceAll('\\u2060', '')).join('\\n')"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A server on a workspace whose one table has hostile column names and values, with two
    runs on it that share a holdout: (server, baseline run, candidate run)."""
    root = tmp_path_factory.mktemp("hostile") / "ws"
    root.mkdir()
    rng = np.random.default_rng(0)
    n = 1200
    cat = rng.integers(0, len(VALUES), n)
    x = rng.normal(size=n)
    positive = rng.random(n) < 1 / (1 + np.exp(-((cat == 2) * 1.5 - 0.5 + x)))
    pl.DataFrame({IMG: [VALUES[i] for i in cat], LINK: x, RED: rng.normal(size=n),
                  IMAGE: np.where(positive, BOLD, "no")}).write_parquet(root / "hostile.parquet")
    ws = wb.Workspace.open(root)
    build.build(ws, "hostile_ds", "SELECT * FROM hostile")
    runs = [train.train(ws, train.TrainSpec("hostile_ds", IMAGE, task="binary", seed=0,
                                            params={"num_leaves": leaves, "n_estimators": 30}))
            for leaves in (7, 3)]
    server = Server(root)
    yield server, runs[0], runs[1]
    server.stop()


@pytest.fixture
def watched(page):
    """The page, with every request it makes to the closed port (or for ``<img src=x>``) kept."""
    hits: list[str] = []

    def record(request) -> None:
        u = urlparse(request.url)
        if (u.hostname == "127.0.0.1" and u.port == 9) or u.path.endswith("/x"):
            hits.append(request.url)
    page.on("request", record)
    page.hits = hits
    return page


def inert(page) -> None:
    """Nothing from the data ran, loaded or linked on the page as it is now."""
    no_exceptions(page)
    found = page.evaluate(INERT)
    assert not found["pwned"], "the data's onerror ran"
    assert not found["bad"], found["bad"]
    assert not page.hits, page.hits


def shows(page, *texts: str) -> None:
    body = page.evaluate(SHOWN)
    for t in texts:
        assert t in body, f"{t!r} is not shown as written"


def ticks_show(page, *texts: str, timeout: float = SLOW) -> None:
    """Wait until the charts' text holds each of ``texts`` as written."""
    page.wait_for_function(f"texts => {{ const s = ({CHART_TEXT})(); return texts.every(t => s.includes(t)); }}",
                           arg=list(texts), timeout=timeout)


def test_the_data_page_shows_names_and_errors_as_text(watched, hostile):
    server, _, _ = hostile
    page = watched
    page.goto(f"{server.url}/data?{urlencode({'profile': 'hostile'})}")
    expect(page.locator("h1").first).to_have_text("Data", use_inner_text=True)
    settle(page)
    inert(page)
    # an engine error that names a table called like a markdown image
    page.get_by_label("SQL over the tables and datasets (by name)").fill(f'SELECT * FROM "{IMAGE}"')
    page.get_by_role("button", name="Preview").click()
    wait_long(page.locator("[data-testid='stAlertContentError']").first, "the preview's error")
    settle(page)
    shows(page, IMAGE)
    inert(page)


def test_the_train_page_shows_the_target_and_classes_as_text(watched, hostile):
    server, run, _ = hostile
    page = watched
    page.goto(f"{server.url}/train?{urlencode({'dataset': 'hostile_ds', 'run': run.run_id})}")
    page.get_by_text(f"Run {run.run_id}").first.wait_for()
    page.locator(f"{CHART} .gtitle").filter(has_text="ROC curve").first.wait_for()
    settle(page)
    shows(page, f"target {IMAGE}", f"positive class {run.record.positive_class} of {IMAGE}", BOLD)
    inert(page)


def test_error_analysis_shows_slices_and_their_rows_as_text(watched, hostile):
    server, run, _ = hostile
    page = watched
    where = next(r["where"] for r in wb.breakdown(run, [IMG]).slices.iter_rows(named=True) if r[IMG] == IMAGE)
    page.goto(f"{server.url}/analysis?{urlencode({'run': run.run_id, 'by': IMG, 'slice': where})}")
    page.get_by_text("Rows where").first.wait_for()
    ticks_show(page, LINK, RED, BOLD, ANCHOR, f"error rate by {IMG}")
    settle(page)
    shows(page, f"Rows where {IMG} = {IMAGE}")
    inert(page)
    # a link naming a run that is not there: the notice shows the name as written
    page.goto(f"{server.url}/analysis?run={quote(ANCHOR + IMAGE)}")
    page.get_by_text("is not available here").first.wait_for()
    settle(page)
    shows(page, f"This link's run {ANCHOR + IMAGE} is not available here")
    inert(page)


def test_explain_shows_feature_names_and_values_as_text(watched, hostile):
    server, run, _ = hostile
    page = watched
    where = next(r["where"] for r in wb.breakdown(run, [IMG]).slices.iter_rows(named=True) if r[IMG] == LINK)
    page.goto(f"{server.url}/explain?{urlencode({'run': run.run_id, 'rows': '200', 'dep': IMG, 'where': where})}")
    wait_long(page.get_by_text("Show the what-if").first, "the what-if form", SLOW)
    ticks_show(page, f"Dependence: {IMG[:20]}", "Mean |SHAP| per feature")  # titles cut a long name
    settle(page)
    shows(page, IMG, LINK, RED)  # the what-if's inputs are labelled with the feature names
    inert(page)


def test_compare_shows_slice_labels_as_text(watched, hostile):
    server, baseline, candidate = hostile
    page = watched
    page.goto(f"{server.url}/compare?"
              f"{urlencode({'baseline': baseline.run_id, 'candidate': candidate.run_id, 'by': IMG})}")
    page.get_by_text("Overall").first.wait_for()
    ticks_show(page, "Change in", IMG[:30])  # a tick cuts the long label: its start, as written
    settle(page)
    inert(page)
