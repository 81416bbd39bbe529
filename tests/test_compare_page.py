"""The Compare page through its widgets (AppTest), and the figures it draws from a comparison.

Two runs trained on the same synthetic dataset with the same time split (seeds and settings
differ) are comparable; a run imported from the baseline's own scores turned around on one slice
(``c0 = 'b'``) is a planted regression; a run on a random split is not comparable. Every number the
page shows is checked against ``wb.compare``; each verdict against its definition and, under the
null, against its nominal false-alarm rate. Rendering, clicks and deep links on a real server are
in tests/browser/test_compare_in_browser.py."""
import math
from urllib.parse import urlencode
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from test_app import assert_clean, page as open_page
from test_safe import shown
import compare_panel
import workbench as wb
from workbench.data import synthetic
from workbench.model import train
from workbench.render import charts, compare_charts
from workbench.render.safe import md_text
from workbench.stats.paired import paired_means, paired_rates
from workbench.store import build

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


def page(**params):
    return open_page("pages/compare.py", **params)


def text(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.text])


def plain(s: str) -> str:
    """Markdown's escapes undone, as the reader sees the text."""
    return shown(s)


def spec(seed: int, split: str = "time:ts", **params) -> train.TrainSpec:
    return train.TrainSpec("synth", "y", task="binary", split=split, seed=seed, drop=("id",), params=params)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(workspace, runs): base and cand trained on one time split, planted imported from base's
    scores turned around where c0 = 'b', other on a random split (not comparable)."""
    root = tmp_path_factory.mktemp("compare_page")
    ws = wb.Workspace.open(root)
    synthetic.write(root / "source.parquet", 2500, numeric=4, text=3, task="binary", seed=0)
    build.build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source")
    base = train.train(ws, spec(0))
    cand = train.train(ws, spec(1, num_leaves=7))
    preds = pl.read_parquet(base.predictions)
    flipped = preds.select("id", pl.when(pl.col("c0") == "b").then(1 - pl.col("_score")).otherwise(pl.col("_score"))
                           .alias("p"))
    flipped.write_parquet(root / "planted.parquet")
    planted = wb.import_predictions(ws, "planted", dataset="synth", file=root / "planted.parquet", key="id",
                                    target="y", score="p")
    other = train.train(ws, spec(0, split="random"))
    return ws, {"base": base, "cand": cand, "planted": planted, "other": other}


@pytest.fixture
def on(made, monkeypatch):
    ws, runs = made
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(ws.root))
    return ws, runs


# --- the figures, from a comparison -------------------------------------------------------------

@pytest.fixture(scope="module")
def planted_comparison(made):
    _, runs = made
    return wb.compare(runs["base"], runs["planted"], by=["c0", "c1"])


def test_ranked_puts_regressions_first_then_the_worst(planted_comparison):
    c = planted_comparison
    t = compare_charts.ranked(c)
    assert t.height == c.slices.height and set(t["where"]) == set(c.slices["where"])
    flags = t["regression"].to_list()
    assert flags == sorted(flags, reverse=True)  # every regression above every other slice
    assert t.filter(pl.col("regression"))["value"].to_list()[:1] == ["b"]  # the planted slice
    rest = t.filter(~pl.col("regression"))["delta"].drop_nulls().to_list()
    assert rest == sorted(rest, reverse=True)  # error rate: a larger delta is worse
    # outcome: regression exactly where the core says so; improvement only where q < FDR and better
    for r in t.iter_rows(named=True):
        assert (r["outcome"] == "regression") == r["regression"]
        if r["outcome"] == "improvement":
            assert r["q_value"] < compare_charts.FDR and r["delta"] < 0


def test_the_delta_chart_draws_each_slice_with_its_interval_and_color(planted_comparison):
    c = planted_comparison
    t = compare_charts.ranked(c)
    fig = compare_charts.delta_chart(c)
    bar = fig.data[0]
    assert list(bar.customdata) == list(range(t.height))
    assert list(bar.x) == pytest.approx(t["delta"].fill_null(0).to_list())
    # whiskers reach the paired interval's ends
    ends_high = np.array(bar.x) + np.array(bar.error_x.array)
    ends_low = np.array(bar.x) - np.array(bar.error_x.arrayminus)
    assert ends_high == pytest.approx(t["ci_high"].to_numpy()) and ends_low == pytest.approx(t["ci_low"].to_numpy())
    colors = list(bar.marker.color)
    assert [i for i, col in enumerate(colors) if col == charts.BAD] == \
        [i for i, r in enumerate(t["regression"]) if r]
    assert list(bar.y)[0] == "c0 = b"
    assert fig.layout.title.text.startswith("Change in error rate by slice")
    assert fig.layout.xaxis.title.text == "difference in error rate" and fig.layout.yaxis.title.text == "slice"
    assert fig.layout.title.automargin and fig.layout.title.yref == "container"
    short = compare_charts.delta_chart(c, max_slices=3)
    assert len(short.data[0].y) == 3 and f"first 3 of {c.slices.height}" in short.layout.title.text


def test_slice_labels_are_plain_text_in_the_chart():
    row = {"column": "c0", "value": "<b>x</b>", "source": "column", "filters": None}
    assert compare_charts.slice_label(row) == "c0 = <b>x</b>"
    found = {"column": "c0, x0", "value": "a and (1, 2]", "source": "found",
             "filters": {"column": ["c0", "x0"], "value": ["a", "(1, 2]"]}}
    assert compare_charts.slice_label(found) == "c0 = a and x0 = (1, 2] (found)"
    # the page's escaper is the shared one, whose rendering tests/test_safe.py checks against markdown-it
    assert compare_panel.md is md_text


@pytest.mark.parametrize("metric, delta, ci, p, said", [
    ("error_rate", 0.02, (0.01, 0.03), 0.001, "worse"),
    ("error_rate", -0.02, (-0.03, -0.01), 0.001, "better"),
    ("roc_auc", 0.02, (0.01, 0.03), 0.001, "better"),
    ("roc_auc", -0.02, (-0.03, -0.01), 0.001, "worse"),
    ("error_rate", 0.02, (-0.001, 0.03), 0.04, "no clear difference"),  # p and interval disagree: unclear
    ("error_rate", 0.02, (0.001, 0.03), 0.06, "no clear difference"),
    ("log_loss", 0.0, (0.0, 0.0), 1.0, "no clear difference"),
    ("error_rate", 0.02, (None, None), float("nan"), "no test possible"),
    ("new_metric", 0.02, (0.01, 0.03), 0.001, "higher"),
])
def test_verdicts(metric, delta, ci, p, said):
    assert compare_charts.verdict(metric, delta, ci, p) == said


@pytest.mark.parametrize("kind", ["rates", "means"])
def test_a_verdict_raises_false_alarms_at_no_more_than_the_nominal_rate(kind):
    """Two equally good models (exchangeable errors on the same rows): how often the page says
    'better' or 'worse'. The paired t is exact here, so near 5%; McNemar with its correction is
    conservative."""
    rng = np.random.default_rng(12)
    reps, n = 2000, 400
    alarms = 0
    for _ in range(reps):
        if kind == "rates":
            shared = rng.random(n) < 0.2
            a, b = shared ^ (rng.random(n) < 0.1), shared ^ (rng.random(n) < 0.1)
            s, metric = paired_rates(a, b), "error_rate"
        else:
            base = rng.gamma(2.0, size=n)
            a, b = base + rng.normal(size=n), base + rng.normal(size=n)
            s, metric = paired_means(a, b), "log_loss"
        said = compare_charts.verdict(metric, s.delta[0], (s.ci_low[0], s.ci_high[0]), s.p_value[0])
        alarms += said in ("better", "worse")
    rate = alarms / reps
    print(f"false-alarm rate of the verdict ({kind}): {rate:.4f} over {reps} null comparisons")
    assert rate <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / reps)  # nominal, with room for the draw's own noise
    # and it does see a real difference
    a = rng.random(n) < 0.2
    worse = a | (rng.random(n) < 0.1)
    s = paired_rates(a, worse)
    assert compare_charts.verdict("error_rate", s.delta[0], (s.ci_low[0], s.ci_high[0]), s.p_value[0]) == "worse"


def test_the_overall_table_lists_every_metric_the_core_gives(planted_comparison):
    c = planted_comparison
    t = compare_charts.overall_table(c)
    assert t.height == len(c.overall)
    for r, (metric, e) in zip(t.iter_rows(named=True), c.overall.items()):
        assert r["metric"] == charts.METRIC_LABELS.get(metric, metric)
        assert (r["baseline"], r["candidate"], r["delta"]) == pytest.approx((e["baseline"], e["candidate"], e["delta"]))
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(e["ci"]))
        assert r["method"] == c.method[metric]
    assert t.filter(pl.col("metric") == "error rate")["verdict"].item() == "worse"


# --- the page ---------------------------------------------------------------------------------

def test_the_page_opens_on_a_comparable_pair_and_writes_it_into_the_url(on):
    ws, runs = on
    at = page()
    assert_clean(at)
    assert at.title[0].value == "Compare"
    base, cand = at.query_params["baseline"], at.query_params["candidate"]
    assert base != cand and compare_panel.comparable(wb.load_run(ws, base), wb.load_run(ws, cand))
    # the candidate is offered among comparable runs only: never the random-split run
    offered = at.selectbox(key="c_candidate").options  # as the reader sees them: run labels
    comparable = [r.label() for r in wb.list_runs(ws)
                  if compare_panel.comparable(wb.load_run(ws, base), r)]
    assert offered == comparable and runs["other"].label() not in offered
    assert at.query_params["by"] == "c0"
    c = wb.compare(wb.load_run(ws, base), wb.load_run(ws, cand), by=["c0"], bins=5, min_size=20)
    overall = at.dataframe[0].value
    assert overall["metric"].tolist() == [charts.METRIC_LABELS.get(m, m) for m in c.overall]
    assert overall["delta"].tolist() == pytest.approx([e["delta"] for e in c.overall.values()])
    assert overall["p_value"].tolist() == pytest.approx([e["p_value"] for e in c.overall.values()])
    slices = at.dataframe[1].value
    assert slices["value"].tolist() == compare_charts.ranked(c)["value"].to_list()
    assert slices["n"].sum() == c.n  # every holdout row in one slice of c0
    shown = plain(text(at))
    for how in c.method.values():
        assert how in shown
    assert "Benjamini-Hochberg false discovery rate" in shown


def test_the_page_opens_through_app_py(on):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/compare.py").run()
    assert_clean(at)
    assert at.title[0].value == "Compare"


def test_a_link_reopens_the_pair_columns_and_chosen_slice(on):
    ws, runs = on
    base, planted = runs["base"], runs["planted"]
    c = wb.compare(base, planted, by=["c0", "x0"], bins=4, min_size=20)
    where = c.slices.filter((pl.col("column") == "c0") & (pl.col("value") == "b"))["where"].item()
    at = page(baseline=base.run_id, candidate=planted.run_id, by="c0,x0", bins="4", slice=where)
    assert_clean(at)
    assert at.selectbox(key="c_baseline").value == base.run_id
    assert at.selectbox(key="c_candidate").value == planted.run_id
    assert at.multiselect(key="c_by").value == ["c0", "x0"]
    assert at.number_input(key="c_bins").value == 4
    assert at.query_params["slice"] == where
    assert any(s.value == "The chosen slice" for s in at.subheader)
    assert "c0 = b" in [t.value for t in at.text]
    row = c.slices.filter(pl.col("where") == where).row(0, named=True)
    shown = plain(text(at))
    assert f"baseline {row['baseline']:.4g}, candidate {row['candidate']:.4g}" in shown
    assert "**worse** (a regression)" in shown
    # each run's own metrics on the slice, side by side
    both = at.dataframe[2].value
    a = wb.slice_vs_rest(base, where)
    assert both["value"].tolist() == pytest.approx(a["value"].to_list(), nan_ok=True)
    # an imported candidate: the loop cannot be closed from it
    assert not [b for b in at.button if b.label == "Retrain up-weighting this slice"]
    assert "cannot be retrained here" in plain(text(at) + "\n".join(i.value for i in at.info))


def test_an_incomparable_pair_is_the_cores_message_not_a_traceback(on):
    ws, runs = on
    at = page(baseline=runs["base"].run_id, candidate=runs["other"].run_id)
    assert not at.exception
    with pytest.raises(wb.WorkbenchError) as said:
        wb.compare(runs["base"], runs["other"], by=["c0"], min_size=20)
    assert [plain(e.value) for e in at.error] == [str(said.value)]  # shown literally, markdown escaped
    # the toggle lists every run, and picking one that cannot be compared says why
    at = page(baseline=runs["base"].run_id)
    assert runs["other"].label() not in at.selectbox(key="c_candidate").options
    at.toggle(key="c_all_runs").set_value(True).run()
    at.selectbox(key="c_candidate").set_value(runs["other"].run_id).run()
    assert not at.exception
    assert at.error and "cannot be compared" in plain(at.error[0].value)


def _fake_retrain(ws, calls):
    """A stand-in with retrain's signature: trains the same spec with another seed, reporting
    progress, so that the page's wiring is tested whatever retrain does inside."""
    def retrain(ws_, run, *, upweight=None, factor=3.0, drop=(), add=(), progress=None):
        calls.append({"run": run.run_id, "upweight": upweight, "factor": factor, "drop": tuple(drop),
                      "add": tuple(add)})
        return train.train(ws_, spec(7), progress=progress)
    return retrain


