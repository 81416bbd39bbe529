import json

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from workbench.store import datasets, build
from workbench.model import splits, train
from workbench.model.train import TrainSpec
from workbench import WorkbenchError, Workspace

from helpers import synthetic_ws


@pytest.mark.parametrize("values, task", [
    ([True, False, True], "binary"), (["a", "b", "a"], "binary"), ([0, 1, 1], "binary"),
    (["a", "b", "c"], "multiclass"), ([1, 2, 3, 4, 5], "multiclass"),
    (list(range(30)), "regression"), ([0.5, 1.5, 2.5], "regression"),
])
def test_detect_task(values, task):
    assert train.detect_task(pl.Series(values)) == task


def test_run_folder_holds_model_record_and_predictions(trained):
    ws, run = trained["binary"]
    assert {p.name for p in run.path.iterdir()} == {"model.txt", "run.json", "predictions.parquet"}
    assert run.model_path.read_text().startswith("tree")
    info = json.loads((run.path / "run.json").read_text())  # the record as any reader sees it
    assert info["task"] == "binary" and info["target"] == "y" and info["classes"] == [False, True]
    assert info["dataset"]["name"] == "synth" and len(info["dataset"]["hash"]) == 16
    assert set(info["metrics"]) == {"lightgbm", "linear", "trivial"}
    assert "y" not in info["features"] and "x0" in info["features"] and "c0" in info["features"]
    assert info["seed"] == 1 and info["versions"]["lightgbm"] and info["best_iteration"] >= 1
    frame = pl.read_parquet(run.predictions)
    assert frame.height == info["split"]["n_holdout"] == 800
    assert {"_row", "_label", "_pred", "_score", "_loss", "_correct", "x0", "c0", "ts"} <= set(frame.columns)


def test_prediction_columns_agree_with_metrics(trained):
    ws, run = trained["binary"]
    f = pl.read_parquet(run.predictions)
    y = f["_label"].cast(pl.Int64).to_numpy()
    m = run.metrics["lightgbm"]
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, f["_score"].to_numpy()))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, f["_score"].to_numpy()))
    assert m["accuracy"] == pytest.approx(f["_correct"].mean())
    assert f["_loss"].mean() == pytest.approx(m["log_loss"])
    assert (f["_pred"] == (f["_score"] >= 0.5)).all()


def test_lightgbm_beats_the_trivial_baseline(trained):
    for task, (_, run) in trained.items():
        m = run.metrics
        if task == "regression":
            assert m["lightgbm"]["rmse"] < m["trivial"]["rmse"]
        else:
            assert m["lightgbm"]["log_loss"] < m["trivial"]["log_loss"]


def test_multiclass_and_regression_predictions(trained):
    _, run = trained["multiclass"]
    f = pl.read_parquet(run.predictions)
    assert run.record.classes == (0, 1, 2) and "_score" not in f.columns
    assert f["_loss"].mean() == pytest.approx(run.metrics["lightgbm"]["log_loss"])
    _, run = trained["regression"]
    f = pl.read_parquet(run.predictions)
    assert "_correct" not in f.columns
    assert np.sqrt(f["_loss"].mean()) == pytest.approx(run.metrics["lightgbm"]["rmse"])


def test_same_inputs_and_seed_give_same_metrics(tmp_path):
    ws = synthetic_ws(tmp_path, 1500, "binary")
    a = train.train(ws, TrainSpec("synth", "y", seed=3))
    b = train.train(ws, TrainSpec("synth", "y", seed=3))
    assert a.run_id != b.run_id and a.metrics == b.metrics
    assert pl.read_parquet(a.predictions).equals(pl.read_parquet(b.predictions))


def test_time_split_holds_out_the_latest_rows_and_never_uses_the_column(tmp_path):
    ws = synthetic_ws(tmp_path, 2000, "binary")
    run = train.train(ws, TrainSpec("synth", "y", split="time:ts"))
    hold = pl.read_parquet(run.predictions)
    every = pl.read_parquet(datasets.load_version(ws, "synth").path).with_row_index("_row")
    train_rows = every.filter(~pl.col("_row").is_in(hold["_row"].implode()))
    assert hold["ts"].min() >= train_rows["ts"].max()
    assert 0.19 <= hold.height / 2000 <= 0.21
    assert "ts" not in run.record.features and run.record.split.column == "ts"


