"""Derived indexes: computed from the records, brought up to date lazily or in batches.

Two kinds of index are derived from the tasks and instances. The task *list index*
serves list calls: per ``(kind, value, desired status)`` the sorted ids of the tasks
there. The *placement indexes* serve schedulers: the instances that accept tasks sorted
by what they have left (one index by memory, one by CPU), per task group how many of
its tasks hold resources on each instance, and the cluster-wide usage totals.

Keeping them in step on every commit cost more than the rest of a single-task commit,
so a commit only *logs* the ids it changed, in one log per kind (``PlacementLog``,
``ListLog``). An index is brought up to date — *folded* — when a reader first asks for
it at a version (a scheduler folds only the placement indexes, a list call only the
list index), or by the writer once its log reaches ``LazyIndex.fold_limit``.

How this keeps the state's guarantees:

- A log is shared by the roots of consecutive versions. It only grows, and
  a version reads only the entries up to its own, so what a snapshot sees never changes:
  its indexes are a function of its own records.
- A commit allocates no object for the log and keeps no old record alive: a fold finds
  what an instance's old keys were in the placement indexes it starts from, and the log
  keeps a task's old desired status as one byte.
- A reader folds into tree nodes of a private ``Owner``: it copies the paths it changes
  and never changes a node another snapshot can reach. Two readers folding one version
  compute equal indexes; the newest fold is remembered (``latest``). No lock is taken.
- The writer folds under the commit lock, with its own owner, for the roots it is
  building, which no reader can reach yet; the next commit starts a new log from the
  newest fold a reader made, so a reader of every version folds one commit at a time.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final, Generic, NamedTuple, Self, TypeVar

import attrs
import immutables

from clusterkit.model import DESIRED_STATUSES, ContainerInstance, Task
from clusterkit.state._ptree import Owner, PSortedSet

__all__ = [
    "Folded",
    "LazyIndex",
    "ListLog",
    "PlacementIndexes",
    "PlacementLog",
    "TaskIndex",
    "Usage",
    "amount_class",
    "capacity_key",
    "cpu_capacity_key",
    "placement_indexes",
    "task_index",
    "task_index_keys",
]

_NO_COUNTS: Final[immutables.Map[str, int]] = immutables.Map()
_Key = tuple[int, int, str]
TaskIndex = immutables.Map[tuple[str, str, str], PSortedSet]
"""The task list index: per ``(kind, value, desired status)``, the sorted ids of those tasks."""
_NEW: Final = -1  # a logged task's old desired status when it is new
_DESIRED_CODE: Final = {status: code for code, status in enumerate(DESIRED_STATUSES)}


# -- keys -------------------------------------------------------------------------------


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


def task_index_keys(task: Task, desired: str | None = None) -> list[tuple[str, str, str]]:
    """The list index buckets a task belongs to, ``(kind, value, desired_status)``.

    ``desired`` stands in for the task's desired status (where it was before a change).
    """
    desired = desired or task.desired_status
    keys: list[tuple[str, str, str]] = [
        ("all", "", desired),
        ("instance", task.container_instance_id, desired),
        ("family", task.family, desired),
    ]
    group = task.group
    if group.startswith("service:"):
        keys.append(("service", group[8:], desired))
    if task.started_by is not None:
        keys.append(("startedBy", task.started_by, desired))
    return keys


# -- the placement indexes --------------------------------------------------------------


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


_Entry = tuple["_Key | None", "_Key | None", int, int, int, int]
"""Where an instance sits: its memory key, its CPU key and its share of the four usage totals."""
_NOWHERE: Final[_Entry] = (None, None, 0, 0, 0, 0)


def _entry(instance: ContainerInstance | None) -> _Entry:
    if instance is None:
        return _NOWHERE
    memory_key, cpu_key = capacity_key(instance), cpu_capacity_key(instance)
    registered, remaining = instance.registered, instance.remaining
    if instance.status != "ACTIVE" or remaining == registered:
        return (memory_key, cpu_key, 0, 0, 0, 0)
    return (
        memory_key,
        cpu_key,
        registered.cpu - remaining.cpu,
        registered.cpu,
        registered.memory - remaining.memory,
        registered.memory,
    )


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
    """Per instance id, where it sits (instances that sit nowhere are left out): a fold
    reads an instance's old keys here, so the log needs no old values."""
    starts: dict[Any, Any]
    """A memo the readers of these indexes share (see ``Snapshot.spread_starts``): facts
    about this version that a fold carries to the next one while every instance it moves
    only lost resources, and drops otherwise. It is never compared: no answer depends on it."""


