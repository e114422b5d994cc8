"""The reconciler: what one service needs now, decided from a snapshot, without side effects.

``reconcile(snapshot, service, now)`` reads the service's record and its tasks (never the
whole cluster, except a daemon's eligible instances) and returns a ``Decision``: tasks to
launch per deployment, tasks to stop and why, and the service view to commit with them,
whose status part the scheduler commits (deployments, circuit breaker, back-off, events,
the tasks it tracks). The ``ServiceScheduler`` commits the decision together with the
status version it was decided from, so a decision made from a stale status is refused and
made again; the spec it reads is never written back. Nothing here does I/O. The rules are
ECS's (see ``docs/services.md``):

* RUNNING + PENDING tasks never exceed ``⌊desired · maximumPercent / 100⌋``: every task that
  has not reached STOPPED counts, those being stopped too.
* The scheduler stops a healthy task only while ``⌈desired · minimumHealthyPercent / 100⌉``
  others stay healthy.
* A STOPPED task is replaced; an UNHEALTHY one is replaced start-first, and stopped once its
  deployment is back to its count of healthy tasks (or at once, one per pass, when
  maximumPercent leaves no room to start the replacement). During a rolling deployment an
  older deployment's failed task is replaced with its own revision, while the service is
  short of its desired count of tasks.
* A task that stopped before RUNNING is a failed launch: after ``backoff_after`` in a row
  launches back off, doubling up to 15 minutes. Failed launches, failed health checks and
  tasks that stopped on their own before they were ever healthy count toward the circuit
  breaker of an IN_PROGRESS deployment; a task that becomes healthy resets both counts.
* Tasks on DRAINING instances are replaced: PENDING ones stop at once, RUNNING ones within the
  bounds above.
* While the PRIMARY deployment is FAILED (no rollback), nothing replaces the older
  deployments' tasks: they are not stopped for it, and they heal as the primary's would.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Final

import attrs

from clusterkit.model import (
    INSTANCE_DEREGISTERED_REASON,
    MAX_SERVICE_EVENTS,
    ContainerInstance,
    Deployment,
    Service,
    ServiceEvent,
    Task,
    circuit_breaker_threshold,
    deployment_id,
    is_daemon_task,
    replace,
)
from clusterkit.query import SnapshotContext, parse_expression
from clusterkit.services import _messages as messages
from clusterkit.services._health import TaskHealth, has_health_check, target_groups_unhealthy, task_health
from clusterkit.state import Snapshot

__all__ = [
    "DEFAULT_SETTINGS",
    "Decision",
    "Launch",
    "ReconcileSettings",
    "Stop",
    "add_events",
    "deployment_id",
    "event_id",
    "only_daemons_left",
    "reconcile",
    "unhealthy_reason",
]

UNHEALTHY_REASON: Final = "Task failed container health checks"
ELB_UNHEALTHY_REASON: Final = "Task failed ELB health checks in"
"""Followed by ``(target-group ARN)``: the stop reason of a task its load balancer found unhealthy."""
DRAINING_REASON: Final = "Container instance is draining"
DEPLOYMENT_REASON: Final = "Task replaced by a deployment"
SCALE_IN_REASON: Final = "Service scaled in"
CONSTRAINT_REASON: Final = "Container instance no longer meets the service's placement constraints"
DUPLICATE_REASON: Final = "A daemon runs one task per container instance"
CIRCUIT_BREAKER_REASON: Final = "ECS deployment circuit breaker: tasks failed to start."
_PURPOSEFUL_STOPS: Final = frozenset({"ServiceSchedulerInitiated", "UserInitiated"})
_ZONE: Final = "ecs.availability-zone"


@attrs.frozen(slots=True)
class ReconcileSettings:
    """The timing knobs: ECS's values by default.

    ``healthy_after``: seconds RUNNING before a task without a health check counts healthy.
    ``backoff_after``: failed launches in a row before launches back off, ``backoff_first``
    seconds, doubling up to ``backoff_max``.
    """

    healthy_after: float = 40.0
    backoff_after: int = 3
    backoff_first: float = 10.0
    backoff_max: float = 900.0


DEFAULT_SETTINGS: Final = ReconcileSettings()
"""ECS's timings."""


