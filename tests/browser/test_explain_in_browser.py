"""The Explain page in a real browser: opened by its URL, a dependence plot chosen, a slice's link
opening its contrast, and a what-if submitted. Each step waits for the state it leads to (a URL
parameter, a chart's title, a table's cell, a line of text); see harness.py."""
import re
from urllib.parse import urlencode

import workbench as wb
from workbench.store import runs

from harness import expect, grid_cell, no_exceptions, settle, shoot, wait_for_params, wait_long

CHART = "[data-testid='stPlotlyChart']"
WHERE = "month = 12 AND humid > 80"
ROWS = "300"  # a small sample: the first view comes quickly on a busy machine too
EXPLAINING = 600_000  # ms: a first view explains its sample (seconds on an idle machine)


def the_run(server) -> wb.Run:
    return runs.list_runs(runs.Workspace.open(server.workspace))[-1]  # the demo fixture's own run, whatever other tests train beside it


def chart_titled(page, text: str, timeout: float = 60_000):
    title = page.locator(f"{CHART} .gtitle").filter(has_text=text)
    wait_long(title.first, f"a chart titled {text!r}", timeout)
    return title


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``. As harness.choose, but a click that
    lands while the charts above are still settling their heights can miss the opening of the
    list: then the list is not there, and the click is made again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    combo = page.locator("[data-testid='stSelectbox']").filter(
        has=page.get_by_text(label, exact=True)).first.get_by_role("combobox")
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        combo.scroll_into_view_if_needed()
        combo.click()
        try:
            wanted.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    wanted.click()
    expect(combo).to_have_value(option)


def test_the_page_opens_by_its_url_and_draws_a_chosen_dependence_plot(page, demo_server):
    run = the_run(demo_server)
    page.goto(f"{demo_server.url}/explain?{urlencode({'run': run.run_id, 'rows': ROWS})}")
    expect(page.locator("h1").first).to_have_text("Explain", use_inner_text=True)
    chart_titled(page, "Mean |SHAP| per feature", EXPLAINING)
    chart_titled(page, "SHAP values of the top")
    page.get_by_text(f"{int(ROWS):,} of {run.record.split.n_holdout:,} holdout rows explained (seed 0)").wait_for()
    settle(page)
    choose(page, "Dependence of", "humid")
    wait_for_params(page, run=run.run_id, rows=ROWS, dep="humid", color="auto")
    chart_titled(page, "Dependence: humid")
    strongest = wb.interactions(wb.importance(run, rows=int(ROWS)), "humid")[0]
    page.get_by_text(f"Coloured by {strongest}, the feature").wait_for()
    settle(page)
    no_exceptions(page)
    shoot(page, "explain")


def test_a_slices_link_opens_its_contrast_with_the_rest(page, demo_server):
    run = the_run(demo_server)
    page.goto(f"{demo_server.url}/explain?{urlencode({'run': run.run_id, 'rows': ROWS, 'where': WHERE})}")
    chart_titled(page, "Mean SHAP, slice − rest", EXPLAINING)
    table = page.locator("[data-testid='stDataFrame']").first
    table.scroll_into_view_if_needed()
    # the demo's wet December slice: humidity, rain and visibility push its scores up
    for i, feature in enumerate(["humid", "precip", "visib"]):
        expect(grid_cell(table, i)).to_have_text(feature)
    c = wb.slice_contrast(run, WHERE, rows=int(ROWS))
    page.get_by_text(f"{c.slice_rows:,} holdout rows in the slice").wait_for()
    expect(page.get_by_role("textbox", name="Slice (SQL condition on the holdout's columns)")).to_have_value(WHERE)
    wait_for_params(page, where=WHERE)
    settle(page)
    no_exceptions(page)
    shoot(page, "explain-slice")


def test_a_what_if_shows_the_edited_rows_new_prediction(page, demo_server):
    run = the_run(demo_server)
    worst, _ = wb.slice_rows(run, WHERE, limit=1)
    row = int(worst["_row"][0])
    page.goto(f"{demo_server.url}/explain?{urlencode({'run': run.run_id, 'rows': ROWS, 'where': WHERE, 'row': row})}")
    chart_titled(page, f"Why row {row} scores as it does", EXPLAINING)
    settle(page)
    humid = page.get_by_role("textbox", name="humid", exact=True)
    humid.scroll_into_view_if_needed()
    humid.fill("20")
    page.get_by_role("button", name="Show the what-if").click()
    said = page.get_by_text(re.compile(r"^With humid = 20\.0: P\(late = True\) after"))
    wait_long(said, "the what-if's new prediction", 120_000)
    chart_titled(page, "Contributions before and after")
    e = wb.explain_row(run, row, {"humid": "20"})
    found = re.search(r"after ([-\d.e]+) \(before ([-\d.e]+);", said.inner_text())
    after, before = float(found.group(1)), float(found.group(2))
    assert after != before
    assert after == float(f"{e.after.prediction:.4g}") and before == float(f"{e.before.prediction:.4g}")
    settle(page)
    no_exceptions(page)
    shoot(page, "explain-whatif")
