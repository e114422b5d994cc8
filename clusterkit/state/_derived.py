"""Placement indexes: derived from the records, brought up to date lazily or in batches.

Schedulers read three things that no list call needs: the capacity indexes (the instances
that accept tasks, by what they have left), per task group how many of its tasks hold
resources on each instance, and the cluster-wide usage totals. Keeping them in step on
every commit cost more than the rest of a single-task commit, so a commit only *logs* the
ids of the records it changed. The indexes are brought up to date — *folded* — when a
reader first asks for them at a version, or by the writer once the log is
``Derived.fold_limit`` long (commits plus ids).

How this keeps the state's guarantees:

- A ``Derived`` is shared by the roots of consecutive versions. Its log only grows, and a
  version reads only the entries up to its own, so what a snapshot sees never changes:
  its indexes are a function of its own records.
- A reader folds into tree nodes of a private ``Owner``: it copies the paths it changes
  and never changes a node another snapshot can reach. Two readers folding one version
  compute equal indexes; the last to finish is remembered (``latest``). No lock is taken.
- The writer folds under the commit lock, with its own owner, for the roots it is
  building, which no reader can reach yet.
- The next commit starts a new log from the newest fold a reader made, so a scheduler
  that reads every version folds one commit's changes at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Final, NamedTuple

import attrs
import immutables

from clusterkit.model.instance import ContainerInstance
from clusterkit.model.task import Task
from clusterkit.state._ptree import Owner, PSortedSet

__all__ = [
    "Derived",
    "PlacementIndexes",
    "Usage",
    "amount_class",
    "capacity_key",
    "cpu_capacity_key",
    "placement_indexes",
]

_NO_COUNTS: Final[immutables.Map[str, int]] = immutables.Map()
_Key = tuple[int, int, str]


def amount_class(amount: int) -> int:
    """A coarse, order-keeping class of an amount (CPU units, MiB): four classes per doubling.

    ``amount_class(a) > amount_class(b)`` implies ``a > b``, so a class above a demand's
    class holds only instances with enough of it; only the demand's own class needs a check.
    """
    if amount < 8:
        return amount
    bits = amount.bit_length()
    return (bits << 2) | ((amount >> (bits - 3)) & 3)


def capacity_key(instance: ContainerInstance) -> _Key | None:
    """An instance's place in the memory capacity index, or None when it accepts no tasks.

    The key is ``(amount_class(cpu left), memory left, id)``.
    """
    if instance.status != "ACTIVE" or not instance.agent_connected:
        return None
    remaining = instance.remaining
    return (amount_class(remaining.cpu), remaining.memory, instance.id)


def cpu_capacity_key(instance: ContainerInstance) -> _Key | None:
    """An instance's place in the CPU capacity index, or None when it accepts no tasks.

    The key is ``(amount_class(memory left), cpu left, id)``.
    """
    if instance.status != "ACTIVE" or not instance.agent_connected:
        return None
    remaining = instance.remaining
    return (amount_class(remaining.memory), remaining.cpu, instance.id)


@attrs.frozen(slots=True)
class Usage:
    """What the cluster's busy instances use of their CPU and memory.

    Totals over the ACTIVE instances that hold anything (remaining ≠ registered):
    ``cpu_used`` of ``cpu_registered`` CPU units, ``memory_used`` of ``memory_registered`` MiB.
    """

    cpu_used: int = 0
    cpu_registered: int = 0
    memory_used: int = 0
    memory_registered: int = 0

    @property
    def binding(self) -> str | None:
        """The resource used the more, in proportion: ``"cpu"`` or ``"memory"`` (None on a tie or no use)."""
        if not self.cpu_registered or not self.memory_registered:
            return None
        cpu = self.cpu_used / self.cpu_registered
        memory = self.memory_used / self.memory_registered
        return "cpu" if cpu > memory else "memory" if memory > cpu else None


_NO_USE: Final = (0, 0, 0, 0)


def _use(instance: ContainerInstance | None) -> tuple[int, int, int, int]:
    """An instance's share of ``Usage``: nothing unless it is ACTIVE and holds something."""
    if instance is None or instance.status != "ACTIVE":
        return _NO_USE
    registered, remaining = instance.registered, instance.remaining
    if remaining == registered:
        return _NO_USE
    return (
        registered.cpu - remaining.cpu,
        registered.cpu,
        registered.memory - remaining.memory,
        registered.memory,
    )