@attrs.frozen(slots=True)
class Launch:
    """Start ``count`` tasks of a deployment; on ``instance_id`` only for a daemon."""

    deployment_id: str
    task_definition: str
    count: int
    instance_id: str | None = None
    avoid: frozenset[str] = frozenset()
    """Instances where a task of the service just failed: used only if no other can take one."""


@attrs.frozen(slots=True)
class Stop:
    """Stop a task of the service (stop code ServiceSchedulerInitiated) for ``reason``."""

    task_id: str
    reason: str


@attrs.frozen(slots=True)
class Decision:
    """What a service needs now: ``launches``, ``stops``, and ``service``, the record to commit.

    ``changed`` says whether the record differs from the one decided from; an empty decision
    (``is_empty``) needs no commit. ``wake_at`` is the earliest time the decision may change
    by the clock alone (a grace period ending, a back-off expiring), or None.
    """

    service: Service
    launches: tuple[Launch, ...] = ()
    stops: tuple[Stop, ...] = ()
    changed: bool = False
    wake_at: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to commit."""
        return not (self.changed or self.launches or self.stops)


@attrs.define(slots=True)
class _Seen:
    """One task of the service that has not reached STOPPED, as the reconciler sees it."""

    task: Task
    health: TaskHealth
    draining: bool  # its instance is gone or not ACTIVE
    stopping: bool  # desired STOPPED already

    @property
    def good(self) -> bool:
        """Counts toward its deployment's count: on its way up or up, on an ACTIVE instance."""
        return (
            not self.stopping
            and not self.draining
            and self.health in (TaskHealth.PENDING, TaskHealth.STARTING, TaskHealth.HEALTHY)
        )


