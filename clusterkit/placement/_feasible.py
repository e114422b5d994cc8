"""The feasibility stage: whether an instance may take the request's next task, and how.

Nomad chains feasibility checkers before its rankers; Kubernetes runs Filter plugins. Here
one ``Feasibility`` per request runs the hard checks in ECS's order, cheapest and
never-changing first: status, agent, ``memberOf`` expressions that do not read task groups,
host ports and resources, ``distinctInstance``, ``memberOf`` expressions that read task
groups, and last the scheduler's own ``check`` (its filters). The answer is a ``Rejected``
or a ``Fit``: the charge (with the dynamic ports it picked) and the host-port bindings.

``verdict`` is called for every candidate of every task: it is one call, with the built-in
rejections made once at import, and a custom filter's reason string turned into a
``Rejected`` once per plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from clusterkit.errors import ValidationError
from clusterkit.model import ContainerInstance, PlacementConstraint, PortBinding, Resources
from clusterkit.placement._context import PlacementContext
from clusterkit.placement._ports import PortRange, assign_host_ports
from clusterkit.placement._request import PlacementRequest
from clusterkit.placement._verdict import Rejected

Fit = tuple[Resources, tuple[PortBinding, ...]]
"""An instance that takes the task: the charge (dynamic ports included) and the host-port bindings."""

Check = Callable[[ContainerInstance, PlacementContext], "Rejected | str | None"]


def rejection(reason: str, *, groups_read: bool) -> Rejected:
    """The verdict a reason string stands for, built-in or a filter's: the one rule for ``lasting``.

    A reason lasts when it is one of the built-in reasons that only get worse while a plan
    places more tasks of one shape: ``RESOURCE:...`` (resources of any kind),
    ``DISTINCT_INSTANCE``, and ``ATTRIBUTE`` when no ``memberOf`` expression of the request
    reads task groups (``groups_read``). Any other reason can change.
    """
    lasting = reason.startswith("RESOURCE:") or reason == "DISTINCT_INSTANCE"
    return Rejected(reason, lasting=lasting or (reason == "ATTRIBUTE" and not groups_read))


INACTIVE: Final = rejection("INACTIVE", groups_read=False)
AGENT: Final = rejection("AGENT", groups_read=False)
DISTINCT_INSTANCE: Final = rejection("DISTINCT_INSTANCE", groups_read=False)
_ATTRIBUTE: Final = {read: rejection("ATTRIBUTE", groups_read=read) for read in (False, True)}
_SHORT: Final = {name: rejection(f"RESOURCE:{name}", groups_read=False) for name in ("CPU", "MEMORY", "PORTS")}
_SHORT["PORTS_UDP"] = _SHORT["PORTS"]


def _short_of(shortfall: str) -> Rejected:
    """The rejection for too little of a custom scalar, made on its first use."""
    rejected = _SHORT[shortfall] = rejection(f"RESOURCE:{shortfall}", groups_read=False)
    return rejected


class Feasibility:
    """The hard checks for one request (see the module's docstring)."""

    __slots__ = (
        "_said",
        "attribute",
        "check",
        "context",
        "definition",
        "distinct",
        "dynamic_expressions",
        "dynamic_ports",
        "groups",
        "static_expressions",
    )

    def __init__(
        self, request: PlacementRequest, context: PlacementContext, dynamic_ports: PortRange, check: Check
    ) -> None:
        self.definition = request.task_definition
        self.context = context
        self.dynamic_ports = dynamic_ports
        self.check = check
        constraints = request.all_constraints
        self.distinct = any(c.type == "distinctInstance" for c in constraints)
        self.static_expressions, self.dynamic_expressions = _split_expressions(constraints)
        self.groups = _ContextGroups(context)
        # ATTRIBUTE lasts only while no expression reads task groups (the plan's placements change those)
        self.attribute = _ATTRIBUTE[bool(self.dynamic_expressions)]
        self._said: dict[str, Rejected] = {}  # a filter's reason strings, each made a Rejected once

    def verdict(self, instance: ContainerInstance) -> Rejected | Fit:
        """Why ``instance`` cannot take the next task, or the charge and bindings it would get."""
        if instance.status != "ACTIVE":
            return INACTIVE
        if not instance.agent_connected:
            return AGENT
        groups = self.groups
        if self.static_expressions and not all(e.evaluate(instance, groups) for e in self.static_expressions):
            return self.attribute
        context = self.context
        remaining = context.remaining(instance)
        assigned = assign_host_ports(self.definition, remaining, self.dynamic_ports)
        if assigned is None:
            return _SHORT["PORTS"]
        shortfall = assigned[0].shortfall(remaining)
        if shortfall is not None:
            return _SHORT.get(shortfall) or _short_of(shortfall)
        if self.distinct and context.group_count(instance.id):
            return DISTINCT_INSTANCE
        for expression in self.dynamic_expressions:
            if not expression.evaluate(instance, groups):
                return self.attribute
        said = self.check(instance, context)
        if said is None:
            return assigned
        if type(said) is Rejected:
            return said
        # a reason string made a Rejected before in this plan: no call
        return (type(said) is str and self._said.get(said)) or self._rejected(said)

    def _rejected(self, said: object) -> Rejected:
        """What a filter or ``check`` said, as a ``Rejected`` (a reason string by ``rejection``)."""
        if isinstance(said, Rejected):
            return said
        if not isinstance(said, str) or not said:
            raise ValidationError("filter", said, "a filter returns None, a Rejected or a non-empty reason string")
        rejected = self._said.get(said)
        if rejected is None:
            rejected = self._said[said] = rejection(said, groups_read=bool(self.dynamic_expressions))
        return rejected


class _ContextGroups:
    """The query language's view of task groups, with this plan's placements counted."""

    def __init__(self, context: PlacementContext) -> None:
        self._context = context

    def groups_on(self, instance_id: str) -> set[str]:
        groups = {task.group for task in self._context.snapshot.tasks_on(instance_id)}
        if self._context.group_count(instance_id):
            groups.add(self._context.group)
        return groups


def _split_expressions(constraints: Sequence[PlacementConstraint]) -> tuple[list[Any], list[Any]]:
    """The memberOf expressions, parsed once: those that read task groups change during a plan."""
    from clusterkit.query import parse_expression

    static: list[Any] = []
    dynamic: list[Any] = []
    for constraint in constraints:
        if constraint.type != "memberOf" or constraint.expression is None:
            continue
        expression = parse_expression(constraint.expression)
        (dynamic if expression.uses_task_groups else static).append(expression)
    return static, dynamic
