"""The run view's threshold slider and importing predictions made elsewhere, in a real browser.

Each step waits for the state it leads to (a URL parameter, a table's text, a heading); see
harness.py."""
import re

import numpy as np
import polars as pl

from harness import expect, no_exceptions, settle, wait_for_params, wait_long
from workbench.analysis.thresholds import at_threshold
from workbench.data import demo
from workbench.store import build, datasets, runs

TABLE = "[data-testid='stTable']"


def _cells(v) -> tuple[str, str]:
    """The confusion matrix's true-positive cell and the F1 cell as the run view prints them."""
    f1 = v.metrics.filter(pl.col("metric") == "f1").row(0, named=True)
    return f"{v.tp:,} ({v.tp / v.n:.1%})", f"{f1['value']:.3g} [{f1['ci_low']:.3g}, {f1['ci_high']:.3g}]"


def test_moving_the_threshold_slider_changes_the_confusion_matrix_and_f1(page, demo_server):
    run = [r for r in runs.list_runs(runs.Workspace.open(demo_server.workspace)) if r.task == "binary"][0]
    page.goto(f"{demo_server.url}/train?run={run.run_id}")
    confusion, metrics = page.locator(TABLE).nth(0), page.locator(TABLE).nth(1)
    tp, f1 = _cells(at_threshold(run, 0.5))
    expect(confusion).to_contain_text(tp)
    expect(metrics).to_contain_text(f1)
    settle(page)
    slider = page.get_by_role("slider")
    expect(slider).to_have_count(1)
    slider.focus()
    for _ in range(5):  # 0.50 -> 0.55, a step a press
        page.keyboard.press("ArrowRight")
    wait_for_params(page, threshold="0.55", run=run.run_id)
    moved_tp, moved_f1 = _cells(at_threshold(run, 0.55))
    assert (moved_tp, moved_f1) != (tp, f1)
    expect(confusion).to_contain_text(moved_tp)
    expect(metrics).to_contain_text(moved_f1)
    expect(page.locator("[data-testid='stPlotlyChart'] .legendtext").filter(has_text="threshold 0.55")).to_have_count(2)
    settle(page)
    no_exceptions(page)


def test_imported_predictions_land_on_their_run_view(page, scratch, tmp_path):
    server, ws = scratch
    build.build(ws, "keyed", f"SELECT row_number() OVER () AS id, * FROM {demo.DATASET} USING SAMPLE 3000 ROWS")
    ids = pl.read_parquet(datasets.load_version(ws, "keyed").path, columns=["id"])["id"]
    rng = np.random.default_rng(0)
    upload = tmp_path / "prod_scores.parquet"
    pl.DataFrame({"id": ids[:2000], "score": rng.random(2000)}).write_parquet(upload)
    page.goto(f"{server.url}/train?dataset=keyed")
    settle(page)
    page.get_by_text("Review predictions made elsewhere").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(upload))
    button = page.get_by_role("button", name="Import predictions")
    button.wait_for()
    expect(page.get_by_label("Run name")).to_have_value("prod_scores")
    settle(page)
    button.click()
    wait_for_params(page, run="prod_scores")
    wait_long(page.get_by_role("heading", name="Run prod_scores"), "the imported run's heading")
    run = runs.load_run(ws, "prod_scores")
    assert run.record.source["rows_matched"] == 2000
    expect(page.locator(TABLE).first).to_contain_text(_cells(at_threshold(run, 0.5))[0])
    expect(page.get_by_text(re.compile(r"predictions imported from\s*prod_scores\.parquet\s*on key\s*id:"))).to_be_visible()
    settle(page)
    no_exceptions(page)