def test_column_split_holds_out_rows_marked_test(tiny_ws):
    build.build(tiny_ws, "marked", """
        SELECT *, CASE WHEN i % 4 = 0 THEN 'test' WHEN i % 4 = 1 THEN 'VALID' ELSE 'train' END AS fold
        FROM (SELECT range AS i, range % 7 AS a, (range * 37 % 11) > 5 AS y FROM range(400))""")
    run = train.train(tiny_ws, TrainSpec("marked", "y", split="column:fold"))
    hold = pl.read_parquet(run.predictions)
    assert hold.height == 100 and (hold["fold"] == "test").all() and (hold["i"] % 4 == 0).all()
    assert run.record.split.n_valid == 100 and "fold" not in run.record.features


@pytest.mark.parametrize("spec, message", [
    (TrainSpec("d", "nope"), "Unknown target column 'nope'"),
    (TrainSpec("d", "const"), "Target 'const' is constant or missing"),
    (TrainSpec("d", "empty"), "Target 'empty' is constant or missing"),
    (TrainSpec("d", "y", drop=("zzz",)), r"Unknown column\(s\) to drop: zzz"),
    (TrainSpec("d", "y", split="time:zzz"), "Unknown split column 'zzz'"),
    (TrainSpec("d", "y", split="sideways"), "Invalid split 'sideways'"),
    (TrainSpec("d", "y", split="column:k"), "has no rows marked 'test'"),
    (TrainSpec("d", "y", drop=("k", "x", "const", "empty")), "No feature columns are left"),
    (TrainSpec("d", "k", task="regression"), "regression needs numbers"),
    (TrainSpec("d", "x", task="binary"), "binary needs exactly 2"),
    (TrainSpec("nope", "y"), "Unknown dataset 'nope'"),
])
def test_bad_training_input_is_refused_and_writes_nothing(tiny_ws, spec, message):
    build.build(tiny_ws, "d", "SELECT range % 3 AS x, 'a' || (range % 2) AS k, range % 2 = 0 AS y, "
                                 "1 AS const, NULL::INT AS empty FROM range(50)")
    with pytest.raises(WorkbenchError, match=message):
        train.train(tiny_ws, spec)
    assert not tiny_ws.runs_dir.exists()


D = ("SELECT range % 3 AS x, 'a' || (range % 2) AS k, range % 2 = 0 AS y, range // 10 AS day, range % 7 = 0 AS flag, "
     "DATE '2024-01-01' + (range // 10)::INT AS day_date, "
     "CASE WHEN range % 5 = 0 THEN 'test' ELSE 'train' END AS fold FROM range(200)")


