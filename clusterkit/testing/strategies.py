"""Hypothesis strategies for clusterkit's values: resources, instances, task definitions,
clusters and their snapshots, and placement requests.

Everything drawn is valid: it registers, loads, or places without an error. For invalid
inputs see ``clusterkit.testing`` and ``clusterkit.testing.expressions``. Sizes are
small on purpose (a dozen instances, a handful of port mappings), so that ports clash,
instances fill up and constraints bite within a few placements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final

from hypothesis import note
from hypothesis import strategies as st

from clusterkit.api import ClusterState
from clusterkit.ecs_json import load_task_definition
from clusterkit.model import (
    DEFAULT_RESERVED_PORTS,
    ContainerInstance,
    InstanceStatus,
    PlacementConstraint,
    PlacementStrategy,
    Resources,
    TaskDefinition,
    binpack,
    random,
    spread,
)
from clusterkit.placement import PlacementRequest
from clusterkit.state import Snapshot, UpdateInstance

__all__ = [
    "FAMILIES",
    "ZONE",
    "ZONES",
    "cluster_text",
    "clusters",
    "container_instances",
    "placement_constraints",
    "placement_requests",
    "placement_strategies",
    "port_mappings",
    "resources",
    "snapshots",
    "strategy_chains",
    "task_definition_json",
    "task_definitions",
]

ZONES: Final = ("zone-a", "zone-b", "zone-c")
"""The availability zones instances are drawn in."""
ZONE: Final = "attribute:ecs.availability-zone"
"""The spread field and query subject of an instance's zone."""
FAMILIES: Final = ("web", "db", "batch")
"""The task definition families drawn (several revisions may share one)."""
TIERS: Final = ("gold", "silver")
CLOCK: Final = 1_700_000_000.0

_CPUS = (256, 512, 1024, 2048, 4096)
_MEMORIES = (256, 512, 1024, 2048, 4096)


def resources(*, ports: bool = True, scalars: bool = True) -> st.SearchStrategy[Resources]:
    """Resources: cpu, memory, up to three TCP and UDP ports each, and maybe some GPU."""
    return st.builds(
        Resources,
        cpu=st.sampled_from((0, *_CPUS)),
        memory=st.sampled_from((0, *_MEMORIES)),
        ports=st.frozensets(st.integers(1, 65535), max_size=3) if ports else st.just(frozenset()),
        ports_udp=st.frozensets(st.integers(1, 65535), max_size=3) if ports else st.just(frozenset()),
        scalars=st.dictionaries(st.just("GPU"), st.integers(1, 4), max_size=1) if scalars else st.just({}),
    )


@st.composite
def container_instances(
    draw: st.DrawFn, instance_id: str | None = None, *, statuses: tuple[InstanceStatus, ...] = ("ACTIVE",)
) -> ContainerInstance:
    """A container instance as it registers: cpu, memory, maybe GPU, a zone, maybe a tier
    and a host, with ``remaining`` = ``registered`` and a status drawn from ``statuses``.
    """
    gpu = draw(st.sampled_from((0, 0, 1, 2)))
    registered = Resources(
        cpu=draw(st.sampled_from(_CPUS)),
        memory=draw(st.sampled_from(_MEMORIES)),
        ports=DEFAULT_RESERVED_PORTS,
        scalars={"GPU": gpu} if gpu else {},
    )
    attributes: dict[str, str | None] = {"ecs.os-type": "linux"}
    zone = draw(st.sampled_from((*ZONES, None)))
    if zone is not None:
        attributes["ecs.availability-zone"] = zone
    tier = draw(st.sampled_from((*TIERS, None)))
    if tier is not None:
        attributes["tier"] = tier
    return ContainerInstance(
        id=instance_id if instance_id is not None else draw(st.from_regex(r"i-[0-9a-f]{4}", fullmatch=True)),
        registered=registered,
        remaining=registered,
        attributes=attributes,
        status=draw(st.sampled_from(statuses)),
        ec2_instance_id=draw(st.sampled_from((None, None, "h-1", "h-2"))),
        agent_version=draw(st.sampled_from(("1.0.0", "1.82.1"))),
    )


