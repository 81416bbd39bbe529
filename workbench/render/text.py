"""Plain-text renderings of result objects, for the terminal: one function per result type,
each reading the same object whose ``to_dict()`` is the CLI's JSON."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # types only: listing tables should not import LightGBM for discovery's type
    from workbench.analysis.discover import Discovery
    from workbench.analysis.errortree import ErrorTree
    from workbench.analysis.explain import Explanation
    from workbench.model.whatif import RowExplanation
    from workbench.analysis.slices import SliceTable
    from workbench.analysis.parity import Parity
    from workbench.analysis.compare import Comparison
    from workbench.analysis.gate import Gate
    from workbench.data.profile import Profile
    from workbench.store.catalog import Catalog
    from workbench.store.datasets import DatasetList, DatasetVersion
    from workbench.store.runs import Run, RunList
    from workbench.store.saved import SavedSlice


def fmt(v: Any) -> str:
    """Four significant figures for floats, '-' for NaN or None in an interval, else ``str``."""
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (float, type(None))) for x in v):
        return "[" + ", ".join(fmt(x if x is not None else math.nan) for x in v) + "]"
    return str(v)


def table(rows: list[dict], columns: Sequence[str]) -> str:
    """Left-aligned columns with a header line."""
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def catalog_text(cat: Catalog) -> str:
    rows = [{"table": t.name, "rows": t.rows, "columns": len(t.columns)} for t in cat.tables]
    text = table(rows, ["table", "rows", "columns"]) if rows else "no tables"
    if cat.problems:
        text += "\n\ncannot be read (fix or remove the file; the other tables work):\n" + "\n".join(
            f"  {p.location}: {p.message}" for p in cat.problems)
    return text


def dataset_text(v: DatasetVersion) -> str:
    verb = "unchanged" if v.unchanged else "built"
    return f"{verb} {v.name} v{v.version}: {v.rows:,} rows, hash {v.hash}\n{v.path}"


def datasets_text(d: DatasetList) -> str:
    return table([{"dataset": x.name, "versions": len(x.versions), "latest rows": x.versions[-1].rows}
                  for x in d.datasets], ["dataset", "versions", "latest rows"])


def profile_text(p: Profile) -> str:
    text = table(p.columns.drop("top_values").to_dicts(),
                 ["name", "type", "null_share", "distinct", "distinct_exact", "min", "max", "mean"])
    if p.skipped:
        text += (f"\n{len(p.skipped):,} more columns not profiled ({', '.join(p.skipped[:5])}"
                 f"{', ...' if len(p.skipped) > 5 else ''}): name them with --columns, or raise --max-columns.")
    return text


def quoted(value: Any) -> str:
    """A class as the label's text in quotes ('1', 'True', '>50K'); '' for None."""
    return "" if value is None else f"'{value}'"


def positive_class(result: Any, run: Run | None = None) -> Any:
    """The positive class of the binary run a result is about: the result's own
    ``positive_class`` where it has one, else the run's (None for other tasks)."""
    if hasattr(result, "positive_class"):
        return result.positive_class
    return run.record.positive_class if run is not None else None


def _about_positive(value: Any) -> str:
    """'; positive class: '1'' for a binary run, else ''."""
    return "" if value is None else f"; positive class: {quoted(value)}"


def run_text(r: Run) -> str:
    m = r.metrics
    names = [k for k in next(iter(m.values())) if not k.endswith("_ci")]
    split = r.record.split
    positive = r.record.positive_class
    task = r.task + ("" if positive is None else f", positive class: {quoted(positive)}")
    rows = f"{split.n_train:,} train / {split.n_holdout:,} holdout rows"
    src = r.record.source
    if src is not None:  # predictions made elsewhere: no training, and the file's rows may not all match
        rows = (f"imported from {src['file']} on key {src['key']!r}: {src['rows_matched']:,} of "
                f"{src['rows_in_file']:,} rows in the file matched a row of the dataset")
        if src.get("rows_unmatched"):
            rows += f" ({src['rows_unmatched']:,} matched none, e.g. {', '.join(map(repr, src['unmatched_examples']))})"
        if src.get("rows_unlabelled"):
            rows += f", {src['rows_unlabelled']:,} left out for a missing label"
        rows += f"; {split.n_holdout:,} rows reviewed; per-row loss: {src['loss']}"
    weighting = r.record.weighting
    if weighting:
        rows += (f"; training rows where {weighting['where']} weighed {weighting['factor']:g} "
                 f"({weighting.get('train_rows_weighted', 0):,} rows)")
    return (f"\nrun {r.run_id} ({task}, {rows})\n" +
            table([{"model": k, **{n: v.get(n) for n in names}} for k, v in m.items()], ["model", *names]))


