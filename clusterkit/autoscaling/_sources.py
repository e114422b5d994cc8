"""Where the metrics autoscaling acts on come from, behind one small protocol.

A ``MetricSource`` answers one question: the value of ``metric`` for ``service`` now
(None when it cannot tell). Three ship here:

* ``ExecutorStatsSource`` (alias ``DockerStatsSource``) reads what each RUNNING task of the
  service uses through the executor of the task's instance (``Executor.usage``; on Docker,
  the engine's container stats) and gives ECS's service utilisation: CPU units used by the
  RUNNING tasks over the CPU units they reserve, × 100 (1024 units are one core); memory
  likewise against the memory they reserve.
* ``FedMetrics`` holds values users (or a load balancer's counters) put in.
* ``SimulatedLoad`` spreads a load, a function of (simulated) time, over the RUNNING tasks.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from clusterkit.autoscaling._policies import CPU_UTILIZATION, MEMORY_UTILIZATION
from clusterkit.errors import ClusterkitError, ValidationError
from clusterkit.executor import Executor, TaskUsage
from clusterkit.model import Task
from clusterkit.state import Snapshot

__all__ = [
    "DockerStatsSource",
    "ExecutorStatsSource",
    "FedMetrics",
    "MetricSource",
    "SimulatedLoad",
    "running_tasks",
    "utilization",
]


class MetricSource(Protocol):
    """Gives the value of a metric of a service at a time."""

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """The value of ``metric`` for ``service`` at ``now``; None when there is none (no data)."""
        ...


def running_tasks(snapshot: Snapshot, service: str) -> list[Task]:
    """The service's tasks that are RUNNING and meant to keep running: those ECS averages over."""
    record = snapshot.service(service)
    return [
        task
        for task in snapshot.service_tasks_holding(record)
        if task.last_status == "RUNNING" and task.desired_status == "RUNNING"
    ]


def utilization(usages: Iterable[tuple[Task, TaskUsage]], metric: str) -> float | None:
    """ECS's service utilisation in percent: what the tasks use over what they reserve, × 100.

    CPU in CPU units (``TaskUsage.cpu_units`` against ``Task.charge.cpu``), memory in MiB
    against ``Task.charge.memory``. None for another metric, or when they reserve nothing.
    """
    used = reserved = 0.0
    for task, usage in usages:
        if metric == CPU_UTILIZATION:
            used, reserved = used + usage.cpu_units, reserved + task.charge.cpu
        elif metric == MEMORY_UTILIZATION:
            used, reserved = used + usage.memory_mib, reserved + task.charge.memory
        else:
            return None
    return used / reserved * 100 if reserved > 0 else None


class ExecutorStatsSource:
    """CPU and memory utilisation of a service from its RUNNING tasks' usage, read through executors.

    ``executors`` maps an instance id to the executor running its tasks (a live mapping:
    instances added later are seen). The tasks are read in parallel (a Docker engine takes
    about a second to answer a task's stats); the usages read at one ``now`` serve every
    metric asked at that time. A task whose executor cannot answer is left out.
    """

    def __init__(self, executors: Mapping[str, Executor], *, parallel: int = 8) -> None:
        if type(parallel) is not int or parallel < 1:
            raise ValidationError("parallel", parallel, "must be a whole number >= 1")
        self.executors = executors
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="usage")
        self._cache: dict[str, TaskUsage | None] = {}
        self._cached_at: float | None = None
        self._lock = threading.Lock()

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """The service's CPU or memory utilisation now (None for other metrics or without tasks)."""
        if metric not in (CPU_UTILIZATION, MEMORY_UTILIZATION):
            return None
        tasks = running_tasks(snapshot, service)
        usages = self._usages(tasks, now)
        read = [(task, usage) for task in tasks if (usage := usages[task.id]) is not None]
        return utilization(read, metric)

    def _usages(self, tasks: list[Task], now: float) -> dict[str, TaskUsage | None]:
        with self._lock:
            if self._cached_at != now:
                self._cache, self._cached_at = {}, now
            missing = [task for task in tasks if task.id not in self._cache]
        read = dict(zip((t.id for t in missing), self._pool.map(self._read, missing), strict=True))
        with self._lock:
            self._cache.update(read)
            return {task.id: self._cache.get(task.id) for task in tasks}

    def _read(self, task: Task) -> TaskUsage | None:
        executor = self.executors.get(task.container_instance_id)
        if executor is None:
            return None
        try:
            return executor.usage(task.id)
        except ClusterkitError:
            return None  # the engine is away or the task just went: no datapoint from it

    def close(self) -> None:
        """Stop the reading threads."""
        self._pool.shutdown(wait=False)


DockerStatsSource = ExecutorStatsSource
"""The Docker engine's container stats, through ``DockerExecutor.usage``: an ``ExecutorStatsSource``."""


class FedMetrics:
    """Metric values users put in; each stays the value until the next ``put`` (or ``clear``).

    >>> fed = FedMetrics()
    >>> fed.put("web", "QueueDepth", 42.0)
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def put(self, service: str, metric: str, value: float) -> None:
        """Set the value of ``metric`` for ``service``."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError("value", value, "must be a finite number")
        with self._lock:
            self._values[(service, metric)] = float(value)

    def clear(self, service: str, metric: str) -> None:
        """Forget the value: the metric has no data from now on."""
        with self._lock:
            self._values.pop((service, metric), None)

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """The value put last (None if none was)."""
        with self._lock:
            return self._values.get((service, metric))


class SimulatedLoad:
    """A load that is a function of time, spread evenly over a service's RUNNING tasks.

    ``load(now)`` is the demand in tasks' worth: 3.5 keeps three and a half tasks fully busy,
    so over 5 RUNNING tasks each is at 70 %. Answers for ``metrics`` (CPU utilisation by
    default) of ``services`` (all when None); no RUNNING task, no data.
    """

    def __init__(
        self,
        load: Callable[[float], float],
        *,
        metrics: Collection[str] = (CPU_UTILIZATION,),
        services: Collection[str] | None = None,
    ) -> None:
        self.load = load
        self.metrics = frozenset(metrics)
        self.services = None if services is None else frozenset(services)

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """100 × load / RUNNING tasks."""
        if metric not in self.metrics or (self.services is not None and service not in self.services):
            return None
        running = len(running_tasks(snapshot, service))
        return 100.0 * self.load(now) / running if running else None
