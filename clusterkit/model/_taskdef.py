"""Task definitions: the blueprint of a task, its containers, ports and health checks.

Field names follow ECS in snake_case; validation errors name the ECS (camelCase) path, such
as ``containerDefinitions[1].portMappings[0].hostPort``, since that is what users write.
ECS fields clusterkit does not model (``logConfiguration``, ``executionRoleArn`` …) are kept
in ``extra`` so that a task definition loaded from JSON dumps back with nothing lost; they
are checked against ECS's API shapes (names, types, enums), and the names a definition uses
to point inside itself (volumes, containers) must resolve, as ECS checks at registration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._resources import MAX_PORT, Resources
from clusterkit.model._validate import check_choice, check_int, check_name, check_text
from clusterkit.model.ecs_schema import clean_members

__all__ = [
    "MAX_CONSTRAINTS",
    "MAX_EXPRESSION_LENGTH",
    "NETWORK_MODES",
    "ContainerDefinition",
    "ContainerDependency",
    "HealthCheck",
    "KeyValuePair",
    "PlacementConstraint",
    "PortMapping",
    "ResourceRequirement",
    "Tag",
    "TaskDefinition",
    "ECS_SHAPES",
    "parse_task_cpu",
    "parse_task_memory",
]

NetworkMode = Literal["bridge", "host", "awsvpc", "none"]
NETWORK_MODES: Final = ("bridge", "host", "awsvpc", "none")
PROTOCOLS: Final = ("tcp", "udp")
DEPENDENCY_CONDITIONS: Final = ("START", "COMPLETE", "SUCCESS", "HEALTHY")
MAX_CONTAINERS: Final = 10
MAX_CONSTRAINTS: Final = 10
MAX_EXPRESSION_LENGTH: Final = 2000
MIN_CONTAINER_MEMORY: Final = 6
MAX_TAGS: Final = 50


def _strings(field: str, value: Any) -> tuple[str, ...]:
    """A tuple of strings; a bare string is refused (``tuple`` would split it into letters)."""
    if isinstance(value, (str, bytes)):
        raise ValidationError(field, value, "must be a list of strings, not one string")
    return tuple(value)


def _health_command(value: Any) -> tuple[str, ...]:
    return _strings("command", value)


def _command(value: Any) -> tuple[str, ...] | None:
    return None if value is None else _strings("command", value)


def _entry_point(value: Any) -> tuple[str, ...] | None:
    return None if value is None else _strings("entryPoint", value)


def _frozen_extra(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


_MODELLED: dict[str, frozenset[str]] = {}
"""ECS shape name → the ECS names of the fields its model class has (filled below the classes)."""


def _extra_converter(shape: str) -> Callable[[Mapping[str, Any] | None], Mapping[str, Any]]:
    """The converter of an ``extra`` field: ECS fields of ``shape`` clusterkit does not model.

    Each must be a field of the ECS shape, with a value of ECS's type (checked here, since
    nothing else looks at it); nulls are dropped, as everywhere in ECS JSON.
    """

    def convert(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, Mapping):
            raise ValidationError("extra", value, "must be a mapping of ECS field names to JSON values")
        for key, item in value.items():
            if key in _MODELLED[shape] and item is not None:
                raise ValidationError(key, item, "is a modelled field: pass it as an argument, not in extra")
        return MappingProxyType(clean_members(value, shape, strict=True, required=False))

    return convert


def _extra_field(shape: str) -> Any:
    return attrs.field(
        factory=lambda: MappingProxyType({}), converter=_extra_converter(shape), hash=False, kw_only=True
    )


_UNIT = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*")


def parse_task_cpu(value: int | str | None) -> int | None:
    """Task-level CPU as ECS accepts it: ``256``, ``"256"`` or ``"0.25 vCPU"`` → CPU units."""
    return _parse_units("cpu", value, {"": 1, "vcpu": 1024})


def parse_task_memory(value: int | str | None) -> int | None:
    """Task-level memory as ECS accepts it: ``512``, ``"512"``, ``"512 MiB"`` or ``"1 GB"`` → MiB."""
    return _parse_units("memory", value, {"": 1, "mib": 1, "mb": 1, "gib": 1024, "gb": 1024})


def _parse_units(field: str, value: int | str | None, units: Mapping[str, int]) -> int | None:
    if value is None or (type(value) is int and value >= 0):
        return value
    if isinstance(value, str):
        match = _UNIT.fullmatch(value)
        if match and match.group(2).lower() in units:
            amount = float(match.group(1)) * units[match.group(2).lower()]
            if amount == int(amount):
                return int(amount)
    raise ValidationError(
        field, value, f"must be a whole number of units, optionally with one of {sorted(u for u in units if u)}"
    )


@attrs.frozen(slots=True)
class PortMapping:
    """A container port and, optionally, the host port it is published on.

    ``host_port`` ``None`` or ``0`` in bridge mode asks for a dynamic port at placement.
    """

    container_port: int
    host_port: int | None = None
    protocol: Literal["tcp", "udp"] = "tcp"
    extra: Mapping[str, Any] = _extra_field("PortMapping")

    def __attrs_post_init__(self) -> None:
        check_int("containerPort", self.container_port, 1, MAX_PORT)
        if self.host_port is not None:
            check_int("hostPort", self.host_port, 0, MAX_PORT)
        check_choice("protocol", self.protocol, PROTOCOLS)


@attrs.frozen(slots=True)
class HealthCheck:
    """A container health check; durations are in seconds, with ECS's bounds."""

    command: tuple[str, ...] = attrs.field(converter=_health_command)
    interval: int = 30
    timeout: int = 5
    retries: int = 3
    start_period: int | None = None

    def __attrs_post_init__(self) -> None:
        if not self.command or not all(isinstance(part, str) for part in self.command):
            raise ValidationError("command", self.command, "must be a non-empty list of strings")
        if self.command[0] not in ("CMD", "CMD-SHELL") or len(self.command) < 2:
            raise ValidationError(
                "command", self.command, 'must start with "CMD" or "CMD-SHELL" followed by the command'
            )
        check_int("interval", self.interval, 5, 300)
        check_int("timeout", self.timeout, 2, 60)
        check_int("retries", self.retries, 1, 10)
        if self.start_period is not None:
            check_int("startPeriod", self.start_period, 0, 300)