def runs_text(rl: RunList) -> str:
    rows = [{**r.to_dict(), "positive_class": quoted(r.record.positive_class)} for r in rl.runs]
    return table(rows, ["run_id", "dataset", "target", "task", "positive_class", "created"])


def slices_text(st: SliceTable, run: Run | None = None) -> str:
    rows = [{**r, "sig": "*" if r["significant"] else ""} for r in st.slices.to_dicts()]
    o = st.overall
    return (f"{st.metric} overall {fmt(o['value'])} {fmt(o['ci'])} on {o['n']:,} rows"
            f"{_about_positive(positive_class(st, run))}\n{st.method}\n{multiplicity(st)} * marks q < 0.05.\n" +
            table(rows, [*st.by, "n", "value", "ci_low", "ci_high", "q_value", "sig", "detectable", "reading"]))


def comparison_text(c: Comparison) -> str:
    """Each metric overall, then the slices (regressions marked), with what the tests are."""
    head = (f"{c.candidate} (candidate) against {c.baseline} (baseline) on the same {c.n:,} holdout rows"
            f"{_about_positive(c.positive_class)}; delta = candidate - baseline")
    overall = table([{"metric": m, **o} for m, o in c.overall.items()],
                    ["metric", "baseline", "candidate", "delta", "ci", "p_value"])
    methods = "\n".join(f"{m}: {how}" for m, how in c.method.items())
    if not c.slices.height:
        return f"{head}\n{overall}\n{methods}"
    rows = [{**r, "ci": [r["ci_low"], r["ci_high"]], "flag": "REGRESSION" if r["regression"] else ""}
            for r in c.slices.to_dicts()]
    tested = c.slices["p_value"].is_not_null().sum()
    found = int(c.slices["regression"].sum())
    note = (f"{c.metric} by slice; q: Benjamini-Hochberg over the {tested} slices tested; a regression is a slice "
            f"where the candidate is worse with q < 0.05 ({found} found).")
    if "source" in c.slices.columns and (c.slices["source"] == "found").any():
        note += (" Found slices: searched on one random half of the rows, their figures counted on the other "
                 "half, so the search cannot bias them.")
    columns = ["source"] * ("source" in c.slices.columns) + ["column", "value", "n", "baseline", "candidate",
                                                              "delta", "ci", "p_value", "q_value", "flag"]
    return f"{head}\n{overall}\n{methods}\n\n{note}\n" + table(rows, columns)


def multiplicity(st: SliceTable) -> str:
    """What a breakdown's q-values adjust over and what its readings mean: the app's caption and
    the CLI's note."""
    tested = st.slices["p_value"].is_not_null().sum()
    differs = "higher or lower" if st.higher_is_better is None else "worse or better"
    return (f"q: Benjamini-Hochberg over the {tested} of {st.slices.height} slices shown that could be tested. "
            f"Reading: {differs} than the rest where q < 0.05; else 'no clear difference' where the slice's size "
            f"could detect a difference of half the metric's room, 'too small to tell' where it could not or allows "
            f"no test. could detect: the difference from the rest that a slice of its size shows with 80% power.")


def shuffles_scored_as_high(d: Discovery) -> bool:
    """Whether some searches of shuffled errors reached the top score, so p >= 0.05 says the
    search found no more than noise (not merely that too few shuffles ran to give a small p)."""
    p = d.top_score_p
    return p is not None and p >= 0.05 and round(p * (d.permutations + 1)) > 1


