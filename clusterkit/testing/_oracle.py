"""A brute-force placement oracle: ECS's placement rules written out by hand over a snapshot.

The oracle knows nothing of any scheduler. It loops over ``snapshot.instances()`` and
``snapshot.tasks()``, keeps its own view of what each instance has left while a plan is
replayed placement by placement, and decides which instances can take the next task and
which one the built-in strategies rank best. ``check_plan`` replays plans against it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from clusterkit.model import ContainerInstance, PlacementConstraint, PlacementStrategy, TaskDefinition
from clusterkit.placement import PortRange
from clusterkit.query import parse_expression
from clusterkit.state import Snapshot

__all__ = ["View", "failing_reasons", "field_value", "oracle_key", "oracle_views"]


@attrs.define
class View:
    """The oracle's view of one instance while a plan is replayed: what it has left, and
    how many tasks of each group hold resources there (the plan's own placements included).
    """

    instance: ContainerInstance
    cpu: int
    memory: int
    scalars: dict[str, float]
    ports: set[int]
    ports_udp: set[int]
    groups: Counter[str] = attrs.field(factory=Counter)

    @property
    def id(self) -> str:
        """The instance id."""
        return self.instance.id

    def take(self, cpu: int, memory: int, scalars: dict[str, float], ports: set[int], ports_udp: set[int]) -> None:
        """Charge one more task here."""
        self.cpu -= cpu
        self.memory -= memory
        for name, amount in scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) - amount
        self.ports |= ports
        self.ports_udp |= ports_udp

    def groups_on(self, instance_id: str) -> set[str]:
        """A query context over this one view (the query language asks for the groups here)."""
        return {group for group, count in self.groups.items() if count}


def oracle_views(snapshot: Snapshot) -> dict[str, View]:
    """Every non-INACTIVE instance, with what it has left and the groups of its live tasks."""
    views: dict[str, View] = {}
    for instance in snapshot.instances():
        if instance.status == "INACTIVE":
            continue
        left = instance.remaining
        views[instance.id] = View(
            instance, left.cpu, left.memory, dict(left.scalars), set(left.ports), set(left.ports_udp)
        )
    for task in snapshot.tasks():
        if task.last_status != "STOPPED" and task.container_instance_id in views:
            views[task.container_instance_id].groups[task.group] += 1
    return views


def _free_count(taken: set[int], port_range: PortRange) -> int:
    """Ports of the range not in ``taken``."""
    inside = sum(1 for port in taken if port_range.first <= port <= port_range.last)
    return port_range.last - port_range.first + 1 - inside


def failing_reasons(
    view: View,
    definition: TaskDefinition,
    constraints: Sequence[PlacementConstraint],
    group: str,
    port_range: PortRange,
) -> set[str]:
    """Every ECS reason ``view``'s instance cannot take one more task (empty: it can).

    Reasons: ``INACTIVE``, ``AGENT``, ``RESOURCE:CPU``, ``RESOURCE:MEMORY``,
    ``RESOURCE:<scalar>``, ``RESOURCE:PORTS``, ``ATTRIBUTE`` (a memberOf expression does
    not select it) and ``DISTINCT_INSTANCE``.
    """
    reasons: set[str] = set()
    instance = view.instance
    if instance.status != "ACTIVE":
        reasons.add("INACTIVE")
    if not instance.agent_connected:
        reasons.add("AGENT")
    demand = definition.charge
    if view.cpu < demand.cpu:
        reasons.add("RESOURCE:CPU")
    if view.memory < demand.memory:
        reasons.add("RESOURCE:MEMORY")
    for name, amount in demand.scalars:
        if view.scalars.get(name, 0) < amount:
            reasons.add(f"RESOURCE:{name}")
    dynamic = dict(zip(("tcp", "udp"), definition.dynamic_ports, strict=True))
    for protocol, taken, static in (("tcp", view.ports, demand.ports), ("udp", view.ports_udp, demand.ports_udp)):
        if static & taken or (dynamic[protocol] and _free_count(taken | static, port_range) < dynamic[protocol]):
            reasons.add("RESOURCE:PORTS")
    for constraint in constraints:
        if constraint.type == "distinctInstance":
            if view.groups[group]:
                reasons.add("DISTINCT_INSTANCE")
        elif not parse_expression(constraint.expression or "").evaluate(instance, view):
            reasons.add("ATTRIBUTE")
    return reasons


def field_value(instance: ContainerInstance, field: str) -> str | None:
    """What a spread ``field`` (instanceId, host, attribute:NAME) is on ``instance``."""
    if field == "instanceId":
        return instance.id
    if field == "host":
        return instance.ec2_instance_id or instance.id
    return instance.attribute(field.removeprefix("attribute:"))


def oracle_key(
    view: View, views: dict[str, View], strategies: Sequence[PlacementStrategy], group: str
) -> tuple[Any, ...]:
    """Lower is better, strategy by strategy, then the instance id (the documented tie-break).

    binpack's key is what is left of its field; spread's is the tasks of ``group`` on the
    instances sharing the field's value. The chain stops at the first ``random``, whose
    draw the oracle cannot know: then only the keys before it (and no id) are returned.
    """
    key: list[Any] = []
    for strategy in strategies:
        if strategy.type == "random":
            return tuple(key)
        if strategy.type == "binpack":
            key.append(view.cpu if strategy.field == "cpu" else view.memory)
        else:
            field = strategy.field or "instanceId"
            value = field_value(view.instance, field)
            key.append(sum(v.groups[group] for v in views.values() if field_value(v.instance, field) == value))
    key.append(view.id)
    return tuple(key)
