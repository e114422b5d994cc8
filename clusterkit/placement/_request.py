"""What to place: a placement request (ECS RunTask's placement arguments).

The strategies and constraints it carries are values from ``clusterkit.model``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import (
    DEFAULT_STRATEGY,
    MAX_CONSTRAINTS,
    PlacementConstraint,
    PlacementStrategy,
    TaskDefinition,
    check_int,
    check_text,
    load_constraints,
    load_strategies,
)

__all__ = ["MAX_COUNT", "PlacementRequest"]


def _id_set(value: Iterable[str]) -> frozenset[str]:
    """Instance ids as a frozenset (refusing a bare string, which is one id, not many)."""
    items = () if isinstance(value, (str, bytes)) else tuple(value)
    if isinstance(value, (str, bytes)) or not all(isinstance(item, str) for item in items):
        raise ValidationError("avoid", value, "must be a collection of instance ids")
    return frozenset(items)


MAX_COUNT: Final = 10_000
"""The most tasks one request may place."""


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
    avoid: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    """Instances to use only when no other can take the task (a service's replacement avoids
    the instance where its task just failed). ``BaseScheduler`` honours it; it is a preference."""

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
