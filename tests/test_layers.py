"""The layers point one way: ``ssl_core`` (no Ray) <- ``ray_jobs`` (orchestration, never naming a
method) <- ``studies``; ``analysis`` reads results. Checked on the source's import statements
(including imports inside functions)."""
import ast
from pathlib import Path

import pytest

from ssl_core.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ssl_core", "ray_jobs", "analysis")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a.b import c`` counts ``a.b.c`` when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in known)
    return found


def graph() -> dict[str, set[str]]:
    known = set(modules())
    return {name: {m for m in imports(path, known) if m in known and m != name} for name, path in modules().items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert cycles(graph()) == []


def all_imports(name: str) -> set[str]:
    return imports(modules()[name], set(modules()))


@pytest.mark.parametrize("name", [m for m in modules() if m.startswith("ssl_core")])
def test_ssl_core_uses_no_ray_and_no_upper_layer(name):
    bad = {m for m in all_imports(name) if m.split(".")[0] in ("ray", "ray_jobs", "analysis", "studies")}
    assert not bad, f"{name} imports {sorted(bad)}"


LOWER = ("ssl_core.data", "ssl_core.labels", "ssl_core.backbones", "ssl_core.samplers", "ssl_core.losses", "ssl_core.heads")
UPPER = ("ssl_core.methods", "ssl_core.experiment", "ssl_core.presets", "ssl_core.study", "ssl_core.pretrain", "ssl_core.eval")


@pytest.mark.parametrize("name", [m for m in modules() if m.startswith(LOWER)])
def test_data_labels_backbones_samplers_do_not_import_methods_or_trials(name):
    bad = {m for m in all_imports(name) if m.startswith(UPPER)}
    assert not bad, f"{name} imports {sorted(bad)}"


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


SHARED = sorted([*(ROOT / "ray_jobs").glob("*.py"), ROOT / "ssl_core/presets.py", ROOT / "ssl_core/experiment.py",
                 ROOT / "ssl_core/study.py", ROOT / "ssl_core/pretrain.py"])


@pytest.mark.parametrize("path", SHARED, ids=lambda path: str(path.relative_to(ROOT)))
def test_shared_code_names_no_method(path):
    named = string_constants(path) & set(METHODS)
    assert not named, f"{path.relative_to(ROOT)} names the method(s) {sorted(named)}"
