"""Optimistic commits under real threads: races for the last slot, no overcommit,
stable snapshots and ordered events.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clusterkit import ClusterState, PlaceTask, Snapshot, StopTask, Task, TaskStateChange
from clusterkit.ecs_json import dump_container_instance, dump_task
from clusterkit.placement import assign_host_ports
from clusterkit.state import MemoryStore, Pending, Roots, new_id, state_violations

THREADS = 8


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    """Switch threads often so that the racers really interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            results[index] = target(index)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a thread hung"
    if errors:
        raise errors[0]
    return results


def definition(family: str, *, cpu: int, memory: int = 64, **container: Any) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "img", "cpu": cpu, "memory": memory, **container}],
    }


def contents(snap: Snapshot) -> dict[str, Any]:
    roots = snap._roots
    return {
        "version": snap.version,
        "tasks": sorted(str(dump_task(t, snap.arns)) for t in snap.tasks()),
        "instances": sorted(str(dump_container_instance(i, snap.arns)) for i in snap.instances()),
        "index": {key: list(bucket) for key, bucket in roots.task_index.items()},
        "instance_index": {key: list(bucket) for key, bucket in roots.instance_index.items()},
        "running": snap.list_tasks(max_results=100).items,
    }


def test_start_task_race_for_the_last_slot() -> None:
    state = ClusterState("race")
    state.register_task_definition(definition("whole", cpu=1024))
    for round_number in range(50):
        instance_id = f"i{round_number}"
        state.register_container_instance(instance_id, cpu=1024, memory=1024)
        barrier = threading.Barrier(THREADS)

        def racer(_: int, instance_id: str = instance_id, barrier: threading.Barrier = barrier) -> Any:
            barrier.wait()
            return state.start_task("whole", [instance_id])

        results = run_threads(THREADS, racer)
        winners = [r for r in results if r.tasks]
        assert len(winners) == 1, f"round {round_number}: {len(winners)} winners"
        losers = [r for r in results if not r.tasks]
        assert all([f.reason for f in r.failures] == ["RESOURCE:CPU"] for r in losers)
        assert len(list(state.snapshot().tasks_on(instance_id))) == 1
        assert state.snapshot().instance(instance_id).remaining.cpu == 0
    assert state_violations(state.snapshot()) == []
    assert state.snapshot().task_count == 50


def test_commit_race_for_the_last_slot_with_static_ports() -> None:
    state = ClusterState("race")
    state.register_task_definition(definition("web", cpu=10, portMappings=[{"containerPort": 80, "hostPort": 8080}]))
    definition_ = state.describe_task_definition("web")
    for round_number in range(50):
        instance_id = f"i{round_number}"
        state.register_container_instance(instance_id, cpu=10_000, memory=10_000)
        barrier = threading.Barrier(THREADS)
        charge, bindings = assign_host_ports(definition_, state.snapshot().instance(instance_id).remaining)  # type: ignore[misc]

        def racer(
            _: int,
            instance_id: str = instance_id,
            barrier: threading.Barrier = barrier,
            charge: Any = charge,
            bindings: Any = bindings,
        ) -> Any:
            task = Task(new_id(), definition_.key, instance_id, charge, host_ports=bindings)
            barrier.wait()
            return state.commit([PlaceTask(task)])

        results = run_threads(THREADS, racer)
        assert sum(1 for r in results if r.ok) == 1, f"round {round_number}"
        assert sorted(r.rejected[0].reason for r in results if not r.ok) == ["RESOURCE:PORTS"] * (THREADS - 1)
        versions = sorted(r.version for r in results)
        assert len({r.version for r in results if r.ok}) == 1
        assert versions[-1] == state.version
    assert state_violations(state.snapshot()) == []


