"""Copy a frozen model value with some fields changed, without re-running validation.

Only for values the ClusterState computes from values already validated (a task's new
status, an instance's new remaining resources): ``attrs.evolve`` would re-validate every
field on the commit hot path.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

T = TypeVar("T")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in attrs.fields(cls))
    return names


def replace(value: T, **changes: Any) -> T:
    """A copy of the attrs instance ``value`` with ``changes`` applied, unvalidated."""
    cls = type(value)
    new = object.__new__(cls)
    setter = object.__setattr__
    for name in _field_names(cls):
        setter(new, name, changes[name] if name in changes else getattr(value, name))
    return new
