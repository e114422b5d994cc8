"""DockerExecutor: the containers of a task, on a real Docker engine, through docker-py.

What it does for each container definition, as the ECS container agent does:

* pulls the image, with credentials for private registries from
  :class:`~clusterkit.executor.RegistryCredentials` (ECS's pull behaviours:
  ``default`` pulls and falls back to a cached image, ``always`` insists on the pull,
  ``once`` pulls an image once per executor, ``prefer-cached`` pulls only what is missing);
* creates and starts it with the exact host ports the placement chose, published on
  ``host_ip``; network mode bridge, host or none; hard memory limit, memory reservation and
  CPU shares; environment, command and entryPoint; the health check (seconds become
  Docker's nanoseconds); stopTimeout; dockerLabels;
* labels it with the cluster, the task id and the container name, so that a restarted
  agent finds every container it ran (:meth:`DockerExecutor.tasks`);
* honours dependsOn: a container starts once those it depends on have STARTed, are
  HEALTHY, or have exited (COMPLETE) with code 0 (SUCCESS), waiting at most its
  startTimeout (or the executor's ``start_timeout``).

Every docker-py error becomes an :class:`~clusterkit.errors.ExecutorError` (``raise … from``)
whose reason names what failed, in ECS's words where ECS has them
(``CannotPullContainerError``, ``CannotCreateContainerError``, ``CannotStartContainerError``),
with any registry password masked. One executor serves one engine and one cluster.
"""

from __future__ import annotations

import calendar
import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

import docker
import docker.errors
import requests
from docker.utils import kwargs_from_env, parse_repository_tag

from clusterkit.errors import ExecutorError, NotFoundError, ValidationError
from clusterkit.executor._base import (
    HOST_ADDRESS_ATTRIBUTE,
    ContainerStatus,
    HostInfo,
    LogLine,
    TaskObservation,
    TaskUsage,
    start_order,
)
from clusterkit.executor._credentials import RegistryCredentials
from clusterkit.model import ContainerDefinition, ContainerDependency, HealthStatus, Task, TaskDefinition

__all__ = ["LABEL_CLUSTER", "LABEL_CONTAINER", "LABEL_TASK", "DockerExecutor", "PullPolicy"]

PullPolicy = Literal["default", "always", "once", "prefer-cached"]
PULL_POLICIES: Final = ("default", "always", "once", "prefer-cached")

LABEL_CLUSTER: Final = "clusterkit.cluster"
LABEL_TASK: Final = "clusterkit.task-id"
LABEL_CONTAINER: Final = "clusterkit.container-name"
_LABEL_INSTANCE: Final = "clusterkit.container-instance"
_LABEL_DEFINITION: Final = "clusterkit.task-definition"
# Every container of a task carries the task's shape, so any one of them tells it.
_LABEL_CONTAINERS: Final = "clusterkit.containers"  # all the task's containers, in start order
_LABEL_ESSENTIAL: Final = "clusterkit.essential-containers"
_LABEL_CHECKED: Final = "clusterkit.health-checked-containers"

_NANOSECONDS: Final = 1_000_000_000
_MIB: Final = 1024 * 1024
_MIN_CPU_SHARES: Final = 2  # Docker's floor; the ECS agent raises cpu 0 and 1 to it as well
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_DOCKER_STATES: Final[Mapping[str, Literal["PENDING", "RUNNING", "STOPPED"]]] = {
    "created": "PENDING",
    "running": "RUNNING",
    "paused": "RUNNING",
    "restarting": "RUNNING",
    "removing": "STOPPED",
    "exited": "STOPPED",
    "dead": "STOPPED",
}
_DOCKER_HEALTH: Final[Mapping[str, HealthStatus]] = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}


