"""The service scheduler: a loop that keeps every service at what it wants.

It reconciles a service when something about it changed (its record, one of its tasks, an
instance it runs on or may run on — any instance, while some of its tasks found no room),
when a time it asked to be woken at comes (a grace period ending, a back-off expiring) and
on a periodic resync. Each decision is planned with a placement ``Scheduler`` on the same
snapshot and committed atomically together with the service's *status* at the status
version it was decided from (``PutServiceStatus``); if that status or a task moved
meanwhile, the service is reconciled again from a fresh snapshot. It decides from the spec
as it observes it (``clusterkit.model.observe``: a new deployment, a new count) and
never writes the spec, so a user's update committed meanwhile is neither refused nor
overwritten: the next pass observes it. A decision that would change nothing (its tasks
still find no room, its status is the same) commits nothing. So two service schedulers may run on one cluster (threads
now, processes with a shared store) and never act twice on one change.

Time comes from the state's clock: tests drive a simulated clock and call ``step``; a
deployment calls ``run``.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterable
from typing import Final

import attrs

from clusterkit.errors import NotFoundError, ValidationError
from clusterkit.model import DEFAULT_SERVICE_STRATEGY, Service, Task, check_instance, replace, status_of
from clusterkit.placement import (
    DEFAULT_DYNAMIC_PORTS,
    BaseScheduler,
    PlacementRequest,
    PortRange,
    Scheduler,
    pinned_task,
)
from clusterkit.services import _messages as messages
from clusterkit.services._reconcile import DEFAULT_SETTINGS, Decision, Launch, ReconcileSettings, add_events, reconcile
from clusterkit.state import (
    Change,
    ContainerInstanceChanged,
    Event,
    PlaceTask,
    PutServiceStatus,
    ServiceChanged,
    Snapshot,
    StateCore,
    StopTask,
    TaskChanged,
    commit_with_retry,
    propose,
    run_loop,
)

__all__ = ["ServiceOutcome", "ServiceScheduler"]

_MAX_ATTEMPTS: Final = 8


@attrs.frozen(slots=True)
class ServiceOutcome:
    """What one reconciliation of one service committed.

    ``started`` and ``stopped`` are task ids; ``unplaced`` counts tasks no instance could
    take; ``conflicts`` counts commits refused because the state moved; ``wake_at`` is when
    the service wants to be looked at again by the clock alone.
    """

    service: str
    started: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()
    unplaced: int = 0
    conflicts: int = 0
    committed: bool = False
    wake_at: float | None = None


class ServiceScheduler:
    """Keeps the services of ``state`` running: replaces, rolls, drains and scales their tasks.

    A service whose tasks no instance could take is tried again whenever an instance
    changes (a task stopping frees room, a host joins or comes back), and on the resync.

    ``placement`` places replica tasks (default: ``BaseScheduler`` with ``dynamic_ports``,
    the state's own range when not given: a ``ClusterState``'s ``dynamic_ports``);
    ``settings`` holds the timing rules; ``resync_interval`` is how often ``run`` looks at
    every service even when nothing changed.
    """

    def __init__(
        self,
        state: StateCore,
        *,
        placement: Scheduler | None = None,
        settings: ReconcileSettings = DEFAULT_SETTINGS,
        dynamic_ports: PortRange | None = None,
        resync_interval: float = 30.0,
    ) -> None:
        self.state = state
        if placement is not None:
            check_instance("placement", placement, "place")
        if dynamic_ports is not None and not isinstance(dynamic_ports, PortRange):
            raise ValidationError("dynamic_ports", dynamic_ports, "must be a PortRange")
        own: PortRange = getattr(state, "dynamic_ports", DEFAULT_DYNAMIC_PORTS)
        self.dynamic_ports: PortRange = own if dynamic_ports is None else dynamic_ports
        self.placement: Scheduler = (
            placement if placement is not None else BaseScheduler(dynamic_ports=self.dynamic_ports)
        )
        self.settings = settings
        self.resync_interval = resync_interval
        self._dirty: set[str] = set()
        self._wakes: list[tuple[float, str]] = []
        self._instance_marks: dict[str, tuple[str, bool, tuple[tuple[str, str | None], ...]]] = {}
        self._starved: set[str] = set()  # services with tasks no instance could take
        self._last_resync = float("-inf")
        self._stop = threading.Event()
        #: Why the last step of :meth:`run` failed in the store (etcd away); None once one succeeds.
        self.store_error: str | None = None

    @property
    def clock(self) -> Callable[[], float]:
        """The state's clock."""
        return self.state.clock

    # -- one service --------------------------------------------------------------------

    def reconcile_service(self, name: str) -> ServiceOutcome:
        """Reconcile one service now and commit the decision, re-deciding on conflicts."""
        decided: Decision | None = None  # the last plan's decision, its started tasks and unplaced count
        started: tuple[str, ...] = ()
        unplaced = 0

        def plan(snapshot: Snapshot) -> list[Change] | None:
            nonlocal decided, started, unplaced
            decided, started, unplaced = None, (), 0
            try:
                service = snapshot.service(name)  # its spec, as the status observes it
                stored = snapshot.service_status(name)
            except NotFoundError:
                return None
            now = self.clock()
            decision = decided = self.decide(snapshot, service, now)
            if decision.wake_at is not None:
                heapq.heappush(self._wakes, (decision.wake_at, name))
            observed = service.observed_generation != stored.observed_generation  # a new spec to record
            if decision.is_empty and not observed:
                return None
            changes, started, unplaced = self._changes(snapshot, service, decision, now)
            if unplaced:
                self._starved.add(name)  # to be tried again when an instance changes
            else:
                self._starved.discard(name)
            if len(changes) == 1 and changes[0] == PutServiceStatus(stored, stored.version):
                return None  # nothing placed, nothing stopped, nothing new to record: no commit, no version
            return changes

        outcome = commit_with_retry(self.state, plan, atomic=True, max_attempts=_MAX_ATTEMPTS)
        conflicts = outcome.conflicted
        if outcome.gave_up or decided is None:
            return ServiceOutcome(name, conflicts=conflicts)
        result = outcome.result
        if result is not None and result.ok:
            stopped = tuple(stop.task_id for stop in decided.stops)
            return ServiceOutcome(name, started, stopped, unplaced, conflicts, True, decided.wake_at)
        return ServiceOutcome(name, unplaced=unplaced, conflicts=conflicts, wake_at=decided.wake_at)

    def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
        """What ``service`` needs at ``now``: ``reconcile`` with this scheduler's settings.

        Override it to add rules of your own (and to test them, or break them on purpose,
        under ``clusterkit.testing.ServiceMachine``); it must stay free of side effects.
        """
        return reconcile(snapshot, service, now, self.settings)

    def _changes(
        self, snapshot: Snapshot, service: Service, decision: Decision, now: float
    ) -> tuple[list[Change], tuple[str, ...], int]:
        """The commit for ``decision``: placements planned on ``snapshot``, stops, and the record."""
        record = decision.service
        changes: list[Change] = []
        texts: list[str] = []
        unplaced = 0
        view = snapshot
        for index, launch in enumerate(decision.launches):
            tasks, missed, reason = self._place(view, record, launch, now)
            changes.extend(PlaceTask(task) for task in tasks)
            if tasks and index + 1 < len(decision.launches):
                view, _ = propose(view, [PlaceTask(task) for task in tasks], now)  # the next launch plans on the rest
            if missed:
                unplaced += missed
                texts.append(messages.unable_to_place(record.name, reason))
        started = tuple(change.task.id for change in changes if isinstance(change, PlaceTask))
        if started:
            texts.insert(0, messages.started_tasks(record.name, started))
        changes.extend(StopTask(stop.task_id, stop.reason, "ServiceSchedulerInitiated") for stop in decision.stops)
        if started or texts:
            record = add_events(record, texts, now)
            record = replace(record, tracked_tasks=record.tracked_tasks | set(started))
        changes.append(PutServiceStatus(status_of(record), service.status_version))
        return changes, started, unplaced

    def _place(self, snapshot: Snapshot, service: Service, launch: Launch, now: float) -> tuple[list[Task], int, str]:
        definition = snapshot.task_definitions_by_key.get(launch.task_definition)
        if definition is None:
            return [], launch.count, "MISSING"
        if launch.instance_id is not None:
            instance = snapshot.instances_by_id.get(launch.instance_id)
            if instance is None:
                return [], 1, "MISSING"
            pinned = pinned_task(
                definition,
                instance.id,
                instance.remaining,
                dynamic_ports=self.dynamic_ports,
                group=service.group,
                started_by=launch.deployment_id,
                now=now,
            )
            if pinned is None:
                return [], 1, "RESOURCE:PORTS"
            task, _ = pinned
            shortfall = task.charge.shortfall(instance.remaining)
            if shortfall is not None:
                return [], 1, f"RESOURCE:{shortfall}"
            return [task], 0, ""
        request = PlacementRequest(
            definition,
            launch.count,
            service.group,
            launch.deployment_id,
            service.placement_strategy or DEFAULT_SERVICE_STRATEGY,
            service.placement_constraints,
            avoid=launch.avoid,
        )
        plan = self.placement.place(snapshot, request)
        reason = plan.unplaced[0].reason if plan.unplaced else ""
        return list(plan.tasks), len(plan.unplaced), reason

    # -- every service --------------------------------------------------------------------

    def step(self, names: Iterable[str] | None = None) -> list[ServiceOutcome]:
        """Reconcile the services that need it now: ``names``, or those marked by events,
        due wake-ups and (every ``resync_interval``) all of them. Returns what each committed.
        """
        now = self.clock()
        if names is not None:
            due = set(names)
        else:
            due = set(self._dirty)
            self._dirty.clear()
            while self._wakes and self._wakes[0][0] <= now:
                due.add(heapq.heappop(self._wakes)[1])
            if now - self._last_resync >= self.resync_interval:
                self._last_resync = now
                due.update(service.name for service in self.state.snapshot().services())
        services = self.state.snapshot().services_by_name  # one read for the order, not one per service

        def daemon_first(name: str) -> tuple[bool, str]:
            found = services.get(name)
            return (found is None or found.scheduling_strategy != "DAEMON", name)

        return [self.reconcile_service(name) for name in sorted(due, key=daemon_first)]

    @property
    def next_wake(self) -> float | None:
        """The earliest time a service asked to be looked at again, or None."""
        return self._wakes[0][0] if self._wakes else None

    def notice(self, events: Iterable[Event]) -> None:
        """Mark the services these events concern for the next ``step``."""
        snapshot: Snapshot | None = None
        for event in events:
            if isinstance(event, TaskChanged):
                name = event.task.service_name
                if name is not None:
                    self._dirty.add(name)
            elif isinstance(event, ServiceChanged):
                self._dirty.add(event.service.name)
            elif isinstance(event, ContainerInstanceChanged):
                self._dirty.update(self._starved)  # room may have come: try their tasks again
                instance = event.instance
                mark = (instance.status, instance.agent_connected, instance.attributes)
                if self._instance_marks.get(instance.id) == mark:
                    if instance.status != "DRAINING":
                        continue  # only its resources moved: no service cares
                    # a task left a DRAINING instance: a daemon's may now be the last one there
                    snapshot = snapshot or self.state.snapshot()
                    self._dirty.update(t.service_name for t in snapshot.tasks_on(instance.id) if t.service_name)
                    continue
                self._instance_marks[instance.id] = mark
                snapshot = snapshot or self.state.snapshot()
                for service in snapshot.services():
                    if service.scheduling_strategy == "DAEMON" and service.status != "INACTIVE":
                        self._dirty.add(service.name)
                for task in snapshot.tasks_on(instance.id):
                    if task.service_name is not None:
                        self._dirty.add(task.service_name)

    def run(self, stop: threading.Event | None = None, *, interval: float = 1.0) -> None:
        """Reconcile on every commit, at wake-ups and at least every ``interval`` seconds, until
        ``stop`` is set (by default the scheduler's own, which :meth:`close` sets): wall-clock
        deployments.

        A step the store cannot take (``StoreError``: etcd without quorum) is followed,
        ``interval`` seconds later, by a pass over every service (as after falling behind the
        commits); ``store_error`` holds its reason meanwhile.
        """
        run_loop(
            stop if stop is not None else self._stop,
            self.step,
            interval=interval,
            state=self.state,
            notice=self.notice,
            resync=self._resync,
            next_wake=lambda: self.next_wake,
            report=self._report,
        )

    def _resync(self, snapshot: Snapshot) -> None:
        """Every service for the next step: events were lost, or a step failed."""
        self._dirty.update(service.name for service in snapshot.services())

    def _report(self, error: BaseException | None) -> None:
        self.store_error = None if error is None else str(error)

    def close(self) -> None:
        """Ask :meth:`run` (without a ``stop`` of its own) to return."""
        self._stop.set()
