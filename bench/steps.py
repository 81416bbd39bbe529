"""How a benchmark runs each step in a fresh subprocess, so that a step's peak resident memory
is its own: the parent calls ``sub(__file__, "name", *args)``; the child, started with
``--step name args...``, runs ``step_name(*args)`` from the script's globals and prints its result
as one JSON line with ``peak_mb``."""
from __future__ import annotations

import json
import resource
import subprocess
import sys


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(step: list[str], namespace: dict) -> None:
    """The child's side: ``step_NAME(*args)`` (numbers as ints), printed as JSON with its peak memory."""
    name, *rest = step
    result = namespace[f"step_{name}"](*[int(r) if r.isdigit() else r for r in rest])
    print(json.dumps({**result, "peak_mb": peak_mb()}))


def sub(script: str, *args) -> dict:
    """The parent's side: run one step of ``script`` in a fresh interpreter and return its result."""
    out = subprocess.run([sys.executable, script, "--step", *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"step {args[0]} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])