@attrs.frozen(slots=True)
class KeyValuePair:
    """An environment variable."""

    name: str
    value: str = ""

    def __attrs_post_init__(self) -> None:
        check_text("name", self.name, max_length=4096)
        check_text("value", self.value, max_length=32768, empty=True)


@attrs.frozen(slots=True)
class ContainerDependency:
    """Start ordering: wait for ``container_name`` to reach ``condition`` first."""

    container_name: str
    condition: Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"] = "START"

    def __attrs_post_init__(self) -> None:
        check_name("containerName", self.container_name)
        check_choice("condition", self.condition, DEPENDENCY_CONDITIONS)


@attrs.frozen(slots=True)
class ResourceRequirement:
    """A custom resource a container needs, such as ``GPU``; ECS writes the amount as a string.

    ECS knows ``GPU``, ``InferenceAccelerator`` and ``NeuronDevice``; clusterkit also takes
    any other name of a custom scalar resource its instances register (``FPGA``, say).
    """

    type: str
    value: str
    extra: Mapping[str, Any] = _extra_field("ResourceRequirement")

    def __attrs_post_init__(self) -> None:
        check_name("type", self.type)
        try:
            amount = float(self.value)
        except (TypeError, ValueError):
            amount = -1.0
        if not math.isfinite(amount) or amount <= 0:
            raise ValidationError("value", self.value, "must be a positive number written as a string")

    @property
    def amount(self) -> float:
        """The amount as a number (an int when whole)."""
        amount = float(self.value)
        return int(amount) if amount.is_integer() else amount


@attrs.frozen(slots=True)
class PlacementConstraint:
    """An ECS placement constraint: ``memberOf`` with a cluster-query expression, or ``distinctInstance``."""

    type: Literal["memberOf", "distinctInstance"]
    expression: str | None = None

    def __attrs_post_init__(self) -> None:
        check_choice("type", self.type, ("memberOf", "distinctInstance"))
        if self.type == "memberOf":
            check_text("expression", self.expression, max_length=MAX_EXPRESSION_LENGTH)
        elif self.expression is not None:
            raise ValidationError("expression", self.expression, "distinctInstance takes no expression")


@attrs.frozen(slots=True)
class Tag:
    """A task definition's tag: ``key`` (1-128 characters) and ``value`` (up to 256)."""

    key: str
    value: str = ""

    def __attrs_post_init__(self) -> None:
        check_text("key", self.key, max_length=128)
        check_text("value", self.value, max_length=256, empty=True)


