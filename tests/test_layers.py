"""The package's layers point one way: no import circle, and no layer imports one above it.

Every ``import`` in ``clusterkit/`` is read from the source (module level, inside functions,
and under ``TYPE_CHECKING``), so a lazy import cannot hide a circle or an upward reach.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "clusterkit"

LAYERS: list[frozenset[str]] = [
    frozenset({"errors"}),
    frozenset({"model"}),
    frozenset({"ecs_json"}),
    frozenset({"state"}),
    frozenset({"query"}),
    frozenset({"placement"}),
    frozenset({"services"}),
    frozenset({"api"}),
    frozenset({"executor", "logs"}),
    frozenset({"agent", "liveness"}),
    frozenset({"autoscaling", "balancing"}),
    frozenset({"ops"}),
    frozenset({"testing", "sim", "cli", "server"}),
]
"""Bottom to top; a module imports only from its own layer or those below it."""
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, bool]]:
    """(imported clusterkit module, whether only under TYPE_CHECKING) for each import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            typing_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from clusterkit.a import b`` imports the module clusterkit.a.b when there is one
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        for name in names:
            if name == "clusterkit" or name.startswith("clusterkit."):
                yield name, id(node) in typing_only


def graph(*, runtime_only: bool) -> dict[str, set[str]]:
    modules = all_modules()
    return {
        name: {target for target, typing in imports_of(path, modules) if not (runtime_only and typing)} - {name}
        for name, path in modules.items()
    }


def part_of(module: str) -> str:
    """The top-level part of the package a module belongs to: ``clusterkit.state`` → ``state``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(name) for name in all_modules()} - {""}
    assert parts <= set(RANK), f"add these to LAYERS: {sorted(parts - set(RANK))}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{source} imports {target}"
        for source, targets in graph(runtime_only=False).items()
        if part_of(source)  # the package's face, clusterkit/__init__.py, re-exports every layer
        for target in targets
        if part_of(target) and RANK[part_of(target)] > RANK[part_of(source)]
    ]
    assert upward == []


def test_no_import_circle_between_modules() -> None:
    assert cycles(graph(runtime_only=True)) == []


def test_no_import_circle_between_parts_of_the_package() -> None:
    parts: dict[str, set[str]] = {}
    for source, targets in graph(runtime_only=False).items():
        if part_of(source):
            parts.setdefault(part_of(source), set()).update(part_of(t) for t in targets if part_of(t))
    assert cycles({part: targets - {part} for part, targets in parts.items()}) == []


def test_the_state_core_knows_nothing_of_queries_or_placement() -> None:
    reach = {
        target
        for source, targets in graph(runtime_only=False).items()
        if part_of(source) == "state"
        for target in targets
    }
    assert {part_of(target) for target in reach} <= {"errors", "model", "ecs_json", "state"}


# -- the checker itself catches what it is for ------------------------------------------


def test_cycles_finds_a_circle_and_only_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import clusterkit.placement._scheduler\n", [("clusterkit.placement._scheduler", False)]),
        ("from clusterkit.placement import _scheduler\n", [("clusterkit.placement._scheduler", False)]),
        ("from clusterkit.placement import BaseScheduler\n", [("clusterkit.placement", False)]),
        ("def f():\n    from clusterkit.query import parse_expression\n", [("clusterkit.query", False)]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from clusterkit.api import ClusterState\n",
            [("clusterkit.api", True)],
        ),
    ],
)
def test_imports_of_sees_every_form(tmp_path: Path, source: str, expected: list[tuple[str, bool]]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert list(imports_of(path, all_modules())) == expected


# -- no package reads another package's private names ------------------------------------


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(path: Path, own: str) -> Iterator[str]:
    """Imports in ``path`` (a module of part ``own``) of another part's private module
    (``clusterkit.state._apply``) or private name (``from clusterkit.state import _keys_of``).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        targets: list[tuple[str, str]] = []  # (module, name imported from it or "")
        if isinstance(node, ast.Import):
            targets = [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [(node.module, alias.name) for alias in node.names]
        for module, name in targets:
            if not module.startswith("clusterkit.") or part_of(module) == own:
                continue
            if any(_is_private(part) for part in module.split(".")) or _is_private(name):
                yield f"{path.name} imports {module}{'.' + name if name else ''}"


def private_names_defined(paths: list[Path]) -> set[str]:
    """Private attribute names the modules at ``paths`` define: methods, ``self._x =``, slots."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_private(node.attr):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_private(node.value):
                names.add(node.value)  # __slots__ entries and attrs aliases
    return names


def private_reads(path: Path, foreign: set[str]) -> Iterator[str]:
    """Reads in ``path`` of an attribute named in ``foreign`` on anything but ``self``/``cls``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in foreign
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            yield f"{path.name}:{node.lineno} reads .{node.attr}"


def test_no_module_imports_another_parts_private_modules_or_names() -> None:
    modules = all_modules()
    found = [line for name, path in modules.items() for line in private_imports(path, part_of(name))]
    assert found == []


def test_no_module_reads_another_parts_private_attributes() -> None:
    modules = all_modules()
    by_part: dict[str, list[Path]] = {}
    for name, path in modules.items():
        by_part.setdefault(part_of(name), []).append(path)
    defined = {part: private_names_defined(paths) for part, paths in by_part.items()}
    found = []
    for part, paths in by_part.items():
        if not part:
            continue  # the package's face
        foreign = set().union(*(names for other, names in defined.items() if other != part)) - defined[part]
        found += [line for path in paths for line in private_reads(path, foreign)]
    assert found == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from clusterkit.state._apply import Pending\n", ["probe.py imports clusterkit.state._apply.Pending"]),
        ("import clusterkit.model._replace\n", ["probe.py imports clusterkit.model._replace"]),
        ("from clusterkit.state._core import _keys_of\n", ["probe.py imports clusterkit.state._core._keys_of"]),
        ("from clusterkit.state import Snapshot\n", []),
        ("from clusterkit.placement._stages import Stage\n", []),  # its own part's private module
    ],
)
def test_private_imports_sees_every_form(tmp_path: Path, source: str, expected: list[str]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert list(private_imports(path, "placement")) == expected


def test_private_reads_sees_a_foreign_read_and_not_its_own(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("def f(snapshot, self):\n    return snapshot._roots.tasks, self._roots\n")
    assert list(private_reads(path, {"_roots"})) == ["probe.py:2 reads ._roots"]
