"""What to place: placement strategies, the request, and its ECS JSON forms.

A strategy orders the instances that can take a task; a chain of up to five breaks ties
in turn, as ECS does: ``binpack(field)`` prefers the instance left with the least of
``cpu`` or ``memory``; ``spread(field)`` prefers the value of ``instanceId``, ``host`` or
``attribute:NAME`` that holds the fewest tasks of the request's group; ``random`` picks
at random (seeded, so a plan can be replayed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._validate import check_int, check_text
from clusterkit.model.taskdef import MAX_CONSTRAINTS, PlacementConstraint, TaskDefinition

__all__ = [
    "DEFAULT_STRATEGY",
    "MAX_STRATEGIES",
    "PlacementRequest",
    "PlacementStrategy",
    "binpack",
    "load_constraints",
    "load_strategies",
    "random",
    "spread",
]

MAX_STRATEGIES: Final = 5
MAX_COUNT: Final = 10_000


@attrs.frozen(slots=True)
class PlacementStrategy:
    """One link of a strategy chain; see the module docstring for the three types."""

    type: Literal["binpack", "spread", "random"]
    field: str | None = None
    seed: int | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.type == "binpack":
            if self.field not in ("cpu", "memory"):
                raise ValidationError("field", self.field, "binpack takes cpu or memory")
        elif self.type == "spread":
            field = self.field
            if not isinstance(field, str) or not (
                field in ("instanceId", "host") or (field.startswith("attribute:") and len(field) > 10)
            ):
                raise ValidationError("field", field, "spread takes instanceId, host or attribute:NAME")
        elif self.type == "random":
            if self.field is not None:
                raise ValidationError("field", self.field, "random takes no field")
        else:
            raise ValidationError("type", self.type, "must be binpack, spread or random")
        if self.seed is not None:
            check_int("seed", self.seed, 0)

    def to_ecs(self) -> dict[str, str]:
        """The ECS JSON form, e.g. ``{"type": "binpack", "field": "memory"}``."""
        return {"type": self.type} if self.field is None else {"type": self.type, "field": self.field}


def binpack(field: Literal["cpu", "memory"] = "memory") -> PlacementStrategy:
    """Prefer the instance left with the least ``field`` after placing the task."""
    return PlacementStrategy("binpack", field)


def spread(field: str = "instanceId") -> PlacementStrategy:
    """Prefer the value of ``field`` (instanceId, host, attribute:NAME) with the fewest tasks of the group."""
    return PlacementStrategy("spread", field)


def random(seed: int | None = None) -> PlacementStrategy:
    """Pick among the instances at random; ``seed`` makes the choice repeatable."""
    return PlacementStrategy("random", None, seed)


DEFAULT_STRATEGY: Final = (spread("attribute:ecs.availability-zone"), binpack("memory"))
"""The chain used when none is given: spread over availability zones, then binpack memory.

Spreading over zones first is what ECS does for services; binpack on memory second keeps
each zone's instances dense, so whole instances stay free for large tasks.
"""


def load_strategies(
    value: Iterable[PlacementStrategy | Mapping[str, Any]] | None,
) -> tuple[PlacementStrategy, ...]:
    """Strategies from Python objects or ECS JSON (``[{"type": "binpack", "field": "memory"}]``)."""
    if value is None:
        return DEFAULT_STRATEGY
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError("placementStrategy", value, "must be a list of strategies")
    strategies = []
    for index, item in enumerate(value):
        if isinstance(item, PlacementStrategy):
            strategies.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) - {"type", "field"}:
            raise ValidationError(f"placementStrategy[{index}]", item, 'must be {"type": ..., "field": ...}')
        field = item.get("field")
        if item.get("type") == "binpack" and isinstance(field, str):
            field = field.lower()  # ECS writes CPU / MEMORY too
        try:
            strategies.append(PlacementStrategy(item.get("type"), field))  # type: ignore[arg-type]
        except ValidationError as error:
            raise error.within(f"placementStrategy[{index}]") from None
    if len(strategies) > MAX_STRATEGIES:
        raise ValidationError("placementStrategy", len(strategies), f"at most {MAX_STRATEGIES} strategies")
    return tuple(strategies)


def load_constraints(
    value: Iterable[PlacementConstraint | Mapping[str, Any]] | None,
) -> tuple[PlacementConstraint, ...]:
    """Constraints from Python objects or ECS JSON (``[{"type": "memberOf", "expression": "..."}]``)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError("placementConstraints", value, "must be a list of constraints")
    constraints = []
    for index, item in enumerate(value):
        if isinstance(item, PlacementConstraint):
            constraints.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) - {"type", "expression"}:
            raise ValidationError(f"placementConstraints[{index}]", item, 'must be {"type": ..., "expression": ...}')
        try:
            constraints.append(PlacementConstraint(item.get("type"), item.get("expression")))  # type: ignore[arg-type]
        except ValidationError as error:
            raise error.within(f"placementConstraints[{index}]") from None
    if len(constraints) > MAX_CONSTRAINTS:
        raise ValidationError("placementConstraints", len(constraints), f"at most {MAX_CONSTRAINTS} constraints")
    return tuple(constraints)


@attrs.frozen(slots=True)
class PlacementRequest:
    """Place ``count`` tasks of ``task_definition`` (ECS RunTask's placement arguments).

    ``group`` defaults to ``family:FAMILY``; ``constraints`` are added to the task
    definition's own; ``strategies`` default to ``DEFAULT_STRATEGY``.
    """

    task_definition: TaskDefinition
    count: int = 1
    group: str | None = None
    started_by: str | None = None
    strategies: tuple[PlacementStrategy, ...] = attrs.field(default=DEFAULT_STRATEGY, converter=load_strategies)
    constraints: tuple[PlacementConstraint, ...] = attrs.field(default=(), converter=load_constraints)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.task_definition, TaskDefinition):
            raise ValidationError("taskDefinition", self.task_definition, "must be a registered TaskDefinition")
        check_int("count", self.count, 1, MAX_COUNT)
        if self.group is not None:
            check_text("group", self.group, max_length=255)
        if self.started_by is not None:
            check_text("startedBy", self.started_by, max_length=128)
        total = len(self.constraints) + len(self.task_definition.placement_constraints)
        if total > MAX_CONSTRAINTS:
            raise ValidationError(
                "placementConstraints", total, f"at most {MAX_CONSTRAINTS} with the task definition's"
            )

    @property
    def task_group(self) -> str:
        """The group its tasks join: ``group`` or ``family:FAMILY``."""
        return self.group if self.group is not None else f"family:{self.task_definition.family}"

    @property
    def all_constraints(self) -> tuple[PlacementConstraint, ...]:
        """The task definition's constraints followed by the request's."""
        return self.task_definition.placement_constraints + self.constraints
