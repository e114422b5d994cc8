"""EtcdStore on a real etcd cluster: sharing, events, consistency, faults and etcd's limits."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

from clusterkit import ClusterState, PlaceTask, StoreError, TaskChanged
from clusterkit.state import (
    CompactingStore,
    EtcdStore,
    HoldableStore,
    LeaseStore,
    SharedStore,
    Store,
    TransactionLimitedStore,
    new_id,
)
from clusterkit.testing import check_state
from tests.conftest import delete_prefix, etcd_available, eventually
from tests.etcd.conftest import member

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 256}]}


def seeded(state: ClusterState, instances: int = 3) -> None:
    for n in range(instances):
        state.register_container_instance(
            f"i-{n}", cpu=2048, memory=2048, attributes={"ecs.availability-zone": f"zone-{n % 3}"}
        )
    state.register_task_definition(WEB)


def test_two_states_share_one_cluster_and_see_each_others_writes_as_events(
    open_state: Callable[..., ClusterState],
) -> None:
    a, b = open_state(), open_state()
    watching = b.subscribe()
    seeded(a)
    result = a.run_task("web", count=4)
    assert len(result.tasks) == 4
    assert a.snapshot().task_count == 4  # its own write, at once
    assert eventually(lambda: b.version >= a.version)
    assert {t.id for t in b.snapshot().tasks()} == {t.id for t in result.tasks}
    events = watching.drain()
    placed = [e for e in events if isinstance(e, TaskChanged)]
    assert {e.task.id for e in placed} == {t.id for t in result.tasks}
    assert all(e.version <= b.version for e in events)
    assert [e.version for e in events] == sorted(e.version for e in events)
    assert check_state(b.snapshot()) == []


def test_a_fresh_process_reads_exactly_what_was_written(open_state: Callable[..., ClusterState]) -> None:
    a = open_state()
    seeded(a)
    a.run_task("web", count=5)
    a.stop_task(next(iter(a.snapshot().tasks())).id)
    fresh = open_state()
    assert fresh.version >= a.version  # etcd's revision when it read the prefix: other prefixes move it too
    assert sorted(map(repr, fresh.snapshot().tasks())) == sorted(map(repr, a.snapshot().tasks()))
    assert sorted(map(repr, fresh.snapshot().instances())) == sorted(map(repr, a.snapshot().instances()))


def test_racing_writers_never_overcommit(open_state: Callable[..., ClusterState]) -> None:
    a, b = open_state(), open_state()
    seeded(a, instances=1)
    eventually(lambda: b.version >= a.version)
    definition = a.snapshot().task_definition("web")
    stale = b.snapshot()
    # both plan on the same snapshot: 8 tasks of 256 MiB each fill the 2048 MiB instance
    tasks = [
        __import__("clusterkit").Task(
            id=new_id(), task_definition=definition.key, container_instance_id="i-0", charge=definition.charge
        )
        for _ in range(16)
    ]
    first = a.commit([PlaceTask(t) for t in tasks[:8]])
    second = b.commit([PlaceTask(t) for t in tasks[8:]])  # planned on the stale snapshot
    assert len(first.accepted) == 8
    assert len(second.accepted) == 0 and {r.reason for r in second.rejected} == {"RESOURCE:MEMORY"}
    assert stale.task_count == 0
    assert eventually(lambda: b.version >= a.version)
    assert check_state(b.snapshot()) == []


def test_an_atomic_commit_too_large_for_one_transaction_is_refused_and_an_incremental_one_is_split(
    open_state: Callable[..., ClusterState],
) -> None:
    state = open_state(max_txn_ops=10)
    seeded(state, instances=2)
    definition = state.snapshot().task_definition("web")

    def tasks(count: int) -> list[PlaceTask]:
        return [
            PlaceTask(
                __import__("clusterkit").Task(
                    id=new_id(),
                    task_definition=definition.key,
                    container_instance_id=f"i-{n % 2}",
                    charge=definition.charge,
                )
            )
            for n in range(count)
        ]

    version = state.version
    with pytest.raises(StoreError, match="at most 10"):
        state.commit(tasks(12), atomic=True)
    assert state.version == version and state.snapshot().task_count == 0
    result = state.commit(tasks(12))
    assert len(result.accepted) == 12 and state.snapshot().task_count == 12
    assert check_state(state.snapshot()) == []


@pytest.fixture
def other_cluster(etcd: tuple[str, ...]) -> Iterator[ClusterState]:
    """A state on a prefix of its own in the same etcd: another cluster sharing the members."""
    prefix = f"/clusterkit-tests/{uuid.uuid4().hex}"
    store = EtcdStore(etcd, prefix=prefix)
    yield ClusterState("other", store=store)
    store.close()
    delete_prefix(prefix + "/")


def test_a_refused_commit_waits_only_for_the_keys_that_moved_not_for_other_prefixes(
    open_state: Callable[..., ClusterState], other_cluster: ClusterState
) -> None:
    # etcd's revision counts every prefix's writes; after a refusal the replica must catch up
    # with the write that moved the commit's keys, not with etcd's newest revision, which its
    # watch on its own prefix may never reach (it used to wait commit_wait, then reload).
    writer, slow = open_state(), open_state(commit_wait=5.0)
    seeded(writer, instances=1)
    assert eventually(lambda: slow.version >= writer.version)
    held = slow.store
    assert isinstance(held, EtcdStore) and isinstance(held, HoldableStore)
    held.hold()
    writer.run_task("web", count=1)  # moves i-0's key under the slow replica
    other_cluster.register_container_instance("o-1", cpu=1024, memory=1024)  # etcd's revision moves on
    threading.Timer(0.3, held.release).start()
    started = time.monotonic()
    placed = slow.run_task("web", count=1)  # planned on the stale replica: refused, then retried
    took = time.monotonic() - started
    assert len(placed.tasks) == 1
    assert took < 2.5, f"the retry waited {took:.1f}s"
    assert held.resyncs == 0
    assert slow.snapshot().task_count == 2 and check_state(slow.snapshot()) == []


def test_a_key_under_the_prefix_that_is_not_a_record_neither_stops_the_watch_nor_reaches_subscribers(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    # it used to hand subscribers an empty batch of events, which killed the watch thread
    writer, reader = open_state(), open_state()
    watching = reader.subscribe()
    body = json.dumps({"key": _b64(f"{prefix}/notes/hello"), "value": _b64("{}")}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{etcd[0]}/v3/kv/put", data=body, method="POST"), timeout=5)
    seeded(writer, instances=1)
    assert eventually(lambda: reader.version >= writer.version)
    assert [type(event).__name__ for event in watching.drain()] == ["ContainerInstanceChanged", "TaskDefinitionChanged"]
    assert reader.snapshot().instance("i-0").registered.memory == 2048


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_no_endpoint_answering_raises_a_store_error_naming_them() -> None:
    with pytest.raises(StoreError) as caught:
        EtcdStore(["http://127.0.0.1:1"], prefix="/nowhere", timeout=0.5)
    assert "127.0.0.1:1" in str(caught.value)


def test_a_watcher_left_behind_compaction_reads_everything_again(open_state: Callable[..., ClusterState]) -> None:
    writer, slow = open_state(), open_state()
    seeded(writer)
    assert eventually(lambda: slow.version >= writer.version)
    watching = slow.subscribe()
    held, compacting = slow.store, writer.store
    assert isinstance(held, EtcdStore) and isinstance(held, HoldableStore)
    assert isinstance(compacting, CompactingStore)
    held.hold()
    held_at = slow.version
    for _ in range(3):  # several revisions, so the compaction passes the one the watcher needs next
        writer.run_task("web", count=2)
    compacting.compact()
    assert slow.version == held_at
    held.release()
    assert eventually(lambda: slow.version >= writer.version)
    assert held.resyncs >= 1
    assert sorted(map(repr, slow.snapshot().tasks())) == sorted(map(repr, writer.snapshot().tasks()))
    with pytest.raises(__import__("clusterkit").SubscriptionOverflow):
        watching.get(timeout=1)  # the subscriber is told it missed events
    snapshot = watching.resync()
    assert snapshot.version == slow.version


@pytest.mark.slow
@pytest.mark.etcd_alone  # it stops two members: no other copy of the suite may use etcd meanwhile
def test_commits_go_on_with_one_member_down_and_fail_cleanly_without_quorum(
    open_state: Callable[..., ClusterState],
) -> None:
    state = open_state(timeout=2.0)
    seeded(state)
    try:
        member("stop", 1)
        placed = state.run_task("web", count=3)  # quorum holds: 2 of 3
        assert len(placed.tasks) == 3
        member("stop", 2)
        version, tasks = state.version, state.snapshot().task_count
        with pytest.raises(StoreError):
            state.run_task("web", count=1)
        assert (state.version, state.snapshot().task_count) == (version, tasks)
    finally:  # both, even if starting one fails: a member left down breaks every later etcd test
        for number in (1, 2):
            with contextlib.suppress(subprocess.CalledProcessError):
                member("start", number)
    assert etcd_available(), "the members stopped by this test did not come back"
    assert eventually(lambda: _commits(state), seconds=20)
    fresh = open_state()
    assert check_state(fresh.snapshot()) == []
    assert fresh.snapshot().task_count == state.snapshot().task_count


def _commits(state: ClusterState) -> bool:
    try:
        return len(state.run_task("web", count=1).tasks) == 1
    except StoreError:
        return False


def test_an_etcd_store_has_every_optional_power(open_state: Callable[..., ClusterState]) -> None:
    store = open_state(max_txn_ops=10).store
    for power in (Store, SharedStore, TransactionLimitedStore, LeaseStore, CompactingStore, HoldableStore):
        assert isinstance(store, power), power.__name__
    assert isinstance(store, TransactionLimitedStore) and store.max_txn_ops == 10
