"""The lazily folded derived indexes: the task list index and the placement indexes.

Commits only log what they change; readers fold the log when they first read a version and
the writer folds once the log is long. Whatever the interleaving of commits, reads of new and
old snapshots and writer folds, the indexes a snapshot shows must equal ones rebuilt from its
own records, and must not change when later commits fold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clusterkit import ClusterState, Snapshot, UpdateInstance
from clusterkit.state import MemoryStore, state_violations
from clusterkit.state._derived import (
    Folded,
    LazyIndex,
    PlacementIndexes,
    TaskIndex,
    Usage,
    placement_indexes,
    task_index,
)
from clusterkit.state._ptree import Owner

SHAPES = ((128, 256), (256, 128), (512, 512), (64, 1024))
GROUPS = ("family:a", "service:web", "batch")


def rebuilt(snapshot: Snapshot) -> PlacementIndexes:
    return placement_indexes(snapshot.tasks(), snapshot.instances())


def plain(indexes: PlacementIndexes, lists: TaskIndex) -> tuple[Any, ...]:
    counts = {group: dict(per_instance.items()) for group, per_instance in indexes.group_counts.items()}
    buckets = {key: list(bucket) for key, bucket in lists.items()}
    return list(indexes.by_memory), list(indexes.by_cpu), counts, indexes.usage, buckets


def shown(snapshot: Snapshot) -> tuple[Any, ...]:
    """What a snapshot's derived indexes show, in plain values."""
    return plain(snapshot._roots.placement, snapshot._roots.task_index)


def expected(snapshot: Snapshot) -> tuple[Any, ...]:
    """What they should show: indexes rebuilt from the snapshot's records."""
    return plain(rebuilt(snapshot), task_index(snapshot.tasks()))


@pytest.fixture
def fold_limit() -> Iterator[None]:
    saved = LazyIndex.fold_limit
    yield
    LazyIndex.fold_limit = saved


