"""Copy a frozen model value with some fields changed, without re-running validation.

Only for values the ClusterState computes from values already validated (a task's new
status, an instance's new remaining resources): ``attrs.evolve`` would re-validate every
field on the commit hot path. One copier is generated per class, as attrs generates its
own methods, so a copy is one function call with no per-field loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

_COPIERS: dict[type, Callable[[Any], Any]] = {}


def _make_copier(cls: type, changed: tuple[str, ...] = ()) -> Callable[..., Any]:
    names = [field.name for field in attrs.fields(cls)]
    unknown = set(changed) - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    lines = [f"def copy(value{''.join(f', {name}' for name in changed)}):", "    new = _new(_cls)"]
    lines += [
        f"    _set_{name}(new, {name})" if name in changed else f"    _set_{name}(new, value.{name})" for name in names
    ]
    lines.append("    return new")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for name in names:  # a slot's own descriptor sets it faster than object.__setattr__
        namespace[f"_set_{name}"] = getattr(cls, name).__set__
    exec("\n".join(lines), namespace)  # generated from the class's own field names
    copier: Callable[..., Any] = namespace["copy"]
    return copier


def replacer(cls: type[T], *names: str) -> Callable[..., T]:
    """A function ``(value, new_1, …, new_k) -> copy`` for the attrs class ``cls``: a copy of
    ``value`` with the fields ``names`` set to the new values, in that order, unvalidated.

    ``replace`` for a hot path that always changes the same fields: one generated function
    call, no keyword dict, each field set once.
    """
    return _make_copier(cls, names)


def replace(value: T, **changes: Any) -> T:
    """A copy of the attrs instance ``value`` with ``changes`` applied, unvalidated."""
    copier = _COPIERS.get(type(value))
    if copier is None:
        copier = _COPIERS[type(value)] = _make_copier(type(value))
    new: T = copier(value)
    setter = object.__setattr__
    for name, item in changes.items():
        setter(new, name, item)
    return new
