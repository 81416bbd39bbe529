"""The workbench as its users meet it: a real server, a real browser, real clicks.

Each step waits for the state it leads to (a URL parameter, a heading, a count) before the
next; see harness.py."""
import re
from urllib.parse import parse_qs, urlparse

import pytest

from workbench.store import runs

import workbench as wb
from harness import (choose, click_point, expect, grid_cell, no_exceptions, select_row, settle, shoot,
                     wait_for_params, wait_long)

PAGES = {"data": "Data", "train": "Train a baseline", "analysis": "Error analysis", "explain": "Explain",
         "compare": "Compare"}
CHART = "[data-testid='stPlotlyChart']"
BARS = f"{CHART} g.point path"


def h1(page):
    return page.locator("h1").first


def chart_titled(page, text: str):
    """The slice chart once its title names ``text`` (e.g. 'log loss by carrier')."""
    title = page.locator(f"{CHART} .gtitle").filter(has_text=text)
    title.wait_for()
    return title


def test_demo_from_an_empty_workspace_to_a_trained_run(page, fresh_server, tmp_path):
    server = fresh_server()
    page.goto(server.url)
    settle(page)
    expect(h1(page)).to_have_text("Data", use_inner_text=True)
    page.get_by_text("flights · 336,776 rows").wait_for()
    shoot(page, "data")
    page.get_by_role("link", name="Train").first.click()
    page.wait_for_url(re.compile(r"/train(\?|$)"))
    expect(h1(page)).to_have_text("Train a baseline", use_inner_text=True)
    settle(page)
    choose(page, "Split", "time: latest 20% held out")  # inside the form: no rerun until Train
    page.get_by_role("button", name="Train").click()
    wait_long(page.get_by_text("Run 20"), "the trained run's heading after clicking Train")
    charts = page.locator(CHART)
    expect(charts).to_have_count(3)  # ROC, PR, calibration
    settle(page)
    no_exceptions(page)
    shoot(page, "train")
    [run] = runs.list_runs(runs.Workspace.open(tmp_path))
    expect(page.get_by_role("heading", name=f"Run {run.run_id}")).to_be_visible()
    wait_for_params(page, run=run.run_id)
    assert run.record.split.kind == "time"


def test_slice_breakdown_and_a_click_on_a_bar_opens_its_rows(page, demo_server):
    page.goto(f"{demo_server.url}/analysis")
    settle(page)
    choose(page, "Slice by", "origin")
    wait_for_params(page, by="origin")
    page.get_by_text(re.compile(r"· 3 slices ·")).wait_for()  # the summary line, not the q caption
    chart_titled(page, "by origin")
    bars = page.locator(BARS)
    expect(bars).to_have_count(3)
    settle(page)
    click_point(bars.first)
    heading = page.get_by_role("heading", name="Rows where origin =")
    heading.wait_for()
    run = runs.list_runs(runs.Workspace.open(demo_server.workspace))[0]
    wait_for_params(page, by="origin", slice=wb.breakdown(run, ["origin"]).slices["where"][0])
    settle(page)
    no_exceptions(page)
    shoot(page, "analysis")


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_by_its_url_on_a_fresh_server(page, fresh_server, demo_ws, path):
    server = fresh_server(demo_ws.root)
    page.goto(f"{server.url}/{path}")
    settle(page)
    no_exceptions(page)
    expect(h1(page)).to_have_text(PAGES[path], use_inner_text=True)
    sidebar = page.locator("[data-testid='stSidebar']")
    for label in ("Data", "Train", "Error analysis"):
        sidebar.get_by_role("link", name=label).wait_for()


def test_the_last_choice_wins_between_a_bar_and_a_table_row(page, demo_server):
    page.goto(f"{demo_server.url}/analysis")
    settle(page)
    choose(page, "Slice by", "origin")
    wait_for_params(page, by="origin")
    chart_titled(page, "by origin")
    run = runs.list_runs(runs.Workspace.open(demo_server.workspace))[0]
    table = wb.breakdown(run, ["origin"]).slices
    settle(page)
    click_point(page.locator(BARS).first)  # the chart's first bar is the table's first row
    heading = page.get_by_role("heading", name="Rows where origin =")
    expect(heading).to_have_text(f"Rows where origin = {table['origin'][0]}", use_inner_text=True)
    settle(page)
    grid = page.locator("[data-testid='stDataFrame']").first
    select_row(grid, 2)  # then a table row: its slice, not the bar's
    expect(heading).to_have_text(f"Rows where origin = {table['origin'][2]}", use_inner_text=True)
    wait_for_params(page, by="origin", slice=table["where"][2])
    settle(page)
    click_point(page.locator(BARS).first)  # and the first bar again: the bar's, though it was clicked before
    expect(heading).to_have_text(f"Rows where origin = {table['origin'][0]}", use_inner_text=True)
    wait_for_params(page, by="origin", slice=table["where"][0])
    settle(page)
    no_exceptions(page)


