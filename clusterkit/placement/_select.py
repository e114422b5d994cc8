"""The select stage: one request's plan in the making, task after task.

A ``Selection`` wires the stages for one request and owns what only the search needs:

- ``context`` (``PlacementContext``): the plan so far, which filters and scorers read;
- ``feasible`` (``Feasibility``): the hard checks, a ``Rejected`` or a fit per instance;
- ``ranking`` (``Ranking``) and ``balance`` (``Balance`` or None): the soft order;
- ``source``: the candidates in the cheapest order that still finds the best;
- ``dead``: instances out of this plan (a lasting rejection, or set aside), ``aside``: the
  set-aside ones, feasible but the last resort; ``failed``: the ``Unplaced`` once a task fit
  nowhere (nothing changes after that, so the rest fail alike).

With binpack first in the chain and no scorers, candidates come in binpack order and the
scan stops at the first feasible instance (or the end of its ties); that order comes from
the snapshot's capacity index for the field (memory or CPU), so a plan costs O(log n) per
task rather than O(n). Otherwise every candidate is ranked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from clusterkit.model import ContainerInstance, PlacementStrategy, PortBinding, Resources, Task
from clusterkit.placement._context import PlacementContext, field_value
from clusterkit.placement._feasible import Feasibility
from clusterkit.placement._plan import Unplaced
from clusterkit.placement._rank import Balance, Ranking
from clusterkit.placement._request import PlacementRequest
from clusterkit.placement._sources import (
    Draws,
    OwnFirst,
    RandomSource,
    Source,
    ValueSource,
    accepting,
    choose_source,
)
from clusterkit.placement._verdict import Rejected
from clusterkit.state import Snapshot, new_id

if TYPE_CHECKING:
    from clusterkit.placement._scheduler import BaseScheduler

Best = tuple[tuple[Any, ...], ContainerInstance, Resources, tuple[PortBinding, ...]]
"""The best candidate so far: its rank key, the instance, the charge and the host-port bindings."""

_UNSET: Final[Any] = object()


class Selection:
    """One request's plan in the making (see the module's docstring)."""

    __slots__ = (
        "aside",
        "balance",
        "by_value",
        "context",
        "dead",
        "failed",
        "feasible",
        "ranking",
        "request",
        "sample",
        "snapshot",
        "source",
        "values",
    )

    def __init__(self, scheduler: BaseScheduler, snapshot: Snapshot, request: PlacementRequest) -> None:
        self.snapshot = snapshot
        self.request = request
        self.context = context = PlacementContext(snapshot, request)
        draws = Draws(_seed(scheduler.seed, request.strategies), snapshot)
        self.feasible = Feasibility(request, context, scheduler.dynamic_ports, scheduler.check)
        self.dead: set[str] = set()
        self.aside: list[ContainerInstance] = []
        self.failed: Unplaced | None = None
        self.sample = scheduler.sample
        chain = () if scheduler.scoring else request.strategies
        # spread over an attribute (or host) first: pick the values with the fewest tasks of the
        # group, then the best instance of those values in the order the rest of the chain gives
        first = chain[0] if chain else None
        spreads = first is not None and first.type == "spread" and first.field != "instanceId"
        spread_field = first.field if first is not None and spreads else None
        self.by_value = _ByValue(spread_field) if spread_field else None
        balance = Balance(scheduler.balance, snapshot, context) if scheduler.balance is not None else None
        self.balance = balance if balance is not None and balance.binding is not None else None  # None: no telling
        self.source: Source
        rest = chain[1:] if spread_field else chain
        self.values: ValueSource | None = None
        if self.sample is not None:
            self.source = RandomSource(accepting(snapshot), draws, self.dead, exact=False)
        elif spread_field and spread_field.startswith("attribute:") and _by_id(rest) is not None:
            # spread over an attribute, then by host or not at all: walk the chosen values' instances
            name = spread_field[10:]
            if ValueSource.covers(snapshot, name):
                demand = request.task_definition.charge
                self.values = ValueSource(snapshot, name, context, demand, self.dead, bool(_by_id(rest)))
        if self.sample is None:
            self.source = self.values or choose_source(
                rest, snapshot, context, request.task_definition.charge, self.dead, draws
            )
        leading_draw = self.source if isinstance(self.source, RandomSource) and self.sample is None else None
        if scheduler.partition is not None:
            self.source = OwnFirst(self.source, *scheduler.partition)
        score = scheduler.score if scheduler.scoring else None
        self.ranking = Ranking(snapshot, context, request.strategies, score, draws, leading_draw)

    def place_one(self) -> Unplaced | None:
        """Place the next task; an Unplaced (with every instance's reason counted) if none can take it."""
        if self.failed is not None:
            return self.failed  # nothing changed since: the same shape still fits nowhere
        best = self._best_by_value() if self.by_value is not None else self._scan(None)[0]
        if best is None:
            self.failed = self._unplaced()
            return self.failed
        _, instance, charge, bindings = best
        definition = self.request.task_definition
        task = Task(
            id=new_id(),
            task_definition=definition.key,
            container_instance_id=instance.id,
            charge=charge,
            last_status="PROVISIONING" if definition.network_mode == "awsvpc" else "PENDING",
            group=self.context.group,
            started_by=self.request.started_by,
            host_ports=bindings,
        )
        self.source.before_take(instance)
        self.context._take(instance, charge, task)
        self.source.after_take(instance)
        self.ranking.placed(instance)
        return None

    def _scan(
        self, accept: Callable[[ContainerInstance], bool] | None, *, aside: bool = True
    ) -> tuple[Best | None, bool]:
        """The best accepted candidate, reading the source's order only as far as needed, and
        whether any instance was rejected for a reason that can change.

        Instances the request ``avoid``s, and with ``balance`` those it would unbalance, are
        set aside: with ``aside`` the best of them is taken when no other instance can be.
        """
        source, dead, verdict_of, rank_key = self.source, self.dead, self.feasible.verdict, self.ranking.key
        avoid, balance = self.request.avoid, self.balance
        best: Best | None = None
        best_tie: tuple[Any, ...] | None = None
        saw_passing = False
        feasible = 0
        for instance in source.ordered():
            if accept is not None and not accept(instance):
                continue
            if best is not None and (source.exact or source.tie_key(instance) != best_tie):
                break  # in the source's order nothing further can beat or tie the best
            verdict = verdict_of(instance)
            if isinstance(verdict, Rejected):
                if verdict.lasting:
                    dead.add(instance.id)
                else:
                    saw_passing = True
                continue
            charge, bindings = verdict
            if instance.id in avoid or (balance is not None and balance.unbalancing(instance, charge)):
                self.aside.append(instance)  # the last resort: set aside, not dropped
                dead.add(instance.id)
                continue
            key = rank_key(instance)
            if best is None or key < best[0]:
                best = (key, instance, charge, bindings)
                best_tie = source.tie_key(instance)
            feasible += 1
            if feasible == self.sample:
                break  # the best of a random sample
        source.settle(dead)
        if best is None and self.aside and aside:
            best = self._from_aside(accept)
        return best, saw_passing

    def _from_aside(self, accept: Callable[[ContainerInstance], bool] | None) -> Best | None:
        """The best set-aside instance that still takes the task (no balanced one could)."""
        best: Best | None = None
        for instance in self.aside:
            if accept is not None and not accept(instance):
                continue
            verdict = self.feasible.verdict(instance)
            if isinstance(verdict, Rejected):
                continue
            charge, bindings = verdict
            key = self.ranking.key(instance)
            if best is None or key < best[0]:
                best = (key, instance, charge, bindings)
        return best

    def _best_by_value(self) -> Best | None:
        """Spread over an attribute first: the best instance among the least-loaded values."""
        by_value = self.by_value
        assert by_value is not None
        field = by_value.field
        counts = self.ranking.counts(field)
        live = {value for value in counts if value not in by_value.full}
        while live:
            level = min(counts[value] for value in live)
            chosen = {value for value in live if counts[value] == level}
            if self.values is not None:
                self.values.chosen = chosen  # the source walks only these values' instances
                best, saw_passing = self._scan(None, aside=False)
            else:
                best, saw_passing = self._scan(by_value.accepting(chosen), aside=False)
            if best is not None:
                return best
            if not saw_passing:
                by_value.full |= chosen  # only lasting reasons: these values stay full in this plan
            live -= chosen
        remaining = set(counts)
        while self.aside and remaining:  # no other instance of any value: the set-aside ones, least-loaded value first
            level = min(counts[value] for value in remaining)
            chosen = {value for value in remaining if counts[value] == level}
            best = self._from_aside(by_value.accepting(chosen))
            if best is not None:
                return best
            remaining -= chosen
        return None

    def _unplaced(self) -> Unplaced:
        reasons: dict[str, int] = {}
        for instance in self.snapshot.instances():
            if instance.status == "INACTIVE":
                continue
            verdict = self.feasible.verdict(instance)
            reason = verdict.reason if isinstance(verdict, Rejected) else "CONFLICT"
            reasons[reason] = reasons.get(reason, 0) + 1
        return Unplaced(reasons)


class _ByValue:
    """The search of a chain that spreads over an attribute (or host) first, for one plan.

    ``values`` caches each instance's value of ``field``; ``full`` holds the values whose
    instances were all rejected for lasting reasons, which stay full for the rest of the plan.
    """

    __slots__ = ("field", "full", "values")

    def __init__(self, field: str) -> None:
        self.field = field
        self.values: dict[str, str | None] = {}
        self.full: set[str | None] = set()

    def accepting(self, chosen: set[str | None]) -> Callable[[ContainerInstance], bool]:
        """A test for the instances whose value is one of ``chosen``."""
        return functools.partial(_value_in, self.values, self.field, chosen)


def _value_in(cache: dict[str, str | None], field: str, chosen: set[str | None], instance: ContainerInstance) -> bool:
    """Whether ``instance``'s value of the spread ``field`` is one of ``chosen`` (values cached)."""
    value = cache.get(instance.id, _UNSET)
    if value is _UNSET:
        value = cache[instance.id] = field_value(instance, field)
    return bool(value in chosen)


def _by_id(rest: tuple[PlacementStrategy, ...]) -> bool | None:
    """For what follows a leading attribute spread: True for ``spread("instanceId")`` (order by
    tasks of the group, then id), False for nothing (by id), None for anything else.
    """
    if not rest:
        return False
    if len(rest) == 1 and rest[0].type == "spread" and rest[0].field == "instanceId":
        return True
    return None


def _seed(seed: int | None, strategies: tuple[PlacementStrategy, ...]) -> int | None:
    """A ``random`` strategy's own seed, else the scheduler's."""
    for strategy in strategies:
        if strategy.type == "random" and strategy.seed is not None:
            return strategy.seed
    return seed