def _hex_id(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def event_id(service: str, version: int, position: int, text: str) -> str:
    """A service event's id, repeatable for the same inputs (a UUID's length of hex digits):
    the service, its status version, the event's position and its text.
    """
    return _hex_id(service, version, position, text)[:36]


def add_events(service: Service, texts: Iterable[str], now: float) -> Service:
    """The record with service events added, newest first, a text equal to the newest dropped."""
    events = list(service.events)
    for text in texts:
        if events and events[0].message == text:
            continue  # duplicates suppressed, as the console does
        position = len(events)
        events.insert(0, ServiceEvent(event_id(service.name, service.status_version, position, text), now, text))
    return replace(service, events=tuple(events[:MAX_SERVICE_EVENTS]))


class _Ledger:
    """The decision being built: a mutable copy of the record plus launches, stops and wakes."""

    def __init__(self, service: Service, now: float, settings: ReconcileSettings) -> None:
        self.original = service
        self.now = now
        self.settings = settings
        self.deployments: list[Deployment] = list(service.deployments)
        self.task_definition = service.task_definition
        self.tracked = set(service.tracked_tasks)
        self.healthy_seen = set(service.healthy_seen)
        self.launch_failures = service.launch_failures
        self.next_launch_at = service.next_launch_at
        self.status = service.status
        self.messages: list[str] = []
        self.launches: list[Launch] = []
        self.stops: list[Stop] = []
        self.wakes: list[float] = []
        self.failed_on: set[str] = set()  # instances where a task of the service failed in this pass
        self.tripped = False  # the circuit breaker failed the primary deployment in this pass

    # -- the record ------------------------------------------------------------------

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]

    def index_of(self, deployment_id: str | None) -> int | None:
        for index, deployment in enumerate(self.deployments):
            if deployment.id == deployment_id:
                return index
        return None

    def update(self, index: int, **changes: object) -> None:
        self.deployments[index] = attrs.evolve(self.deployments[index], updated_at=self.now, **changes)  # type: ignore[arg-type]

    def say(self, message: str) -> None:
        newest = (
            self.messages[-1] if self.messages else (self.original.events[0].message if self.original.events else None)
        )
        if message != newest:  # duplicates suppressed, as the console does
            self.messages.append(message)

    def wake(self, at: float | None) -> None:
        if at is not None and at > self.now:
            self.wakes.append(at)

    def stop(self, seen: _Seen, reason: str) -> None:
        self.stops.append(Stop(seen.task.id, reason))
        seen.stopping = True

    # -- failures, the back-off and the circuit breaker --------------------------------

    def launch_failed(self, deployment: int | None) -> None:
        self.launch_failures += 1
        over = self.launch_failures - self.settings.backoff_after
        if over >= 0:
            delay = min(self.settings.backoff_max, self.settings.backoff_first * 2.0 ** min(over, 30))
            self.next_launch_at = self.now + delay
            self.say(messages.unable_to_start_consistently(self.original.name))
        self.task_failed(deployment)

    def task_failed(self, deployment: int | None) -> None:
        if deployment is None or self.deployments[deployment].rollout_state != "IN_PROGRESS":
            return
        self.update(deployment, failed_tasks=self.deployments[deployment].failed_tasks + 1)
        if deployment == 0:
            self.check_breaker()

    def check_breaker(self) -> None:
        """Trip the PRIMARY deployment's breaker once its failed tasks reach the threshold (a
        scale-down lowers the threshold: the count may reach it without a new failure).
        """
        breaker = self.original.deployment_configuration.deployment_circuit_breaker
        primary = self.primary
        if (
            breaker.enable
            and not self.tripped
            and primary.rollout_state == "IN_PROGRESS"
            and primary.failed_tasks >= circuit_breaker_threshold(primary.desired_count)
        ):
            self.trip(breaker.rollback)

    def became_healthy(self, deployment: int | None) -> None:
        self.launch_failures = 0
        self.next_launch_at = 0.0
        if deployment is not None and self.deployments[deployment].failed_tasks:
            self.update(deployment, failed_tasks=0)

    def trip(self, rollback: bool) -> None:
        name, failed = self.original.name, self.primary
        self.tripped = True
        self.update(0, rollout_state="FAILED", rollout_state_reason=CIRCUIT_BREAKER_REASON)
        self.say(messages.circuit_breaker_tripped(name, failed.id))
        target = next(
            (i for i, d in enumerate(self.deployments) if i and d.rollout_state == "COMPLETED"),
            None,
        )
        if not rollback or target is None:
            self.say(messages.stalled(name, failed.id, rollback=rollback))
            return
        good = self.deployments[target]
        promoted = attrs.evolve(
            good,
            status="PRIMARY",
            desired_count=failed.desired_count,
            rollout_state="IN_PROGRESS",
            rollout_state_reason=f"ECS deployment circuit breaker: rolling back to deploymentId {good.id}.",
            failed_tasks=0,
            updated_at=self.now,
        )
        demoted = attrs.evolve(self.deployments[0], status="ACTIVE", desired_count=0)
        rest = [d for i, d in enumerate(self.deployments) if i not in (0, target)]
        self.deployments = [promoted, demoted, *rest]
        self.task_definition = promoted.task_definition
        self.say(messages.rolling_back(name, failed.id, good.id))

    # -- the answer ----------------------------------------------------------------------

    def decision(self) -> Decision:
        service = self.original
        events = add_events(service, self.messages, self.now).events
        record = replace(
            service,
            task_definition=self.task_definition,
            deployments=tuple(self.deployments),
            events=events,
            tracked_tasks=frozenset(self.tracked),
            healthy_seen=frozenset(self.healthy_seen & self.tracked),
            launch_failures=self.launch_failures,
            next_launch_at=self.next_launch_at,
            status=self.status,
        )
        changed = record != service
        return Decision(
            record if changed else service,
            tuple(self.launches),
            tuple(self.stops),
            changed,
            min(self.wakes) if self.wakes else None,
        )


def reconcile(
    snapshot: Snapshot, service: Service, now: float, settings: ReconcileSettings = DEFAULT_SETTINGS
) -> Decision:
    """What ``service`` needs at ``now``, given ``snapshot``: a ``Decision``. Pure; O(tasks of the service)
    for a replica service, O(instances) for a daemon.
    """
    ledger = _Ledger(service, now, settings)
    if service.status == "INACTIVE" or not service.deployments:  # nothing to keep running
        return ledger.decision()
    seen = _observe(snapshot, service, ledger)
    ledger.check_breaker()
    if service.status == "DRAINING":  # being deleted: every task goes, nothing starts
        for item in seen:
            if not item.stopping:
                ledger.stop(item, "Service is being deleted")
        if not seen:
            ledger.status = "INACTIVE"
    elif service.scheduling_strategy == "DAEMON":
        _reconcile_daemon(snapshot, service, ledger, seen)
    else:
        _reconcile_replica(snapshot, ledger, seen)
    if ledger.stops:
        ledger.say(messages.stopped_tasks(service.name, [stop.task_id for stop in ledger.stops]))
    return ledger.decision()


