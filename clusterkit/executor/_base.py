"""The Executor protocol: what a host agent asks of the thing that runs containers.

An executor starts a task's containers, stops them, tells how they are doing, lists the
tasks it holds containers for (so an agent can reconcile after a restart) and reads their
logs. It never decides placement: the agent hands it tasks the ClusterState assigned to
its instance. ``FakeExecutor`` (in this package) is a deterministic in-memory executor
for tests; ``DockerExecutor`` (``clusterkit.executor.docker``) runs real containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, Protocol

import attrs

from clusterkit.model import HealthStatus, Task, TaskDefinition

__all__ = [
    "HOST_ADDRESS_ATTRIBUTE",
    "ContainerStatus",
    "Executor",
    "HostInfo",
    "LogLine",
    "TaskObservation",
    "TaskUsage",
    "start_order",
]

HOST_ADDRESS_ATTRIBUTE: Final = "clusterkit.host-address"
"""The instance attribute holding the address its published ports bind to, when the
executor binds to one address (``DockerExecutor(host_ip=...)``): where a load balancer
sends a task's traffic.
"""

ContainerState = Literal["PENDING", "RUNNING", "STOPPED"]


@attrs.frozen(slots=True)
class ContainerStatus:
    """One container of a task as the executor sees it.

    ``reason`` says what the exit code does not — ``OutOfMemoryError: …``, an engine's
    error, ``never started`` — and is None for a container that simply exited.
    """

    name: str
    state: ContainerState = "PENDING"
    exit_code: int | None = None
    health: HealthStatus = "UNKNOWN"
    reason: str | None = None


@attrs.frozen(slots=True)
class TaskObservation:
    """A task's containers, and what they mean for the task (ECS rules).

    ``last_status``: RUNNING once every essential container runs; STOPPED as soon as an
    essential container stopped (or every container did); PENDING before. ``health``:
    UNHEALTHY if an essential container with a health check is, HEALTHY when all of those
    are, UNKNOWN otherwise.
    """

    task_id: str
    containers: tuple[ContainerStatus, ...]
    essential: frozenset[str]
    checked: frozenset[str] = frozenset()

    @property
    def last_status(self) -> Literal["PENDING", "RUNNING", "STOPPED"]:
        """The task's status implied by its containers."""
        essential = [c for c in self.containers if c.name in self.essential]
        if any(c.state == "STOPPED" for c in essential) or all(c.state == "STOPPED" for c in self.containers):
            return "STOPPED"
        if essential and all(c.state == "RUNNING" for c in essential):
            return "RUNNING"
        return "PENDING"

    @property
    def health(self) -> HealthStatus:
        """The task's health implied by its essential, health-checked containers."""
        watched = [c for c in self.containers if c.name in self.essential and c.name in self.checked]
        if any(c.health == "UNHEALTHY" for c in watched):
            return "UNHEALTHY"
        if watched and all(c.health == "HEALTHY" for c in watched):
            return "HEALTHY"
        return "UNKNOWN"

    @property
    def stopped_container(self) -> ContainerStatus | None:
        """The essential container whose exit stopped the task, if one did."""
        return next((c for c in self.containers if c.name in self.essential and c.state == "STOPPED"), None)


@attrs.frozen(slots=True)
class LogLine:
    """One line a container wrote, with the time it was collected (seconds since the epoch)."""

    task_id: str
    container: str
    at: float
    text: str


@attrs.frozen(slots=True)
class HostInfo:
    """What a host offers, as its executor reads it: an agent registers its instance from this.

    ``attributes`` are ECS-style instance attributes the engine knows (``ecs.os-type``,
    ``ecs.cpu-architecture``, …) and ``HOST_ADDRESS_ATTRIBUTE`` when the executor binds
    published ports to one address.
    """

    cpus: int
    memory_mib: int
    attributes: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class TaskUsage:
    """What a task's running containers use now: CPU in cores (1.0 is one core kept busy), memory in MiB.

    Memory is the working set: what the containers use minus the page cache the kernel may
    reclaim, as ``docker stats`` shows it.
    """

    cpu_cores: float
    memory_mib: float

    @property
    def cpu_units(self) -> float:
        """The CPU used in ECS CPU units (1024 per core)."""
        return self.cpu_cores * 1024


class Executor(Protocol):
    """Runs the containers of the tasks assigned to one container instance."""

    def start(self, task: Task, definition: TaskDefinition) -> TaskObservation:
        """Pull the images and start the containers (in dependsOn order); ExecutorError if it cannot."""
        ...

    def stop(self, task_id: str, *, timeout: float = 30.0) -> TaskObservation:
        """Stop every container of the task: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        ...

    def inspect(self, task_id: str) -> TaskObservation:
        """How the task's containers are doing now; NotFoundError for a task it never started."""
        ...

    def tasks(self) -> Sequence[str]:
        """The ids of the tasks it holds containers for, stopped ones included (for reconciliation)."""
        ...

    def logs(self, task_id: str, container: str | None = None, *, since: float | None = None) -> Sequence[LogLine]:
        """The lines the task's containers (or one of them) wrote after ``since``, oldest first."""
        ...

    def remove(self, task_id: str) -> None:
        """Remove the task's stopped containers (its logs go with them); NotFoundError if none."""
        ...

    def host(self) -> HostInfo:
        """The CPUs, memory and attributes of the host the executor runs containers on."""
        ...

    def usage(self, task_id: str) -> TaskUsage | None:
        """What the task's running containers use now; None when none of them runs.

        NotFoundError for a task it never started. Autoscaling reads a service's CPU and
        memory utilisation from this.
        """
        ...

    def changed(self) -> frozenset[str] | None:
        """Tasks whose containers changed (started, stopped, exited, health) since the last call.

        ``None`` means it cannot tell — the first call, or its view of the engine's events
        was interrupted — and the caller should look at every task. An agent uses this to
        inspect only what changed; it also looks at everything now and then regardless.
        """
        ...


def start_order(definition: TaskDefinition) -> list[str]:
    """Container names in an order that starts every container after those it depends on.

    Definition order is kept where dependencies allow (the definition has no cycles).
    """
    names = [container.name for container in definition.container_definitions]
    waits = {c.name: [d.container_name for d in c.depends_on] for c in definition.container_definitions}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = next(name for name in names if name not in ordered and all(w in ordered for w in waits[name]))
        ordered.append(ready)
    return ordered
