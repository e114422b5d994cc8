"""Schedulers: pure functions from a snapshot and a request to a plan.

The built-in :class:`BaseScheduler` runs the ECS placement order for each task:
resources (cpu, memory, scalars, ports) → constraints and filters (hard: an instance
that fails is rejected with a reason) → scorers and strategies (soft: they rank the
instances left) → the best instance. Users extend it in two ways:

- pass ``filters`` (``(instance, context) -> reason | None``) and weighted ``scorers``
  (``(instance, context) -> float in [0, 1]``), or
- subclass it and override :meth:`BaseScheduler.check` or :meth:`BaseScheduler.score`.

Ranking: the weighted mean of the scorers comes first (higher is better), then each
strategy of the chain breaks the ties of the one before, then the instance id.
Nothing here does I/O or changes the snapshot; placing a task only changes the
scheduler's private view of what is left in this plan.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

import attrs
from sortedcontainers import SortedList

from clusterkit.errors import ValidationError
from clusterkit.model.instance import ContainerInstance
from clusterkit.model.resources import Resources
from clusterkit.model.task import PortBinding, Task
from clusterkit.model.taskdef import PlacementConstraint
from clusterkit.placement.plan import Placement, Plan, Unplaced
from clusterkit.placement.ports import DEFAULT_DYNAMIC_PORTS, PortRange, assign_host_ports
from clusterkit.placement.request import PlacementRequest, PlacementStrategy
from clusterkit.state.ids import new_id
from clusterkit.state.snapshot import Snapshot

__all__ = [
    "BaseScheduler",
    "Candidate",
    "Explanation",
    "Filter",
    "PlacementContext",
    "Scheduler",
    "Scorer",
    "Weighted",
]

#: Reasons that can only get worse while one plan places more tasks of one shape: an
#: instance rejected for one of these is not looked at again in the same plan.
_LASTING: Final = frozenset({"RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:PORTS", "DISTINCT_INSTANCE"})


class Scheduler(Protocol):
    """Anything that turns a snapshot and a request into a plan, without side effects."""

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        """Decide where each task of ``request`` goes."""
        ...


class PlacementContext:
    """What filters and scorers see while a plan is being made.

    It answers for the plan so far: resources left on an instance and how many tasks
    of the request's group an instance holds both include the tasks already placed in
    this plan.
    """

    def __init__(self, snapshot: Snapshot, request: PlacementRequest) -> None:
        self.snapshot = snapshot
        self.request = request
        self.group = request.task_group
        self._remaining: dict[str, Resources] = {}
        self._group_counts: dict[str, int] = dict(snapshot.group_counts(self.group).items())
        self.placed: list[Placement] = []

    def remaining(self, instance: ContainerInstance) -> Resources:
        """What ``instance`` has left, after this plan's placements."""
        return self._remaining.get(instance.id, instance.remaining)

    def group_count(self, instance_id: str) -> int:
        """Tasks of the request's group on ``instance_id``, this plan's included."""
        return self._group_counts.get(instance_id, 0)

    def count_by(self, field: str, instances: Iterable[ContainerInstance]) -> dict[str | None, int]:
        """Tasks of the group per value of ``field`` (instanceId, host or attribute:NAME)."""
        counts: dict[str | None, int] = {}
        for instance in instances:
            value = field_value(instance, field)
            counts[value] = counts.get(value, 0) + self.group_count(instance.id)
        return counts

    def _take(self, instance: ContainerInstance, charge: Resources, task: Task) -> None:
        self._remaining[instance.id] = self.remaining(instance)._take(charge)
        self._group_counts[instance.id] = self.group_count(instance.id) + 1
        self.placed.append(Placement(task, instance.version))


Filter = Callable[[ContainerInstance, PlacementContext], "str | None"]
Scorer = Callable[[ContainerInstance, PlacementContext], float]


@attrs.frozen(slots=True)
class Weighted:
    """A scorer with its weight in the weighted mean (Fenzo's fitness combination)."""

    scorer: Scorer
    weight: float = 1.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight > 0:
            raise ValidationError("weight", self.weight, "must be a positive number")