def _observe(snapshot: Snapshot, service: Service, ledger: _Ledger) -> list[_Seen]:
    """The service's tasks that have not reached STOPPED; accounts for tracked ones that did."""
    holding = list(snapshot.service_tasks_holding(service))
    holding_ids = {task.id for task in holding}
    for task_id in sorted(service.tracked_tasks - holding_ids):
        ledger.tracked.discard(task_id)
        task = snapshot.tasks_by_id.get(task_id)
        if task is None:
            continue
        deployment = ledger.index_of(task.started_by)
        purposeful = task.stop_code in _PURPOSEFUL_STOPS or task.stopped_reason == INSTANCE_DEREGISTERED_REASON
        if task.started_at is None and not purposeful:
            ledger.launch_failed(deployment)
        elif (
            task.health_status == "UNHEALTHY"
            or task.stopped_reason == UNHEALTHY_REASON
            or (task.stopped_reason or "").startswith(ELB_UNHEALTHY_REASON)
        ):
            ledger.task_failed(deployment)
        elif not purposeful and task_id not in service.healthy_seen and task.health_status != "HEALTHY":
            ledger.task_failed(deployment)  # it ran, but stopped before it was ever healthy
        else:
            continue
        ledger.failed_on.add(task.container_instance_id)  # its replacement goes elsewhere if it can
    checked: dict[str, bool] = {}
    grace = float(service.health_check_grace_period_seconds)
    target_groups = tuple(balancer.target_group_arn for balancer in service.load_balancers)
    instances = snapshot.instances_by_id
    seen: list[_Seen] = []
    for task in sorted(holding, key=lambda t: t.id):
        key = task.task_definition
        if key not in checked:
            definition = snapshot.task_definitions_by_key.get(key)
            checked[key] = definition is not None and has_health_check(definition)
        health, changes_at = task_health(
            task,
            checked=checked[key],
            grace_period=grace,
            healthy_after=ledger.settings.healthy_after,
            now=ledger.now,
            target_groups=target_groups,
        )
        ledger.wake(changes_at)
        instance = instances.get(task.container_instance_id)
        item = _Seen(task, health, instance is None or instance.status != "ACTIVE", task.desired_status == "STOPPED")
        seen.append(item)
        ledger.tracked.add(task.id)
        if health is TaskHealth.HEALTHY and task.id not in ledger.healthy_seen:
            ledger.healthy_seen.add(task.id)
            ledger.became_healthy(ledger.index_of(task.started_by))
    return seen


def unhealthy_reason(service: Service, task: Task) -> str:
    """Why an UNHEALTHY task is stopped: its failing target group, as ECS says, or its containers' check."""
    failing = target_groups_unhealthy(task, (balancer.target_group_arn for balancer in service.load_balancers))
    return f"{ELB_UNHEALTHY_REASON} (target-group {failing[0]})" if failing else UNHEALTHY_REASON


def _launchable(ledger: _Ledger) -> bool:
    if ledger.now >= ledger.next_launch_at:
        return True
    ledger.wake(ledger.next_launch_at)
    return False


