"""A store's optional powers are protocols the state checks with isinstance, not attribute probes."""

from __future__ import annotations

from collections.abc import Callable

from clusterkit import ClusterState, PlaceTask, Task
from clusterkit.model import Arns
from clusterkit.state import (
    CompactingStore,
    Deliver,
    Event,
    HoldableStore,
    LeaseStore,
    MemoryStore,
    Pending,
    Roots,
    SharedStore,
    Store,
    TransactionLimitedStore,
    new_id,
)

POWERS = (SharedStore, TransactionLimitedStore, LeaseStore, CompactingStore, HoldableStore)


class CountingStore(MemoryStore):
    """A MemoryStore that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.swaps = 0

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        self.swaps += 1
        return super().swap(base, pending, build)


class SmallTransactions(CountingStore):
    """One write holds at most three records."""

    max_txn_ops = 3


class Shared(MemoryStore):
    """Hands over only the events it is told to: another process's store, in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.attached: list[Arns] = []
        self.deliver: Deliver | None = None

    def attach(self, arns: Arns, deliver: Deliver) -> None:
        self.attached.append(arns)
        self.deliver = deliver


def seeded(store: Store) -> ClusterState:
    state = ClusterState("protocols", store=store)
    state.register_container_instance("i-1", cpu=4096, memory=8192)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "img", "cpu": 64, "memory": 64}]}
    )
    return state


def placements(state: ClusterState, count: int) -> list[PlaceTask]:
    definition = state.snapshot().task_definition("web")
    return [
        PlaceTask(
            Task(id=new_id(), task_definition=definition.key, container_instance_id="i-1", charge=definition.charge)
        )
        for _ in range(count)
    ]


def test_the_memory_store_is_a_store_with_no_optional_power() -> None:
    store = MemoryStore()
    assert isinstance(store, Store)
    assert [power.__name__ for power in POWERS if isinstance(store, power)] == []


def test_each_power_is_recognised_by_what_the_store_has() -> None:
    assert isinstance(SmallTransactions(), TransactionLimitedStore)
    assert not isinstance(SmallTransactions(), SharedStore)
    assert isinstance(Shared(), SharedStore)
    assert not isinstance(Shared(), TransactionLimitedStore)


def test_a_transaction_limit_splits_a_large_incremental_commit() -> None:
    unlimited, limited = CountingStore(), SmallTransactions()
    for store in (unlimited, limited):
        state = seeded(store)
        store.swaps = 0
        result = state.commit(placements(state, 6))
        assert len(result.accepted) == 6 and result.rejected == ()
        assert len(list(state.snapshot().tasks())) == 6
    assert unlimited.swaps == 1
    assert limited.swaps > 1  # six tasks and their instance do not fit in three records


def test_a_shared_store_is_attached_once_and_alone_delivers_the_events() -> None:
    store = Shared()
    state = seeded(store)
    assert store.attached == [state.arns]
    events = state.subscribe()
    result = state.commit(placements(state, 1))
    assert result.events and events.drain() == []  # the state leaves delivery to the store
    assert store.deliver is not None
    delivered: tuple[Event, ...] = result.events
    store.deliver(store.current(), delivered)
    assert events.drain() == list(delivered)
