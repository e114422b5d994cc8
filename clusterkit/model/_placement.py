"""Placement specs as values: strategies and constraints, and their ECS JSON forms.

A strategy orders the instances that can take a task; a chain of up to five breaks ties
in turn, as ECS does: ``binpack(field)`` prefers the instance left with the least of
``cpu`` or ``memory``; ``spread(field)`` prefers the value of ``instanceId``, ``host`` or
``attribute:NAME`` that holds the fewest tasks of the request's group; ``random`` picks
at random (seeded, so a plan can be replayed). Services keep them; ``clusterkit.placement``
acts on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, TypeVar

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._taskdef import MAX_CONSTRAINTS, PlacementConstraint
from clusterkit.model._validate import check_int

__all__ = [
    "DEFAULT_STRATEGY",
    "MAX_STRATEGIES",
    "PlacementStrategy",
    "binpack",
    "load_constraints",
    "load_strategies",
    "random",
    "spread",
]

MAX_STRATEGIES: Final = 5


@attrs.frozen(slots=True)
class PlacementStrategy:
    """One link of a strategy chain; see the module docstring for the three types."""

    type: Literal["binpack", "spread", "random"]
    field: str | None = None
    seed: int | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.type == "binpack" and self.field in ("CPU", "MEMORY"):
            object.__setattr__(self, "field", self.field.lower())  # ECS writes these in capitals too
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


_Item = TypeVar("_Item", PlacementStrategy, PlacementConstraint)


def _load_items(
    value: Iterable[_Item | Mapping[str, Any]],
    cls: type[_Item],
    field: str,
    keys: tuple[str, str],
    limit: int,
) -> tuple[_Item, ...]:
    """Objects of ``cls`` from themselves or ECS JSON objects with ``keys``; errors name ``field[i]``."""
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError(field, value, "must be a list")
    items: list[_Item] = []
    for index, item in enumerate(value):
        if isinstance(item, cls):
            items.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) - set(keys):
            raise ValidationError(f"{field}[{index}]", item, f'must be {{"{keys[0]}": ..., "{keys[1]}": ...}}')
        try:
            items.append(cls(item.get(keys[0]), item.get(keys[1])))  # type: ignore[arg-type]
        except ValidationError as error:
            raise error.within(f"{field}[{index}]") from None
    if len(items) > limit:
        raise ValidationError(field, len(items), f"at most {limit}")
    return tuple(items)


def load_strategies(
    value: Iterable[PlacementStrategy | Mapping[str, Any]] | None,
) -> tuple[PlacementStrategy, ...]:
    """Strategies from Python objects or ECS JSON (``[{"type": "binpack", "field": "memory"}]``)."""
    if value is None:
        return DEFAULT_STRATEGY
    return _load_items(value, PlacementStrategy, "placementStrategy", ("type", "field"), MAX_STRATEGIES)


def load_constraints(
    value: Iterable[PlacementConstraint | Mapping[str, Any]] | None,
) -> tuple[PlacementConstraint, ...]:
    """Constraints from Python objects or ECS JSON (``[{"type": "memberOf", "expression": "..."}]``)."""
    if value is None:
        return ()
    return _load_items(value, PlacementConstraint, "placementConstraints", ("type", "expression"), MAX_CONSTRAINTS)