def _reconcile_replica(snapshot: Snapshot, ledger: _Ledger, seen: list[_Seen]) -> None:
    service = ledger.original
    config = service.deployment_configuration
    desired = ledger.primary.desired_count
    room = config.max_tasks(desired) - len(seen)
    active = [item for item in seen if not item.stopping]
    budget = sum(item.health is TaskHealth.HEALTHY for item in active) - config.min_healthy(desired)

    def take(item: _Seen, reason: str) -> bool:
        nonlocal budget
        if item.health is TaskHealth.HEALTHY:
            if budget <= 0:
                return False
            budget -= 1
        ledger.stop(item, reason)
        return True

    for item in active:  # PENDING tasks on a draining instance stop at once
        if item.draining and item.health is TaskHealth.PENDING:
            take(item, DRAINING_REASON)

    # launches: the primary first, then older deployments replacing their own failed tasks
    # while the service is short of its desired count of good tasks
    starved = False
    launchable = _launchable(ledger)
    short = desired - sum(item.good for item in seen)
    for index, deployment in enumerate(ledger.deployments):
        if deployment.status == "INACTIVE" or (index == 0 and deployment.rollout_state == "FAILED"):
            continue
        good = sum(item.good and item.task.started_by == deployment.id for item in seen)
        need = deployment.desired_count - good if index == 0 else min(deployment.desired_count - good, short)
        if need <= 0 or not launchable:
            continue
        count = min(need, max(room, 0))
        if count:
            avoid = frozenset(ledger.failed_on)
            ledger.launches.append(Launch(deployment.id, deployment.task_definition, count, avoid=avoid))
            room -= count
            short -= count
        starved = starved or count < need

    # stops: older deployments' tasks (not-yet-healthy ones first), within minimumHealthyPercent;
    # none while the PRIMARY deployment FAILED: nothing would come to replace them
    primary_id = ledger.primary.id
    stalled = ledger.primary.rollout_state == "FAILED"
    old = [] if stalled else [item for item in active if not item.stopping and item.task.started_by != primary_id]
    for item in sorted(old, key=lambda i: (i.health is TaskHealth.HEALTHY, i.task.id)):
        if not take(item, DEPLOYMENT_REASON):
            break
        owner = ledger.index_of(item.task.started_by)
        if owner is not None and ledger.deployments[owner].desired_count:
            ledger.update(owner, desired_count=ledger.deployments[owner].desired_count - 1)

    # unhealthy tasks: stop once their deployment is back to its healthy count, or one now if no
    # room; while the PRIMARY deployment FAILED, the older ones that keep the service up heal too
    mine = [item for item in active if not item.stopping and item.task.started_by == primary_id]
    for deployment in ledger.deployments if stalled else ledger.deployments[:1]:
        own = [item for item in active if not item.stopping and item.task.started_by == deployment.id]
        healthy_own = sum(item.health is TaskHealth.HEALTHY and not item.draining for item in own)
        unhealthy = [item for item in own if item.health is TaskHealth.UNHEALTHY]
        if healthy_own >= deployment.desired_count or (unhealthy and starved):
            for item in unhealthy if healthy_own >= deployment.desired_count else unhealthy[:1]:
                ledger.stop(item, unhealthy_reason(service, item.task))

    # tasks on draining instances, start-first within the bounds (the older deployments' too while stalled)
    for item in active if stalled else mine:
        if item.draining and not item.stopping:
            take(item, DRAINING_REASON)

    # scale in: the primary's tasks beyond its count, the least useful and most crowded first
    keep = [item for item in mine if item.good]
    excess = len(keep) - desired
    if excess > 0:
        for item in _scale_in_order(snapshot, keep)[:excess]:
            take(item, SCALE_IN_REASON)

    _progress(ledger, seen, room, budget)


def _scale_in_order(snapshot: Snapshot, items: list[_Seen]) -> list[_Seen]:
    """Which tasks to stop first: not yet healthy ones, then from the zone, then the instance, with most."""
    instances = snapshot.instances_by_id

    def zone(item: _Seen) -> str:
        instance = instances.get(item.task.container_instance_id)
        return (instance.attribute(_ZONE) if instance is not None else None) or ""

    per_zone = Counter(zone(item) for item in items)
    per_instance = Counter(item.task.container_instance_id for item in items)
    order: list[_Seen] = []
    pool = sorted(items, key=lambda i: i.task.id)
    while pool:
        best = min(
            pool,
            key=lambda i: (
                i.health is TaskHealth.HEALTHY,
                -per_zone[zone(i)],
                -per_instance[i.task.container_instance_id],
                i.task.id,
            ),
        )
        pool.remove(best)
        order.append(best)
        per_zone[zone(best)] -= 1
        per_instance[best.task.container_instance_id] -= 1
    return order


