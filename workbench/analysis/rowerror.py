"""Each holdout row's error, as discovery and the error tree search over it: the row's loss (log
loss or squared error), or 1 for a wrong class. Defined once, with the check that it fits the run."""
from __future__ import annotations

from typing import Literal

from workbench.errors import WorkbenchError
from workbench.store.runs import Run

ErrorKind = Literal["loss", "misclassification"]
ERROR_SQL: dict[str, str] = {"loss": "_loss", "misclassification": "1 - _correct::INT"}
UNKNOWN_ERROR = "Invalid error {error!r}: use 'loss' or 'misclassification'."
NEEDS_CLASSES = "error='misclassification' needs a classification run; use 'loss' for regression."


def error_sql(run: Run, error: str) -> str:
    """The SQL expression of each row's error over ``predictions.parquet``, once ``error`` is
    known to suit ``run``."""
    if error not in ERROR_SQL:
        raise WorkbenchError(UNKNOWN_ERROR.format(error=error))
    if error == "misclassification" and run.task == "regression":
        raise WorkbenchError(NEEDS_CLASSES)
    return ERROR_SQL[error]
