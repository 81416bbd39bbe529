"""``python -m workbench``: the terminal front end over the core.

Every command takes ``--workspace DIR`` and ``--json``, before the command or after it (after
wins). With ``--json`` stdout carries one JSON object and nothing else. Bad input exits with
status 2 and one line on stderr.

``gate`` exits 0 when every rule holds, 1 when any fails, 2 on bad input and 3 on an unexpected
internal error (``GATE_INTERNAL``), so that a crash is never read as "a rule failed".
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import traceback
from contextlib import contextmanager
from typing import Any, Sequence

from workbench.cli.parser import build_parser  # noqa: F401  (the grammar; tests and docs import it here)
from workbench.errors import WorkbenchError
from workbench.store.workspace import Workspace

# Modules are imported per command: scikit-learn and LightGBM cost a second that listing
# tables or datasets should not pay.


GATE_FAILED = 1  # gate: a rule did not hold
GATE_INTERNAL = 3  # gate: an unexpected internal error (a bug), never to be read as a failed rule


def jsonable(obj: Any) -> Any:
    """NaN and infinities become null, so the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.item())
    return obj


_terminal = sys.stderr  # where progress goes; stays the terminal while native output is captured


def _progress(json_mode: bool):
    if json_mode or not _terminal.isatty():
        return None
    return lambda fraction, message: print(f"\r{fraction:4.0%} {message:<40}", end="", file=_terminal, flush=True)