def whole_holdout_note(d: Discovery) -> str:
    """The caveat beside a found slice's figures counted on the whole holdout."""
    if d.params.get("confirm"):
        return ("Counted on the whole holdout, the rows the search chose this slice on included: these figures "
                "flatter it; the table's are the ones to act on.")
    return "Counted on the whole holdout, which the search chose this slice on: these figures flatter it."


def saved_text(s: SavedSlice) -> str:
    return f"saved {s.name}: use --by {s.column} in slices"


def searched_rows(d: Discovery, holdout: int | None = None) -> str:
    """Which rows a search ran on, for the app's summary and the CLI's: 'a random half of the
    holdout (4,432 of 9,011 rows)' with confirmation, else 'the whole holdout (9,011 rows)'."""
    if not d.params.get("confirm"):
        return f"the whole holdout ({d.n:,} rows)"
    of = f" of {holdout:,}" if holdout else ""
    return f"a random half of the holdout ({d.n:,}{of} rows)"


def positive_note(run: Run) -> str:
    """What a binary run's rates and scores are about, in words (empty for other tasks)."""
    if run.task != "binary":
        return ""
    r = run.record
    from workbench.render.safe import md_code  # the names as code spans, whatever they hold
    return (f"Binary: rates, scores, ROC AUC and log loss are about the positive class {md_code(r.positive_class)} "
            f"of {md_code(r.target)}; error rate counts wrong classes either way.")


def sentence(text: str) -> str:
    """A note ('figures from ...') as a sentence of its own."""
    return f"{text[:1].upper()}{text[1:]}."


def figures_note(d: Discovery) -> str:
    """Which rows a search's figures count, and what 'confirmed' and q mean there."""
    n = d.slices.height
    if d.params.get("confirm"):
        return (f"figures from {d.figures_from}; q: Benjamini-Hochberg over the {n} slices shown; "
                f"confirmed: q < 0.05 there")
    return (f"figures from {d.figures_from}; q: Benjamini-Hochberg over all {d.candidates_evaluated:,} "
            f"candidates the search evaluated")


def search_note(d: Discovery) -> str:
    """The permutation p-value of the top score, in words ('' without shuffles)."""
    if d.top_score_p is None:
        return ""
    r = d.permutations
    if round(d.top_score_p * (r + 1)) == 1:
        return (f"top score p = {d.top_score_p:.2g}: none of {r} searches of shuffled errors (same rows, same settings) "
                f"scored as high, the smallest p {r} shuffles can give")
    return (f"top score p = {d.top_score_p:.2g}: share of {r} searches of shuffled errors (same rows, same settings) "
            f"that scored as high; a large p says the search found no more than it finds in noise")


def discovery_text(d: Discovery, run: Run | None = None) -> str:
    confirm = bool(d.params.get("confirm"))
    rows = [{"slice": r["predicate"], "size": r["size"], "error": r["error"], "ci": [r["ci_low"], r["ci_high"]],
             "lift": r["lift"], "q": r["q_value"], **({"confirmed": r["confirmed"]} if confirm else {}),
             "also": len(r["also"]) or ""}
            for r in d.slices.to_dicts()]
    searched = searched_rows(d, run.record.split.n_holdout if run is not None else None)
    head = (f"{len(rows)} slices found on {searched} (mean {d.error} {d.mean_error:.4g}"
            f"{_about_positive(positive_class(d, run))}); "
            f"{d.candidates_evaluated:,} candidates evaluated in {d.seconds:.1f} s")
    notes = "\n".join(x for x in (figures_note(d), search_note(d), d.params.get("columns_note")) if x)
    also = [f"  under {r['predicate']}: also {'; '.join(r['also'][:3])}"
            + (f" and {len(r['also']) - 3} more" if len(r["also"]) > 3 else "")
            for r in d.slices.to_dicts() if r["also"]]
    if not rows:
        return "\n".join(x for x in (head, "no slice scores above 0: raise --alpha to weigh error more than size",
                                      d.params.get("columns_note")) if x)
    return "\n".join([head, notes, table(rows, list(rows[0]))] + (["overlapping slices:"] + also if also else []))