@pytest.mark.parametrize("spec, message", [
    (TrainSpec("d", "fold", split="column:fold"),
     "Target 'fold' is also the split column; the column that picks the holdout rows cannot be what the "
     "model predicts: choose another target or split."),
    (TrainSpec("d", "day", split="time:day", task="regression"),
     "Target 'day' is also the split column; the column that picks the holdout rows cannot be what the "
     "model predicts: choose another target or split."),
    (TrainSpec("d", "y", split="time:day"),
     "Split column 'day' is BIGINT, not a date or timestamp; a time split needs one, or if 'day' counts time "
     "(a day number, a period index) pass --numeric-time (on the Train page, tick 'The column counts time')."),
    (TrainSpec("d", "y", split="time:k", numeric_time=True),
     "Split column 'k' is VARCHAR, not a date or timestamp; a time split needs one: choose another column, or "
     "make one in the dataset's SQL (for text holding dates, e.g. CAST(\"k\" AS DATE))."),
    (TrainSpec("d", "y", split="time:flag", numeric_time=True),
     "Split column 'flag' is BOOLEAN, not a date or timestamp; a time split needs one: choose another column, or "
     "make one in the dataset's SQL (for text holding dates, e.g. CAST(\"flag\" AS DATE))."),
    (TrainSpec("d", "y", numeric_time=True),
     "numeric_time applies only to a time split, and the split is 'random'; leave --numeric-time out or "
     "split by time:COLUMN."),
    (TrainSpec("d", "y", split="column:fold", numeric_time=True),
     "numeric_time applies only to a time split, and the split is 'column:fold'; leave --numeric-time out or "
     "split by time:COLUMN."),
])
def test_a_split_that_cannot_work_is_refused_in_words(tiny_ws, spec, message):
    """The target cannot pick the holdout (that trained with AUC 0.50), and a time split orders
    rows by a date or timestamp unless numeric_time says a number counts time."""
    build.build(tiny_ws, "d", D)
    with pytest.raises(WorkbenchError) as e:
        train.train(tiny_ws, spec)
    assert str(e.value) == message
    assert not tiny_ws.runs_dir.exists()


def test_a_numeric_time_column_splits_by_time_when_allowed(tiny_ws):
    """With numeric_time a day number orders the rows as a date would: the same holdout as a split
    on the matching DATE column."""
    build.build(tiny_ws, "d", D)
    by_number = train.train(tiny_ws, TrainSpec("d", "y", split="time:day", numeric_time=True, drop=("day_date",)))
    by_date = train.train(tiny_ws, TrainSpec("d", "y", split="time:day_date", drop=("day",)))
    held = pl.read_parquet(by_number.predictions)
    assert sorted(held["_row"]) == sorted(pl.read_parquet(by_date.predictions)["_row"])
    assert held["day"].min() == 16 and held.height == 40  # days 16..19 of 0..19: the latest 20%


def test_numeric_time_is_recorded_in_the_run(tiny_ws):
    build.build(tiny_ws, "d", D)
    by_number = train.train(tiny_ws, TrainSpec("d", "y", split="time:day", numeric_time=True))
    by_date = train.train(tiny_ws, TrainSpec("d", "y", split="time:day_date"))
    assert json.loads((by_number.path / "run.json").read_text())["split"]["numeric_time"] is True
    assert json.loads((by_date.path / "run.json").read_text())["split"]["numeric_time"] is False


def test_fit_takes_an_arrow_table(tmp_path):
    table = pa.table({"a": np.arange(300) % 5, "b": np.arange(300) * 0.1, "y": (np.arange(300) % 5) > 2})
    fitted = train.fit(table, TrainSpec("in-memory", "y"))
    assert fitted.task == "binary" and fitted.predictions.num_rows == 60 and fitted.model_text.startswith("tree")


def test_lightgbm_settings_are_used_and_recorded(tiny_ws):
    build.build(tiny_ws, "d", "SELECT range % 7 AS a, range % 3 AS b, (range * 7919) % 5 > 1 AS y FROM range(600)")
    run = train.train(tiny_ws, TrainSpec("d", "y", params={"num_leaves": 4, "num_boost_round": 7,
                                                           "learning_rate": 0.3}))
    assert run.record.params["num_leaves"] == 4 and run.record.params["num_boost_round"] == 7
    assert run.record.best_iteration <= 7


@pytest.mark.parametrize("params, message", [
    ({"objective": "poisson"}, "LightGBM setting 'objective' is set by the workbench: it follows the task"),
    ({"num_boost_round": 0}, "num_boost_round must be a whole number"),
    ({"num_leaves": -3}, "LightGBM refused the settings"),
])
def test_bad_lightgbm_settings(tiny_ws, params, message):
    build.build(tiny_ws, "d", "SELECT range % 7 AS a, (range * 7919) % 5 > 1 AS y FROM range(300)")
    with pytest.raises(WorkbenchError, match=message):
        train.train(tiny_ws, TrainSpec("d", "y", params=params))
    assert not tiny_ws.runs_dir.exists()


