"""The rules of ECS JSON loading: null is "not set", unknown keys are refused with a
did-you-mean, references resolve, describe output registers, tags sit beside the definition,
and a model object's ``extra`` holds only ECS fields with ECS values.
"""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import (
    ClusterState,
    ContainerDefinition,
    PortMapping,
    ResourceRequirement,
    Tag,
    TaskDefinition,
    ValidationError,
    load_task_definition,
)
from clusterkit.ecs_json import dump_describe_task_definition, dump_register_task_definition, dump_task_definition
from clusterkit.model._ecs_shapes import SHAPES
from clusterkit.model.ecs_schema import did_you_mean, members

CORPUS = sorted((Path(__file__).parent / "data" / "ecs" / "valid").glob("*.json"))


def corpus(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def base(**container: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 128, **container}]}


def refused(data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_task_definition(data)
    return caught.value


def top_shape(data: dict[str, Any]) -> str:
    return "DescribeTaskDefinitionResponse" if "taskDefinition" in data else "TaskDefinition"


# --- null is "not set" ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("with_null", "without"),
    [
        ({**base(), "networkMode": None}, base()),
        (base(dependsOn=None), base()),
        (base(portMappings=None, environment=None, command=None, entryPoint=None, healthCheck=None), base()),
        (base(essential=None, cpu=None, memoryReservation=None, dockerLabels=None), base()),
        (
            base(portMappings=[{"containerPort": 80, "hostPort": None, "protocol": None, "name": None}]),
            base(portMappings=[{"containerPort": 80}]),
        ),
        (
            base(healthCheck={"command": ["CMD", "true"], "interval": None, "startPeriod": None}),
            base(healthCheck={"command": ["CMD", "true"]}),
        ),
        (base(environment=[{"name": "EMPTY", "value": None}]), base(environment=[{"name": "EMPTY"}])),
        (
            base(logConfiguration={"logDriver": "awslogs", "options": None, "secretOptions": None}),
            base(logConfiguration={"logDriver": "awslogs"}),
        ),
        (
            base(linuxParameters={"capabilities": {"add": ["SYS_PTRACE"], "drop": None}, "tmpfs": None}),
            base(linuxParameters={"capabilities": {"add": ["SYS_PTRACE"]}}),
        ),
        (base(dockerLabels={"keep": "yes", "gone": None}), base(dockerLabels={"keep": "yes"})),
        ({**base(), "cpu": None, "memory": None, "volumes": None, "tags": None, "placementConstraints": None}, base()),
        ({"taskDefinition": base(), "tags": None, "ResponseMetadata": None}, base()),
        ({**base(), "fieldOfANewerEcs": None}, base()),
    ],
    ids=[
        "networkMode",
        "dependsOn",
        "container-lists",
        "container-scalars",
        "portMapping",
        "healthCheck",
        "environment-value",
        "logConfiguration",
        "linuxParameters-nested",
        "dockerLabels-entry",
        "task-level",
        "describe-wrapper",
        "unknown-but-null",
    ],
)
def test_null_loads_as_if_absent(with_null: dict[str, Any], without: dict[str, Any]) -> None:
    assert load_task_definition(with_null) == load_task_definition(without)
    assert load_task_definition(json.dumps(with_null)) == load_task_definition(without)


def test_null_for_a_required_field_is_a_missing_field() -> None:
    assert refused({**base(), "family": None}).field == "family"
    assert str(refused({"family": "web", "containerDefinitions": None})) == "containerDefinitions=None: is required"
    assert refused(base(name=None)).field == "containerDefinitions[0].name"
    error = refused(base(logConfiguration={"logDriver": None}))
    assert (error.field, error.problem) == ("containerDefinitions[0].logConfiguration.logDriver", "is required")
    assert str(refused({"taskDefinition": None})) == "taskDefinition=None: is required"