def placement_indexes(
    tasks: Iterable[Task], instances: Iterable[ContainerInstance], owner: Owner | None = None
) -> PlacementIndexes:
    """The placement indexes of these records, built from scratch. O(n log n)."""
    counts: dict[str, dict[str, int]] = {}
    for task in tasks:
        if not task.is_stopped:
            per_instance = counts.setdefault(task.group, {})
            per_instance[task.container_instance_id] = per_instance.get(task.container_instance_id, 0) + 1
    group_counts = immutables.Map({group: immutables.Map(per_instance) for group, per_instance in counts.items()})
    return _rebuilt(immutables.Map(), instances, group_counts, owner or Owner())


def _rebuilt(
    entries: immutables.Map[str, _Entry],
    instances: Iterable[ContainerInstance],
    group_counts: immutables.Map[str, immutables.Map[str, int]],
    owner: Owner,
) -> PlacementIndexes:
    """Placement indexes with ``instances`` put in ``entries`` and the trees built anew. O(n log n)."""
    edit = entries.mutate()
    for instance in instances:
        entry = _entry(instance)
        if entry != _NOWHERE:
            edit[instance.id] = entry
        else:
            edit.pop(instance.id, None)
    entries = edit.finish()
    placed = list(entries.values())
    totals = [sum(column) for column in zip((0, 0, 0, 0), *(entry[2:] for entry in placed), strict=True)]
    return PlacementIndexes(
        PSortedSet.from_sorted(sorted(entry[0] for entry in placed if entry[0] is not None), owner),
        PSortedSet.from_sorted(sorted(entry[1] for entry in placed if entry[1] is not None), owner),
        group_counts,
        Usage(*totals),
        entries,
        {},
    )


def _moved(
    indexes: PlacementIndexes,
    instance_ids: Iterable[str],
    instances: immutables.Map[str, ContainerInstance],
    group_counts: immutables.Map[str, immutables.Map[str, int]],
    owner: Owner,
) -> PlacementIndexes:
    """``indexes`` with each of ``instance_ids`` moved from its old entry to where it sits now."""
    by_memory, by_cpu, _, usage, entries, starts = indexes
    totals = [usage.cpu_used, usage.cpu_registered, usage.memory_used, usage.memory_registered]
    edit = entries.mutate()
    for instance_id in instance_ids:
        old, new = edit.get(instance_id, _NOWHERE), _entry(instances.get(instance_id))
        if old == new:
            continue
        if starts and not _only_took(old, new):
            starts = {}  # room may have come somewhere: the memo's facts no longer hold
        by_memory = _move(by_memory, old[0], new[0], owner)
        by_cpu = _move(by_cpu, old[1], new[1], owner)
        totals[0] += new[2] - old[2]
        totals[1] += new[3] - old[3]
        totals[2] += new[4] - old[4]
        totals[3] += new[5] - old[5]
        if new != _NOWHERE:
            edit[instance_id] = new
        else:
            edit.pop(instance_id, None)
    return PlacementIndexes(by_memory, by_cpu, group_counts, Usage(*totals), edit.finish(), dict(starts))


