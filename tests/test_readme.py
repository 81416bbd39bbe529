"""The README's tour and terminal block, run as written: docs that users follow are tested.

The commands and the SQL edit are read from README.md itself, so an edit of the README is
tested too. The demo is trained once, by the block's own `train` line.
"""
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from workbench import Workspace
from workbench.data import demo
from workbench.store import build, catalog, datasets

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TERMINAL = "The same loop in a terminal:"
OWN_FILES = "To open your own parquet files:"
PROGRAM = ["python", "-m", "workbench"]


def readme() -> str:
    return README.read_text(encoding="utf-8")


def bash_block_after(text: str, heading: str) -> list[str]:
    """The lines of the ```bash block that directly follows ``heading``."""
    m = re.search(re.escape(heading) + r"\s*```bash\n(.*?)^```", text, re.S | re.M)
    if m is None:
        pytest.fail(f"README.md has no ```bash block right after {heading!r}; tests/test_readme.py "
                    "runs that block, so keep the heading and the block together (or update the test).")
    return [line for line in m.group(1).splitlines() if line.strip()]


def workbench_args(line: str) -> list[str]:
    """`python -m workbench demo  # comment` -> ['demo']."""
    words = shlex.split(line, comments=True)
    assert words[:3] == PROGRAM, f"a README line that is not `python -m workbench ...`: {line!r}"
    return words[3:]


def tour_step(n: int) -> str:
    """Step ``n`` of the five-minute tour, on one line."""
    tour = readme().split("## A five-minute tour on the demo", 1)[-1].split(TERMINAL, 1)[0]
    m = re.search(rf"^{n}\. (.*?)(?=^\d+\. |\Z)", tour, re.S | re.M)
    if m is None:
        pytest.fail(f"README.md's five-minute tour has no step {n}.")
    return " ".join(m.group(1).split())


