"""Derived indexes: computed from the records, brought up to date lazily or in batches.

Two kinds of index are derived from the tasks and instances. The task *list index*
serves list calls: per ``(kind, value, desired status)`` the sorted ids of the tasks
there. The *placement indexes* serve schedulers: the instances that accept tasks sorted
by what they have left (one index by memory, one by CPU), per task group how many of
its tasks hold resources on each instance, and the cluster-wide usage totals.

Keeping them in step on every commit cost more than the rest of a single-task commit,
so a commit only *logs* the ids it changed. The indexes are brought up to date —
*folded* — when a reader first asks for them at a version, or by the writer once the
log reaches ``Derived.fold_limit`` (commits plus ids).

How this keeps the state's guarantees:

- A ``Derived`` is shared by the roots of consecutive versions. Its log only grows, and
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
from collections.abc import Iterable
from typing import Final, NamedTuple

import attrs
import immutables

from clusterkit.model.instance import ContainerInstance
from clusterkit.model.task import DESIRED_STATUSES, Task
from clusterkit.state._ptree import Owner, PSortedSet

__all__ = [
    "Derived",
    "Folded",
    "PlacementIndexes",
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
        for position, (now, was) in enumerate(zip(new[2:], old[2:], strict=True)):
            totals[position] += now - was
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


# -- the log ----------------------------------------------------------------------------


class Folded(NamedTuple):
    """The derived indexes folded at one version."""

    version: int
    placement: PlacementIndexes
    task_index: TaskIndex


def build(
    tasks: immutables.Map[str, Task], instances: immutables.Map[str, ContainerInstance], owner: Owner
) -> tuple[PlacementIndexes, TaskIndex]:
    """Both kinds of index built from scratch. O(n log n)."""
    return placement_indexes(tasks.values(), instances.values(), owner), task_index(tasks.values(), owner)


_STRIDE: Final = 4  # the log's lists: placed, released, changed, listed


class Derived:
    """The derived indexes of a run of consecutive versions: folded at ``base``, plus a log.

    The log is flat lists, appended by each commit and never changed: the ids of the
    tasks that began to hold resources (``placed``) and that stopped holding them
    (``released``), of the instances written (``changed``), and of the tasks whose list
    buckets may have moved (``listed``, with each one's old desired status code in
    ``listed_from``, -1 for a new task). ``ends`` holds, four per commit, the lists'
    lengths after it. ``latest`` is the newest fold, a reader's or the base.
    """

    __slots__ = ("base", "changed", "end", "ends", "latest", "listed", "listed_from", "placed", "released")

    fold_limit: int = 1 << 16
    """The writer folds once the log's commits plus ids reach this: it bounds the log's
    memory (about 10 bytes each) and a reader's first fold (tens of milliseconds), and
    spreads each fold's cost over many commits."""

    def __init__(self, base: Folded) -> None:
        self.base = base
        self.latest = base
        self.end = base.version  # the newest version the log reaches
        self.placed: list[str] = []
        self.released: list[str] = []
        self.changed: list[str] = []
        self.listed: list[str] = []
        self.listed_from = array("b")
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
        return cls(Folded(version, *build(tasks, instances, owner)))

    def _offsets(self, version: int) -> tuple[int, int, int, int]:
        """The lengths of the log's lists at ``version``."""
        position = _STRIDE * (version - self.base.version)
        if not position:
            return (0, 0, 0, 0)
        ends = self.ends
        return (ends[position - 4], ends[position - 3], ends[position - 2], ends[position - 1])

    # -- reading ----------------------------------------------------------------------

    def at(
        self, version: int, tasks: immutables.Map[str, Task], instances: immutables.Map[str, ContainerInstance]
    ) -> Folded:
        """The indexes at ``version``, whose records are ``tasks`` and ``instances``.

        O(1) once folded; the first read folds the changes since the newest earlier fold,
        O(d log n) for d logged ids (the capacity trees O(n log n) when most instances changed).
        """
        latest = self.latest
        if latest.version == version:
            return latest
        if not self.base.version <= version <= self.end:  # records from elsewhere: no log covers them
            return Folded(version, *build(tasks, instances, Owner()))
        start = latest if latest.version < version else self.base
        folded = self._fold(start, version, tasks, instances, Owner())
        if folded.version > self.latest.version:
            self.latest = folded
        return folded

    def problems(
        self, version: int, tasks: immutables.Map[str, Task], instances: immutables.Map[str, ContainerInstance]
    ) -> list[str]:
        """What is wrong with this log at ``version``, for invariant checks (empty when nothing).

        The log must reach ``version``; the indexes read at ``version`` (folded lazily, maybe
        from a reader's fold) must equal a refold of the whole log from the base; the trees
        must be well formed. O(d log n) for the log's d ids, plus the indexes' size.
        """
        if not self.base.version <= version <= self.end:
            return [f"the derived-index log covers versions {self.base.version}..{self.end}, not {version}"]
        read = self.at(version, tasks, instances)
        refolded = self._fold(self.base, version, tasks, instances, Owner())
        problems = []
        if not _same_placement(read.placement, refolded.placement):
            problems.append(f"the placement indexes read at version {version} differ from a refold of their log")
        if _plain(read.task_index) != _plain(refolded.task_index):
            problems.append(f"the task list index read at version {version} differs from a refold of its log")
        for tree in (read.placement.by_memory, read.placement.by_cpu, *read.task_index.values()):
            try:
                tree._check()
            except AssertionError as error:
                problems.append(f"an index tree is malformed: {error}")
        return problems

    # -- writing (under the commit lock) ------------------------------------------------

    def advance(
        self,
        version: int,
        old_tasks: immutables.Map[str, Task],
        tasks_written: Iterable[Task],
        instances_written: Iterable[str],
        after: tuple[immutables.Map[str, Task], immutables.Map[str, ContainerInstance]],
        owner: Owner,
    ) -> Derived:
        """The Derived of ``version``, made by a commit on ``version - 1``.

        The commit wrote ``tasks_written`` (``old_tasks`` holds what they were) and the
        instances ``instances_written``, and made the records ``after``. O(1) amortised
        per record: ids appended to the log, and a fold of the whole log once it reaches
        ``fold_limit``. ``owner`` is the writer's: nodes it owns are reachable from no snapshot.
        """
        derived = self if self.end == version - 1 and self.latest is self.base else self._writable(version - 1)
        if derived is None:
            return Derived.build(version, after[0], after[1], owner)
        derived._log(old_tasks, tasks_written, instances_written)
        if derived.size() >= self.fold_limit:
            return Derived(derived._fold(derived.base, version, after[0], after[1], owner))
        return derived

    def size(self) -> int:
        """The log's commits plus ids."""
        return (
            self.end - self.base.version + len(self.placed) + len(self.released) + len(self.changed) + len(self.listed)
        )

    def _log(self, old_tasks: immutables.Map[str, Task], tasks: Iterable[Task], instance_ids: Iterable[str]) -> None:
        """Append one commit's changes to the log."""
        placed, listed, listed_from = self.placed, self.listed, self.listed_from
        for task in tasks:
            task_id = task.id
            old = old_tasks.get(task_id)
            if old is None:
                if not task.is_stopped:
                    placed.append(task_id)  # a new task holds its charge until STOPPED
                listed.append(task_id)
                listed_from.append(_NEW)
                continue
            if old.is_stopped != task.is_stopped:
                (self.released if task.is_stopped else placed).append(task_id)
            if old.desired_status != task.desired_status:
                listed.append(task_id)
                listed_from.append(_DESIRED_CODE[old.desired_status])
        changed = self.changed
        changed.extend(instance_ids)
        self.ends.extend((len(placed), len(self.released), len(changed), len(listed)))
        self.end += 1

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
        low, high = self._offsets(start.version), self._offsets(version)
        fresh.placed = self.placed[low[0] : high[0]]
        fresh.released = self.released[low[1] : high[1]]
        fresh.changed = self.changed[low[2] : high[2]]
        fresh.listed = self.listed[low[3] : high[3]]
        fresh.listed_from = self.listed_from[low[3] : high[3]]
        tail = self.ends[_STRIDE * (start.version - base.version) : _STRIDE * (version - base.version)]
        fresh.ends = array("q", [end - low[position % _STRIDE] for position, end in enumerate(tail)])
        fresh.end = version
        return fresh

    # -- folding ------------------------------------------------------------------------

    def _fold(
        self,
        start: Folded,
        version: int,
        tasks: immutables.Map[str, Task],
        instances: immutables.Map[str, ContainerInstance],
        owner: Owner,
    ) -> Folded:
        """``start``'s indexes with the changes logged after it up to ``version``."""
        low, high = self._offsets(start.version), self._offsets(version)
        placement = start.placement
        group_counts = _counted(
            placement.group_counts, tasks, self.placed[low[0] : high[0]], self.released[low[1] : high[1]]
        )
        instance_ids = set(self.changed[low[2] : high[2]])
        if 2 * len(instance_ids) >= len(instances):  # most instances changed: rebuild the trees, O(n log n)
            changed = (instance for instance in map(instances.get, instance_ids) if instance is not None)
            placement = _rebuilt(placement.entries, changed, group_counts, owner)
        else:
            placement = _moved(placement, instance_ids, instances, group_counts, owner)
        moves: dict[str, int] = {}
        for task_id, code in zip(self.listed[low[3] : high[3]], self.listed_from[low[3] : high[3]], strict=True):
            moves.setdefault(task_id, code)  # the first move since ``start`` says where it was then
        return Folded(version, placement, _listed(start.task_index, tasks, moves, owner))


def _same_placement(left: PlacementIndexes, right: PlacementIndexes) -> bool:
    return (
        list(left.by_memory) == list(right.by_memory)
        and list(left.by_cpu) == list(right.by_cpu)
        and left.group_counts == right.group_counts
        and left.usage == right.usage
        and left.entries == right.entries
    )


def _plain(index: TaskIndex) -> dict[tuple[str, str, str], list[str]]:
    return {key: list(bucket) for key, bucket in index.items()}
