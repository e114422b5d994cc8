"""The planner: what the load balancer and the state need, decided from a snapshot and what
the load balancer reports. Pure.

For every service with ``loadBalancers`` and each target group it names (and the controller
knows), the targets should be exactly its tasks' (host address, host port of the container
port):

* a RUNNING task is registered (``Register``: added, checked, in service when healthy) and
  its target health recorded from what the load balancer says (``initial``, ``healthy``,
  ``unhealthy``);
* a DEACTIVATING task (being stopped; the agent leaves it running) is drained (``Drain``),
  recorded ``draining``, and deregistered (``Deregister``) once it has no connections or the
  target group's deregistration delay has passed since it began stopping; once none of its
  target groups holds it, it moves on to STOPPING and the agent stops it;
* any other server of the backend (a task that died, stopped or is unknown, what a restart
  left behind) is deregistered at once.

Each ``TaskPlan`` holds the load balancer calls for one task and the task state change to
commit once they succeeded, with what the service events must say. A backend the load
balancer could not list is left alone: nothing about its targets is decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

import attrs

from clusterkit.balancing._balancer import HealthCheckSettings, Server
from clusterkit.balancing._target_group import TargetGroup
from clusterkit.executor import HOST_ADDRESS_ATTRIBUTE
from clusterkit.model import Service, TargetHealth, TargetHealthState, Task
from clusterkit.services import messages
from clusterkit.state import Snapshot, TaskStateChange

__all__ = [
    "Action",
    "BalancingPlan",
    "TaskPlan",
    "plan_balancing",
    "service_messages",
    "target_state",
]

Verb = Literal["register", "enable", "drain", "deregister"]
_GONE: Final = frozenset({"STOPPING", "DEPROVISIONING", "STOPPED"})


@attrs.frozen(slots=True)
class Action:
    """One load balancer call: ``register`` (add ``address:port`` with ``check``), ``enable``,
    ``drain`` or ``deregister`` the server ``server`` of ``backend``.
    """

    verb: Verb
    backend: str
    server: str
    address: str = ""
    port: int = 0
    check: HealthCheckSettings | None = None


@attrs.frozen(slots=True)
class TaskPlan:
    """For one task: the load balancer calls, then the state change to commit if all succeed.

    ``change`` is None when the record is already right. ``registered`` and ``deregistered``
    are the target groups whose entry the change adds or removes; ``draining`` says the
    change is the one that records it draining: the service events count them.
    """

    task_id: str
    service: str
    actions: tuple[Action, ...] = ()
    change: TaskStateChange | None = None
    registered: tuple[str, ...] = ()
    deregistered: tuple[str, ...] = ()
    draining: bool = False


@attrs.frozen(slots=True)
class BalancingPlan:
    """What one pass does: ``tasks`` (per task), ``orphans`` (servers no task accounts for,
    to deregister) and ``wake_at``, the earliest time the plan may change by the clock alone
    (a deregistration delay ending, a new target's ``initial`` time running out).
    """

    tasks: tuple[TaskPlan, ...] = ()
    orphans: tuple[Action, ...] = ()
    wake_at: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to call and nothing to commit."""
        return not self.orphans and all(not p.actions and p.change is None for p in self.tasks)


def target_state(
    server: Server, previous: TargetHealthState | None, since: float, group: TargetGroup, now: float
) -> TargetHealthState:
    """The ELB state of a registered, not draining target: ``healthy`` while the load balancer
    has it up; down, ``unhealthy`` once it was ever found healthy or unhealthy, or its checks
    fail after ``group.settle_time`` from ``since`` (when it began); ``initial`` before.
    """
    if server.admin == "drain":
        return "draining"
    if server.up and server.admin == "ready":
        return "healthy"
    if previous in ("healthy", "unhealthy"):
        return "unhealthy"
    if server.check == "failing" and now >= since + group.settle_time:
        return "unhealthy"
    return "initial"


def _check(group: TargetGroup) -> HealthCheckSettings:
    return HealthCheckSettings(group.interval, group.healthy_threshold, group.unhealthy_threshold)


class _Pass:
    def __init__(self, snapshot: Snapshot, now: float, default_address: str) -> None:
        self.snapshot = snapshot
        self.now = now
        self.default_address = default_address
        self.wakes: list[float] = []

    def wake(self, at: float) -> None:
        if at > self.now:
            self.wakes.append(at)

    def target(self, task: Task, service: Service, arn: str) -> tuple[str, int] | None:
        """The task's (address, port) in this target group, or None when it publishes no such port."""
        balancer = next(b for b in service.load_balancers if b.target_group_arn == arn)
        port = next(
            (
                binding.host_port
                for binding in task.host_ports
                if binding.container_name == balancer.container_name
                and binding.container_port == balancer.container_port
                and binding.protocol == "tcp"
            ),
            None,
        )
        if port is None:
            return None
        instance = self.snapshot.instances_by_id.get(task.container_instance_id)
        address = instance.attribute(HOST_ADDRESS_ATTRIBUTE) if instance is not None else None
        return (address or self.default_address), port


def plan_balancing(
    snapshot: Snapshot,
    target_groups: Iterable[TargetGroup],
    servers: Mapping[str, Mapping[str, Server] | None],
    now: float,
    *,
    default_address: str = "127.0.0.1",
) -> BalancingPlan:
    """What the load balancer and the state need at ``now``.

    ``servers`` maps each target group's backend to its servers as the load balancer listed
    them (None: it could not). Instances without ``HOST_ADDRESS_ATTRIBUTE`` take
    ``default_address``. O(tasks of balanced services + servers).
    """
    groups = {group.arn: group for group in target_groups}
    work = _Pass(snapshot, now, default_address)
    claimed: set[tuple[str, str]] = set()  # (backend, server) some task accounts for
    plans: list[TaskPlan] = []
    for service in sorted(snapshot.services(), key=lambda s: s.name):
        arns = [b.target_group_arn for b in service.load_balancers if b.target_group_arn in groups]
        if not arns:
            continue
        for task in sorted(snapshot.service_tasks_holding(service), key=lambda t: t.id):
            for arn in arns:
                claimed.add((groups[arn].backend, task.id))
            plan = _plan_task(work, service, task, [groups[arn] for arn in arns], servers)
            if plan is not None:
                plans.append(plan)
    orphans = tuple(
        Action("deregister", backend, name)
        for backend in sorted({group.backend for group in groups.values()})
        if (listed := servers.get(backend)) is not None
        for name in sorted(listed)
        if (backend, name) not in claimed
    )
    return BalancingPlan(tuple(plans), orphans, min(work.wakes) if work.wakes else None)


def _plan_task(
    work: _Pass,
    service: Service,
    task: Task,
    groups: list[TargetGroup],
    servers: Mapping[str, Mapping[str, Server] | None],
) -> TaskPlan | None:
    recorded = {entry.target_group_arn: entry.state for entry in task.target_health}
    entries = dict(recorded)
    actions: list[Action] = []
    status = task.last_status
    deactivating = status == "DEACTIVATING"
    all_gone = True  # every target group known not to hold the task
    for group in groups:
        listed = servers.get(group.backend)
        if listed is None:
            all_gone = False
            continue  # the load balancer could not say: leave this group as it is
        server = listed.get(task.id)
        if status == "RUNNING":
            where = work.target(task, service, group.arn)
            if where is None:
                entries.pop(group.arn, None)
                if server is not None:
                    actions.append(Action("deregister", group.backend, task.id))
                continue
            if server is not None and (server.address, server.port) != where:
                actions.append(Action("deregister", group.backend, task.id))
                server = None
            if server is None:
                actions.append(Action("register", group.backend, task.id, where[0], where[1], _check(group)))
                entries[group.arn] = "initial"  # new, or back after the load balancer forgot it
            else:
                if server.admin != "ready":
                    actions.append(Action("enable", group.backend, task.id))
                    server = attrs.evolve(server, admin="ready")
                since = task.started_at if task.started_at is not None else task.created_at
                entries[group.arn] = target_state(server, recorded.get(group.arn), since, group, work.now)
                if entries[group.arn] == "initial":
                    work.wake(since + group.settle_time)
            all_gone = False
        elif deactivating:
            if server is None:
                entries.pop(group.arn, None)
                continue
            began = task.stopping_at if task.stopping_at is not None else work.now
            deadline = began + group.deregistration_delay
            if server.admin == "drain" and (server.sessions == 0 or work.now >= deadline):
                actions.append(Action("deregister", group.backend, task.id))
                entries.pop(group.arn, None)
                continue
            if server.admin != "drain":
                actions.append(Action("drain", group.backend, task.id))
            entries[group.arn] = "draining"
            work.wake(deadline)
            all_gone = False
        else:  # not RUNNING yet, or past it: no target
            if server is not None:
                actions.append(Action("deregister", group.backend, task.id))
            entries.pop(group.arn, None)
    health = tuple(TargetHealth(arn, state) for arn, state in sorted(entries.items()))
    moves_on = deactivating and all_gone
    change: TaskStateChange | None = None
    if moves_on:
        change = TaskStateChange(task.id, task.version, last_status="STOPPING", target_health=())
        health = ()
    elif health != task.target_health and status not in _GONE:
        change = TaskStateChange(task.id, task.version, target_health=health)
    if change is None and not actions:
        return None
    after = {entry.target_group_arn for entry in health}
    return TaskPlan(
        task.id,
        service.name,
        tuple(actions),
        change,
        registered=tuple(sorted(after - set(recorded))) if change is not None else (),
        deregistered=tuple(sorted(set(recorded) - after)) if change is not None else (),
        draining=change is not None
        and any(e.state == "draining" for e in health)
        and not any(state == "draining" for state in recorded.values()),
    )


def service_messages(service: str, plans: Iterable[TaskPlan]) -> list[str]:
    """The service events for the task changes of ``plans`` that are committed, in ECS's words."""
    registered: dict[str, int] = {}
    deregistered: dict[str, int] = {}
    draining = 0
    for plan in plans:
        for arn in plan.registered:
            registered[arn] = registered.get(arn, 0) + 1
        for arn in plan.deregistered:
            deregistered[arn] = deregistered.get(arn, 0) + 1
        draining += plan.draining
    texts = [messages.registered_targets(service, count, arn) for arn, count in sorted(registered.items())]
    if draining:
        texts.append(messages.began_draining(service, draining))
    texts.extend(messages.deregistered_targets(service, count, arn) for arn, count in sorted(deregistered.items()))
    return texts
