"""ECS JSON checked against ECS's own API shapes: nulls, unknown fields, types and enums.

The shapes are data copied from the ECS service model (``_ecs_shapes``, written by
``scripts/gen_ecs_shapes.py``), so clusterkit knows every field ECS takes without
depending on botocore at run time. ``clean`` walks a JSON value along a shape and returns a
copy with every null member dropped ("not set", as in console exports and SDK dumps). An
unknown member is refused with a did-you-mean, as ECS's own clients refuse it. With
``strict``, types, enums and required members are checked too; clusterkit uses that for
the fields it does not model and keeps verbatim in ``extra``, since nothing else checks them.
"""

from __future__ import annotations

import datetime
import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from clusterkit.errors import ValidationError
from clusterkit.model._ecs_shapes import SHAPES

__all__ = [
    "clean",
    "clean_members",
    "did_you_mean",
    "join",
    "members",
    "read_only_members",
    "required_members",
    "unknown_field",
]

_INT_BOUNDS: Final = {"integer": 2**31, "long": 2**63}
_SCALAR_PROBLEMS: Final = {
    "string": "must be a string",
    "integer": "must be an integer",
    "long": "must be an integer",
    "boolean": "must be true or false",
    "double": "must be a number",
    "float": "must be a number",
    "timestamp": "must be a timestamp (seconds since the epoch, or ISO 8601 text)",
}
_CLOSE: Final = 0.6
"""How similar (``difflib`` ratio) a known name must be to an unknown one to be suggested."""
_BEHIND: Final = 0.1
"""A suggestion this far behind the best one is left out."""
_PREFIX: Final = 3
"""A key this long or longer that begins a known name suggests it."""
_LIST_ALL_AT_MOST: Final = 8
"""A structure with at most this many members lists them all when an unknown one has no close match."""


def members(shape: str) -> Mapping[str, str]:
    """The members of structure ``shape``: ECS field name → the field's shape name."""
    found: Mapping[str, str] = SHAPES[shape]["members"]
    return found


def required_members(shape: str) -> frozenset[str]:
    """The members structure ``shape`` requires (ECS refuses a request without them)."""
    return frozenset(SHAPES[shape]["required"])


def read_only_members() -> frozenset[str]:
    """Fields of a described task definition that registration does not take (ECS sets them)."""
    return frozenset(members("TaskDefinition")) - frozenset(members("RegisterTaskDefinitionRequest"))


def join(field: str, key: str) -> str:
    """``field.key``, or ``key`` at the top."""
    return f"{field}.{key}" if field else key


def did_you_mean(key: str, names: Iterable[str]) -> list[str]:
    """The known names ``key`` was probably meant to be, best first (may be empty).

    A name differing only in case, underscores or hyphens (``memory_reservation``,
    ``PortMappings``) is the one answer; otherwise ``difflib``'s close matches, else the
    names the key begins (``expr`` → ``expression``).
    """
    known = list(names)
    folded = key.replace("_", "").replace("-", "").lower()
    same = [name for name in known if name.lower() == folded]
    if same:
        return same
    by_lower = {name.lower(): name for name in known}
    # As written first, then ignoring case: the close ones, not those far behind the best.
    for word, spelled in ((key, {name: name for name in known}), (folded, by_lower)):
        scored = sorted(((difflib.SequenceMatcher(None, word, text).ratio(), text) for text in spelled), reverse=True)
        if scored and scored[0][0] >= _CLOSE:
            floor = max(_CLOSE, scored[0][0] - _BEHIND)
            return [spelled[text] for ratio, text in scored[:3] if ratio >= floor]
    if len(folded) >= _PREFIX:
        return [name for name in known if name.lower().startswith(folded)][:3]
    return []


def unknown_field(field: str, key: str, value: Any, shape: str, names: Iterable[str]) -> ValidationError:
    """The error for member ``key`` that structure ``shape`` does not have."""
    known = sorted(names)
    guesses = did_you_mean(key, known)
    problem = f"is not a field of ECS's {shape}"
    if len(guesses) == 1:
        problem += f"; did you mean {guesses[0]!r}?"
    elif guesses:
        problem += "; did you mean " + " or ".join(repr(guess) for guess in guesses) + "?"
    elif len(known) <= _LIST_ALL_AT_MOST:
        problem += " (its fields: " + ", ".join(known) + ")"
    return ValidationError(field, value, problem)


def clean(value: Any, shape: str, field: str = "", *, strict: bool = False) -> Any:
    """A copy of ``value`` with null members dropped, checked against ECS shape ``shape``.

    Unknown members raise a ValidationError naming their path with a did-you-mean, and so
    does a value that is not an object where ECS has a structure or a map, or not a list
    where ECS has a list. With ``strict`` a scalar of the wrong type, a value outside an
    enum or a missing required member raises too; without it scalars are returned as they
    are, for the model to check (with its own leniency and messages).
    """
    spec = SHAPES[shape]
    kind = spec["type"]
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise ValidationError(field, value, "must be an object")
        return clean_members(value, shape, field, strict=strict)
    if kind == "list":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValidationError(field, value, "must be a list")
        return [clean(item, spec["member"], f"{field}[{index}]", strict=strict) for index, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ValidationError(field, value, "must be an object")
        result = {}
        for key, item in value.items():
            if item is None:
                continue
            path = f"{field}[{key}]"
            if strict and not isinstance(key, str):
                raise ValidationError(path, key, "keys must be strings")
            result[key] = clean(item, spec["value"], path, strict=strict)
        return result
    if strict:
        _check_scalar(value, kind, spec.get("enum"), field)
    return value


def clean_members(
    value: Mapping[Any, Any],
    shape: str,
    field: str = "",
    *,
    strict: bool = False,
    also: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
    required: bool | None = None,
) -> dict[str, Any]:
    """``clean`` for the members of a structure, one by one.

    ``also`` adds members the shape does not have (name → shape), ``skip`` names members
    that are not looked into (kept as they are, nulls still dropped). ``required`` (default:
    ``strict``) says whether the shape's required members must be present.
    """
    known = members(shape)
    if also:
        known = {**known, **also}
    skipped = frozenset(skip)
    result: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        path = join(field, str(key))
        target = known.get(key) if isinstance(key, str) else None
        if target is None:
            raise unknown_field(path, str(key), item, shape, known)
        result[key] = item if key in skipped else clean(item, target, path, strict=strict)
    if strict if required is None else required:
        for name in SHAPES[shape]["required"]:
            if name not in result:
                raise ValidationError(join(field, name), None, "is required")
    return result


def _check_scalar(value: Any, kind: str, enum: list[str] | None, field: str) -> None:
    if kind == "string":
        valid = isinstance(value, str)
        if valid and enum and value not in enum:
            raise ValidationError(field, value, "must be one of " + ", ".join(repr(choice) for choice in enum))
    elif kind in _INT_BOUNDS:
        bound = _INT_BOUNDS[kind]
        valid = type(value) is int and -bound <= value < bound
    elif kind == "boolean":
        valid = isinstance(value, bool)
    elif kind in ("double", "float"):
        valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind == "timestamp":
        valid = _is_timestamp(value)
    else:  # a shape type task definitions do not use (blob): nothing clusterkit can check
        valid = True
    if not valid:
        raise ValidationError(field, value, _SCALAR_PROBLEMS.get(kind, f"must be a {kind}"))


def _is_timestamp(value: Any) -> bool:
    if isinstance(value, datetime.datetime):
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False
