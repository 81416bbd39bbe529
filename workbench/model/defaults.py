"""Sensible first choices for training on a dataset nobody has described: which column is the
target and how to split.

A dataset that arrives with its own split (a column such as ``split`` whose values include
``test``) is split by that column, and that column is never offered as the target; neither are
times nor identifiers (a value per row). The target is a column named like one (``target``,
``label``, ``y``, ``class``, ``outcome``), else the last column left. A time split is offered only
on dates and timestamps. One scan of the dataset counts distinct values per column.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from workbench.engine import fetch_row, is_numeric_type, limits, quote, sql_literal
from workbench.model.splits import TEST_VALUES
from workbench.store.datasets import DatasetVersion
from workbench.store.workspace import Workspace

TARGET_NAMES = ("target", "label", "y", "class", "outcome")
MARK_MOST = 10  # a column marking the split has at most this many distinct values


@dataclass(frozen=True)
class TrainDefaults:
    """``split`` is ``random`` or ``column`` (``split_column`` names it); ``time_columns`` are the
    dates and timestamps a time split can use, ``split_columns`` the columns that mark test rows,
    ``identifiers`` the columns with a distinct value in (about) every row."""

    target: str
    split: str
    split_column: str | None
    time_columns: tuple[str, ...]
    split_columns: tuple[str, ...]
    identifiers: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def is_time_type(duckdb_type: str) -> bool:
    """Dates and timestamps (with or without a zone): what a time split orders rows by."""
    return duckdb_type.upper().startswith(("DATE", "TIMESTAMP"))


def suggest(ws: Workspace, version: DatasetVersion) -> TrainDefaults:
    """The target and split a new user most likely wants for ``version``."""
    schema = list(version.schema)
    columns = [c for c, _ in schema]
    times = tuple(c for c, t in schema if is_time_type(t))
    src = f"read_parquet({sql_literal(str(version.path))})"
    con = ws.cursor()
    with limits(con):
        distinct = dict(zip(columns, fetch_row(
            con, f"SELECT {', '.join(f'approx_count_distinct({quote(c)})' for c in columns)} FROM {src}")))
        few = [c for c, t in schema if 0 < (distinct[c] or 0) <= MARK_MOST and not is_numeric_type(t)]
        tests = ", ".join(sql_literal(v) for v in TEST_VALUES)
        marks = fetch_row(con, "SELECT " + ", ".join(
            f"bool_or(lower(CAST({quote(c)} AS VARCHAR)) IN ({tests}))" for c in few) + f" FROM {src}") if few else ()
    split_columns = tuple(c for c, marked in zip(few, marks) if marked)
    # an identifier has a value per row (approx_count_distinct is within a few percent); a number
    # with a value per row is as likely a regression target, so only an id-like name marks it
    unique = {c for c in columns if version.rows > 100 and (distinct[c] or 0) >= 0.95 * version.rows}
    identifiers = tuple(c for c, t in schema if c in unique and (not is_numeric_type(t) or _id_like(c)))
    candidates = [c for c in columns if c not in split_columns and c not in times and c not in identifiers]
    candidates = candidates or columns
    named = [c for c in candidates if c.lower() in TARGET_NAMES]
    target = named[0] if named else candidates[-1]
    split_column = split_columns[0] if split_columns else (times[0] if times else None)
    return TrainDefaults(target, "column" if split_columns else "random", split_column, times, split_columns,
                         identifiers)


def _id_like(column: str) -> bool:
    name = column.lower()
    return name in ("id", "index", "row", "key") or name.endswith(("_id", "_key", "_index"))
