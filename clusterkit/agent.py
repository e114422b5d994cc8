"""The host agent: makes the tasks placed on one container instance real through an executor.

Like the ECS container agent (and the kubelet), it is *level-triggered*: each ``step``
reads a fresh snapshot, compares the tasks assigned to its instance with what the
executor holds, and closes the gap — start what should run, stop what should not, report
every status change back with the task's version. Events only wake it sooner; a missed
event, a restart or a failed report is mended by the next step. After a restart it finds
its containers through the executor (no duplicates, no orphans, nothing left PENDING).
A DEACTIVATING task (one of a service with load balancers, being drained) keeps running
until ``clusterkit.balancing`` moves it on to STOPPING; only its containers' own exit
stops it sooner.

When the engine cannot be reached, the agent marks its instance disconnected (schedulers
stop placing there), fails the launches it cannot make with ``TaskFailedToStart`` and the
engine's error as the reason, and reconnects by itself once the engine answers again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from clusterkit.api import ClusterState
from clusterkit.errors import (
    ExecutorError,
    NotFoundError,
    StaleVersionError,
    ValidationError,
)
from clusterkit.executor import Executor, TaskObservation
from clusterkit.logs import LogStore
from clusterkit.model import DEFAULT_RESERVED_PORTS, HealthStatus, StopCode, Task, TaskStatus, check_instance
from clusterkit.state import AgentLease, LeaseStore, Snapshot, UpdateInstance, new_id, run_loop

__all__ = ["DEFAULT_CLEANUP_WAIT", "Agent"]

_CPU_UNITS_PER_CORE = 1024
DEFAULT_CLEANUP_WAIT: Final = 3 * 3600.0
"""Seconds a stopped task's containers stay on the host: the ECS agent's default (3 hours)."""


class Agent:
    """Runs the tasks that ``state`` assigns to ``instance_id`` on ``executor``.

    ``workers`` tasks are launched at once (image pulls and container starts overlap);
    ``stop_timeout`` is the grace period between SIGTERM and SIGKILL for containers
    without a stopTimeout of their own; with a ``log_store``, each step collects the new
    lines of the instance's containers into it. A running task whose containers matched
    the state is inspected again only when the executor says it changed (``changed()``,
    the engine's events) and, whatever it says, every ``resync_interval`` seconds. Each step
    heartbeats: the instance's ``last_heartbeat_at`` is stamped at most every
    ``heartbeat_interval`` seconds of the state's clock (and whenever ``agentConnected``
    changes), so a ``LivenessMonitor`` can tell a silent agent. On a store that keeps
    leases (``EtcdStore``) the agent also holds one for its instance, with a TTL of
    ``liveness_ttl`` seconds, renewed from a thread from its first step (or registration)
    until :meth:`close`: if its process dies, the lease runs out and monitors see it at once.

    The containers of a stopped task stay on the host for ``cleanup_wait`` seconds of the
    state's clock after the task stopped (its ``stoppedAt``, or when the agent first saw its
    containers stopped), so they can be inspected and their last log lines collected; then
    the agent removes them, as the ECS agent does after ``ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION``
    (3 hours by default). ``float("inf")`` keeps them.
    """

    def __init__(
        self,
        state: ClusterState,
        executor: Executor,
        instance_id: str,
        *,
        log_store: LogStore | None = None,
        workers: int = 8,
        stop_timeout: float = 30.0,
        resync_interval: float = 30.0,
        heartbeat_interval: float = 10.0,
        liveness_ttl: int = 10,
        cleanup_wait: float = DEFAULT_CLEANUP_WAIT,
    ) -> None:
        check_instance("executor", executor, "start")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValidationError("workers", workers, "must be a positive integer")
        if isinstance(heartbeat_interval, bool) or not isinstance(heartbeat_interval, (int, float)):
            raise ValidationError("heartbeat_interval", heartbeat_interval, "must be a number of seconds")
        if isinstance(cleanup_wait, bool) or not isinstance(cleanup_wait, (int, float)) or not cleanup_wait >= 0:
            raise ValidationError("cleanup_wait", cleanup_wait, "must be a number of seconds >= 0")
        self.state = state
        self.executor = executor
        self.instance_id = instance_id
        self.log_store = log_store
        self.stop_timeout = stop_timeout
        self.resync_interval = resync_interval
        self.heartbeat_interval = float(heartbeat_interval)
        self.liveness_ttl = liveness_ttl
        self.cleanup_wait = float(cleanup_wait)
        self._lease: AgentLease | None = None
        #: The engine's last error, while it cannot be reached; None when it answers.
        self.engine_error: str | None = None
        #: Why the last step of :meth:`run` failed in the store (etcd away); None once one succeeds.
        self.store_error: str | None = None
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._held: set[str] = set()  # tasks with containers: the last listing, plus starts since
        self._settled: dict[str, float] = {}  # held tasks seen all stopped → when they stopped (state's clock)
        self._drained: set[str] = set()  # settled tasks whose last log lines were collected
        self._log_marks: dict[str, float] = {}  # task id → time of the newest line collected
        self._quiet: dict[str, int] = {}  # task id → task version its containers last matched
        self._resynced = float("-inf")  # when every task was last inspected
        self._stop = threading.Event()
        self._wake = threading.Event()  # set: the run loop steps now

    @classmethod
    def register(
        cls,
        state: ClusterState,
        executor: Executor,
        *,
        instance_id: str | None = None,
        reserved_cpu: int = 0,
        reserved_memory: int = 0,
        reserved_ports: Iterable[int] = DEFAULT_RESERVED_PORTS,
        attributes: Mapping[str, str | None] | None = None,
        log_store: LogStore | None = None,
        workers: int = 8,
        stop_timeout: float = 30.0,
        resync_interval: float = 30.0,
        heartbeat_interval: float = 10.0,
        liveness_ttl: int = 10,
        cleanup_wait: float = DEFAULT_CLEANUP_WAIT,
    ) -> Agent:
        """Register the executor's host as a container instance and return its agent.

        The instance offers the host's CPUs × 1024 units and its memory in MiB, less
        ``reserved_cpu`` and ``reserved_memory`` (ECS_RESERVED_MEMORY) kept for the host
        itself; the engine's attributes (``ecs.os-type``, ``ecs.cpu-architecture``, …) are
        merged with ``attributes``. An ``instance_id`` that is already registered and
        ACTIVE is taken over as it is: that is how an agent restarts.
        """

        def agent(instance: str) -> Agent:
            return cls(
                state,
                executor,
                instance,
                log_store=log_store,
                workers=workers,
                stop_timeout=stop_timeout,
                resync_interval=resync_interval,
                heartbeat_interval=heartbeat_interval,
                liveness_ttl=liveness_ttl,
                cleanup_wait=cleanup_wait,
            )

        if instance_id is not None:
            try:
                if state.snapshot().instance(instance_id).status != "INACTIVE":
                    return agent(instance_id)
            except NotFoundError:
                pass
        host = executor.host()
        cpu = host.cpus * _CPU_UNITS_PER_CORE - reserved_cpu
        memory = host.memory_mib - reserved_memory
        if reserved_cpu < 0 or cpu <= 0:
            raise ValidationError("reserved_cpu", reserved_cpu, f"must leave some of the host's {host.cpus} CPUs")
        if reserved_memory < 0 or memory <= 0:
            raise ValidationError("reserved_memory", reserved_memory, f"must leave some of {host.memory_mib} MiB")
        registering = agent(instance_id if instance_id is not None else new_id())
        registering.hold_lease()  # live before its instance exists: no monitor sees it silent
        try:
            state.register_container_instance(
                registering.instance_id,
                cpu=cpu,
                memory=memory,
                attributes={**host.attributes, **(attributes or {})},
                reserved_ports=reserved_ports,
            )
        except BaseException:
            registering.close()
            raise
        return registering

    def hold_lease(self) -> None:
        """On a store that keeps leases, take one for the instance unless held (each step does)."""
        store = self.state.store
        if self._lease is None and isinstance(store, LeaseStore):
            self._lease = store.keep_alive(self.instance_id, self.liveness_ttl)

    def heartbeat(self) -> None:
        """Tell the state the agent is alive, and whether it can work (ECS agentConnected:
        true while the engine answers).

        Commits only when ``agentConnected`` changes or the last heartbeat is
        ``heartbeat_interval`` seconds old, not on every step.
        """
        instance = self.state.snapshot().instance(self.instance_id)
        if instance.status == "INACTIVE":
            return
        connected = self.engine_error is None
        heard = instance.last_heartbeat_at
        due = heard is None or self.state.clock() - heard >= self.heartbeat_interval
        if due or instance.agent_connected != connected:
            self.state.commit([UpdateInstance(self.instance_id, agent_connected=connected, heartbeat=True)])

    def step(self) -> list[Task]:
        """One pass: start, stop and report until the executor matches the state.

        Returns the tasks whose status it reported.
        """
        snapshot = self.state.snapshot()
        self._forget_quiet_changes()
        self._list_held()
        self.hold_lease()
        self.heartbeat()
        assigned = {task.id: task for task in snapshot.tasks_on(self.instance_id)}
        launches = [t for t in assigned.values() if t.id not in self._held and t.desired_status != "STOPPED"]
        others = [t for t in assigned.values() if t.id in self._held or t.desired_status == "STOPPED"]
        reported = [update for task in others if (update := self._reconcile(snapshot, task)) is not None]
        if len(launches) > 1:
            pool = self._pool or ThreadPoolExecutor(self._workers, thread_name_prefix="clusterkit-agent")
            self._pool = pool
            updates = list(pool.map(lambda task: self._reconcile(snapshot, task), launches))
        else:
            updates = [self._reconcile(snapshot, task) for task in launches]
        reported.extend(update for update in updates if update is not None)
        for task_id in self._held - assigned.keys() - self._settled.keys():  # tasks this instance no longer runs
            self._stop_leftovers(snapshot, task_id)
        if self.log_store is not None:
            self.collect_logs()
        self._clean_up()
        return reported

    def collect_logs(self) -> None:
        """Copy the new log lines of the instance's containers into the log store."""
        if self.log_store is None:
            return
        for task_id in sorted(self._held):
            if task_id in self._drained:
                continue  # stopped, and its last lines were collected after it stopped
            settled = task_id in self._settled
            try:
                lines = self.executor.logs(task_id, since=self._log_marks.get(task_id))
            except (ExecutorError, NotFoundError):
                continue
            self.log_store.append(lines)
            self._log_marks[task_id] = max([self._log_marks.get(task_id, 0.0), *(line.at for line in lines)])
            if settled:
                self._drained.add(task_id)

    def _clean_up(self) -> None:
        """Remove the containers of tasks stopped ``cleanup_wait`` seconds ago (their logs collected)."""
        now = self.state.clock()
        for task_id, stopped in list(self._settled.items()):
            if now - stopped < self.cleanup_wait or (self.log_store is not None and task_id not in self._drained):
                continue
            try:
                self.executor.remove(task_id)
            except (ExecutorError, NotFoundError):
                continue  # the engine is away, or they are gone already: the listing tells
            self._held.discard(task_id)
            self._forget(task_id)

    def _forget_quiet_changes(self) -> None:
        """Drop from the quiet tasks those the executor saw change (all of them now and then)."""
        try:
            changed = self.executor.changed()
        except ExecutorError:
            changed = None
        now = time.monotonic()
        if changed is None or now - self._resynced >= self.resync_interval:
            self._quiet.clear()
            self._resynced = now
        else:
            for task_id in changed:
                self._quiet.pop(task_id, None)

    def _list_held(self) -> None:
        try:
            held = set(self.executor.tasks())
        except ExecutorError as error:
            self.engine_error = error.reason  # keep working from what was last seen
            return
        self.engine_error = None
        self._held = held
        for task_id in [*self._settled.keys() - held, *self._drained - held]:
            self._forget(task_id)  # its containers were removed
        self._log_marks = {task_id: mark for task_id, mark in self._log_marks.items() if task_id in held}
        self._quiet = {task_id: version for task_id, version in self._quiet.items() if task_id in held}

    def _forget(self, task_id: str) -> None:
        self._settled.pop(task_id, None)
        self._drained.discard(task_id)
        self._log_marks.pop(task_id, None)
        self._quiet.pop(task_id, None)

    def _reconcile(self, snapshot: Snapshot, task: Task) -> Task | None:
        try:
            if task.last_status == "DEACTIVATING":
                # its targets are being drained: it keeps running until the load balancer lets it go
                if task.id not in self._held:
                    return self._report(task, "STOPPED")
                observed = self.executor.inspect(task.id)
                return self._report_observed(task, observed) if observed.last_status == "STOPPED" else None
            if task.desired_status == "STOPPED":
                if task.id in self._held:
                    self.executor.stop(task.id, timeout=self.stop_timeout)
                return self._report(task, "STOPPED")
            if task.id not in self._held:
                try:
                    observed = self.executor.start(task, snapshot.task_definition(task.task_definition))
                except ExecutorError as error:
                    return self._report(task, "STOPPED", stop_code="TaskFailedToStart", reason=error.reason)
                self._held.add(task.id)
            elif self._quiet.get(task.id) == task.version:
                return None  # nothing happened to its containers, nor to the task, since they matched
            else:
                observed = self.executor.inspect(task.id)
                if observed.last_status == task.last_status and observed.health == task.health_status:
                    self._quiet[task.id] = task.version
        except (ExecutorError, NotFoundError):
            return None  # the engine is away or the containers vanished: the next step looks again
        return self._report_observed(task, observed)

    def _stop_leftovers(self, snapshot: Snapshot, task_id: str) -> None:
        try:
            if self.executor.inspect(task_id).last_status != "STOPPED":
                self.executor.stop(task_id, timeout=self.stop_timeout)
            task = snapshot.tasks_by_id.get(task_id)
            stopped = task.stopped_at if task is not None else None
            self._settled[task_id] = stopped if stopped is not None else self.state.clock()
        except (ExecutorError, NotFoundError):
            pass  # retried on the next step

    def _report_observed(self, task: Task, observed: TaskObservation) -> Task | None:
        if observed.last_status == "STOPPED":
            exited = observed.stopped_container
            reason = "Essential container in task exited"
            if exited is not None:
                reason = f"Essential container in task exited: {exited.name} (exit code {exited.exit_code})"
                if exited.reason is not None:  # what the exit code does not say, such as OutOfMemoryError
                    reason = f"{reason}: {exited.reason}"
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

    def run(self, stop: threading.Event | None = None, *, interval: float = 1.0) -> None:
        """Step until ``stop`` is set (by default the agent's own, which :meth:`close` sets): at
        once on each commit, at once when the executor sees a container change (an executor
        with ``listen``, as both built-in ones have), and every ``interval`` seconds.

        A step the store cannot take (``StoreError``: etcd without quorum) is tried again
        ``interval`` seconds later; ``store_error`` holds its reason meanwhile.
        """
        wake = self._wake
        listen = getattr(self.executor, "listen", None)
        if listen is not None:
            listen(wake.set)
        try:
            run_loop(
                stop if stop is not None else self._stop,
                self.step,
                interval=interval,
                state=self.state,
                report=self._report_store,
                wake=wake,
            )
        finally:
            if listen is not None:
                listen(None)

    def _report_store(self, error: BaseException | None) -> None:
        self.store_error = None if error is None else str(error)

    def close(self) -> None:
        """Ask :meth:`run` to return after its current step, release the launch threads, and
        give up the lease (monitors then see the agent gone).
        """
        self._stop.set()
        self._wake.set()
        lease, self._lease = self._lease, None  # a later step takes a new one
        if lease is not None:
            lease.close()
        pool, self._pool = self._pool, None  # a later step makes a new one
        if pool is not None:
            pool.shutdown(wait=False)
