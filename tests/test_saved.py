import shutil

import polars as pl
import pytest

from workbench import WorkbenchError
from workbench.analysis import slices
from workbench.store import runs, saved
from workbench.store.workspace import Workspace


@pytest.fixture
def fresh(trained, tmp_path):
    """A copy of the binary run's workspace per test, so saved slices never leak between tests."""
    ws, run = trained["binary"]
    shutil.copytree(ws.root, tmp_path / "ws")
    copy = Workspace.open(tmp_path / "ws")
    return copy, runs.load_run(copy, run.run_id)


def test_a_saved_slice_is_a_column_in_breakdowns(fresh):
    ws, run = fresh
    kept = saved.save(ws, "a_high", "c0 = 'a' AND x0 > 1", run=run, predicate="c0 = a and x0 > 1")
    assert kept.column == "slice:a_high" and [s.name for s in saved.list_saved(ws)] == ["a_high"]
    conditions = saved.applicable(ws, run)
    table = slices.breakdown(run, ["slice:a_high", "c1"], saved=conditions)
    inside = table.slices.filter(table.slices["slice:a_high"] == "in a_high")
    frame = pl.read_parquet(run.predictions)  # the oracle counts in polars, not with the saved SQL
    assert inside["n"].sum() == frame.filter((pl.col("c0") == "a") & (pl.col("x0") > 1)).height
    assert table.slices["n"].sum() == run.record.split.n_holdout
    worst = slices.breakdown(run, ["slice:a_high"], saved=conditions).slices.row(0, named=True)
    assert worst["slice:a_high"] == "in a_high"  # the planted slice errs more


def test_slices_that_do_not_apply_are_not_offered(fresh, tmp_path):
    """A saved slice names columns; a run whose holdout lacks one does not offer it."""
    from workbench.model import train
    from workbench.store import build
    ws, run = fresh
    saved.save(ws, "only_c0", "c0 = 'b'", run=run)
    saved.save(ws, "any_x0", "x0 > 0", run=run)
    build.build(ws, "no_c0", "SELECT * EXCLUDE (c0) FROM source")
    other = train.train(ws, train.TrainSpec("no_c0", "y", seed=1))
    assert set(saved.applicable(ws, run)) == {"slice:only_c0", "slice:any_x0"}
    assert set(saved.applicable(ws, other)) == {"slice:any_x0"}
    with pytest.raises(WorkbenchError, match="Unknown column 'slice:only_c0'"):
        slices.breakdown(other, ["slice:only_c0"], saved=saved.applicable(ws, other))
    with pytest.raises(WorkbenchError, match="does not apply"):
        saved.save(ws, "broken", "nope = 1", run=run)


def test_a_condition_is_stored_as_duckdb_renders_it(fresh):
    """A trailing comment once broke every later breakdown; ';' inside a string is fine."""
    ws, run = fresh
    kept = saved.save(ws, "commented", "c0 = 'a' -- the planted column", run=run)
    assert kept.where == "c0 = 'a'"
    table = slices.breakdown(run, ["slice:commented", "c1"], saved=saved.applicable(ws, run))
    assert table.slices["n"].sum() == run.record.split.n_holdout
    assert saved.save(ws, "semicolon", "c0 <> 'a;b'", run=run).where == "c0 <> 'a;b'"


def test_a_hand_edited_file_that_does_not_parse_applies_to_no_run(fresh):
    ws, run = fresh
    saved.save(ws, "fine", "c0 = 'a'", run=run)
    (ws.slices_dir / "bad.json").write_text((ws.slices_dir / "fine.json").read_text()
                                            .replace('"c0 = \'a\'"', '"c0 = 1) OR (1 = 1"').replace('"fine"', '"bad"'))
    (ws.slices_dir / "junk.json").write_text("{ not json")
    (ws.slices_dir / "other.json").write_text('{"a": 1}')
    assert [s.name for s in saved.list_saved(ws)] == ["bad", "fine"]
    assert set(saved.applicable(ws, run)) == {"slice:fine"}


@pytest.mark.parametrize("name, where, message", [
    ("a/b", "c0 = 'a'", "Invalid slice name"),
    ("newline\n", "c0 = 'a'", "Invalid slice name"),
    ("empty", "c0 = 'zzz'", "selects no rows"),
    ("two", "c0 = 'a'; DROP TABLE x", "must be one SQL expression"),
    ("union", "c0 = 'a' UNION SELECT 1", "must be one SQL expression"),
    ("nothing", "  ", "must be one SQL expression"),
    # a subquery would answer yes or no about a file's contents, inside the workspace or out
    ("outside", "(SELECT count(*) FROM read_text('/etc/hostname')) > 0", r"it reads a table \(a subquery\)"),
    ("inside", "EXISTS (SELECT 1 FROM read_parquet('source.parquet') WHERE x0 > 3)", r"it reads a table \(a subquery\)"),
    ("in_list", "x0 IN (SELECT 1)", r"it reads a table \(a subquery\)"),
])
def test_bad_saved_slices(fresh, name, where, message):
    ws, run = fresh
    with pytest.raises(WorkbenchError, match=message):
        saved.save(ws, name, where, run=run)
    assert saved.list_saved(ws) == []


def test_no_condition_the_workbench_writes_is_refused(fresh):
    """The refusal's false alarms: every slice condition a breakdown of every holdout column
    offers, alone and in pairs (the ones a user saves from the page), passes the boundary."""
    from workbench.engine import parse_condition
    ws, run = fresh
    frame = pl.read_parquet(run.predictions)
    columns = [c for c in frame.columns if not c.startswith("_") and c != "y"]
    wheres = [w for c in columns for w in slices.breakdown(run, [c]).slices["where"].to_list() if w]
    wheres += [w for a, b in (("c0", "x0"), ("c1", "ts")) for w in slices.breakdown(run, [a, b]).slices["where"]]
    refused = []
    for w in wheres:
        try:
            parse_condition(w)
        except WorkbenchError:
            refused.append(w)
    assert len(wheres) > 50 and refused == []  # 0 false refusals
    kept = saved.save(ws, "from_breakdown", wheres[0], run=run)
    assert kept.where == parse_condition(wheres[0])
