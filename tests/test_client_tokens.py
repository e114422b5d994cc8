"""Client tokens (ECS's clientToken) on run_task and create_service: a retry never places twice."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import ClusterState, PlaceTask, RegisterInstance, SubscriptionOverflow, Task, ValidationError
from clusterkit.model import ContainerInstance, Resources
from clusterkit.state import (
    CLIENT_TOKEN_TTL,
    ClientToken,
    MemoryStore,
    TokenClaim,
    fingerprint,
    new_id,
)
from clusterkit.testing import SimulatedClock, check_state

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 256}]}


def seeded(clock: Callable[[], float] | None = None, *, store: MemoryStore | None = None) -> ClusterState:
    state = ClusterState("tokens", store=store) if clock is None else ClusterState("tokens", clock=clock, store=store)
    for n in range(3):
        state.register_container_instance(f"i-{n}", cpu=4096, memory=4096)
    state.register_task_definition(WEB)
    return state


def test_run_task_again_with_the_same_token_places_nothing_and_returns_the_first_tasks() -> None:
    state = seeded()
    first = state.run_task("web", count=3, client_token="deploy-42")
    version = state.version
    again = state.run_task("web", count=3, client_token="deploy-42")
    assert [t.id for t in again.tasks] == [t.id for t in first.tasks] and len(first.tasks) == 3
    assert state.version == version and state.snapshot().task_count == 3
    record = state.snapshot().client_token("deploy-42")
    assert record is not None and record.tasks == tuple(t.id for t in first.tasks)
    other = state.run_task("web", count=3, client_token="deploy-43")  # another token: another call
    assert not {t.id for t in other.tasks} & {t.id for t in first.tasks}
    assert state.snapshot().task_count == 6
    assert check_state(state.snapshot()) == []


def test_a_token_reused_with_other_arguments_is_refused_and_changes_nothing() -> None:
    state = seeded()
    state.run_task("web", count=2, client_token="t-1")
    version = state.version
    with pytest.raises(ValidationError, match="clientToken='t-1'") as caught:
        state.run_task("web", count=3, client_token="t-1")
    assert "other arguments" in str(caught.value)
    assert state.version == version and state.snapshot().task_count == 2


@pytest.mark.parametrize("token", ["", "x" * 65, "a/b", "tab\t", "é", 7])
def test_a_bad_token_is_refused_naming_the_field(token: object) -> None:
    state = seeded()
    version = state.version
    with pytest.raises(ValidationError, match="clientToken"):
        state.run_task("web", count=1, client_token=token)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="clientToken"):
        state.create_service("svc", "web", desired_count=1, client_token=token)  # type: ignore[arg-type]
    assert state.version == version


def test_a_token_expires_after_its_ttl_and_then_starts_a_new_call() -> None:
    clock = SimulatedClock()
    state = seeded(clock)
    first = state.run_task("web", count=1, client_token="nightly")
    clock.advance(CLIENT_TOKEN_TTL - 1)
    assert [t.id for t in state.run_task("web", count=1, client_token="nightly").tasks] == [first.tasks[0].id]
    clock.advance(2)
    later = state.run_task("web", count=1, client_token="nightly")
    assert later.tasks[0].id != first.tasks[0].id and state.snapshot().task_count == 2
    record = state.snapshot().client_token("nightly")
    assert record is not None and record.tasks == (later.tasks[0].id,)


def test_create_service_again_with_the_same_token_returns_the_service() -> None:
    state = seeded()
    created = state.create_service("api", "web", desired_count=2, client_token="create-api")
    version = state.version
    again = state.create_service("api", "web", desired_count=2, client_token="create-api")
    assert again == created and state.version == version
    with pytest.raises(ValidationError, match="clientToken"):
        state.create_service("api", "web", desired_count=5, client_token="create-api")
    with pytest.raises(ValidationError):  # without the token, a second create of one name is still refused
        state.create_service("api", "web", desired_count=2)
    assert state.version == version


def test_a_commit_of_another_call_holding_the_token_writes_nothing() -> None:
    # the race the facade's first check cannot see: the other call claimed the token between
    # this call's check and its commit (in etcd, a replica that had not caught up yet)
    state = seeded()
    definition = state.snapshot().task_definition("web")

    def place() -> PlaceTask:
        return PlaceTask(
            Task(id=new_id(), task_definition=definition.key, container_instance_id="i-0", charge=definition.charge)
        )

    mine, theirs = TokenClaim("race", "same"), TokenClaim("race", "same")
    assert mine.call != theirs.call
    won = state.commit([place()], client_token=mine)
    assert len(won.accepted) == 1
    version = state.version
    lost = state.commit([place()], client_token=theirs)
    assert (lost.accepted, lost.rejected, lost.version) == ((), (), version)
    assert state.snapshot().task_count == 1
    more = state.commit([place()], client_token=mine)  # the claiming call's later commits extend it
    record = state.snapshot().client_token("race")
    assert record is not None and record.tasks == (won.accepted[0].task.id, more.accepted[0].task.id)  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="other arguments"):
        state.commit([place()], client_token=TokenClaim("race", "different"))


def test_two_threads_with_one_token_place_once() -> None:
    state = seeded()
    results = []
    start = threading.Barrier(4)

    def call() -> None:
        start.wait()
        results.append(state.run_task("web", count=5, client_token="burst"))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.snapshot().task_count == 5
    assert len({tuple(t.id for t in result.tasks) for result in results}) == 1


class SmallTransactions(MemoryStore):
    """One write holds at most four records."""

    max_txn_ops = 4


def test_a_split_commit_keeps_every_task_of_the_call_under_its_token() -> None:
    state = seeded(store=SmallTransactions())
    placed = state.run_task(
        "web", count=6, client_token="big", placement_strategy=[{"type": "spread", "field": "instanceId"}]
    )
    assert len(placed.tasks) == 6
    record = state.snapshot().client_token("big")
    assert record is not None and sorted(record.tasks) == sorted(t.id for t in placed.tasks)
    again = state.run_task(
        "web", count=6, client_token="big", placement_strategy=[{"type": "spread", "field": "instanceId"}]
    )
    assert sorted(t.id for t in again.tasks) == sorted(t.id for t in placed.tasks)
    assert state.snapshot().task_count == 6


def test_expired_tokens_are_swept_in_memory() -> None:
    clock = SimulatedClock()
    state = ClusterState("sweep", clock=clock)
    size = Resources(cpu=1, memory=1)
    for n in range(1100):
        instance = ContainerInstance(id=f"i-{n}", registered=size, remaining=size)
        state.commit([RegisterInstance(instance)], client_token=TokenClaim(f"t-{n}", "f"))
        if n == 1000:
            clock.advance(CLIENT_TOKEN_TTL + 1)  # the first 1001 expire
    snapshot = state.snapshot()
    assert [n for n in range(1001) if snapshot.client_token(f"t-{n}") is not None] == []  # swept at 1024 tokens
    assert all(snapshot.client_token(f"t-{n}") is not None for n in range(1001, 1100))


def test_resolve_on_memory_is_refused_a_memory_commit_is_never_unknown() -> None:
    with pytest.raises(ValidationError, match="commitId"):
        ClusterState("m").resolve("abc")


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(min_value=1, max_value=3)),
        min_size=1,
        max_size=12,
    )
)
def test_each_token_places_once_whatever_the_calls(calls: list[tuple[str | None, int]]) -> None:
    state = seeded()
    first: dict[str, tuple[int, tuple[str, ...]]] = {}
    expected = 0
    for token, count in calls:
        if token is not None and token in first and first[token][0] != count:
            before = state.version
            with pytest.raises(ValidationError):
                state.run_task("web", count=count, client_token=token)
            assert state.version == before
            continue
        result = state.run_task("web", count=count, client_token=token)
        ids = tuple(t.id for t in result.tasks)
        if token is None or token not in first:
            expected += count
            if token is not None:
                first[token] = (count, ids)
        else:
            assert ids == first[token][1]
    assert state.snapshot().task_count == expected
    assert check_state(state.snapshot()) == []


def test_the_fingerprint_tells_arguments_apart() -> None:
    assert fingerprint("run_task", "web", 1) == fingerprint("run_task", "web", 1)
    assert fingerprint("run_task", "web", 1) != fingerprint("run_task", "web", 2)
    record = ClientToken("t", "f", "c", 100.0)
    assert not record.expired(100.0 + CLIENT_TOKEN_TTL - 0.5) and record.expired(100.0 + CLIENT_TOKEN_TTL)


def test_a_resync_names_its_cause_and_a_full_buffer_names_the_capacity() -> None:
    class Shared(MemoryStore):
        def attach(self, arns: object, deliver: object) -> None:
            self.deliver = deliver

    store = Shared()
    state = ClusterState("resync", store=store)
    watching = state.subscribe()
    store.deliver(store.current(), None, "etcd compacted its history past revision 7")  # type: ignore[operator]
    with pytest.raises(SubscriptionOverflow) as caught:
        watching.get(timeout=0)
    assert "compacted" in str(caught.value) and "capacity" not in str(caught.value)
    assert caught.value.reason == "etcd compacted its history past revision 7"
    watching.resync()
    full = ClusterState("full")
    tiny = full.subscribe(capacity=1)
    full.register_container_instance("i-1", cpu=1, memory=1)
    full.register_container_instance("i-2", cpu=1, memory=1)
    tiny.get(timeout=0)
    with pytest.raises(SubscriptionOverflow, match="capacity=1") as overflowed:
        tiny.get(timeout=0)
    assert overflowed.value.reason is None