class IndexMachine(RuleBasedStateMachine):
    """Random commits, reads of new and old snapshots, and writer folds at a random, small limit."""

    def __init__(self) -> None:
        super().__init__()
        self.saved_limit = LazyIndex.fold_limit
        self.state = ClusterState("indexes", clock=lambda: 1.0)
        self.kept: list[tuple[Snapshot, tuple[Any, ...] | None]] = []  # a snapshot and what it showed, once read
        self.instances = 0

    @initialize(limit=st.sampled_from([2, 5, 13, 40, 1 << 16]))
    def setup(self, limit: int) -> None:
        LazyIndex.fold_limit = limit
        for index, (cpu, memory) in enumerate(SHAPES):
            self.state.register_task_definition(
                {
                    "family": f"shape{index}",
                    "containerDefinitions": [{"name": "a", "image": "i", "cpu": cpu, "memory": memory}],
                }
            )
        for _ in range(3):
            self.join()

    @rule()
    def join(self) -> None:
        self.instances += 1
        self.state.register_container_instance(f"i{self.instances}", cpu=1024 * (self.instances % 3 + 1), memory=2048)

    @rule(data=st.data(), shape=st.integers(0, len(SHAPES) - 1), group=st.sampled_from(GROUPS))
    def start(self, data: st.DataObject, shape: int, group: str) -> None:
        live = [i.id for i in self.state.snapshot().instances() if i.status != "INACTIVE"]
        if live:
            chosen = data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=4), label="instances")
            self.state.start_task(f"shape{shape}", chosen, group=group)

    def _live_tasks(self) -> list[str]:
        return sorted(t.id for t in self.state.snapshot().tasks() if not t.is_stopped)

    @precondition(lambda self: bool(self._live_tasks()))
    @rule(data=st.data(), status=st.sampled_from(["RUNNING", "STOPPED"]))
    def report(self, data: st.DataObject, status: str) -> None:
        task = self.state.snapshot().task(data.draw(st.sampled_from(self._live_tasks()), label="task"))
        if task.last_status != "RUNNING" or status == "STOPPED":
            self.state.submit_task_state_change(task.id, version=task.version, status=status)  # type: ignore[arg-type]

    @rule(data=st.data(), change=st.sampled_from(["drain", "activate", "disconnect", "connect", "deregister"]))
    def change_instance(self, data: st.DataObject, change: str) -> None:
        live = [i.id for i in self.state.snapshot().instances() if i.status != "INACTIVE"]
        if not live:
            return
        instance_id = data.draw(st.sampled_from(live), label="instance")
        if change == "deregister":
            self.state.deregister_container_instance(instance_id, force=True)
            return
        update = {
            "drain": UpdateInstance(instance_id, status="DRAINING"),
            "activate": UpdateInstance(instance_id, status="ACTIVE"),
            "disconnect": UpdateInstance(instance_id, agent_connected=False),
            "connect": UpdateInstance(instance_id, agent_connected=True),
        }[change]
        self.state.commit([update])

    @rule()
    def keep_snapshot(self) -> None:
        """Take a snapshot without reading its indexes: the log keeps growing behind it."""
        self.kept.append((self.state.snapshot(), None))

    @precondition(lambda self: bool(self.kept))
    @rule(data=st.data())
    def read_kept(self, data: st.DataObject) -> None:
        """Read a kept snapshot's indexes, maybe long after later commits: they are its own."""
        position = data.draw(st.integers(0, len(self.kept) - 1), label="kept")
        snapshot, seen = self.kept[position]
        now = shown(snapshot)
        assert now == expected(snapshot)
        if seen is not None:
            assert now == seen, "a snapshot's placement indexes changed after it was read"
        self.kept[position] = (snapshot, now)
        event("read an older snapshot" if snapshot.version < self.state.version else "read the newest snapshot")

    @rule()
    def read_newest(self) -> None:
        snapshot = self.state.snapshot()
        assert shown(snapshot) == expected(snapshot)
        self.kept.append((snapshot, shown(snapshot)))

    @invariant()
    def usage_equals_a_scan(self) -> None:
        if self.state.version % 4:
            return  # read only now and then, so logs grow long between reads
        snapshot = self.state.snapshot()
        scan = [0, 0, 0, 0]
        for instance in snapshot.instances():
            if instance.status == "ACTIVE" and instance.remaining != instance.registered:
                scan[0] += instance.registered.cpu - instance.remaining.cpu
                scan[1] += instance.registered.cpu
                scan[2] += instance.registered.memory - instance.remaining.memory
                scan[3] += instance.registered.memory
        assert snapshot.usage == Usage(*scan)

    @invariant()
    def every_read_is_still_what_it_was(self) -> None:
        for snapshot, seen in self.kept[-3:]:
            if seen is not None:
                assert shown(snapshot) == seen

    def teardown(self) -> None:
        try:
            assert state_violations(self.state.snapshot()) == []
            for snapshot, _ in self.kept:
                assert shown(snapshot) == expected(snapshot)
        finally:
            LazyIndex.fold_limit = self.saved_limit


TestIndexes = IndexMachine.TestCase
TestIndexes.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)


def _cluster() -> ClusterState:
    state = ClusterState("folds", clock=lambda: 1.0)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "a", "image": "i", "cpu": 128, "memory": 256}]}
    )
    for index in range(6):
        state.register_container_instance(f"i{index}", cpu=1024 + 512 * index, memory=4096 - 256 * index)
    return state


def test_a_reader_one_version_behind_folds_incrementally_and_stays_right(fold_limit: None) -> None:
    state = _cluster()
    behind = state.snapshot()
    for round_number in range(30):
        state.start_task("web", [f"i{round_number % 6}"], group="service:web")
        assert shown(behind) == expected(behind)  # always one version behind the newest
        behind = state.snapshot()
    assert state_violations(state.snapshot()) == []


def test_the_writer_folds_once_the_log_is_long(fold_limit: None) -> None:
    LazyIndex.fold_limit = 10
    state = _cluster()
    for round_number in range(40):
        state.start_task("web", [f"i{round_number % 6}"])
        roots = state._roots()
        for log in (roots.placement_log, roots.list_log):
            assert log.end - log.base.version <= 10
    assert state_violations(state.snapshot()) == []


