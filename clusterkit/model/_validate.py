"""Small validators shared by the model classes; each raises ValidationError naming the field."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from clusterkit.errors import ValidationError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")


def check_name(field: str, value: object) -> str:
    """A name of 1..255 letters, digits, hyphens and underscores (ECS family and container names)."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValidationError(field, value, "must be 1-255 letters, digits, hyphens or underscores")
    return value


def check_int(field: str, value: object, low: int, high: int | None = None) -> int:
    """An integer (not a bool) in ``low..high``."""
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValidationError(field, value, f"must be an integer {bound}")
    return value


def check_choice(field: str, value: object, choices: Collection[Any]) -> None:
    """One of ``choices``."""
    if value not in choices:
        raise ValidationError(field, value, f"must be one of {sorted(choices)}")


def check_instance(field: str, value: object, method: str) -> None:
    """An object with a ``method`` (a scheduler's ``place`` …): a class given where an instance
    is expected is told to pass an instance (``pass an instance: BaseScheduler()``).
    """
    if isinstance(value, type):
        raise ValidationError(field, value, f"pass an instance: {value.__name__}()")
    if not callable(getattr(value, method, None)):
        raise ValidationError(field, value, f"must have a {method}() method")


def check_text(field: str, value: object, *, max_length: int = 4096, empty: bool = False) -> None:
    """A string of at most ``max_length`` characters (non-empty unless ``empty``)."""
    if not isinstance(value, str) or len(value) > max_length or (not empty and not value):
        raise ValidationError(
            field, value, f"must be a {'' if empty else 'non-empty '}string of at most {max_length} characters"
        )
