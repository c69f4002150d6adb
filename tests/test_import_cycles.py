"""No import cycle in the project's packages, not even through an import inside a function.

The graph is read from the source with `ast`: an edge for every `import` and
`from ... import` anywhere in a module (module level, functions, methods, and under
`if TYPE_CHECKING:` too: a module a type names is one this module depends on), to the
module it names, and to each package on the way that the importer is not itself inside
(importing `writers.emulators.launch` runs `writers/emulators/__init__.py` first). The
registries' dynamic imports are edges as well: `writers.services` imports every service
it lists (`import_module`), `writers.strategies` every strategy module it names; those
two lists are the only things imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {  # top-level package -> the folder that holds it
    "writers": ROOT,
    "aws_locust": ROOT / "locustfiles",
    "fault_proxy": ROOT,
    "comparison": ROOT,
}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, parent in PACKAGES.items():
        for path in sorted((parent / package).rglob("*.py")):
            parts = list(path.relative_to(parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def dynamic_imports() -> dict[str, set[str]]:
    """What the registries import by name: every listed service, every named strategy module."""
    from writers.services import SERVICES
    from writers.strategies import STRATEGIES

    return {
        "writers.services": {f"writers.services.{name}" for name in SERVICES},
        "writers.strategies": {target.split(":")[0] for target in STRATEGIES.values()},
    }


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _with_parents(target: str, importer: str, known: dict[str, Path]) -> set[str]:
    """`target` and the packages above it that importing it runs, but not the importer's own
    packages (those are already being imported when the importer runs)."""
    parts = target.split(".")
    found = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    own = importer.split(".")
    own_packages = {".".join(own[:n]) for n in range(1, len(own))}
    return {name for name in found if name in known and (name == target or name not in own_packages)}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    dynamic = dynamic_imports()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for target in dynamic.get(name, ()):
            edges |= _with_parents(target, name, known)
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                named = [f"{module}.{alias.name}" for alias in node.names]  # a module, or a name in `module`
                targets = [name if name in known else module for name in named]
            for target in targets:
                edges |= _with_parents(target, name, known)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_finder_sees_a_cycle_through_an_import_inside_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_holds_imports_inside_functions_and_type_checking_ones(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from writers.services import Workload\n"
        "def f():\n    from writers.pricing import Price\n"
    )
    names = {node.module for node in _imports(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert names == {"typing", "writers.services", "writers.pricing"}


def test_the_graph_holds_the_registries_dynamic_imports() -> None:
    graph = import_graph()
    for service in ("dynamodb", "s3", "sqs", "kinesis"):
        assert f"writers.services.{service}" in graph["writers.services"]
    assert "writers.strategies.threaded" in graph["writers.strategies"]
    assert "writers.emulators" in graph["writers.services.base"]  # an `if TYPE_CHECKING:` import is an edge


def test_the_graph_covers_every_package() -> None:
    graph = import_graph()
    for package in PACKAGES:
        assert package in graph, f"{package} not found under {PACKAGES[package]}"
    assert "writers.services.base" in graph["writers.services"]  # a module-level import is an edge


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(cycle) for cycle in found)
