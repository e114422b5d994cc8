"""Resources: CPU units, memory MiB, TCP and UDP ports, and custom scalars such as GPU.

One type serves both as a *demand* (what a task needs) and as a *capacity* (what an
instance has left). Amounts add and subtract; port sets follow ECS, where an instance's
``PORTS`` lists the ports that are *taken* (reserved or used), so placing a task adds its
ports to the set and stopping it takes them out again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from clusterkit.errors import ValidationError

__all__ = ["MAX_PORT", "Resources"]

MAX_PORT: Final = 65535
_EMPTY: Final[frozenset[int]] = frozenset()


def _check_ports(field: str, ports: frozenset[int]) -> None:
    for port in ports:
        if type(port) is not int or not 1 <= port <= MAX_PORT:
            raise ValidationError(field, port, f"a port is an integer in 1..{MAX_PORT}")


def _port_set(value: Iterable[int]) -> frozenset[int]:
    return value if isinstance(value, frozenset) else frozenset(value)


def _scalar_tuple(value: Mapping[str, float] | Iterable[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(name), amount) for name, amount in items if amount != 0))


@attrs.frozen(slots=True, repr=False)
class Resources:
    """An amount of CPU, memory, ports and custom scalar resources.

    ``cpu`` is in CPU units (1024 per vCPU), ``memory`` in MiB, ``ports`` and
    ``ports_udp`` are sets of port numbers, ``scalars`` maps a resource name such as
    ``"GPU"`` to an amount. All amounts are non-negative. Instances are immutable and
    hashable; arithmetic returns new values in O(p + s) for p ports and s scalars.
    """

    cpu: int = 0
    memory: int = 0
    ports: frozenset[int] = attrs.field(default=_EMPTY, converter=_port_set)
    ports_udp: frozenset[int] = attrs.field(default=_EMPTY, converter=_port_set)
    scalars: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_scalar_tuple)

    def __attrs_post_init__(self) -> None:
        for name in ("cpu", "memory"):
            amount = getattr(self, name)
            if type(amount) is not int or amount < 0:
                raise ValidationError(name, amount, "must be a non-negative integer")
        _check_ports("ports", self.ports)
        _check_ports("ports_udp", self.ports_udp)
        for name, amount in self.scalars:
            if (
                not name
                or not isinstance(amount, (int, float))
                or isinstance(amount, bool)
                or not math.isfinite(amount)
                or amount < 0
            ):
                raise ValidationError(f"scalars[{name!r}]", amount, "must be a finite non-negative number")
        names = [name for name, _ in self.scalars]
        for name in set(names):
            if names.count(name) > 1:
                raise ValidationError(f"scalars[{name!r}]", names, "names a resource twice")

    @classmethod
    def _make(
        cls,
        cpu: int,
        memory: int,
        ports: frozenset[int],
        ports_udp: frozenset[int],
        scalars: tuple[tuple[str, float], ...],
    ) -> Resources:
        """Build without validation: for arithmetic on values already known to be valid."""
        self = object.__new__(cls)
        _SET_CPU(self, cpu)  # each slot's own descriptor: half the cost of object.__setattr__
        _SET_MEMORY(self, memory)
        _SET_PORTS(self, ports)
        _SET_PORTS_UDP(self, ports_udp)
        _SET_SCALARS(self, scalars)
        return self

    def __repr__(self) -> str:
        parts = [f"cpu={self.cpu}", f"memory={self.memory}"]
        if self.ports:
            parts.append(f"ports={sorted(self.ports)}")
        if self.ports_udp:
            parts.append(f"ports_udp={sorted(self.ports_udp)}")
        if self.scalars:
            parts.append(f"scalars={dict(self.scalars)}")
        return f"Resources({', '.join(parts)})"

    def scalar(self, name: str) -> float:
        """The amount of the custom resource ``name`` (0 when absent)."""
        for key, amount in self.scalars:
            if key == name:
                return amount
        return 0

    @property
    def scalar_map(self) -> dict[str, float]:
        """The custom scalar resources as a new dict."""
        return dict(self.scalars)

    def __add__(self, other: Resources) -> Resources:
        """Sum of two demands: amounts add, port sets unite."""
        return Resources._make(
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.ports | other.ports if other.ports else self.ports,
            self.ports_udp | other.ports_udp if other.ports_udp else self.ports_udp,
            _merge(self.scalars, other.scalars, 1) if other.scalars else self.scalars,
        )

    def __sub__(self, other: Resources) -> Resources:
        """Take ``other`` out of ``self``: amounts subtract, ports are removed.

        Raises ValidationError when an amount would go below zero.
        """
        cpu = self.cpu - other.cpu
        memory = self.memory - other.memory
        if cpu < 0:
            raise ValidationError("cpu", other.cpu, f"exceeds the {self.cpu} available")
        if memory < 0:
            raise ValidationError("memory", other.memory, f"exceeds the {self.memory} available")
        return Resources._make(
            cpu,
            memory,
            self.ports - other.ports if other.ports else self.ports,
            self.ports_udp - other.ports_udp if other.ports_udp else self.ports_udp,
            _merge(self.scalars, other.scalars, -1) if other.scalars else self.scalars,
        )

    def shortfall(self, capacity: Resources) -> str | None:
        """Why this demand does not fit ``capacity``: ``"CPU"``, ``"MEMORY"``, ``"PORTS"``,
        ``"PORTS_UDP"`` or a scalar's name; ``None`` when it fits.

        ``capacity`` is what an instance has *remaining*: its amounts must cover this
        demand and none of this demand's ports may already be taken there.
        """
        if self.cpu > capacity.cpu:
            return "CPU"
        if self.memory > capacity.memory:
            return "MEMORY"
        if self.ports and not self.ports.isdisjoint(capacity.ports):
            return "PORTS"
        if self.ports_udp and not self.ports_udp.isdisjoint(capacity.ports_udp):
            return "PORTS_UDP"
        for name, amount in self.scalars:
            if amount > capacity.scalar(name):
                return name
        return None

    def fits(self, capacity: Resources) -> bool:
        """True when this demand fits the remaining ``capacity`` (see ``shortfall``)."""
        return self.shortfall(capacity) is None

    def allocate(self, charge: Resources) -> Resources:
        """What remains after placing ``charge`` here: amounts go down, ports become taken.

        Raises ValidationError when ``charge`` does not fit.
        """
        reason = charge.shortfall(self)
        if reason is not None:
            raise ValidationError(f"resources.{reason}", charge, f"does not fit in {self!r}")
        return self._take(charge)

    def _take(self, charge: Resources) -> Resources:
        """``allocate`` for a charge already known to fit."""
        return Resources._make(
            self.cpu - charge.cpu,
            self.memory - charge.memory,
            self.ports | charge.ports if charge.ports else self.ports,
            self.ports_udp | charge.ports_udp if charge.ports_udp else self.ports_udp,
            _merge(self.scalars, charge.scalars, -1) if charge.scalars else self.scalars,
        )

    def release(self, charge: Resources) -> Resources:
        """Undo ``allocate``: amounts go back up, the charge's ports are free again."""
        return Resources._make(
            self.cpu + charge.cpu,
            self.memory + charge.memory,
            self.ports - charge.ports if charge.ports else self.ports,
            self.ports_udp - charge.ports_udp if charge.ports_udp else self.ports_udp,
            _merge(self.scalars, charge.scalars, 1) if charge.scalars else self.scalars,
        )

    @property
    def is_empty(self) -> bool:
        """True when every amount is zero and no port is named."""
        return not (self.cpu or self.memory or self.ports or self.ports_udp or self.scalars)


# the slots' own descriptors, which set a field of a new value without the frozen check
_SET_CPU, _SET_MEMORY, _SET_PORTS, _SET_PORTS_UDP, _SET_SCALARS = (
    getattr(Resources, field).__set__ for field in ("cpu", "memory", "ports", "ports_udp", "scalars")
)


def _merge(
    left: tuple[tuple[str, float], ...], right: tuple[tuple[str, float], ...], sign: int
) -> tuple[tuple[str, float], ...]:
    totals = dict(left)
    for name, amount in right:
        total = totals.get(name, 0) + sign * amount
        if total < 0:
            raise ValidationError(f"scalars[{name!r}]", amount, f"exceeds the {totals.get(name, 0)} available")
        totals[name] = total
    return tuple(sorted((name, amount) for name, amount in totals.items() if amount != 0))