@contextmanager
def _native_stderr_dropped():
    """LightGBM's C++ core writes '[LightGBM] [Fatal] ...' straight to file descriptor 2 before
    raising; drop what native code writes there, so bad input still ends in one line of ours."""
    global _terminal
    sys.stderr.flush()
    saved = os.dup(2)
    _terminal = os.fdopen(os.dup(saved), "w")
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            _terminal.close()
            _terminal = sys.stderr


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; --workspace and --json may come before the command (after it wins)."""
    args = build_parser().parse_args(argv)
    if args.workspace is None:
        args.workspace = args.global_workspace
    args.json = args.json or args.global_json
    if args.workspace is not None and not args.workspace.strip():
        raise WorkbenchError("--workspace is empty; give a folder, or leave it out for "
                             "$WORKBENCH_WORKSPACE or ./data.")
    return args


def run(args: argparse.Namespace) -> Any:
    """Carry out one command; return its result object (``to_dict()`` is the JSON)."""
    return carry_out(args)[0]


def carry_out(args: argparse.Namespace) -> tuple[Any, Any]:
    """Carry out one command: its result object, and for an analysis of one run (slices,
    discover, tree, explain, explain-row) that run, whose text shows what the result may not carry, else None."""
    ws = Workspace.open(args.workspace)
    if args.command == "compare":  # an analysis of two runs
        from workbench.analysis import compare
        from workbench.store import runs
        return compare.compare(runs.load_run(ws, args.baseline), runs.load_run(ws, args.candidate), by=args.by,
                               bins=args.bins, min_size=args.min_size, saved=args.saved, find=args.find,
                               seed=args.seed), None
    if args.command == "gate":
        from workbench.analysis import gate
        from workbench.render import junit
        from workbench.store import runs
        rules = [gate.parse_rule(r) for r in args.rule]  # bad input first: before any run is read
        path = junit.check_path(args.junit) if args.junit else None
        baseline = runs.load_run(ws, args.baseline) if args.baseline else None
        result = gate.gate(runs.load_run(ws, args.run), rules, baseline=baseline)
        if path is not None:
            junit.write_junit(result, path)
        return result, None
    if args.command in ("slices", "discover", "tree", "explain", "explain-row", "parity", "threshold"):
        from workbench.store import runs
        analysed = runs.load_run(ws, args.run)
        return _analysis(args, ws, analysed), analysed
    return _command(args, ws), None


def _command(args: argparse.Namespace, ws: Workspace) -> Any:
    if args.command == "tables":
        from workbench.store import catalog
        return catalog.scan(ws)  # an unreadable file is listed with its problem; the other tables work
    if args.command == "build":
        from workbench.store import build
        return build.build(ws, args.name, args.sql)
    if args.command == "demo":
        from workbench.data import demo
        return demo.setup(ws)
    if args.command == "datasets":
        from workbench.store import datasets
        return datasets.DatasetList(tuple(datasets.list_datasets(ws)))
    if args.command == "profile":
        from workbench.data import profile
        return profile.profile(ws, args.name, columns=args.columns, max_columns=args.max_columns)
    if args.command == "train":
        from workbench.model import train
        blank = [t for t in args.param if not t.strip()]  # the core skips blank lines (the page's box)
        if blank:
            raise WorkbenchError(f"Invalid --param {blank[0]!r}: write NAME=VALUE, e.g. learning_rate=0.05.")
        spec = train.TrainSpec(args.dataset, args.target, task=args.task, split=args.split,
                               drop=tuple(args.drop), seed=args.seed, version=args.version,
                               params=train.parse_settings(args.param), numeric_time=args.numeric_time,
                               upweight=args.upweight, upweight_factor=args.upweight_factor)
        return train.train(ws, spec, progress=_progress(args.json))
    if args.command == "retrain":
        from workbench.model import retrain
        from workbench.store import runs
        return retrain.retrain(ws, runs.load_run(ws, args.run), upweight=args.upweight, factor=args.upweight_factor,
                               drop=args.drop, add=args.add, progress=_progress(args.json))
    if args.command == "sensitive":
        from workbench.store import sensitive
        if args.mark:
            sensitive.mark(ws, args.dataset, args.mark)
        if args.unmark:
            sensitive.unmark(ws, args.dataset, args.unmark)
        return sensitive.Sensitive(args.dataset, sensitive.sensitive_columns(ws, args.dataset))
    if args.command == "import-predictions":
        from workbench.model import imported
        return imported.import_predictions(ws, args.name, dataset=args.dataset, version=args.version, file=args.file,
                                           key=args.key, score=args.score, pred=args.pred, target=args.target)
    if args.command == "runs":
        from workbench.store import runs
        return runs.RunList(tuple(runs.list_runs(ws)))
    if args.command == "save-slice":
        from workbench.store import runs, saved
        return saved.save(ws, args.name, args.where, run=runs.load_run(ws, args.run), predicate=args.predicate)
    raise WorkbenchError(f"Unknown command {args.command!r}.")


def _analysis(args: argparse.Namespace, ws: Workspace, run: Any) -> Any:
    if args.command == "slices":
        from workbench.analysis import slices
        from workbench.store import saved
        wanted = any(b.startswith(saved.PREFIX) for b in args.by)
        return slices.breakdown(run, args.by, metric=args.metric, bins=args.bins, min_size=args.min_size,
                                saved=saved.applicable(ws, run) if wanted else None, order=args.order,
                                threshold=args.threshold)
    if args.command == "parity":
        from workbench.analysis import parity
        columns = args.sensitive
        if not columns:
            from workbench.store import sensitive
            dataset = run.record.dataset.name
            columns, skipped = (list(c) for c in sensitive.for_run(ws, run))
            if skipped and columns:  # a note beside the result, never inside --json's one object
                print(f"note: marked sensitive but not a column of run {run.run_id}'s holdout (or its target), "
                      f"left out: {', '.join(skipped)}", file=sys.stderr)
            if skipped and not columns:
                raise WorkbenchError(f"The sensitive columns marked in dataset {dataset!r} ({', '.join(skipped)}) are "
                                     f"not columns of run {run.run_id}'s holdout, or are its target; give --sensitive COL.")
            if not columns:
                raise WorkbenchError(f"Run {run.run_id}'s dataset {dataset!r} has no sensitive columns marked; give "
                                     f"--sensitive COL, or mark them: python -m workbench sensitive {dataset} --mark COL.")
        return parity.parity(run, columns, threshold=args.threshold, bins=args.bins, seed=args.seed)
    if args.command == "threshold":
        from workbench.analysis import thresholds
        return thresholds.at_threshold(run, args.threshold)
    if args.command == "discover":
        from workbench.analysis import discover
        return discover.discover(run, k=args.k, max_level=args.max_level or None, alpha=args.alpha,
                                 min_support=args.min_support, error=args.error, bins=args.bins,
                                 binner=args.binning, confirm=args.confirm, seed=args.seed,
                                 permutations=args.permutations, group=args.group, overlap=args.overlap,
                                 columns=args.columns or None)
    if args.command == "explain":
        from workbench.analysis import explain
        return explain.explain(run, rows=args.rows, where=args.where, seed=args.seed, cls=args.cls,
                               progress=_progress(args.json))
    if args.command == "explain-row":
        from workbench.model import whatif
        return whatif.explain_row(run, args.row, whatif.parse_changes(args.changes) or None, cls=args.cls)
    from workbench.analysis import errortree
    return errortree.error_tree(run, error=args.error, max_depth=args.max_depth, min_rows=args.min_rows,
                                seed=args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status: 0 done, 2 bad input, 1 an unexpected error (for ``gate``:
    1 a rule failed, 3 an unexpected error), 130 interrupted."""
    command = None
    try:
        args = _parse(argv)
        command = args.command
        if args.command in ("train", "retrain"):
            with _native_stderr_dropped():
                result, about = carry_out(args)
        else:
            result, about = carry_out(args)
        from workbench.render import text
        out = jsonable(result.to_dict()) if args.json else text.render(result, run=about)
    except WorkbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was left half-written", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: say so in one line; the traceback only on request
        if os.environ.get("WORKBENCH_DEBUG"):
            traceback.print_exc()
        print(f"error: unexpected {type(e).__name__}: {e} (set WORKBENCH_DEBUG=1 for details)", file=sys.stderr)
        return GATE_INTERNAL if command == "gate" else 1
    try:
        print(json.dumps(out) if args.json else out, flush=True)
    except BrokenPipeError:  # `... | head`: the reader has what it wanted; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if command == "gate" and not result.passed:
        return GATE_FAILED
    return 0