@st.composite
def port_mappings(
    draw: st.DrawFn,
    mode: str,
    *,
    container_ports: Sequence[int] = (53, 80, 8080, 5000, 5001),
    host_ports: Sequence[int | None] = (None, 0, 0, 0, 80, 8080, 53, 49153, 49154),
) -> list[dict[str, Any]]:
    """Up to three ECS JSON port mappings that a task definition of network ``mode`` accepts.

    Container ports come from ``container_ports``; in bridge mode host ports come from
    ``host_ports`` (None or 0: dynamic), otherwise they are empty or the container port.
    Static host ports may clash with other tasks' and with reserved ports, never within one
    definition.
    """
    mappings: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    static: set[tuple[int, str]] = set()
    for _ in range(draw(st.integers(0, 3))):
        protocol = draw(st.sampled_from(["tcp", "tcp", "udp"]))
        container_port = draw(st.sampled_from(container_ports))
        if mode == "bridge":
            host_port = draw(st.sampled_from(host_ports))
        else:
            host_port = draw(st.sampled_from([None, container_port]))
        written = container_port if mode == "host" else host_port
        if (container_port, protocol) in seen or (written and (written, protocol) in static):
            continue
        seen.add((container_port, protocol))
        if written:
            static.add((written, protocol))
        mapping: dict[str, Any] = {"containerPort": container_port, "protocol": protocol}
        if host_port is not None:
            mapping["hostPort"] = host_port
        mappings.append(mapping)
    return mappings


@st.composite
def task_definition_json(
    draw: st.DrawFn, family: str | None = None, *, ports: bool = True, constraints: bool = True
) -> dict[str, Any]:
    """A valid task definition in ECS JSON: one or two containers with cpu, memory (hard or
    soft limit), maybe GPU, host ports in bridge, host or awsvpc mode, and maybe a memberOf
    placement constraint.
    """
    mode = draw(st.sampled_from(["bridge", "bridge", "host", "awsvpc"]))
    containers = []
    for index in range(draw(st.integers(1, 2))):
        container: dict[str, Any] = {
            "name": f"c{index}",
            "image": f"image-{index}:1",
            "cpu": draw(st.sampled_from([0, 64, 128, 256, 512, 1024])),
            "essential": index == 0,
        }
        memory = draw(st.sampled_from([64, 128, 256, 500, 1024]))
        container["memoryReservation" if draw(st.booleans()) else "memory"] = memory
        if draw(st.sampled_from([False, False, False, True])):
            container["resourceRequirements"] = [{"type": "GPU", "value": "1"}]
        if ports and index == 0:
            container["portMappings"] = draw(port_mappings(mode))
        containers.append(container)
    data: dict[str, Any] = {
        "family": family if family is not None else draw(st.sampled_from(FAMILIES)),
        "networkMode": mode,
        "containerDefinitions": containers,
    }
    if constraints and draw(st.sampled_from([False, False, True])):
        data["placementConstraints"] = [{"type": "memberOf", "expression": draw(_member_of_expressions())}]
    return data


def task_definitions(family: str | None = None, *, ports: bool = True) -> st.SearchStrategy[TaskDefinition]:
    """Valid task definitions (revision 0, as before registering), loaded from ``task_definition_json``."""
    return task_definition_json(family, ports=ports).map(load_task_definition)


@functools.cache
def _member_of_expressions() -> st.SearchStrategy[str]:
    """MemberOf expressions about the attributes and groups the drawn clusters have."""
    return st.one_of(
        st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True).map(
            lambda zones: f"{ZONE} in [{', '.join(zones)}]"
        ),
        st.sampled_from(TIERS).map(lambda tier: f"attribute:tier == {tier}"),
        st.sampled_from(TIERS).map(lambda tier: f"attribute:tier != {tier}"),
        st.sampled_from(FAMILIES).map(lambda family: f"not(task:group == family:{family})"),
        st.sampled_from(FAMILIES).map(lambda family: f"task:group != family:{family}"),
        st.just(f"{ZONE} =~ zone-[ab]"),
        st.just("agentVersion >= 1.5 or runningTasksCount < 3"),
    )


@functools.cache
def placement_constraints() -> st.SearchStrategy[list[PlacementConstraint]]:
    """Up to two constraints a request may add: memberOf expressions, distinctInstance."""
    one = st.one_of(
        st.just(PlacementConstraint("distinctInstance")),
        _member_of_expressions().map(lambda text: PlacementConstraint("memberOf", text)),
    )
    return st.lists(one, max_size=2)