def field_value(instance: ContainerInstance, field: str) -> str | None:
    """The value a spread field takes on an instance (None when the attribute is absent)."""
    if field == "instanceId":
        return instance.id
    if field == "host":
        return instance.ec2_instance_id or instance.id
    return instance.attribute(field[10:])


@attrs.frozen(slots=True)
class Candidate:
    """One instance in an explanation: its rank keys or the reason it was rejected."""

    instance_id: str
    reason: str | None = None
    score: float | None = None
    strategy_keys: tuple[float | int | str, ...] = ()


@attrs.frozen(slots=True)
class Explanation:
    """Why the next task of a request would go where it goes.

    ``ranked`` lists the feasible instances best first, each with the scorers' weighted
    mean and each strategy's key (lower is better: memory left for binpack, tasks of
    the group for spread); ``rejected`` lists every other instance with its reason.
    """

    strategies: tuple[PlacementStrategy, ...]
    ranked: tuple[Candidate, ...]
    rejected: tuple[Candidate, ...]

    @property
    def chosen(self) -> str | None:
        """The instance the scheduler would pick, or None."""
        return self.ranked[0].instance_id if self.ranked else None


class BaseScheduler:
    """The built-in scheduler: resources → constraints and filters → scorers and strategies.

    ``seed`` makes random strategies and tie-breaking repeatable; ``dynamic_ports`` is the
    host-port range for bridge-mode dynamic ports; ``strict_versions`` makes the plans
    ask the commit to reject placements on instances that changed since the snapshot.
    """

    def __init__(
        self,
        *,
        filters: Sequence[Filter] = (),
        scorers: Sequence[Weighted | Scorer] = (),
        dynamic_ports: PortRange = DEFAULT_DYNAMIC_PORTS,
        seed: int | None = None,
        strict_versions: bool = False,
    ) -> None:
        self.filters = tuple(filters)
        self.scorers = tuple(s if isinstance(s, Weighted) else Weighted(s) for s in scorers)
        self.dynamic_ports = dynamic_ports
        self.seed = seed
        self.strict_versions = strict_versions

    # -- hooks for subclasses -----------------------------------------------------------

    def check(self, instance: ContainerInstance, context: PlacementContext) -> str | None:
        """A hard rule beyond resources and ECS constraints: a reason to reject, or None.

        The default runs the ``filters`` in order and returns the first reason.
        """
        for rule in self.filters:
            reason = rule(instance, context)
            if reason is not None:
                return reason
        return None

    def score(self, instance: ContainerInstance, context: PlacementContext) -> float:
        """A soft preference in [0, 1], higher is better; the default is the weighted mean of ``scorers``."""
        if not self.scorers:
            return 0.0
        total = weights = 0.0
        for weighted in self.scorers:
            value = weighted.scorer(instance, context)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValidationError("score", value, f"{weighted.scorer!r} must return a number in [0, 1]")
            total += weighted.weight * value
            weights += weighted.weight
        return total / weights

    # -- the pipeline -------------------------------------------------------------------

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        """A plan for every task of ``request`` against ``snapshot`` (no side effects)."""
        run = _Run(self, snapshot, request)
        unplaced: list[Unplaced] = []
        for _ in range(request.count):
            if not run.place_one():
                unplaced.append(Unplaced(run.last_reasons))
        placements = tuple(run.context.placed)
        return Plan(request, snapshot.version, placements, tuple(unplaced), self.strict_versions)

    def explain(self, snapshot: Snapshot, request: PlacementRequest) -> Explanation:
        """Every instance for the next task of ``request``: ranked, or rejected with its reason."""
        run = _Run(self, snapshot, request)
        ranked: list[tuple[tuple[Any, ...], Candidate]] = []
        rejected = [Candidate(instance.id, reason) for instance, reason in run.rejected_upfront]
        for instance in run.candidates.values():
            verdict = run.check(instance)
            if isinstance(verdict, str):
                rejected.append(Candidate(instance.id, verdict))
                continue
            key = run.rank_key(instance)
            score = -key[0] if self.scorers else None
            ranked.append((key, Candidate(instance.id, None, score, key[1:-1])))
        ranked.sort(key=lambda item: item[0])
        rejected.sort(key=lambda candidate: candidate.instance_id)
        return Explanation(request.strategies, tuple(c for _, c in ranked), tuple(rejected))


