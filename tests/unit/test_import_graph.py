"""The package's import graph: no cycle between files, and dependencies point one way.

DESIGN.md §1: ``cli -> tasks -> engines -> models, data, metrics, runtime``; launchers
use only ``runtime``, ``config``, ``_configs``, ``errors`` and the one S3 helper. The
graph is read from the source (``ast``), function-level imports included, so an import
hidden inside a function to dodge a circle is still seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = {
    "segtrain": ROOT / "segtrain",
    "hydra_plugins": ROOT / "launchers" / "hydra_plugins",
}
FRAMEWORKS = ("torch", "torchvision", "lightning", "tensorflow", "keras", "tf2onnx")


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for segtrain and the Hydra plugins."""
    modules: dict[str, Path] = {}
    for top, base in PACKAGE_ROOTS.items():
        for path in base.rglob("*.py"):
            parts = path.relative_to(base.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
        assert any(name.startswith(top) for name in modules), f"no modules under {base}"
    return modules


MODULES = _module_files()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(module: str) -> set[str]:
    """Every module ``module`` imports anywhere in its file (functions included)."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                # `from pkg import module` imports the module; `from pkg import name`, pkg
                found.add(submodule if submodule in MODULES else target)
                found.add(submodule)
    return found


def internal_edges(module: str) -> set[str]:
    """The project files ``module`` imports (a ``from pkg import name`` of a non-module
    name points at ``pkg``'s ``__init__``)."""
    return {name for name in imported_names(module) if name in MODULES and name != module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_cycle_finder_finds_a_hidden_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_function_level_imports_are_seen():
    names = imported_names("segtrain.engines.base")
    assert "segtrain.errors" in names  # module-level
    assert "importlib" in names


def test_no_import_cycle_between_files():
    graph = {module: internal_edges(module) for module in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _imports_of(prefix: str) -> dict[str, set[str]]:
    return {m: imported_names(m) for m in MODULES if m == prefix or m.startswith(prefix + ".")}


@pytest.mark.parametrize("room", ["segtrain.data", "segtrain.metrics", "segtrain.runtime"])
def test_framework_free_rooms_import_no_framework(room):
    for module, names in _imports_of(room).items():
        bad = sorted(n for n in names if n.split(".")[0] in FRAMEWORKS)
        assert not bad, f"{module} imports {bad}"


def test_launchers_depend_only_on_runtime_config_and_storage():
    allowed = ("segtrain.runtime", "segtrain.config", "segtrain._configs", "segtrain.errors")
    allowed += ("segtrain.data.storage",)
    for module, names in _imports_of("hydra_plugins").items():
        segtrain_names = {n for n in names if n.split(".")[0] == "segtrain"}
        bad = sorted(
            n
            for n in segtrain_names
            if n != "segtrain" and not any(n == a or n.startswith(a + ".") for a in allowed)
        )
        assert not bad, f"{module} imports {bad}"
        frameworks = sorted(n for n in names if n.split(".")[0] in FRAMEWORKS)
        assert not frameworks, f"{module} imports {frameworks}"


def test_lower_layers_never_import_tasks_or_cli():
    tasks = {f"segtrain.{t}" for t in ("cli", "train", "evaluate", "predict", "bench")}
    tasks.add("segtrain.tasks_common")
    for room in ("segtrain.engines", "segtrain.models", "segtrain.data", "segtrain.runtime"):
        for module, names in _imports_of(room).items():
            bad = sorted(
                n for n in names if n in tasks or any(n.startswith(t + ".") for t in tasks)
            )
            assert not bad, f"{module} imports {bad} (DESIGN.md §1: cli -> tasks -> engines)"
