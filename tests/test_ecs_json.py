"""ECS JSON in and out: realistic task definitions, round trips, and errors that name the JSON path."""

from __future__ import annotations

import copy
import json
from typing import Any, Final, Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import clusterkit
from clusterkit import (
    ContainerDefinition,
    ContainerDependency,
    ContainerInstance,
    HealthCheck,
    KeyValuePair,
    PlacementConstraint,
    PortBinding,
    PortMapping,
    ResourceRequirement,
    Resources,
    Tag,
    Task,
    TaskDefinition,
    ValidationError,
)
from clusterkit.ecs_json import (
    dump_container_instance,
    dump_describe_task_definition,
    dump_register_task_definition,
    dump_resources,
    dump_task,
    dump_task_definition,
    load_container_instance,
    load_resources,
    load_task,
    load_task_definition,
)
from clusterkit.model import (
    DESIRED_STATUSES,
    HEALTH_STATUSES,
    INSTANCE_STATUSES,
    NETWORK_MODES,
    STOP_CODES,
    TASK_LIFECYCLE,
    Arns,
)
from clusterkit.placement import assign_host_ports
from tests.ecs_api import assert_input, assert_output

ARNS = Arns(cluster="prod", region="eu-west-1", account="123456789012")

WEBAPP = """
{
  "family": "webapp",
  "taskRoleArn": "arn:aws:iam::123456789012:role/webapp-task",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "networkMode": "bridge",
  "cpu": "1 vCPU",
  "memory": "2 GB",
  "requiresCompatibilities": ["EC2"],
  "volumes": [{"name": "static", "host": {"sourcePath": "/srv/static"}}],
  "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}],
  "containerDefinitions": [
    {
      "name": "nginx",
      "image": "public.ecr.aws/nginx/nginx:1.25",
      "cpu": 256,
      "memoryReservation": 128,
      "essential": true,
      "portMappings": [
        {"containerPort": 80, "hostPort": 8080, "protocol": "tcp"},
        {"containerPort": 443}
      ],
      "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}],
      "mountPoints": [{"sourceVolume": "static", "containerPath": "/usr/share/nginx/html", "readOnly": true}],
      "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/webapp", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "nginx"}
      }
    },
    {
      "name": "app",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/webapp:2024.11.1",
      "cpu": 512,
      "memory": 1024,
      "memoryReservation": 768,
      "essential": true,
      "command": ["gunicorn", "-b", "0.0.0.0:8000", "app:wsgi"],
      "environment": [
        {"name": "DJANGO_SETTINGS_MODULE", "value": "webapp.settings.prod"},
        {"name": "WORKERS", "value": "4"}
      ],
      "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}],
      "portMappings": [
        {"containerPort": 8000, "hostPort": 0, "protocol": "tcp", "name": "app-http", "appProtocol": "http"}
      ],
      "healthCheck": {
        "command": ["CMD-SHELL", "curl -f http://localhost:8000/health || exit 1"],
        "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 60
      },
      "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]
    },
    {
      "name": "migrate",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/webapp:2024.11.1",
      "essential": false,
      "memory": 256,
      "entryPoint": ["python", "manage.py"],
      "command": ["migrate", "--noinput"]
    },
    {
      "name": "statsd",
      "image": "statsd/statsd:v0.10.2",
      "essential": false,
      "memory": 64,
      "portMappings": [
        {"containerPort": 8125, "hostPort": 8125, "protocol": "udp"},
        {"containerPort": 8126, "protocol": "udp"}
      ]
    }
  ]
}
"""

DESCRIBED_TRAINER = """
{
  "taskDefinition": {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/trainer:7",
    "family": "trainer",
    "revision": 7,
    "status": "INACTIVE",
    "networkMode": "awsvpc",
    "cpu": "4096",
    "memory": "16384",
    "containerDefinitions": [
      {
        "name": "trainer",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:3.2",
        "cpu": 3584,
        "memory": 15360,
        "essential": true,
        "portMappings": [{"containerPort": 6006, "hostPort": 6006, "protocol": "tcp"}],
        "resourceRequirements": [{"type": "GPU", "value": "2"}],
        "environment": [],
        "mountPoints": [],
        "volumesFrom": [],
        "systemControls": []
      },
      {
        "name": "metrics",
        "image": "prom/statsd-exporter:v0.26.0",
        "cpu": 128,
        "memoryReservation": 256,
        "essential": false,
        "portMappings": [{"containerPort": 9125, "protocol": "udp"}, {"containerPort": 9102}]
      }
    ],
    "volumes": [],
    "placementConstraints": [],
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
    "compatibilities": ["EC2"],
    "requiresCompatibilities": ["EC2"],
    "registeredAt": "2024-11-02T10:15:42.123000+00:00",
    "registeredBy": "arn:aws:iam::123456789012:user/ci"
  },
  "tags": [{"key": "team", "value": "ml"}]
}
"""


# --- realistic task definitions -------------------------------------------------------------