def test_expected_version_race_exactly_one_wins() -> None:
    state = ClusterState("race")
    state.register_task_definition(definition("tiny", cpu=1))
    definition_ = state.describe_task_definition("tiny")
    for round_number in range(50):
        instance_id = f"i{round_number}"
        seen = state.register_container_instance(instance_id, cpu=10_000, memory=10_000).version
        barrier = threading.Barrier(THREADS)

        def racer(
            _: int, instance_id: str = instance_id, barrier: threading.Barrier = barrier, seen: int = seen
        ) -> Any:
            task = Task(new_id(), definition_.key, instance_id, definition_.charge)
            barrier.wait()
            return state.commit([PlaceTask(task, expected_instance_version=seen)])

        results = run_threads(THREADS, racer)
        assert sum(1 for r in results if r.ok) == 1, "plans from the same instance version: only the first commits"
        assert all(r.rejected[0].reason == "STALE_VERSION" for r in results if not r.ok)


def test_many_threads_random_placements_never_overcommit() -> None:
    state = ClusterState("busy")
    instance_ids = [f"i{n}" for n in range(5)]
    for instance_id in instance_ids:
        state.register_container_instance(instance_id, cpu=4096, memory=4096)
    state.register_task_definition(definition("a", cpu=300, memory=200))
    state.register_task_definition(definition("b", cpu=500, memory=700, portMappings=[{"containerPort": 80}]))
    state.register_task_definition(
        definition("c", cpu=100, memory=100, portMappings=[{"containerPort": 80, "hostPort": 7000}])
    )
    barrier = threading.Barrier(THREADS)

    def worker(index: int) -> list[str]:
        rng = random.Random(index)
        accepted: list[str] = []
        barrier.wait()
        for _ in range(60):
            snap = state.snapshot()
            family = rng.choice("abc")
            definition_ = snap.task_definition(family)
            changes = []
            for _ in range(rng.randint(1, 3)):
                instance_id = rng.choice(instance_ids)
                assigned = assign_host_ports(definition_, snap.instance(instance_id).remaining)
                if assigned is None:
                    continue
                charge, bindings = assigned
                changes.append(PlaceTask(Task(new_id(), definition_.key, instance_id, charge, host_ports=bindings)))
            if rng.random() < 0.5:
                result = state.commit(changes)
                accepted.extend(c.task.id for c in result.accepted)  # type: ignore[union-attr]
            else:
                run = state.start_task(family, [rng.choice(instance_ids)])
                accepted.extend(t.id for t in run.tasks)
            if accepted and rng.random() < 0.3:
                victim = state.snapshot().task(rng.choice(accepted))
                if not victim.is_stopped:
                    state.commit([TaskStateChange(victim.id, victim.version, "STOPPED")])
        return accepted

    results = run_threads(THREADS, worker)
    snap = state.snapshot()
    assert state_violations(snap) == []
    accepted = [task_id for result in results for task_id in result]
    assert len(accepted) == len(set(accepted))
    assert sorted(accepted) == sorted(t.id for t in snap.tasks()), "every accepted task is there, nothing else"
    for instance in snap.instances():
        assert instance.remaining.cpu >= 0 and instance.remaining.memory >= 0
        live = list(snap.tasks_on(instance.id))
        assert sum(t.charge.cpu for t in live) + instance.remaining.cpu == instance.registered.cpu
        bound = [b.host_port for t in live for b in t.host_ports]
        assert len(bound) == len(set(bound)), "no host port is given twice"


