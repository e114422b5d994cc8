"""Service rules checked at every commit, and what a settled cluster must show.

A service scheduler's bugs hide *between* the states a test looks at: an overshoot that
lives for one commit, a healthy task stopped and replaced within a tick. So these checks
look at **every commit**. ``CommitLog`` is a ``MemoryStore`` that keeps each commit it
installs; ``ServiceInvariants`` holds each one to the rules below, comparing it with the
version just before it; ``check_services_settled`` says whether a cluster whose failures
have stopped shows what the services want.

Per commit (``ServiceInvariants.check``), as ``Violation`` codes:

- ``SERVICE_MAX``: a commit that launches tasks of a REPLICA service leaves more of its
  tasks not STOPPED (PENDING, RUNNING, or being stopped) than ``⌊desired · maximumPercent /
  100⌋``, ``desired`` being the count the scheduler decided with (``decided_count``): the
  spec's, or, when a user's update of the spec landed between the scheduler's snapshot and
  its status commit, the count the PRIMARY deployment of the status it committed carries.
  So when the user lowers the desired count, the tasks above the new bound are not a
  violation; launching while above it is.
- ``SERVICE_MIN``: the scheduler stops (``ServiceSchedulerInitiated``) a healthy task of a
  REPLICA service while fewer than ``⌈desired · minimumHealthyPercent / 100⌉`` other tasks of
  the service stay healthy. Tasks that crash, fail their health check, or vanish with
  their host take a service below the bound without a violation: only the scheduler's own
  stops are held to it, and a scheduler may stop unhealthy or not-yet-healthy tasks at
  any time.
- ``SERVICE_OVERSHOOT``: a launch beyond need: a deployment's *good* tasks before the
  commit (on their way up or up, on an ACTIVE instance, not failing a health check past
  the grace period, not being stopped) plus those it launched exceed its desired count —
  the larger of the counts before and after the commit, since a commit may raise it (a
  rollback promotes an older deployment to the service's count) or lower it (an older
  deployment's task replaced), and of the count in the status the commit wrote (what the
  scheduler decided with, when a user's update moved the spec meanwhile). Two schedulers
  racing for one need would show here.
- ``SERVICE_STALLED``: a task stopped as replaced by the PRIMARY deployment while that
  deployment FAILED (nothing comes to replace it).
- ``SERVICE_LAUNCH``: a task launched for a service that is not ACTIVE, for a deployment
  that does not exist, is INACTIVE or FAILED, or with another task definition than its
  deployment's.
- ``DAEMON_DUPLICATE`` / ``DAEMON_PLACEMENT``: a daemon with two tasks not STOPPED on one
  instance, or launched on an instance that is not ACTIVE or does not meet its constraints.
- ``CIRCUIT_BREAKER``: a deployment's failure count is not the count of its failed tasks
  since one became healthy, the breaker trips before or after
  ``clamp(⌈0.5 · desired⌉, 3, 200)`` failures (its count at the trip is exactly that), it
  trips while off, or a trip does not roll back to the most recent COMPLETED deployment
  when rollback is on. A failed task: one that stopped before RUNNING other than by a
  scheduler's or user's stop, or that failed its health check; one that ran and stopped
  on its own before it was ever healthy may count or not (``failure_kind``).
- ``SERVICE_RECORD``: more than 100 service events, the same message twice in a row, or a
  REPLICA service whose PRIMARY deployment wants another count than the service.

Each commit is compared with the version just before it. In a ``FakeCluster``, where the
service schedulers and agents take turns, that is the version the scheduler decided on;
with writers running truly at once, a task may change between a decision and its commit
and the comparison would then be approximate.

Health, as these checks see it (independently of ``clusterkit.services``): RUNNING, desired
RUNNING, and every essential health check HEALTHY; without a health check, RUNNING for
``healthy_after`` seconds (40 in ECS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import attrs

from clusterkit.model import (
    PENDING_STATUSES,
    ContainerInstance,
    Resources,
    Service,
    Task,
    TaskDefinition,
    circuit_breaker_threshold,
)
from clusterkit.query import SnapshotContext, parse_expression
from clusterkit.services import messages
from clusterkit.state import Event, MemoryStore, Pending, Roots, ServiceChanged, Snapshot, TaskChanged, Violation

__all__ = [
    "Commit",
    "CommitLog",
    "ServiceInvariants",
    "SettledReport",
    "check_services_settled",
    "decided_count",
]

_PURPOSEFUL: Final = frozenset({"ServiceSchedulerInitiated", "UserInitiated"})
_UNHEALTHY_REASON: Final = "Task failed container health checks"
_ELB_UNHEALTHY_REASON: Final = "Task failed ELB health checks in"
_DEPLOYMENT_REASON: Final = "Task replaced by a deployment"


@attrs.frozen(slots=True)
class Commit:
    """One installed commit: the ``roots`` after it, its time ``now``, its ``events``, and the
    ``actor`` the test named for it (``CommitLog.acting``).
    """

    roots: Roots
    now: float
    events: tuple[Event, ...]
    actor: str

    @property
    def version(self) -> int:
        """The cluster version the commit made."""
        return self.roots.version


class CommitLog(MemoryStore):
    """A ``MemoryStore`` that keeps every commit it installs, to be ``take``-n and checked.

    Give it to a ``ClusterState`` (or ``FakeCluster(store=...)``). ``actor`` labels the
    commits made meanwhile (``"cluster"`` unless a ``with log.acting("user"):`` block says
    otherwise), so a check can tell the user's calls from the schedulers' decisions.
    """

    def __init__(self, roots: Roots | None = None) -> None:
        super().__init__(roots)
        self.commits: list[Commit] = []
        self.actor = "cluster"

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        """Install the new roots (see ``MemoryStore.swap``) and keep the commit."""
        roots = super().swap(base, pending, build)
        if roots is not None:
            self.commits.append(Commit(roots, pending.now, tuple(pending.events), self.actor))
        return roots

    @contextmanager
    def acting(self, actor: str) -> Iterator[None]:
        """Label the commits made inside the block with ``actor``."""
        before, self.actor = self.actor, actor
        try:
            yield
        finally:
            self.actor = before

    def take(self) -> list[Commit]:
        """The commits kept since the last ``take``, oldest first; forgets them."""
        taken, self.commits = self.commits, []
        return taken


def has_health_check(definition: TaskDefinition | None) -> bool:
    """True when an essential container of ``definition`` has a health check."""
    return definition is not None and any(
        c.essential and c.health_check is not None for c in definition.container_definitions
    )


def decided_count(after: Snapshot, written: Service) -> int:
    """The desired count a service's last status commit was decided with: the spec's, unless the
    spec moved on past the generation that status observed (a user's update racing the
    scheduler's decision, which the split of spec and status lets through): then the count of
    that status's PRIMARY deployment (a REPLICA service's is the spec's count it observed).
    """
    status = after.service_status(written.name)
    if status.observed_generation < written.generation and status.deployments and not status.inactive:
        return status.deployments[0].desired_count
    return written.desired_count


class ServiceInvariants:
    """Holds each commit, in order, to the service rules of this module's docstring.

    Start it on the snapshot before the first commit to check (``ServiceInvariants(snapshot)``),
    then call ``check`` with each commit; it keeps, from the commits' events, which tasks
    of each service have not reached STOPPED (so it does not rely on the scheduler's own
    bookkeeping). ``healthy_after`` is how long a task without a health check must run to
    count healthy.
    """

    def __init__(self, snapshot: Snapshot, *, healthy_after: float = 40.0) -> None:
        self.healthy_after = healthy_after
        #: Circuit breakers seen tripping, and the trips that rolled back, in the commits checked.
        self.trips = 0
        self.rollbacks = 0
        self._holding: dict[str, set[str]] = {}
        self._checked: dict[str, bool] = {}
        for task in snapshot.tasks():
            name = task.service_name
            if name is not None and not task.is_stopped:
                self._holding.setdefault(name, set()).add(task.id)

    # -- health, as the checks see it ----------------------------------------------------

    def _has_check(self, snapshot: Snapshot, key: str) -> bool:
        found = self._checked.get(key)
        if found is None:
            found = self._checked[key] = has_health_check(snapshot.task_definitions_by_key.get(key))
        return found

    def healthy(self, snapshot: Snapshot, task: Task, now: float) -> bool:
        """True when ``task`` counts healthy at ``now``."""
        if task.desired_status != "RUNNING" or task.last_status != "RUNNING":
            return False
        if self._has_check(snapshot, task.task_definition):
            return task.health_status == "HEALTHY"
        started = task.started_at if task.started_at is not None else task.created_at
        return started + self.healthy_after <= now

    def good(self, snapshot: Snapshot, service: Service, task: Task, now: float) -> bool:
        """True when ``task`` counts toward its deployment's count: not stopping, on an ACTIVE
        instance, on its way up or up and not failing its health check past the grace period.
        """
        if task.desired_status != "RUNNING" or task.last_status not in PENDING_STATUSES | {"RUNNING"}:
            return False
        instance = snapshot.instances_by_id.get(task.container_instance_id)
        if instance is None or instance.status != "ACTIVE":
            return False
        unhealthy = task.last_status == "RUNNING" and task.health_status == "UNHEALTHY"
        if unhealthy and self._has_check(snapshot, task.task_definition):
            started = task.started_at if task.started_at is not None else task.created_at
            return now < started + service.health_check_grace_period_seconds
        return True

    # -- one commit ----------------------------------------------------------------------

    def check(
        self, before: Snapshot, after: Snapshot, events: Iterable[Event], *, now: float, user: bool = False
    ) -> list[Violation]:
        """The rules the commit from ``before`` to ``after`` (with ``events``, at ``now``) breaks.

        ``user`` says the commit was a user's call (create, update, delete a service),
        whose record changes are not held to the circuit-breaker accounting.
        """
        launched: dict[str, list[Task]] = {}
        stopped: dict[str, list[Task]] = {}
        records: dict[str, Service] = {}
        prior: dict[str, set[str]] = {}
        before_tasks = before.tasks_by_id
        for event in events:
            if isinstance(event, ServiceChanged):
                records[event.service.name] = event.service
                continue
            if not isinstance(event, TaskChanged):
                continue
            task = event.task
            name = task.service_name
            if name is None:
                continue
            holding = self._holding.setdefault(name, set())
            if name not in prior:
                prior[name] = set(holding)
            old = before_tasks.get(task.id)
            if old is None:
                launched.setdefault(name, []).append(task)
            elif (
                old.desired_status != "STOPPED"
                and task.desired_status == "STOPPED"
                and task.stop_code == "ServiceSchedulerInitiated"
            ):
                stopped.setdefault(name, []).append(old)
            if task.is_stopped:
                holding.discard(task.id)
            else:
                holding.add(task.id)
        violations: list[Violation] = []
        for name, tasks in sorted(launched.items()):
            violations.extend(self._launches(before, after, name, tasks, prior.get(name, set()), now))
        for name, tasks in sorted(stopped.items()):
            violations.extend(self._stops(before, after, name, tasks, now))
        for name, record in sorted(records.items()):
            violations.extend(self._record(record))
            if not user:
                violations.extend(self._breaker(before, after, name))
        return violations

    def _launches(
        self, before: Snapshot, after: Snapshot, name: str, tasks: list[Task], prior: set[str], now: float
    ) -> list[Violation]:
        found: list[Violation] = []
        service = before.services_by_name.get(name)
        written = after.services_by_name.get(name)
        if service is None or written is None or service.status != "ACTIVE":
            status = "missing" if service is None else service.status
            return [Violation("SERVICE_LAUNCH", f"{len(tasks)} tasks launched for service {name}, which is {status}")]
        for task in tasks:
            deployment = service.deployment(task.started_by)
            problem = None
            if deployment is None or deployment.status == "INACTIVE":
                problem = f"for deployment {task.started_by}, which the service does not run"
            elif deployment.task_definition != task.task_definition:
                problem = f"of {task.task_definition} for deployment {deployment.id} of {deployment.task_definition}"
            elif deployment is service.primary and deployment.rollout_state == "FAILED":
                problem = f"for deployment {deployment.id}, which FAILED"
            if problem is not None:
                found.append(
                    Violation("SERVICE_LAUNCH", f"service {name}: task {task.id} launched {problem}", None, task.id)
                )
        holding = self._holding.get(name, set())
        if service.scheduling_strategy == "DAEMON":
            found.extend(self._daemon_launches(before, service, tasks, holding, after))
            return found
        desired = decided_count(after, written)
        bound = written.deployment_configuration.max_tasks(desired)
        if len(holding) > bound:
            found.append(
                Violation(
                    "SERVICE_MAX",
                    f"service {name} launched {len(tasks)} tasks and holds {len(holding)} not STOPPED, above "
                    f"⌊{desired} · {written.deployment_configuration.maximum_percent}%⌋ = {bound} "
                    f"(version {after.version})",
                )
            )
        new_by_deployment: dict[str | None, int] = {}
        for task in tasks:
            new_by_deployment[task.started_by] = new_by_deployment.get(task.started_by, 0) + 1
        decided = {d.id: d.desired_count for d in after.service_status(name).deployments}  # as committed
        for deployment_id, count in sorted(new_by_deployment.items(), key=lambda item: str(item[0])):
            deployment = service.deployment(deployment_id)
            if deployment is None:
                continue
            now_wanted = written.deployment(deployment_id)
            wanted = max(
                deployment.desired_count,
                now_wanted.desired_count if now_wanted is not None else 0,
                decided.get(str(deployment_id), 0),
            )
            good = 0
            for task_id in prior:
                task = before.tasks_by_id[task_id]
                if task.started_by == deployment_id and self.good(before, service, task, now):
                    good += 1
            if good + count > wanted:
                found.append(
                    Violation(
                        "SERVICE_OVERSHOOT",
                        f"service {name}: deployment {deployment_id} had {good} good tasks of the "
                        f"{wanted} it wants and {count} more were launched (version {after.version})",
                    )
                )
        return found

    def _daemon_launches(
        self, before: Snapshot, service: Service, tasks: list[Task], holding: set[str], after: Snapshot
    ) -> list[Violation]:
        found: list[Violation] = []
        per_instance: dict[str, int] = {}
        for task_id in holding:
            instance_id = after.tasks_by_id[task_id].container_instance_id
            per_instance[instance_id] = per_instance.get(instance_id, 0) + 1
        eligible = daemon_eligibility(before, service)
        for task in tasks:
            instance_id = task.container_instance_id
            if per_instance.get(instance_id, 0) > 1:
                found.append(
                    Violation(
                        "DAEMON_DUPLICATE",
                        f"daemon {service.name} has {per_instance[instance_id]} tasks not STOPPED on {instance_id} "
                        f"(version {after.version})",
                        instance_id,
                        task.id,
                    )
                )
            instance = before.instances_by_id.get(instance_id)
            if instance is None or not eligible(instance):
                found.append(
                    Violation(
                        "DAEMON_PLACEMENT",
                        f"daemon {service.name} launched on {instance_id}, which is "
                        f"{'missing' if instance is None else instance.status} or does not meet its constraints",
                        instance_id,
                        task.id,
                    )
                )
        return found

    def _stops(self, before: Snapshot, after: Snapshot, name: str, tasks: list[Task], now: float) -> list[Violation]:
        written = after.services_by_name.get(name)
        if written is None or written.scheduling_strategy != "REPLICA":
            return []
        record = before.services_by_name.get(name)
        if record is not None and record.primary is not None and record.primary.rollout_state == "FAILED":
            replaced = [task for task in tasks if after.tasks_by_id[task.id].stopped_reason == _DEPLOYMENT_REASON]
            if replaced:
                return [
                    Violation(
                        "SERVICE_STALLED",
                        f"service {name}: {len(replaced)} tasks stopped as replaced by deployment "
                        f"{record.primary.id}, which FAILED (version {after.version})",
                        task_id=replaced[0].id,
                    )
                ]
        healthy_stops = [task for task in tasks if self.healthy(before, task, now)]
        if not healthy_stops:
            return []
        desired = decided_count(after, written)
        bound = written.deployment_configuration.min_healthy(desired)
        healthy = sum(self.healthy(before, task, now) for task in before.service_tasks(name, "RUNNING"))
        if healthy - len(healthy_stops) >= bound:
            return []
        return [
            Violation(
                "SERVICE_MIN",
                f"service {name} had {healthy} healthy tasks and the scheduler stopped {len(healthy_stops)} of them, "
                f"leaving fewer than ⌈{desired} · "
                f"{written.deployment_configuration.minimum_healthy_percent}%⌉ = {bound} (version {after.version})",
                task_id=healthy_stops[0].id,
            )
        ]

    @staticmethod
    def _record(service: Service) -> list[Violation]:
        found: list[Violation] = []
        if len(service.events) > 100:
            found.append(Violation("SERVICE_RECORD", f"service {service.name} keeps {len(service.events)} events"))
        for newer, older in zip(service.events, service.events[1:], strict=False):
            if newer.message == older.message:
                found.append(
                    Violation("SERVICE_RECORD", f"service {service.name} logged twice in a row: {newer.message}")
                )
                break
        primary = service.primary
        if (
            service.scheduling_strategy == "REPLICA"
            and primary is not None
            and primary.desired_count != service.desired_count
        ):
            found.append(
                Violation(
                    "SERVICE_RECORD",
                    f"service {service.name} wants {service.desired_count} tasks, its PRIMARY deployment "
                    f"{primary.desired_count}",
                )
            )
        return found

    def _breaker(self, before: Snapshot, after: Snapshot, name: str) -> list[Violation]:
        old = before.services_by_name.get(name)
        new = after.services_by_name.get(name)
        if old is None or new is None or not old.deployments or not new.deployments:
            return []
        tasks = after.tasks_by_id
        low: dict[str | None, int] = {}  # failures every rule set counts, per deployment
        high: dict[str | None, int] = {}  # and those some count too
        for task_id in sorted(old.tracked_tasks - new.tracked_tasks):  # the stops this pass noticed
            task = tasks.get(task_id)
            kind = None if task is None else failure_kind(task, old.healthy_seen)
            if task is not None and kind is not None:
                high[task.started_by] = high.get(task.started_by, 0) + 1
                if kind == "failed":
                    low[task.started_by] = low.get(task.started_by, 0) + 1
        reset = {tasks[t].started_by for t in new.healthy_seen - old.healthy_seen if t in tasks}
        primary = old.deployments[0]
        breaker = old.deployment_configuration.deployment_circuit_breaker
        threshold = circuit_breaker_threshold(primary.desired_count)
        after_primary = new.deployment(primary.id)
        tripped = primary.rollout_state == "IN_PROGRESS" and (
            (after_primary is not None and after_primary.rollout_state == "FAILED")
            or (after_primary is None and new.deployments[0].id != primary.id)  # rolled back and done at once
        )
        where = f"(threshold {threshold}, version {after.version})"
        found: list[Violation] = []

        def wrong(text: str) -> None:
            found.append(Violation("CIRCUIT_BREAKER", f"service {name}: {text} {where}"))

        counted = primary.failed_tasks
        target = next((d for d in old.deployments[1:] if d.rollout_state == "COMPLETED"), None)
        if not breaker.rollback:
            target = None
        if tripped:
            self.trips += 1
            if not breaker.enable:
                wrong(f"deployment {primary.id} FAILED with the circuit breaker off")
            elif counted + high.get(primary.id, 0) < threshold:
                wrong(f"deployment {primary.id} FAILED after {counted} + at most {high.get(primary.id, 0)} failures")
            expected = {0} if primary.id in reset else {threshold}
            if after_primary is not None and after_primary.failed_tasks not in expected:
                wrong(f"deployment {primary.id} FAILED with {after_primary.failed_tasks} failed tasks")
            if new.deployments[0].id != (target.id if target is not None else primary.id):
                wrong(f"a trip of {primary.id} left {new.deployments[0].id} PRIMARY, not the last COMPLETED one")
            self.rollbacks += target is not None
        else:
            if (
                breaker.enable
                and primary.rollout_state == "IN_PROGRESS"
                and counted + low.get(primary.id, 0) >= threshold
            ):
                wrong(f"deployment {primary.id} did not FAIL after {counted} + {low.get(primary.id, 0)} failures")
            if new.deployments[0].id != primary.id:
                wrong(f"the PRIMARY deployment changed from {primary.id} to {new.deployments[0].id} without a trip")
        promoted = target.id if tripped and target is not None else None
        for deployment in new.deployments:
            before_it = old.deployment(deployment.id)
            if before_it is None or (tripped and deployment.id == primary.id):
                continue
            if deployment.id in reset:
                allowed = range(0, 1)
            elif deployment.id == promoted:
                allowed = range(0, high.get(deployment.id, 0) + 1)
            elif before_it.rollout_state == "IN_PROGRESS":
                allowed = range(
                    before_it.failed_tasks + low.get(deployment.id, 0),
                    before_it.failed_tasks + high.get(deployment.id, 0) + 1,
                )
            else:
                allowed = range(before_it.failed_tasks, before_it.failed_tasks + 1)
            if deployment.failed_tasks not in allowed:
                wrong(
                    f"deployment {deployment.id} counts {deployment.failed_tasks} failed tasks, expected "
                    f"{allowed.start}..{allowed.stop - 1}"
                )
            states = {"IN_PROGRESS": {"IN_PROGRESS", "COMPLETED"}, "COMPLETED": {"COMPLETED"}, "FAILED": {"FAILED"}}
            allowed_states = (
                {"IN_PROGRESS", "COMPLETED"} if deployment.id == promoted else states[before_it.rollout_state]
            )
            if deployment.rollout_state not in allowed_states:
                wrong(f"deployment {deployment.id} went from {before_it.rollout_state} to {deployment.rollout_state}")
        return found


def failure_kind(task: Task, healthy_seen: frozenset[str]) -> str | None:
    """Whether a STOPPED task counts toward the circuit breaker: ``"failed"`` when every rule
    set counts it (it never reached RUNNING and nobody meant to stop it, or it failed its
    health check), ``"maybe"`` when it ran and stopped on its own before it was ever healthy
    (ECS's documents count stage 1 and stage 2 failures; whether such a task is one differs
    between readings, so both are accepted), None when it does not count.
    """
    purposeful = task.stop_code in _PURPOSEFUL
    if task.started_at is None and not purposeful:
        return "failed"
    if (
        task.health_status == "UNHEALTHY"
        or task.stopped_reason == _UNHEALTHY_REASON
        or (task.stopped_reason or "").startswith(_ELB_UNHEALTHY_REASON)
    ):
        return "failed"
    if not purposeful and task.id not in healthy_seen and task.health_status != "HEALTHY":
        return "maybe"
    return None


def daemon_eligibility(snapshot: Snapshot, service: Service) -> Callable[[ContainerInstance], bool]:
    """A test of the instances a daemon belongs on: ACTIVE and meeting its memberOf constraints
    (the service's and its task definition's).
    """
    definition = snapshot.task_definitions_by_key.get(service.task_definition)
    constraints = service.placement_constraints + (definition.placement_constraints if definition else ())
    expressions = [parse_expression(c.expression) for c in constraints if c.type == "memberOf" and c.expression]
    context = SnapshotContext(snapshot)

    def eligible(instance: ContainerInstance) -> bool:
        return instance.status == "ACTIVE" and all(e.evaluate(instance, context) for e in expressions)

    return eligible


# -- a settled cluster -------------------------------------------------------------------


@attrs.frozen(slots=True)
class SettledReport:
    """What ``check_services_settled`` found: the ``violations``, and how many services it held
    to their desired state (``converged``), found with a tripped circuit breaker and no
    rollback (``tripped``), to the event of a deployment its bounds keep from moving (``stuck``), or
    could not hold for want of capacity (``no_capacity``).
    """

    violations: tuple[Violation, ...]
    converged: int = 0
    tripped: int = 0
    no_capacity: int = 0
    stuck: int = 0


def _movable(service: Service) -> bool:
    """True when a deployment of ``service`` can start or stop something within its bounds."""
    desired = service.desired_count
    config = service.deployment_configuration
    return config.max_tasks(desired) > desired or config.min_healthy(desired) < desired


def _first_fit(free: dict[str, Resources], demands: Sequence[Resources]) -> bool:
    """True when every demand fits somewhere, placed first-fit in decreasing size."""
    room = dict(free)
    for demand in sorted(demands, key=lambda r: (r.cpu, r.memory), reverse=True):
        for instance_id, left in room.items():
            if demand.fits(left):
                room[instance_id] = left.allocate(demand)
                break
        else:
            return False
    return True


def check_services_settled(
    snapshot: Snapshot,
    *,
    now: float,
    runnable: Callable[[TaskDefinition], bool],
    healthy_after: float = 40.0,
) -> SettledReport:
    """What every service must show once failures stopped and enough time passed.

    ``runnable(definition)`` says whether tasks of a definition can start and become
    healthy (the test knows which images never pull, exit at once or never pass their
    health check). Then, for services with runnable PRIMARY deployments that are not FAILED:

    - ``SERVICE_LIVENESS``: an ACTIVE REPLICA service runs exactly its desired count of
      healthy tasks of its PRIMARY deployment (COMPLETED, the only one left), on ACTIVE
      instances, whenever capacity allows: with every task left where it is and a daemon's
      task on every instance it belongs on, the tasks each service still lacks (and, for
      services that cannot converge, up to their ``maximumPercent`` bound) fit, first-fit
      in decreasing size. A service whose bounds allow neither a start nor a stop
      (``⌊desired · max⌋ ≤ desired`` and ``⌈desired · min⌉ ≥ desired``) cannot replace a
      task on a DRAINING instance or of an older deployment: it must say so with ECS's
      event instead. A DRAINING service is INACTIVE with no tasks.
    - ``DAEMON_LIVENESS``: a daemon runs exactly one task, RUNNING and of its PRIMARY
      deployment, on every ACTIVE connected instance meeting its constraints that has room
      for it; none on an ACTIVE instance that does not meet them, none on a DRAINING
      instance where only daemons' tasks remain.
    - ``SERVICE_LIVENESS`` too: a REPLICA service whose PRIMARY deployment FAILED keeps
      its older deployments that can run at their desired counts of healthy tasks (up to
      the service's), unless its bounds keep them on a DRAINING instance and it says so.
    - ``CIRCUIT_BREAKER_LIVENESS``: a REPLICA service with the circuit breaker on, whose
      PRIMARY deployment cannot run, and whose bounds and capacity let it launch, has
      FAILED it.

    Host ports are not considered when judging capacity: use definitions without them.
    """
    checker = ServiceInvariants(snapshot, healthy_after=healthy_after)
    services = list(snapshot.services())
    holding: dict[str, list[Task]] = {service.name: [] for service in services}
    for instance in snapshot.instances():
        for task in snapshot.tasks_on(instance.id):
            if task.service_name in holding:
                holding[task.service_name].append(task)
    usable = [i for i in snapshot.instances() if i.status == "ACTIVE" and i.agent_connected]
    definitions = snapshot.task_definitions_by_key

    def runs(service: Service) -> bool:
        primary = service.primary
        definition = definitions.get(primary.task_definition) if primary is not None else None
        return (
            service.status == "ACTIVE"
            and primary is not None
            and primary.rollout_state != "FAILED"
            and definition is not None
            and runnable(definition)
        )

    converging = [s for s in services if s.scheduling_strategy == "REPLICA" and runs(s)]
    converging_names = {s.name for s in converging}

    # the room left with every task kept where it is; then, for each service, what it still needs
    free = {instance.id: instance.remaining for instance in usable}
    usable_ids = set(free)
    demands: list[Resources] = []
    for service in services:
        definition = definitions.get(service.task_definition)
        if definition is None or service.status != "ACTIVE":
            continue
        tasks = holding[service.name]
        if service.scheduling_strategy == "DAEMON":
            eligible = daemon_eligibility(snapshot, service)
            present = {t.container_instance_id for t in tasks}
            for instance in usable:
                if eligible(instance) and instance.id not in present and definition.charge.fits(free[instance.id]):
                    free[instance.id] = free[instance.id].allocate(definition.charge)
        elif service.name in converging_names:
            primary_id = service.deployments[0].id
            placed = sum(
                t.started_by == primary_id
                and t.desired_status == "RUNNING"
                and t.health_status != "UNHEALTHY"
                and t.container_instance_id in usable_ids
                for t in tasks
            )
            demands.extend([definition.charge] * max(0, service.desired_count - placed))
        else:
            bound = service.deployment_configuration.max_tasks(service.desired_count)
            demands.extend([definition.charge] * max(0, bound - len(tasks)))
    room = _first_fit(free, demands)

    found: list[Violation] = []
    converged = tripped = no_capacity = stuck = 0
    for service in services:
        name = service.name
        tasks = holding[name]
        if service.status == "DRAINING" or (service.status == "INACTIVE" and tasks):
            found.append(
                Violation("SERVICE_LIVENESS", f"service {name} is {service.status} with {len(tasks)} tasks left")
            )
            continue
        if service.status != "ACTIVE" or service.primary is None:
            continue
        primary = service.primary
        if not runs(service):
            definition = definitions.get(primary.task_definition)
            breaker = service.deployment_configuration.deployment_circuit_breaker
            if primary.rollout_state == "FAILED" and service.scheduling_strategy == "REPLICA":
                tripped += 1
                found.extend(_stalled_settled(snapshot, service, tasks, usable_ids, checker, now, runnable, room))
            elif (
                breaker.enable
                and primary.rollout_state == "IN_PROGRESS"
                and definition is not None
                and not runnable(definition)
                and service.scheduling_strategy == "REPLICA"
                and service.desired_count > 0
                and _movable(service)
                and room
                and _first_fit(free, [*demands, definition.charge])
            ):
                found.append(
                    Violation(
                        "CIRCUIT_BREAKER_LIVENESS",
                        f"service {name}: deployment {primary.id} of {primary.task_definition} cannot run, the "
                        f"circuit breaker is on, and it is still IN_PROGRESS with {primary.failed_tasks} failed tasks",
                    )
                )
            continue
        if service.scheduling_strategy == "DAEMON":
            found.extend(_daemon_settled(snapshot, service, tasks, usable, checker, now))
            converged += 1
            continue
        if not room:
            no_capacity += 1
            continue
        replaceable = [t for t in tasks if t.started_by != primary.id or t.container_instance_id not in usable_ids]
        if replaceable and not _movable(service):
            stuck += 1
            if not any(event.message == messages.deployment_stuck(name) for event in service.events[:3]):
                found.append(
                    Violation(
                        "SERVICE_LIVENESS",
                        f"service {name}: {len(replaceable)} tasks to replace, bounds that allow neither a start "
                        "nor a stop, and no event saying so",
                    )
                )
            continue
        converged += 1
        problems = []
        healthy = [
            t
            for t in tasks
            if t.started_by == primary.id
            and checker.healthy(snapshot, t, now)
            and t.container_instance_id in usable_ids
        ]
        if len(tasks) != service.desired_count or len(healthy) != service.desired_count:
            problems.append(
                f"{len(tasks)} tasks not STOPPED, {len(healthy)} of them healthy on ACTIVE connected instances "
                f"in its PRIMARY deployment, for a desired count of {service.desired_count}"
            )
        if primary.rollout_state != "COMPLETED" or len(service.deployments) != 1:
            problems.append(
                f"deployment {primary.id} is {primary.rollout_state} among {len(service.deployments)} deployments"
            )
        if problems:
            found.append(Violation("SERVICE_LIVENESS", f"service {name}: " + "; ".join(problems)))
    return SettledReport(tuple(found), converged, tripped, no_capacity, stuck)


def _stalled_settled(
    snapshot: Snapshot,
    service: Service,
    tasks: list[Task],
    usable_ids: set[str],
    checker: ServiceInvariants,
    now: float,
    runnable: Callable[[TaskDefinition], bool],
    room: bool,
) -> list[Violation]:
    """A service whose PRIMARY deployment FAILED keeps its older deployments' tasks up, healed:
    as many healthy as they want, up to the desired count (unless its bounds keep them from
    moving off a DRAINING instance, which it must say).
    """
    definitions = snapshot.task_definitions_by_key
    older = [
        d
        for d in service.deployments[1:]
        if d.status != "INACTIVE" and (definition := definitions.get(d.task_definition)) and runnable(definition)
    ]
    if not older or not room:
        return []
    ids = {d.id for d in older}
    if not _movable(service) and any(t.started_by in ids and t.container_instance_id not in usable_ids for t in tasks):
        if any(event.message == messages.deployment_stuck(service.name) for event in service.events[:3]):
            return []
        return [Violation("SERVICE_LIVENESS", f"service {service.name}: stuck by its bounds without saying so")]
    wanted = min(sum(d.desired_count for d in older), service.desired_count)
    healthy = sum(
        t.started_by in ids and checker.healthy(snapshot, t, now) and t.container_instance_id in usable_ids
        for t in tasks
    )
    if healthy >= wanted:
        return []
    return [
        Violation(
            "SERVICE_LIVENESS",
            f"service {service.name}: deployment {service.deployments[0].id} FAILED, and the older deployments "
            f"that keep it up run {healthy} healthy tasks of the {wanted} they want",
        )
    ]


def _daemon_settled(
    snapshot: Snapshot,
    service: Service,
    tasks: list[Task],
    usable: list[ContainerInstance],
    checker: ServiceInvariants,
    now: float,
) -> list[Violation]:
    found: list[Violation] = []
    eligible = daemon_eligibility(snapshot, service)
    definition = snapshot.task_definitions_by_key.get(service.task_definition)
    usable_ids = {instance.id for instance in usable}
    by_instance: dict[str, list[Task]] = {}
    for task in tasks:
        by_instance.setdefault(task.container_instance_id, []).append(task)
    primary = service.primary
    assert primary is not None
    for instance in snapshot.instances():
        here = by_instance.get(instance.id, [])
        if instance.id in usable_ids and eligible(instance):
            running = [t for t in here if t.started_by == primary.id and t.last_status == "RUNNING"]
            if len(here) == 1 and len(running) == 1:
                continue
            if not here and definition is not None and not definition.charge.fits(instance.remaining):
                continue  # no room for it there
            found.append(
                Violation(
                    "DAEMON_LIVENESS",
                    f"daemon {service.name} has {len(here)} tasks ({len(running)} RUNNING in its PRIMARY deployment) "
                    f"on {instance.id}, where it belongs once",
                    instance.id,
                )
            )
        elif here and instance.status == "ACTIVE" and not eligible(instance):
            found.append(
                Violation(
                    "DAEMON_LIVENESS",
                    f"daemon {service.name} has {len(here)} tasks on {instance.id}, "
                    "which does not meet its constraints",
                    instance.id,
                )
            )
        elif here and instance.status == "DRAINING":
            others = [
                t
                for t in snapshot.tasks_on(instance.id)
                if (owner := snapshot.services_by_name.get(t.service_name or "")) is None
                or owner.scheduling_strategy != "DAEMON"
            ]
            if not others:
                found.append(
                    Violation(
                        "DAEMON_LIVENESS",
                        f"daemon {service.name} still has {len(here)} tasks on DRAINING {instance.id}, "
                        "where no other service's task remains",
                        instance.id,
                    )
                )
    return found
