import pytest

from workbench.store import saved
from workbench.analysis import slices
from workbench import WorkbenchError


def test_a_saved_slice_is_a_column_in_breakdowns(trained):
    ws, run = trained["binary"]
    kept = saved.save(ws, "a_high", "c0 = 'a' AND x0 > 1", run=run, predicate="c0 = a and x0 > 1")
    assert kept.column == "slice:a_high" and [s.name for s in saved.list_saved(ws)] == ["a_high"]
    conditions = saved.applicable(ws, run)
    table = slices.breakdown(run, ["slice:a_high", "c1"], saved=conditions)
    inside = table.slices.filter(table.slices["slice:a_high"] == "in a_high")
    import duckdb
    n = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{run.predictions}') "
                                 "WHERE c0 = 'a' AND x0 > 1").fetchall()[0][0]
    assert inside["n"].sum() == n and table.slices["n"].sum() == run.record.split.n_holdout
    worst = slices.breakdown(run, ["slice:a_high"], saved=conditions).slices.row(0, named=True)
    assert worst["slice:a_high"] == "in a_high"  # the planted slice errs more


def test_slices_that_do_not_apply_are_not_offered(trained):
    ws, run = trained["binary"]
    saved.save(ws, "only_here", "c0 = 'b'", run=run)
    _, other = trained["regression"]
    assert "slice:only_here" in saved.applicable(ws, run)
    assert all(name in saved.applicable(ws, other) for name in ("slice:only_here",))  # same columns there
    with pytest.raises(WorkbenchError, match="does not apply"):
        saved.save(ws, "broken", "nope = 1", run=run)


@pytest.mark.parametrize("name, where, message", [
    ("a/b", "c0 = 'a'", "Invalid slice name"),
    ("empty", "c0 = 'zzz'", "selects no rows"),
    ("two", "c0 = 'a'; DROP TABLE x", "must be one SQL expression"),
    ("union", "c0 = 'a' UNION SELECT 1", "must be one SQL expression"),
    ("nothing", "  ", "must be one SQL expression"),
    ("outside", "(SELECT count(*) FROM read_text('/etc/hostname')) > 0", "may read only the workspace"),
])
def test_bad_saved_slices(trained, name, where, message):
    ws, run = trained["binary"]
    with pytest.raises(WorkbenchError, match=message):
        saved.save(ws, name, where, run=run)
    assert name not in [s.name for s in saved.list_saved(ws)]