_Entry = tuple["_Key | None", "_Key | None", tuple[int, int, int, int]]
"""Where an instance sits in the indexes: its memory key, its CPU key and its share of the usage."""
_NOWHERE: Final[_Entry] = (None, None, _NO_USE)


def _entry(instance: ContainerInstance | None) -> _Entry:
    if instance is None:
        return _NOWHERE
    return (capacity_key(instance), cpu_capacity_key(instance), _use(instance))


class PlacementIndexes(NamedTuple):
    """The placement indexes at one version."""

    by_memory: PSortedSet
    """``capacity_key`` of every instance that accepts tasks, sorted."""
    by_cpu: PSortedSet
    """``cpu_capacity_key`` of every instance that accepts tasks, sorted."""
    group_counts: immutables.Map[str, immutables.Map[str, int]]
    """Per group, per instance id, the group's tasks that hold resources there (not STOPPED)."""
    usage: Usage
    """The cluster-wide usage totals."""
    entries: immutables.Map[str, _Entry]
    """Per instance id, where it sits in the indexes (instances that sit nowhere are left out):
    a fold reads an instance's old keys here, so the log needs no old values."""


def placement_indexes(
    tasks: Iterable[Task], instances: Iterable[ContainerInstance], owner: Owner | None = None
) -> PlacementIndexes:
    """The indexes of these records, built from scratch. O(n log n)."""
    owner = owner if owner is not None else Owner()
    counts: dict[str, dict[str, int]] = {}
    for task in tasks:
        if not task.is_stopped:
            per_instance = counts.setdefault(task.group, {})
            per_instance[task.container_instance_id] = per_instance.get(task.container_instance_id, 0) + 1
    group_counts = immutables.Map({group: immutables.Map(per_instance) for group, per_instance in counts.items()})
    return _indexed(immutables.Map(), list(instances), group_counts, owner)


def _indexed(
    entries: immutables.Map[str, _Entry],
    instances: Iterable[ContainerInstance],
    group_counts: immutables.Map[str, immutables.Map[str, int]],
    owner: Owner,
) -> PlacementIndexes:
    """Indexes built from scratch for ``instances``, with ``entries`` updated to match. O(n log n)."""
    edit = entries.mutate()
    for instance in instances:
        entry = _entry(instance)
        if entry != _NOWHERE:
            edit[instance.id] = entry
        else:
            edit.pop(instance.id, None)
    entries = edit.finish()
    placed = list(entries.values())
    totals = [sum(column) for column in zip(_NO_USE, *(entry[2] for entry in placed), strict=True)]
    return PlacementIndexes(
        PSortedSet.from_sorted(sorted(entry[0] for entry in placed if entry[0] is not None), owner),
        PSortedSet.from_sorted(sorted(entry[1] for entry in placed if entry[1] is not None), owner),
        group_counts,
        Usage(*totals),
        entries,
    )


class _Point(NamedTuple):
    """Indexes folded at one version."""

    version: int
    indexes: PlacementIndexes


