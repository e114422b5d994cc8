"""A corpus of task definitions in the shapes people keep them: every valid one registers and
describes as ECS would, every invalid one is refused naming the field, with nothing changed.

The files are under ``tests/data/ecs``: ``valid/`` has register input, describe output (with
read-only fields, nulls and the tags beside), console exports and SDK responses; each file
of ``invalid/`` carries ``"_expect": {"field": ..., "contains": ...}``, the path the
ValidationError must name and text its message must hold.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from clusterkit import (
    ClusterState,
    ContainerDefinition,
    PortMapping,
    TaskDefinition,
    ValidationError,
    load_task_definition,
)
from clusterkit.ecs_json import (
    camel,
    dump_describe_task_definition,
    dump_register_task_definition,
    dump_task_definition,
)
from tests.ecs_api import assert_input, assert_output

CORPUS = Path(__file__).parent / "data" / "ecs"
VALID = sorted((CORPUS / "valid").glob("*.json"))
INVALID = sorted((CORPUS / "invalid").glob("*.json"))


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_the_corpus_is_there() -> None:
    assert len(VALID) >= 25
    assert len(INVALID) >= 20


def seeded_state() -> ClusterState:
    """A state with something in it already, so that "nothing changed" means something."""
    state = ClusterState("corpus", clock=lambda: 1_700_000_000.0)
    state.register_container_instance("i-1", cpu=4096, memory=8192)
    state.register_task_definition(read(CORPUS / "valid" / "nginx-awslogs.json"))
    state.start_task("nginx", ["i-1"])
    return state


@pytest.mark.parametrize("path", VALID, ids=[path.stem for path in VALID])
def test_valid_definition_registers_and_describes_as_ecs_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = read(path)
    state = seeded_state()
    registered = state.register_task_definition(text)
    assert registered == state.describe_task_definition(registered.key)
    assert registered.revision >= 1 and registered.status == "ACTIVE"

    described = dump_describe_task_definition(registered, state.arns)
    assert_output(described, "DescribeTaskDefinitionResponse")
    assert_output(described["taskDefinition"], "TaskDefinition")
    assert_input(dump_register_task_definition(registered), "RegisterTaskDefinition")
    # describe → JSON text → load gives the registered definition back, and registers again.
    again = load_task_definition(json.dumps(described))
    assert again == registered
    assert state.register_task_definition(described).revision == registered.revision + 1

    # Nothing given is lost: the ECS fields clusterkit does not model dump back as they were
    # (less their nulls), at the task level, in each container and in each port mapping.
    inner = data.get("taskDefinition", data)
    dumped = dump_task_definition(registered)
    assert_unmodelled_kept(inner, dumped, TaskDefinition, READ_ONLY | {"tags"})
    for given, out in zip(inner["containerDefinitions"], dumped["containerDefinitions"], strict=True):
        assert_unmodelled_kept(given, out, ContainerDefinition)
        for mapping, mapping_out in zip(given.get("portMappings") or [], out.get("portMappings", []), strict=True):
            assert_unmodelled_kept(mapping, mapping_out, PortMapping)


READ_ONLY = frozenset(
    {"taskDefinitionArn", "requiresAttributes", "compatibilities", "registeredAt", "registeredBy", "deregisteredAt"}
)


def assert_unmodelled_kept(
    given: dict[str, Any], dumped: dict[str, Any], cls: type, ignored: frozenset[str] = frozenset()
) -> None:
    modelled = {camel(field.name) for field in attrs.fields(cls)}
    unmodelled = {key: value for key, value in given.items() if key not in modelled | ignored and value is not None}
    assert {key: dumped.get(key) for key in unmodelled} == _without_nulls(unmodelled)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


@pytest.mark.parametrize("path", INVALID, ids=[path.stem for path in INVALID])
def test_invalid_definition_is_refused_naming_the_field(path: Path, tmp_path: Path) -> None:
    data = read(path)
    expect = data.pop("_expect")
    state = seeded_state()
    version = state.snapshot().version
    state.save(tmp_path / "before.json")
    given = copy.deepcopy(data)

    with pytest.raises(ValidationError) as caught:
        state.register_task_definition(data)
    assert caught.value.field == expect["field"], str(caught.value)
    assert str(caught.value).startswith(expect["field"] + "=")
    assert expect["contains"] in str(caught.value)
    with pytest.raises(ValidationError) as as_text:
        state.register_task_definition(json.dumps(data))
    assert str(as_text.value) == str(caught.value)

    assert data == given, "the input is not modified"
    assert state.snapshot().version == version
    state.save(tmp_path / "after.json")
    assert (tmp_path / "after.json").read_text() == (tmp_path / "before.json").read_text()
