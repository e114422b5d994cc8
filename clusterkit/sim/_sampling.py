"""What the run measures over time: samples of the cluster, instance-hours, services short of tasks.

The registered instances are known from the state's events; everything else is read from
a snapshot when it is measured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from clusterkit.api import ClusterState
from clusterkit.sim._clock import Timeline
from clusterkit.sim._metrics import Sample
from clusterkit.state import ContainerInstanceChanged, Event, Snapshot

__all__ = ["Sampling"]

_TOTALS = ("instances", "instances_in_use", "cpu_registered", "cpu_allocated", "memory_registered",
           "memory_allocated", "running_tasks", "stranded_cpu", "stranded_memory")  # fmt: skip


class Sampling:
    """The samples taken (``samples``), the instances registered integrated over time
    (``instance_seconds``) and, per service, the seconds its RUNNING tasks were fewer than
    its desired count (``below``).
    """

    __slots__ = ("_registered", "_state", "_time", "below", "instance_seconds", "samples")

    def __init__(self, state: ClusterState, time: Timeline) -> None:
        self._state = state
        self._time = time
        self._registered: set[str] = set()  # instances not INACTIVE
        self.instance_seconds = 0.0
        self.below: dict[str, float] = {}
        self.samples: list[Sample] = []

    def notice(self, events: list[Event]) -> None:
        """Keep track of the instances registered."""
        for event in events:
            if isinstance(event, ContainerInstanceChanged):
                if event.instance.status == "INACTIVE":
                    self._registered.discard(event.instance.id)
                else:
                    self._registered.add(event.instance.id)

    def instances_up(self) -> int:
        """How many instances are registered (not INACTIVE), as the events so far tell."""
        return len(self._registered)

    def elapse(self, until: float) -> None:
        """Time moves on from now to ``until``: count the instance-seconds."""
        self.instance_seconds += (until - self._time.now) * len(self._registered)

    def tally_services(self, interval: float) -> None:
        """After a service scheduler's pass: ``interval`` more seconds below desired for each service short of tasks."""
        snapshot = self._state.snapshot()
        for service in snapshot.services():
            if service.status != "ACTIVE" or service.scheduling_strategy != "REPLICA":
                continue
            running = sum(1 for task in snapshot.service_tasks(service.name) if task.last_status == "RUNNING")
            if running < service.desired_count:
                self.below[service.name] = self.below.get(service.name, 0.0) + interval

    def sample(self, snapshot: Snapshot, shapes: Collection[tuple[int, int]], pending: int) -> Sample:
        """Sample the cluster as ``snapshot`` shows it; ``shapes`` are those of the ``pending`` batch tasks."""
        totals = Counter[str]()
        for instance in snapshot.instances():
            if instance.status == "INACTIVE":
                continue
            registered, remaining = instance.registered, instance.remaining
            totals["instances"] += 1
            totals["cpu_registered"] += registered.cpu
            totals["memory_registered"] += registered.memory
            totals["cpu_allocated"] += registered.cpu - remaining.cpu
            totals["memory_allocated"] += registered.memory - remaining.memory
            holding = instance.running_tasks_count + instance.pending_tasks_count
            totals["running_tasks"] += instance.running_tasks_count
            totals["instances_in_use"] += 1 if holding else 0
            if shapes and instance.status == "ACTIVE":
                fits = any(cpu <= remaining.cpu and memory <= remaining.memory for cpu, memory in shapes)
                if not fits:
                    totals["stranded_cpu"] += remaining.cpu
                    totals["stranded_memory"] += remaining.memory
        sample = Sample(time=self._time.now, pending_tasks=pending, **{name: totals[name] for name in _TOTALS})
        self.samples.append(sample)
        return sample
