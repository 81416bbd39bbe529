"""The house plan's contract: imports flow one way through the layers of ``workbench/``, and the
core never imports streamlit (``.importlinter`` lists the layers)."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["cli", "render", "analysis", "model", "data", "store", "stats", "engine"]  # highest first


def test_the_layer_contract_holds():
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / '.importlinter')!r}, no_cache=True))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "workbench":
            names |= {f"workbench.{a.name}" for a in node.names}  # from workbench import stats
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add("." * node.level + (node.module or ""))
    return names


def test_no_layer_imports_a_higher_one_even_inside_a_function():
    """A second, plain reading of every import statement (functions included), so a contract
    file that lost a line cannot hide a reversed import."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    rank.update(model=3, data=3, stats=6, engine=6)  # siblings share a rank
    siblings = {("model", "data"), ("data", "model"), ("stats", "engine"), ("engine", "stats")}
    bad = []
    for path in (ROOT / "workbench").rglob("*.py"):
        parts = path.relative_to(ROOT / "workbench").parts
        if len(parts) < 2 or parts[0] not in rank:
            continue
        layer = parts[0]
        for name in _imports(path):
            if name.startswith("."):
                bad.append(f"{'/'.join(parts)} imports {name} relatively: write the layer's full name")
                continue
            if name == "workbench" or (name.startswith("workbench.") and name.split(".")[1] not in rank
                                       and name not in ("workbench.errors",)):
                bad.append(f"{'/'.join(parts)} ({layer}) imports {name}: the public API is for front ends")
            if name == "streamlit" or name.startswith("streamlit."):
                bad.append(f"{path.name} imports streamlit")
            bits = name.split(".")
            if bits[0] == "workbench" and len(bits) > 1 and bits[1] in rank:
                other = bits[1]
                if other != layer and (rank[other] < rank[layer] or (layer, other) in siblings):
                    bad.append(f"{'/'.join(parts)} ({layer}) imports {name} ({other})")
    assert not bad, "\n".join(bad)


def test_the_contract_file_names_every_layer():
    text = (ROOT / ".importlinter").read_text()
    folders = {p.name for p in (ROOT / "workbench").iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(LAYERS)
    for layer in LAYERS:
        assert layer in text
