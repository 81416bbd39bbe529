"""A gate's verdicts as JUnit XML, the test-report format CI systems (Jenkins, GitLab, GitHub
Actions' test reporters, Azure Pipelines) show as test results: one test case per rule, a
``<failure>`` with the value, its interval and the rule for each rule that did not hold.

The layout follows the common JUnit schema (``testsuites`` > ``testsuite`` > ``testcase``, with
``failure`` and ``system-out`` inside a case). The file is written atomically: a temporary file
in the same folder, then a rename, so a CI job never reads half a report.
"""
from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.analysis.gate import Gate, Verdict

MISSING_FOLDER = ("Cannot write the JUnit file {path}: folder {folder} does not exist; create it first or give "
                  "--junit a path in an existing folder.")


def _figure(x: float | None) -> str:
    return "none" if x is None else f"{x:.6g}"


def describe(v: Verdict) -> str:
    """One line: the quantity, its value and interval, the rule and the verdict."""
    ci = f" [{_figure(v.ci[0])}, {_figure(v.ci[1])}]" if v.ci else ""
    return (f"{v.rule.quantity} = {_figure(v.value)}{ci}; rule {v.rule.text}: {v.verdict}; on {v.on}")


def junit_xml(g: Gate, *, timestamp: datetime | None = None) -> str:
    """The gate as a JUnit XML document (text, with its XML declaration)."""
    failures = len(g.failed)
    seconds = f"{sum(v.seconds for v in g.verdicts):.3f}"
    name = f"workbench gate {g.run_id}" + (f" against {g.baseline}" if g.baseline else "")
    root = ET.Element("testsuites", name=name, tests=str(len(g.verdicts)), failures=str(failures), errors="0",
                      time=seconds)
    stamp = (timestamp or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(g.verdicts)), failures=str(failures),
                          errors="0", skipped="0", time=seconds, timestamp=stamp, hostname="localhost")
    for v in g.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"workbench.gate.{v.rule.kind}", name=v.rule.text,
                             time=f"{v.seconds:.3f}")
        if not v.passed:
            failure = ET.SubElement(case, "failure", type=f"gate.{v.rule.kind}",
                                    message=f"{v.rule.quantity} = {_figure(v.value)}, rule {v.rule.text}")
            failure.text = f"{describe(v)}\nmethod: {v.method}"
        ET.SubElement(case, "system-out").text = f"{describe(v)}\nmethod: {v.method}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def check_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or a WorkbenchError when its folder does not exist (checked before a
    gate is computed, so a typo costs nothing)."""
    p = Path(path)
    if p.is_dir():
        raise WorkbenchError(f"Cannot write the JUnit file {p}: it is a folder; give a file name, e.g. {p / 'gate.xml'}.")
    if not p.parent.is_dir():
        raise WorkbenchError(MISSING_FOLDER.format(path=p, folder=p.parent))
    return p


def write_junit(g: Gate, path: str | os.PathLike) -> Path:
    """Write the gate's JUnit XML to ``path`` atomically (temporary file beside it, then a rename)."""
    p = check_path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(junit_xml(g))
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