def cli(args: list[str], *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@dataclass
class Tour:
    ws: Workspace
    env: dict = field(repr=False)
    cwd: Path
    run_id: str
    outputs: list = field(repr=False)  # (args as run, stdout), in order

    def output(self, command: str, *, by: str = "") -> str:
        """The stdout of the last ``command`` run (whose --by starts with ``by``, if given)."""
        return next(out for args, out in reversed(self.outputs)
                    if args[0] == command and (not by or any(a.startswith(by) for a in args)))


def reads_output(args: list[str]) -> bool:
    """Commands whose output the test reads: run with --json added, otherwise as written."""
    return args[0] in ("train", "retrain", "discover") or (args[0] == "slices" and any(a.startswith("slice:") for a in args))


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> Tour:
    """Run the README's terminal block in order in a fresh workspace, named by $WORKBENCH_WORKSPACE."""
    cwd = tmp_path_factory.mktemp("readme")
    root = cwd / "workspace"
    env = {**os.environ, "WORKBENCH_WORKSPACE": str(root),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    run_id, new_run_id, outputs = None, None, []
    for line in bash_block_after(readme(), TERMINAL):
        args = workbench_args(line)
        if "NEW_RUN_ID" in " ".join(args):  # the run a `retrain` line made
            assert new_run_id, f"{line!r} needs NEW_RUN_ID, but no `retrain` line came before it"
            args = [a.replace("NEW_RUN_ID", new_run_id) for a in args]
        if "RUN_ID" in " ".join(args):
            assert run_id, f"{line!r} needs RUN_ID, but no `train` line came before it"
            args = [a.replace("RUN_ID", run_id) for a in args]
        if "ROW" in args:  # a holdout row of that run: its worst, the first of predictions.parquet
            first = pq.read_table(root / ".workbench" / "runs" / run_id / "predictions.parquet", columns=["_row"])
            args = [str(first["_row"][0].as_py()) if a == "ROW" else a for a in args]
        if reads_output(args):
            args = [*args, "--json"]
        p = cli(args, cwd=cwd, env=env)
        if p.returncode != 0:
            pytest.fail(f"README command failed with exit {p.returncode}: {line}\n{p.stderr.strip()}")
        outputs.append((args, p.stdout))
        if args[0] == "train":
            run_id = json.loads(p.stdout)["run_id"]
        if args[0] == "retrain":
            new_run_id = json.loads(p.stdout)["run_id"]
    assert run_id, "README.md's terminal block has no `train` line"
    return Tour(Workspace(root), env, cwd, run_id, outputs)


def test_the_terminal_block_runs_in_order_in_the_named_workspace(tour):
    assert (tour.ws.root / "flights.parquet").is_file()  # $WORKBENCH_WORKSPACE was used, not ./data
    assert not (tour.cwd / "data").exists()
    assert tour.run_id in tour.output("runs")  # `runs` lists the run `train` made
    assert (tour.ws.runs_dir / tour.run_id / "predictions.parquet").is_file()


def test_the_demo_has_the_tables_and_dataset_the_tour_names(tour):
    step = tour_step(1)
    m = re.search(r"the (\w+) source tables \(([^)]*)\)", step)
    assert m, "step 1 no longer names the source tables as 'the N source tables (a, b, ...)'"
    names = [n.strip() for n in m.group(2).split(",")]
    assert {"four": 4, "five": 5, "six": 6}.get(m.group(1)) == len(names), step
    cat = catalog.scan(tour.ws)
    rows = {t.name: t.rows for t in cat.tables}
    assert sorted(rows) == sorted(names)
    for name, count in re.findall(r"`(\w+) · ([\d,]+) rows`", step):
        assert rows[name] == int(count.replace(",", "")), f"README says {name} has {count} rows"
    # flights_delay: completed flights only, with the target `late`
    latest = {d.name: d.versions[-1] for d in datasets.list_datasets(tour.ws)}
    delay = latest[demo.DATASET]
    assert 0 < delay.rows < rows["flights"]
    assert pl.read_parquet(delay.path, columns=["late"])["late"].dtype == pl.Boolean


def test_the_step_1_edit_keeps_only_jfk_flights(tour):
    """Step 1 tells users what to add to the demo's SQL; it must run as written."""
    step = tour_step(1)
    m = re.search(r"add `(AND [^`]+)`", step)
    assert m, ("step 1 no longer says 'add `AND ...`'; update tests/test_readme.py to apply "
               f"the edit the way the text now says:\n{step}")
    sql = f"{demo.SQL} {m.group(1)}"  # an `AND ...` goes at the end of the demo's WHERE
    assert demo.SQL.rstrip().splitlines()[-1].startswith("WHERE "), "the demo SQL no longer ends in its WHERE"
    demo_rows = {d.name: d.versions[-1] for d in datasets.list_datasets(tour.ws)}[demo.DATASET].rows

    shown = build.preview(tour.ws, sql)  # Preview
    assert 0 < shown.row_count < demo_rows
    assert set(shown.rows["origin"]) == {"JFK"}

    saved = build.build(tour.ws, "flights_jfk", sql)  # Save dataset
    assert saved.version == 1 and saved.rows == shown.row_count
    assert pl.read_parquet(saved.path, columns=["origin"])["origin"].unique().to_list() == ["JFK"]

    again = build.build(tour.ws, "flights_jfk", sql)  # "Saving the same query again adds no version."
    assert again.unchanged and again.version == 1 and again.hash == saved.hash
    versions = {d.name: d.versions for d in datasets.list_datasets(tour.ws)}["flights_jfk"]
    assert [v.version for v in versions] == [1]


def test_the_train_line_holds_out_the_latest_fifth_with_three_models(tour):
    run = json.loads(tour.output("train"))
    assert run["dataset"] == demo.DATASET and run["target"] == "late" and run["task"] == "binary"
    assert set(run["metrics"]) == {"lightgbm", "linear", "trivial"}  # LightGBM, linear baseline, prior
    for metrics in run["metrics"].values():
        low, high = metrics["accuracy_ci"]  # with 95% intervals
        assert low <= metrics["accuracy"] <= high
    rows = {d.name: d.versions[-1] for d in datasets.list_datasets(tour.ws)}[demo.DATASET].rows
    assert run["n_holdout"] / rows == pytest.approx(0.2, abs=0.01)  # "time: latest 20% held out"


def test_discovery_finds_the_slice_the_tour_names(tour):
    step = tour_step(5)
    m = re.search(r"such as `([^`]+)` \(about twice the error rate of the rest\)", step)
    assert m, f"step 5 no longer names an example slice as 'such as `...` (about twice ...)':\n{step}"
    found = {s["predicate"]: s for s in json.loads(tour.output("discover"))["slices"]}
    assert m.group(1) in found, f"discover did not list {m.group(1)!r}; it found {list(found)}"
    example = found[m.group(1)]
    assert 1.6 <= example["lift"] <= 2.5 and example["confirmed"]


def test_the_saved_slice_is_a_breakdown_column(tour):
    """`save-slice december_humid ... --where ...` then `--by slice:december_humid`."""
    lines = bash_block_after(readme(), TERMINAL)
    save = next(workbench_args(x) for x in lines if workbench_args(x)[0] == "save-slice")
    where = save[save.index("--where") + 1]
    name = save[1]
    table = json.loads(tour.output("slices", by=f"slice:{name}"))
    inside = [s for s in table["slices"] if s["filters"][f"slice:{name}"] == f"in {name}"]
    assert inside and len(inside) < len(table["slices"])
    assert sum(s["n"] for s in table["slices"]) == table["overall"]["n"]
    predictions = str(tour.ws.runs_dir / tour.run_id / "predictions.parquet")
    (expected,), = tour.ws.cursor().execute(f"SELECT count(*) FROM read_parquet(?) WHERE {where}",
                                           [predictions]).fetchall()
    assert sum(s["n"] for s in inside) == expected > 0


def test_the_workspace_rule_the_readme_gives(tmp_path, monkeypatch):
    """`$WORKBENCH_WORKSPACE` if set, else ./data below the current directory (app and CLI alike)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "mine"))
    assert Workspace.open().root == tmp_path / "mine"
    assert Workspace.open(tmp_path / "given").root == tmp_path / "given"  # --workspace wins
    monkeypatch.delenv("WORKBENCH_WORKSPACE")
    assert Workspace.open().root == tmp_path / "data" and (tmp_path / "data").is_dir()


def test_the_own_files_lines_run(tour):
    """`python -m workbench --workspace /path/to/parquet tables`: --workspace before the command."""
    line = next(x for x in bash_block_after(readme(), OWN_FILES) if x.startswith("python "))
    args = [a.replace("/path/to/parquet", str(tour.ws.root)) for a in workbench_args(line)]
    p = cli(args, cwd=tour.cwd, env={k: v for k, v in tour.env.items() if k != "WORKBENCH_WORKSPACE"})
    assert p.returncode == 0, p.stderr
    assert "flights" in p.stdout and not (tour.cwd / "data").exists()
