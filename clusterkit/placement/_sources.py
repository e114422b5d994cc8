"""The candidate stage: which instances a plan looks at for the next task, and in what order.

Nomad's stack starts from a (shuffled) source iterator and its rankers read as far as they
must; here a source gives the instances best first where its order knows best, so the
selection stage can stop early:

- ``CapacitySource``: binpack order straight from the snapshot's capacity index for the
  field, O(log n) per placement;
- ``SortedSource``: an order built for the plan (``spread("instanceId")``, then binpack);
- ``RandomSource``: a fresh lazy shuffle for every task (``random``, and ``sample``);
- ``AllSource``: every instance in no order, for the chains (and scorers) that rank them all;
- ``ValueSource``: for a chain that spreads over an attribute first, the instances of the
  chosen attribute values only, from the snapshot's attribute index, by id (or by tasks of
  the group, then id, when ``spread("instanceId")`` comes next): the first fit is the best.

``choose_source`` picks the cheapest one that still finds the best instance for a chain.
Every source skips the instances in the plan's ``dead`` set (rejected for a lasting reason,
or set aside) and forgets them in ``settle``.
"""

from __future__ import annotations

import random as _random
import zlib
from collections.abc import Callable, Iterator
from heapq import heappop, heappush, merge
from typing import Any, Protocol

from sortedcontainers import SortedList

from clusterkit.model import ContainerInstance, PlacementStrategy, Resources
from clusterkit.placement._context import PlacementContext
from clusterkit.state import Snapshot, amount_class


class Draws:
    """A plan's random draws: its seed and the number of the task being placed.

    The same seed and cluster give the same plan (on any store: not the version, which etcd
    numbers its own way); once tasks were added the draw is new, so a seeded random strategy
    does not send every request to the same few instances. Each task of the plan draws afresh.
    """

    __slots__ = ("number", "seed")

    def __init__(self, seed: int | None, snapshot: Snapshot) -> None:
        self.seed = seed * 1_000_003 + snapshot.task_count if seed is not None else _random.randrange(1 << 62)
        self.number = 0  # tasks placed so far in this plan


class Source(Protocol):
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


def accepting(snapshot: Snapshot) -> list[ContainerInstance]:
    """Every instance that accepts tasks (ACTIVE, agent connected). O(n)."""
    return [i for i in snapshot.instances() if i.status == "ACTIVE" and i.agent_connected]


def choose_source(
    chain: tuple[PlacementStrategy, ...],
    snapshot: Snapshot,
    context: PlacementContext,
    demand: Resources,
    dead: set[str],
    draws: Draws,
) -> Source:
    """The cheapest candidate order that still finds the best instance for ``chain``."""
    first = chain[0] if chain else None
    if first is not None and first.type == "binpack":
        field = "cpu" if first.field == "cpu" else "memory"
        return CapacitySource(snapshot, field, demand, context, dead, len(chain) == 1)
    if first is not None and first.type == "spread" and first.field == "instanceId":  # by group tasks there
        then = chain[1] if len(chain) > 1 and chain[1].type == "binpack" else None
        if then is None:
            return SortedSource(accepting(snapshot), context, lambda r, c: (c,), len(chain) == 1)
        field = then.field or "memory"
        return SortedSource(accepting(snapshot), context, lambda r, c: (c, getattr(r, field)), len(chain) == 2)
    if first is not None and first.type == "random":
        return RandomSource(accepting(snapshot), draws, dead, exact=len(chain) == 1)
    return AllSource(accepting(snapshot))


class AllSource:
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


class SortedSource:
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
        self.order = SortedList([(*key(left.get(i.id, i.remaining), counts.get(i.id, 0)), i.id) for i in instances])

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