def test_snapshots_never_change_while_writers_commit() -> None:
    state = ClusterState("readers")
    for n in range(4):
        state.register_container_instance(f"i{n}", cpu=100_000, memory=100_000)
    state.register_task_definition(definition("a", cpu=1, memory=6, portMappings=[{"containerPort": 80}]))
    stop = threading.Event()
    problems: list[str] = []
    moved: list[int] = []  # versions committed while a reader held its snapshot

    def writer(index: int) -> int:
        rng = random.Random(index)
        commits = 0
        while not stop.is_set() and commits < 20_000:  # bounded; the readers normally stop it far sooner
            snap = state.snapshot()
            live = [t for t in snap.tasks() if not t.is_stopped]
            if live and rng.random() < 0.4:
                task = rng.choice(live)
                change: Any = (
                    StopTask(task.id) if rng.random() < 0.5 else TaskStateChange(task.id, task.version, "STOPPED")
                )
                state.commit([change])
            else:
                state.start_task("a", [f"i{rng.randrange(4)}"], started_by=f"w{index}")
            commits += 1
        return commits

    def reader(_: int) -> int:
        checked = 0
        for _ in range(10):
            snap = state.snapshot()
            recorded = contents(snap)
            version = state.version
            for _ in range(2000):  # let the writers move the state on
                if state.version >= version + 20:
                    break
                threading.Event().wait(0.001)
            moved.append(state.version - snap.version)
            if contents(snap) != recorded:
                problems.append(f"snapshot at version {snap.version} changed")
            if state_violations(snap):
                problems.append(f"snapshot at version {snap.version} is inconsistent")
            checked += 1
        return checked

    readers_left = [4]
    lock = threading.Lock()

    def role(index: int) -> int:
        if index < 4:
            return writer(index)
        try:
            return reader(index)
        finally:
            with lock:
                readers_left[0] -= 1
                if not readers_left[0]:
                    stop.set()  # the writers stop once every reader is done

    results = run_threads(8, role)
    assert problems == []
    assert sum(results[4:]) == 40
    assert sum(1 for m in moved if m >= 20) >= 30, f"the writers must really commit under the readers: {moved}"
    assert sum(results[:4]) > 0
    assert state_violations(state.snapshot()) == []


def test_subscriber_sees_every_commit_in_order() -> None:
    state = ClusterState("events")
    for n in range(4):
        state.register_container_instance(f"i{n}", cpu=100_000, memory=100_000)
    state.register_task_definition(definition("a", cpu=1))
    subscription = state.subscribe(capacity=1_000_000)
    start = state.version
    collected: list[Any] = []
    done = threading.Event()

    def consumer() -> None:
        while True:
            event = subscription.get(timeout=0.2)
            if event is not None:
                collected.append(event)
            elif done.is_set():
                return

    reader = threading.Thread(target=consumer)
    reader.start()
    barrier = threading.Barrier(THREADS)
    charge = state.describe_task_definition("a").charge

    def writer(index: int) -> list[int]:
        rng = random.Random(index)
        versions = []
        barrier.wait()
        for _ in range(50):
            assert state.commit([]).events == ()  # nothing to do: no new version, no events
            if rng.random() < 0.5:
                run = state.start_task("a", [f"i{rng.randrange(4)}"])
                assert len(run.tasks) == 1
            else:
                result = state.commit([PlaceTask(Task(new_id(), "a:1", f"i{rng.randrange(4)}", charge))])
                assert result.ok
                versions.append(result.version)
        return versions

    commit_versions = [v for versions in run_threads(THREADS, writer) for v in versions]
    done.set()
    reader.join(10)
    assert not reader.is_alive()
    versions = [event.version for event in collected]
    assert versions == sorted(versions), "events arrive in commit order"
    assert len(set(versions)) == THREADS * 50, "every commit's events arrive, and no other's"
    assert all(start < version <= state.version for version in versions)
    assert set(commit_versions) <= set(versions)
    if isinstance(state.store, MemoryStore):  # one writer numbers the versions: none is skipped
        assert sorted(set(versions)) == list(range(start + 1, state.version + 1)), "no commit is missing"
        assert state.version == start + THREADS * 50
    # (a shared store numbers by its own revision, which writes under other prefixes move too)
    assert len(commit_versions) == len(set(commit_versions)), "two commits never share a version"
    tasks_seen = {event.task.id for event in collected if hasattr(event, "task")}
    assert tasks_seen == {t.id for t in state.snapshot().tasks()}


