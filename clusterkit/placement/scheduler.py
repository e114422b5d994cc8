"""Schedulers: pure functions from a snapshot and a request to a plan.

The built-in ``BaseScheduler`` runs the ECS placement order for each task:
resources (cpu, memory, scalars, ports) → constraints and filters (hard: an instance
that fails is rejected with a reason) → scorers and strategies (soft: they rank the
instances left) → the best instance. Users extend it in two ways:

- pass ``filters`` (``(instance, context) -> reason | None``) and weighted ``scorers``
  (``(instance, context) -> float in [0, 1]``), or
- subclass it and override ``BaseScheduler.check`` or ``BaseScheduler.score``.

Ranking: the weighted mean of the scorers comes first (higher is better), then each
strategy of the chain breaks the ties of the one before, then the instance id.
Nothing here does I/O or changes the snapshot; placing a task only changes the
scheduler's private view of what is left in this plan.
"""

from __future__ import annotations

import functools
import random as _random
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from heapq import heappop, heappush
from typing import Any, Final, Protocol

import attrs
from sortedcontainers import SortedList

from clusterkit.errors import ValidationError
from clusterkit.model.instance import ContainerInstance
from clusterkit.model.placement import PlacementStrategy
from clusterkit.model.resources import Resources
from clusterkit.model.task import PortBinding, Task
from clusterkit.model.taskdef import PlacementConstraint
from clusterkit.placement.plan import Placement, Plan, Unplaced
from clusterkit.placement.ports import DEFAULT_DYNAMIC_PORTS, PortRange, assign_host_ports
from clusterkit.placement.request import PlacementRequest
from clusterkit.state import amount_class
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