def test_a_copied_link_reopens_the_same_view(page, browser, demo_server):
    page.goto(f"{demo_server.url}/analysis")
    settle(page)
    choose(page, "Slice by", "carrier")
    wait_for_params(page, by="carrier")
    settle(page)
    choose(page, "Metric", "log loss")
    wait_for_params(page, by="carrier", metric="log_loss")
    chart_titled(page, "log loss by carrier")
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    settle(page)
    click_point(page.locator(BARS).nth(1))
    heading = page.get_by_role("heading", name="Rows where carrier =")
    heading.wait_for()
    run = runs.list_runs(runs.Workspace.open(demo_server.workspace))[0]
    where = wb.breakdown(run, ["carrier"], metric="log_loss").slices["where"][1]
    wait_for_params(page, by="carrier", metric="log_loss", slice=where)
    settle(page)
    title = heading.inner_text()
    link = page.url
    assert {"run", "by", "metric", "slice"} <= set(parse_qs(urlparse(link).query))

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    try:
        other = context.new_page()
        other.goto(link)
        settle(other)
        no_exceptions(other)
        expect(other.get_by_role("heading", name="Rows where carrier =")).to_have_text(title, use_inner_text=True)
        other.get_by_text("log loss", exact=True).first.wait_for()
    finally:
        context.close()


def test_errors_are_messages_in_the_page(page, demo_server):
    page.goto(demo_server.url)
    settle(page)
    editor = page.locator("textarea").first
    editor.fill("SELECT * FROM no_such_table")
    page.get_by_role("button", name="Preview").click()
    alert = page.locator("[data-testid='stAlert']").filter(has_text="SQL error")
    expect(alert).to_contain_text("Catalog Error")
    settle(page)
    no_exceptions(page)


def test_find_problem_slices_and_save_one(page, scratch):
    server, ws = scratch
    page.goto(f"{server.url}/analysis?view=Find+problem+slices&perm=5")  # few shuffles: a quick search
    settle(page)
    page.get_by_role("button", name="Find problem slices").click()
    wait_long(page.get_by_text("candidates evaluated"), "the search's summary after 'Find problem slices'")
    settle(page)
    no_exceptions(page)
    tables = page.locator("[data-testid='stDataFrame']")
    table = tables.first
    table.wait_for()
    shoot(page, "discover")
    # select the first slice (the grid's first row) and wait for its rows, under its predicate
    predicate = grid_cell(table, 0).text_content()
    select_row(table, 0)
    expect(page.get_by_role("heading", name="Rows where")).to_have_text(f"Rows where {predicate}")
    # its breakdown: the run's metrics inside the slice against the rest of the holdout
    expect(tables).to_have_count(4)  # found slices, the search half's (folded away), slice vs rest, rows
    settle(page)
    no_exceptions(page)
    shoot(page, "discover-slice")
    page.get_by_role("textbox", name="Save this slice as").fill("worst_found")
    page.get_by_role("button", name="Save slice").click()
    page.get_by_text("Saved: choose").wait_for()
    settle(page)
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
    wait_for_params(page, run=run.run_id, by="slice:from_ewr")
    chart_titled(page, "by slice:from_ewr")
    expect(page.locator(BARS)).to_have_count(2)  # inside the slice and outside it
    settle(page)
    no_exceptions(page)


def test_grow_the_error_tree_and_open_a_node(page, demo_server):
    page.goto(f"{demo_server.url}/analysis?view=Error+tree")
    settle(page)
    page.get_by_role("button", name="Grow the error tree").click()
    table = page.locator("[data-testid='stDataFrame']").first
    wait_long(table, "the error tree's table after 'Grow the error tree'")
    settle(page)
    no_exceptions(page)
    shoot(page, "error-tree")
    # the second row: the root's first child, whose one condition is its node's label
    node = grid_cell(table, 1).text_content().strip()
    select_row(table, 1)
    expect(page.get_by_role("heading", name="Rows where")).to_have_text(f"Rows where {node}")
    page.get_by_text("WHERE").first.wait_for()
    settle(page)
    no_exceptions(page)


def test_build_a_dataset_with_sql_in_the_browser(page, scratch):
    server, ws = scratch
    page.goto(server.url)
    settle(page)
    page.locator("textarea").first.fill("SELECT carrier, count(*) AS flights FROM flights GROUP BY carrier")
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("16 rows; first 16 shown. Nothing was written.").wait_for()
    settle(page)
    page.get_by_role("textbox", name="Dataset name").fill("carrier_flights")
    page.get_by_role("button", name="Save dataset").click()
    page.get_by_text("Saved carrier_flights v1: 16 rows").wait_for()
    page.get_by_role("link", name="Train a model on carrier_flights").wait_for()
    settle(page)
    no_exceptions(page)
    from workbench.store import datasets
    assert datasets.load_version(ws, "carrier_flights").rows == 16
