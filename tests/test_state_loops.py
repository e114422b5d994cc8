"""run_loop (and step_every): notice, step, wait for a commit, a wake-up or the interval; survive; stop."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from clusterkit import (
    ClusterState,
    ContainerInstanceChanged,
    Event,
    MemoryStore,
    Snapshot,
    StoreError,
    UpdateInstance,
    ValidationError,
)
from clusterkit.state import Roots, run_loop, step_every
from tests.conftest import eventually


class FlakyStore(MemoryStore):
    """A store whose swap fails (etcd without quorum) while ``failures`` is above 0."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def swap(self, base: Roots, pending: Any, build: Callable[[], Roots]) -> Roots | None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("etcd did not answer /kv/txn at any endpoint")
        return super().swap(base, pending, build)


def start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def cluster(store: MemoryStore | None = None) -> ClusterState:
    state = ClusterState("loops", store=store)
    state.register_container_instance("i-0", cpu=1024, memory=1024)
    return state


def touch(state: ClusterState, value: str) -> None:
    state.commit([UpdateInstance("i-0", attributes={"mark": value})])


def mark_of(event: Event) -> str | None:
    assert isinstance(event, ContainerInstanceChanged)
    return dict(event.instance.attributes)["mark"]


def test_it_steps_on_the_interval_until_stopped() -> None:
    stop = threading.Event()
    steps: list[float] = []
    thread = start(lambda: run_loop(stop, lambda: steps.append(time.monotonic()), interval=0.02))
    assert eventually(lambda: len(steps) >= 3)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert all(later - earlier >= 0.015 for earlier, later in itertools.pairwise(steps))


def test_a_stop_set_before_it_starts_means_no_step() -> None:
    stop = threading.Event()
    stop.set()
    steps: list[int] = []
    run_loop(stop, lambda: steps.append(1), interval=0.01, state=cluster())
    assert steps == []


@pytest.mark.parametrize("follow", [False, True])
def test_it_ends_promptly_when_stopped_in_a_long_wait(follow: bool) -> None:
    stop = threading.Event()
    steps: list[int] = []
    state = cluster() if follow else None
    thread = start(lambda: run_loop(stop, lambda: steps.append(1), interval=60.0, state=state))
    assert eventually(lambda: steps == [1])
    began = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - began < 0.3


def test_a_commit_wakes_it_and_notice_gets_the_events_in_order() -> None:
    state = cluster()
    stop = threading.Event()
    noticed: list[Event] = []
    steps: list[int] = []
    thread = start(
        lambda: run_loop(stop, lambda: steps.append(len(noticed)), interval=60.0, state=state, notice=noticed.extend)
    )
    assert eventually(lambda: len(steps) == 1)
    touch(state, "a")
    touch(state, "b")
    assert eventually(lambda: len(noticed) == 2 and steps[-1] == 2)  # the timer alone would be a minute away
    stop.set()
    thread.join(timeout=5)
    assert [mark_of(event) for event in noticed] == ["a", "b"]
    assert noticed[0].version < noticed[1].version


def test_its_own_next_wake_cuts_the_wait_short() -> None:
    state = cluster()
    stop = threading.Event()
    steps: list[float] = []
    thread = start(
        lambda: run_loop(
            stop,
            lambda: steps.append(time.monotonic()),
            interval=60.0,
            state=state,
            next_wake=lambda: state.clock() + 0.05,
        )
    )
    assert eventually(lambda: len(steps) >= 3)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_an_external_wake_cuts_the_wait_short() -> None:
    stop = threading.Event()
    wake = threading.Event()
    steps: list[int] = []
    thread = start(lambda: run_loop(stop, lambda: steps.append(1), interval=60.0, wake=wake))
    assert eventually(lambda: len(steps) == 1)
    wake.set()
    assert eventually(lambda: len(steps) == 2)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_store_errors_are_survived_reported_and_followed_by_a_full_pass() -> None:
    store = FlakyStore()
    state = cluster(store)
    stop = threading.Event()
    heard: list[str | None] = []
    resyncs: list[int] = []
    done: list[int] = []

    def step() -> None:
        touch(state, str(len(done)))
        done.append(1)

    store.failures = 3
    thread = start(
        lambda: run_loop(
            stop,
            step,
            interval=0.01,
            state=state,
            resync=lambda snapshot: resyncs.append(snapshot.version),
            report=lambda error: heard.append(None if error is None else str(error)),
        )
    )
    assert eventually(lambda: len(done) >= 2)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert heard[:4] == ["etcd did not answer /kv/txn at any endpoint"] * 3 + [None]
    assert len(resyncs) == 3  # before each step that followed a failed one


def test_other_errors_end_the_loop_and_its_stop_watcher() -> None:
    state = cluster()

    def step() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_loop(threading.Event(), step, interval=0.01, state=state)
    assert eventually(lambda: not any(t.name == "clusterkit-loop-stop" for t in threading.enumerate()), seconds=3.0)


def test_falling_behind_the_commits_resyncs_and_drops_the_stale_events() -> None:
    state = cluster()
    stop = threading.Event()
    noticed: list[Sequence[Event]] = []
    resyncs: list[Snapshot] = []
    steps: list[int] = []

    def step() -> None:
        steps.append(1)
        if len(steps) == 1:
            for mark in "abc":  # three commits for a buffer of one
                touch(state, mark)

    thread = start(
        lambda: run_loop(
            stop,
            step,
            interval=60.0,
            state=state,
            capacity=1,
            notice=noticed.append,
            resync=resyncs.append,
        )
    )
    assert eventually(lambda: len(steps) >= 2)
    touch(state, "d")  # flows again after the resync
    assert eventually(lambda: len(steps) >= 3)
    stop.set()
    thread.join(timeout=5)
    assert len(resyncs) == 1 and dict(resyncs[0].instance("i-0").attributes)["mark"] == "c"
    assert [[mark_of(event) for event in events] for events in noticed] == [["d"]]


def test_step_every_reports_messages() -> None:
    stop = threading.Event()
    heard: list[str | None] = []
    failures = [StoreError("away")]

    def step() -> None:
        if failures:
            raise failures.pop()
        stop.set()

    step_every(step, stop, 0.01, report=heard.append)
    assert heard == ["away", None]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"interval": -1.0}, "interval"),
        ({"interval": "1"}, "interval"),
        ({"interval": 1.0, "notice": print}, "state"),
        ({"interval": 1.0, "next_wake": lambda: None}, "state"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        run_loop(threading.Event(), lambda: None, **options)
    assert caught.value.field == field
