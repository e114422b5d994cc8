"""clusterkit's ECS JSON against ECS's own API model (botocore's data).

Describe dumps of drawn clusters must be ECS output shapes exactly (``tests.ecs_api``'s strict
walker: an unknown key fails), registration dumps must pass botocore's own input validator,
the shapes clusterkit embeds must agree with botocore's, and every task definition in the
model's examples must load.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import attrs
import botocore
import pytest
from hypothesis import given

import clusterkit
from clusterkit import ClusterState
from clusterkit.ecs_json import (
    camel,
    dump_container_instance,
    dump_describe_task_definition,
    dump_register_task_definition,
    dump_task,
    dump_task_definition,
    load_task_definition,
)
from clusterkit.model import ECS_SHAPES
from clusterkit.model._ecs_shapes import BOTOCORE_VERSION, SHAPES
from clusterkit.model.ecs_schema import members, read_only_members
from clusterkit.testing.strategies import clusters, container_instances
from tests.ecs_api import assert_input, assert_output, examples, model, output_problems

# --- the checker itself -----------------------------------------------------------------------

GOOD_DEFINITION: dict[str, Any] = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
    "family": "web",
    "revision": 3,
    "status": "ACTIVE",
    "registeredAt": 1_700_000_000.25,
    "containerDefinitions": [
        {
            "name": "app",
            "image": "nginx",
            "essential": True,
            "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
            "dockerLabels": {"team": "web"},
        }
    ],
}


def _at(path: list[Any], value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(path: list[Any]) -> Any:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


C0 = ["containerDefinitions", 0]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_at(["tags"], []), "unknown key 'tags' for TaskDefinition"),
        (_at([*C0, "portBindings"], []), "unknown key 'portBindings' for ContainerDefinition"),
        (_at([*C0, "portMappings", 0, "hostport"], 80), "unknown key 'hostport' for PortMapping"),
        (_at(["networkMode"], "nat"), "'nat' is not one of"),
        (_at(["revision"], "3"), "'3' is not of type integer"),
        (_at(["revision"], True), "True is not of type integer"),
        (_at([*C0, "essential"], "yes"), "'yes' is not of type boolean"),
        (_at([*C0, "portMappings"], {"containerPort": 80}), "is not a list"),
        (_at([*C0, "dockerLabels", "team"], 5), "5 is not a string"),
        (_drop([*C0, "dependsOn", 0, "condition"]), "required 'condition' is missing"),
        (_at(["registeredAt"], "yesterday"), "'yesterday' is not of type timestamp"),
        (_at(["containerDefinitions"], ["app"]), "'app' is not an object"),
    ],
)
def test_the_output_check_refuses_what_ecs_would_not_return(change: Any, problem: str) -> None:
    assert output_problems(GOOD_DEFINITION, "TaskDefinition") == []
    data = copy.deepcopy(GOOD_DEFINITION)
    change(data)
    problems = output_problems(data, "TaskDefinition")
    assert len(problems) == 1 and problem in problems[0], problems
    with pytest.raises(AssertionError):
        assert_output(data, "TaskDefinition")


def test_the_input_check_is_botocores_validator() -> None:
    assert_input(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx"}]}, "RegisterTaskDefinition"
    )
    with pytest.raises(AssertionError, match="portBindings"):
        assert_input(
            {"family": "web", "containerDefinitions": [{"name": "app", "portBindings": []}]}, "RegisterTaskDefinition"
        )


# --- describe dumps of drawn clusters are ECS output ----------------------------------------


def assert_ecs_shaped(state: ClusterState) -> None:
    snapshot = state.snapshot()
    arns = snapshot.arns
    definitions = list(snapshot.task_definitions())
    assert definitions
    for definition in definitions:
        assert_output(dump_task_definition(definition, arns), "TaskDefinition")
        assert_output(dump_describe_task_definition(definition, arns), "DescribeTaskDefinitionResponse")
        assert_input(dump_register_task_definition(definition), "RegisterTaskDefinition")
    for task in snapshot.tasks():
        assert_output(dump_task(task, arns), "Task")
    for instance in snapshot.instances():
        assert_output(dump_container_instance(instance, arns), "ContainerInstance")


@given(clusters())
def test_describe_dumps_of_drawn_clusters_are_ecs_output(state: ClusterState) -> None:
    assert_ecs_shaped(state)


@given(container_instances(statuses=("ACTIVE", "DRAINING", "INACTIVE")))
def test_drawn_instances_describe_as_ecs_output(instance: clusterkit.ContainerInstance) -> None:
    assert_output(dump_container_instance(instance, clusterkit.ClusterState("c").arns), "ContainerInstance")


def test_a_task_dump_has_no_clusterkit_only_field() -> None:
    state = ClusterState("c")
    state.register_container_instance("i-1", cpu=1024, memory=1024, scalars={"GPU": 1})
    state.register_task_definition(
        {
            "family": "gpu",
            "containerDefinitions": [
                {
                    "name": "app",
                    "image": "cuda",
                    "memory": 64,
                    "portMappings": [{"containerPort": 80}],
                    "resourceRequirements": [{"type": "GPU", "value": "1"}],
                }
            ],
        }
    )
    task = state.start_task("gpu", ["i-1"]).tasks[0]
    dumped = dump_task(task, state.arns)
    assert "chargedResources" not in dumped
    assert_output(dumped, "Task")
    assert output_problems({**dumped, "chargedResources": []}, "Task") == [
        "Task: unknown key 'chargedResources' for Task"
    ]


# --- the embedded shapes are ECS's ----------------------------------------------------------


def _generator() -> Any:
    path = Path(__file__).resolve().parent.parent / "scripts" / "gen_ecs_shapes.py"
    spec = importlib.util.spec_from_file_location("gen_ecs_shapes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_embedded_shapes_agree_with_botocore() -> None:
    """Every embedded shape, member, type and enum value is botocore's (a newer botocore may
    add more: ``scripts/gen_ecs_shapes.py`` picks them up)."""
    for name, spec in SHAPES.items():
        shape = model().shape_for(name)
        assert spec["type"] == shape.type_name, name
        if spec["type"] == "structure":
            assert {key: value.name for key, value in shape.members.items() if key in spec["members"]} == spec[
                "members"
            ], name
            assert set(spec["required"]) <= set(shape.required_members), name
        elif spec["type"] == "list":
            assert spec["member"] == shape.member.name
        elif spec["type"] == "map":
            assert (spec["key"], spec["value"]) == (shape.key.name, shape.value.name)
        elif "enum" in spec:
            assert set(spec["enum"]) <= set(shape.enum), name


@pytest.mark.skipif(botocore.__version__ != BOTOCORE_VERSION, reason="the shapes were copied from another botocore")
def test_embedded_shapes_are_exactly_what_the_generator_writes() -> None:
    assert _generator().collect() == SHAPES


def test_read_only_members_are_what_ecs_sets() -> None:
    assert read_only_members() == {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "deregisteredAt",
        "deleteRequestedAt",
        "registeredBy",
    }


@pytest.mark.parametrize("cls", list(ECS_SHAPES), ids=[cls.__name__ for cls in ECS_SHAPES])
def test_model_classes_and_their_ecs_shapes(cls: type) -> None:
    shape = ECS_SHAPES[cls]
    known = set(members(shape))
    modelled = {camel(field.name) for field in attrs.fields(cls) if field.init and field.name != "extra"}
    extra_names = {"revision", "status"} if cls is clusterkit.TaskDefinition else set()
    assert modelled <= known | extra_names, "every modelled field is an ECS field"
    if "extra" not in attrs.fields_dict(cls):
        assert known <= modelled, "a class without extra must model every ECS field, or it would drop some"


# --- ECS's own examples ---------------------------------------------------------------------


def example_task_definitions() -> list[tuple[str, dict[str, Any]]]:
    """Each task definition in the model's examples: register input, register and describe output."""
    found = []
    for example in examples().get("RegisterTaskDefinition", []):
        found.append((f"register-input-{example['id']}", example["input"]))
        found.append((f"register-output-{example['id']}", example["output"]))
    for example in examples().get("DescribeTaskDefinition", []):
        found.append((f"describe-output-{example['id']}", example["output"]))
    return found


EXAMPLES = example_task_definitions()


def test_the_model_has_task_definition_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", [data for _, data in EXAMPLES], ids=[name for name, _ in EXAMPLES])
def test_ecs_example_task_definitions_load_and_register(example: dict[str, Any]) -> None:
    state = ClusterState("examples")
    definition = state.register_task_definition(json.dumps(example))
    described = dump_describe_task_definition(definition, state.arns)
    assert_output(described, "DescribeTaskDefinitionResponse")
    assert load_task_definition(described) == definition
    given = example.get("taskDefinition", example)
    assert [c.name for c in definition.container_definitions] == [c["name"] for c in given["containerDefinitions"]]