class RandomSource:
    """The accepting instances in a fresh random order for every placement.

    ``position`` holds each instance's place in the latest draw, as far as it was read: the
    rank key of a chain that starts with ``random`` reads it.
    """

    def __init__(self, instances: list[ContainerInstance], draws: Draws, dead: set[str], *, exact: bool) -> None:
        self.instances = {instance.id: instance for instance in instances}
        self.ids = sorted(self.instances)
        self.draws = draws
        self.dead = dead
        self.exact = exact
        self.position: dict[str, int] = {}
        self.compacted = 0  # how many dead instances the id list had dropped when last compacted

    def ordered(self) -> Iterator[ContainerInstance]:
        """A random permutation drawn from (seed, task number): the same for explain and place."""
        ids, count, dead = self.ids, len(self.ids), self.dead
        rng = _random.Random(f"{self.draws.seed}:{self.draws.number}")
        self.position = position = {}
        for index in range(count):  # Fisher-Yates, drawn lazily: most scans stop at once
            pick = rng.randrange(index, count)
            ids[index], ids[pick] = ids[pick], ids[index]
            position[ids[index]] = index
            if ids[index] not in dead:
                yield self.instances[ids[index]]

    def draw_all(self) -> None:
        """Draw the whole permutation ``place`` would draw from, so every instance has a position."""
        self.ids = sorted(self.ids)
        for _ in self.ordered():
            pass

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


class CapacitySource:
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


class ValueSource:
    """The accepting instances of the ``chosen`` values of attribute ``name``, best first.

    For a chain ``spread(attribute:name)`` alone (``by_count`` False: the rank key ends at
    the id) or followed by ``spread("instanceId")`` (``by_count``: the instances with no
    task of the group by id, then the others by (tasks, id), as ``SortedSource`` orders
    them). The selection sets ``chosen`` to the least-loaded values before each scan. It
    reads the snapshot's attribute index, so it needs every live instance to carry the
    attribute (``covers``). A value's leading instances that can never come first again in
    this plan (dead, not accepting, or holding a task of the group) are stepped over for
    good, so a plan of k tasks costs O(k log n) plus the instances it rejects.
    """

    exact = True

    def __init__(
        self,
        snapshot: Snapshot,
        name: str,
        context: PlacementContext,
        demand: Resources,
        dead: set[str],
        by_count: bool,
    ) -> None:
        self.cpu, self.memory = demand.cpu, demand.memory
        self.buckets = snapshot.instance_ids_by_attribute(name)
        self.instances = snapshot.instances_by_id
        self.name = name
        self.context = context
        self.dead = dead
        self.by_count = by_count
        self.chosen: set[str | None] = set()
        self.starts: dict[str | None, str] = {}  # per value, the id its walk resumes from
        self.memo = snapshot.spread_starts  # shared with the other plans of this snapshot's lineage
        self.loaded: dict[str | None, SortedList[tuple[int, str]]] | None = None  # see _loaded_by_value

    @staticmethod
    def covers(snapshot: Snapshot, name: str) -> bool:
        """Whether every live instance carries attribute ``name`` (no value is left out). O(values)."""
        buckets = snapshot.instance_ids_by_attribute(name)
        return sum(len(bucket) for bucket in buckets.values()) == snapshot.live_instance_count

    def _walk(self, value: str | None) -> Iterator[str]:
        """The ids of ``value``'s instances that may come first, in id order.

        Skipped for good (and so stepped over by the value's start from then on): dead ones,
        with ``by_count`` those holding a task of the group, those that do not accept tasks,
        and those without the CPU or memory the task needs, which join ``dead`` here without
        the feasibility stage (it would reject them for a lasting reason or an earlier one;
        either way none is ever chosen in this plan).
        """
        bucket = self.buckets.get(value)
        if bucket is None:
            return
        dead, instances, cpu, memory = self.dead, self.instances, self.cpu, self.memory
        counts = self.context._group_counts if self.by_count else None
        left = self.context._remaining
        start = self.starts.get(value)
        memo_key = (self.name, value, cpu, memory)
        full = start is None  # still in the run of instances that are full in the snapshot itself
        if full:
            known = self.memo.get(memo_key)
            if known is not None and known[1] is self.buckets:
                start = known[0]  # an earlier plan found the instances before it full
        leading = True
        instance_id = None
        for instance_id in bucket if start is None else bucket.iter_from(start, inclusive=True):
            if full:
                instance = instances[instance_id]
                if instance.accepts_tasks and instance.remaining.cpu >= cpu and instance.remaining.memory >= memory:
                    full = False
                    self.memo[memo_key] = (instance_id, self.buckets)
            if instance_id in dead or (counts is not None and counts.get(instance_id)):
                continue
            instance = instances[instance_id]
            if instance.status != "ACTIVE" or not instance.agent_connected:
                continue
            remaining = left.get(instance_id) or instance.remaining
            if remaining.cpu < cpu or remaining.memory < memory:
                dead.add(instance_id)
                continue
            if leading:
                self.starts[value] = instance_id  # everything before it stays skipped: counts only grow
                leading = False
            yield instance_id
        if full and instance_id is not None:
            self.memo[memo_key] = (instance_id + "\0", self.buckets)  # every one of them is full
        if leading and instance_id is not None:
            self.starts[value] = instance_id + "\0"  # none can come first again in this plan

    def ordered(self) -> Iterator[ContainerInstance]:
        instances = self.instances
        heads: list[tuple[str, Iterator[str]]] = []  # the next id of each chosen value's walk: merged by id
        for walk in map(self._walk, self.chosen):
            first = next(walk, None)
            if first is not None:
                heads.append((first, walk))
        while heads:
            index = min(range(len(heads)), key=heads.__getitem__) if len(heads) > 1 else 0  # ids differ
            instance_id, walk = heads[index]
            yield instances[instance_id]
            following = next(walk, None)
            if following is None:
                del heads[index]
            else:
                heads[index] = (following, walk)
        if not self.by_count:
            return
        loaded = self._loaded_by_value()
        dead = self.dead
        for _, instance_id in merge(*(loaded[value] for value in self.chosen if value in loaded)):
            if instance_id not in dead:
                yield instances[instance_id]

    def _loaded_by_value(self) -> dict[str | None, SortedList[tuple[int, str]]]:
        """Per value, the accepting instances holding tasks of the group as sorted (tasks, id):
        built once a plan, when its first task finds every instance of the chosen values loaded,
        then moved by each placement (``before_take``/``after_take``).
        """
        if self.loaded is None:
            self.loaded = {}
            instances = self.instances
            for instance_id, count in self.context._group_counts.items():
                instance = instances.get(instance_id)
                if count and instance is not None and instance.status == "ACTIVE" and instance.agent_connected:
                    self._load(instance, count)
        return self.loaded

    def _load(self, instance: ContainerInstance, count: int) -> None:
        assert self.loaded is not None
        value = instance.attribute(self.name)
        bucket = self.loaded.get(value)
        if bucket is None:
            bucket = self.loaded[value] = SortedList()
        bucket.add((count, instance.id))

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...] | None:
        return None

    def settle(self, dead: set[str]) -> None:
        pass

    def before_take(self, instance: ContainerInstance) -> None:
        if self.loaded is not None and (count := self.context.group_count(instance.id)):
            self.loaded[instance.attribute(self.name)].remove((count, instance.id))

    def after_take(self, instance: ContainerInstance) -> None:
        if self.loaded is not None:
            self._load(instance, self.context.group_count(instance.id))


