"""What clusterkit needs from a load balancer, and one kept in memory.

A ``LoadBalancerRuntime`` has backends (one per target group) holding servers (one per target:
the task's id as its name, the host address and port). The controller lists a backend's
servers with their admin state, health and current sessions, and adds, enables, drains and
deletes them; nothing else. ``InMemoryLoadBalancer`` does that in memory, with health and
sessions set by the test or simulation driving it; ``HAProxyRuntime``
(``clusterkit.balancing``) does it on a real HAProxy.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Literal, Protocol

import attrs

from clusterkit.errors import ClusterkitError

__all__ = [
    "AdminState",
    "CheckState",
    "HealthCheckSettings",
    "InMemoryLoadBalancer",
    "LoadBalancerError",
    "LoadBalancerRuntime",
    "Server",
]

AdminState = Literal["ready", "drain", "maint"]
CheckState = Literal["init", "passing", "failing"]


class LoadBalancerError(ClusterkitError):
    """The load balancer could not do what was asked (unreachable, unknown backend, refused)."""


@attrs.frozen(slots=True)
class HealthCheckSettings:
    """How a server's health is checked: every ``interval`` seconds; ``rise`` passes in a row
    bring it up, ``fall`` failures in a row take it down.
    """

    interval: float
    rise: int
    fall: int


@attrs.frozen(slots=True)
class Server:
    """One server of a backend, as the load balancer reports it.

    ``admin``: ``ready`` (in service), ``drain`` (no new connections), ``maint`` (none at all).
    ``up``: the health checks let it take traffic. ``check``: the last check's outcome
    (``init`` before the first). ``sessions``: connections in flight now. ``requests``: the
    requests it has been sent since it was added (a counter that only grows).
    """

    name: str
    address: str
    port: int
    admin: AdminState = "ready"
    up: bool = False
    check: CheckState = "init"
    sessions: int = 0
    requests: int = 0


class LoadBalancerRuntime(Protocol):
    """The few calls the controller makes on a load balancer. Each raises LoadBalancerError."""

    def servers(self, backend: str) -> Mapping[str, Server]:
        """The backend's servers by name."""
        ...

    def add(self, backend: str, server: str, address: str, port: int, check: HealthCheckSettings) -> None:
        """Add a server, health checks on, down until they pass, then in service (admin ``ready``)."""
        ...

    def enable(self, backend: str, server: str) -> None:
        """Put a server back in service (admin ``ready``)."""
        ...

    def drain(self, backend: str, server: str) -> None:
        """Send a server no new connections; those in flight go on."""
        ...

    def maint(self, backend: str, server: str) -> None:
        """Take a server out of service entirely."""
        ...

    def delete(self, backend: str, server: str) -> None:
        """Remove a server (closing what it still has); a missing one is no error."""
        ...


@attrs.define(slots=True)
class _Entry:
    server: Server
    check: HealthCheckSettings


class InMemoryLoadBalancer:
    """A ``LoadBalancerRuntime`` in memory: for tests and the simulator.

    New servers start down with check ``init``; ``set_health``, ``set_sessions`` and
    ``serve`` play the health checks and the clients. ``down`` makes every call fail, as an unreachable load
    balancer would; ``restart`` empties every backend, as restarting HAProxy does. ``calls``
    records each mutating call as ``(verb, backend, server)``.
    """

    def __init__(self, backends: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, dict[str, _Entry]] = {name: {} for name in backends}
        self.down = False
        self.calls: list[tuple[str, str, str]] = []

    def _backend(self, backend: str) -> dict[str, _Entry]:
        if self.down:
            raise LoadBalancerError("the load balancer is unreachable")
        found = self._backends.get(backend)
        if found is None:
            raise LoadBalancerError(f"backend={backend!r}: no such backend")
        return found

    def _entry(self, backend: str, server: str) -> _Entry:
        entry = self._backend(backend).get(server)
        if entry is None:
            raise LoadBalancerError(f"server={backend}/{server}: no such server")
        return entry

    def servers(self, backend: str) -> Mapping[str, Server]:
        """The backend's servers by name."""
        with self._lock:
            return {name: entry.server for name, entry in self._backend(backend).items()}

    def add(self, backend: str, server: str, address: str, port: int, check: HealthCheckSettings) -> None:
        """Add a server: down, check ``init``, admin ``ready``."""
        with self._lock:
            servers = self._backend(backend)
            if server in servers:
                raise LoadBalancerError(f"server={backend}/{server}: already exists")
            servers[server] = _Entry(Server(server, address, port), check)
            self.calls.append(("add", backend, server))

    def _admin(self, verb: str, backend: str, server: str, admin: AdminState) -> None:
        with self._lock:
            entry = self._entry(backend, server)
            entry.server = attrs.evolve(entry.server, admin=admin)
            self.calls.append((verb, backend, server))

    def enable(self, backend: str, server: str) -> None:
        """Admin ``ready``."""
        self._admin("enable", backend, server, "ready")

    def drain(self, backend: str, server: str) -> None:
        """Admin ``drain``."""
        self._admin("drain", backend, server, "drain")

    def maint(self, backend: str, server: str) -> None:
        """Admin ``maint``."""
        self._admin("maint", backend, server, "maint")

    def delete(self, backend: str, server: str) -> None:
        """Remove the server, if there."""
        with self._lock:
            self._backend(backend).pop(server, None)
            self.calls.append(("delete", backend, server))

    # -- what tests and simulations play --------------------------------------------------

    def set_health(self, backend: str, server: str, *, up: bool, check: CheckState | None = None) -> None:
        """Play the health checks: the server is ``up`` or not, its last check ``check``
        (default: ``passing`` when up, ``failing`` when down).
        """
        with self._lock:
            entry = self._entry(backend, server)
            outcome: CheckState = check if check is not None else ("passing" if up else "failing")
            entry.server = attrs.evolve(entry.server, up=up, check=outcome)

    def set_sessions(self, backend: str, server: str, sessions: int) -> None:
        """Play the clients: ``sessions`` connections in flight on the server."""
        with self._lock:
            entry = self._entry(backend, server)
            entry.server = attrs.evolve(entry.server, sessions=sessions)

    def serve(self, backend: str, server: str, requests: int) -> None:
        """Play the clients: the server is sent ``requests`` more requests."""
        with self._lock:
            entry = self._entry(backend, server)
            entry.server = attrs.evolve(entry.server, requests=entry.server.requests + requests)

    def check_settings(self, backend: str, server: str) -> HealthCheckSettings:
        """The health check settings the server was added with."""
        with self._lock:
            return self._entry(backend, server).check

    def restart(self) -> None:
        """Forget every server, as a restarted HAProxy does (its backends come back empty)."""
        with self._lock:
            for servers in self._backends.values():
                servers.clear()
