"""Host ports: the bindings a task gets on its instance, static and dynamic.

Bridge mode: ``hostPort`` 0 or missing takes a free port from the dynamic range (ECS's
49153–65535 by default); a static ``hostPort`` is taken as written. Host mode: the host
port is the container port. awsvpc: the task has its own network interface, so bindings
equal the container ports and nothing is taken on the instance. none: no bindings.
TCP and UDP ports are separate.
"""

from __future__ import annotations

from typing import Final

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import MAX_PORT, PortBinding, Resources, TaskDefinition, check_int

__all__ = ["DEFAULT_DYNAMIC_PORTS", "PortRange", "assign_host_ports"]


@attrs.frozen(slots=True)
class PortRange:
    """An inclusive range of host ports handed out dynamically."""

    first: int = 49153
    last: int = MAX_PORT

    def __attrs_post_init__(self) -> None:
        check_int("dynamicPortRange.first", self.first, 1, MAX_PORT)
        check_int("dynamicPortRange.last", self.last, 1, MAX_PORT)
        if self.last < self.first:
            raise ValidationError("dynamicPortRange", (self.first, self.last), "last must not be below first")


DEFAULT_DYNAMIC_PORTS: Final = PortRange()


def assign_host_ports(
    definition: TaskDefinition, remaining: Resources, port_range: PortRange = DEFAULT_DYNAMIC_PORTS
) -> tuple[Resources, tuple[PortBinding, ...]] | None:
    """The charge and port bindings of one task of ``definition`` on an instance with
    ``remaining`` resources, or None when the dynamic range has too few free ports.

    Dynamic ports are the lowest free ones in ``port_range``; the static ports of the
    definition are not checked here (the charge's fit check does that).
    """
    dynamic_tcp, dynamic_udp = definition.dynamic_ports
    charge = definition.charge
    if not (dynamic_tcp or dynamic_udp or charge.ports or charge.ports_udp or definition.network_mode == "awsvpc"):
        return charge, ()
    free = {
        "tcp": _free_ports(remaining.ports | charge.ports, port_range, dynamic_tcp),
        "udp": _free_ports(remaining.ports_udp | charge.ports_udp, port_range, dynamic_udp),
    }
    if free["tcp"] is None or free["udp"] is None:
        return None
    chosen: dict[str, list[int]] = {"tcp": [], "udp": []}
    bindings: list[PortBinding] = []
    for container in definition.container_definitions:
        for mapping in container.port_mappings:
            if definition.network_mode in ("host", "awsvpc"):
                host_port = mapping.container_port
            elif mapping.host_port:
                host_port = mapping.host_port
            else:
                host_port = free[mapping.protocol].pop(0)  # type: ignore[union-attr]
                chosen[mapping.protocol].append(host_port)
            bindings.append(PortBinding(container.name, mapping.container_port, host_port, mapping.protocol))
    if chosen["tcp"] or chosen["udp"]:
        charge = charge + Resources(ports=frozenset(chosen["tcp"]), ports_udp=frozenset(chosen["udp"]))
    return charge, tuple(bindings)


def _free_ports(taken: frozenset[int], port_range: PortRange, count: int) -> list[int] | None:
    found: list[int] = []
    port = port_range.first
    while len(found) < count:
        if port > port_range.last:
            return None
        if port not in taken:
            found.append(port)
        port += 1
    return found
