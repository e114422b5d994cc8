"""attrs validators for the simulator's settings: each names the field and the value it refuses."""

from __future__ import annotations

from typing import Any

import attrs

from clusterkit.errors import ValidationError

__all__ = ["at_least_one", "not_negative", "positive"]


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A number above 0."""
    if not _number(value) or not value > 0:
        raise ValidationError(attribute.name, value, "must be a number > 0")


def not_negative(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A number of 0 or more."""
    if not _number(value) or not value >= 0:
        raise ValidationError(attribute.name, value, "must be a number >= 0")


def at_least_one(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A whole number of 1 or more."""
    if type(value) is not int or value < 1:
        raise ValidationError(attribute.name, value, "must be a whole number >= 1")