def tree_text(t: ErrorTree, run: Run | None = None) -> str:
    rows = [{"node": "  " * r["depth"] + r["predicate"].split(" and ")[-1], "n": r["n"], "error": r["error"],
             "ci": [r["ci_low"], r["ci_high"]]} for r in t.nodes.to_dicts()]
    positive = positive_class(t, run)
    about = "" if positive is None else f"\n{t.error} of a binary run, positive class: {quoted(positive)}"
    return table(rows, ["node", "n", "error", "ci"]) + about


def explanation_text(e: Explanation) -> str:
    imp = e.importance
    about = f", class {quoted(imp.cls)}" if imp.cls is not None else (", |SHAP| summed over the classes"
                                                                      if imp.task == "multiclass" else "")
    head = (f"mean |SHAP| over {imp.rows_explained:,} of {imp.holdout_rows:,} holdout rows (seed {imp.seed}{about}); "
            f"base value {imp.base_value:.4g}; {imp.method}; {imp.seconds:.1f} s")
    rows = [{"feature": r["feature"], "mean |shap|": r["mean_abs_shap"], "ci": [r["ci_low"], r["ci_high"]],
             "mean shap": r["mean_shap"] if r["mean_shap"] is not None else math.nan}
            for r in imp.table.iter_rows(named=True)]
    out = [head, table(rows, ["feature", "mean |shap|", "ci", "mean shap"])]
    c = e.contrast
    if c is not None:
        out += ["", f"slice {c.where}: {c.slice_rows:,} holdout rows, mean raw score {c.mean_raw_inside:.4g} against "
                    f"{c.mean_raw_outside:.4g} on the rest ({c.rest_rows:,} rows)", c.method,
                table([{"feature": r["feature"], "inside": r["mean_shap_inside"], "outside": r["mean_shap_outside"],
                        "diff": r["diff"], "ci": [r["ci_low"], r["ci_high"]],
                        "q": r["q_value"] if r["q_value"] is not None else math.nan,
                        "|shap| in": r["mean_abs_inside"], "|shap| out": r["mean_abs_outside"]}
                       for r in c.table.iter_rows(named=True)],
                      ["feature", "inside", "outside", "diff", "ci", "q", "|shap| in", "|shap| out"])]
    return "\n".join(out)


def row_text(r: RowExplanation) -> str:
    about = f" (class {quoted(r.cls)})" if r.cls is not None else ""
    sides = [("before", r.before)] + ([("after", r.after)] if r.after is not None else [])
    head = [f"row {r.row} (label {r.label}){about}"]
    for name, p in sides:
        head.append(f"{name if r.after is not None else 'prediction'}: {p.prediction:.4g} (raw score {p.raw_score:.4g} "
                    f"= base {p.base_value:.4g} + contributions)")
    order = sorted(r.before.contributions, key=lambda f: -abs(r.before.contributions[f]))
    rows = []
    for f in order:
        row = {"feature": f, "value": r.before.values[f], "contribution": r.before.contributions[f]}
        if r.after is not None:
            row.update({"new value": r.after.values[f] if f in r.changes else "", "new contribution": r.after.contributions[f]})
        rows.append(row)
    return "\n".join(head + [table(rows, list(rows[0]) if rows else ["feature"])])


