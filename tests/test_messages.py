"""Messages are declared once, beside the check that raises them, and shown word for word: each
case calls the public function with one bad value and expects the constant's exact text."""
import numpy as np
import polars as pl
import pytest

from workbench.engine import boundary
from workbench.errors import WorkbenchError
from workbench.model import splits
from workbench.stats import metrics
from workbench.store import runs, workspace

CASES = [
    ("unknown task", lambda ws: metrics.evaluate("regresion", np.zeros(3), np.zeros(3)),
     metrics.UNKNOWN_TASK.format(task="regresion")),
    ("unknown task in losses", lambda ws: metrics.row_loss("binery", np.zeros(3), np.zeros(3), np.zeros(3)),
     metrics.UNKNOWN_TASK.format(task="binery")),
    ("a name ending in a newline", lambda ws: workspace.check_name("flights\n", kind="dataset name"),
     workspace.BAD_NAME.format(kind="dataset name", name="flights\n")),
    ("a split with a colon and nothing after", lambda ws: splits.parse_split("time:"),
     splits.BAD_SPLIT.format(split="time:")),
    ("a random split with a column", lambda ws: splits.parse_split("random:x"),
     splits.BAD_SPLIT.format(split="random:x")),
    ("an unknown run", lambda ws: runs.load_run(ws, "nope"),
     runs.UNKNOWN_RUN.format(run_id="nope", known="none yet (train one first)")),
    ("two statements", lambda ws: boundary.parse_select("SELECT 1; SELECT 2; SELECT 3"),
     boundary.MANY.format(count=3)),
    ("a time column with one time", lambda ws: splits.make_split(
        pl.DataFrame({"t": [5] * 50, "y": [0, 1] * 25}), "time:t", np.array([0, 1] * 25), "binary",
        numeric_time=True),
     splits.FEW_TIMES.format(column="t")),
    ("a time split on a number", lambda ws: splits.make_split(
        pl.DataFrame({"age": pl.Series(range(50), dtype=pl.Int32), "y": [0, 1] * 25}), "time:age",
        np.array([0, 1] * 25), "binary"),
     "Split column 'age' is INTEGER, not a date or timestamp; a time split needs one, or if 'age' counts time "
     "(a day number, a period index) pass --numeric-time (on the Train page, tick 'The column counts time')."),
    ("a time split on text", lambda ws: splits.make_split(
        pl.DataFrame({"when": ["2024-01-01"] * 50, "y": [0, 1] * 25}), "time:when", np.array([0, 1] * 25),
        "binary", numeric_time=True),
     "Split column 'when' is VARCHAR, not a date or timestamp; a time split needs one: choose another column, "
     "or make one in the dataset's SQL (for text holding dates, e.g. CAST(\"when\" AS DATE))."),
    ("no row marked test", lambda ws: splits.make_split(
        pl.DataFrame({"f": ["train"] * 50, "y": [0, 1] * 25}), "column:f", np.array([0, 1] * 25), "binary"),
     splits.NO_TEST.format(column="f")),
    ("too few training rows", lambda ws: splits.make_split(
        pl.DataFrame({"f": ["test"] * 9 + ["train"], "y": [0, 1] * 5}), "column:f", np.array([0, 1] * 5), "binary"),
     splits.FEW_TRAIN),
]


@pytest.mark.parametrize("what, call, message", CASES, ids=[c[0] for c in CASES])
def test_each_message_is_shown_word_for_word(tiny_ws, what, call, message):
    with pytest.raises(WorkbenchError) as e:
        call(tiny_ws)
    assert str(e.value) == message