@st.composite
def sprinkled(draw: st.DrawFn, value: Any, shape: str) -> Any:
    """``value`` with ``null`` added for members it leaves out, at every level of ``shape``."""
    spec = SHAPES[shape]
    if spec["type"] == "structure" and isinstance(value, dict):
        result = {
            key: draw(sprinkled(item, spec["members"][key])) if key in spec["members"] else item
            for key, item in value.items()
        }
        absent = sorted(set(spec["members"]) - set(value))
        for key in draw(st.lists(st.sampled_from(absent), unique=True, max_size=6)) if absent else []:
            result[key] = None
        return result
    if spec["type"] == "list" and isinstance(value, list):
        return [draw(sprinkled(item, spec["member"])) for item in value]
    return value


@given(st.sampled_from(CORPUS).flatmap(lambda path: st.tuples(st.just(corpus(path)), st.data())))
def test_nulls_anywhere_in_real_definitions_change_nothing(drawn: tuple[dict[str, Any], st.DataObject]) -> None:
    data, draw = drawn
    with_nulls = draw.draw(sprinkled(data, top_shape(data)))
    assert load_task_definition(json.dumps(with_nulls)) == load_task_definition(data)


# --- unknown keys and did-you-mean ----------------------------------------------------------


def structure_nodes(value: Any, shape: str, path: str = "") -> list[tuple[str, str, dict[str, Any]]]:
    """Every ECS structure in ``value``: (JSON path, shape name, the object)."""
    spec = SHAPES[shape]
    found: list[tuple[str, str, dict[str, Any]]] = []
    if spec["type"] == "structure" and isinstance(value, dict):
        found.append((path, shape, value))
        for key, item in value.items():
            if key in spec["members"]:
                found += structure_nodes(item, spec["members"][key], f"{path}.{key}" if path else key)
    elif spec["type"] == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            found += structure_nodes(item, spec["member"], f"{path}[{index}]")
    return found


