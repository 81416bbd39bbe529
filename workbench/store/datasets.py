"""Datasets: named, versioned results of one SQL query over the source tables.

Each version is a folder ``.workbench/datasets/NAME/vNNNN`` holding ``data.parquet``
(written by DuckDB, never through pandas, so it can be larger than memory) and
``dataset.json`` (the SQL, the sources with their fingerprints, rows, schema, creation time
and a content hash). The content hash covers the schema and the multiset of rows, so the
same SQL over unchanged sources reproduces it whatever order DuckDB's threads wrote rows in.
Building one is :mod:`workbench.store.build`; this module reads what is stored.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workbench.engine import fetch_row, sql_literal
from workbench.errors import WorkbenchError
from workbench.store.workspace import Workspace

META = "dataset.json"
DATA = "data.parquet"


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    path: Path
    rows: int
    hash: str
    sql: str
    schema: tuple[tuple[str, str], ...]
    sources: tuple[dict, ...]
    created: str
    seconds: float
    unchanged: bool = field(default=False, compare=False)

    def to_dict(self) -> dict:
        return {"dataset": self.name, "version": self.version, "rows": self.rows,
                "hash": self.hash, "path": str(self.path), "unchanged": self.unchanged}


@dataclass(frozen=True)
class Dataset:
    name: str
    versions: tuple[DatasetVersion, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "versions": [
            {"version": v.version, "rows": v.rows, "hash": v.hash, "created": v.created, "sql": v.sql}
            for v in self.versions]}


@dataclass(frozen=True)
class DatasetList:
    datasets: tuple[Dataset, ...]

    def to_dict(self) -> dict:
        return {"datasets": [d.to_dict() for d in self.datasets]}


def read_version(folder: Path) -> DatasetVersion:
    m = json.loads((folder / META).read_text())
    return DatasetVersion(m["name"], m["version"], folder / DATA, m["rows"], m["hash"], m["sql"],
                          tuple(tuple(c) for c in m["schema"]), tuple(m["sources"]),
                          m["created"], m["seconds"])


def _version_folders(folder: Path) -> list[Path]:
    """A dataset's complete versions (their ``dataset.json`` written), oldest first."""
    return [v for v in sorted(folder.glob("v[0-9]*")) if (v / META).is_file()]


def latest_paths(ws: Workspace) -> dict[str, Path]:
    """Each dataset's latest ``data.parquet``, from folder names alone (no metadata read)."""
    if not ws.datasets_dir.is_dir():
        return {}
    out = {}
    for d in sorted(ws.datasets_dir.iterdir()):
        versions = _version_folders(d) if not d.name.startswith(".") else []
        if versions:
            out[d.name] = versions[-1] / DATA
    return out


def list_datasets(ws: Workspace) -> list[Dataset]:
    """Every dataset with its complete versions, oldest version first."""
    out = []
    if not ws.datasets_dir.is_dir():
        return out
    for d in sorted(ws.datasets_dir.iterdir()):
        if d.name.startswith("."):
            continue
        versions = [read_version(v) for v in _version_folders(d)]
        if versions:
            out.append(Dataset(d.name, tuple(versions)))
    return out


def load_version(ws: Workspace, name: str, version: int | None = None) -> DatasetVersion:
    """The given version of dataset ``name`` (the latest when ``version`` is None)."""
    folder = ws.datasets_dir / str(name)
    versions = _version_folders(folder) if "/" not in str(name) and folder.is_dir() else []
    if versions:
        if version is None:
            return read_version(versions[-1])
        for v in versions:
            if v.name == f"v{version:04d}":
                return read_version(v)
        have = ", ".join(str(int(v.name[1:])) for v in versions)
        raise WorkbenchError(f"Dataset {name!r} has no version {version}; versions: {have}.")
    known = ", ".join(d.name for d in list_datasets(ws)) or "none yet (build one first)"
    raise WorkbenchError(f"Unknown dataset {name!r}; datasets: {known}.")


def content_hash(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, tuple, str]:
    """Row count, schema and an order-insensitive hash of a parquet file's contents."""
    src = f"read_parquet({sql_literal(str(path))})"
    schema = tuple((r[0], r[1]) for r in con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall())
    rows, row_sum = fetch_row(con, f"SELECT count(*), coalesce(sum(hash(t))::HUGEINT, 0) FROM {src} t")
    digest = hashlib.sha256(json.dumps([schema, int(rows), str(row_sum)]).encode()).hexdigest()
    return int(rows), schema, digest[:16]