def _only_took(old: _Entry, new: _Entry) -> bool:
    """Whether an instance moved from ``old`` to ``new`` only by losing CPU or memory (or by
    neither accepting tasks before nor after): what it lacked before, it still lacks.
    """
    old_memory, new_memory = old[0], new[0]
    if old_memory is None or new_memory is None:
        return old_memory is None and new_memory is None
    old_cpu, new_cpu = old[1], new[1]
    assert old_cpu is not None and new_cpu is not None  # both keys exist together
    return new_memory[1] <= old_memory[1] and new_cpu[1] <= old_cpu[1]


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
    return edit_nested(counts, deltas, _added)


def _added(count: int | None, change: int) -> int | None:
    total = (count or 0) + change
    return total or None


K = TypeVar("K")
L = TypeVar("L")
W = TypeVar("W")
X = TypeVar("X")


def edit_nested(
    outer: immutables.Map[K, immutables.Map[L, W]],
    changes: dict[K, dict[L, X]],
    update: Callable[[W | None, X], W | None],
) -> immutables.Map[K, immutables.Map[L, W]]:
    """``outer`` (a map of maps) with ``update(old value or None, change)`` put at each key of
    ``changes``; None takes the key out, and an inner map left empty leaves ``outer``.
    """
    edit = outer.mutate()
    for key, inner_changes in changes.items():
        inner = edit.get(key, immutables.Map()).mutate()
        for inner_key, change in inner_changes.items():
            value = update(inner.get(inner_key), change)
            if value is None:
                inner.pop(inner_key, None)
            else:
                inner[inner_key] = value
        finished = inner.finish()
        if finished:
            edit[key] = finished
        else:
            edit.pop(key, None)
    return edit.finish()


# -- the task list index ----------------------------------------------------------------


def task_index(tasks: Iterable[Task], owner: Owner | None = None) -> TaskIndex:
    """The task list index of these tasks, built from scratch. O(n log n)."""
    buckets: dict[tuple[str, str, str], list[str]] = {}
    for task in tasks:
        for key in task_index_keys(task):
            buckets.setdefault(key, []).append(task.id)
    owner = owner or Owner()
    return immutables.Map({key: PSortedSet.from_sorted(sorted(ids), owner) for key, ids in buckets.items()})


def _listed(index: TaskIndex, tasks: immutables.Map[str, Task], moves: dict[str, int], owner: Owner) -> TaskIndex:
    """``index`` with each task of ``moves`` (id → its old desired status code) where it is now.

    The moves are grouped by bucket first, so each bucket is read and written once and
    new ids, which sort after the ids already there, are appended a leaf at a time.
    """
    leaving: dict[tuple[str, str, str], list[str]] = {}
    arriving: dict[tuple[str, str, str], list[str]] = {}
    for task_id, code in moves.items():
        task = tasks.get(task_id)
        if task is None:
            continue
        if code != _NEW:
            old = DESIRED_STATUSES[code]
            if old == task.desired_status:
                continue
            for key in task_index_keys(task, old):
                leaving.setdefault(key, []).append(task_id)
        for key in task_index_keys(task):
            arriving.setdefault(key, []).append(task_id)
    edit = index.mutate()
    for key, task_ids in leaving.items():
        bucket = edit.get(key)
        if bucket is None:
            continue
        for task_id in task_ids:
            bucket = bucket.discard(task_id, owner)
        if len(bucket):
            edit[key] = bucket
        else:
            del edit[key]
    for key, task_ids in arriving.items():
        task_ids.sort()
        bucket = edit.get(key)
        edit[key] = PSortedSet.from_sorted(task_ids, owner) if bucket is None else bucket.update(task_ids, owner)
    return edit.finish()


# -- the logs ---------------------------------------------------------------------------

V = TypeVar("V")
_Records = tuple[immutables.Map[str, Task], immutables.Map[str, ContainerInstance]]


class Folded(NamedTuple, Generic[V]):
    """An index folded at one version."""

    version: int
    value: V


