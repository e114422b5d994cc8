"""TaskDefinition and ContainerDefinition: the ECS registration rules and the placement charge."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import (
    ContainerDefinition,
    ContainerDependency,
    HealthCheck,
    KeyValuePair,
    PlacementConstraint,
    PortMapping,
    ResourceRequirement,
    Resources,
    TaskDefinition,
    ValidationError,
)
from clusterkit.model import parse_task_cpu, parse_task_memory


def container(name: str = "app", **fields: Any) -> ContainerDefinition:
    fields.setdefault("image", "public.ecr.aws/nginx/nginx:1.25")
    if "memory" not in fields and "memory_reservation" not in fields:
        fields["memory"] = 128
    return ContainerDefinition(name=name, **fields)


def taskdef(*containers: ContainerDefinition, **fields: Any) -> TaskDefinition:
    family = fields.pop("family", "web")
    return TaskDefinition(family=family, container_definitions=containers or (container(),), **fields)  # type: ignore[arg-type]  # converter=tuple


def assert_names(error: ValidationError, field: str, value: object) -> None:
    """The error names the field (as .field and in the message) and the offending value."""
    assert isinstance(error, ValidationError)
    assert isinstance(error, ValueError)
    assert error.field == field
    assert error.value == value
    message = str(error)
    assert field in message
    assert repr(value)[:100] in message  # long values are shown truncated


def healthy_check() -> HealthCheck:
    return HealthCheck(["CMD-SHELL", "curl -f http://localhost/ || exit 1"])


# --- a valid definition -----------------------------------------------------------------


def test_minimal_definition_defaults() -> None:
    definition = taskdef()
    assert definition.revision == 0
    assert definition.network_mode == "bridge"
    assert definition.status == "ACTIVE"
    assert definition.key == "web:0"
    assert definition.container("app").image == "public.ecr.aws/nginx/nginx:1.25"
    with pytest.raises(ValidationError) as error:
        definition.container("sidecar")
    assert_names(error.value, "containerName", "sidecar")


# --- essential containers and container count -------------------------------------------


def test_at_least_one_container_must_be_essential() -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(container("a", essential=False), container("b", essential=False))
    assert_names(error.value, "containerDefinitions", ["a", "b"])
    assert "essential" in str(error.value)
    # One essential container among non-essential ones is enough.
    assert taskdef(container("a", essential=False), container("b")).container_definitions[1].essential


def test_essential_must_be_a_bool() -> None:
    with pytest.raises(ValidationError) as error:
        container(essential=1)
    assert_names(error.value, "essential", 1)


def test_at_most_ten_containers() -> None:
    assert len(taskdef(*[container(f"c{i}") for i in range(10)]).container_definitions) == 10
    with pytest.raises(ValidationError) as error:
        taskdef(*[container(f"c{i}") for i in range(11)])
    assert_names(error.value, "containerDefinitions", 11)


def test_at_least_one_container() -> None:
    with pytest.raises(ValidationError) as error:
        TaskDefinition(family="web", container_definitions=())
    assert_names(error.value, "containerDefinitions", 0)


def test_container_names_must_be_unique() -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(container("app"), container("sidecar"), container("app"))
    assert_names(error.value, "containerDefinitions[0].name", "app")


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 256, "ünïcode"])
def test_container_name_pattern(name: str) -> None:
    with pytest.raises(ValidationError) as error:
        container(name)
    assert_names(error.value, "name", name)


@pytest.mark.parametrize("family", ["", "web app", "web:1"])
def test_family_name_pattern(family: str) -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(family=family)
    assert_names(error.value, "family", family)


def test_image_is_required_text() -> None:
    with pytest.raises(ValidationError) as error:
        ContainerDefinition(name="app", image="", memory=128)
    assert_names(error.value, "image", "")


# --- memory rules -------------------------------------------------------------------------


def test_container_needs_memory_unless_task_sets_memory() -> None:
    bare = ContainerDefinition(name="app", image="nginx")  # valid on its own: the task decides
    with pytest.raises(ValidationError) as error:
        taskdef(container("ok"), bare)
    assert_names(error.value, "containerDefinitions[1].memory", None)
    assert "memoryReservation" in str(error.value)
    assert taskdef(bare, memory="512").charge.memory == 512
    assert taskdef(container(memory=None, memory_reservation=64)).charge.memory == 64


def test_memory_reservation_must_be_less_than_memory() -> None:
    with pytest.raises(ValidationError) as equal:
        container(memory=256, memory_reservation=256)
    assert_names(equal.value, "memoryReservation", 256)
    assert "256" in equal.value.problem
    with pytest.raises(ValidationError) as above:
        container(memory=256, memory_reservation=512)
    assert_names(above.value, "memoryReservation", 512)
    assert container(memory=256, memory_reservation=255).memory_charge == 255


@pytest.mark.parametrize(
    ("fields", "field", "value"),
    [
        ({"memory": 5}, "memory", 5),
        ({"memory": 0}, "memory", 0),
        ({"memory": -128}, "memory", -128),
        ({"memory": True}, "memory", True),
        ({"memory": 128.0}, "memory", 128.0),
        ({"memory_reservation": 5}, "memoryReservation", 5),
        ({"memory": 256, "memory_reservation": 4}, "memoryReservation", 4),
        ({"cpu": -1}, "cpu", -1),
        ({"cpu": False}, "cpu", False),
    ],
)
def test_container_amount_bounds(fields: dict[str, Any], field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        container(**fields)
    assert_names(error.value, field, value)


def test_memory_minimum_is_six() -> None:
    assert container(memory=6).memory == 6
    assert container(memory=None, memory_reservation=6).memory_reservation == 6


# --- port mappings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"container_port": 0}, "containerPort", 0),
        ({"container_port": 65536}, "containerPort", 65536),
        ({"container_port": -80}, "containerPort", -80),
        ({"container_port": True}, "containerPort", True),
        ({"container_port": "80"}, "containerPort", "80"),
        ({"container_port": 80, "host_port": -1}, "hostPort", -1),
        ({"container_port": 80, "host_port": 65536}, "hostPort", 65536),
        ({"container_port": 80, "host_port": 70000}, "hostPort", 70000),
        ({"container_port": 80, "protocol": "sctp"}, "protocol", "sctp"),
        ({"container_port": 80, "protocol": "TCP"}, "protocol", "TCP"),
    ],
)
def test_port_mapping_bounds(kwargs: dict[str, Any], field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        PortMapping(**kwargs)
    assert_names(error.value, field, value)


@pytest.mark.parametrize(("container_port", "host_port"), [(1, 0), (65535, 65535), (80, None), (80, 0), (8080, 1)])
def test_port_mapping_edges_are_valid(container_port: int, host_port: int | None) -> None:
    mapping = PortMapping(container_port, host_port)
    assert (mapping.container_port, mapping.host_port) == (container_port, host_port)


def test_container_port_mapped_twice_in_one_container() -> None:
    with pytest.raises(ValidationError) as error:
        container(port_mappings=[PortMapping(80, 8080), PortMapping(443), PortMapping(80, 8081)])
    assert_names(error.value, "portMappings[2].containerPort", 80)
    # The same port number over TCP and UDP is two different mappings.
    both = container(port_mappings=[PortMapping(53, 53, "tcp"), PortMapping(53, 53, "udp")])
    assert len(both.port_mappings) == 2


def test_duplicate_static_host_port_is_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(
            container("web", port_mappings=[PortMapping(80, 8080)]),
            container("admin", port_mappings=[PortMapping(9000), PortMapping(81, 8080)]),
        )
    assert_names(error.value, "containerDefinitions[1].portMappings[1].hostPort", 8080)
    # Within one container too.
    with pytest.raises(ValidationError) as same_container:
        taskdef(container("web", port_mappings=[PortMapping(80, 8080), PortMapping(81, 8080)]))
    assert_names(same_container.value, "containerDefinitions[0].portMappings[1].hostPort", 8080)


def test_same_static_host_port_on_tcp_and_udp_is_allowed() -> None:
    definition = taskdef(
        container("dns", port_mappings=[PortMapping(53, 53, "tcp")]),
        container("dns-udp", port_mappings=[PortMapping(53, 53, "udp")]),
    )
    assert definition.charge.ports == frozenset({53})
    assert definition.charge.ports_udp == frozenset({53})


def test_dynamic_host_ports_never_collide() -> None:
    definition = taskdef(
        container("a", port_mappings=[PortMapping(80), PortMapping(81, 0)]),
        container("b", port_mappings=[PortMapping(80, 0)]),
    )
    assert definition.dynamic_ports == (3, 0)
    assert definition.charge.ports == frozenset()


@pytest.mark.parametrize("mode", ["host", "awsvpc"])
def test_host_and_awsvpc_host_port_must_be_empty_or_container_port(mode: str) -> None:
    assert taskdef(container(port_mappings=[PortMapping(80, 80), PortMapping(81)]), network_mode=mode)
    with pytest.raises(ValidationError) as error:
        taskdef(container(port_mappings=[PortMapping(80, 8080)]), network_mode=mode)
    assert_names(error.value, "containerDefinitions[0].portMappings[0].hostPort", 8080)
    assert mode in str(error.value)
    with pytest.raises(ValidationError) as zero:
        taskdef(container(port_mappings=[PortMapping(80), PortMapping(443, 0)]), network_mode=mode)
    assert_names(zero.value, "containerDefinitions[0].portMappings[1].hostPort", 0)


def test_host_mode_container_ports_are_host_ports_and_must_not_collide() -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(
            container("a", port_mappings=[PortMapping(80)]),
            container("b", port_mappings=[PortMapping(80)]),
            network_mode="host",
        )
    assert_names(error.value, "containerDefinitions[1].portMappings[0].hostPort", 80)


def test_none_mode_allows_no_port_mappings() -> None:
    assert taskdef(container(), network_mode="none").charge.ports == frozenset()
    with pytest.raises(ValidationError) as error:
        taskdef(container("a"), container("b", port_mappings=[PortMapping(8125, protocol="udp")]), network_mode="none")
    assert_names(error.value, "containerDefinitions[1].portMappings[0]", 8125)
    assert "none" in str(error.value)


def test_bridge_host_port_zero_or_missing_is_dynamic() -> None:
    definition = taskdef(
        container("a", port_mappings=[PortMapping(80, 0), PortMapping(81), PortMapping(82, 8082)]),
        container("b", port_mappings=[PortMapping(8125, None, "udp"), PortMapping(8126, 8126, "udp")]),
    )
    assert definition.dynamic_ports == (2, 1)
    assert definition.charge.ports == frozenset({8082})
    assert definition.charge.ports_udp == frozenset({8126})


@pytest.mark.parametrize("mode", ["overlay", "Bridge", "", None])
def test_network_mode_must_be_known(mode: object) -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(network_mode=mode)
    assert_names(error.value, "networkMode", mode)


# --- health checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"interval": 4}, "interval", 4),
        ({"interval": 301}, "interval", 301),
        ({"timeout": 1}, "timeout", 1),
        ({"timeout": 61}, "timeout", 61),
        ({"retries": 0}, "retries", 0),
        ({"retries": 11}, "retries", 11),
        ({"start_period": -1}, "startPeriod", -1),
        ({"start_period": 301}, "startPeriod", 301),
        ({"interval": 30.0}, "interval", 30.0),
        ({"retries": True}, "retries", True),
    ],
)
def test_health_check_bounds(kwargs: dict[str, Any], field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        HealthCheck(["CMD", "true"], **kwargs)
    assert_names(error.value, field, value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 5, "timeout": 2, "retries": 1, "start_period": 0},
        {"interval": 300, "timeout": 60, "retries": 10, "start_period": 300},
    ],
)
def test_health_check_bounds_are_inclusive(kwargs: dict[str, int]) -> None:
    check = HealthCheck(["CMD", "true"], **kwargs)
    assert (check.interval, check.timeout, check.retries, check.start_period) == tuple(kwargs.values())


@pytest.mark.parametrize(
    "command",
    [
        ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        ["CMD", "/bin/healthcheck", "--quick"],
    ],
)
def test_health_check_command_valid(command: list[str]) -> None:
    assert HealthCheck(command).command == tuple(command)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["CMD"],
        ["CMD-SHELL"],
        ["SHELL", "curl localhost"],
        ["cmd", "true"],
        ["NONE", "true"],
        ["curl", "-f", "http://localhost/"],
        ["CMD", 5],
    ],
)
def test_health_check_command_must_start_with_cmd_or_cmd_shell(command: list[Any]) -> None:
    with pytest.raises(ValidationError) as error:
        HealthCheck(command)
    assert_names(error.value, "command", tuple(command))


# --- dependsOn ----------------------------------------------------------------------------


def test_depends_on_must_name_an_existing_container() -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(container("web", depends_on=[ContainerDependency("db")]))
    assert_names(error.value, "containerDefinitions[0].dependsOn[0].containerName", "db")


def test_depends_on_healthy_needs_a_health_check_on_the_target() -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(
            container("web", depends_on=[ContainerDependency("cache"), ContainerDependency("db", "HEALTHY")]),
            container("cache"),
            container("db"),
        )
    assert_names(error.value, "containerDefinitions[0].dependsOn[1].containerName", "db")
    assert "healthCheck" in str(error.value)
    definition = taskdef(
        container("web", depends_on=[ContainerDependency("db", "HEALTHY")]),
        container("db", health_check=healthy_check()),
    )
    assert definition.container("web").depends_on[0].condition == "HEALTHY"


@pytest.mark.parametrize("condition", ["COMPLETE", "SUCCESS"])
def test_depends_on_complete_or_success_cannot_target_an_essential_container(
    condition: Literal["COMPLETE", "SUCCESS"],
) -> None:
    # ECS ContainerDependency: "COMPLETE ... This condition can't be set on an essential
    # container." (SUCCESS likewise.)
    ok = taskdef(
        container("app", depends_on=[ContainerDependency("migrate", condition)]),
        container("migrate", essential=False),
    )
    assert ok.container("app").depends_on[0].condition == condition
    with pytest.raises(ValidationError) as error:
        taskdef(
            container("app", depends_on=[ContainerDependency("migrate", condition)]),
            container("migrate", essential=True),
        )
    assert error.value.field == "containerDefinitions[0].dependsOn[0].containerName"
    assert error.value.value == "migrate"


def test_depends_on_condition_must_be_known() -> None:
    with pytest.raises(ValidationError) as error:
        ContainerDependency("db", "READY")  # type: ignore[arg-type]  # an unknown condition on purpose
    assert_names(error.value, "condition", "READY")


def test_container_cannot_depend_on_itself() -> None:
    with pytest.raises(ValidationError) as error:
        container("web", depends_on=[ContainerDependency("web")])
    assert_names(error.value, "dependsOn", "web")


@pytest.mark.parametrize("length", [2, 3, 5])
def test_dependency_cycles_are_rejected(length: int) -> None:
    names = [f"c{i}" for i in range(length)]
    ring = [container(name, depends_on=[ContainerDependency(names[(i + 1) % length])]) for i, name in enumerate(names)]
    with pytest.raises(ValidationError) as error:
        taskdef(container("entry", depends_on=[ContainerDependency("c0")]), *ring)
    assert error.value.field == "dependsOn"
    cycle = error.value.value
    assert isinstance(cycle, list)
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == names
    assert "cycle" in str(error.value)


def test_dependency_dag_is_accepted() -> None:
    definition = taskdef(
        container("web", depends_on=[ContainerDependency("app"), ContainerDependency("log")]),
        container("app", depends_on=[ContainerDependency("log"), ContainerDependency("db")]),
        container("log"),
        container("db", depends_on=[ContainerDependency("log")]),
    )
    assert len(definition.container_definitions) == 4


# --- task-level cpu and memory ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [(256, 256), ("256", 256), ("0.25 vCPU", 256), ("1 vCPU", 1024), ("2vcpu", 2048), (" 512 ", 512), (None, None)],
)
def test_task_cpu_parses(text: int | str | None, units: int | None) -> None:
    assert parse_task_cpu(text) == units
    if units is not None:
        assert taskdef(container(cpu=0), cpu=text).cpu == units


@pytest.mark.parametrize(
    ("text", "mib"),
    [(512, 512), ("512", 512), ("512 MiB", 512), ("512 MB", 512), ("1 GB", 1024), ("2 GiB", 2048), ("0.5 GB", 512)],
)
def test_task_memory_parses(text: int | str, mib: int) -> None:
    assert parse_task_memory(text) == mib
    assert taskdef(container(memory=6), memory=text).memory == mib


@pytest.mark.parametrize("text", ["fast", "", "-256", "0.1 vCPU", "256 MHz", "1 GB", 1.5, True, -1, [256]])
def test_task_cpu_rejects(text: object) -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(cpu=text)
    assert_names(error.value, "cpu", text)


@pytest.mark.parametrize("text", ["lots", "1 TB", "1.5 MiB", "-512", "512 vCPU", 512.0, False])
def test_task_memory_rejects(text: object) -> None:
    with pytest.raises(ValidationError) as error:
        taskdef(memory=text)
    assert_names(error.value, "memory", text)


def test_task_cpu_below_containers_sum_is_rejected() -> None:
    containers = (container("a", cpu=256), container("b", cpu=512))
    assert taskdef(*containers, cpu="768").charge.cpu == 768
    with pytest.raises(ValidationError) as error:
        taskdef(*containers, cpu="0.5 vCPU")
    assert_names(error.value, "cpu", 512)
    assert "768" in str(error.value)


def test_task_memory_below_containers_sum_is_rejected() -> None:
    containers = (container("a", memory=512), container("b", memory=1024, memory_reservation=256))
    assert taskdef(*containers, memory="768").charge.memory == 768
    with pytest.raises(ValidationError) as error:
        taskdef(*containers, memory="512 MiB")
    assert_names(error.value, "memory", 512)
    assert "768" in str(error.value)


# --- the charge ---------------------------------------------------------------------------


def test_charge_uses_reservation_else_memory() -> None:
    definition = taskdef(
        container("a", cpu=128, memory=512, memory_reservation=256),
        container("b", cpu=64, memory=300),
        container("c", memory=None, memory_reservation=100),
    )
    assert definition.charge == Resources(cpu=192, memory=656)


def test_task_level_amounts_override_container_sums() -> None:
    definition = taskdef(container("a", cpu=128, memory=256), container("b", memory=64), cpu="1 vCPU", memory="2 GB")
    assert definition.charge.cpu == 1024
    assert definition.charge.memory == 2048


def test_charge_holds_static_ports_only() -> None:
    definition = taskdef(
        container("web", port_mappings=[PortMapping(80, 8080), PortMapping(443, 8443), PortMapping(9000)]),
        container("statsd", port_mappings=[PortMapping(8125, 8125, "udp"), PortMapping(8126, 0, "udp")]),
    )
    assert definition.charge.ports == frozenset({8080, 8443})
    assert definition.charge.ports_udp == frozenset({8125})
    assert definition.dynamic_ports == (1, 1)


def test_host_mode_charges_container_ports() -> None:
    definition = taskdef(
        container("web", port_mappings=[PortMapping(80), PortMapping(443, 443)]),
        container("dns", port_mappings=[PortMapping(53, protocol="udp")]),
        network_mode="host",
    )
    assert definition.charge.ports == frozenset({80, 443})
    assert definition.charge.ports_udp == frozenset({53})
    assert definition.dynamic_ports == (0, 0)


def test_awsvpc_charges_no_ports() -> None:
    definition = taskdef(
        container("web", port_mappings=[PortMapping(80), PortMapping(443, 443)]),
        container("dns", port_mappings=[PortMapping(53, protocol="udp")]),
        network_mode="awsvpc",
    )
    assert definition.charge.ports == frozenset()
    assert definition.charge.ports_udp == frozenset()
    assert definition.dynamic_ports == (0, 0)
    assert definition.charge.memory == 256


def test_resource_requirements_become_scalars() -> None:
    definition = taskdef(
        container("trainer", resource_requirements=[ResourceRequirement("GPU", "2")]),
        container("evaluator", resource_requirements=[ResourceRequirement("GPU", "1")]),
        container("log"),
    )
    assert definition.charge.scalar("GPU") == 3
    assert definition.charge.scalar_map == {"GPU": 3}
    assert definition.charge.shortfall(Resources(cpu=4096, memory=8192, scalars={"GPU": 2})) == "GPU"


@pytest.mark.parametrize("value", ["0", "-1", "two", "", "nan"])
def test_resource_requirement_value_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(ValidationError) as error:
        ResourceRequirement("GPU", value)
    assert_names(error.value, "value", value)


def test_resource_requirement_named_twice() -> None:
    with pytest.raises(ValidationError) as error:
        container(resource_requirements=[ResourceRequirement("GPU", "1"), ResourceRequirement("GPU", "1")])
    assert_names(error.value, "resourceRequirements", ["GPU", "GPU"])


@st.composite
def bridge_containers(draw: st.DrawFn) -> list[ContainerDefinition]:
    count = draw(st.integers(1, 5))
    result = []
    for index in range(count):
        memory = draw(st.one_of(st.none(), st.integers(7, 4096)))
        reservation = draw(st.one_of(st.none(), st.integers(6, (memory - 1) if memory else 4096)))
        if memory is None and reservation is None:
            memory = 128
        result.append(
            container(
                f"c{index}",
                cpu=draw(st.integers(0, 1024)),
                memory=memory,
                memory_reservation=reservation,
                essential=index == 0 or draw(st.booleans()),
            )
        )
    return result


@given(bridge_containers(), st.integers(0, 1024), st.integers(0, 1024), st.booleans())
def test_charge_property(
    containers: list[ContainerDefinition], extra_cpu: int, extra_memory: int, task_level: bool
) -> None:
    cpu = sum(c.cpu for c in containers)
    memory = sum(c.memory_reservation if c.memory_reservation is not None else c.memory or 0 for c in containers)
    if task_level:
        definition = taskdef(*containers, cpu=str(cpu + extra_cpu), memory=f"{memory + extra_memory} MiB")
        assert definition.charge == Resources(cpu=cpu + extra_cpu, memory=memory + extra_memory)
        if cpu:
            with pytest.raises(ValidationError) as cpu_error:
                taskdef(*containers, cpu=cpu - 1)
            assert cpu_error.value.field == "cpu"
        with pytest.raises(ValidationError) as memory_error:
            taskdef(*containers, memory=memory - 1)
        assert memory_error.value.field == "memory"
    else:
        definition = taskdef(*containers)
        assert definition.charge == Resources(cpu=cpu, memory=memory)
    assert definition.dynamic_ports == (0, 0)


# --- other container fields ---------------------------------------------------------------


def test_command_and_entry_point_are_lists_of_strings() -> None:
    valid = container(command=["gunicorn", "app:wsgi"], entry_point=["/docker-entrypoint.sh"])
    assert valid.command == ("gunicorn", "app:wsgi")
    with pytest.raises(ValidationError) as error:
        container(command=["sleep", 5])
    assert_names(error.value, "command", ("sleep", 5))
    with pytest.raises(ValidationError) as entry:
        container(entry_point=[None])
    assert_names(entry.value, "entryPoint", (None,))


def test_command_given_as_a_plain_string_is_rejected() -> None:
    # ECS's command is a list of strings; a bare string must not be split into characters.
    with pytest.raises(ValidationError) as error:
        container(command="echo hello")
    assert error.value.field == "command"


def test_environment_variables() -> None:
    assert KeyValuePair("EMPTY").value == ""
    with pytest.raises(ValidationError) as error:
        KeyValuePair("")
    assert_names(error.value, "name", "")
    with pytest.raises(ValidationError) as value_error:
        KeyValuePair("PORT", 8080)  # type: ignore[arg-type]
    assert_names(value_error.value, "value", 8080)


def test_placement_constraints() -> None:
    member = PlacementConstraint("memberOf", "attribute:ecs.instance-type =~ t3.*")
    assert taskdef(placement_constraints=[member]).placement_constraints == (member,)
    with pytest.raises(ValidationError) as distinct:
        taskdef(placement_constraints=[member, PlacementConstraint("distinctInstance")])
    assert_names(distinct.value, "placementConstraints[1].type", "distinctInstance")
    with pytest.raises(ValidationError) as too_many:
        taskdef(placement_constraints=[member] * 11)
    assert_names(too_many.value, "placementConstraints", 11)
    with pytest.raises(ValidationError) as no_expression:
        PlacementConstraint("memberOf")
    assert_names(no_expression.value, "expression", None)
    long_expression = "attribute:x == " + "y" * 2000
    with pytest.raises(ValidationError) as too_long:
        PlacementConstraint("memberOf", long_expression)
    assert too_long.value.field == "expression"
    with pytest.raises(ValidationError) as spread:
        PlacementConstraint("spread")  # type: ignore[arg-type]
    assert_names(spread.value, "type", "spread")


def test_revision_and_status() -> None:
    assert taskdef(revision=3).key == "web:3"
    with pytest.raises(ValidationError) as revision:
        taskdef(revision=-1)
    assert_names(revision.value, "revision", -1)
    with pytest.raises(ValidationError) as status:
        taskdef(status="DELETE_IN_PROGRESS")
    assert_names(status.value, "status", "DELETE_IN_PROGRESS")


def test_definitions_are_frozen_and_compare_by_value() -> None:
    first = taskdef(container(port_mappings=[PortMapping(80)]))
    second = taskdef(container(port_mappings=[PortMapping(80)]))
    assert first == second
    assert hash(first) == hash(second)
    assert first != taskdef(container(port_mappings=[PortMapping(81)]))
    with pytest.raises(AttributeError):
        first.family = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ({"stopTimeout": 121}, "containerDefinitions[0].stopTimeout"),
        ({"startTimeout": 1}, "containerDefinitions[0].startTimeout"),
        ({"dockerLabels": {"team": 7}}, "containerDefinitions[0].dockerLabels[team]"),
    ],
)
def test_timeouts_and_docker_labels_are_checked(container: dict[str, Any], field: str) -> None:
    from clusterkit import ValidationError, load_task_definition

    definition = {"family": "x", "containerDefinitions": [{"name": "a", "image": "i", "memory": 64, **container}]}
    with pytest.raises(ValidationError) as caught:
        load_task_definition(definition)
    assert caught.value.field == field