def _lasting(reason: str) -> bool:
    """Reasons that only get worse while one plan places more tasks of one shape (resources
    of any kind, distinctInstance): an instance rejected for one is not looked at again.
    """
    return reason.startswith("RESOURCE:") or reason == "DISTINCT_INSTANCE"


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

    ``seed`` makes random strategies and tie-breaking repeatable (the same seed, cluster
    and request give the same plan; once tasks were added it draws afresh); ``dynamic_ports`` is the
    host-port range for bridge-mode dynamic ports; ``strict_versions`` makes the plans
    ask the commit to reject placements on instances that changed since the snapshot.

    ``sample`` (off by default) looks at feasible instances in a random order and takes
    the best of the first ``sample`` by the strategy chain — Nomad's limit iterator, the
    "power of two choices" for ``sample=2``. Schedulers sharing a cluster then rarely pick
    the same instance, so far fewer of their commits conflict, at some cost in packing.

    ``balance`` (off by default; 0.2 works well) packs two resources at once: an instance
    where the task would make the resource that is *not* binding (of cpu and memory, the
    one the cluster's busy instances use less of) run more than ``balance`` ahead of the
    binding one is used only when no other instance can take the task. Plain binpack fills
    an instance with whatever shape arrives, and memory-heavy batches leave instances out of
    memory with CPU idle; this keeps room for the shapes that complement them.
    """

    def __init__(
        self,
        *,
        filters: Sequence[Filter] = (),
        scorers: Sequence[Weighted | Scorer] = (),
        dynamic_ports: PortRange = DEFAULT_DYNAMIC_PORTS,
        seed: int | None = None,
        strict_versions: bool = False,
        sample: int | None = None,
        balance: float | None = None,
    ) -> None:
        self.filters = tuple(filters)
        self.scorers = tuple(s if isinstance(s, Weighted) else Weighted(s) for s in scorers)
        self.dynamic_ports = dynamic_ports
        self.seed = seed
        self.strict_versions = strict_versions
        if sample is not None and (type(sample) is not int or sample < 1):
            raise ValidationError("sample", sample, "must be a positive integer or None")
        self.sample = sample
        if balance is not None and (
            isinstance(balance, bool) or not isinstance(balance, (int, float)) or not 0 < balance <= 1
        ):
            raise ValidationError("balance", balance, "must be a number in (0, 1] or None")
        self.balance = balance
        # scoring ranks every candidate: only when there are scorers or a subclass scores itself
        self.scoring = bool(self.scorers) or type(self).score is not BaseScheduler.score

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
            missed = run.place_one()
            if missed is not None:
                unplaced.append(missed)
        placements = tuple(run.context.placed)
        return Plan(request, snapshot.version, placements, tuple(unplaced), self.strict_versions)

    def explain(self, snapshot: Snapshot, request: PlacementRequest) -> Explanation:
        """Every instance for the next task of ``request``: ranked, or rejected with its reason.

        With ``balance`` the instances it would set aside rank after all the others; with
        ``sample`` the ranking is the whole cluster's, of which ``place`` sees a random part.
        """
        run = _Run(self, snapshot, request)
        ranked: list[tuple[tuple[Any, ...], Candidate]] = []
        rejected: list[Candidate] = []
        if isinstance(run.source, _RandomSource):
            run.source.ids = sorted(run.source.ids)
            for _ in run.source.ordered():  # draw the whole permutation place() would draw from
                pass
        for instance in snapshot.instances():
            if instance.status == "INACTIVE":
                continue
            verdict = run.reason(instance)
            if isinstance(verdict, str):
                rejected.append(Candidate(instance.id, verdict))
                continue
            key = run.rank_key(instance)
            score = -key[0] if self.scoring else None
            aside = run.binding is not None and run._unbalancing(instance, verdict[0])
            ranked.append(((aside, *key), Candidate(instance.id, None, score, key[1:-1])))
        ranked.sort(key=lambda item: item[0])
        rejected.sort(key=lambda candidate: candidate.instance_id)
        return Explanation(request.strategies, tuple(c for _, c in ranked), tuple(rejected))


class _Run:
    """One plan in the making: the context, the candidates and the ranking for one request.

    With binpack first in the chain and no scorers, candidates come in binpack order and
    the scan stops at the first feasible instance (or the end of its ties); that order comes
    from the snapshot's capacity index for the field (memory or CPU), so a plan costs O(log n) per task
    rather than O(n). Otherwise every candidate is ranked. An instance rejected for a
    reason that only gets worse as the plan goes on (``_lasting``) is not looked at again.
    """

    def __init__(self, scheduler: BaseScheduler, snapshot: Snapshot, request: PlacementRequest) -> None:
        self.scheduler = scheduler
        self.snapshot = snapshot
        self.request = request
        self.definition = request.task_definition
        self.context = PlacementContext(snapshot, request)
        seed = _seed(scheduler.seed, request.strategies)
        # The same seed and cluster give the same plan (on any store: not the version, which
        # etcd numbers its own way); once tasks were added the draw is new, so a seeded random
        # strategy does not send every request to the same few instances.
        self.seed = seed * 1_000_003 + snapshot.task_count if seed is not None else _random.randrange(1 << 62)
        self.placements = 0  # tasks placed so far in this plan: random draws differ per task
        self.strategies = request.strategies
        constraints = request.all_constraints
        self.distinct = any(c.type == "distinctInstance" for c in constraints)
        self.static_expressions, self.dynamic_expressions = _split_expressions(constraints)
        self.spread_counts: dict[str, dict[str | None, int]] = {}
        self.dead: set[str] = set()
        self.failed: Unplaced | None = None
        chain = () if scheduler.scoring else self.strategies
        # spread over an attribute (or host) first: pick the values with the fewest tasks of the
        # group, then the best instance of those values in the order the rest of the chain gives
        self.spread_values = (
            chain[0].field if chain and chain[0].type == "spread" and chain[0].field != "instanceId" else None
        )
        self.value_of: dict[str, str | None] = {}
        self.full_values: set[str | None] = set()
        self.sample = scheduler.sample
        self.balance = scheduler.balance
        self.binding = self._binding() if self.balance is not None else None
        self.aside: list[ContainerInstance] = []  # feasible but unbalancing: the last resort
        if self.sample is not None:
            self.source: _Source = _RandomSource(self.accepting(), self, exact=False)
        else:
            self.source = self._source(chain[1:] if self.spread_values else chain)

    def _source(self, chain: tuple[PlacementStrategy, ...]) -> _Source:
        """The cheapest candidate order that still finds the best instance for ``chain``."""
        first = chain[0] if chain else None
        if first is not None and first.type == "binpack":
            field = "cpu" if first.field == "cpu" else "memory"
            demand = self.definition.charge
            return _CapacitySource(self.snapshot, field, demand, self.context, self.dead, len(chain) == 1)
        if first is not None and first.type == "spread" and first.field == "instanceId":  # by group tasks there
            then = chain[1] if len(chain) > 1 and chain[1].type == "binpack" else None
            if then is None:
                return _SortedSource(self.accepting(), self.context, lambda r, c: (c,), len(chain) == 1)
            field = then.field or "memory"
            return _SortedSource(self.accepting(), self.context, lambda r, c: (c, getattr(r, field)), len(chain) == 2)
        if first is not None and first.type == "random":
            return _RandomSource(self.accepting(), self, exact=len(chain) == 1)
        return _AllSource(self.accepting())

    def _binding(self) -> str | None:
        """The resource the cluster's busy instances use more of, cpu or memory (None: no telling). O(1)."""
        return self.snapshot.usage.binding

    def _unbalancing(self, instance: ContainerInstance, charge: Resources) -> bool:
        """True when placing ``charge`` makes the non-binding resource run ahead by more than ``balance``."""
        registered, remaining = instance.registered, self.context.remaining(instance)
        if not registered.cpu or not registered.memory or self.balance is None:
            return False
        cpu = 1 - (remaining.cpu - charge.cpu) / registered.cpu
        memory = 1 - (remaining.memory - charge.memory) / registered.memory
        if self.binding == "cpu":
            return memory - cpu > self.balance
        if self.binding == "memory":
            return cpu - memory > self.balance
        return False

    def accepting(self) -> list[ContainerInstance]:
        """Every instance that accepts tasks (ACTIVE, agent connected). O(n)."""
        return [i for i in self.snapshot.instances() if i.status == "ACTIVE" and i.agent_connected]

    def reason(self, instance: ContainerInstance) -> str | tuple[Resources, tuple[PortBinding, ...]]:
        """Why ``instance`` cannot take the next task, or the charge and bindings it would get."""
        if instance.status != "ACTIVE":
            return "INACTIVE"
        if not instance.agent_connected:
            return "AGENT"
        if self.static_expressions and not self._static_ok(instance):
            return "ATTRIBUTE"
        return self.check(instance)

    def _static_ok(self, instance: ContainerInstance) -> bool:
        groups = _ContextGroups(self.context)
        return all(expression.evaluate(instance, groups) for expression in self.static_expressions)

    def check(self, instance: ContainerInstance) -> str | tuple[Resources, tuple[PortBinding, ...]]:
        """The dynamic part of ``reason``: resources, ports, distinctInstance, filters."""
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
        keys: list[Any] = [-self.scheduler.score(instance, context) if self.scheduler.scoring else 0.0]
        for strategy in self.strategies:
            if strategy.type == "binpack":
                keys.append(getattr(context.remaining(instance), strategy.field or "memory"))
            elif strategy.type == "spread":
                keys.append(self._spread_count(instance, strategy.field or "instanceId"))
            elif strategy is self.strategies[0] and isinstance(self.source, _RandomSource) and self.sample is None:
                keys.append(self.source.position.get(instance.id, 1 << 62))  # its place in this draw
            else:
                keys.append(zlib.crc32(f"{self.seed}:{self.placements}:{instance.id}".encode()))
        keys.append(instance.id)
        return tuple(keys)

    def _spread_count(self, instance: ContainerInstance, field: str) -> int:
        if field == "instanceId":
            return self.context.group_count(instance.id)
        counts = self.spread_counts.get(field)
        if counts is None:  # counted once per plan, then kept up to date as tasks are placed
            counted = (i for i in self.snapshot.instances() if i.status != "INACTIVE")
            counts = self.spread_counts[field] = self.context.count_by(field, counted)
        return counts.get(field_value(instance, field), 0)

    def place_one(self) -> Unplaced | None:
        """Place the next task; an Unplaced (with every instance's reason counted) if none can take it."""
        if self.failed is not None:
            return self.failed  # nothing changed since: the same shape still fits nowhere
        best = self._best_by_value() if self.spread_values else self._scan(None)
        if best is None:
            self.failed = self._unplaced()
            return self.failed
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
        self.source.before_take(instance)
        self.context._take(instance, charge, task)
        self.source.after_take(instance)
        self.placements += 1
        for spread_field, counts in self.spread_counts.items():
            value = field_value(instance, spread_field)
            counts[value] = counts.get(value, 0) + 1
        return None

    def _scan(self, accept: Callable[[ContainerInstance], bool] | None, *, aside: bool = True) -> _Best | None:
        """The best accepted candidate, reading the source's order only as far as needed.

        Instances the request ``avoid``s, and with ``balance`` those it would unbalance, are
        set aside: with ``aside`` the best of them is taken when no other instance can be.
        """
        source = self.source
        best: _Best | None = None
        best_tie: tuple[Any, ...] | None = None
        self.saw_passing = False
        feasible = 0
        for instance in source.ordered():
            if accept is not None and not accept(instance):
                continue
            if best is not None and (source.exact or source.tie_key(instance) != best_tie):
                break  # in the source's order nothing further can beat or tie the best
            verdict = self.reason(instance)
            if isinstance(verdict, str):
                if _lasting(verdict) or (verdict == "ATTRIBUTE" and not self.dynamic_expressions):
                    self.dead.add(instance.id)
                else:
                    self.saw_passing = True
                continue
            if instance.id in self.request.avoid or (
                self.binding is not None and self._unbalancing(instance, verdict[0])
            ):
                self.aside.append(instance)  # the last resort: set aside, not dropped
                self.dead.add(instance.id)
                continue
            key = self.rank_key(instance)
            if best is None or key < best[0]:
                best = (key, instance, verdict[0], verdict[1])
                best_tie = source.tie_key(instance)
            feasible += 1
            if feasible == self.sample:
                break  # the best of a random sample
        source.settle(self.dead)
        if best is None and self.aside and aside:
            best = self._from_aside(accept)
        return best

    def _from_aside(self, accept: Callable[[ContainerInstance], bool] | None) -> _Best | None:
        """The best set-aside instance that still takes the task (no balanced one could)."""
        best: _Best | None = None
        for instance in self.aside:
            if accept is not None and not accept(instance):
                continue
            verdict = self.reason(instance)
            if isinstance(verdict, str):
                continue
            key = self.rank_key(instance)
            if best is None or key < best[0]:
                best = (key, instance, verdict[0], verdict[1])
        return best

    def _best_by_value(self) -> _Best | None:
        """Spread over an attribute first: the best instance among the least-loaded values."""
        field = self.spread_values
        assert field is not None
        if field not in self.spread_counts:
            counted = (i for i in self.snapshot.instances() if i.status != "INACTIVE")
            self.spread_counts[field] = self.context.count_by(field, counted)
        counts = self.spread_counts[field]
        live = {value for value in counts if value not in self.full_values}
        value_of = self.value_of
        while live:
            level = min(counts[value] for value in live)
            chosen = {value for value in live if counts[value] == level}
            best = self._scan(functools.partial(_value_in, value_of, field, chosen), aside=False)
            if best is not None:
                return best
            if not self.saw_passing:
                self.full_values |= chosen  # only lasting reasons: these values stay full in this plan
            live -= chosen
        remaining = set(counts)
        while self.aside and remaining:  # no other instance of any value: the set-aside ones, least-loaded value first
            level = min(counts[value] for value in remaining)
            chosen = {value for value in remaining if counts[value] == level}
            best = self._from_aside(functools.partial(_value_in, value_of, field, chosen))
            if best is not None:
                return best
            remaining -= chosen
        return None

    def _unplaced(self) -> Unplaced:
        reasons: dict[str, int] = {}
        for instance in self.snapshot.instances():
            if instance.status == "INACTIVE":
                continue
            verdict = self.reason(instance)
            reason = verdict if isinstance(verdict, str) else "CONFLICT"
            reasons[reason] = reasons.get(reason, 0) + 1
        return Unplaced(reasons)


_Best = tuple[tuple[Any, ...], ContainerInstance, Resources, tuple[PortBinding, ...]]
_UNSET: Final[Any] = object()


class _Source(Protocol):
    """Where a plan's candidates come from, and in what order.

    ``exact``: the first feasible candidate is the best. Otherwise ``tie_key`` gives the
    order's key (None when there is no order), and the scan goes on while it ties.
    """

    exact: bool

    def ordered(self) -> Iterator[ContainerInstance]:
        """Candidates, best first where the source knows an order; dead ones skipped."""
        ...

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...] | None:
        """The source's ordering key of ``instance`` without its id, None for no order."""
        ...

    def settle(self, dead: set[str]) -> None:
        """Forget the instances in ``dead`` for the rest of the plan."""
        ...

    def before_take(self, instance: ContainerInstance) -> None:
        """Called before ``instance``'s remaining resources change."""
        ...

    def after_take(self, instance: ContainerInstance) -> None:
        """Called after they changed."""
        ...