@attrs.frozen(slots=True)
class ContainerDefinition:
    """One container of a task definition.

    A container needs ``memory`` (hard limit) or ``memory_reservation`` (soft) unless the
    task sets task-level memory; placement charges the reservation when set.
    """

    name: str
    image: str
    cpu: int = 0
    memory: int | None = None
    memory_reservation: int | None = None
    port_mappings: tuple[PortMapping, ...] = attrs.field(default=(), converter=tuple)
    essential: bool = True
    health_check: HealthCheck | None = None
    environment: tuple[KeyValuePair, ...] = attrs.field(default=(), converter=tuple)
    command: tuple[str, ...] | None = attrs.field(default=None, converter=_command)
    entry_point: tuple[str, ...] | None = attrs.field(default=None, converter=_entry_point)
    depends_on: tuple[ContainerDependency, ...] = attrs.field(default=(), converter=tuple)
    resource_requirements: tuple[ResourceRequirement, ...] = attrs.field(default=(), converter=tuple)
    start_timeout: int | None = None
    stop_timeout: int | None = None
    docker_labels: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_extra, hash=False)
    extra: Mapping[str, Any] = _extra_field("ContainerDefinition")

    def __attrs_post_init__(self) -> None:
        check_name("name", self.name)
        for field in ("start_timeout", "stop_timeout"):
            seconds = getattr(self, field)
            if seconds is not None:
                check_int(_camel(field), seconds, 2 if field == "start_timeout" else 0, 120)
        for label, text in self.docker_labels.items():
            if not isinstance(label, str) or not label or not isinstance(text, str):
                raise ValidationError(f"dockerLabels[{label}]", text, "labels must map non-empty strings to strings")
        check_text("image", self.image, max_length=1024)
        check_int("cpu", self.cpu, 0, 10 * 1024 * 1024)
        for field in ("memory", "memory_reservation"):
            amount = getattr(self, field)
            if amount is not None:
                check_int(_camel(field), amount, MIN_CONTAINER_MEMORY)
        if self.memory is not None and self.memory_reservation is not None and self.memory_reservation >= self.memory:
            raise ValidationError(
                "memoryReservation", self.memory_reservation, f"must be less than memory ({self.memory})"
            )
        if not isinstance(self.essential, bool):
            raise ValidationError("essential", self.essential, "must be true or false")
        for field in ("command", "entry_point"):
            parts = getattr(self, field)
            if parts is not None and not all(isinstance(part, str) for part in parts):
                raise ValidationError(_camel(field), parts, "must be a list of strings")
        seen: set[tuple[int, str]] = set()
        for index, mapping in enumerate(self.port_mappings):
            key = (mapping.container_port, mapping.protocol)
            if key in seen:
                raise ValidationError(f"portMappings[{index}].containerPort", mapping.container_port, "is mapped twice")
            seen.add(key)
        names = [dependency.container_name for dependency in self.depends_on]
        if self.name in names:
            raise ValidationError("dependsOn", self.name, "a container cannot depend on itself")
        kinds = [requirement.type for requirement in self.resource_requirements]
        if len(set(kinds)) != len(kinds):
            raise ValidationError("resourceRequirements", kinds, "names a resource twice")

    @property
    def memory_charge(self) -> int:
        """MiB placement charges for this container: the reservation if set, else the hard limit."""
        if self.memory_reservation is not None:
            return self.memory_reservation
        return self.memory or 0


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@attrs.frozen(slots=True)
class TaskDefinition:
    """A versioned blueprint for tasks: ``family:revision``.

    ``revision`` is 0 until the definition is registered; the state assigns 1, 2, … per
    family. ``charge`` (computed once) is what every task of this definition holds on its
    instance, without the dynamic host ports chosen at placement.

    ``tags`` are the definition's tags; ECS takes them beside the definition (a separate
    parameter of RegisterTaskDefinition, and beside ``taskDefinition`` in describe output).
    """

    family: str
    container_definitions: tuple[ContainerDefinition, ...] = attrs.field(converter=tuple)
    revision: int = 0
    network_mode: NetworkMode = "bridge"
    cpu: int | None = attrs.field(default=None, converter=parse_task_cpu)
    memory: int | None = attrs.field(default=None, converter=parse_task_memory)
    placement_constraints: tuple[PlacementConstraint, ...] = attrs.field(default=(), converter=tuple)
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    tags: tuple[Tag, ...] = attrs.field(default=(), converter=tuple, kw_only=True)
    extra: Mapping[str, Any] = _extra_field("RegisterTaskDefinitionRequest")
    charge: Resources = attrs.field(init=False, eq=False, repr=False, hash=False)
    dynamic_ports: tuple[int, int] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        check_name("family", self.family)
        check_int("revision", self.revision, 0)
        check_choice("networkMode", self.network_mode, NETWORK_MODES)
        check_choice("status", self.status, ("ACTIVE", "INACTIVE"))
        containers = self.container_definitions
        if not 1 <= len(containers) <= MAX_CONTAINERS:
            raise ValidationError(
                "containerDefinitions", len(containers), f"a task definition has 1..{MAX_CONTAINERS} containers"
            )
        if not any(container.essential for container in containers):
            raise ValidationError(
                "containerDefinitions", [c.name for c in containers], "at least one container must be essential"
            )
        names = [container.name for container in containers]
        for index, container in enumerate(containers):
            prefix = f"containerDefinitions[{index}]"
            if names.count(container.name) > 1:
                raise ValidationError(f"{prefix}.name", container.name, "container names must be unique")
            if self.memory is None and container.memory is None and container.memory_reservation is None:
                raise ValidationError(
                    f"{prefix}.memory",
                    None,
                    "a container needs memory or memoryReservation when the task sets no memory",
                )
            self._check_dependencies(prefix, container, names, containers)
        if len(self.placement_constraints) > MAX_CONSTRAINTS:
            raise ValidationError("placementConstraints", len(self.placement_constraints), f"at most {MAX_CONSTRAINTS}")
        for index, constraint in enumerate(self.placement_constraints):
            if constraint.type != "memberOf":
                raise ValidationError(
                    f"placementConstraints[{index}].type", constraint.type, "task definitions allow only memberOf"
                )
        _check_cycles(containers)
        self._check_references(names)
        self._check_tags()
        container_cpu = sum(container.cpu for container in containers)
        container_memory = sum(container.memory_charge for container in containers)
        if self.cpu is not None and container_cpu > self.cpu:
            raise ValidationError("cpu", self.cpu, f"is less than the containers' total cpu ({container_cpu})")
        if self.memory is not None and container_memory > self.memory:
            raise ValidationError(
                "memory", self.memory, f"is less than the containers' total memory ({container_memory})"
            )
        static_tcp, static_udp, dynamic_tcp, dynamic_udp = self._check_ports()
        scalars: dict[str, float] = {}
        for container in containers:
            for requirement in container.resource_requirements:
                scalars[requirement.type] = scalars.get(requirement.type, 0) + requirement.amount
        charge = Resources(
            cpu=self.cpu if self.cpu is not None else container_cpu,
            memory=self.memory if self.memory is not None else container_memory,
            ports=static_tcp,
            ports_udp=static_udp,
            scalars=scalars,
        )
        object.__setattr__(self, "charge", charge)
        object.__setattr__(self, "dynamic_ports", (dynamic_tcp, dynamic_udp))

    @staticmethod
    def _check_dependencies(
        prefix: str, container: ContainerDefinition, names: list[str], containers: tuple[ContainerDefinition, ...]
    ) -> None:
        for dep_index, dependency in enumerate(container.depends_on):
            field = f"{prefix}.dependsOn[{dep_index}].containerName"
            if dependency.container_name not in names:
                raise ValidationError(field, dependency.container_name, "names no container of this task definition")
            target = containers[names.index(dependency.container_name)]
            if dependency.condition == "HEALTHY" and target.health_check is None:
                raise ValidationError(field, dependency.container_name, "HEALTHY needs a container with a healthCheck")
            if dependency.condition in ("COMPLETE", "SUCCESS") and target.essential:
                raise ValidationError(
                    field, dependency.container_name, f"{dependency.condition} cannot wait for an essential container"
                )

    def _check_references(self, names: list[str]) -> None:
        """Volumes and containers named elsewhere in the definition exist, as ECS checks at registration."""
        volumes = [volume.get("name") for volume in self.extra.get("volumes", ())]
        for index, volume in enumerate(volumes):
            if volume is not None and volumes.index(volume) != index:
                raise ValidationError(f"volumes[{index}].name", volume, "names a volume twice")
        for index, container in enumerate(self.container_definitions):
            prefix = f"containerDefinitions[{index}]"
            extra = container.extra
            for point, mount in enumerate(extra.get("mountPoints", ())):
                source = mount.get("sourceVolume")
                if source is not None and source not in volumes:
                    field = f"{prefix}.mountPoints[{point}].sourceVolume"
                    raise ValidationError(
                        field, source, f"names no volume of this task definition ({_listed(volumes)})"
                    )
            for position, source in enumerate(extra.get("volumesFrom", ())):
                container_name = source.get("sourceContainer")
                if container_name is not None and container_name not in names:
                    field = f"{prefix}.volumesFrom[{position}].sourceContainer"
                    raise ValidationError(field, container_name, "names no container of this task definition")
            for position, link in enumerate(extra.get("links", ())):
                field = f"{prefix}.links[{position}]"
                if link.split(":", 1)[0] not in names:
                    raise ValidationError(
                        field, link, "names no container of this task definition (name or name:alias)"
                    )
                if self.network_mode == "awsvpc":
                    raise ValidationError(field, link, "links are not supported in awsvpc network mode")
        proxy = self.extra.get("proxyConfiguration")
        if proxy is not None and proxy["containerName"] not in names:
            raise ValidationError(
                "proxyConfiguration.containerName", proxy["containerName"], "names no container of this task definition"
            )

    def _check_tags(self) -> None:
        if len(self.tags) > MAX_TAGS:
            raise ValidationError("tags", len(self.tags), f"a task definition has at most {MAX_TAGS} tags")
        keys: set[str] = set()
        for index, tag in enumerate(self.tags):
            if not isinstance(tag, Tag):
                raise ValidationError(f"tags[{index}]", tag, "must be a Tag")
            if tag.key in keys:
                raise ValidationError(f"tags[{index}].key", tag.key, "is used twice")
            keys.add(tag.key)

    def _check_ports(self) -> tuple[frozenset[int], frozenset[int], int, int]:
        static: dict[str, set[int]] = {"tcp": set(), "udp": set()}
        dynamic = {"tcp": 0, "udp": 0}
        for index, container in enumerate(self.container_definitions):
            for port_index, mapping in enumerate(container.port_mappings):
                field = f"containerDefinitions[{index}].portMappings[{port_index}].hostPort"
                host_port = mapping.host_port
                if self.network_mode == "none":
                    raise ValidationError(
                        field.rsplit(".", 1)[0], mapping.container_port, "networkMode none allows no port mappings"
                    )
                if self.network_mode in ("host", "awsvpc"):
                    if host_port not in (None, mapping.container_port):
                        raise ValidationError(
                            field,
                            host_port,
                            f"must be empty or equal containerPort ({mapping.container_port}) in {self.network_mode}",
                        )
                    host_port = mapping.container_port
                    if self.network_mode == "awsvpc":
                        continue  # each awsvpc task has its own network interface: no host port is taken
                if not host_port:
                    dynamic[mapping.protocol] += 1
                    continue
                if host_port in static[mapping.protocol]:
                    raise ValidationError(field, host_port, f"host port is used twice ({mapping.protocol})")
                static[mapping.protocol].add(host_port)
        return frozenset(static["tcp"]), frozenset(static["udp"]), dynamic["tcp"], dynamic["udp"]

    @property
    def key(self) -> str:
        """``family:revision``, the id of this definition in a ClusterState."""
        return f"{self.family}:{self.revision}"

    def container(self, name: str) -> ContainerDefinition:
        """The container definition called ``name``."""
        for container in self.container_definitions:
            if container.name == name:
                return container
        raise ValidationError("containerName", name, f"is not a container of {self.key}")