def parity_text(p: Parity) -> str:
    """Per sensitive column: each group's rates with intervals, the parity measures, and the
    pairs of groups whose rates differ (q < 0.05)."""
    out = [f"parity of run {p.run_id} at threshold {p.threshold:.10g}{_about_positive(p.positive_class)}", p.method]
    for col, c in p.to_dict()["columns"].items():
        groups = [{"group": g["group"], "n": g["n"],
                   **{rate: f"{fmt(v['value'] if v['value'] is not None else math.nan)} {fmt(v['ci'])}"
                      for rate, v in g["rates"].items()}} for g in c["groups"]]
        rates = list(c["groups"][0]["rates"]) if c["groups"] else []
        measures = [{"measure": m, "difference": v["difference"], "ci": v["difference_ci"], "ratio": v["ratio"],
                     "ratio ci": v["ratio_ci"]} for m, v in c["measures"].items()]
        found = [{**r, "q": r["q_value"]} for r in c["pairs"] if r["significant"]]
        tested = sum(r["p_value"] is not None for r in c["pairs"])
        out += ["", f"{col}:", table(groups, ["group", "n", *rates]), "",
                table(measures, ["measure", "difference", "ci", "ratio", "ratio ci"]), "",
                (f"{len(found)} of {tested} pairs tested differ at q < 0.05:\n" +
                 table(found, ["rate", "group_a", "group_b", "value_a", "value_b", "test", "q"])) if found
                else f"no pair of groups differs at q < 0.05 ({tested} pairs tested)"]
    return "\n".join(out)


def gate_text(g: Gate) -> str:
    """The gate's verdict, then one line per rule (value, interval, verdict, what it was computed
    on), then how each rule's figures are made."""
    against = f" against baseline {g.baseline}" if g.baseline else ""
    failed = len(g.failed)
    head = (f"gate of run {g.run_id}{against}: " +
            ("PASSED, every rule holds" if g.passed else f"FAILED, {failed} of {len(g.verdicts)} rules failed"))
    rows = [{"rule": v.rule.text, "value": v.value if v.value is not None else math.nan,
             "ci": list(v.ci) if v.ci else "", "verdict": v.verdict.upper() if not v.passed else v.verdict,
             "on": v.on} for v in g.verdicts]
    methods = "\n".join(f"{i}. {v.rule.quantity}: {v.method}" for i, v in enumerate(g.verdicts, 1))
    return f"{head}\n{table(rows, ['rule', 'value', 'ci', 'verdict', 'on'])}\n\nhow:\n{methods}"


def threshold_text(v: Any) -> str:
    """A binary run's decisions at a threshold: the confusion matrix, then each rate."""
    head = (f"run {v.run_id} at threshold {v.threshold:.10g} (predicted {quoted(v.positive_class)} when its "
            f"score is at least that), {v.n:,} holdout rows")
    cells = table([{"": f"actual {quoted(v.positive_class)}", "predicted positive": v.tp, "predicted negative": v.fn},
                   {"": "actual other", "predicted positive": v.fp, "predicted negative": v.tn}],
                  ["", "predicted positive", "predicted negative"])
    rows = [{**r, "ci": [r["ci_low"], r["ci_high"]]} for r in v.metrics.to_dicts()]
    return f"{head}\n{cells}\n\n{table(rows, ['metric', 'value', 'ci', 'k', 'of', 'interval'])}\n{v.method}"


def sensitive_text(s: Any) -> str:
    marked = ", ".join(s.columns) if s.columns else "none"
    return f"sensitive columns of {s.dataset}: {marked}"


RENDERERS: dict[str, Callable[..., str]] = {
    "Catalog": catalog_text, "DatasetVersion": dataset_text, "DatasetList": datasets_text,
    "Profile": profile_text, "Run": run_text, "RunList": runs_text, "SliceTable": slices_text,
    "SavedSlice": saved_text, "Discovery": discovery_text, "ErrorTree": tree_text,
    "Explanation": explanation_text, "RowExplanation": row_text, "Parity": parity_text,
    "Comparison": comparison_text, "Gate": gate_text, "ThresholdView": threshold_text, "Sensitive": sensitive_text,
}


ABOUT_A_RUN = {"SliceTable", "Discovery", "ErrorTree"}  # analyses of one run: their renderers take it too


def render(result: Any, *, run: Run | None = None) -> str:
    """The text of any result object the CLI prints (by its type's name, so rendering imports
    nothing that computing the result did not). ``run``, the run an analysis is about, gives
    what the result does not carry itself (the positive class of a binary run)."""
    name = type(result).__name__
    return RENDERERS[name](result, run) if name in ABOUT_A_RUN else RENDERERS[name](result)
