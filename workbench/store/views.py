"""A cursor that sees the workspace as a user's SQL does: every source table and every dataset
(its latest version) as a view of that name.

Views come from the folder listing alone, with no parquet footer or ``dataset.json`` read, so a
preview or a build pays nothing for workspace size. The cursor is on the workspace's sandboxed
database, so views and queries alike can read nothing outside the workspace.
"""
from __future__ import annotations

from typing import Iterable

import duckdb

from workbench.engine import first_line, quote, sql_literal
from workbench.errors import WorkbenchError
from workbench.store import catalog
from workbench.store.datasets import latest_paths
from workbench.store.workspace import Workspace

UNREADABLE = "Table {name!r} cannot be read: {detail} Fix or remove the file."


def connect(ws: Workspace, names: Iterable[str] | None = None, *, ordered: bool = True) -> duckdb.DuckDBPyConnection:
    """A fresh cursor with a temporary view per source table and per dataset.

    With ``names`` (the tables a query reads, from its parse tree) only those views are made,
    so a query pays only for the files it reads, and a source it names that cannot be read is
    a clear error. Without, every readable table gets a view and unreadable ones are skipped.
    (A view reads its files' parquet footers when it is made: DuckDB binds views at once.)"""
    con = ws.cursor(ordered=ordered)
    wanted = None if names is None else {n.casefold() for n in names}  # SQL names ignore case
    datasets = latest_paths(ws)
    relations = catalog.source_expressions(ws, datasets)
    relations.update({name: f"read_parquet({sql_literal(str(path))})" for name, path in datasets.items()})
    for name, expr in relations.items():
        if wanted is not None and name.casefold() not in wanted:
            continue
        try:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS SELECT * FROM {expr}")
        except duckdb.Error as e:
            if wanted is not None:
                raise WorkbenchError(UNREADABLE.format(name=name, detail=first_line(e))) from None
    return con
