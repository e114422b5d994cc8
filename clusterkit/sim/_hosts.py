"""The hosts, simulated: the reports their agents would send, as commits.

A placed task reports RUNNING ``start_delay`` seconds after it shows up (HEALTHY too, when
its task definition has a health check); a batch task exits ``duration`` seconds after it
started; a task told to stop reports STOPPED ``stop_delay`` seconds later. Crashes and
unhealthy spells, the workload's, strike RUNNING tasks of a service drawn with the run's
seeded random numbers. The hosts learn of tasks from the state's events only.
"""

from __future__ import annotations

import functools
import random

from clusterkit.api import ClusterState
from clusterkit.model import PENDING_STATUSES, Task
from clusterkit.services import has_health_check
from clusterkit.sim._bus import Bus
from clusterkit.sim._clock import Timeline
from clusterkit.state import Event, TaskChanged

__all__ = ["Hosts"]

_FINISH_REASON = "Essential container in task exited: app (exit code 0)"
_CRASH_REASON = "Essential container in task exited: app (exit code 1)"


class Hosts:
    """The agents of every instance: they start, finish and stop tasks, and fall ill when told.

    ``finished`` counts the batch tasks that ran to their end, ``lost`` those stopped before
    (their instance went).
    """

    __slots__ = ("_bus", "_checked", "_durations", "_rng", "_state", "_time", "_tracked", "finished", "lost",
                 "start_delay", "stop_delay")  # fmt: skip

    def __init__(
        self, state: ClusterState, time: Timeline, bus: Bus, rng: random.Random, start_delay: float, stop_delay: float
    ) -> None:
        self._state = state
        self._time = time
        self._bus = bus
        self._rng = rng
        self.start_delay = start_delay
        self.stop_delay = stop_delay
        self._durations: dict[str, float] = {}  # batch task id → its run time, until it stops
        self._tracked: set[str] = set()  # tasks with a start or stop on the way
        self._checked: dict[str, bool] = {}  # task definition → whether it has a health check
        self.finished = 0
        self.lost = 0

    def run_for(self, task_id: str, duration: float) -> None:
        """A batch task was placed: once RUNNING, it exits after ``duration`` seconds."""
        self._durations[task_id] = duration

    def running_batch(self) -> bool:
        """True while some batch task is placed and not stopped."""
        return bool(self._durations)

    def notice(self, events: list[Event]) -> None:
        """React to the tasks the commits changed: set their start or stop on the way."""
        for event in events:
            if isinstance(event, TaskChanged):
                self._changed(event.task)

    def _changed(self, task: Task) -> None:
        if task.is_stopped:
            self._tracked.discard(task.id)
            if self._durations.pop(task.id, None) is not None:
                self.lost += 1  # stopped before its run was over: its instance went
            return
        if task.id in self._tracked:
            return
        if task.desired_status == "STOPPED" and task.last_status != "DEACTIVATING":
            self._tracked.add(task.id)
            self._time.after(self.stop_delay, functools.partial(self._stop, task.id))
        elif task.last_status in PENDING_STATUSES:
            self._tracked.add(task.id)
            self._time.after(self.start_delay, functools.partial(self._start, task.id))

    def _start(self, task_id: str) -> None:
        self._tracked.discard(task_id)
        task = self._state.snapshot().task(task_id)
        if task.is_stopped or task.last_status not in PENDING_STATUSES:
            return
        if task.desired_status == "STOPPED":
            self._stop(task_id)
            return
        healthy = self._has_health_check(task.task_definition)
        self._bus.report(task, last_status="RUNNING", health_status="HEALTHY" if healthy else None)
        duration = self._durations.get(task_id)
        if duration is not None:
            self._time.after(duration, functools.partial(self._finish, task_id))

    def _finish(self, task_id: str) -> None:
        task = self._state.snapshot().task(task_id)
        if task.is_stopped:
            return
        self._durations.pop(task_id, None)
        self.finished += 1
        self._bus.report(task, last_status="STOPPED", stop_code="EssentialContainerExited",
                         stopped_reason=_FINISH_REASON)  # fmt: skip

    def _stop(self, task_id: str) -> None:
        self._tracked.discard(task_id)
        task = self._state.snapshot().task(task_id)
        if not task.is_stopped:
            self._bus.report(task, last_status="STOPPED")

    def _has_health_check(self, task_definition: str) -> bool:
        known = self._checked.get(task_definition)
        if known is None:
            definition = self._state.snapshot().task_definition(task_definition)
            known = self._checked[task_definition] = has_health_check(definition)
        return known

    def crash(self, service: str, count: int) -> None:
        """``count`` RUNNING tasks of ``service`` (as many as run, if fewer) exit with an error."""
        for task in self._strike(service, count):
            self._bus.report(task, last_status="STOPPED", stop_code="EssentialContainerExited",
                             stopped_reason=_CRASH_REASON)  # fmt: skip

    def fall_ill(self, service: str, count: int, duration: float) -> None:
        """``count`` RUNNING tasks of ``service`` fail their health check for ``duration`` seconds."""
        for task in self._strike(service, count):
            self._bus.report(task, health_status="UNHEALTHY")
            self._time.after(duration, functools.partial(self._recover, task.id))

    def _strike(self, service: str, count: int) -> list[Task]:
        running = sorted(
            (task for task in self._state.snapshot().service_tasks(service) if task.last_status == "RUNNING"),
            key=lambda task: task.id,
        )
        return self._rng.sample(running, min(count, len(running)))

    def _recover(self, task_id: str) -> None:
        task = self._state.snapshot().task(task_id)
        if not task.is_stopped and task.health_status == "UNHEALTHY":
            self._bus.report(task, health_status="HEALTHY")