class LazyIndex(Generic[V]):
    """One kind of derived index over a run of versions: folded at ``base``, plus a log of
    the commits after it, each built on the one before.

    A subclass names its log's lists in ``LISTS`` (flat lists of ids, or byte arrays,
    appended by each commit and never changed); per commit, ``versions`` holds the version
    it made (versions only increase, and need not be consecutive: a shared store's are
    its revisions) and ``ends`` the lists' lengths after it. ``latest`` is the newest
    fold, a reader's or the base. The subclass says what a commit logs (``_log``), how to
    fold (``_fold``) and how to build from scratch.
    """

    __slots__ = ("base", "ends", "latest", "size", "versions")

    LISTS: ClassVar[tuple[str, ...]] = ()
    fold_limit: ClassVar[int] = 1 << 16
    """The writer folds once a log's commits plus ids reach this: it bounds the log's
    memory (about 10 bytes each) and a reader's first fold (tens of milliseconds), and
    spreads each fold's cost over many commits."""
    bulk_limit: ClassVar[int] = 512
    """A commit that logs this many ids folds the log at once: it already costs O(d) for its
    d records, the fold O(d log n) more. A cluster registered or loaded in big commits so
    has its indexes built as it goes, not all at once by the first reader (tens of µs an
    instance: half a second for 50,000 instances, in a scheduler's first placement)."""

    def __init__(self, base: Folded[V]) -> None:
        self.base = base
        self.latest = base
        self.size = 0  # commits plus ids in the log
        self.versions = array("q")
        self.ends = array("q")
        for name in self.LISTS:
            setattr(self, name, array("b") if name.endswith("_from") else [])

    @classmethod
    def build(cls, version: int, records: _Records, owner: Owner) -> Self:
        """The index of these records built from scratch, with an empty log. O(n log n)."""
        return cls(Folded(version, cls._build(records, owner)))

    @classmethod
    def _build(cls, records: _Records, owner: Owner) -> V:
        raise NotImplementedError

    @property
    def end(self) -> int:
        """The newest version the log reaches."""
        versions = self.versions
        return versions[-1] if versions else self.base.version

    def _commits(self, version: int) -> int:
        """How many of the logged commits made a version up to ``version``. O(log n)."""
        return bisect_right(self.versions, version)

    def _offsets(self, version: int) -> tuple[int, ...]:
        """The lengths of the log's lists at ``version``."""
        stride = len(self.LISTS)
        position = stride * self._commits(version)
        if not position:
            return (0,) * stride
        return tuple(self.ends[position - stride : position])

    def _slices(self, start: int, version: int) -> list[Any]:
        """Each of the log's lists, cut to the entries after ``start`` up to ``version``."""
        low, high = self._offsets(start), self._offsets(version)
        return [getattr(self, name)[a:b] for name, a, b in zip(self.LISTS, low, high, strict=True)]

    # -- reading ----------------------------------------------------------------------

    def at(self, version: int, records: _Records) -> V:
        """The index at ``version``, whose records are ``records`` (tasks, instances).

        O(1) once folded; the first read folds the changes since the newest earlier fold,
        O(d log n) for d logged ids.
        """
        latest = self.latest
        if latest.version == version:
            return latest.value
        if not self.base.version <= version <= self.end:  # records from elsewhere: no log covers them
            return self._build(records, Owner())
        start = latest if latest.version < version else self.base
        folded = Folded(version, self._fold(start, version, records, Owner()))
        if folded.version > self.latest.version:
            self.latest = folded
        return folded.value

    def problems(self, version: int, records: _Records) -> list[str]:
        """What is wrong with this log at ``version``, for invariant checks (empty when nothing).

        The log must reach ``version``; the index read at ``version`` (folded lazily, maybe
        from a reader's fold) must equal a refold of the whole log from the base; its trees
        must be well formed. O(d log n) for the log's d ids, plus the index's size.
        """
        if not self.base.version <= version <= self.end:
            return [f"the {self.what} log covers versions {self.base.version}..{self.end}, not {version}"]
        read = self.at(version, records)
        problems = []
        if not self._same(read, self._fold(self.base, version, records, Owner())):
            problems.append(f"the {self.what} read at version {version} differs from a refold of its log")
        for tree in self._trees(read):
            try:
                tree._check()
            except AssertionError as error:
                problems.append(f"a tree of the {self.what} is malformed: {error}")
        return problems

    what: ClassVar[str] = "index"

    @staticmethod
    def _same(left: V, right: V) -> bool:
        raise NotImplementedError

    @staticmethod
    def _trees(value: V) -> Iterable[PSortedSet]:
        raise NotImplementedError

    # -- writing (under the commit lock) ------------------------------------------------

    def advance(
        self,
        built_on: int,
        version: int,
        old_tasks: immutables.Map[str, Task],
        tasks_written: Iterable[Task],
        instances_written: Iterable[str],
        records: _Records,
        owner: Owner,
    ) -> Self:
        """The index of ``version``, made by a commit on the version ``built_on``.

        The commit wrote ``tasks_written`` (``old_tasks`` holds what they were) and the
        instances ``instances_written``, and made ``records``. O(1) amortised per record:
        ids appended to the log, and a fold of the whole log once it reaches
        ``fold_limit``. ``owner`` is the writer's: nodes it owns are reachable from no snapshot.
        """
        log = self if self.latest is self.base and self.end == built_on else self._writable(built_on)
        if log is None or version <= built_on:
            return self.build(version, records, owner)
        logged = log._log(old_tasks, tasks_written, instances_written)
        log.size += 1 + logged
        log.versions.append(version)
        if log.size >= self.fold_limit or logged >= self.bulk_limit:
            return type(self)(Folded(version, log._fold(log.base, version, records, owner)))
        return log

    def _log(self, old_tasks: immutables.Map[str, Task], tasks: Iterable[Task], instance_ids: Iterable[str]) -> int:
        """Append one commit's changes, their ``ends`` included; returns how many ids it logged."""
        raise NotImplementedError

    def _writable(self, version: int) -> Self | None:
        """An index whose log ends at ``version``, ready for the next commit's entry.

        This one, when its log ends there and no reader folded past its base. Otherwise a
        new one starting at the newest fold at or before ``version`` (a reader's, or the
        base), with the entries after it up to ``version``: this also leaves out entries
        another writer put past ``version``. None when ``version`` is outside this log.
        """
        base, latest = self.base, self.latest
        made = self._commits(version)
        if version != base.version and (not made or self.versions[made - 1] != version):
            return None  # not a version this log made
        start = latest if latest.version <= version else base
        if start is base and self.end == version:
            return self
        fresh = type(self)(start)
        if start.version == version:
            return fresh  # a reader folded the newest version: the new log starts empty there
        low = self._offsets(start.version)
        for name, part in zip(self.LISTS, self._slices(start.version, version), strict=True):
            setattr(fresh, name, part)
            fresh.size += len(part)
        first, stride = self._commits(start.version), len(self.LISTS)
        tail = self.ends[stride * first : stride * made]
        fresh.ends = array("q", [end - low[position % stride] for position, end in enumerate(tail)])
        fresh.versions = self.versions[first:made]
        fresh.size += made - first
        return fresh

    def _fold(self, start: Folded[V], version: int, records: _Records, owner: Owner) -> V:
        """``start``'s index with the changes logged after it up to ``version``."""
        raise NotImplementedError