class _SlowStore(MemoryStore):
    """A store whose writes wait on the 'network' until ``release`` is set, as an etcd txn does."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self.holding = False

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        if self.holding:
            self.in_flight.set()
            assert self.release.wait(10), "the test never let the write go"
        return super().swap(base, pending, build)


def test_a_snapshot_never_waits_for_a_commit_in_flight() -> None:
    store = _SlowStore()
    state = ClusterState("slow", store=store, clock=lambda: 1.0)
    state.register_container_instance("i-1", cpu=1024, memory=1024)
    before = state.snapshot().version
    store.holding = True
    committer = threading.Thread(target=lambda: state.register_container_instance("i-2", cpu=1024, memory=1024))
    committer.start()
    try:
        assert store.in_flight.wait(10)
        read: list[Snapshot] = []
        reader = threading.Thread(target=lambda: read.append(state.snapshot()))
        reader.start()
        reader.join(2)
        assert not reader.is_alive(), "snapshot() waited for the commit on the network"
        assert read[0].version == before
        assert "i-2" not in read[0].instances_by_id
    finally:
        store.release.set()
        committer.join(10)
    assert not committer.is_alive()
    after = state.snapshot()
    assert after.version == before + 1 and "i-2" in after.instances_by_id
    assert "i-2" not in read[0].instances_by_id  # the older snapshot did not change under the commit


def test_snapshots_taken_while_commits_build_in_place_never_change() -> None:
    """Commits change nodes in place until a snapshot reaches them: readers racing the writers
    must each see one version, whole and unchanging.
    """
    state = ClusterState("sealed", clock=lambda: 1.0)
    for n in range(20):
        state.register_container_instance(f"i-{n}", cpu=1 << 20, memory=1 << 20)
    state.register_task_definition({"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "memory": 8}]})
    definition = state.snapshot().task_definition("f")
    done = threading.Event()
    seen: list[tuple[Snapshot, int, list[str]]] = []

    def writer(index: int) -> None:
        for n in range(150):
            instance = f"i-{(index * 7 + n) % 20}"
            task = Task(
                id=new_id(), task_definition=definition.key, container_instance_id=instance, charge=definition.charge
            )
            state.commit([PlaceTask(task)])

    def reader(index: int) -> None:
        while not done.is_set():
            snapshot = state.snapshot()
            seen.append((snapshot, snapshot.task_count, sorted(snapshot.tasks_by_id)))

    readers = [threading.Thread(target=reader, args=(n,)) for n in range(2)]
    for thread in readers:
        thread.start()
    try:
        run_threads(4, writer)
    finally:
        done.set()
        for thread in readers:
            thread.join(10)
    assert seen
    for snapshot, count, ids in seen[:: max(1, len(seen) // 200)]:
        assert snapshot.task_count == count and sorted(snapshot.tasks_by_id) == ids
        assert not state_violations(snapshot)


class _PausingStore(MemoryStore):
    """A store that, once armed, builds the new roots and then waits before installing them."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.built = threading.Event()
        self.release = threading.Event()

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        if not self.armed:
            return super().swap(base, pending, build)

        def build_then_wait() -> Roots:
            roots = build()
            self.built.set()
            assert self.release.wait(10)
            return roots

        return super().swap(base, pending, build_then_wait)


def test_a_snapshot_between_a_build_and_its_install_sees_whole_roots() -> None:
    """Roots no snapshot has reached yet are built on in place; a snapshot taken after such a
    build but before the store installs it must not be the old roots with those changes in.
    """
    store = _PausingStore()
    state = ClusterState("paused", store=store, clock=lambda: 1.0)
    state.register_container_instance("i-1", cpu=4096, memory=4096)
    state.register_task_definition({"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "memory": 8}]})
    definition = state.snapshot().task_definition("f")

    def task() -> Task:
        return Task(id=new_id(), task_definition=definition.key, container_instance_id="i-1", charge=definition.charge)

    state.commit([PlaceTask(task())])  # no snapshot after it: its nodes may still change in place
    store.armed = True
    committer = threading.Thread(target=lambda: state.commit([PlaceTask(task())]))
    committer.start()
    read: list[Snapshot] = []
    try:
        assert store.built.wait(10)
        reader = threading.Thread(target=lambda: read.append(state.snapshot()))
        reader.start()
        reader.join(0.3)
        store.release.set()
        reader.join(10)
    finally:
        store.release.set()
        committer.join(10)
    (snapshot,) = read
    assert not state_violations(snapshot)
    assert snapshot.instance("i-1").remaining.memory == 4096 - 8 * snapshot.task_count
    assert len(snapshot.list_tasks().items) == snapshot.task_count  # the task list index, built lazily
    assert [entry[1:] for entry in snapshot.capacity_index] == [(4096 - 8 * snapshot.task_count, "i-1")]
