"""Events: what each commit emits, subscription order, overflow, resync and close."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from clusterkit import (
    ClusterState,
    ContainerInstanceChanged,
    Event,
    SubscriptionOverflow,
    TaskChanged,
    TaskDefinitionChanged,
    UpdateInstance,
    ValidationError,
)


def definition(family: str, **container: Any) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "img", "cpu": 10, "memory": 10, **container}],
    }


@pytest.fixture
def state() -> ClusterState:
    cluster = ClusterState("events")
    cluster.register_container_instance("i1", cpu=10_000, memory=10_000)
    cluster.register_task_definition(definition("web"))
    return cluster


def kinds(events: list[Event] | tuple[Event, ...]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_each_commit_emits_typed_events_with_its_version(state: ClusterState) -> None:
    sub = state.subscribe()
    version = state.version

    instance = state.register_container_instance("i2", cpu=100, memory=100)
    events = sub.drain()
    assert kinds(events) == ["ContainerInstanceChanged"]
    assert events[0].version == version + 1
    assert isinstance(events[0], ContainerInstanceChanged) and events[0].instance == instance

    registered = state.register_task_definition(definition("db"))
    events = sub.drain()
    assert kinds(events) == ["TaskDefinitionChanged"]
    assert isinstance(events[0], TaskDefinitionChanged)
    assert events[0].task_definition == registered and events[0].version == version + 2

    task = state.start_task("web", ["i1"]).tasks[0]
    events = sub.drain()
    assert sorted(kinds(events)) == ["ContainerInstanceChanged", "TaskChanged"]
    assert {event.version for event in events} == {version + 3}
    changed = next(e for e in events if isinstance(e, TaskChanged))
    assert changed.task == state.snapshot().task(task.id)
    on_instance = next(e for e in events if isinstance(e, ContainerInstanceChanged))
    assert on_instance.instance == state.snapshot().instance("i1")

    state.submit_task_state_change(task.id, version=1, status="RUNNING")
    events = sub.drain()
    assert sorted(kinds(events)) == ["ContainerInstanceChanged", "TaskChanged"], "counts move pending -> running"
    assert all(e.version == version + 4 for e in events)

    state.submit_task_state_change(task.id, version=2, health_status="HEALTHY")
    events = sub.drain()
    assert kinds(events) == ["TaskChanged"]
    assert events[0].task.health_status == "HEALTHY" and events[0].task.version == 3  # type: ignore[union-attr]

    state.stop_task(task.id)
    events = sub.drain()
    assert kinds(events) == ["TaskChanged"]
    assert events[0].task.desired_status == "STOPPED"  # type: ignore[union-attr]

    state.deregister_task_definition("db:1")
    events = sub.drain()
    assert kinds(events) == ["TaskDefinitionChanged"]
    assert events[0].task_definition.status == "INACTIVE"  # type: ignore[union-attr]

    state.deregister_container_instance("i1", force=True)
    events = sub.drain()
    assert sorted(kinds(events)) == ["ContainerInstanceChanged", "TaskChanged"]
    assert state.version == version + 8
    assert all(e.version == version + 8 for e in events)


def test_commit_result_carries_the_same_events(state: ClusterState) -> None:
    sub = state.subscribe()
    task = state.start_task("web", ["i1"]).tasks[0]
    result = state.commit([UpdateInstance("i1", attributes={"a": "b"})])
    delivered = sub.drain()
    assert delivered[-len(result.events) :] == list(result.events)
    assert state.snapshot().task(task.id) in [e.task for e in delivered if isinstance(e, TaskChanged)]


def test_no_events_for_rejected_or_empty_commits(state: ClusterState) -> None:
    sub = state.subscribe()
    state.register_task_definition(definition("huge", cpu=1_000_000))
    sub.drain()
    failed = state.start_task("huge", ["i1"])
    assert failed.failures and not failed.tasks
    state.commit([UpdateInstance("i1")])
    state.commit([])
    assert sub.drain() == []
    assert sub.get(timeout=0) is None


def test_subscriber_sees_commits_in_order_with_no_gaps(state: ClusterState) -> None:
    sub = state.subscribe()
    start = state.version
    for n in range(30):
        state.put_attributes("i1", {"n": str(n)})
        state.start_task("web", ["i1"])
    events = sub.drain()
    versions = [e.version for e in events]
    assert versions == sorted(versions)
    assert sorted(set(versions)) == list(range(start + 1, state.version + 1))
    assert [e.instance.attribute("n") for e in events if isinstance(e, ContainerInstanceChanged)][::2] == [
        str(n) for n in range(30)
    ]


def test_subscription_starts_at_subscribe_time(state: ClusterState) -> None:
    state.start_task("web", ["i1"])
    sub = state.subscribe()
    assert sub.drain() == []
    state.start_task("web", ["i1"])
    assert {e.version for e in sub.drain()} == {state.version}


def test_two_subscribers_each_get_everything(state: ClusterState) -> None:
    first, second = state.subscribe(), state.subscribe()
    for _ in range(5):
        state.start_task("web", ["i1"])
    assert first.drain() == second.drain() != []


def test_get_waits_for_a_commit_from_another_thread(state: ClusterState) -> None:
    sub = state.subscribe()
    timer = threading.Timer(0.05, lambda: state.put_attributes("i1", {"x": "y"}))
    timer.start()
    try:
        event = sub.get(timeout=5)
    finally:
        timer.join()
    assert isinstance(event, ContainerInstanceChanged) and event.instance.attribute("x") == "y"
    started = time.monotonic()
    assert sub.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.04


def test_overflow_then_resync(state: ClusterState) -> None:
    sub = state.subscribe(capacity=5)
    state.start_task("web", ["i1"])  # 2 events
    state.start_task("web", ["i1"])  # 4 events
    kept_version = state.version
    state.start_task("web", ["i1"])  # 6 > 5: overflow, this commit's events are not buffered
    state.start_task("web", ["i1"])
    assert sub.overflowed
    buffered = [sub.get(timeout=0) for _ in range(4)]
    assert all(event is not None for event in buffered)
    assert max(e.version for e in buffered if e is not None) == kept_version
    with pytest.raises(SubscriptionOverflow) as caught:
        sub.get(timeout=0)
    assert caught.value.last_version == kept_version
    assert caught.value.capacity == 5
    with pytest.raises(SubscriptionOverflow):
        sub.drain()  # still overflowed until resync
    snapshot = sub.resync()
    assert snapshot.version == state.version
    assert not sub.overflowed
    assert sub.drain() == []
    state.start_task("web", ["i1"])
    events = sub.drain()
    assert len(events) == 2
    assert all(event.version > snapshot.version for event in events)
    assert snapshot.task_count == 4, "the resync snapshot holds what the dropped events said"


def test_overflow_with_a_single_large_commit(state: ClusterState) -> None:
    sub = state.subscribe(capacity=3)
    state.start_task("web", ["i1", "i1", "i1"])  # 4 events in one commit
    with pytest.raises(SubscriptionOverflow):
        sub.get(timeout=0)
    snapshot = sub.resync()
    assert snapshot.task_count == 3


def test_overflow_wakes_a_waiting_reader(state: ClusterState) -> None:
    sub = state.subscribe(capacity=1)
    caught: list[BaseException] = []

    def reader() -> None:
        try:
            sub.get(timeout=10)
        except SubscriptionOverflow as exc:
            caught.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    state.start_task("web", ["i1"])  # 2 events > capacity 1
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert len(caught) == 1


def test_close_stops_delivery(state: ClusterState) -> None:
    sub = state.subscribe()
    state.start_task("web", ["i1"])
    sub.close()
    assert sub.closed
    state.start_task("web", ["i1"])
    state.put_attributes("i1", {"a": "b"})
    leftover = sub.drain()
    assert len(leftover) <= 2, "nothing after close() is delivered"
    assert all(event.version < state.version - 1 for event in leftover)
    started = time.monotonic()
    assert sub.get(timeout=2) is None
    assert time.monotonic() - started < 1, "a closed subscription does not block"


def test_close_wakes_a_waiting_reader(state: ClusterState) -> None:
    sub = state.subscribe()
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(sub.get(timeout=10)))
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    sub.close()
    thread.join(5)
    assert not thread.is_alive()
    assert results == [None]
    assert time.monotonic() - started < 5


def test_context_manager_closes(state: ClusterState) -> None:
    with state.subscribe() as sub:
        state.start_task("web", ["i1"])
        assert len(sub.drain()) == 2
    assert sub.closed
    state.start_task("web", ["i1"])
    assert sub.drain() == []


@pytest.mark.parametrize("capacity", [0, -1, 1.5, "10", True])
def test_bad_capacity(state: ClusterState, capacity: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        state.subscribe(capacity)
    assert caught.value.field == "capacity"