def test_a_time_split_trains_only_on_rows_before_the_holdout(tmp_path, monkeypatch):
    """The rows LightGBM is actually given, caught at lightgbm.Dataset, never derived from the
    holdout: every training and validation row comes before the holdout's first time, the
    validation rows are the latest of them, and no holdout row is among them."""
    import lightgbm as lgb
    ws = Workspace.open(tmp_path)
    rng = np.random.default_rng(2)
    n = 3000
    pa_table = pa.table({"uid": np.arange(n, dtype=float), "t": rng.permutation(n) // 3,
                         "x": rng.normal(size=n), "y": rng.random(n) < 0.5})
    import pyarrow.parquet as pq
    pq.write_table(pa_table, tmp_path / "raw.parquet")
    build.build(ws, "timed", "SELECT * FROM raw")
    given = []
    real = lgb.Dataset.__init__

    def spy(self, data, label=None, *args, **kwargs):
        given.append((np.array(data, copy=True), kwargs.get("feature_name")))
        real(self, data, label, *args, **kwargs)

    monkeypatch.setattr(lgb.Dataset, "__init__", spy)
    run = train.train(ws, TrainSpec("timed", "y", split="time:t", numeric_time=True))
    (train_X, names), (valid_X, _) = given
    uid = names.index("uid")
    time_of = pa_table["t"].to_numpy()
    trained, validated = train_X[:, uid].astype(int), valid_X[:, uid].astype(int)
    held = pl.read_parquet(run.predictions)["uid"].to_numpy().astype(int)
    assert len(trained) + len(validated) + len(held) == n
    assert not (set(trained) | set(validated)) & set(held)
    assert time_of[trained].max() <= time_of[validated].min()
    assert time_of[validated].max() < time_of[held].min()
    assert 0.19 <= len(held) / n <= 0.21 and "t" not in run.record.features


def test_an_all_missing_time_column_is_refused(tiny_ws):
    build.build(tiny_ws, "d", "SELECT range % 5 AS x, range % 2 = 0 AS y, NULL::TIMESTAMP AS t FROM range(200)")
    with pytest.raises(WorkbenchError) as e:
        train.train(tiny_ws, TrainSpec("d", "y", split="time:t"))
    assert str(e.value) == splits.NO_TIMES.format(column="t")
    assert not tiny_ws.runs_dir.exists()


def test_a_run_id_is_its_creation_time_in_utc(tiny_ws, monkeypatch):
    """On a machine whose clock is not UTC (Tokyo, 9 hours ahead), the id's time is still UTC."""
    import time
    from datetime import datetime, timezone
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        build.build(tiny_ws, "d", "SELECT range % 7 AS a, (range * 7919) % 5 > 1 AS y FROM range(300)")
        run = train.train(tiny_ws, TrainSpec("d", "y"))
    finally:
        monkeypatch.undo()
        time.tzset()
    created = datetime.fromisoformat(run.record.created)
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    assert run.run_id[:15] == created.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")