def test_two_writers_from_one_snapshot_keep_their_own_indexes(fold_limit: None) -> None:
    state = _cluster()
    state.start_task("web", ["i1"])
    fork_point = state.snapshot()
    other = ClusterState("folds", store=MemoryStore(fork_point._roots), clock=lambda: 1.0)
    state.start_task("web", ["i2", "i2"])
    other.start_task("web", ["i3"])
    for snapshot in (state.snapshot(), other.snapshot(), fork_point):
        assert shown(snapshot) == expected(snapshot)
        assert state_violations(snapshot) == []


def test_a_stale_folded_index_is_caught() -> None:
    state = _cluster()
    state.start_task("web", ["i1", "i2"], group="service:web")
    snapshot = state.snapshot()
    folded = snapshot._roots.placement
    first = next(iter(folded.by_memory))
    stale = folded._replace(by_memory=folded.by_memory.discard(first, Owner()), usage=Usage())
    snapshot._roots.placement_log.latest = Folded(snapshot.version, stale)
    problems = state_violations(snapshot)
    assert any("capacity index is out of step" in problem for problem in problems)
    assert any("usage totals are out of step" in problem for problem in problems)
    assert any("placement indexes read at version" in problem for problem in problems)


def test_a_stale_list_index_is_caught() -> None:
    state = _cluster()
    state.start_task("web", ["i1", "i2"], group="service:web")
    snapshot = state.snapshot()
    index = snapshot._roots.task_index
    key = ("all", "", "RUNNING")
    stale = index.set(key, index[key].discard(next(iter(index[key])), Owner()))
    snapshot._roots.list_log.latest = Folded(snapshot.version, stale)
    problems = state_violations(snapshot)
    assert any("task list indexes are out of step" in problem for problem in problems)
    assert any("task list index read at version" in problem for problem in problems)
    assert len(snapshot.list_tasks().items) == 1  # the reads see the stale index: the checks must catch it


def test_an_old_snapshot_folds_once_even_after_newer_folds() -> None:
    state = _cluster()
    state.start_task("web", ["i1"])
    old = state.snapshot()
    state.start_task("web", ["i2"])
    newer = state.snapshot()
    assert newer.capacity_index is newer.capacity_index  # folded, then kept
    first = old.capacity_index  # older than the newest fold: folded from the log's base…
    assert old.capacity_index is first and dict(old.group_counts("family:web").items()) == {"i1": 1}  # …once
    assert shown(old) == expected(old) and shown(newer) == expected(newer)


class JumpingStore(MemoryStore):
    """A store whose versions jump, as a shared store's revisions do when others write."""

    def swap(self, base: Any, pending: Any, build: Any) -> Any:
        pending.version = base.version + 1 + base.version % 3
        return super().swap(base, pending, build)


def test_versions_that_jump_are_logged_not_rebuilt() -> None:
    state = ClusterState("jumps", store=JumpingStore(), clock=lambda: 1.0)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "a", "image": "i", "cpu": 128, "memory": 256}]}
    )
    for index in range(4):
        state.register_container_instance(f"i{index}", cpu=4096, memory=8192)
    kept = []
    for round_number in range(24):
        state.start_task("web", [f"i{round_number % 4}"], group="service:web")
        if round_number % 5 == 0:
            kept.append(state.snapshot())
        if round_number % 7 == 0:
            shown(state.snapshot())  # a reader folds now and then
    roots = state._roots()
    assert roots.version > 1 + 4 + 24  # more than one version per commit: they jumped
    for log in (roots.placement_log, roots.list_log):
        assert len(log.versions) >= 2 and log.end == roots.version  # the last commits were logged, not rebuilt
    for snapshot in [*kept, state.snapshot()]:
        assert shown(snapshot) == expected(snapshot)
        assert state_violations(snapshot) == []
