"""The import graph: arrows one way, no circles.

Read from the source with `ast`, without importing anything: every `import` of a conformance or
reference_engine module, at module level, inside a function (it runs too, only later) or under
`if TYPE_CHECKING:` (a dependency all the same, for the reader and for mypy).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("conformance", "reference_engine")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
}


def imported(module: str) -> set[str]:
    """Every module `module` imports (all of them, not only the project's)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            # `from pkg import mod` imports the module pkg.mod when there is one.
            candidate = f"{base}.{alias.name}"
            found.add(candidate if candidate in MODULES else base)
    return found


GRAPH = {module: {m for m in imported(module) if m in MODULES} for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected component of more than one module (Tarjan)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    assert "conformance.run.runner" in GRAPH
    assert "conformance.run.probe" in GRAPH["conformance.run.runner"]
    assert "conformance.protocol" in GRAPH["conformance.backends.registry"]


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


def test_the_harness_has_no_import_circles() -> None:
    harness = {m: {n for n in deps if n.startswith("conformance")} for m, deps in GRAPH.items()}
    assert cycles({m: d for m, d in harness.items() if m.startswith("conformance")}) == []


def test_the_reference_engine_has_no_import_circles() -> None:
    engine = {m: d for m, d in GRAPH.items() if m.startswith("reference_engine")}
    assert cycles(engine) == []


def test_the_reference_engine_imports_only_numpy_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "reference_engine", "__future__"}
    for module in MODULES:
        if module.startswith("reference_engine"):
            outside = {m for m in imported(module) if m.partition(".")[0] not in allowed}
            assert outside == set(), module


@pytest.mark.parametrize("layer", ["conformance.spec", "conformance.protocol"])
def test_the_specification_imports_no_backend_runner_or_report(layer: str) -> None:
    forbidden = ("conformance.backends", "conformance.run", "conformance.report")
    for module, deps in GRAPH.items():
        if module == layer or module.startswith(layer + "."):
            wrong = sorted(d for d in deps if d.startswith(forbidden))
            assert wrong == [], f"{module} imports {wrong}"


def test_the_runner_process_imports_no_adapter() -> None:
    """What `conformance run` and `conformance list` can import in their own process never
    includes an adapter module: adapters are loaded by name, in probe and worker subprocesses."""
    reached: set[str] = set()
    todo = ["conformance.run.cli", "conformance.run.runner"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += GRAPH[module]
    adapters = [m for m in reached if m.startswith("conformance.backends.")]
    assert sorted(adapters) == ["conformance.backends.registry"]