def test_the_encoding_round_trips_through_run_json(trained):
    """A saved model's inputs can be rebuilt from run.json alone: the stored encoding codes the
    holdout rows exactly as training did, so LightGBM's scores come back identical."""
    import lightgbm as lgb
    from workbench.model import features
    for task in ("binary", "regression"):
        _, run = trained[task]
        stored = json.loads((run.path / "run.json").read_text())["encoding"]
        enc = features.Encoding.from_dict(stored)
        assert enc.to_dict() == stored and enc.names == list(run.record.features)
        frame = pl.read_parquet(run.predictions)
        booster = lgb.Booster(model_file=str(run.model_path))
        raw = booster.predict(features.matrix(frame, enc), num_iteration=run.record.best_iteration)
        expected = frame["_score"] if task == "binary" else frame["_pred"]
        np.testing.assert_allclose(raw, expected.to_numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("split", ["random", "column:fold"])
def test_splits_are_disjoint_and_cover_every_row(split):
    rng = np.random.default_rng(0)
    n = 1000
    frame = pl.DataFrame({"fold": rng.choice(["test", "valid", "train"], n, p=[0.25, 0.1, 0.65]),
                          "y": rng.integers(0, 2, n)})
    s = splits.make_split(frame, split, frame["y"].to_numpy(), "binary", seed=3)
    parts = [s.train, s.valid, s.holdout]
    assert sum(len(p) for p in parts) == n and len(np.unique(np.concatenate(parts))) == n
    if split == "random":
        assert len(s.holdout) == 200 and len(s.valid) == 80
        y = frame["y"].to_numpy()  # stratified: each part keeps the positive share within a row
        assert abs(y[s.holdout].sum() - 0.2 * y.sum()) <= 1 and abs(y[s.valid].sum() - 0.08 * y.sum()) <= 1
    else:
        assert (frame["fold"].to_numpy()[s.holdout] == "test").all()
        assert (frame["fold"].to_numpy()[s.valid] == "valid").all()


def test_a_time_split_keeps_ties_together_and_rows_without_a_time_out_of_the_holdout():
    """Rows at the cut's time all go to the holdout (a time is never split in two), and a row
    with no time is never held out: neither can be said to come after the training rows."""
    rng = np.random.default_rng(1)
    n = 1000
    t = pl.Series("t", rng.integers(0, 40, n)).set(pl.Series(rng.random(n) < 0.1), None)
    frame = pl.DataFrame({"t": t, "y": rng.integers(0, 2, n)})
    s = splits.make_split(frame, "time:t", frame["y"].to_numpy(), "binary", numeric_time=True)
    times = frame["t"].to_numpy(allow_copy=True)
    held, before = frame["t"].gather(s.holdout), frame["t"].gather(np.concatenate([s.train, s.valid]))
    assert held.null_count() == 0 and before.drop_nulls().max() < held.min()
    assert before.null_count() == frame["t"].null_count()
    present = np.sort(times[~np.isnan(times.astype(float))])
    assert held.min() == present[int(0.8 * len(present))]  # the time that starts the latest 20%
    assert frame["t"].gather(s.valid).min() >= frame["t"].gather(s.train).drop_nulls().max()
    assert (s.info.kind, s.info.column) == ("time", "t")
    assert (s.info.n_train, s.info.n_valid, s.info.n_holdout) == (len(s.train), len(s.valid), len(s.holdout))


def test_random_splits_are_seeded_and_work_for_regression():
    rng = np.random.default_rng(2)
    frame = pl.DataFrame({"y": rng.normal(size=500)})
    y = frame["y"].to_numpy()
    a = splits.make_split(frame, "random", y, "regression", seed=7)
    b = splits.make_split(frame, "random", y, "regression", seed=7)
    c = splits.make_split(frame, "random", y, "regression", seed=8)
    assert all(np.array_equal(p, q) for p, q in zip((a.train, a.valid, a.holdout), (b.train, b.valid, b.holdout)))
    assert not np.array_equal(a.holdout, c.holdout) and not np.array_equal(a.valid, c.valid)
    assert (len(a.holdout), len(a.valid), len(a.train)) == (100, 40, 360)
    assert (a.info.kind, a.info.column, a.info.n_holdout) == ("random", None, 100)


def test_a_column_split_without_validation_marks_draws_validation_from_the_rest():
    rng = np.random.default_rng(3)
    n = 600
    frame = pl.DataFrame({"fold": np.where(np.arange(n) % 4 == 0, "Test", None), "y": rng.integers(0, 2, n)})
    s = splits.make_split(frame, "column:fold", frame["y"].to_numpy(), "binary", seed=4)
    again = splits.make_split(frame, "column:fold", frame["y"].to_numpy(), "binary", seed=4)
    assert np.array_equal(s.holdout, np.arange(0, n, 4)) and np.array_equal(s.valid, again.valid)
    assert len(s.valid) == 45 and not set(s.valid) & set(s.holdout) and not set(s.train) & set(s.valid)
    assert len(s.train) + len(s.valid) + len(s.holdout) == n