@functools.cache
def placement_strategies() -> st.SearchStrategy[PlacementStrategy]:
    """One strategy: binpack on cpu or memory, spread on instanceId, host or zone, or seeded random."""
    return st.one_of(
        st.sampled_from(["cpu", "memory"]).map(binpack),  # type: ignore[arg-type]
        st.sampled_from(["instanceId", "host", ZONE]).map(spread),
        st.integers(0, 2**16).map(random),
    )


@functools.cache
def strategy_chains() -> st.SearchStrategy[tuple[PlacementStrategy, ...] | None]:
    """A chain of up to three strategies, or None for the default chain."""
    return st.one_of(st.none(), st.lists(placement_strategies(), max_size=3).map(tuple))


@st.composite
def placement_requests(draw: st.DrawFn, snapshot: Snapshot, *, max_count: int = 6) -> PlacementRequest:
    """A request for an ACTIVE task definition of ``snapshot``: count, group, strategies, constraints."""
    definitions = sorted(
        (d for d in snapshot.task_definitions() if d.status == "ACTIVE"), key=lambda definition: definition.key
    )
    definition = draw(st.sampled_from(definitions))
    chain = draw(strategy_chains())
    return PlacementRequest(
        definition,
        draw(st.integers(1, max_count)),
        group=draw(st.sampled_from([None, None, "service:api"])),
        strategies=chain,
        constraints=draw(placement_constraints()),
    )


@st.composite
def clusters(draw: st.DrawFn, *, min_instances: int = 1, max_instances: int = 8, tasks: bool = True) -> ClusterState:
    """A ClusterState with instances registered (some DRAINING, disconnected or deregistered),
    one task definition per family, and, with ``tasks``, some tasks already started.
    """
    state = ClusterState("drawn", clock=lambda: CLOCK)
    for family in FAMILIES:
        state.register_task_definition(draw(task_definition_json(family)))
    count = draw(st.integers(min_instances, max_instances))
    for index in range(count):
        instance = draw(container_instances(f"i-{index:02d}"))
        registered = instance.registered
        state.register_container_instance(
            instance.id,
            cpu=registered.cpu,
            memory=registered.memory,
            scalars=registered.scalar_map or None,
            attributes=instance.attribute_map,
            ec2_instance_id=instance.ec2_instance_id,
            agent_version=instance.agent_version,
        )
        if tasks:
            for family in draw(st.lists(st.sampled_from(FAMILIES), max_size=3)):
                state.start_task(family, [instance.id])  # may fail to fit: a failure, not an error
    for index in range(count):
        instance_id = f"i-{index:02d}"
        fate = draw(st.sampled_from(["ACTIVE"] * 6 + ["DRAINING", "INACTIVE", "DISCONNECTED"]))
        if fate == "DRAINING":
            state.update_container_instances_state([instance_id], "DRAINING")
        elif fate == "INACTIVE":
            state.deregister_container_instance(instance_id, force=True)
        elif fate == "DISCONNECTED":
            state.commit([UpdateInstance(instance_id, agent_connected=False)])
    note(cluster_text(state.snapshot()))  # a failing example shows the cluster it drew
    return state


def cluster_text(snapshot: Snapshot) -> str:
    """A cluster as lines of text: each instance (status, agent, CPU and memory left of
    registered, attributes) with its tasks (family, status) — what a falsifying example prints.
    """
    lines = [f"cluster {snapshot.cluster_name} at version {snapshot.version}:"]
    for instance in sorted(snapshot.instances(), key=lambda found: found.id):
        left, registered = instance.remaining, instance.registered
        attributes = " ".join(f"{name}={value}" for name, value in instance.attributes if value is not None)
        lines.append(
            f"  {instance.id} {instance.status}{'' if instance.agent_connected else ' (agent disconnected)'} "
            f"cpu {left.cpu}/{registered.cpu} memory {left.memory}/{registered.memory} {attributes}".rstrip()
        )
        for task in sorted(snapshot.tasks_on(instance.id), key=lambda found: found.id):
            lines.append(f"    task {task.id} {task.task_definition} {task.last_status} group={task.group}")
    return "\n".join(lines)


def snapshots(*, min_instances: int = 1, max_instances: int = 8, tasks: bool = True) -> st.SearchStrategy[Snapshot]:
    """Snapshots of ``clusters``."""
    return clusters(min_instances=min_instances, max_instances=max_instances, tasks=tasks).map(
        lambda state: state.snapshot()
    )