def _listed(names: list[Any]) -> str:
    named = [name for name in names if name is not None]
    return "volumes: " + ", ".join(map(repr, named)) if named else "it has no volumes"


def _check_cycles(containers: tuple[ContainerDefinition, ...]) -> None:
    graph = {c.name: [d.container_name for d in c.depends_on] for c in containers}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValidationError("dependsOn", [*list(path[path.index(name) :]), name], "dependencies form a cycle")
        if name in done:
            return
        for target in graph.get(name, ()):
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


ECS_SHAPES: Final[Mapping[type, str]] = MappingProxyType(
    {
        PortMapping: "PortMapping",
        HealthCheck: "HealthCheck",
        KeyValuePair: "KeyValuePair",
        ContainerDependency: "ContainerDependency",
        ResourceRequirement: "ResourceRequirement",
        PlacementConstraint: "TaskDefinitionPlacementConstraint",
        Tag: "Tag",
        ContainerDefinition: "ContainerDefinition",
        TaskDefinition: "RegisterTaskDefinitionRequest",
    }
)
"""Each model class → the ECS API shape of its JSON (a TaskDefinition's is what registration takes)."""
_MODELLED.update(
    {
        shape: frozenset(_camel(field.name) for field in attrs.fields(cls) if field.init)
        for cls, shape in ECS_SHAPES.items()
    }
)
