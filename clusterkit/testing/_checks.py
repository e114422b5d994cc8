"""Invariant checks for snapshots and plans, as lists of ``Violation`` values.

``check_state`` holds a snapshot to the cluster's invariants, and to the snapshot before it:
no version goes backwards, no task disappears. ``check_plan`` holds a plan to the snapshot
and request it was made for: capacity, ports, instance status and constraints, the tasks'
shape, and, for the built-in ``BaseScheduler`` with nothing added, the choice a brute-force
oracle makes at every step. Neither changes anything; both are pure functions of their
arguments, so they work on any scheduler's output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from clusterkit.model import Task, TaskDefinition, check_instance
from clusterkit.placement import DEFAULT_DYNAMIC_PORTS, BaseScheduler, PlacementRequest, Plan, PortRange, Scheduler
from clusterkit.state import Snapshot, Violation, invariant_violations
from clusterkit.testing._oracle import View, failing_reasons, oracle_key, oracle_views

__all__ = [
    "InvariantViolated",
    "Violation",
    "assert_valid_plan",
    "assert_valid_state",
    "check_plan",
    "check_state",
    "is_plain_base_scheduler",
]

_VERSIONED = ("instance", "task")
_ABSENT = {True: "INACTIVE", False: "not registered"}


def check_state(snapshot: Snapshot, previous: Snapshot | None = None) -> list[Violation]:
    """Every broken invariant of ``snapshot``; with ``previous``, of the step between them.

    On its own (``clusterkit.state.invariant_violations``): ``OVERCOMMIT``
    (cpu, memory or a scalar), ``PORT_CLASH``, ``MISSING_INSTANCE``, ``INACTIVE_INSTANCE``
    (a task holds resources on a deregistered instance), ``REMAINING`` (remaining ≠
    registered − Σ charges), ``TASK_COUNTS`` and ``INDEX``. Against an earlier snapshot
    of the same cluster: ``VERSION_BACKWARDS`` (the cluster's, an instance's or a task's
    version went down), ``VERSION_REUSED`` (a record changed but kept its version) and
    ``LOST`` (an instance or task disappeared; clusterkit never deletes them).
    """
    violations = invariant_violations(snapshot)
    if previous is None:
        return violations
    if snapshot.version < previous.version:
        violations.append(
            Violation(
                "VERSION_BACKWARDS",
                f"the cluster went from version {previous.version} back to {snapshot.version}",
                field="version",
            )
        )
    for kind in _VERSIONED:
        violations.extend(_record_steps(kind, previous, snapshot))
    return violations


def _record_steps(kind: str, previous: Snapshot, snapshot: Snapshot) -> Iterable[Violation]:
    """Versions of the instances (or tasks) of ``previous`` as ``snapshot`` has them."""
    before: Iterable[Any] = previous.instances() if kind == "instance" else previous.tasks()
    lookup = snapshot.instances_by_id if kind == "instance" else snapshot.tasks_by_id
    for old in before:
        new = lookup.get(old.id)
        ids = {"instance_id": old.id} if kind == "instance" else {"task_id": old.id}
        if new is None:
            yield Violation("LOST", f"{kind} {old.id} (version {old.version}) disappeared", **ids)
        elif new.version < old.version:
            yield Violation(
                "VERSION_BACKWARDS",
                f"{kind} {old.id} went from version {old.version} back to {new.version}",
                field="version",
                **ids,
            )
        elif new.version == old.version and new != old:
            yield Violation(
                "VERSION_REUSED", f"{kind} {old.id} changed but stayed at version {old.version}", field="version", **ids
            )


def is_plain_base_scheduler(scheduler: object) -> bool:
    """True for a ``BaseScheduler`` itself with no filters, scorers, sample or balance.

    Only such a scheduler is held to the oracle's choice: every addition changes the
    choice on purpose.
    """
    return (
        type(scheduler) is BaseScheduler
        and not scheduler.filters
        and not scheduler.scorers
        and scheduler.sample is None
        and scheduler.balance is None
    )


def check_plan(
    snapshot: Snapshot,
    request: PlacementRequest,
    plan: Plan,
    *,
    scheduler: Scheduler | None = None,
    dynamic_ports: PortRange | None = None,
) -> list[Violation]:
    """Every rule ``plan`` breaks as a plan for ``request`` made against ``snapshot``.

    Any scheduler's plan: ``PLAN_COUNT`` (placed + unplaced ≠ count), ``PLAN_TASK`` (a
    task that the commit would refuse or that carries the wrong definition, group, status
    or instance version), ``PLAN_INSTANCE`` (missing, not ACTIVE, or agent disconnected),
    ``PLAN_CAPACITY`` (cpu, memory or a scalar short, counting the plan's earlier tasks),
    ``PLAN_PORTS`` (a host port taken or bound wrongly), ``PLAN_CHARGE`` (a charge that is
    not the definition's plus its bindings), ``PLAN_CONSTRAINT`` (a memberOf expression,
    evaluated by the query language, does not select the instance) and ``PLAN_DISTINCT``.

    With ``scheduler`` a plain ``BaseScheduler`` (see ``is_plain_base_scheduler``), also:
    ``PLAN_ORACLE`` (binpack and spread: not the instance the brute-force oracle ranks
    best; random: not tied with it on the keys before the random one), ``PLAN_UNPLACED``
    (a task left unplaced that some instance could take) and ``PLAN_REPEAT`` (placing the
    same request again, seeded or without random, gives another plan).

    ``dynamic_ports`` is the range dynamic host ports come from: by default the
    scheduler's ``dynamic_ports``, else ECS's 49153–65535.
    """
    if scheduler is not None:
        check_instance("scheduler", scheduler, "place")
    if dynamic_ports is None:
        dynamic_ports = getattr(scheduler, "dynamic_ports", DEFAULT_DYNAMIC_PORTS)
    plain = is_plain_base_scheduler(scheduler)
    violations: list[Violation] = []
    if len(plan.placements) + len(plan.unplaced) != request.count:
        violations.append(
            Violation(
                "PLAN_COUNT",
                f"{len(plan.placements)} placed and {len(plan.unplaced)} unplaced for a request of {request.count}",
                field="count",
            )
        )
    views = oracle_views(snapshot)
    definition = request.task_definition
    strategies = request.strategies
    group = request.task_group
    constraints = request.all_constraints
    for step, placement in enumerate(plan.placements):
        task = placement.task
        found = _check_task(snapshot, request, task, placement.instance_version)
        view = views.get(task.container_instance_id)
        if view is None:
            known = snapshot.instances_by_id.get(task.container_instance_id) is not None
            found.append(_on(task, "PLAN_INSTANCE", f"instance {task.container_instance_id} is {_ABSENT[known]}"))
            violations.extend(found)
            continue
        reasons = failing_reasons(view, definition, constraints, group, dynamic_ports)
        found.extend(_reason_violations(task, reasons))
        found.extend(_port_violations(task, definition, view, dynamic_ports))
        if plain and not found:
            found.extend(_oracle_choice(step, task, view, views, definition, strategies, constraints, dynamic_ports))
        violations.extend(found)
        _charge_view(view, task)
    if plain and plan.unplaced:
        violations.extend(_unplaced_violations(plan, views, definition, constraints, group, dynamic_ports))
    if plain and not violations and _repeatable(scheduler, strategies):
        violations.extend(_repeat_violations(snapshot, request, plan, scheduler))
    return violations


def _on(task: Task, code: str, message: str, field: str | None = None) -> Violation:
    return Violation(code, f"task {task.id}: {message}", task.container_instance_id, task.id, field)


def _check_task(snapshot: Snapshot, request: PlacementRequest, task: Task, instance_version: int) -> list[Violation]:
    """The task's own fields against the request (what the commit or ECS would expect)."""
    definition = request.task_definition
    found: list[Violation] = []
    expected_status = "PROVISIONING" if definition.network_mode == "awsvpc" else "PENDING"
    checks = (
        ("taskDefinition", task.task_definition, definition.key),
        ("group", task.group, request.task_group),
        ("startedBy", task.started_by, request.started_by),
        ("lastStatus", task.last_status, expected_status),
        ("desiredStatus", task.desired_status, "RUNNING"),
        ("version", task.version, 1),
    )
    for field, value, expected in checks:
        if value != expected:
            found.append(_on(task, "PLAN_TASK", f"{field} is {value!r}, expected {expected!r}", field))
    if snapshot.tasks_by_id.get(task.id) is not None:
        found.append(_on(task, "PLAN_TASK", "a task with this id exists already", "taskId"))
    instance = snapshot.instances_by_id.get(task.container_instance_id)
    if instance is not None and instance.version != instance_version:
        found.append(
            _on(
                task,
                "PLAN_TASK",
                f"planned against instance version {instance_version}, the snapshot has {instance.version}",
                "instanceVersion",
            )
        )
    return found


def _reason_violations(task: Task, reasons: set[str]) -> Iterable[Violation]:
    for reason in sorted(reasons):
        if reason in ("INACTIVE", "AGENT"):
            yield _on(task, "PLAN_INSTANCE", f"instance {task.container_instance_id} does not accept tasks ({reason})")
        elif reason == "RESOURCE:PORTS":
            yield _on(task, "PLAN_PORTS", f"not enough free host ports on {task.container_instance_id}", "ports")
        elif reason.startswith("RESOURCE:"):
            name = reason.removeprefix("RESOURCE:")
            field = name.lower() if name in ("CPU", "MEMORY") else f"scalars[{name!r}]"
            yield _on(task, "PLAN_CAPACITY", f"{task.container_instance_id} has too little {name} left", field)
        elif reason == "ATTRIBUTE":
            yield _on(
                task, "PLAN_CONSTRAINT", f"a memberOf expression rejects {task.container_instance_id}", "expression"
            )
        else:
            yield _on(task, "PLAN_DISTINCT", f"{task.container_instance_id} already holds a task of the group", "group")


def _port_violations(task: Task, definition: TaskDefinition, view: View, port_range: PortRange) -> list[Violation]:
    """The bindings follow the network mode; every port taken was free; the charge matches."""
    found: list[Violation] = []
    mappings = {
        (container.name, mapping.container_port, mapping.protocol): mapping.host_port
        for container in definition.container_definitions
        for mapping in container.port_mappings
    }
    bound = sorted((b.container_name, b.container_port, b.protocol) for b in task.host_ports)
    if bound != sorted(mappings):
        found.append(_on(task, "PLAN_PORTS", f"binds {bound}, its definition maps {sorted(mappings)}", "hostPorts"))
    taken: dict[str, set[int]] = {"tcp": set(), "udp": set()}
    for binding in task.host_ports:
        written = mappings.get((binding.container_name, binding.container_port, binding.protocol))
        if definition.network_mode in ("host", "awsvpc"):
            expected_ok = binding.host_port == binding.container_port
        else:
            expected_ok = (
                binding.host_port == written if written else port_range.first <= binding.host_port <= port_range.last
            )
        if not expected_ok:
            found.append(
                _on(task, "PLAN_PORTS", f"{binding} does not follow {definition.network_mode} mode", "hostPort")
            )
        if definition.network_mode == "awsvpc":
            continue
        field = "ports" if binding.protocol == "tcp" else "ports_udp"
        already = view.ports if binding.protocol == "tcp" else view.ports_udp
        if binding.host_port in already or binding.host_port in taken[binding.protocol]:
            found.append(
                _on(task, "PLAN_PORTS", f"{binding.protocol} port {binding.host_port} is taken on {view.id}", field)
            )
        taken[binding.protocol].add(binding.host_port)
    demand = definition.charge
    charge = task.charge
    expected = (demand.cpu, demand.memory, demand.scalars, frozenset(taken["tcp"]), frozenset(taken["udp"]))
    if (charge.cpu, charge.memory, charge.scalars, charge.ports, charge.ports_udp) != expected:
        found.append(_on(task, "PLAN_CHARGE", f"charges {charge!r}, its definition and bindings need {expected}"))
    return found


def _charge_view(view: View, task: Task) -> None:
    charge = task.charge
    view.take(charge.cpu, charge.memory, dict(charge.scalars), set(charge.ports), set(charge.ports_udp))
    view.groups[task.group] += 1


def _oracle_choice(
    step: int,
    task: Task,
    view: View,
    views: dict[str, View],
    definition: TaskDefinition,
    strategies: Sequence[Any],
    constraints: Sequence[Any],
    port_range: PortRange,
) -> list[Violation]:
    group = task.group
    feasible = [v for v in views.values() if not failing_reasons(v, definition, constraints, group, port_range)]
    best = min(feasible, key=lambda v: oracle_key(v, views, strategies, group))
    chosen_key, best_key = oracle_key(view, views, strategies, group), oracle_key(best, views, strategies, group)
    if chosen_key == best_key:
        return []
    return [
        _on(
            task,
            "PLAN_ORACLE",
            f"step {step} chose {view.id} {chosen_key}, the oracle ranks {best.id} {best_key} best",
            "strategies",
        )
    ]


def _unplaced_violations(
    plan: Plan,
    views: dict[str, View],
    definition: TaskDefinition,
    constraints: Sequence[Any],
    group: str,
    port_range: PortRange,
) -> list[Violation]:
    takers = [v.id for v in views.values() if not failing_reasons(v, definition, constraints, group, port_range)]
    if not takers:
        return []
    return [
        Violation(
            "PLAN_UNPLACED",
            f"{len(plan.unplaced)} tasks unplaced ({plan.unplaced[0].reason}), but {', '.join(takers)} can take one",
            takers[0],
        )
    ]


def _repeatable(scheduler: object, strategies: Sequence[Any]) -> bool:
    randoms = [strategy for strategy in strategies if strategy.type == "random"]
    return not randoms or randoms[0].seed is not None or getattr(scheduler, "seed", None) is not None


def _repeat_violations(snapshot: Snapshot, request: PlacementRequest, plan: Plan, scheduler: Any) -> list[Violation]:
    again = scheduler.place(snapshot, request)
    first = [(p.task.container_instance_id, p.task.host_ports) for p in plan.placements]
    second = [(p.task.container_instance_id, p.task.host_ports) for p in again.placements]
    if first == second:
        return []
    return [Violation("PLAN_REPEAT", f"the same request placed again went to {second}, not {first}", field="seed")]


class InvariantViolated(AssertionError):
    """An AssertionError that carries the ``violations`` found, and says ``where``."""

    def __init__(self, violations: Sequence[Violation], where: str) -> None:
        self.violations = tuple(violations)
        self.where = where
        listed = "\n".join(f"  - {violation}" for violation in self.violations)
        super().__init__(f"{len(self.violations)} violations in {where}:\n{listed}")

    @property
    def codes(self) -> set[str]:
        """The codes of the violations, for a quick assertion."""
        return {violation.code for violation in self.violations}


def assert_valid_state(snapshot: Snapshot, previous: Snapshot | None = None) -> None:
    """Raise ``InvariantViolated`` (an AssertionError) listing every violation ``check_state`` finds."""
    violations = check_state(snapshot, previous)
    if violations:
        raise InvariantViolated(violations, f"the state at version {snapshot.version}")


def assert_valid_plan(
    snapshot: Snapshot,
    request: PlacementRequest,
    plan: Plan,
    *,
    scheduler: Scheduler | None = None,
    dynamic_ports: PortRange | None = None,
) -> None:
    """Raise ``InvariantViolated`` (an AssertionError) listing every violation ``check_plan`` finds."""
    violations = check_plan(snapshot, request, plan, scheduler=scheduler, dynamic_ports=dynamic_ports)
    if violations:
        raise InvariantViolated(violations, "the plan")
