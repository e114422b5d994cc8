"""The texts that restate a fact of the code say what the code says.

- **The layers.** ``LAYERS`` in ``tests/test_layers.py`` is the one list (bottom to top) and the
  layering test holds the imports to it. The README's layout table, the diagram in the Layers
  section of ``docs/concepts.md``, the package docstring and ARCHITECTURE.md's table of the
  rooms each list the layers too: each is parsed here and compared with ``LAYERS``, order and
  membership.
- **The version.** ``clusterkit.__version__`` is written once; ``pyproject.toml`` reads it, the
  installed distribution carries it, and CHANGELOG.md has a section for it.
- **The developer docs.** Every ``clusterkit.x.y`` name ARCHITECTURE.md and CONTRIBUTING.md put
  in backticks imports or resolves, every repository path they name exists, and every benchmark,
  pytest marker and ``scripts/services.sh`` subcommand they name is one there is.

Each checker is also run on a drifted copy of the real text, to show it would catch the drift.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import clusterkit
from benchmarks import BENCHMARKS
from tests.test_layers import LAYERS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONCEPTS = ROOT / "docs" / "concepts.md"
PACKAGE_FACE = ROOT / "clusterkit" / "__init__.py"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
CHANGELOG = ROOT / "CHANGELOG.md"
DEVELOPER_DOCS = [ARCHITECTURE, CONTRIBUTING]

Layers = list[frozenset[str]]


def shown(layers: Layers) -> str:
    """``errors → model → executor+logs → …``: a layer list as one readable line."""
    return " → ".join("+".join(sorted(layer)) for layer in layers)


def section(text: str, heading: str) -> str:
    """The text under the Markdown ``heading`` (a whole line), up to the next heading of its level."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    end = text.find(f"\n{level} ", start)
    return text[start : end if end != -1 else len(text)]


# -- the four texts that list the layers ----------------------------------------------------


def readme_layers(text: str) -> Layers:
    """The README's layout table, one row a layer: the ``clusterkit/`` parts each row's first cell names."""
    rows = []
    for line in section(text, "## Layout").splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "`clusterkit/" in cells[1]:
            rows.append(frozenset(re.findall(r"`clusterkit/(\w+)(?:/|\.py)`", cells[1])))
    return rows


def architecture_layers(text: str) -> Layers:
    """ARCHITECTURE.md's table of the rooms, one row a layer: the ``clusterkit.NAME`` packages of its second column."""
    rows = []
    for line in section(text, "## The rooms").splitlines():
        cells = line.split("|")
        if len(cells) > 3 and cells[1].strip().isdigit():
            rows.append(frozenset(re.findall(r"`clusterkit\.(\w+)`", cells[2])))
    return rows


def concepts_layers(text: str) -> Layers:
    """The diagram of ``docs/concepts.md``'s Layers section, top first, returned bottom first.

    A line that begins with ``clusterkit.NAME`` (or several, comma-separated) names that layer's
    parts; names on lines not parted by a line beginning with ``│`` share one layer.
    """
    diagram = re.search(r"```text\n(.*?)```", section(text, "## Layers"), re.S)
    assert diagram is not None, "the Layers section has no ```text diagram"
    layers: Layers = []
    current: set[str] = set()
    for line in diagram.group(1).splitlines():
        stripped = line.strip()
        if stripped.startswith("│"):
            if current:
                layers.append(frozenset(current))
            current = set()
            continue
        names = re.match(r"(?:clusterkit\.\w+,?\s*)+", stripped)
        if names:
            current.update(re.findall(r"clusterkit\.(\w+)", names.group(0)))
    if current:
        layers.append(frozenset(current))
    return layers[::-1]


def docstring_layers(source: str) -> Layers:
    """The chain in the package docstring: the paragraph with ``→`` arrows, bottom first;
    the ````clusterkit.NAME```` literals between two arrows are one layer.
    """
    docstring = ast.get_docstring(ast.parse(source)) or ""
    chains = [paragraph for paragraph in docstring.split("\n\n") if "→" in paragraph]
    assert len(chains) == 1, f"the package docstring should have one paragraph of → arrows, not {len(chains)}"
    return [frozenset(re.findall(r"``clusterkit\.(\w+)``", link)) for link in chains[0].split("→")]