class Derived:
    """The placement indexes of a run of consecutive versions: folded at ``base``, plus a log.

    The log is three flat lists of ids, appended by each commit and never changed: the
    tasks that began to hold resources (``placed``), those that stopped holding them
    (``released``) and the instances that changed (``changed``); ``ends`` holds, three
    per commit, the lists' lengths after it. A commit allocates no object for the log and
    keeps no old value alive: a fold finds an instance's old keys in the indexes it starts
    from. ``latest`` is the newest fold, a reader's or the base.
    """

    __slots__ = ("base", "changed", "ends", "latest", "placed", "released")

    fold_limit: int = 1 << 16
    """The writer folds once the log's commits plus ids reach this: it bounds the log's
    memory (about 10 bytes each) and a reader's first fold (tens of milliseconds), and
    spreads each fold's cost over many commits."""

    def __init__(self, base: _Point) -> None:
        self.base = base
        self.latest = base
        self.placed: list[str] = []
        self.released: list[str] = []
        self.changed: list[str] = []
        self.ends = array("q")

    @classmethod
    def build(
        cls,
        version: int,
        tasks: immutables.Map[str, Task],
        instances: immutables.Map[str, ContainerInstance],
        owner: Owner,
    ) -> Derived:
        """Indexes of these records built from scratch, with an empty log. O(n log n)."""
        return cls(_Point(version, placement_indexes(tasks.values(), instances.values(), owner)))

    @property
    def end(self) -> int:
        """The newest version this log reaches."""
        return self.base.version + len(self.ends) // 3

    def _offsets(self, version: int) -> tuple[int, int, int]:
        """The lengths of ``placed``, ``released`` and ``changed`` at ``version``."""
        commits = version - self.base.version
        if not commits:
            return (0, 0, 0)
        ends = self.ends
        return (ends[3 * commits - 3], ends[3 * commits - 2], ends[3 * commits - 1])

    # -- reading ----------------------------------------------------------------------

    def indexes(
        self, version: int, tasks: immutables.Map[str, Task], instances: immutables.Map[str, ContainerInstance]
    ) -> PlacementIndexes:
        """The indexes at ``version``, whose records are ``tasks`` and ``instances``.

        O(1) once folded; the first read folds the changes since the newest earlier fold,
        O(d log n) for d logged ids (O(n log n) when most instances changed).
        """
        latest = self.latest
        if latest.version == version:
            return latest.indexes
        if not self.base.version <= version <= self.end:  # records from elsewhere: no log covers them
            return placement_indexes(tasks.values(), instances.values())
        start = latest if latest.version < version else self.base
        point = self._fold(start, version, tasks, instances, Owner())
        if point.version > self.latest.version:
            self.latest = point
        return point.indexes

    def problems(
        self, version: int, tasks: immutables.Map[str, Task], instances: immutables.Map[str, ContainerInstance]
    ) -> list[str]:
        """What is wrong with this log at ``version``, for invariant checks (empty when nothing).

        The log must reach ``version``; the indexes read at ``version`` (folded lazily, maybe
        from a reader's fold) must equal a refold of the whole log from the base; their
        trees must be well formed. O(d log n) for the log's d ids, plus the trees' size.
        """
        if not self.base.version <= version <= self.end:
            return [f"the placement log covers versions {self.base.version}..{self.end}, not {version}"]
        read = self.indexes(version, tasks, instances)
        refolded = self._fold(self.base, version, tasks, instances, Owner()).indexes
        problems = []
        if not _same(read, refolded):
            problems.append(f"the placement indexes read at version {version} differ from a refold of their log")
        for tree in (read.by_memory, read.by_cpu):
            try:
                tree._check()
            except AssertionError as error:
                problems.append(f"a capacity index is malformed: {error}")
        return problems

    # -- writing (under the commit lock) ------------------------------------------------

    def advance(
        self,
        version: int,
        old_tasks: immutables.Map[str, Task],
        changes: tuple[Iterable[Task], Iterable[str]],
        after: tuple[immutables.Map[str, Task], immutables.Map[str, ContainerInstance]],
        owner: Owner,
    ) -> Derived:
        """The Derived of ``version``, made by a commit on ``version - 1`` that wrote ``changes``.

        ``changes`` are the tasks the commit wrote (``old_tasks`` holds what they were) and
        the ids of the instances it wrote; ``after`` the records it made. O(1) amortised
        per record: ids appended to the log, and a fold of the whole log once it is long
        enough. ``owner`` is the writer's: nodes it owns are reachable from no snapshot.
        """
        derived = self._writable(version - 1)
        if derived is None:
            return Derived.build(version, after[0], after[1], owner)
        derived._log(old_tasks, changes[0], changes[1])
        if len(derived.ends) // 3 + sum(derived.ends[-3:]) >= self.fold_limit:
            return Derived(derived._fold(derived.base, version, after[0], after[1], owner))
        return derived

    def _log(self, old_tasks: immutables.Map[str, Task], tasks: Iterable[Task], instance_ids: Iterable[str]) -> None:
        """Append one commit's changes to the log."""
        for task in tasks:
            old = old_tasks.get(task.id)
            held = not task.is_stopped
            if held != (old is not None and not old.is_stopped):
                (self.placed if held else self.released).append(task.id)
        self.changed.extend(instance_ids)
        ends = self.ends
        ends.append(len(self.placed))
        ends.append(len(self.released))
        ends.append(len(self.changed))

    def _writable(self, version: int) -> Derived | None:
        """A Derived whose log ends at ``version``, ready for the next commit's entry.

        This one, when its log ends there and no reader folded past its base. Otherwise a
        new one starting at the newest fold at or before ``version`` (a reader's, or the
        base), with the entries after it up to ``version``: this also leaves out entries
        another writer put past ``version``. None when ``version`` is outside this log.
        """
        base, latest = self.base, self.latest
        if not base.version <= version <= self.end:
            return None
        start = latest if latest.version <= version else base
        if start is base and self.end == version:
            return self
        fresh = Derived(start)
        (p0, r0, c0), (p1, r1, c1) = self._offsets(start.version), self._offsets(version)
        fresh.placed, fresh.released, fresh.changed = self.placed[p0:p1], self.released[r0:r1], self.changed[c0:c1]
        offsets = (p0, r0, c0)
        tail = self.ends[3 * (start.version - base.version) : 3 * (version - base.version)]
        fresh.ends = array("q", [end - offsets[position % 3] for position, end in enumerate(tail)])
        return fresh

    # -- folding ------------------------------------------------------------------------

    def _fold(
        self,
        start: _Point,
        version: int,
        tasks: immutables.Map[str, Task],
        instances: immutables.Map[str, ContainerInstance],
        owner: Owner,
    ) -> _Point:
        """``start``'s indexes with the changes logged after it up to ``version``."""
        (p0, r0, c0), (p1, r1, c1) = self._offsets(start.version), self._offsets(version)
        indexes = start.indexes
        instance_ids = set(self.changed[c0:c1])
        group_counts = _counted(indexes.group_counts, tasks, self.placed[p0:p1], self.released[r0:r1])
        if 2 * len(instance_ids) >= len(instances):  # most instances changed: rebuild, O(n log n)
            changed = (instance for instance in map(instances.get, instance_ids) if instance is not None)
            return _Point(version, _indexed(indexes.entries, changed, group_counts, owner))
        return _Point(version, _moved(indexes, instance_ids, instances, group_counts, owner))