class OwnFirst:
    """``inner``'s order with the instances of share ``index`` of ``count`` first.

    An instance is in share ``crc32(id) % count``. The scan stops at the first instance of
    another share once it has a candidate (the tie key leads with ownership), so another's
    instance is taken only when none of the scheduler's own can take the task.
    """

    def __init__(self, inner: Source, index: int, count: int) -> None:
        self.inner = inner
        self.exact = inner.exact
        self.index, self.count = index, count
        self.owned: dict[str, bool] = {}

    def owns(self, instance_id: str) -> bool:
        """Whether ``instance_id`` is in this scheduler's share."""
        owned = self.owned.get(instance_id)
        if owned is None:
            owned = self.owned[instance_id] = zlib.crc32(instance_id.encode()) % self.count == self.index
        return owned

    def ordered(self) -> Iterator[ContainerInstance]:
        others: list[ContainerInstance] = []
        for instance in self.inner.ordered():
            if self.owns(instance.id):
                yield instance
            else:
                others.append(instance)
        yield from others

    def tie_key(self, instance: ContainerInstance) -> tuple[Any, ...] | None:
        key = self.inner.tie_key(instance)
        return (self.owns(instance.id), *(key or ()))

    def settle(self, dead: set[str]) -> None:
        self.inner.settle(dead)

    def before_take(self, instance: ContainerInstance) -> None:
        self.inner.before_take(instance)

    def after_take(self, instance: ContainerInstance) -> None:
        self.inner.after_take(instance)
