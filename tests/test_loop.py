"""Closing the loop: an up-weighted slice reaches LightGBM (and the baselines), the run records it,
retrain() rebuilds a run's spec with one change, and bad requests are refused in one line."""
import polars as pl
import pyarrow.parquet as pq
import pytest

import workbench as wb
from workbench import WorkbenchError
from workbench.engine import parse_condition
from workbench.model import train
from workbench.model.retrain import spec_of
from workbench.model.splits import make_split
from workbench.data import synthetic
from workbench.store import build, datasets

SLICE = "c0 = 'b'"


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """A workspace with a binary dataset and one plain run on a time split."""
    root = tmp_path_factory.mktemp("loop")
    ws = wb.Workspace.open(root)
    synthetic.write(root / "source.parquet", 3000, numeric=4, text=3, task="binary", seed=0)
    build.build(ws, "synth", "SELECT row_number() OVER () AS id, * FROM source")
    base = train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=0, drop=("id",)))
    return ws, base


def _model(run) -> str:
    return run.model_path.read_text().split("parameters:")[0]  # the trees, without the run's settings


def test_weights_reach_lightgbm_and_the_record(loop):
    ws, base = loop
    heavy = train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=0, drop=("id",), upweight=SLICE,
                                            upweight_factor=5.0))
    one = train.train(ws, train.TrainSpec("synth", "y", split="time:ts", seed=0, drop=("id",), upweight=SLICE,
                                          upweight_factor=1.0))
    assert _model(heavy) != _model(base)  # the factor changes the trees
    assert _model(one) == _model(base)    # a factor of 1 weighs every row alike: the identical model
    assert heavy.metrics["linear"] != base.metrics["linear"]  # the linear baseline is weighted too
    w = heavy.record.weighting
    assert w["factor"] == 5.0 and w["where"] == parse_condition(SLICE) and base.record.weighting is None
    # the holdout stays unweighted: the metrics are the plain means over the predictions written
    preds = pl.read_parquet(heavy.predictions)
    assert heavy.metrics["lightgbm"]["log_loss"] == pytest.approx(preds["_loss"].mean(), rel=1e-9)


def test_the_weighted_row_count_is_the_training_rows_inside_the_slice(loop):
    """Oracle: the split remade from the spec, and the slice counted on its training rows."""
    ws, _ = loop
    table = pq.read_table(datasets.load_version(ws, "synth", None).path)
    spec = train.TrainSpec("synth", "y", split="random", seed=3, upweight=SLICE, upweight_factor=4.0)
    fitted = train.fit(table, spec)
    frame = pl.from_arrow(table).with_row_index("_row").filter(pl.col("y").is_not_null())
    y = frame["y"].replace_strict(list(fitted.classes), [0, 1], return_dtype=pl.Int64).to_numpy()
    split = make_split(frame, "random", y, "binary", seed=3)
    inside = (frame["c0"] == "b").fill_null(False).to_numpy()
    assert fitted.weighting["train_rows_weighted"] == int(inside[split.train].sum()) > 0
    assert fitted.record("r", "now", None).weighting == fitted.weighting


def test_retrain_keeps_the_spec_and_changes_one_thing(loop):
    ws, base = loop
    new = wb.retrain(ws, base, upweight=SLICE, factor=3.0, drop=["x1"])
    r, b = new.record, base.record
    assert (r.dataset, r.target, r.task, r.split.kind, r.split.column, r.seed) == \
        (b.dataset, b.target, b.task, b.split.kind, b.split.column, b.seed)
    assert {k: v for k, v in r.params.items()} == b.params
    assert r.weighting["factor"] == 3.0 and "x1" in r.dropped and "x1" not in r.features
    # the same holdout rows: the comparison is paired, and the slice is there to look at
    c = wb.compare(base, new, by=["c0"])
    assert c.n == b.split.n_holdout
    back = wb.retrain(ws, new, add=["x1"])  # adds back what it dropped; keeps the up-weighting
    assert "x1" in back.record.features and back.record.weighting == r.weighting
    assert spec_of(back).upweight == r.weighting["where"]
    heavier = wb.retrain(ws, new, factor=6.0)  # a factor alone re-weighs the old run's slice
    assert heavier.record.weighting["where"] == r.weighting["where"] and heavier.record.weighting["factor"] == 6.0


def test_refusals_are_one_clear_line(loop, tmp_path):
    ws, base = loop
    for factor in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(WorkbenchError, match="Invalid up-weight factor"):
            train.train(ws, train.TrainSpec("synth", "y", upweight=SLICE, upweight_factor=factor))
    with pytest.raises(WorkbenchError, match=r"selects none of the .* training rows"):
        train.train(ws, train.TrainSpec("synth", "y", upweight="c0 = 'no such value'"))
    with pytest.raises(WorkbenchError, match="does not apply to dataset 'synth'"):
        train.train(ws, train.TrainSpec("synth", "y", upweight="nope > 1"))
    with pytest.raises(WorkbenchError, match="condition"):
        train.train(ws, train.TrainSpec("synth", "y", upweight="x0 > 1; DROP TABLE t"))
    with pytest.raises(WorkbenchError, match="did not drop it; columns it dropped: id"):
        wb.retrain(ws, base, add=["x1"])
    with pytest.raises(WorkbenchError, match="A weight factor needs a slice to weigh"):
        wb.retrain(ws, base, factor=5.0)
    with pytest.raises(WorkbenchError, match="Cannot drop 'y': it is run .*'s target"):
        wb.retrain(ws, base, drop=["y"])
    path = tmp_path / "p.parquet"  # an imported run, keyed on the dataset's id column
    pl.read_parquet(base.predictions).select("id", p=pl.col("_score")).write_parquet(path)
    imported = wb.import_predictions(ws, "elsewhere", dataset="synth", file=path, key="id", target="y", score="p")
    with pytest.raises(WorkbenchError, match="holds imported predictions .* no training spec to retrain"):
        wb.retrain(ws, imported)