class _AllSource:
    """Every accepting instance, in no order: each placement ranks them all."""

    exact = False

    def __init__(self, instances: list[ContainerInstance]) -> None:
        self.instances = {instance.id: instance for instance in instances}

    def ordered(self) -> Iterator[ContainerInstance]:
        return iter(list(self.instances.values()))

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...] | None:
        return None

    def settle(self, dead: set[str]) -> None:
        for instance_id in dead:
            self.instances.pop(instance_id, None)

    def before_take(self, instance: ContainerInstance) -> None:
        pass

    def after_take(self, instance: ContainerInstance) -> None:
        pass


class _SortedSource:
    """The accepting instances sorted by ``key(remaining, tasks of the group)``, built for this
    plan in O(n log n); each placement moves one instance. Ties end at the id.
    """

    def __init__(
        self,
        instances: list[ContainerInstance],
        context: PlacementContext,
        key: Callable[[Resources, int], tuple[Any, ...]],
        exact: bool,
    ) -> None:
        self.context = context
        self.key = key
        self.exact = exact
        self.instances = {instance.id: instance for instance in instances}
        left, counts = context._remaining, context._group_counts  # tie_key for each, without the calls
        self.order = SortedList(
            [(*key(left.get(i.id, i.remaining), counts.get(i.id, 0)), i.id) for i in instances]
        )

    def _entry(self, instance: ContainerInstance) -> tuple[Any, ...]:
        return (*self.tie_key(instance), instance.id)

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...]:
        context = self.context
        return self.key(context.remaining(instance), context.group_count(instance.id))

    def ordered(self) -> Iterator[ContainerInstance]:
        instances = self.instances
        return (instances[entry[-1]] for entry in self.order)

    def settle(self, dead: set[str]) -> None:
        for instance_id in [i for i in dead if i in self.instances]:
            self.order.remove(self._entry(self.instances.pop(instance_id)))

    def before_take(self, instance: ContainerInstance) -> None:
        if instance.id in self.instances:  # not one settled out already (balance's set-aside ones are)
            self.order.remove(self._entry(instance))

    def after_take(self, instance: ContainerInstance) -> None:
        if instance.id in self.instances:
            self.order.add(self._entry(instance))


