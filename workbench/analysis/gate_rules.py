"""The rules of a release gate (:mod:`workbench.analysis.gate`): ``TARGET OP NUMBER
[OPTION=VALUE ...]``, read by a small tokenizer and a recursive reader, never ``eval``. Every
rule is parsed before anything is computed, so a typo costs nothing; a bad one is refused with
one line that names the problem and the grammar (``GRAMMAR``)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from workbench.analysis import parity as par
from workbench.analysis.thresholds import THRESHOLD_METRICS
from workbench.errors import WorkbenchError

COMPARATORS = {">=": (lambda a, b: a >= b), "<=": (lambda a, b: a <= b), ">": (lambda a, b: a > b),
               "<": (lambda a, b: a < b), "==": (lambda a, b: a == b), "!=": (lambda a, b: a != b)}
KINDS = ("metric", "worst_slice", "parity", "regressions", "delta")
BOUNDS = {"low": 0, "high": 1}
PARITY_MEASURES = tuple(f"{m}_{s}" for m in (*par.MEASURES, *THRESHOLD_METRICS) for s in ("difference", "ratio"))
OPTIONS = {"metric": ("model",), "worst_slice": ("min_size", "bins", "threshold"), "parity": ("threshold", "bins"),
           "regressions": ("by", "min_size", "bins"), "delta": ()}
GRAMMAR = ("A rule is TARGET OP NUMBER [OPTION=VALUE ...] with OP one of >= <= > < == != and TARGET one of: "
           "METRIC[.low|.high] (e.g. roc_auc.low>=0.85; option model=NAME); "
           "worst_slice(COL,...).METRIC[.low|.high] (options min_size=N bins=N threshold=T); "
           "parity(COL,...).MEASURE[.low|.high] (MEASURE e.g. fpr_difference, demographic_parity_ratio, "
           "equalized_odds_difference; options threshold=T bins=N); "
           "regressions (with --baseline; options by=COL,... min_size=N bins=N); "
           "delta(METRIC)[.low|.high] (with --baseline).")
BAD_RULE = "Bad rule {rule!r}: {problem}. " + GRAMMAR
NEEDS_BASELINE = "Rule {rule!r} compares the run with a baseline; give one with --baseline RUN."

_TOKEN = re.compile(r"\s*(?:(?P<op>>=|<=|==|!=|>|<)|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),.=]))")


@dataclass(frozen=True)
class Rule:
    """One parsed rule: ``kind`` (``KINDS``), its ``columns`` (worst_slice, parity, regressions'
    ``by``), ``metric`` (the metric or measure), ``bound`` (None, 'low' or 'high'), ``op`` and
    ``threshold``, and its ``options``; ``text`` as written."""

    text: str
    kind: str
    metric: str | None
    op: str
    threshold: float
    columns: tuple[str, ...] = ()
    bound: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def quantity(self) -> str:
        """What is compared, e.g. 'roc_auc.low'."""
        head = {"metric": "", "worst_slice": "worst slice ", "parity": "parity ", "regressions": "",
                "delta": "delta "}[self.kind]
        return head + (self.metric or "regressions") + (f".{self.bound}" if self.bound else "")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = text.rstrip()
    while at < len(text):
        m = _TOKEN.match(text, at)
        if not m or m.end() == at:
            raise WorkbenchError(BAD_RULE.format(rule=text, problem=f"unexpected {text[at:].strip()[:12]!r}"))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        at = m.end()
    return out


class _Reader:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def fail(self, problem: str):
        raise WorkbenchError(BAD_RULE.format(rule=self.text, problem=problem))

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        k, v = self.toks[self.i]
        return (value is None or v == value) and (kind is None or k == kind)

    def take(self, kind: str, what: str) -> str:
        if not self.peek(kind=kind):
            found = repr(self.toks[self.i][1]) if self.i < len(self.toks) else "the end"
            self.fail(f"expected {what}, found {found}")
        self.i += 1
        return self.toks[self.i - 1][1]

    def expect(self, value: str) -> None:
        if not self.peek(value):
            found = repr(self.toks[self.i][1]) if self.i < len(self.toks) else "the end"
            self.fail(f"expected {value!r}, found {found}")
        self.i += 1

    def names(self) -> tuple[str, ...]:
        out = [self.take("name", "a column name")]
        while self.peek(","):
            self.i += 1
            out.append(self.take("name", "a column name"))
        return tuple(out)


def parse_rule(text: str) -> Rule:
    """Parse one rule (see ``GRAMMAR``), or a WorkbenchError naming the problem and the grammar.

    >>> parse_rule("roc_auc.low>=0.85").bound
    'low'
    """
    r = _Reader(text)
    if not r.toks:
        r.fail("it is empty")
    head = r.take("name", "a metric, worst_slice(...), parity(...), delta(...) or regressions")
    columns: tuple[str, ...] = ()
    if head in ("worst_slice", "parity", "delta"):
        r.expect("(")
        columns = r.names()
        r.expect(")")
        if head == "delta":
            if len(columns) != 1:
                r.fail("delta(...) takes one metric")
            kind, metric = "delta", columns[0]
            columns = ()
        else:
            r.expect(".")
            kind, metric = head, r.take("name", f"a metric after {head}(...).")
    elif head == "regressions":
        kind, metric = "regressions", None
    elif r.peek("("):
        r.fail(f"unknown function {head!r}; the functions are worst_slice, parity and delta")
    else:
        kind, metric = "metric", head
    bound = None
    if r.peek("."):
        if kind == "regressions":
            r.fail("regressions is a count; it has no .low or .high")
        r.i += 1
        bound = r.take("name", "low or high after '.'")
        if bound not in BOUNDS:
            r.fail(f"unknown bound {bound!r}; write .low or .high")
    op = r.take("op", "a comparison (>=, <=, >, <, == or !=)")
    threshold = float(r.take("num", "a number after the comparison"))
    options: dict[str, Any] = {}
    while r.i < len(r.toks):
        name = r.take("name", "an option NAME=VALUE")
        if name not in OPTIONS[kind]:
            allowed = ", ".join(OPTIONS[kind]) or "none"
            r.fail(f"unknown option {name!r} for a {kind} rule (options: {allowed})")
        if name in options:
            r.fail(f"option {name!r} is given twice")
        r.expect("=")
        if name in ("by", "model"):
            value: Any = r.names() if name == "by" else r.take("name", "a model name")
        else:
            number = r.take("num", f"a number for {name}")
            value = float(number)
            if name != "threshold" and (not value.is_integer() or value < 1):
                r.fail(f"{name} must be a whole number of at least 1, got {number}")
            value = value if name == "threshold" else int(value)
        options[name] = value
    if kind == "regressions":
        columns = tuple(options.pop("by", ()))
    twice = [c for i, c in enumerate(columns) if c in columns[:i]]
    if twice:
        r.fail(f"column {twice[0]!r} is named twice")
    if kind == "parity" and metric not in PARITY_MEASURES:
        r.fail(f"unknown parity measure {metric!r} (measures: {', '.join(PARITY_MEASURES)})")
    if kind == "worst_slice" and "threshold" in options and metric not in THRESHOLD_METRICS:
        r.fail(f"threshold= applies to the rates at a threshold ({', '.join(THRESHOLD_METRICS)}), not {metric}")
    return Rule(text.strip(), kind, metric, op, threshold, columns, bound, options)