class PlacementLog(LazyIndex[PlacementIndexes]):
    """The placement indexes, folded lazily.

    Logged per commit: the tasks that began to hold resources (``placed``) and that
    stopped (``released``), and the instances written (``changed``). A fold finds an
    instance's old keys in the indexes it starts from, so no old record is kept alive.
    """

    __slots__ = ("changed", "placed", "released")
    LISTS = ("placed", "released", "changed")
    what = "placement indexes"

    placed: list[str]
    released: list[str]
    changed: list[str]

    @classmethod
    def _build(cls, records: _Records, owner: Owner) -> PlacementIndexes:
        return placement_indexes(records[0].values(), records[1].values(), owner)

    def _log(self, old_tasks: immutables.Map[str, Task], tasks: Iterable[Task], instance_ids: Iterable[str]) -> int:
        placed, released, changed = self.placed, self.released, self.changed
        before = len(placed) + len(released) + len(changed)
        for task in tasks:
            old = old_tasks.get(task.id)
            held = not task.is_stopped
            if held != (old is not None and not old.is_stopped):
                (placed if held else released).append(task.id)
        changed.extend(instance_ids)
        self.ends.extend((len(placed), len(released), len(changed)))
        return len(placed) + len(released) + len(changed) - before

    def _fold(self, start: Folded[PlacementIndexes], version: int, records: _Records, owner: Owner) -> PlacementIndexes:
        tasks, instances = records
        placed, released, changed = self._slices(start.version, version)
        indexes = start.value
        group_counts = _counted(indexes.group_counts, tasks, placed, released)
        instance_ids = set(changed)
        if 2 * len(instance_ids) >= len(instances):  # most instances changed: rebuild the trees, O(n log n)
            written = (instance for instance in map(instances.get, instance_ids) if instance is not None)
            return _rebuilt(indexes.entries, written, group_counts, owner)
        return _moved(indexes, instance_ids, instances, group_counts, owner)

    @staticmethod
    def _same(left: PlacementIndexes, right: PlacementIndexes) -> bool:
        return (
            list(left.by_memory) == list(right.by_memory)
            and list(left.by_cpu) == list(right.by_cpu)
            and left.group_counts == right.group_counts
            and left.usage == right.usage
            and left.entries == right.entries
        )

    @staticmethod
    def _trees(value: PlacementIndexes) -> Iterable[PSortedSet]:
        return (value.by_memory, value.by_cpu)