class _RandomSource:
    """The accepting instances in a fresh random order for every placement."""

    exact = True

    def __init__(self, instances: list[ContainerInstance], run: _Run, *, exact: bool) -> None:
        self.instances = {instance.id: instance for instance in instances}
        self.ids = sorted(self.instances)
        self.run = run
        self.exact = exact
        self.position: dict[str, int] = {}
        self.compacted = 0  # how many dead instances the id list had dropped when last compacted

    def ordered(self) -> Iterator[ContainerInstance]:
        """A random permutation drawn from (seed, task number): the same for explain and place."""
        ids, count, dead = self.ids, len(self.ids), self.run.dead
        rng = _random.Random(f"{self.run.seed}:{self.run.placements}")
        self.position = position = {}
        for index in range(count):  # Fisher-Yates, drawn lazily: most scans stop at once
            pick = rng.randrange(index, count)
            ids[index], ids[pick] = ids[pick], ids[index]
            position[ids[index]] = index
            if ids[index] not in dead:
                yield self.instances[ids[index]]

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...] | None:
        return None

    def settle(self, dead: set[str]) -> None:
        if len(dead) - self.compacted > len(self.ids) // 2:  # mostly dead: drop them, O(n) now and then
            self.ids = sorted(instance_id for instance_id in self.ids if instance_id not in dead)
            self.compacted = len(dead)

    def before_take(self, instance: ContainerInstance) -> None:
        pass

    def after_take(self, instance: ContainerInstance) -> None:
        pass


