"""The workbench as its users meet it: a real server, a real browser, real clicks."""
import re
from urllib.parse import parse_qs, urlparse

import pytest

from workbench.store import runs

from harness import choose, no_exceptions, settle, shoot

PAGES = {"data": "Data", "train": "Train a baseline", "analysis": "Error analysis"}


def h1(page) -> str:
    return page.locator("h1").first.inner_text()


def test_demo_from_an_empty_workspace_to_a_trained_run(page, fresh_server, tmp_path):
    server = fresh_server()
    page.goto(server.url)
    settle(page)
    assert h1(page) == "Data"
    page.get_by_text("flights · 336,776 rows").wait_for()
    shoot(page, "data")
    page.get_by_role("link", name="Train").first.click()
    settle(page)
    assert h1(page) == "Train a baseline"
    choose(page, "Split", "time: latest 20% held out")
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Run 20").wait_for(timeout=120_000)
    settle(page)
    no_exceptions(page)
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(2).wait_for()
    assert charts.count() == 3  # ROC, PR, calibration
    shoot(page, "train")
    [run] = runs.list_runs(runs.Workspace.open(tmp_path))
    page.wait_for_url(re.compile(f"run={run.run_id}"))
    assert run.record.split.kind == "time"


def test_slice_breakdown_and_a_click_on_a_bar_opens_its_rows(page, demo_server):
    page.goto(f"{demo_server.url}/analysis")
    settle(page)
    choose(page, "Slice by", "origin")
    page.get_by_text("3 slices").wait_for()
    chart = page.locator("[data-testid='stPlotlyChart']")
    bars = chart.locator("g.point path")
    bars.nth(2).wait_for()
    assert bars.count() == 3
    bars.first.click(force=True)
    settle(page)
    heading = page.get_by_role("heading", name="Rows where origin =")
    heading.wait_for()
    no_exceptions(page)
    page.wait_for_url(re.compile(r"slice=0"))
    shoot(page, "analysis")


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_by_its_url_on_a_fresh_server(page, fresh_server, demo_ws, path):
    server = fresh_server(demo_ws.root)
    page.goto(f"{server.url}/{path}")
    settle(page)
    no_exceptions(page)
    assert h1(page) == PAGES[path]
    sidebar = page.locator("[data-testid='stSidebar']")
    for label in ("Data", "Train", "Error analysis"):
        sidebar.get_by_role("link", name=label).wait_for()


def test_a_copied_link_reopens_the_same_view(page, browser, demo_server):
    page.goto(f"{demo_server.url}/analysis")
    settle(page)
    choose(page, "Slice by", "carrier")
    choose(page, "Metric", "log loss")
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    bars = page.locator("[data-testid='stPlotlyChart'] g.point path")
    bars.nth(1).click(force=True)
    settle(page)
    title = page.get_by_role("heading", name="Rows where carrier =").inner_text()
    page.wait_for_url(re.compile(r"slice=1"))
    link = page.url
    assert {"run", "by", "metric", "slice"} <= set(parse_qs(urlparse(link).query))

    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(link)
    settle(other)
    no_exceptions(other)
    assert other.get_by_role("heading", name="Rows where carrier =").inner_text() == title
    other.get_by_text("log loss", exact=True).first.wait_for()
    other.context.close()


def test_errors_are_messages_in_the_page(page, demo_server):
    page.goto(demo_server.url)
    settle(page)
    editor = page.locator("textarea").first
    editor.fill("SELECT * FROM no_such_table")
    page.get_by_role("button", name="Preview").click()
    settle(page)
    alert = page.locator("[data-testid='stAlert']").filter(has_text="SQL error")
    assert "Catalog Error" in alert.inner_text()
    no_exceptions(page)


def test_find_problem_slices_and_save_one(page, scratch):
    server, ws = scratch
    page.goto(f"{server.url}/analysis?view=Find+problem+slices")
    settle(page)
    page.get_by_role("button", name="Find problem slices").click()
    page.get_by_text("candidates evaluated").wait_for(timeout=120_000)
    settle(page)
    no_exceptions(page)
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    shoot(page, "discover")
    # select the first slice with the grid's row checkbox: click at the left edge of the first data row
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 55)
    settle(page)
    heading = page.get_by_role("heading", name="Rows where")
    heading.wait_for()
    no_exceptions(page)
    # its breakdown: the run's metrics inside the slice against the rest of the holdout
    page.locator("[data-testid='stDataFrame']").nth(2).wait_for()  # found slices, slice vs rest, rows
    shoot(page, "discover-slice")
    page.get_by_role("textbox", name="Save this slice as").fill("worst_found")
    page.get_by_role("button", name="Save slice").click()
    settle(page)
    page.get_by_text("Saved: choose").wait_for()
    from workbench.store import saved
    assert "worst_found" in [s.name for s in saved.list_saved(ws)]


def test_a_saved_slice_is_a_column_of_the_breakdown(page, scratch):
    from workbench.store import saved
    server, ws = scratch
    run = runs.list_runs(ws)[0]
    saved.save(ws, "from_ewr", "origin = 'EWR'", run=run, predicate="origin = EWR")
    page.goto(f"{server.url}/analysis?run={run.run_id}")
    settle(page)
    choose(page, "Slice by", "slice:from_ewr")
    page.wait_for_function("""() => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle")]
        .some(e => e.textContent.includes('by slice:from_ewr'))""")
    bars = page.locator("[data-testid='stPlotlyChart'] g.point path")
    bars.nth(1).wait_for()
    assert bars.count() == 2  # inside the slice and outside it
    no_exceptions(page)


def test_grow_the_error_tree_and_open_a_node(page, demo_server):
    page.goto(f"{demo_server.url}/analysis?view=Error+tree")
    settle(page)
    page.get_by_role("button", name="Grow the error tree").click()
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for(timeout=120_000)
    settle(page)
    no_exceptions(page)
    shoot(page, "error-tree")
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 90)  # the second row: the root's first child
    settle(page)
    page.get_by_role("heading", name="Rows where").wait_for()
    page.get_by_text("WHERE").first.wait_for()
    no_exceptions(page)


def test_build_a_dataset_with_sql_in_the_browser(page, scratch):
    server, ws = scratch
    page.goto(server.url)
    settle(page)
    page.locator("textarea").first.fill("SELECT carrier, count(*) AS flights FROM flights GROUP BY carrier")
    page.get_by_role("button", name="Preview").click()
    settle(page)
    page.get_by_text("16 rows; first 16 shown. Nothing was written.").wait_for()
    page.get_by_role("textbox", name="Dataset name").fill("carrier_flights")
    page.get_by_role("button", name="Save dataset").click()
    settle(page)
    page.get_by_text("Saved carrier_flights v1: 16 rows").wait_for()
    page.get_by_role("link", name="Train a model on carrier_flights").wait_for()
    no_exceptions(page)
    from workbench.store import datasets
    assert datasets.load_version(ws, "carrier_flights").rows == 16