class ListLog(LazyIndex[TaskIndex]):
    """The task list index, folded lazily.

    Logged per commit: the tasks whose buckets may move (``listed``: new tasks, and tasks
    whose desired status changed) with, in ``listed_from``, each one's old desired status
    as a byte (-1 for a new task), so no old record is kept alive.
    """

    __slots__ = ("listed", "listed_from")
    LISTS = ("listed", "listed_from")
    what = "task list index"

    listed: list[str]
    listed_from: array[int]

    @classmethod
    def _build(cls, records: _Records, owner: Owner) -> TaskIndex:
        return task_index(records[0].values(), owner)

    def _log(self, old_tasks: immutables.Map[str, Task], tasks: Iterable[Task], instance_ids: Iterable[str]) -> int:
        listed, listed_from = self.listed, self.listed_from
        before = len(listed)
        for task in tasks:
            old = old_tasks.get(task.id)
            if old is None:
                listed.append(task.id)
                listed_from.append(_NEW)
            elif old.desired_status != task.desired_status:
                listed.append(task.id)
                listed_from.append(_DESIRED_CODE[old.desired_status])
        self.ends.extend((len(listed), len(listed)))
        return len(listed) - before

    def _fold(self, start: Folded[TaskIndex], version: int, records: _Records, owner: Owner) -> TaskIndex:
        listed, listed_from = self._slices(start.version, version)
        moves: dict[str, int] = {}
        for task_id, code in zip(listed, listed_from, strict=True):
            moves.setdefault(task_id, code)  # the first move since ``start`` says where it was then
        return _listed(start.value, records[0], moves, owner)

    @staticmethod
    def _same(left: TaskIndex, right: TaskIndex) -> bool:
        return _plain(left) == _plain(right)

    @staticmethod
    def _trees(value: TaskIndex) -> Iterable[PSortedSet]:
        return value.values()


def _plain(index: TaskIndex) -> dict[tuple[str, str, str], list[str]]:
    return {key: list(bucket) for key, bucket in index.items()}