def test_retrain_from_a_chosen_slice_opens_the_new_comparison_on_that_slice(on, monkeypatch):
    ws, runs = on
    calls = []
    monkeypatch.setattr(wb, "retrain", _fake_retrain(ws, calls), raising=False)
    base, cand = runs["base"], runs["cand"]
    c = wb.compare(base, cand, by=["c0"], min_size=20)
    where = c.slices["where"][0]
    at = page(baseline=base.run_id, candidate=cand.run_id, by="c0", slice=where)
    assert_clean(at)
    submit = [b for b in at.button if b.label == "Retrain up-weighting this slice"]
    assert len(submit) == 1
    submit[0].click().run()
    assert_clean(at)
    assert calls == [{"run": cand.run_id, "upweight": where, "factor": 3.0, "drop": (), "add": ()}]
    new = wb.list_runs(ws)[0].run_id
    assert at.query_params["baseline"] == cand.run_id and at.query_params["candidate"] == new
    assert at.selectbox(key="c_baseline").value == cand.run_id
    assert at.selectbox(key="c_candidate").value == new
    assert at.query_params["slice"] == where  # the up-weighted slice opens in the new comparison
    assert any(s.value == "The chosen slice" for s in at.subheader)


def test_an_error_analysis_link_offers_the_retrain_of_its_run(on, monkeypatch):
    ws, runs = on
    calls = []
    monkeypatch.setattr(wb, "retrain", _fake_retrain(ws, calls), raising=False)
    where = "c0 = 'a' AND x0 > 1"
    at = page(baseline=runs["base"].run_id, upweight=where)
    assert_clean(at)
    assert where in [c.value for c in at.code][0]
    form_factor = [n for n in at.number_input if n.label == "Weight factor"][0]
    assert form_factor.value == 3.0
    form_factor.set_value(5.0)
    [m for m in at.multiselect if m.label == "Drop columns"][0].set_value(["x3"])
    [b for b in at.button if b.label == "Retrain up-weighting this slice"][0].click().run()
    assert_clean(at)
    assert calls == [{"run": runs["base"].run_id, "upweight": where, "factor": 5.0, "drop": ("x3",), "add": ()}]
    assert "upweight" not in at.query_params
    assert at.query_params["baseline"] == runs["base"].run_id
    assert at.query_params["candidate"] == wb.list_runs(ws)[0].run_id