class DockerExecutor:
    """An Executor that runs containers on one Docker engine (``base_url``, or ``DOCKER_HOST``).

    ``cluster`` goes into every container's labels and scopes :meth:`tasks`; ``host_ip`` is
    the address published ports bind to (give each instance its own when several share a
    machine); ``credentials`` default to ``CLUSTERKIT_REGISTRY_AUTH``; ``start_timeout``
    bounds the wait for a dependsOn condition; the engine is spoken to at ``api_version``
    (Docker 20.10's 1.41 by default, which newer engines also accept), so the executor can
    be built while the engine is down.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        cluster: str = "default",
        host_ip: str = "0.0.0.0",
        credentials: RegistryCredentials | None = None,
        pull_policy: PullPolicy = "default",
        start_timeout: float = 120.0,
        api_timeout: float = 60.0,
        api_version: str = "1.41",
        client: docker.APIClient | None = None,
    ) -> None:
        if not isinstance(cluster, str) or not _CLUSTER_NAME.fullmatch(cluster):
            raise ValidationError("cluster", cluster, "must be 1-255 letters, digits, hyphens or underscores")
        if pull_policy not in PULL_POLICIES:
            raise ValidationError("pull_policy", pull_policy, f"must be one of {list(PULL_POLICIES)}")
        self.cluster = cluster
        self.host_ip = host_ip
        self.credentials = credentials if credentials is not None else RegistryCredentials.from_env()
        self.pull_policy = pull_policy
        self.start_timeout = start_timeout
        self.base_url = base_url or kwargs_from_env().get("base_url", "unix:///var/run/docker.sock")
        if client is None:
            with self._engine(None, "connecting to the Docker engine"):
                client = docker.APIClient(
                    base_url=self.base_url, version=api_version, timeout=int(api_timeout), max_pool_size=32
                )
        self.api = client
        self._pulled: set[str] = set()
        self._pull_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        # The engine's event stream, read by a thread once someone asks what changed.
        self._changes: set[str] | None = None
        self._watcher: threading.Thread | None = None
        self._listener: Callable[[], None] | None = None
        self._events: Any = None
        self._closed = threading.Event()

    def __repr__(self) -> str:
        return f"DockerExecutor(base_url={self.base_url!r}, cluster={self.cluster!r}, host_ip={self.host_ip!r})"

    # -- the Executor protocol ------------------------------------------------------------

    def start(self, task: Task, definition: TaskDefinition) -> TaskObservation:
        """Pull, create and start the task's containers in dependsOn order.

        Containers the task already has are adopted, not duplicated, so a start repeated
        after a crash finishes the job. If any step fails, the containers it created are
        removed and ExecutorError says what failed.
        """
        if definition.network_mode == "awsvpc":
            raise ExecutorError(task.id, "networkMode awsvpc needs a task network interface; use bridge, host or none")
        try:
            listed = self._list(task.id)
            ids = {self._name_of(c): str(c["Id"]) for c in listed}
            created = {self._name_of(c) for c in listed if c["State"] == "created"}  # made, never started
            containers = {c.name: c for c in definition.container_definitions}
            task_labels = self._task_labels(task, definition)
            for image in dict.fromkeys(c.image for c in definition.container_definitions if c.name not in ids):
                self._ensure_image(task.id, image)
            for name in start_order(definition):
                if name in ids and name not in created:
                    continue  # started before a crash: adopted as it is, never run twice
                self._await_dependencies(task.id, containers[name], ids)
                if name not in ids:
                    ids[name] = self._create(task, definition, containers[name], task_labels)
                with self._engine(task.id, f"CannotStartContainerError: {name}"):
                    self.api.start(ids[name])
        except ExecutorError:
            self._abandon(task.id)
            raise
        return self.inspect(task.id)

    def stop(self, task_id: str, *, timeout: float = 30.0) -> TaskObservation:
        """Stop the task's containers, dependents first: SIGTERM, then SIGKILL after the timeout.

        A container's own stopTimeout wins over ``timeout``. Containers that were created
        but never started are removed, since they will not start any more.
        """
        details = self._details(task_id)
        for info in reversed(details):
            state = info["State"]["Status"]
            with self._engine(task_id, f"stopping container {self._label(info, LABEL_CONTAINER)}"):
                if state == "created":
                    self.api.remove_container(info["Id"], v=True)
                elif _DOCKER_STATES.get(state) == "RUNNING":
                    own = info["Config"].get("StopTimeout")
                    self.api.stop(info["Id"], timeout=int(own if own is not None else math.ceil(timeout)))
        return self.inspect(task_id)

    def inspect(self, task_id: str) -> TaskObservation:
        """What the engine says about the task's containers; NotFoundError if it has none."""
        details = self._details(task_id)
        labels = details[0]["Config"]["Labels"]
        names = labels.get(_LABEL_CONTAINERS, "").split(",")
        seen = {self._label(info, LABEL_CONTAINER): _status(info) for info in details}
        gone = any(status.state == "STOPPED" for status in seen.values())
        statuses = [
            seen.get(name)
            or ContainerStatus(name, "STOPPED" if gone else "PENDING", reason="never started" if gone else None)
            for name in names
        ]
        return TaskObservation(
            task_id,
            tuple(statuses),
            essential=frozenset(labels.get(_LABEL_ESSENTIAL, "").split(",")),
            checked=frozenset(labels.get(_LABEL_CHECKED, "").split(",")),
        )

    def tasks(self) -> Sequence[str]:
        """Ids of the tasks of this cluster with containers on the engine, oldest first."""
        with self._engine(None, "listing containers"):
            listed = self.api.containers(all=True, filters={"label": f"{LABEL_CLUSTER}={self.cluster}"})
        listed.sort(key=lambda c: c["Created"])
        return tuple(dict.fromkeys(c["Labels"][LABEL_TASK] for c in listed))

    def logs(self, task_id: str, container: str | None = None, *, since: float | None = None) -> Sequence[LogLine]:
        """Lines the containers wrote after ``since`` (Docker's timestamps), oldest first."""
        lines: list[LogLine] = []
        for info in self._list(task_id):
            name = self._name_of(info)
            if container is not None and name != container:
                continue
            with self._engine(task_id, f"reading the logs of {name}"):
                raw = self.api.logs(info["Id"], stdout=True, stderr=True, timestamps=True, since=since or None)
            for text in raw.decode("utf-8", "replace").splitlines():
                stamp, _, message = text.partition(" ")
                at = _parse_timestamp(stamp)
                if since is None or at > since:
                    lines.append(LogLine(task_id, name, at, self.credentials.redact(message)))
        lines.sort(key=lambda line: line.at)
        return lines

    def remove(self, task_id: str) -> None:
        """Remove the task's containers; ExecutorError if one still runs (stop it first)."""
        details = self._details(task_id)
        if any(_DOCKER_STATES.get(info["State"]["Status"]) == "RUNNING" for info in details):
            raise ExecutorError(task_id, "cannot remove a task whose containers still run; stop it first")
        for info in details:
            with self._engine(task_id, "removing a container"):
                self.api.remove_container(info["Id"], v=True)

    def host(self) -> HostInfo:
        """The engine's CPUs, memory (MiB) and ECS-style attributes."""
        with self._engine(None, "reading the engine's info"):
            info = self.api.info()
        architecture = {"aarch64": "arm64"}.get(info.get("Architecture", ""), info.get("Architecture", ""))
        attributes = {
            "ecs.os-type": str(info.get("OSType", "linux")),
            "ecs.cpu-architecture": architecture,
            "clusterkit.docker-version": str(info.get("ServerVersion", "")),
        }
        if self.host_ip not in ("0.0.0.0", "::", ""):
            attributes[HOST_ADDRESS_ATTRIBUTE] = self.host_ip  # where a load balancer reaches its tasks
        return HostInfo(cpus=int(info["NCPU"]), memory_mib=int(info["MemTotal"]) // _MIB, attributes=attributes)

    def usage(self, task_id: str) -> TaskUsage | None:
        """CPU and memory the task's running containers use, from the engine's stats (``docker stats``).

        CPU comes from the difference between the engine's two samples (about a second
        apart) of the container's CPU time and the host's, times the online CPUs; memory is
        the usage minus the reclaimable page cache (``inactive_file``, or ``cache`` on
        cgroup v1). None when no container of the task runs.
        """
        cores = 0.0
        memory = 0.0
        running = False
        listed = self._list(task_id)
        if not listed:
            raise NotFoundError("task", task_id)
        for info in listed:
            if info.get("State") != "running":
                continue
            with self._engine(task_id, f"reading the stats of {self._name_of(info)}"):
                stats = self.api.stats(info["Id"], stream=False)
            if not stats.get("read") or stats["read"].startswith("0001-"):
                continue  # the container stopped between the listing and the stats
            running = True
            cores += _cpu_cores(stats)
            memory += _memory_mib(stats)
        return TaskUsage(cores, memory) if running else None

    def changed(self) -> frozenset[str] | None:
        """Tasks whose containers the engine reported events for since the last call.

        The first call starts a thread that follows the engine's event stream (container
        events of this cluster: create, start, die, oom, health_status, destroy, …) and
        returns None; so does any call after the stream broke and was reopened, since
        events may have been missed meanwhile.
        """
        with self._lock:
            if self._watcher is None or not self._watcher.is_alive():
                if self._closed.is_set():
                    return None
                self._changes = None
                self._watcher = threading.Thread(
                    target=self._follow_events, name="clusterkit-docker-events", daemon=True
                )
                self._watcher.start()
            changes, self._changes = self._changes, set()
        return None if changes is None else frozenset(changes)

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (no arguments, quickly) on each engine event about a task of this
        cluster, from the thread following the engine's events (started here if need be); None stops it.
        """
        with self._lock:
            self._listener = listener
        if listener is not None:
            self.changed()  # make sure the engine's events are followed

    def close(self) -> None:
        """Stop following the engine's events (the executor keeps working; ``changed`` then says None)."""
        self._closed.set()
        with self._lock:
            events = self._events
        if events is not None:
            with contextlib.suppress(Exception):  # a broken stream may fail to close; it is gone either way
                events.close()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _follow_events(self) -> None:
        labels = {"type": "container", "label": f"{LABEL_CLUSTER}={self.cluster}"}
        while not self._closed.is_set():
            try:
                events = self.api.events(filters=labels, decode=True)
                with self._lock:
                    self._events = events
                    self._changes = None  # connected now: what happened before it is unknown
                for event in events:
                    task_id = (event.get("Actor") or {}).get("Attributes", {}).get(LABEL_TASK)
                    if task_id is not None:
                        with self._lock:
                            if self._changes is not None:
                                self._changes.add(task_id)
                            listener = self._listener
                        if listener is not None:
                            listener()
            except Exception:  # any failure of the stream means the same: reconnect
                pass
            with self._lock:
                self._events = None
                self._changes = None
            self._closed.wait(1.0)

    # -- starting -------------------------------------------------------------------------

    def _ensure_image(self, task_id: str, image: str) -> None:
        with self._lock:
            lock = self._pull_locks.setdefault(image, threading.Lock())
        with lock:
            if self.pull_policy == "once" and image in self._pulled:
                return
            if self.pull_policy == "prefer-cached" and self._cached(task_id, image):
                return
            try:
                self._pull(task_id, image)
            except ExecutorError:
                if self.pull_policy == "default" and self._cached(task_id, image):
                    return  # ECS's default behaviour: a failed pull falls back to the cached image
                raise
            self._pulled.add(image)

    def _pull(self, task_id: str, image: str) -> None:
        repository, tag = parse_repository_tag(image)
        with self._engine(task_id, f"CannotPullContainerError: {image}"):
            for message in self.api.pull(
                repository, tag or "latest", stream=True, decode=True, auth_config=self.credentials.auth_config(image)
            ):
                if "error" in message:
                    reason = self.credentials.redact(str(message["error"]))
                    raise ExecutorError(task_id, f"CannotPullContainerError: {image}: {reason}")

    def _cached(self, task_id: str, image: str) -> bool:
        with self._engine(task_id, f"inspecting image {image}"):
            try:
                self.api.inspect_image(image)  # type: ignore[no-untyped-call]
            except docker.errors.ImageNotFound:
                return False
        return True

    def _task_labels(self, task: Task, definition: TaskDefinition) -> dict[str, str]:
        """The labels every container of the task carries: whose it is, and the task's shape."""
        containers = definition.container_definitions
        return {
            LABEL_CLUSTER: self.cluster,
            LABEL_TASK: task.id,
            _LABEL_INSTANCE: task.container_instance_id,
            _LABEL_DEFINITION: task.task_definition,
            _LABEL_CONTAINERS: ",".join(start_order(definition)),
            _LABEL_ESSENTIAL: ",".join(c.name for c in containers if c.essential),
            _LABEL_CHECKED: ",".join(c.name for c in containers if c.health_check is not None),
        }

    def _create(
        self, task: Task, definition: TaskDefinition, container: ContainerDefinition, task_labels: Mapping[str, str]
    ) -> str:
        labels = {**container.docker_labels, **task_labels, LABEL_CONTAINER: container.name}
        bindings: dict[int | str, Any] = {
            f"{b.container_port}/{b.protocol}": (self.host_ip, b.host_port)
            for b in task.host_ports
            if b.container_name == container.name
        }
        network = definition.network_mode
        host_config = self.api.create_host_config(
            port_bindings=bindings if network == "bridge" else None,
            network_mode=network,
            mem_limit=container.memory * _MIB if container.memory else None,
            mem_reservation=container.memory_reservation * _MIB if container.memory_reservation else None,
            cpu_shares=max(container.cpu, _MIN_CPU_SHARES),
        )
        with self._engine(task.id, f"CannotCreateContainerError: {container.name}"):
            try:
                created = self.api.create_container(
                    container.image,
                    command=list(container.command) if container.command is not None else None,
                    entrypoint=list(container.entry_point) if container.entry_point is not None else None,
                    environment={pair.name: pair.value for pair in container.environment},
                    labels=labels,
                    name=self._container_name(task.id, container.name),
                    ports=[(m.container_port, m.protocol) for m in container.port_mappings] or None,
                    host_config=host_config,
                    healthcheck=_healthcheck(container),
                    stop_timeout=container.stop_timeout,
                )
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: the name exists, a start before a crash made it
                    raise
                return str(self.api.inspect_container(self._container_name(task.id, container.name))["Id"])
        return str(created["Id"])

    def _await_dependencies(self, task_id: str, container: ContainerDefinition, ids: Mapping[str, str]) -> None:
        limit = container.start_timeout if container.start_timeout is not None else self.start_timeout
        deadline = time.monotonic() + limit
        for dependency in container.depends_on:
            while not self._satisfied(task_id, container.name, dependency, ids[dependency.container_name]):
                if time.monotonic() > deadline:
                    raise ExecutorError(
                        task_id,
                        f"DependencyTimeout: {container.name} waited {limit:g}s for "
                        f"{dependency.container_name} to be {dependency.condition}",
                    )
                time.sleep(0.1)

    def _satisfied(self, task_id: str, name: str, dependency: ContainerDependency, container_id: str) -> bool:
        with self._engine(task_id, f"inspecting {dependency.container_name}"):
            status = _status(self.api.inspect_container(container_id))
        condition, other = dependency.condition, dependency.container_name
        if condition == "START":
            return status.state != "PENDING"
        if condition == "HEALTHY":
            if status.state == "STOPPED" or status.health == "UNHEALTHY":
                raise ExecutorError(task_id, f"DependencyFailed: {name} needs {other} HEALTHY, it is {status.health}")
            return status.health == "HEALTHY"
        if status.state != "STOPPED":
            return False
        if condition == "SUCCESS" and status.exit_code != 0:
            raise ExecutorError(
                task_id, f"DependencyFailed: {name} needs {other} to succeed, it exited {status.exit_code}"
            )
        return True

    def _abandon(self, task_id: str) -> None:
        """Best effort: remove what a failed start left behind (the engine may be gone)."""
        try:
            for info in self._list(task_id):
                self.api.remove_container(info["Id"], force=True, v=True)
        except (ExecutorError, docker.errors.DockerException, requests.RequestException):
            pass  # the agent stops leftovers of STOPPED tasks when the engine is back

    # -- reading --------------------------------------------------------------------------

    def _list(self, task_id: str) -> list[dict[str, Any]]:
        with self._engine(task_id, "listing the task's containers"):
            listed: list[dict[str, Any]] = self.api.containers(
                all=True, filters={"label": [f"{LABEL_CLUSTER}={self.cluster}", f"{LABEL_TASK}={task_id}"]}
            )
        return listed

    def _details(self, task_id: str) -> list[dict[str, Any]]:
        """The task's containers, inspected, in start order; NotFoundError if there are none."""
        listed = self._list(task_id)
        if not listed:
            raise NotFoundError("task", task_id)
        with self._engine(task_id, "inspecting the task's containers"):
            details = [self.api.inspect_container(c["Id"]) for c in listed]
        order = details[0]["Config"]["Labels"].get(_LABEL_CONTAINERS, "").split(",")
        details.sort(key=lambda info: order.index(name) if (name := self._label(info, LABEL_CONTAINER)) in order else 0)
        return details

    @staticmethod
    def _label(info: Mapping[str, Any], label: str) -> str:
        return str(info["Config"]["Labels"].get(label, ""))

    @staticmethod
    def _name_of(listed: Mapping[str, Any]) -> str:
        return str(listed["Labels"].get(LABEL_CONTAINER, ""))

    def _container_name(self, task_id: str, container: str) -> str:
        return f"ck-{self.cluster}-{task_id}-{container}"

    @contextlib.contextmanager
    def _engine(self, task_id: str | None, doing: str) -> Iterator[None]:
        """Turn docker-py's errors into ExecutorError naming what was being done."""
        try:
            yield
        except (ExecutorError, NotFoundError):
            raise
        except docker.errors.APIError as error:
            detail = error.explanation if isinstance(error.explanation, str) else str(error)
            raise ExecutorError(task_id, f"{doing}: {self.credentials.redact(detail)}") from error
        except (docker.errors.DockerException, requests.RequestException) as error:
            detail = self.credentials.redact(f"{type(error).__name__}: {error}")
            raise ExecutorError(task_id, f"{doing}: the Docker engine is unreachable ({detail})") from error


def _cpu_cores(stats: Mapping[str, Any]) -> float:
    """Cores used between the two samples of one stats answer (0 when the engine gave only one)."""
    now, before = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = now.get("cpu_usage", {}).get("total_usage", 0) - before.get("cpu_usage", {}).get("total_usage", 0)
    elapsed = now.get("system_cpu_usage", 0) - before.get("system_cpu_usage", 0)
    if used <= 0 or elapsed <= 0 or not before.get("system_cpu_usage"):
        return 0.0
    cpus = now.get("online_cpus") or len(now.get("cpu_usage", {}).get("percpu_usage") or ()) or 1
    return float(used) / float(elapsed) * float(cpus)


def _memory_mib(stats: Mapping[str, Any]) -> float:
    """The working set in MiB: usage minus the page cache the kernel may reclaim."""
    memory = stats.get("memory_stats") or {}
    usage = float(memory.get("usage", 0))
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0)))
    return max(0.0, usage - float(cache)) / _MIB