_README = "README.md layout table"
_CONCEPTS = "docs/concepts.md Layers diagram"
_DOCSTRING = "clusterkit/__init__.py docstring"
_ARCHITECTURE = "ARCHITECTURE.md rooms table"
LISTS: dict[str, tuple[Path, Callable[[str], Layers]]] = {
    _README: (README, readme_layers),
    _CONCEPTS: (CONCEPTS, concepts_layers),
    _DOCSTRING: (PACKAGE_FACE, docstring_layers),
    _ARCHITECTURE: (ARCHITECTURE, architecture_layers),
}


@pytest.mark.parametrize("where", sorted(LISTS))
def test_the_text_lists_the_layers_of_test_layers(where: str) -> None:
    path, parse = LISTS[where]
    found = parse(path.read_text(encoding="utf-8"))
    assert found == LAYERS, f"{where} lists\n  {shown(found)}\nbut tests/test_layers.py has\n  {shown(LAYERS)}"


def test_every_layer_names_a_part_of_the_package_there_is() -> None:
    package = ROOT / "clusterkit"
    missing = [p for layer in LAYERS for p in layer if not ((package / p).is_dir() or (package / f"{p}.py").is_file())]
    assert missing == [], "LAYERS (and so the texts) name parts the package no longer has"


def _swap_lines(text: str, first: str, second: str) -> str:
    """``text`` with the line beginning ``first`` and the line beginning ``second`` swapped."""
    lines = text.split("\n")
    a = next(i for i, line in enumerate(lines) if line.startswith(first))
    b = next(i for i, line in enumerate(lines) if line.startswith(second))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


def _replacing(*pairs: tuple[str, str]) -> Callable[[str], str]:
    """A drift that replaces each ``(old, new)`` in turn."""
    return lambda text: functools.reduce(lambda done, pair: done.replace(*pair), pairs, text)


DRIFTS: list[tuple[str, Callable[[str], str]]] = [
    # README: two layers' rows in the wrong order; a part moved to another row; a part left out
    (_README, lambda text: _swap_lines(text, "| `clusterkit/state/`", "| `clusterkit/query/`")),
    (
        _README,
        _replacing(
            ("| `clusterkit/executor/`, `clusterkit/logs.py` |", "| `clusterkit/executor/` |"),
            ("| `clusterkit/agent.py`,", "| `clusterkit/logs.py`, `clusterkit/agent.py`,"),
        ),
    ),
    (_README, _replacing(("`clusterkit/autoscaling/`, `clusterkit/balancing/`", "`clusterkit/autoscaling/`"))),
    # concepts: two layers merged (the │ between them gone); a part renamed; two layers swapped
    (_CONCEPTS, _replacing(("          │               composing everything below\n", ""))),
    (_CONCEPTS, _replacing(("  clusterkit.balancing ", "  clusterkit.balance   "))),
    (_CONCEPTS, lambda text: _swap_lines(text, "  clusterkit.query ", "  clusterkit.ecs_json ")),
    # docstring: errors and model as one layer (as it once said); a part left out; a layer split
    (_DOCSTRING, _replacing(("``clusterkit.errors`` →", "``clusterkit.errors`` and"))),
    (_DOCSTRING, _replacing((" and\n``clusterkit.logs``", ""))),
    (_DOCSTRING, _replacing(("``clusterkit.agent`` and", "``clusterkit.agent`` →"))),
    # ARCHITECTURE.md: two layers' rows in the wrong order; a part in the wrong row
    (_ARCHITECTURE, lambda text: _swap_lines(text, "| 5 |", "| 6 |")),
    (_ARCHITECTURE, _replacing(("| `clusterkit.services` |", "| `clusterkit.services`, `clusterkit.logs` |"))),
]


@pytest.mark.parametrize(("where", "drift"), DRIFTS, ids=[f"{where}-{i}" for i, (where, _) in enumerate(DRIFTS)])
def test_a_drifted_copy_of_the_text_is_caught(where: str, drift: Callable[[str], str]) -> None:
    path, parse = LISTS[where]
    text = path.read_text(encoding="utf-8")
    drifted = drift(text)
    assert drifted != text, "the drift did not apply: the text moved, update the drift"
    assert parse(drifted) != LAYERS


# -- the version ----------------------------------------------------------------------------


def test_the_version_is_written_once_in_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "pyproject.toml should read the version, not write it"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "clusterkit.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", clusterkit.__version__)


def test_the_installed_distribution_has_the_packages_version() -> None:
    assert importlib.metadata.version("clusterkit") == clusterkit.__version__