class _Run:
    """One plan in the making: candidates, the context, and the ranking for one request."""

    def __init__(self, scheduler: BaseScheduler, snapshot: Snapshot, request: PlacementRequest) -> None:
        self.scheduler = scheduler
        self.request = request
        self.definition = request.task_definition
        self.context = PlacementContext(snapshot, request)
        self.rng = _random.Random(_seed(scheduler.seed, request.strategies))
        self.last_reasons: dict[str, int] = {}
        constraints = request.all_constraints
        self.distinct = any(c.type == "distinctInstance" for c in constraints)
        static, dynamic = _split_expressions(constraints)
        self.dynamic_expressions = dynamic
        self.rejected_upfront: list[tuple[ContainerInstance, str]] = []
        self.spread_counts: dict[str, dict[str | None, int]] = {}
        self.all_instances = [instance for instance in snapshot.instances() if instance.status != "INACTIVE"]
        self.candidates: dict[str, ContainerInstance] = {}
        self.strategies = request.strategies
        for instance in self.all_instances:
            reason = _upfront_reason(instance, static, self.context)
            if reason is None:
                self.candidates[instance.id] = instance
            else:
                self.rejected_upfront.append((instance, reason))
        self.base_reasons: dict[str, int] = {}
        for _, reason in self.rejected_upfront:
            self.base_reasons[reason] = self.base_reasons.get(reason, 0) + 1
        self.lasting_reasons: dict[str, int] = {}
        self.binpack_first = not scheduler.scorers and bool(self.strategies) and self.strategies[0].type == "binpack"
        if self.binpack_first:
            field = self.strategies[0].field or "memory"
            self.binpack_field = field
            self.order = SortedList((getattr(i.remaining, field), i.id) for i in self.candidates.values())

    def check(self, instance: ContainerInstance) -> str | tuple[Resources, tuple[PortBinding, ...]]:
        """The reason ``instance`` cannot take the next task, or its charge and bindings."""
        context = self.context
        remaining = context.remaining(instance)
        assigned = assign_host_ports(self.definition, remaining, self.scheduler.dynamic_ports)
        if assigned is None:
            return "RESOURCE:PORTS"
        shortfall = assigned[0].shortfall(remaining)
        if shortfall is not None:
            return "RESOURCE:PORTS" if shortfall == "PORTS_UDP" else f"RESOURCE:{shortfall}"
        if self.distinct and context.group_count(instance.id):
            return "DISTINCT_INSTANCE"
        for expression in self.dynamic_expressions:
            if not expression.evaluate(instance, _ContextGroups(context)):
                return "ATTRIBUTE"
        reason = self.scheduler.check(instance, context)
        if reason is not None:
            if not isinstance(reason, str) or not reason:
                raise ValidationError("filter", reason, "a filter returns None or a non-empty reason string")
            return reason
        return assigned

    def rank_key(self, instance: ContainerInstance) -> tuple[Any, ...]:
        """Lower is better: the negated score, each strategy's key, then the id."""
        context = self.context
        keys: list[Any] = [-self.scheduler.score(instance, context) if self.scheduler.scorers else 0.0]
        for strategy in self.strategies:
            if strategy.type == "binpack":
                keys.append(getattr(context.remaining(instance), strategy.field or "memory"))
            elif strategy.type == "spread":
                keys.append(self._spread_count(instance, strategy.field or "instanceId"))
            else:
                keys.append(self.rng.random())
        keys.append(instance.id)
        return tuple(keys)

    def _spread_count(self, instance: ContainerInstance, field: str) -> int:
        if field == "instanceId":
            return self.context.group_count(instance.id)
        counts = self.spread_counts.get(field)
        if counts is None:  # counted once per plan, then kept up to date as tasks are placed
            counts = self.spread_counts[field] = self.context.count_by(field, self.all_instances)
        return counts.get(field_value(instance, field), 0)

    def place_one(self) -> bool:
        """Place the next task; False (with ``last_reasons``) when no instance can take it."""
        reasons = dict(self.base_reasons)
        for reason, count in self.lasting_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        best: tuple[tuple[Any, ...], ContainerInstance, Resources, tuple[PortBinding, ...]] | None = None
        candidates = self.candidates
        pool: Iterable[ContainerInstance] = (
            (candidates[key[1]] for key in self.order) if self.binpack_first else candidates.values()
        )
        best_value: Any = None
        dead: list[ContainerInstance] = []
        for instance in pool:
            if best is not None and self.binpack_first:
                if len(self.strategies) == 1:
                    break  # ordered by (binpack field, id): the first feasible instance is the best
                value = getattr(self.context.remaining(instance), self.strategies[0].field or "memory")
                if value != best_value:
                    break  # nothing further can tie the best on the binpack field
            verdict = self.check(instance)
            if isinstance(verdict, str):
                if verdict in _LASTING:
                    dead.append(instance)
                    self.lasting_reasons[verdict] = self.lasting_reasons.get(verdict, 0) + 1
                reasons[verdict] = reasons.get(verdict, 0) + 1
                continue
            key = self.rank_key(instance)
            if best is None or key < best[0]:
                best = (key, instance, verdict[0], verdict[1])
                if self.binpack_first:
                    best_value = getattr(self.context.remaining(instance), self.strategies[0].field or "memory")
        for instance in dead:
            self._drop(instance)
        if best is None:
            self.last_reasons = reasons
            return False
        _, instance, charge, bindings = best
        task = Task(
            id=new_id(),
            task_definition=self.definition.key,
            container_instance_id=instance.id,
            charge=charge,
            last_status="PROVISIONING" if self.definition.network_mode == "awsvpc" else "PENDING",
            group=self.context.group,
            started_by=self.request.started_by,
            host_ports=bindings,
        )
        if self.binpack_first:
            self.order.remove(self._order_key(instance))
        self.context._take(instance, charge, task)
        for field, counts in self.spread_counts.items():
            value = field_value(instance, field)
            counts[value] = counts.get(value, 0) + 1
        if self.binpack_first:
            self.order.add(self._order_key(instance))
        return True

    def _drop(self, instance: ContainerInstance) -> None:
        if self.binpack_first:
            self.order.remove(self._order_key(instance))
        del self.candidates[instance.id]

    def _order_key(self, instance: ContainerInstance) -> tuple[int, str]:
        return (getattr(self.context.remaining(instance), self.binpack_field), instance.id)


