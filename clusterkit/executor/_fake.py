"""FakeExecutor: a deterministic in-memory executor with failures on demand.

Shipped in the library, as httpx ships ``MockTransport``, so users test agents and
schedulers without a Docker engine. Containers start at once, in dependsOn order; the
test drives everything else: an image whose pull fails, a container that exits with a
code (at once, or as soon as it starts), a health check that turns UNHEALTHY, lines in the logs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import attrs

from clusterkit.errors import ExecutorError, NotFoundError
from clusterkit.executor._base import ContainerStatus, HostInfo, LogLine, TaskObservation, TaskUsage, start_order
from clusterkit.model import HealthStatus, Task, TaskDefinition

__all__ = ["FakeExecutor"]

#: The exit code of a container stopped by SIGTERM (128 + 15), as Docker reports it.
STOPPED_BY_SIGNAL = 143


@attrs.define
class _Held:
    containers: dict[str, ContainerStatus]
    essential: frozenset[str]
    checked: frozenset[str]
    logs: list[LogLine] = attrs.Factory(list)
    usage: TaskUsage = attrs.Factory(lambda: TaskUsage(0.0, 0.0))


class FakeExecutor:
    """An Executor that keeps its containers in memory; thread-safe.

    ``calls`` records every protocol call as ``(method, task_id)``, for assertions.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, host: HostInfo | None = None) -> None:
        self.clock = clock
        self.host_info = host if host is not None else HostInfo(cpus=2, memory_mib=4096)
        self.calls: list[tuple[str, str]] = []
        self._held: dict[str, _Held] = {}
        self._pull_failures: dict[str, str] = {}
        self._exits_on_start: dict[str, int] = {}
        self._engine_down: str | None = None
        self._changed: set[str] | None = None  # None: nobody has asked yet, or the engine was away
        self._listener: Callable[[], None] | None = None
        self._lock = threading.Lock()

    # -- what a test controls -------------------------------------------------------------

    def fail_pull(self, image: str, reason: str = "pull access denied") -> None:
        """Make every later start of a task using ``image`` fail as an image pull would."""
        with self._lock:
            self._pull_failures[image] = reason

    def exit_on_start(self, image: str, exit_code: int = 1) -> None:
        """Make every later container of ``image`` exit with ``exit_code`` as soon as it starts.

        A task with such an essential container never reaches RUNNING: its start shows it
        STOPPED, as a command that fails at once does.
        """
        with self._lock:
            self._exits_on_start[image] = exit_code

    def fail_engine(self, reason: str = "the Docker engine is unreachable") -> None:
        """Make every protocol call raise ExecutorError with ``reason``, as an engine that went away."""
        with self._lock:
            self._engine_down = reason

    def restore_engine(self) -> None:
        """Bring the engine back: calls work again, and the containers are as they were."""
        with self._lock:
            self._engine_down = None
            self._changed = None

    def exit(self, task_id: str, container: str, exit_code: int) -> None:
        """Make a running container exit with ``exit_code`` (a crash when it is not 0)."""
        with self._lock:
            held = self._task(task_id)
            current = self._container(held, task_id, container)
            held.containers[container] = attrs.evolve(current, state="STOPPED", exit_code=exit_code)
            self._mark(task_id)
            self._log(held, task_id, container, f"exited with code {exit_code}")

    def set_health(self, task_id: str, container: str, health: HealthStatus) -> None:
        """Report a container's health check result."""
        with self._lock:
            held = self._task(task_id)
            held.containers[container] = attrs.evolve(self._container(held, task_id, container), health=health)
            self._mark(task_id)

    def set_usage(self, task_id: str, *, cpu_cores: float, memory_mib: float) -> None:
        """What the task's containers use from now on (an idle task uses nothing), for ``usage``."""
        with self._lock:
            self._task(task_id).usage = TaskUsage(cpu_cores, memory_mib)

    def write_log(self, task_id: str, container: str, text: str) -> None:
        """Add a line to a container's log."""
        with self._lock:
            held = self._task(task_id)
            self._container(held, task_id, container)
            self._log(held, task_id, container, text)

    # -- the Executor protocol ------------------------------------------------------------

    def start(self, task: Task, definition: TaskDefinition) -> TaskObservation:
        """Start the task's containers in dependsOn order; ExecutorError if an image pull fails.

        Starting a task it already holds changes nothing (no duplicate containers).
        """
        with self._lock:
            self.calls.append(("start", task.id))
            self._check_engine(task.id)
            if task.id in self._held:
                return self._observe(task.id)
            for container in definition.container_definitions:
                if container.image in self._pull_failures:
                    reason = self._pull_failures[container.image]
                    raise ExecutorError(task.id, f"CannotPullContainerError: {container.image}: {reason}")
            held = _Held(
                containers={},
                essential=frozenset(c.name for c in definition.container_definitions if c.essential),
                checked=frozenset(c.name for c in definition.container_definitions if c.health_check is not None),
            )
            images = {container.name: container.image for container in definition.container_definitions}
            for name in start_order(definition):
                held.containers[name] = ContainerStatus(name, "RUNNING")
                self._log(held, task.id, name, "started")
                exit_code = self._exits_on_start.get(images[name])
                if exit_code is not None:
                    held.containers[name] = ContainerStatus(name, "STOPPED", exit_code=exit_code)
                    self._log(held, task.id, name, f"exited with code {exit_code}")
            self._held[task.id] = held
            self._mark(task.id)
            return self._observe(task.id)

    def stop(self, task_id: str, *, timeout: float = 30.0) -> TaskObservation:
        """Stop every running container (exit code 143, as after SIGTERM)."""
        with self._lock:
            self.calls.append(("stop", task_id))
            self._check_engine(task_id)
            held = self._task(task_id)
            for name, status in held.containers.items():
                if status.state != "STOPPED":
                    held.containers[name] = attrs.evolve(status, state="STOPPED", exit_code=STOPPED_BY_SIGNAL)
                    self._log(held, task_id, name, "stopped")
                    self._mark(task_id)
            return self._observe(task_id)

    def inspect(self, task_id: str) -> TaskObservation:
        """The task's containers now; NotFoundError for a task it never started."""
        with self._lock:
            self.calls.append(("inspect", task_id))
            self._check_engine(task_id)
            return self._observe(task_id)

    def tasks(self) -> Sequence[str]:
        """Every task it holds containers for, in the order they started."""
        with self._lock:
            self._check_engine(None)
            return tuple(self._held)

    def logs(self, task_id: str, container: str | None = None, *, since: float | None = None) -> Sequence[LogLine]:
        """The task's log lines collected after ``since``, oldest first (one container's only, when named)."""
        with self._lock:
            self._check_engine(task_id)
            lines = self._task(task_id).logs
            return tuple(
                line
                for line in lines
                if (container is None or line.container == container) and (since is None or line.at > since)
            )

    def remove(self, task_id: str) -> None:
        """Forget a task whose containers all stopped; ExecutorError while one still runs."""
        with self._lock:
            self.calls.append(("remove", task_id))
            self._check_engine(task_id)
            if any(c.state != "STOPPED" for c in self._task(task_id).containers.values()):
                raise ExecutorError(task_id, "cannot remove a task whose containers still run; stop it first")
            del self._held[task_id]

    def usage(self, task_id: str) -> TaskUsage | None:
        """What ``set_usage`` said the task uses (nothing by default); None once no container runs."""
        with self._lock:
            self._check_engine(task_id)
            held = self._task(task_id)
            if all(status.state != "RUNNING" for status in held.containers.values()):
                return None
            return held.usage

    def changed(self) -> frozenset[str] | None:
        """Tasks started, stopped, exited or with new health since the last call (None on the first)."""
        with self._lock:
            self._check_engine(None)
            changed, self._changed = self._changed, set()
            return None if changed is None else frozenset(changed)

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (no arguments, quickly) whenever a task changes; None stops it."""
        self._listener = listener

    def host(self) -> HostInfo:
        """The host this fake pretends to be (``host=`` at construction)."""
        with self._lock:
            self._check_engine(None)
            return self.host_info

    # -- inside ---------------------------------------------------------------------------

    def _mark(self, task_id: str) -> None:
        if self._changed is not None:
            self._changed.add(task_id)
        if self._listener is not None:
            self._listener()

    def _check_engine(self, task_id: str | None) -> None:
        if self._engine_down is not None:
            raise ExecutorError(task_id, self._engine_down)

    def _task(self, task_id: str) -> _Held:
        held = self._held.get(task_id)
        if held is None:
            raise NotFoundError("task", task_id)
        return held

    @staticmethod
    def _container(held: _Held, task_id: str, container: str) -> ContainerStatus:
        status = held.containers.get(container)
        if status is None:
            raise NotFoundError("container", f"{task_id}/{container}")
        return status

    def _log(self, held: _Held, task_id: str, container: str, text: str) -> None:
        held.logs.append(LogLine(task_id, container, self.clock(), text))

    def _observe(self, task_id: str) -> TaskObservation:
        held = self._task(task_id)
        return TaskObservation(task_id, tuple(held.containers.values()), held.essential, held.checked)