def _same(left: PlacementIndexes, right: PlacementIndexes) -> bool:
    return (
        list(left.by_memory) == list(right.by_memory)
        and list(left.by_cpu) == list(right.by_cpu)
        and left.group_counts == right.group_counts
        and left.usage == right.usage
        and left.entries == right.entries
    )


def _moved(
    indexes: PlacementIndexes,
    instance_ids: Iterable[str],
    instances: immutables.Map[str, ContainerInstance],
    group_counts: immutables.Map[str, immutables.Map[str, int]],
    owner: Owner,
) -> PlacementIndexes:
    """``indexes`` with each of ``instance_ids`` moved from its old entry to where it sits now."""
    by_memory, by_cpu, _, usage, entries = indexes
    totals = [usage.cpu_used, usage.cpu_registered, usage.memory_used, usage.memory_registered]
    edit = entries.mutate()
    for instance_id in instance_ids:
        old, new = edit.get(instance_id, _NOWHERE), _entry(instances.get(instance_id))
        if old == new:
            continue
        by_memory = _move(by_memory, old[0], new[0], owner)
        by_cpu = _move(by_cpu, old[1], new[1], owner)
        for position in range(4):
            totals[position] += new[2][position] - old[2][position]
        if new != _NOWHERE:
            edit[instance_id] = new
        else:
            edit.pop(instance_id, None)
    return PlacementIndexes(by_memory, by_cpu, group_counts, Usage(*totals), edit.finish())


def _move(index: PSortedSet, old: _Key | None, new: _Key | None, owner: Owner) -> PSortedSet:
    """``index`` with ``old`` taken out and ``new`` put in (either may be None)."""
    if old == new:
        return index
    if old is None:
        return index.add(new, owner)
    if new is None:
        return index.discard(old, owner)
    return index.replace(old, new, owner)


def _counted(
    counts: immutables.Map[str, immutables.Map[str, int]],
    tasks: immutables.Map[str, Task],
    placed: Iterable[str],
    released: Iterable[str],
) -> immutables.Map[str, immutables.Map[str, int]]:
    """``counts`` with the ``placed`` tasks counted and the ``released`` ones taken out."""
    deltas: dict[str, dict[str, int]] = {}
    for task_ids, delta in ((placed, 1), (released, -1)):
        for task_id in task_ids:
            task = tasks.get(task_id)
            if task is not None:
                group_deltas = deltas.setdefault(task.group, {})
                instance_id = task.container_instance_id
                group_deltas[instance_id] = group_deltas.get(instance_id, 0) + delta
    if not deltas:
        return counts
    edit = counts.mutate()
    for group, changes in deltas.items():
        edited = edit.get(group, _NO_COUNTS).mutate()
        for instance_id, change in changes.items():
            total = edited.get(instance_id, 0) + change
            if total:
                edited[instance_id] = total
            else:
                edited.pop(instance_id, None)
        per_instance = edited.finish()
        if per_instance:
            edit[group] = per_instance
        else:
            edit.pop(group, None)
    return edit.finish()