def _status(info: Mapping[str, Any]) -> ContainerStatus:
    state = info["State"]
    ecs_state = _DOCKER_STATES.get(state["Status"], "PENDING")
    health = _DOCKER_HEALTH.get((state.get("Health") or {}).get("Status", ""), "UNKNOWN")
    exit_code: int | None = None
    reason: str | None = None
    if ecs_state == "STOPPED":
        exit_code = int(state.get("ExitCode", 0))
        if state.get("OOMKilled"):
            reason = "OutOfMemoryError: Container killed due to memory usage"
        elif state.get("Error"):
            reason = str(state["Error"])
    return ContainerStatus(str(info["Config"]["Labels"].get(LABEL_CONTAINER, "")), ecs_state, exit_code, health, reason)


def _healthcheck(container: ContainerDefinition) -> dict[str, Any] | None:
    check = container.health_check
    if check is None:
        return None
    return {
        "test": list(check.command),
        "interval": check.interval * _NANOSECONDS,
        "timeout": check.timeout * _NANOSECONDS,
        "retries": check.retries,
        "start_period": (check.start_period or 0) * _NANOSECONDS,
    }


def _parse_timestamp(stamp: str) -> float:
    """Docker's RFC 3339 timestamp with nanoseconds (``2026-11-25T02:52:02.123456789Z``) → epoch seconds."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return time.time()
    return seconds + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)