class _ContextGroups:
    """The query language's view of task groups, with this plan's placements counted."""

    def __init__(self, context: PlacementContext) -> None:
        self._context = context

    def groups_on(self, instance_id: str) -> set[str]:
        groups = {task.group for task in self._context.snapshot.tasks_on(instance_id)}
        if self._context.group_count(instance_id):
            groups.add(self._context.group)
        return groups


def _seed(seed: int | None, strategies: tuple[PlacementStrategy, ...]) -> int | None:
    for strategy in strategies:
        if strategy.type == "random" and strategy.seed is not None:
            return strategy.seed
    return seed


def _split_expressions(constraints: Sequence[PlacementConstraint]) -> tuple[list[Any], list[Any]]:
    """The memberOf expressions, parsed once: those that read task groups change during a plan."""
    from clusterkit.placement.query import parse_expression

    static: list[Any] = []
    dynamic: list[Any] = []
    for constraint in constraints:
        if constraint.type != "memberOf" or constraint.expression is None:
            continue
        expression = parse_expression(constraint.expression)
        (dynamic if expression.uses_task_groups else static).append(expression)
    return static, dynamic


def _upfront_reason(instance: ContainerInstance, static: list[Any], context: PlacementContext) -> str | None:
    if instance.status != "ACTIVE":
        return "INACTIVE"
    if not instance.agent_connected:
        return "AGENT"
    groups = _ContextGroups(context)
    for expression in static:
        if not expression.evaluate(instance, groups):
            return "ATTRIBUTE"
    return None
