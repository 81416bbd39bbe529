"""The Compare page in a real browser: opened by its URL on a fresh server, a pair of runs picked,
the overall table and the chart of slice differences drawn, a slice chosen by its bar, and the
retrain that up-weights it pressed, ending on the new run's comparison with the old one on that
slice. Each step waits for the state it leads to (a URL parameter, a chart's title, a table's
cell, a heading); see harness.py."""
from urllib.parse import urlencode

import pytest

import workbench as wb
from workbench.data import synthetic
from workbench.model import train
from workbench.render import compare_charts
from workbench.store import build

from harness import (Server, choose, click_point, expect, grid_cell, no_exceptions, settle, shoot, wait_for_params,
                     wait_long)

CHART = "[data-testid='stPlotlyChart']"
BARS = f"{CHART} g.point path"


def spec(seed: int, **params) -> train.TrainSpec:
    return train.TrainSpec("synth", "y", task="binary", split="time:ts", seed=seed, params=params)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A fresh server on a workspace with two runs on one time split (seeds and settings
    differ) and a third, newest, on the same split: (server, workspace, base, cand)."""
    root = tmp_path_factory.mktemp("compare_browser")
    ws = wb.Workspace.open(root)
    synthetic.write(root / "source.parquet", 3000, numeric=4, text=3, task="binary", seed=0)
    build.build(ws, "synth", "SELECT * FROM source")
    base = train.train(ws, spec(0))
    cand = train.train(ws, spec(1, num_leaves=7))
    train.train(ws, spec(2, num_leaves=63))  # the newest: the page's default pair is not the one picked
    server = Server(root)
    yield server, ws, base, cand
    server.stop()


def test_pick_runs_choose_a_slice_and_retrain_up_weighting_it(page, served):
    server, ws, base, cand = served
    page.goto(f"{server.url}/compare?{urlencode({'by': 'c0'})}")
    expect(page.locator("h1").first).to_have_text("Compare", use_inner_text=True)
    wait_for_params(page, by="c0")
    settle(page)
    choose(page, "Baseline", base.label())
    wait_for_params(page, baseline=base.run_id)
    settle(page)
    choose(page, "Candidate", cand.label())
    wait_for_params(page, baseline=base.run_id, candidate=cand.run_id, by="c0")
    c = wb.compare(base, cand, by=["c0"], min_size=20)
    title = page.locator(f"{CHART} .gtitle").filter(has_text="Change in error rate by slice")
    wait_long(title.first, "the chart of slice differences")
    overall = page.locator("[data-testid='stDataFrame']").first
    overall.scroll_into_view_if_needed()
    expect(grid_cell(overall, 0)).to_have_text("error rate")
    settle(page)
    no_exceptions(page)
    shoot(page, "compare")

    # a bar: its slice opens below, named in the URL
    ranked = compare_charts.ranked(c)
    click_point(page.locator(BARS).first)
    where = ranked["where"][0]
    wait_for_params(page, baseline=base.run_id, candidate=cand.run_id, slice=where)
    page.get_by_role("heading", name="The chosen slice").wait_for()
    settle(page)

    # close the loop: retrain the candidate with the slice up-weighted, then its comparison opens
    before = {r.run_id for r in wb.list_runs(ws)}
    button = page.get_by_role("button", name="Retrain up-weighting this slice")
    button.scroll_into_view_if_needed()
    button.click()
    wait_long(page.get_by_text("weighted ×3").first, "the new run's comparison")
    new = [r for r in wb.list_runs(ws) if r.run_id not in before]
    assert len(new) == 1
    wait_for_params(page, baseline=cand.run_id, candidate=new[0].run_id, slice=where)
    assert (new[0].record.weighting["where"], new[0].record.weighting["factor"]) == (where, 3.0)
    page.get_by_role("heading", name="The chosen slice").wait_for()
    settle(page)
    no_exceptions(page)
    shoot(page, "compare-retrained")


def test_an_error_analysis_link_opens_the_retrain_of_its_run(page, served):
    server, ws, base, _ = served
    where = "c0 = 'a' AND x0 > 1"
    page.goto(f"{server.url}/compare?{urlencode({'baseline': base.run_id, 'upweight': where})}")
    page.get_by_role("heading", name="Retrain up-weighting a slice").wait_for()
    expect(page.get_by_role("button", name="Retrain up-weighting this slice").first).to_be_visible()
    wait_for_params(page, baseline=base.run_id, upweight=where)
    settle(page)
    no_exceptions(page)