def test_the_changelog_has_a_section_for_the_version() -> None:
    headings = re.findall(r"^## \[([^\]]+)\]", CHANGELOG.read_text(encoding="utf-8"), re.M)
    assert headings[0] == "Unreleased"
    assert headings[1] == clusterkit.__version__, "the newest release in CHANGELOG.md is not __version__"


# -- the developer docs name what exists ----------------------------------------------------


def backticked(text: str) -> Iterator[str]:
    """Every inline ``code`` span of Markdown ``text`` (fenced blocks left out)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    yield from re.findall(r"`([^`\n]+)`", prose)


def resolves(name: str) -> bool:
    """Whether dotted ``name`` is a module, or an attribute (a chain of them) of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: object = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and f"{module_name}.".startswith(f"{error.name}."):
                continue  # not a module: an attribute of a shorter one, perhaps
            raise  # a dependency the module needs is missing: that is not the docs' fault
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def unresolved_names(text: str) -> list[str]:
    """The backticked ``clusterkit.x.y`` names in ``text`` that do not resolve."""
    names = {m.group(0) for span in backticked(text) if (m := re.match(r"clusterkit(?:\.[A-Za-z_]\w*)+", span))}
    return sorted(name for name in names if not resolves(name))


def missing_paths(text: str) -> list[str]:
    """The backticked relative paths in ``text`` (``a/b``, ``a/b.py``, ``a/``) that are not in the repository."""
    paths = {span for span in backticked(text) if re.fullmatch(r"\.?[\w-]+(?:/[\w.-]+)*/?", span) and "/" in span}
    return sorted(path for path in paths if not (ROOT / path).exists())


@pytest.mark.parametrize("page", DEVELOPER_DOCS, ids=[page.name for page in DEVELOPER_DOCS])
def test_every_name_the_developer_docs_give_resolves(page: Path) -> None:
    assert unresolved_names(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("page", DEVELOPER_DOCS, ids=[page.name for page in DEVELOPER_DOCS])
def test_every_path_the_developer_docs_give_exists(page: Path) -> None:
    assert missing_paths(page.read_text(encoding="utf-8")) == []


def test_the_name_and_path_checks_catch_what_is_not_there() -> None:
    text = (
        "`clusterkit.services.ServiceScheduler.step`, `clusterkit.state.StateCore.commit(changes)`, "
        "`clusterkit.executor.docker.DockerExecutor`, `clusterkit.services.ServiceScheduler.jump`, "
        "`clusterkit.nowhere.Thing`, `clusterkit.state.Nope`, `tests/test_layers.py`, `scripts/nothing.sh`, "
        "`clusterkit/state/`, `/run/clusterkit-services/registry.json`\n```sh\n`clusterkit.fenced.Away`\n```\n"
    )
    assert unresolved_names(text) == [
        "clusterkit.nowhere.Thing",
        "clusterkit.services.ServiceScheduler.jump",
        "clusterkit.state.Nope",
    ]
    assert missing_paths(text) == ["scripts/nothing.sh"]


def unknown_commands(text: str) -> list[str]:
    """What ``text`` runs that is not there: ``python -m benchmarks NAME`` of no benchmark, a
    marker in ``-m '...'`` that pyproject does not declare, a ``scripts/services.sh`` subcommand
    the script does not take.
    """
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    markers = {line.split(":")[0] for line in declared["markers"]}
    script = (ROOT / "scripts" / "services.sh").read_text(encoding="utf-8")
    subcommands = set(re.findall(r"^    ([a-z][\w-]*)\) ", script, re.M))
    named_markers = {
        marker
        for expression in re.findall(r"-m '([^']+)'", text)
        for marker in re.findall(r"\w+", expression)
        if marker not in ("not", "and", "or")
    }
    return sorted(
        [f"benchmark {name}" for name in set(re.findall(r"python -m benchmarks ([a-z]\w+)", text)) - set(BENCHMARKS)]
        + [f"marker {marker}" for marker in named_markers - markers]
        + [f"services.sh {command}" for command in set(re.findall(r"services\.sh ([a-z][\w-]*)", text)) - subcommands]
    )


def test_contributing_runs_only_benchmarks_markers_and_service_commands_there_are() -> None:
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert re.search(r"-m '[^']+'", text) and re.search(r"services\.sh [a-z]", text)  # it does name some
    assert unknown_commands(text) == []


def test_the_command_check_catches_what_is_not_there() -> None:
    text = "python -m benchmarks commit_speed; pytest -m 'not slow and not gpu'; scripts/services.sh restart"
    assert unknown_commands(text) == ["benchmark commit_speed", "marker gpu", "services.sh restart"]