def test_load_realistic_multi_container_definition() -> None:
    definition = load_task_definition(WEBAPP)
    assert definition.family == "webapp"
    assert definition.revision == 0
    assert definition.network_mode == "bridge"
    assert (definition.cpu, definition.memory) == (1024, 2048)
    assert [c.name for c in definition.container_definitions] == ["nginx", "app", "migrate", "statsd"]

    nginx, app, migrate, statsd = definition.container_definitions
    assert nginx.memory is None
    assert nginx.memory_reservation == 128
    assert nginx.port_mappings == (PortMapping(80, 8080, "tcp"), PortMapping(443))
    assert nginx.depends_on == (ContainerDependency("app", "HEALTHY"),)
    assert app.health_check == HealthCheck(
        ("CMD-SHELL", "curl -f http://localhost:8000/health || exit 1"),
        interval=15,
        timeout=5,
        retries=3,
        start_period=60,
    )
    assert app.command == ("gunicorn", "-b", "0.0.0.0:8000", "app:wsgi")
    assert app.environment == (
        KeyValuePair("DJANGO_SETTINGS_MODULE", "webapp.settings.prod"),
        KeyValuePair("WORKERS", "4"),
    )
    assert app.depends_on == (ContainerDependency("migrate", "SUCCESS"),)
    assert not migrate.essential
    assert migrate.entry_point == ("python", "manage.py")
    assert migrate.command == ("migrate", "--noinput")
    assert statsd.port_mappings[0] == PortMapping(8125, 8125, "udp")
    assert statsd.port_mappings[1].protocol == "udp"
    assert definition.placement_constraints == (PlacementConstraint("memberOf", "attribute:ecs.instance-type =~ t3.*"),)

    # Task-level amounts override the containers'; static ports are charged, dynamic counted.
    assert definition.charge == Resources(cpu=1024, memory=2048, ports=[8080], ports_udp=[8125])
    assert definition.dynamic_ports == (2, 1)


def test_unknown_fields_are_kept_in_extra() -> None:
    raw = json.loads(WEBAPP)
    definition = load_task_definition(WEBAPP)
    assert dict(definition.extra) == {
        "taskRoleArn": raw["taskRoleArn"],
        "executionRoleArn": raw["executionRoleArn"],
        "requiresCompatibilities": ["EC2"],
        "volumes": raw["volumes"],
    }
    nginx, app = definition.container_definitions[:2]
    assert dict(nginx.extra) == {
        "mountPoints": raw["containerDefinitions"][0]["mountPoints"],
        "ulimits": raw["containerDefinitions"][0]["ulimits"],
        "logConfiguration": raw["containerDefinitions"][0]["logConfiguration"],
    }
    assert dict(app.extra) == {"secrets": raw["containerDefinitions"][1]["secrets"]}
    assert dict(app.port_mappings[0].extra) == {"name": "app-http", "appProtocol": "http"}
    assert dict(definition.container_definitions[2].extra) == {}


def test_dump_keeps_unknown_fields_unchanged() -> None:
    raw = json.loads(WEBAPP)
    dumped = dump_task_definition(load_task_definition(WEBAPP))
    for key in ("taskRoleArn", "executionRoleArn", "requiresCompatibilities", "volumes", "placementConstraints"):
        assert dumped[key] == raw[key]
    for key in ("mountPoints", "ulimits", "logConfiguration"):
        assert dumped["containerDefinitions"][0][key] == raw["containerDefinitions"][0][key]
    assert dumped["containerDefinitions"][1]["secrets"] == raw["containerDefinitions"][1]["secrets"]
    assert dumped["containerDefinitions"][1]["portMappings"][0]["appProtocol"] == "http"
    # ECS writes task-level cpu and memory as strings.
    assert (dumped["cpu"], dumped["memory"]) == ("1024", "2048")
    assert dumped["revision"] == 0
    assert dumped["status"] == "ACTIVE"
    assert dumped["networkMode"] == "bridge"
    assert dumped["containerDefinitions"][2]["essential"] is False
    assert dumped["containerDefinitions"][1]["healthCheck"]["command"][0] == "CMD-SHELL"
    json.dumps(dumped)  # plain JSON data, nothing exotic


def test_realistic_round_trip() -> None:
    definition = load_task_definition(WEBAPP)
    again = load_task_definition(dump_task_definition(definition))
    assert again == definition
    assert again.charge == definition.charge
    assert again.dynamic_ports == definition.dynamic_ports
    as_text = load_task_definition(json.dumps(dump_task_definition(definition)))
    assert as_text == definition
    as_bytes = load_task_definition(json.dumps(dump_task_definition(definition)).encode())
    assert as_bytes == definition