class _CapacitySource:
    """Binpack order straight from the snapshot's capacity index for ``field`` (memory or cpu).

    That index keys each instance by ``(class of the other resource left, field left, id)``.
    One cursor per class of the other resource at or above the demand's walks the
    persistent index from the demand's amount of ``field`` up; a heap merges the cursors.
    Instances this plan changed leave the cursors and live in a small sorted list of their
    own. Building it costs O(classes · log n), each placement O(log n) plus the instances
    it had to skip.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        field: str,
        demand: Resources,
        context: PlacementContext,
        dead: set[str],
        exact: bool,
    ) -> None:
        self.exact = exact
        self.instances = snapshot.instances_by_id
        self.field = field
        self.other = "cpu" if field == "memory" else "memory"
        self.amount: int = getattr(demand, field)
        self.other_amount: int = getattr(demand, self.other)
        self.context = context
        self.floor = amount_class(self.other_amount)
        self.heap: list[tuple[int, str, int, Iterator[tuple[int, int, str]]]] = []
        self.changed: SortedList = SortedList()  # type: ignore[type-arg]
        self.changed_ids: set[str] = set()
        self.dead = dead
        self.popped: list[tuple[int, str, int, Iterator[tuple[int, int, str]]]] = []
        index = snapshot.capacity_index if field == "memory" else snapshot.cpu_capacity_index
        level = self.floor
        while True:
            head = next(index.iter_from((level,), inclusive=True), None)
            if head is None:
                break
            level = head[0]
            self._push(level, index.iter_from((level, self.amount, ""), inclusive=True))
            level += 1

    def _push(self, level: int, cursor: Iterator[tuple[int, int, str]]) -> None:
        for key in cursor:
            if key[0] != level:
                return
            if level == self.floor and getattr(self.instances[key[2]].remaining, self.other) < self.other_amount:
                continue  # the demand's own class holds some instances with too little of the other resource
            heappush(self.heap, (key[1], key[2], level, cursor))
            return

    def _left(self, instance: ContainerInstance) -> int:
        """What ``instance`` has left of ``field`` in this plan."""
        left: int = getattr(self.context.remaining(instance), self.field)
        return left

    def ordered(self) -> Iterator[ContainerInstance]:
        heap, changed = self.heap, self.changed
        moved = iter(changed.irange((self.amount, "")))
        pending = next(moved, None)
        while True:
            while heap and (heap[0][1] in self.changed_ids or heap[0][1] in self.dead):
                entry = heappop(heap)
                self._push(entry[2], entry[3])
            top = heap[0] if heap else None
            if top is None and pending is None:
                return
            if pending is not None and (top is None or (pending[0], pending[1]) < (top[0], top[1])):
                instance_id = pending[1]
                pending = next(moved, None)
            else:
                assert top is not None
                entry = heappop(heap)
                self.popped.append(entry)
                self._push(entry[2], entry[3])
                instance_id = entry[1]
            if instance_id not in self.dead:
                yield self.instances[instance_id]

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...]:
        return (self._left(instance),)

    def settle(self, dead: set[str]) -> None:
        for entry in self.popped:  # looked at but not taken: back in line for the next task
            if entry[1] not in dead and entry[1] not in self.changed_ids:
                heappush(self.heap, (entry[0], entry[1], entry[2], iter(())))  # its cursor moved on
        self.popped.clear()
        for instance_id in dead & self.changed_ids:  # each dead instance leaves once (dead covers the cursors)
            self.changed.discard((self._left(self.instances[instance_id]), instance_id))
            self.changed_ids.discard(instance_id)

    def before_take(self, instance: ContainerInstance) -> None:
        if instance.id in self.changed_ids:
            self.changed.discard((self._left(instance), instance.id))

    def after_take(self, instance: ContainerInstance) -> None:
        self.changed_ids.add(instance.id)
        self.changed.add((self._left(instance), instance.id))


def _value_in(cache: dict[str, str | None], field: str, chosen: set[str | None], instance: ContainerInstance) -> bool:
    """Whether ``instance``'s value of the spread ``field`` is one of ``chosen`` (values cached)."""
    value = cache.get(instance.id, _UNSET)
    if value is _UNSET:
        value = cache[instance.id] = field_value(instance, field)
    return bool(value in chosen)


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
    from clusterkit.query import parse_expression

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
