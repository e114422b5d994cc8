"""The host agent: makes the tasks placed on one container instance real through an executor.

Like the ECS container agent (and the kubelet), it is *level-triggered*: each ``step``
reads a fresh snapshot, compares the tasks assigned to its instance with what the
executor holds, and closes the gap — start what should run, stop what should not, report
every status change back with the task's version. Events only wake it sooner; a missed
event, a restart or a failed report is mended by the next step. After a restart it finds
its containers through the executor (no duplicates, no orphans, nothing left PENDING).
"""

from __future__ import annotations

import threading

from clusterkit.errors import ClusterkitError, ExecutorError, NotFoundError, StaleVersionError
from clusterkit.executor.base import Executor, TaskObservation
from clusterkit.model.task import HealthStatus, StopCode, Task, TaskStatus
from clusterkit.state.changes import UpdateInstance
from clusterkit.state.cluster import ClusterState
from clusterkit.state.snapshot import Snapshot

__all__ = ["Agent"]


class Agent:
    """Runs the tasks that ``state`` assigns to ``instance_id`` on ``executor``."""

    def __init__(self, state: ClusterState, executor: Executor, instance_id: str) -> None:
        self.state = state
        self.executor = executor
        self.instance_id = instance_id
        self._stop = threading.Event()

    def heartbeat(self) -> None:
        """Mark the instance's agent connected (ECS agentConnected) if it was not."""
        instance = self.state.snapshot().instance(self.instance_id)
        if not instance.agent_connected:
            self.state.commit([UpdateInstance(self.instance_id, agent_connected=True)])

    def step(self) -> list[Task]:
        """One pass: start, stop and report until the executor matches the state.

        Returns the tasks whose status it reported.
        """
        snapshot = self.state.snapshot()
        held = set(self.executor.tasks())
        reported: list[Task] = []
        assigned: set[str] = set()
        for task in snapshot.tasks_on(self.instance_id):
            assigned.add(task.id)
            update = self._reconcile(snapshot, task, task.id in held)
            if update is not None:
                reported.append(update)
        for task_id in held - assigned:  # containers of tasks the state no longer runs here
            if self.executor.inspect(task_id).last_status != "STOPPED":
                self.executor.stop(task_id)
        return reported

    def _reconcile(self, snapshot: Snapshot, task: Task, started: bool) -> Task | None:
        if task.desired_status == "STOPPED":
            if started:
                self.executor.stop(task.id)
            return self._report(task, "STOPPED")
        if not started:
            try:
                observed = self.executor.start(task, snapshot.task_definition(task.task_definition))
            except ExecutorError as error:
                return self._report(task, "STOPPED", stop_code="TaskFailedToStart", reason=error.reason)
        else:
            observed = self.executor.inspect(task.id)
        return self._report_observed(task, observed)

    def _report_observed(self, task: Task, observed: TaskObservation) -> Task | None:
        if observed.last_status == "STOPPED":
            exited = observed.stopped_container
            reason = "Essential container in task exited"
            if exited is not None:
                reason = f"Essential container in task exited: {exited.name} (exit code {exited.exit_code})"
            return self._report(task, "STOPPED", stop_code="EssentialContainerExited", reason=reason)
        status: TaskStatus | None = "RUNNING" if observed.last_status == "RUNNING" else None
        if status == task.last_status:
            status = None
        health = observed.health if observed.health != task.health_status else None
        if status is None and health is None:
            return None
        return self._report(task, status, health=health)

    def _report(
        self,
        task: Task,
        status: TaskStatus | None,
        *,
        health: HealthStatus | None = None,
        stop_code: StopCode | None = None,
        reason: str | None = None,
    ) -> Task | None:
        try:
            return self.state.submit_task_state_change(
                task.id,
                version=task.version,
                status=status,
                health_status=health,
                stop_code=stop_code if task.stop_code is None else None,
                reason=reason,
            )
        except (StaleVersionError, NotFoundError):
            return None  # the task moved on meanwhile: the next step sees its new version

    def run(self, *, interval: float = 1.0) -> None:
        """Step until :meth:`close`: at once on each commit, and every ``interval`` seconds."""
        with self.state.subscribe() as events:
            while not self._stop.is_set():
                self.heartbeat()
                self.step()
                try:
                    events.get(timeout=interval)
                    events.drain()
                except ClusterkitError:
                    events.resync()  # fell behind: the next step reads a fresh snapshot anyway

    def close(self) -> None:
        """Ask :meth:`run` to return after its current step."""
        self._stop.set()