def test_an_imported_run_cannot_be_retrained(on):
    ws, runs = on
    at = page(baseline=runs["planted"].run_id, upweight="c0 = 'b'")
    assert not at.exception
    assert any("cannot be retrained here" in plain(i.value) for i in at.info)
    assert not [b for b in at.button if b.label == "Retrain up-weighting this slice"]


def test_the_error_analysis_rows_link_to_the_retrain(on):
    ws, runs = on
    where = wb.breakdown(runs["base"], ["c0"]).slices.filter(pl.col("c0") == "b")["where"].item()
    at = open_page("pages/analysis.py", run=runs["base"].run_id, by="c0", slice=where)
    assert not at.exception
    links = [m.value for m in at.markdown if "Retrain up-weighting this slice" in m.value]
    assert links and "/compare?" in links[0] and f"baseline={runs['base'].run_id}" in links[0]
    assert urlencode({"upweight": where}) in links[0]
    at = open_page("pages/analysis.py", run=runs["planted"].run_id, by="c0", slice=where)
    assert not at.exception
    assert not [m for m in at.markdown if "Retrain up-weighting" in m.value]
    assert any("cannot be retrained here" in c.value for c in at.caption)


@pytest.mark.skipif(not (ROOT / "workbench" / "model" / "retrain.py").is_file(),
                    reason="workbench/model/retrain.py is not written yet")