def _progress(ledger: _Ledger, seen: list[_Seen], room: int, budget: int, *, bounded: bool = True) -> None:
    """Completion, steady state, and the event for a deployment that cannot move."""
    name = ledger.original.name
    primary = ledger.primary
    others = [item for item in seen if item.task.started_by != primary.id and not item.stopping]
    leftover = [item for item in seen if item.task.started_by != primary.id]
    mine = [item for item in seen if item.task.started_by == primary.id and not item.stopping]
    healthy = sum(item.health is TaskHealth.HEALTHY and not item.draining for item in mine)
    settled = all(item.health is TaskHealth.HEALTHY and not item.draining for item in mine) and not any(
        item.stopping for item in seen
    )
    busy = bool(ledger.launches or ledger.stops)
    # A deployment failed by the breaker in this pass is committed FAILED first, so describe_services
    # and subscribers see it; the rollback completes at the earliest on the next pass.
    if (
        primary.rollout_state == "IN_PROGRESS"
        and not leftover
        and healthy >= primary.desired_count
        and not busy
        and not ledger.tripped
    ):
        ledger.update(0, rollout_state="COMPLETED", rollout_state_reason="ECS deployment completed.")
        ledger.deployments = [ledger.deployments[0]]
        ledger.say(messages.deployment_completed(name, primary.id))
    if ledger.primary.rollout_state == "COMPLETED" and not busy and settled and len(mine) == primary.desired_count:
        ledger.say(messages.steady_state(name))
    in_flight = any(item.health in (TaskHealth.PENDING, TaskHealth.STARTING) or item.stopping for item in seen)
    wants = bool(others) or any(not item.good for item in mine) or len(mine) < primary.desired_count
    if (
        bounded
        and wants
        and not busy
        and not in_flight
        and room <= 0
        and budget <= 0
        and ledger.now >= ledger.next_launch_at
    ):
        ledger.say(messages.deployment_stuck(name))


# -- daemons ------------------------------------------------------------------------------


def _eligible(snapshot: Snapshot, service: Service, instances: Iterable[ContainerInstance]) -> list[ContainerInstance]:
    """ACTIVE instances meeting the service's and its task definition's memberOf constraints."""
    definition = snapshot.task_definitions_by_key.get(service.task_definition)
    constraints = service.placement_constraints + (definition.placement_constraints if definition else ())
    expressions = [parse_expression(c.expression) for c in constraints if c.type == "memberOf" and c.expression]
    context = SnapshotContext(snapshot)
    return [
        instance
        for instance in instances
        if instance.status == "ACTIVE" and all(e.evaluate(instance, context) for e in expressions)
    ]


def only_daemons_left(snapshot: Snapshot, instance_id: str) -> bool:
    """True when every task holding resources on the instance belongs to a daemon service
    (an instance with only daemon tasks counts as empty). O(tasks on the instance).
    """
    services = snapshot.services_by_name
    return all(is_daemon_task(task, services) for task in snapshot.tasks_on(instance_id))


def _reconcile_daemon(snapshot: Snapshot, service: Service, ledger: _Ledger, seen: list[_Seen]) -> None:
    eligible = _eligible(snapshot, service, snapshot.instances())
    eligible_ids = {instance.id for instance in eligible}
    if ledger.primary.desired_count != len(eligible) and ledger.primary.rollout_state != "FAILED":
        ledger.update(0, desired_count=len(eligible))
    primary = ledger.primary
    by_instance: dict[str, list[_Seen]] = {}
    for item in seen:
        by_instance.setdefault(item.task.container_instance_id, []).append(item)
    launchable = _launchable(ledger)
    for instance in eligible:
        here = [item for item in by_instance.get(instance.id, ()) if not item.stopping]
        keep = next((item for item in here if item.task.started_by == primary.id and item.good), None)
        for item in here:
            if item is keep:
                continue
            if item.health is TaskHealth.UNHEALTHY:
                ledger.stop(item, unhealthy_reason(service, item.task))
            else:
                ledger.stop(item, DEPLOYMENT_REASON if item.task.started_by != primary.id else DUPLICATE_REASON)
        busy = any(item.stopping for item in by_instance.get(instance.id, ()))
        if keep is None and not busy and instance.agent_connected and launchable and primary.rollout_state != "FAILED":
            ledger.launches.append(Launch(primary.id, primary.task_definition, 1, instance.id))
    for instance_id, items in by_instance.items():
        if instance_id in eligible_ids:
            continue
        host = snapshot.instances_by_id.get(instance_id)
        draining = host is not None and host.status == "DRAINING"
        if draining and not only_daemons_left(snapshot, instance_id):
            continue  # a daemon's task is the last to leave a draining instance
        for item in items:
            if not item.stopping:
                ledger.stop(item, DRAINING_REASON if draining else CONSTRAINT_REASON)
    _progress(ledger, seen, room=0, budget=0, bounded=False)
