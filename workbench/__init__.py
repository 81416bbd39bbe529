"""The applied science workbench: datasets by SQL, quick baselines, and error analysis.

This is the public API that the app's pages, the CLI and scripts use. The layers below it
(``engine``, ``stats``, ``store``, ``data``, ``model``, ``analysis``, ``render``, ``cli``) import one
way only, lowest first, as ``tests/test_layers.py`` checks. Names load on first use, so a page
that only lists datasets never imports LightGBM or scikit-learn.

>>> import workbench as wb
>>> ws = wb.Workspace.open("data")                      # doctest: +SKIP
>>> run = wb.train(ws, wb.TrainSpec("flights_delay", "late", split="time:time_hour"))  # doctest: +SKIP
>>> wb.breakdown(run, ["carrier"]).slices               # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_HOME = {
    # errors and the SQL boundary
    "WorkbenchError": "workbench.errors",
    "parse_select": "workbench.engine.boundary", "parse_condition": "workbench.engine.boundary",
    # the workspace and what it stores
    "Workspace": "workbench.store.workspace", "check_name": "workbench.store.workspace",
    "Catalog": "workbench.store.catalog", "scan": "workbench.store.catalog",
    "Dataset": "workbench.store.datasets", "DatasetList": "workbench.store.datasets",
    "DatasetVersion": "workbench.store.datasets", "list_datasets": "workbench.store.datasets",
    "load_version": "workbench.store.datasets",
    "Preview": "workbench.store.build", "build": "workbench.store.build", "preview": "workbench.store.build",
    "Run": "workbench.store.runs", "RunList": "workbench.store.runs", "RunRecord": "workbench.store.runs",
    "list_runs": "workbench.store.runs", "load_run": "workbench.store.runs",
    "SavedSlice": "workbench.store.saved", "save_slice": "workbench.store.saved",
    "list_saved": "workbench.store.saved", "applicable_slices": "workbench.store.saved",
    # data
    "Profile": "workbench.data.profile", "profile": "workbench.data.profile",
    "EXACT_DISTINCT_UP_TO": "workbench.data.profile",
    "demo": "workbench.data.demo",
    # models
    "TrainSpec": "workbench.model.train", "train": "workbench.model.train",
    "import_predictions": "workbench.model.imported", "retrain": "workbench.model.retrain",
    "Encoding": "workbench.model.features", "DEFAULT_PARAMS": "workbench.model.params",
    "NUM_BOOST_ROUND": "workbench.model.params", "EARLY_STOPPING": "workbench.model.params",
    "check_params": "workbench.model.params", "parse_settings": "workbench.model.params",
    "TrainDefaults": "workbench.model.defaults", "suggest_training": "workbench.model.defaults",
    # statistics
    "METRICS": "workbench.stats.metrics", "comparison": "workbench.stats.metrics",
    "AUC_MIN_CLASS": "workbench.stats.significance", "MEAN_MIN_ROWS": "workbench.stats.significance",
    # analyses
    "SLICE_METRICS": "workbench.analysis.slices", "slice_metrics": "workbench.analysis.slices", "SliceTable": "workbench.analysis.slices",
    "breakdown": "workbench.analysis.slices", "slice_rows": "workbench.analysis.slices",
    "slice_vs_rest": "workbench.analysis.slices", "default_metric": "workbench.analysis.slices",
    "export_rows": "workbench.analysis.slices", "ORDERS": "workbench.analysis.slices",
    "Parity": "workbench.analysis.parity", "parity": "workbench.analysis.parity",
    "THRESHOLD_METRICS": "workbench.analysis.thresholds",
    "ThresholdView": "workbench.analysis.thresholds", "at_threshold": "workbench.analysis.thresholds",
    "sensitive_columns": "workbench.store.sensitive", "mark_sensitive": "workbench.store.sensitive",
    "unmark_sensitive": "workbench.store.sensitive",
    "SliceCalibration": "workbench.analysis.calibration", "slice_calibration": "workbench.analysis.calibration",
    "Discovery": "workbench.analysis.discover", "discover": "workbench.analysis.discover",
    "ErrorTree": "workbench.analysis.errortree", "error_tree": "workbench.analysis.errortree",
    "Diagnostics": "workbench.analysis.diagnostics", "diagnostics": "workbench.analysis.diagnostics",
    "Comparison": "workbench.analysis.compare", "compare": "workbench.analysis.compare",
    "Gate": "workbench.analysis.gate", "gate": "workbench.analysis.gate", "parse_rule": "workbench.analysis.gate",
    "Importance": "workbench.analysis.explain", "importance": "workbench.analysis.explain",
    "SliceContrast": "workbench.analysis.explain", "slice_contrast": "workbench.analysis.explain",
    "Explanation": "workbench.analysis.explain", "explain": "workbench.analysis.explain",
    "interactions": "workbench.analysis.explain", "SHAP_SAMPLE_ROWS": "workbench.analysis.explain",
    "RowExplanation": "workbench.model.whatif", "explain_row": "workbench.model.whatif",
    "parse_changes": "workbench.model.whatif",
    "explain_all": "workbench.model.explain", "explained_count": "workbench.model.explain",
    # rendering
    "charts": "workbench.render.charts", "text": "workbench.render.text",
}
# public names that differ from the name in their module
_ALIAS = {"save_slice": "save", "applicable_slices": "applicable", "suggest_training": "suggest",
          "SHAP_SAMPLE_ROWS": "SAMPLE_ROWS", "mark_sensitive": "mark", "unmark_sensitive": "unmark"}
_MODULES = {"demo", "charts", "text"}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module = importlib.import_module(_HOME[name])
    value = module if name in _MODULES else getattr(module, _ALIAS.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
