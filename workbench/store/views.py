"""A cursor that sees the workspace as a user's SQL does: every source table and every dataset
(its latest version) as a view of that name.

Views come from the folder listing alone, with no parquet footer or ``dataset.json`` read, so a
preview or a build pays nothing for workspace size. The cursor is on the workspace's sandboxed
database, so views and queries alike can read nothing outside the workspace.
"""
from __future__ import annotations

import duckdb

from workbench.engine import quote, sql_literal
from workbench.store import catalog
from workbench.store.datasets import latest_paths
from workbench.store.workspace import Workspace


def connect(ws: Workspace, *, ordered: bool = True) -> duckdb.DuckDBPyConnection:
    """A fresh cursor with a temporary view per source table and per dataset."""
    con = ws.cursor(ordered=ordered)
    for name, expr in catalog.source_expressions(ws).items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS SELECT * FROM {expr}")
    for name, path in latest_paths(ws).items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS "
                    f"SELECT * FROM read_parquet({sql_literal(str(path))})")
    return con
