"""The ranking stage: how the feasible instances of one request compare, and which ones wait.

A rank key is ``(-score, key of each strategy of the chain, instance id)``, lower is better:
the scorers' weighted mean comes first, each strategy breaks the ties of the one before
(Nomad's rankers, chained), and the id ends every tie. ``Balance`` is the soft rule that
sets an instance aside, to be used only when no other can take the task.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from clusterkit.model import ContainerInstance, PlacementStrategy, Resources
from clusterkit.placement._context import PlacementContext, field_value
from clusterkit.placement._sources import Draws, RandomSource
from clusterkit.state import Snapshot

Score = Callable[[ContainerInstance, PlacementContext], float]


class Ranking:
    """Rank keys for one request's candidates, and the spread counts they read.

    ``score`` is the scheduler's ``score`` hook, or None when nothing scores (the key then
    starts with 0.0). ``random_order`` is the source whose draw gives a leading ``random``
    strategy its key (an instance's place in the draw); any other ``random`` strategy keys
    by a hash of the draw and the id.
    """

    __slots__ = ("context", "draws", "random_order", "score", "snapshot", "spread_counts", "strategies")

    def __init__(
        self,
        snapshot: Snapshot,
        context: PlacementContext,
        strategies: tuple[PlacementStrategy, ...],
        score: Score | None,
        draws: Draws,
        random_order: RandomSource | None,
    ) -> None:
        self.snapshot = snapshot
        self.context = context
        self.strategies = strategies
        self.score = score
        self.draws = draws
        self.random_order = random_order
        self.spread_counts: dict[str, dict[str | None, int]] = {}

    def key(self, instance: ContainerInstance) -> tuple[Any, ...]:
        """Lower is better: the negated score, each strategy's key, then the id."""
        context = self.context
        keys: list[Any] = [-self.score(instance, context) if self.score is not None else 0.0]
        for strategy in self.strategies:
            if strategy.type == "binpack":
                keys.append(getattr(context.remaining(instance), strategy.field or "memory"))
            elif strategy.type == "spread":
                keys.append(self.spread_count(instance, strategy.field or "instanceId"))
            elif strategy is self.strategies[0] and self.random_order is not None:
                keys.append(self.random_order.position.get(instance.id, 1 << 62))  # its place in this draw
            else:
                keys.append(zlib.crc32(f"{self.draws.seed}:{self.draws.number}:{instance.id}".encode()))
        keys.append(instance.id)
        return tuple(keys)

    def counts(self, field: str) -> dict[str | None, int]:
        """Tasks of the group per value of ``field``: counted once per plan, then kept up to date."""
        counts = self.spread_counts.get(field)
        if counts is None:
            if field.startswith("attribute:"):
                counts = _attribute_counts(self.snapshot, self.context, field[10:])
            else:
                counted = (i for i in self.snapshot.instances() if i.status != "INACTIVE")
                counts = self.context.count_by(field, counted)
            self.spread_counts[field] = counts
        return counts

    def spread_count(self, instance: ContainerInstance, field: str) -> int:
        """Tasks of the group that share ``instance``'s value of ``field``, this plan's included."""
        if field == "instanceId":
            return self.context.group_count(instance.id)
        counts = self.spread_counts.get(field)  # read here, not through counts(): one call less per instance
        if counts is None:
            counts = self.counts(field)
        return counts.get(field_value(instance, field), 0)

    def placed(self, instance: ContainerInstance) -> None:
        """A task of the group went to ``instance``: count it, and draw afresh for the next."""
        self.draws.number += 1
        for spread_field, counts in self.spread_counts.items():
            value = field_value(instance, spread_field)
            counts[value] = counts.get(value, 0) + 1


def _attribute_counts(snapshot: Snapshot, context: PlacementContext, name: str) -> dict[str | None, int]:
    """``context.count_by`` over the live instances for ``attribute:name``, without visiting them.

    Every value a live instance has (None for those without it) counts, at 0 when no task
    of the group is there; the counts come from the group's instances alone, whose values
    the snapshot's attribute index and the group counts give. O(values + group's instances).
    """
    buckets = snapshot.instance_ids_by_attribute(name)
    counts: dict[str | None, int] = dict.fromkeys(buckets, 0)
    if sum(len(bucket) for bucket in buckets.values()) < snapshot.live_instance_count:
        counts.setdefault(None, 0)  # some live instance lacks the attribute
    instances = snapshot.instances_by_id
    for instance_id, count in context._group_counts.items():
        instance = instances.get(instance_id)
        if instance is not None and instance.status != "INACTIVE":
            value = instance.attribute(name)
            counts[value] += count
    return counts


class Balance:
    """``BaseScheduler(balance=...)``: instances the task would unbalance wait until no other can take it.

    ``binding`` is the resource the cluster's busy instances use more of, cpu or memory
    (None: no telling), read in O(1) from the snapshot's usage totals.
    """

    __slots__ = ("binding", "context", "limit")

    def __init__(self, limit: float, snapshot: Snapshot, context: PlacementContext) -> None:
        self.limit = limit
        self.binding = snapshot.usage.binding
        self.context = context

    def unbalancing(self, instance: ContainerInstance, charge: Resources) -> bool:
        """True when placing ``charge`` makes the non-binding resource run ahead by more than the limit."""
        registered, remaining = instance.registered, self.context.remaining(instance)
        if not registered.cpu or not registered.memory:
            return False
        cpu = 1 - (remaining.cpu - charge.cpu) / registered.cpu
        memory = 1 - (remaining.memory - charge.memory) / registered.memory
        if self.binding == "cpu":
            return memory - cpu > self.limit
        if self.binding == "memory":
            return cpu - memory > self.limit
        return False