def test_describe_wrapper_is_unwrapped_and_read_only_fields_dropped() -> None:
    definition = load_task_definition(DESCRIBED_TRAINER)
    assert definition.family == "trainer"
    assert definition.revision == 7
    assert definition.status == "INACTIVE"
    assert definition.key == "trainer:7"
    assert definition.network_mode == "awsvpc"
    for read_only in ("taskDefinitionArn", "registeredAt", "registeredBy", "requiresAttributes", "compatibilities"):
        assert read_only not in definition.extra
    assert definition.extra["requiresCompatibilities"] == ["EC2"]
    trainer, metrics = definition.container_definitions
    assert trainer.resource_requirements == (ResourceRequirement("GPU", "2"),)
    assert trainer.extra["volumesFrom"] == []
    assert metrics.port_mappings[0].protocol == "udp"
    # awsvpc: no host ports are charged; GPUs become a scalar.
    assert definition.charge == Resources(cpu=4096, memory=16384, scalars={"GPU": 2})
    assert definition.dynamic_ports == (0, 0)

    # The tags beside the definition are the definition's tags.
    assert definition.tags == (Tag("team", "ml"),)

    dumped = dump_task_definition(definition, ARNS)
    assert dumped["taskDefinitionArn"] == "arn:aws:ecs:eu-west-1:123456789012:task-definition/trainer:7"
    assert dumped["revision"] == 7
    assert dumped["status"] == "INACTIVE"
    assert "tags" not in dumped
    assert load_task_definition(dumped) == attrs.evolve(definition, tags=())
    assert load_task_definition({"taskDefinition": dumped}) == attrs.evolve(definition, tags=())
    described = dump_describe_task_definition(definition, ARNS)
    assert described == {"taskDefinition": dumped, "tags": [{"key": "team", "value": "ml"}]}
    assert load_task_definition(described) == definition


def test_load_accepts_plain_dicts_and_leaves_them_untouched() -> None:
    raw = json.loads(DESCRIBED_TRAINER)
    before = copy.deepcopy(raw)
    assert load_task_definition(raw).revision == 7
    assert raw == before


@pytest.mark.parametrize(
    ("mode", "mappings", "charged_tcp", "charged_udp", "dynamic"),
    [
        (
            "bridge",
            [
                {"containerPort": 8080, "hostPort": 8080},
                {"containerPort": 80, "hostPort": 0},
                {"containerPort": 514, "protocol": "udp"},
            ],
            {8080},
            set(),
            (1, 1),
        ),
        (
            "host",
            [
                {"containerPort": 8080, "hostPort": 8080},
                {"containerPort": 80},
                {"containerPort": 514, "protocol": "udp"},
            ],
            {80, 8080},
            {514},
            (0, 0),
        ),
        (
            "awsvpc",
            [
                {"containerPort": 8080, "hostPort": 8080},
                {"containerPort": 80},
                {"containerPort": 514, "protocol": "udp"},
            ],
            set(),
            set(),
            (0, 0),
        ),
    ],
)
def test_network_modes_from_json(
    mode: str, mappings: list[dict[str, Any]], charged_tcp: set[int], charged_udp: set[int], dynamic: tuple[int, int]
) -> None:
    text = json.dumps(
        {
            "family": f"edge-{mode}",
            "networkMode": mode,
            "containerDefinitions": [
                {"name": "proxy", "image": "haproxy:2.9", "memory": 256, "portMappings": mappings}
            ],
        }
    )
    definition = load_task_definition(text)
    assert definition.charge.ports == frozenset(charged_tcp)
    assert definition.charge.ports_udp == frozenset(charged_udp)
    assert definition.dynamic_ports == dynamic
    assert load_task_definition(dump_task_definition(definition)) == definition


def test_none_mode_from_json() -> None:
    definition = load_task_definition(
        '{"family": "batch", "networkMode": "none", "memory": "0.5 GB",'
        ' "containerDefinitions": [{"name": "job", "image": "busybox", "command": ["sleep", "60"]}]}'
    )
    assert definition.charge == Resources(memory=512)
    assert dump_task_definition(definition)["networkMode"] == "none"


# --- a generated family of valid task definitions --------------------------------------------

NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
HEX = "0123456789abcdef"
names = st.text(NAME_ALPHABET, min_size=1, max_size=12)
short_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
CONTAINER_EXTRAS: tuple[dict[str, Any], ...] = (
    {},
    {
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/ecs/x", "awslogs-region": "us-east-1"},
        }
    },
    {
        "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False}],
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
    },
    {
        "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:t"}],
        "readonlyRootFilesystem": True,
    },
    # null is "not set": the model drops it, so the definition equals one without it.
    {"hostname": "ml-worker", "user": "1000:1000", "privileged": False, "linuxParameters": None},
)
PORT_EXTRAS: tuple[dict[str, Any], ...] = ({}, {"name": "http"}, {"name": "grpc", "appProtocol": "grpc"})
TASK_EXTRAS: tuple[dict[str, Any], ...] = (
    {},
    {"executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"},
    {"taskRoleArn": "arn:aws:iam::123456789012:role/app", "requiresCompatibilities": ["EC2"]},
    {"pidMode": "task", "ipcMode": "none"},
    {"volumes": [{"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}]},
    {"runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}, "enableFaultInjection": None},
)
"""ECS fields clusterkit does not model, with values ECS takes."""
DATA_VOLUME: Final = {"name": "data", "host": {"sourcePath": "/srv/data"}}
tags = st.lists(st.builds(Tag, names, st.text(max_size=8)), max_size=3, unique_by=lambda tag: tag.key)
EXPRESSIONS = (
    "attribute:ecs.instance-type =~ t3.*",
    "attribute:ecs.availability-zone in [eu-west-1a, eu-west-1b]",
    "agentConnected == true and runningTasksCount < 10",
)


@st.composite
def health_checks(draw: st.DrawFn) -> HealthCheck:
    return HealthCheck(
        command=(draw(st.sampled_from(["CMD", "CMD-SHELL"])), *draw(st.lists(short_text, min_size=1, max_size=3))),
        interval=draw(st.integers(5, 300)),
        timeout=draw(st.integers(2, 60)),
        retries=draw(st.integers(1, 10)),
        start_period=draw(st.one_of(st.none(), st.integers(0, 300))),
    )


def memory_texts(mib: int) -> st.SearchStrategy[int | str]:
    """A task memory of ``mib`` as ECS takes it: a number, a numeric string or a string with a unit."""
    return st.sampled_from([mib, str(mib), f"{mib} MiB"])


@st.composite
def task_definitions(draw: st.DrawFn) -> TaskDefinition:
    mode = draw(st.sampled_from(NETWORK_MODES))
    count = draw(st.integers(1, 4))
    container_names = draw(st.lists(names, min_size=count, max_size=count, unique=True))
    essential = [draw(st.booleans()) for _ in range(count)]
    if not any(essential):
        essential[draw(st.integers(0, count - 1))] = True
    task_memory_set = draw(st.booleans())
    static: dict[str, set[int]] = {"tcp": set(), "udp": set()}
    containers: list[ContainerDefinition] = []
    for index, name in enumerate(container_names):
        memory = draw(st.one_of(st.none(), st.integers(7, 2048)))
        reservation = draw(st.one_of(st.none(), st.integers(6, memory - 1 if memory else 2048)))
        if memory is None and reservation is None and not task_memory_set:
            memory = 128
        mappings: list[PortMapping] = []
        used: set[tuple[int, str]] = set()
        if mode != "none":
            for _ in range(draw(st.integers(0, 3))):
                protocol: Literal["tcp", "udp"] = draw(st.sampled_from(["tcp", "udp"]))
                port = draw(st.integers(1, 65535))
                if (port, protocol) in used:
                    continue
                if mode == "bridge":
                    host_port = draw(st.one_of(st.none(), st.just(0), st.integers(1, 65535)))
                    if host_port:
                        if host_port in static[protocol]:
                            continue
                        static[protocol].add(host_port)
                else:
                    if mode == "host":
                        if port in static[protocol]:
                            continue
                        static[protocol].add(port)
                    host_port = draw(st.sampled_from([None, port]))
                used.add((port, protocol))
                mappings.append(PortMapping(port, host_port, protocol, extra=draw(st.sampled_from(PORT_EXTRAS))))
        earlier = container_names[:index]
        dependencies = []
        for target in draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []:
            target_container = containers[container_names.index(target)]
            conditions: list[Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"]] = ["START"]
            if target_container.health_check is not None:
                conditions.append("HEALTHY")
            if not target_container.essential:
                conditions += ["COMPLETE", "SUCCESS"]
            dependencies.append(ContainerDependency(target, draw(st.sampled_from(conditions))))
        gpus = draw(st.integers(0, 4))
        containers.append(
            ContainerDefinition(
                name=name,
                image=draw(st.sampled_from(["nginx:1.25", "redis:7", "public.ecr.aws/x/y@sha256:" + "a" * 64])),
                cpu=draw(st.integers(0, 1024)),
                memory=memory,
                memory_reservation=reservation,
                port_mappings=mappings,  # type: ignore[arg-type]  # converter=tuple: attrs types it Iterable[_T_co]
                essential=essential[index],
                health_check=draw(st.one_of(st.none(), health_checks())),
                environment=draw(st.lists(st.builds(KeyValuePair, short_text, st.text(max_size=8)), max_size=2)),  # type: ignore[arg-type]  # converter=tuple: attrs types it Iterable[_T_co]
                command=draw(st.one_of(st.none(), st.lists(short_text, max_size=3))),
                entry_point=draw(st.one_of(st.none(), st.lists(short_text, min_size=1, max_size=2))),
                start_timeout=draw(st.one_of(st.none(), st.integers(2, 120))),
                stop_timeout=draw(st.one_of(st.none(), st.integers(0, 120))),
                docker_labels=draw(st.dictionaries(names, short_text, max_size=2)),
                depends_on=dependencies,  # type: ignore[arg-type]  # converter=tuple: attrs types it Iterable[_T_co]
                resource_requirements=[ResourceRequirement("GPU", str(gpus))] if gpus else [],  # type: ignore[list-item]  # converter=tuple: attrs types it Iterable[_T_co]
                extra=draw(st.sampled_from(CONTAINER_EXTRAS)),
            )
        )
    container_cpu = sum(c.cpu for c in containers)
    container_memory = sum(c.memory_charge for c in containers)
    cpu = draw(st.one_of(st.none(), st.integers(container_cpu, container_cpu + 2048)))
    if task_memory_set:
        memory_text: int | str | None = draw(
            st.integers(max(container_memory, 6), container_memory + 4096).flatmap(memory_texts)
        )
    else:
        memory_text = None
    extra = dict(draw(st.sampled_from(TASK_EXTRAS)))
    if any("mountPoints" in container.extra for container in containers):
        extra["volumes"] = [*extra.get("volumes", []), DATA_VOLUME]
    return TaskDefinition(
        family=draw(names),
        container_definitions=containers,  # type: ignore[arg-type]  # converter=tuple: attrs types it Iterable[_T_co]
        revision=draw(st.integers(0, 50)),
        network_mode=mode,  # type: ignore[arg-type]  # NETWORK_MODES is a tuple of str
        cpu=cpu,
        memory=memory_text,
        placement_constraints=[
            PlacementConstraint("memberOf", expression)  # type: ignore[misc]  # converter=tuple: attrs types it Iterable[_T_co]
            for expression in draw(st.lists(st.sampled_from(EXPRESSIONS), max_size=2))
        ],
        status=draw(st.sampled_from(["ACTIVE", "INACTIVE"])),
        tags=draw(tags),  # type: ignore[arg-type]  # converter=tuple: attrs types it Iterable[_T_co]
        extra=extra,
    )


@given(task_definitions())
def test_generated_definitions_round_trip(definition: TaskDefinition) -> None:
    dumped = dump_task_definition(definition)
    assert "tags" not in dumped  # ECS keeps tags beside the definition
    text = json.dumps(dumped)
    loaded = load_task_definition(text)
    assert loaded == attrs.evolve(definition, tags=())
    assert loaded.charge == definition.charge
    assert loaded.dynamic_ports == definition.dynamic_ports
    assert dump_task_definition(loaded) == dumped
    for index, container in enumerate(definition.container_definitions):
        for key, value in container.extra.items():
            assert dumped["containerDefinitions"][index][key] == value
    # describe-task-definition output, with the ARN and the tags beside, loads back to the same value.
    described = dump_describe_task_definition(definition, ARNS)
    assert_output(described, "DescribeTaskDefinitionResponse")  # exactly what ECS returns, nothing more
    assert described["taskDefinition"]["taskDefinitionArn"].endswith(f"task-definition/{definition.key}")
    assert described["tags"] == [
        {"key": tag.key, "value": tag.value} if tag.value else {"key": tag.key} for tag in definition.tags
    ]
    assert load_task_definition(json.dumps(described)) == definition
    # So does the input of register-task-definition, tags at the top, but for what ECS sets.
    registration = dump_register_task_definition(definition)
    assert_input(registration, "RegisterTaskDefinition")
    assert not {"revision", "status", "taskDefinitionArn"} & set(registration)
    assert load_task_definition(registration) == attrs.evolve(definition, revision=0, status="ACTIVE")


# --- bad input: a ValidationError naming the JSON path -------------------------------------

BASE: dict[str, Any] = {
    "family": "web",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "nginx:1.25",
            "memory": 128,
            "portMappings": [{"containerPort": 80, "hostPort": 8080}],
        },
        {"name": "sidecar", "image": "envoyproxy/envoy:v1.30", "memory": 256, "essential": False},
    ],
}


def _set(path: list[Any], value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


def _task_cpu_below_containers(data: dict[str, Any]) -> None:
    data["cpu"] = "256"
    data["containerDefinitions"][0]["cpu"] = 512


C0 = ["containerDefinitions", 0]
C1 = ["containerDefinitions", 1]
P00 = [*C0, "portMappings", 0]
PM0 = "containerDefinitions[0].portMappings[0]"

BAD_INPUTS = [
    # (id, mutation, expected field, text the message must show)
    ("containerPort-string", _set([*P00, "containerPort"], "http"), f"{PM0}.containerPort", "'http'"),
    ("containerPort-zero", _set([*P00, "containerPort"], 0), f"{PM0}.containerPort", "=0"),
    ("containerPort-float", _set([*P00, "containerPort"], 80.5), f"{PM0}.containerPort", "80.5"),
    ("containerPort-missing", _delete([*P00, "containerPort"]), f"{PM0}.containerPort", "required"),
    ("hostPort-too-big", _set([*P00, "hostPort"], 70000), f"{PM0}.hostPort", "70000"),
    ("protocol-enum", _set([*P00, "protocol"], "sctp"), f"{PM0}.protocol", "sctp"),
    ("portMapping-not-object", _set([*C0, "portMappings"], [80]), "containerDefinitions[0].portMappings[0]", "object"),
    ("image-missing", _delete([*C0, "image"]), "containerDefinitions[0].image", "required"),
    ("image-number", _set([*C0, "image"], 5), "containerDefinitions[0].image", "=5"),
    ("name-null", _set([*C0, "name"], None), "containerDefinitions[0].name", "None"),
    ("memory-word", _set([*C0, "memory"], "lots"), "containerDefinitions[0].memory", "'lots'"),
    ("memory-bool", _set([*C0, "memory"], True), "containerDefinitions[0].memory", "True"),
    ("memory-too-small", _set([*C0, "memory"], 4), "containerDefinitions[0].memory", "=4"),
    ("cpu-float", _set([*C0, "cpu"], 1.5), "containerDefinitions[0].cpu", "1.5"),
    ("essential-string", _set([*C1, "essential"], "no"), "containerDefinitions[1].essential", "'no'"),
    (
        "reservation-above-memory",
        _set([*C1, "memoryReservation"], 512),
        "containerDefinitions[1].memoryReservation",
        "512",
    ),
    ("memory-missing", _delete([*C1, "memory"]), "containerDefinitions[1].memory", "memoryReservation"),
    (
        "healthCheck-interval",
        _set([*C1, "healthCheck"], {"command": ["CMD", "true"], "interval": 1}),
        "containerDefinitions[1].healthCheck.interval",
        "=1",
    ),
    (
        "healthCheck-command",
        _set([*C1, "healthCheck"], {"command": ["curl", "localhost"]}),
        "containerDefinitions[1].healthCheck.command",
        "CMD",
    ),
    (
        "dependsOn-unknown",
        _set([*C0, "dependsOn"], [{"containerName": "db"}]),
        "containerDefinitions[0].dependsOn[0].containerName",
        "'db'",
    ),
    (
        "dependsOn-condition",
        _set([*C0, "dependsOn"], [{"containerName": "sidecar", "condition": "READY"}]),
        "containerDefinitions[0].dependsOn[0].condition",
        "READY",
    ),
    (
        "environment-name",
        _set([*C0, "environment"], [{"name": 5, "value": "x"}]),
        "containerDefinitions[0].environment[0].name",
        "=5",
    ),
    (
        "gpu-negative",
        _set([*C0, "resourceRequirements"], [{"type": "GPU", "value": "-1"}]),
        "containerDefinitions[0].resourceRequirements[0].value",
        "'-1'",
    ),
    (
        "duplicate-host-port",
        _set([*C1, "portMappings"], [{"containerPort": 9901, "hostPort": 8080}]),
        "containerDefinitions[1].portMappings[0].hostPort",
        "8080",
    ),
    ("container-not-object", _set(["containerDefinitions", 1], "sidecar"), "containerDefinitions[1]", "object"),
    ("containerDefinitions-missing", _delete(["containerDefinitions"]), "containerDefinitions", "required"),
    ("containerDefinitions-empty", _set(["containerDefinitions"], []), "containerDefinitions", "1..10"),
    ("family-missing", _delete(["family"]), "family", "required"),
    ("family-pattern", _set(["family"], "web app"), "family", "'web app'"),
    ("family-number", _set(["family"], 3), "family", "=3"),
    ("networkMode-enum", _set(["networkMode"], "overlay"), "networkMode", "overlay"),
    ("task-cpu-word", _set(["cpu"], "fast"), "cpu", "'fast'"),
    ("task-memory-unit", _set(["memory"], "1 TB"), "memory", "'1 TB'"),
    ("task-cpu-below-containers", _task_cpu_below_containers, "cpu", "=256"),
    ("revision-negative", _set(["revision"], -1), "revision", "-1"),
    ("status-enum", _set(["status"], "DELETED"), "status", "DELETED"),
    (
        "placement-type",
        _set(["placementConstraints"], [{"type": "spread", "expression": "x"}]),
        "placementConstraints[0].type",
        "spread",
    ),
    (
        "placement-expression",
        _set(["placementConstraints"], [{"type": "memberOf"}]),
        "placementConstraints[0].expression",
        "expression",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "field", "shown"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_task_definition_json_names_the_path(mutation: Any, field: str, shown: str) -> None:
    data = copy.deepcopy(BASE)
    mutation(data)
    load_task_definition(copy.deepcopy(BASE))  # the base itself is valid
    with pytest.raises(clusterkit.ValidationError) as error:
        load_task_definition(json.dumps(data))
    assert isinstance(error.value, ValueError)
    assert error.value.field == field
    message = str(error.value)
    assert message.startswith(field + "=")
    assert shown in message


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[]", "object"),
        ("null", "object"),
        ("42", "object"),
        ('"family"', "object"),
        ("{not json", "JSON"),
        ('{"family": "web", "containerDefinitions": [', "JSON"),
        ("", "JSON"),
    ],
)
def test_text_that_is_not_a_json_object(text: str, shown: str) -> None:
    with pytest.raises(ValidationError) as error:
        load_task_definition(text)
    assert error.value.field == "taskDefinition"
    assert shown in str(error.value)


@pytest.mark.parametrize(
    ("mutation", "field", "value"),
    [
        (_set([*P00, "protocol"], "sctp"), "containerDefinitions[0].portMappings[0].protocol", "sctp"),
        (_set(["networkMode"], "overlay"), "networkMode", "overlay"),
        (_set(["status"], "DELETED"), "status", "DELETED"),
        (_set([*C0, "portMappings"], [80]), "containerDefinitions[0].portMappings[0]", 80),
    ],
    ids=["protocol", "networkMode", "status", "portMapping-not-object"],
)
def test_error_value_is_the_offending_json_value(mutation: Any, field: str, value: object) -> None:
    # ValidationError's contract: "field and value say which and what".
    data = copy.deepcopy(BASE)
    mutation(data)
    with pytest.raises(ValidationError) as error:
        load_task_definition(data)
    assert error.value.field == field
    assert error.value.value == value


def test_command_string_is_rejected_not_split_into_characters() -> None:
    data = copy.deepcopy(BASE)
    data["containerDefinitions"][0]["command"] = "nginx -g 'daemon off;'"
    with pytest.raises(ValidationError) as error:
        load_task_definition(data)
    assert error.value.field == "containerDefinitions[0].command"


# --- resources ------------------------------------------------------------------------------

amounts = st.one_of(st.integers(0, 2**40), st.integers(1, 400).map(lambda quarters: quarters / 4))


@st.composite
def resources(draw: st.DrawFn) -> Resources:
    return Resources(
        cpu=draw(st.integers(0, 2**20)),
        memory=draw(st.integers(0, 2**30)),
        ports=draw(st.frozensets(st.integers(1, 65535), max_size=6)),
        ports_udp=draw(st.frozensets(st.integers(1, 65535), max_size=6)),
        scalars=draw(st.dictionaries(st.sampled_from(["GPU", "FPGA", "NEURON", "my.custom"]), amounts, max_size=3)),
    )


@given(resources())
def test_resources_round_trip(value: Resources) -> None:
    items = dump_resources(value)
    assert load_resources(items) == value
    assert load_resources(json.loads(json.dumps(items))) == value
    by_name = {item["name"]: item for item in items}
    assert by_name["CPU"] == {"name": "CPU", "type": "INTEGER", "integerValue": value.cpu}
    assert by_name["MEMORY"]["integerValue"] == value.memory
    assert by_name["PORTS"]["type"] == "STRINGSET"
    assert sorted(int(port) for port in by_name["PORTS"]["stringSetValue"]) == sorted(value.ports)
    assert sorted(int(port) for port in by_name["PORTS_UDP"]["stringSetValue"]) == sorted(value.ports_udp)
    assert len(items) == 4 + len(value.scalars)


def test_resources_dump_shape() -> None:
    items = dump_resources(Resources(cpu=2048, memory=3953, ports=[22, 2376], scalars={"GPU": 1, "FPGA": 0.5}))
    assert items == [
        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 3953},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        {"name": "FPGA", "type": "DOUBLE", "doubleValue": 0.5},
        {"name": "GPU", "type": "INTEGER", "integerValue": 1},
    ]


def test_resources_load_ecs_register_style_list() -> None:
    # The resource list ECS's register-container-instance takes, without PORTS_UDP.
    value = load_resources(
        [
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 15578},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
            {"name": "GPU", "type": "INTEGER", "integerValue": 1},
        ]
    )
    assert value == Resources(cpu=4096, memory=15578, ports=clusterkit.model.DEFAULT_RESERVED_PORTS, scalars={"GPU": 1})


def test_resources_load_long_values() -> None:
    # ECS's Resource has a longValue for type LONG (load_resources accepts type LONG).
    value = load_resources([{"name": "NEURON", "type": "LONG", "longValue": 2}])
    assert value.scalar("NEURON") == 2


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ("CPU", "resources"),
        ({"name": "CPU"}, "resources"),
        ([5], "resources[0]"),
        ([{"type": "INTEGER", "integerValue": 1}], "resources[0]"),
        ([{"name": "CPU", "type": "INTEGER", "integerValue": True}], "resources[0]"),
        ([{"name": "CPU", "type": "INTEGER", "integerValue": "1"}], "resources[0]"),
        ([{"name": "CPU", "type": "BOOLEAN", "booleanValue": True}], "resources[0]"),
        ([{"name": "CPU", "type": "INTEGER"}], "resources[0]"),
        (
            [{"name": "CPU", "integerValue": 1}, {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["ssh"]}],
            "resources[1].stringSetValue",
        ),
        ([{"name": "GPU", "type": "STRINGSET", "stringSetValue": ["0"]}], "resources[0].name"),
        ([{"name": "CPU", "type": "INTEGER", "integerValue": -1}], "cpu"),
        ([{"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["0"]}], "ports"),
    ],
)
def test_bad_resource_lists(items: Any, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        load_resources(items)
    assert error.value.field == field


# --- tasks ----------------------------------------------------------------------------------

ids = st.text(HEX, min_size=8, max_size=32)
times = st.floats(0, 2e9, allow_nan=False, allow_infinity=False)


@st.composite
def tasks(draw: st.DrawFn) -> Task:
    bindings = draw(
        st.lists(
            st.builds(
                PortBinding,
                st.sampled_from(["app", "web", "worker"]),
                st.integers(1, 65535),
                st.integers(1, 65535),
                st.sampled_from(["tcp", "udp"]),
            ),
            max_size=4,
        )
    )
    return Task(
        id=draw(ids),
        task_definition=f"{draw(names)}:{draw(st.integers(1, 99))}",
        container_instance_id=draw(ids),
        charge=draw(resources()),
        last_status=draw(st.sampled_from(TASK_LIFECYCLE)),
        desired_status=draw(st.sampled_from(DESIRED_STATUSES)),
        group=draw(st.sampled_from(["", "family:web", "service:api"])),
        started_by=draw(st.one_of(st.none(), st.sampled_from(["ecs-svc/123", "deployer"]))),
        # Grouped by container name: the order describe-tasks output can keep (see the test below).
        host_ports=tuple(sorted(bindings, key=lambda binding: binding.container_name)),
        stop_code=draw(st.one_of(st.none(), st.sampled_from(STOP_CODES))),
        stopped_reason=draw(st.one_of(st.none(), st.text(max_size=20))),
        health_status=draw(st.sampled_from(HEALTH_STATUSES)),
        version=draw(st.integers(1, 10**6)),
        created_at=draw(times),
        started_at=draw(st.one_of(st.none(), times)),
        stopping_at=draw(st.one_of(st.none(), times)),
        stopped_at=draw(st.one_of(st.none(), times)),
    )


@given(tasks())
def test_task_round_trip(task: Task) -> None:
    dumped = dump_task(task, ARNS)
    assert dumped["taskArn"] == f"arn:aws:ecs:eu-west-1:123456789012:task/prod/{task.id}"
    assert dumped["taskDefinitionArn"].endswith(f":task-definition/{task.task_definition}")
    assert dumped["cpu"] == str(task.charge.cpu)
    assert "chargedResources" not in dumped  # ECS's Task has no such field: the save file keeps it
    assert load_task(json.loads(json.dumps(dumped)), task.charge) == task


def test_task_round_trip_keeps_host_port_order_of_a_placed_task() -> None:
    # A task placed from a definition whose containers are not in alphabetical order: the
    # bindings come in container-definition order and must survive save/restore exactly.
    definition = load_task_definition(WEBAPP)
    assigned = assign_host_ports(
        definition, Resources(cpu=4096, memory=8192, ports=clusterkit.model.DEFAULT_RESERVED_PORTS)
    )
    assert assigned is not None
    charge, bindings = assigned
    assert [binding.container_name for binding in bindings] == ["nginx", "nginx", "app", "statsd", "statsd"]
    task = Task(
        id="5d3f0c8a9b7e4f21a0c6d2e8f4b1a7c3",
        task_definition="webapp:1",
        container_instance_id="c0ffee",
        charge=charge,
        last_status="RUNNING",
        host_ports=bindings,
        version=3,
        created_at=1_700_000_000.0,
        started_at=1_700_000_004.5,
    )
    restored = load_task(dump_task(task, ARNS), charge)
    assert set(restored.host_ports) == set(task.host_ports)
    assert restored == task


def test_bad_task_json() -> None:
    charge = Resources(cpu=1)
    dumped = dump_task(Task(id="abc", task_definition="web:1", container_instance_id="ci", charge=charge), ARNS)
    for key in ("taskArn", "taskDefinitionArn", "containerInstanceArn"):
        broken = {k: v for k, v in dumped.items() if k != key}
        with pytest.raises(ValidationError) as error:
            load_task(broken, charge)
        assert error.value.field == "task"
        assert error.value.value == key
    with pytest.raises(ValidationError) as status:
        load_task({**dumped, "lastStatus": "EXPLODED"}, charge)
    assert status.value.field == "lastStatus"
    with pytest.raises(ValidationError) as not_object:
        load_task([dumped], charge)  # type: ignore[arg-type]
    assert not_object.value.field == "task"


# --- container instances --------------------------------------------------------------------


@st.composite
def container_instances(draw: st.DrawFn) -> ContainerInstance:
    registered = draw(resources())
    return ContainerInstance(
        id=draw(ids),
        registered=registered,
        remaining=draw(resources()),
        attributes=draw(
            st.dictionaries(
                st.text("abcdefghijklmnopqrstuvwxyz0123456789.:-", min_size=1, max_size=30),
                st.one_of(st.none(), st.text(min_size=1, max_size=20)),
                max_size=4,
            )
        ),
        status=draw(st.sampled_from(INSTANCE_STATUSES)),
        agent_connected=draw(st.booleans()),
        agent_version=draw(st.sampled_from(["1.0.0", "1.86.2"])),
        registered_at=draw(times),
        ec2_instance_id=draw(st.one_of(st.none(), st.text(HEX, min_size=17, max_size=17).map("i-{}".format))),
        running_tasks_count=draw(st.integers(0, 100)),
        pending_tasks_count=draw(st.integers(0, 100)),
        version=draw(st.integers(1, 10**6)),
    )


@given(container_instances())
def test_container_instance_round_trip(instance: ContainerInstance) -> None:
    dumped = dump_container_instance(instance, ARNS)
    assert dumped["containerInstanceArn"] == f"arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/{instance.id}"
    assert load_resources(dumped["registeredResources"]) == instance.registered
    assert load_container_instance(json.loads(json.dumps(dumped))) == instance


def test_container_instance_dump_shape() -> None:
    instance = ContainerInstance(
        id="7c1a2b3c4d5e",
        registered=Resources(cpu=2048, memory=3953, ports=clusterkit.model.DEFAULT_RESERVED_PORTS),
        remaining=Resources(cpu=1024, memory=1905, ports=clusterkit.model.DEFAULT_RESERVED_PORTS | {8080}),
        attributes={"ecs.availability-zone": "eu-west-1a", "ecs.capability.docker-plugin": None},
        ec2_instance_id="i-0123456789abcdef0",
        running_tasks_count=1,
        agent_version="1.86.2",
    )
    dumped = dump_container_instance(instance, ARNS)
    assert dumped["attributes"] == [
        {"name": "ecs.availability-zone", "value": "eu-west-1a"},
        {"name": "ecs.capability.docker-plugin"},
    ]
    assert dumped["versionInfo"] == {"agentVersion": "1.86.2"}
    assert dumped["ec2InstanceId"] == "i-0123456789abcdef0"
    assert dumped["agentConnected"] is True
    restored = load_container_instance(dumped)
    assert restored == instance
    assert restored.attribute("ecs.availability-zone") == "eu-west-1a"
    assert restored.has_attribute("ecs.capability.docker-plugin")
    with pytest.raises(ValidationError) as error:
        load_container_instance({k: v for k, v in dumped.items() if k != "remainingResources"})
    assert error.value.field == "containerInstance"
    assert error.value.value == "remainingResources"