def nodes_of(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    nodes = structure_nodes(data, top_shape(data))
    if "taskDefinition" in data:  # paths inside the describe wrapper are the definition's own
        prefix = "taskDefinition."
        nodes = [(path.removeprefix(prefix), shape, node) for path, shape, node in nodes if path != "taskDefinition"]
    return nodes


@given(st.sampled_from(CORPUS).flatmap(lambda path: st.tuples(st.just(corpus(path)), st.data())))
def test_an_unknown_key_at_any_depth_is_refused_naming_its_path(drawn: tuple[dict[str, Any], st.DataObject]) -> None:
    data, draw = drawn
    path, shape, node = draw.draw(st.sampled_from(nodes_of(data)))
    names = sorted(members(shape))
    member = draw.draw(st.sampled_from(names))
    cut = draw.draw(st.integers(0, len(member) - 1))
    typo = member[:cut] + member[cut + 1 :]  # one letter left out
    if typo in names or not typo:
        typo = member + "Zz"
    node[typo] = 1 if node.get(member) is None else node[member]  # a null typo would be "not set"
    error = refused(data)
    assert error.field == (f"{path}.{typo}" if path else typo)
    assert f"is not a field of ECS's {shape}" in error.problem
    assert member in did_you_mean(typo, names)
    assert repr(member) in error.problem.split("; did you mean ", 1)[1]


@pytest.mark.parametrize(
    ("data", "field", "suggestion"),
    [
        (base(portBindings=[{"containerPort": 80}]), "containerDefinitions[0].portBindings", "portMappings"),
        (base(memory_reservation=64), "containerDefinitions[0].memory_reservation", "memoryReservation"),
        (base(Image="nginx"), "containerDefinitions[0].Image", "image"),
        (base(enviroment=[]), "containerDefinitions[0].enviroment", "environment"),
        ({**base(), "ContainerDefinitions": []}, "ContainerDefinitions", "containerDefinitions"),
        ({**base(), "taskRole": "arn:aws:iam::1:role/x"}, "taskRole", "taskRoleArn"),
        (
            base(healthCheck={"command": ["CMD", "true"], "retry": 3}),
            "containerDefinitions[0].healthCheck.retry",
            "retries",
        ),
        (
            base(resourceRequirements=[{"type": "GPU", "vaule": "1"}]),
            "containerDefinitions[0].resourceRequirements[0].vaule",
            "value",
        ),
        (
            {**base(), "placementConstraints": [{"type": "memberOf", "expr": "x"}]},
            "placementConstraints[0].expr",
            "expression",
        ),
        ({**base(), "tags": [{"Key": "a", "Value": "b"}]}, "tags[0].Key", "key"),
    ],
)
def test_did_you_mean(data: dict[str, Any], field: str, suggestion: str) -> None:
    error = refused(data)
    assert error.field == field
    assert error.problem.endswith(f"did you mean {suggestion!r}?")


def test_no_suggestion_lists_a_small_shapes_fields() -> None:
    error = refused(base(portMappings=[{"containerPort": 80, "xyzzy": 1}]))
    assert error.field == "containerDefinitions[0].portMappings[0].xyzzy"
    assert error.problem == (
        "is not a field of ECS's PortMapping "
        "(its fields: appProtocol, containerPort, containerPortRange, hostPort, name, protocol)"
    )
    assert refused(base(qwertyuiop=1)).problem == "is not a field of ECS's ContainerDefinition"


def test_unknown_keys_inside_fields_clusterkit_keeps_verbatim_are_refused_too() -> None:
    error = refused(base(ulimits=[{"name": "nofile", "softLimit": 1, "hardLimit": 2, "soft": 1}]))
    assert error.field == "containerDefinitions[0].ulimits[0].soft"


# --- what ECS knows and clusterkit does not model: kept, and checked --------------------------


@pytest.mark.parametrize(
    ("container", "field", "shown"),
    [
        ({"logConfiguration": {"logDriver": "journal"}}, "logConfiguration.logDriver", "'journal'"),
        ({"logConfiguration": {"options": {"a": "b"}}}, "logConfiguration.logDriver", "required"),
        (
            {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": 5}}},
            "logConfiguration.options[awslogs-group]",
            "=5",
        ),
        ({"logConfiguration": "awslogs"}, "logConfiguration", "object"),
        ({"links": "db"}, "links", "list"),
        ({"privileged": 1}, "privileged", "true or false"),
        ({"ulimits": [{"name": "nofile", "softLimit": 1.5, "hardLimit": 2}]}, "ulimits[0].softLimit", "integer"),
        ({"ulimits": [{"name": "nofile", "softLimit": 2**31, "hardLimit": 2}]}, "ulimits[0].softLimit", "integer"),
        ({"linuxParameters": {"tmpfs": [{"containerPath": "/tmp"}]}}, "linuxParameters.tmpfs[0].size", "required"),
        ({"environmentFiles": [{"value": "arn:aws:s3:::b/f.env", "type": "S3"}]}, "environmentFiles[0].type", "'s3'"),
        ({"portMappings": [{"containerPort": 80, "appProtocol": "https"}]}, "portMappings[0].appProtocol", "'https'"),
        (
            {"resourceRequirements": [{"type": "GPU", "value": "1", "sharingStrategy": {"nvidiaMps": {}}}]},
            "resourceRequirements[0].sharingStrategy.nvidiaMps.memory",
            "required",
        ),
    ],
)
def test_unmodelled_fields_are_checked_as_ecs_checks_them(container: dict[str, Any], field: str, shown: str) -> None:
    error = refused(base(**container))
    assert error.field == "containerDefinitions[0]." + field
    assert shown in str(error)


def test_unmodelled_fields_are_kept_as_given() -> None:
    sharing = {"nvidiaMps": {"memory": 2048, "maxComputePercent": 50}}
    definition = load_task_definition(
        {
            **base(resourceRequirements=[{"type": "GPU", "value": "1", "sharingStrategy": sharing}]),
            "pidMode": "task",
            "ephemeralStorage": {"sizeInGiB": 30},
        }
    )
    requirement = definition.container_definitions[0].resource_requirements[0]
    assert dict(requirement.extra) == {"sharingStrategy": sharing}
    assert dict(definition.extra) == {"pidMode": "task", "ephemeralStorage": {"sizeInGiB": 30}}
    dumped = dump_task_definition(definition)
    assert dumped["containerDefinitions"][0]["resourceRequirements"][0]["sharingStrategy"] == sharing
    assert load_task_definition(dumped) == definition


def test_extra_of_python_built_objects_is_checked_too() -> None:
    with pytest.raises(ValidationError) as typo:
        ContainerDefinition("app", "nginx", memory=64, extra={"portBindings": []})
    assert (typo.value.field, typo.value.problem) == (
        "portBindings",
        "is not a field of ECS's ContainerDefinition; did you mean 'portMappings'?",
    )
    with pytest.raises(ValidationError) as modelled:
        ContainerDefinition("app", "nginx", memory=64, extra={"essential": False})
    assert modelled.value.field == "essential"
    with pytest.raises(ValidationError) as read_only:
        TaskDefinition("web", [ContainerDefinition("app", "nginx", memory=64)], extra={"taskDefinitionArn": "arn"})  # type: ignore[list-item]  # converter=tuple: attrs types it Iterable[_T_co]
    assert read_only.value.field == "taskDefinitionArn"
    with pytest.raises(ValidationError) as wrong_type:
        PortMapping(80, extra={"name": 5})
    assert wrong_type.value.field == "name"
    with pytest.raises(ValidationError) as not_a_mapping:
        ResourceRequirement("GPU", "1", extra=["sharingStrategy"])  # type: ignore[arg-type]
    assert not_a_mapping.value.field == "extra"
    # nulls are dropped, empty values kept
    container = ContainerDefinition("app", "nginx", memory=64, extra={"linuxParameters": None, "mountPoints": []})
    assert dict(container.extra) == {"mountPoints": []}


# --- references -----------------------------------------------------------------------------


def two(first: dict[str, Any], second: dict[str, Any] | None = None, **task: Any) -> dict[str, Any]:
    return {
        "family": "pair",
        "containerDefinitions": [
            {"name": "web", "image": "nginx", "memory": 128, **first},
            {"name": "db", "image": "postgres", "memory": 256, "essential": False, **(second or {})},
        ],
        **task,
    }


VOLUMES = [{"name": "data", "host": {"sourcePath": "/srv"}}, {"name": "scratch"}]


@pytest.mark.parametrize(
    "data",
    [
        two({"mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}, volumes=VOLUMES),
        two(
            {}, {"mountPoints": [{"sourceVolume": "scratch", "containerPath": "/s", "readOnly": True}]}, volumes=VOLUMES
        ),
        two({"volumesFrom": [{"sourceContainer": "db"}]}),
        two({"links": ["db"]}),
        two({"links": ["db:database"]}, networkMode="bridge"),
        two({"links": ["db:database"]}, networkMode="host"),
        two({"dependsOn": [{"containerName": "db", "condition": "COMPLETE"}]}),
        two({}, networkMode="awsvpc", proxyConfiguration={"type": "APPMESH", "containerName": "db"}),
        two({"mountPoints": [{"containerPath": "/no-source"}]}),
    ],
    ids=[
        "mount",
        "mount-second-container",
        "volumesFrom",
        "link",
        "link-alias",
        "link-host-mode",
        "dependsOn",
        "proxy",
        "mount-without-source",
    ],
)
def test_references_that_resolve(data: dict[str, Any]) -> None:
    definition = ClusterState("refs").register_task_definition(data)
    assert load_task_definition(dump_describe_task_definition(definition)) == definition


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        (
            two({"mountPoints": [{"sourceVolume": "logs", "containerPath": "/l"}]}, volumes=VOLUMES),
            "containerDefinitions[0].mountPoints[0].sourceVolume",
            "logs",
        ),
        (
            two({}, {"mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}),
            "containerDefinitions[1].mountPoints[0].sourceVolume",
            "data",
        ),
        (
            two({"mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}, volumes=None),
            "containerDefinitions[0].mountPoints[0].sourceVolume",
            "data",
        ),
        (two({}, volumes=[{"name": "data"}, {"name": "data"}]), "volumes[1].name", "data"),
        (
            two({"volumesFrom": [{"sourceContainer": "cache"}]}),
            "containerDefinitions[0].volumesFrom[0].sourceContainer",
            "cache",
        ),
        (two({"links": ["db", "cache:c"]}), "containerDefinitions[0].links[1]", "cache:c"),
        (two({"links": ["db"]}, networkMode="awsvpc"), "containerDefinitions[0].links[0]", "db"),
        (
            two({}, {"dependsOn": [{"containerName": "app"}]}),
            "containerDefinitions[1].dependsOn[0].containerName",
            "app",
        ),
        (
            two({}, networkMode="awsvpc", proxyConfiguration={"containerName": "envoy"}),
            "proxyConfiguration.containerName",
            "envoy",
        ),
    ],
    ids=[
        "mount",
        "mount-second-container",
        "mount-no-volumes",
        "volume-twice",
        "volumesFrom",
        "link",
        "link-awsvpc",
        "dependsOn",
        "proxy",
    ],
)
def test_broken_references_are_refused_naming_path_and_value(data: dict[str, Any], field: str, value: str) -> None:
    state = ClusterState("refs")
    error = refused(data)
    assert (error.field, error.value) == (field, value)
    with pytest.raises(ValidationError):
        state.register_task_definition(data)
    assert state.version == 0 and list(state.snapshot().task_definitions()) == []


def test_references_are_checked_on_python_built_definitions() -> None:
    web = ContainerDefinition("web", "nginx", memory=64, extra={"volumesFrom": [{"sourceContainer": "ghost"}]})
    with pytest.raises(ValidationError) as caught:
        TaskDefinition("web", [web])  # type: ignore[list-item]  # converter=tuple: attrs types it Iterable[_T_co]
    assert caught.value.field == "containerDefinitions[0].volumesFrom[0].sourceContainer"


# --- describe output registers; tags beside the definition ----------------------------------

READ_ONLY: dict[str, Any] = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:9",
    "revision": 9,
    "status": "INACTIVE",
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
    "compatibilities": ["EC2"],
    "registeredAt": datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC),  # an SDK's response, as it comes
    "registeredBy": "arn:aws:iam::123456789012:user/ci",
    "deregisteredAt": "2024-06-01T00:00:00Z",
    "deleteRequestedAt": 1717200000,
}


@pytest.mark.parametrize("field", list(READ_ONLY))
def test_read_only_fields_are_accepted_and_ignored_on_registration(field: str) -> None:
    definition = ClusterState("ro").register_task_definition({**base(), field: READ_ONLY[field]})
    assert definition == ClusterState("plain").register_task_definition(base())
    assert (definition.revision, definition.status) == (1, "ACTIVE")
    assert field not in definition.extra


def test_all_read_only_fields_at_once_and_the_describe_round_trip() -> None:
    state = ClusterState("ro")
    first = state.register_task_definition({"taskDefinition": {**base(), **READ_ONLY}, "tags": [{"key": "a"}]})
    assert (first.key, first.status, first.tags) == ("web:1", "ACTIVE", (Tag("a"),))
    loaded = load_task_definition({**base(), **READ_ONLY})
    assert (loaded.revision, loaded.status) == (9, "INACTIVE"), "the loaded value keeps them; registering sets its own"
    described = json.loads(json.dumps(dump_describe_task_definition(first, state.arns)))
    assert load_task_definition(described) == first
    second = state.register_task_definition(described)
    assert second.key == "web:2" and second.tags == first.tags
    assert second.container_definitions == first.container_definitions and second.extra == first.extra


@pytest.mark.parametrize(
    "data",
    [
        {**base(), "tags": [{"key": "team", "value": "web"}]},
        {"taskDefinition": base(), "tags": [{"key": "team", "value": "web"}]},
        {
            "taskDefinition": {**base(), "tags": [{"key": "team", "value": "web"}]},  # type: ignore[dict-item]  # mypy types the inner dict by its sibling's value
            "tags": [{"key": "team", "value": "web"}],
        },
        {"taskDefinition": {**base(), "tags": [{"key": "team", "value": "web"}]}},
    ],
    ids=["register-input", "beside", "both-equal", "inside-the-wrapper"],
)
def test_tags_are_the_definitions_tags(data: dict[str, Any]) -> None:
    definition = load_task_definition(data)
    assert definition.tags == (Tag("team", "web"),)
    assert "tags" not in dump_task_definition(definition)
    assert dump_describe_task_definition(definition)["tags"] == [{"key": "team", "value": "web"}]
    assert dump_register_task_definition(definition)["tags"] == [{"key": "team", "value": "web"}]


@pytest.mark.parametrize(
    ("tags", "field"),
    [
        ([{"key": "a"}, {"key": "a", "value": "again"}], "tags[1].key"),
        ([{"key": ""}], "tags[0].key"),
        ([{"key": "k" * 129}], "tags[0].key"),
        ([{"key": "k", "value": "v" * 257}], "tags[0].value"),
        ([{"key": 5}], "tags[0].key"),
        ([{"key": f"k{n}"} for n in range(51)], "tags"),
        ({"team": "web"}, "tags"),
    ],
    ids=["key-twice", "key-empty", "key-long", "value-long", "key-number", "51-tags", "a-mapping"],
)
def test_bad_tags(tags: Any, field: str) -> None:
    assert refused({**base(), "tags": tags}).field == field
    assert refused({"taskDefinition": base(), "tags": tags}).field == field


def test_the_describe_wrapper_must_hold_a_definition() -> None:
    assert refused({"taskDefinition": [base()]}).field == "taskDefinition"
    assert refused({"taskDefinition": base(), "failures": []}).field == "failures"
    response = {"taskDefinition": base(), "tags": [], "ResponseMetadata": {"HTTPStatusCode": 200}}
    assert load_task_definition(response) == load_task_definition(base())


def test_loading_leaves_the_input_untouched() -> None:
    data = {"taskDefinition": {**base(dependsOn=None), **READ_ONLY}, "tags": [{"key": "a", "value": None}]}
    before = copy.deepcopy(data)
    load_task_definition(data)
    assert data == before


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ({"memory": "512"}, "containerDefinitions[0].memory"),
        ({"memory": 512, "cpu": "256"}, "containerDefinitions[0].cpu"),
        ({"memory": 512, "portMappings": [{"containerPort": "80"}]},
         "containerDefinitions[0].portMappings[0].containerPort"),
        ({"memory": 512, "portMappings": [{"containerPort": 80, "hostPort": "8080"}]},
         "containerDefinitions[0].portMappings[0].hostPort"),
        ({"memoryReservation": "128"}, "containerDefinitions[0].memoryReservation"),
    ],
)  # fmt: skip
def test_text_where_ecs_takes_a_number_is_refused_with_its_path_never_coerced(
    container: dict[str, Any], field: str
) -> None:
    state = ClusterState("strict")
    definition = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", **container}]}
    with pytest.raises(ValidationError) as caught:
        state.register_task_definition(definition)
    assert caught.value.field == field and "not text" in str(caught.value)
    assert state.version == 0


def test_task_level_cpu_and_memory_are_text_in_ecs_and_still_load() -> None:
    state = ClusterState("strict")
    loaded = state.register_task_definition(
        {"family": "web", "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "app", "image": "web:1"}]}
    )
    assert (loaded.cpu, loaded.memory) == (256, 512)


@pytest.mark.parametrize(
    ("configuration", "field", "suggestion"),
    [
        ({"minimumHealthPercent": 50}, "deploymentConfiguration.minimumHealthPercent", "minimumHealthyPercent"),
        ({"maxPercent": 150}, "deploymentConfiguration.maxPercent", "maximumPercent"),
        ({"deploymentCircuitBreaker": {"enabled": True}}, "deploymentConfiguration.deploymentCircuitBreaker.enabled",
         "enable"),
    ],
)  # fmt: skip
def test_an_unknown_deployment_configuration_key_is_named_with_a_did_you_mean(
    configuration: dict[str, Any], field: str, suggestion: str
) -> None:
    state = ClusterState("strict")
    container = {"name": "a", "image": "b", "memory": 8}
    state.register_task_definition({"family": "web", "containerDefinitions": [container]})
    before = state.version
    with pytest.raises(ValidationError) as caught:
        state.create_service("web", "web", desired_count=1, deployment_configuration=configuration)
    assert caught.value.field == field
    assert f"did you mean {suggestion!r}?" in str(caught.value)
    assert "{" not in str(caught.value).split(":", 1)[0]  # the key's value, not the whole dict
    assert state.version == before