def test_the_real_retrain_weights_the_slice_and_is_compared_with_its_run(on):
    ws, runs = on
    cand = runs["cand"]
    c = wb.compare(runs["base"], cand, by=["c0"], min_size=20)
    where = c.slices["where"][0]
    at = page(baseline=runs["base"].run_id, candidate=cand.run_id, by="c0", slice=where)
    [b for b in at.button if b.label == "Retrain up-weighting this slice"][0].click().run()
    assert_clean(at)
    new = wb.load_run(ws, at.query_params["candidate"])
    assert new.record.weighting["where"] == where and new.record.weighting["factor"] == 3.0
    assert at.query_params["baseline"] == cand.run_id and at.query_params["slice"] == where
    assert "was trained with the rows of this slice weighted" in plain(text(at))


def test_finding_where_the_candidate_got_worse_adds_found_slices(on):
    ws, runs = on
    at = page(baseline=runs["base"].run_id, candidate=runs["planted"].run_id, by="c1")
    assert_clean(at)
    at.toggle(key="c_find").set_value(True).run()
    assert_clean(at)
    assert at.query_params["find"] == "1"
    c = wb.compare(runs["base"], runs["planted"], by=["c1"], min_size=20, find=True)
    shown = at.dataframe[1].value
    assert shown["source"].tolist() == compare_charts.ranked(c)["source"].to_list()
    assert shown["n"].tolist() == compare_charts.ranked(c)["n"].to_list()


def test_without_two_comparable_runs_the_page_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    at = page()  # an empty workspace: the demo is set up, with no run yet
    assert not at.exception and not at.error
    assert at.info and at.info[0].value == "No runs yet: train a model first."
    ws = wb.Workspace.open(tmp_path)
    synthetic.write(tmp_path / "source.parquet", 600, numeric=3, text=2, task="binary", seed=0)
    build.build(ws, "synth", "SELECT * FROM source")
    only = train.train(ws, train.TrainSpec("synth", "y", task="binary", split="time:ts"))
    at = page()
    assert not at.exception and not at.error
    assert at.query_params["baseline"] == only.run_id
    assert "No other run scored the same holdout rows" in plain(at.info[0].value)
