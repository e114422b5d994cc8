"""Agent liveness in memory, in simulated time: heartbeats, the monitor, and what schedulers do then."""

from __future__ import annotations

import attrs
import pytest

import clusterkit
from clusterkit import Agent, ClusterState, FakeExecutor, UpdateInstance, ValidationError
from clusterkit.liveness import LivenessMonitor
from clusterkit.state import decode_instance, encode_instance
from clusterkit.testing import SimulatedClock
from tests.ecs_api import assert_output

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 128}]}


def cluster(hosts: int = 2) -> tuple[ClusterState, SimulatedClock, list[Agent]]:
    clock = SimulatedClock()
    state = ClusterState("alive", clock=clock)
    state.register_task_definition(WEB)
    agents = [
        Agent.register(state, FakeExecutor(clock=clock), instance_id=f"i-{n}", heartbeat_interval=10)
        for n in range(hosts)
    ]
    return state, clock, agents


def test_the_first_step_heartbeats_and_later_ones_only_every_heartbeat_interval() -> None:
    state, clock, (agent, _) = cluster()
    agent.step()
    instance = state.snapshot().instance("i-0")
    assert instance.last_heartbeat_at == clock.now
    version = instance.version
    for _ in range(9):
        clock.advance(1)
        agent.step()
    assert state.snapshot().instance("i-0").version == version  # no commit between heartbeats
    clock.advance(1)
    agent.step()
    instance = state.snapshot().instance("i-0")
    assert (instance.version, instance.last_heartbeat_at) == (version + 1, clock.now)


def test_a_silent_agent_is_disconnected_after_the_timeout_and_nothing_is_placed_there() -> None:
    state, clock, (quiet, talking) = cluster()
    monitor = LivenessMonitor(state, timeout=30)
    for agent in (quiet, talking):
        agent.step()
    for _ in range(30):
        clock.advance(1)
        talking.step()
        assert monitor.step() == []  # silent for 30 s: not yet longer than the timeout
    clock.advance(1)
    talking.step()
    assert monitor.step() == ["i-0"]
    snapshot = state.snapshot()
    assert snapshot.instance("i-0").agent_connected is False
    assert snapshot.instance("i-1").agent_connected is True
    placed = state.run_task("web", count=6).tasks
    assert {task.container_instance_id for task in placed} == {"i-1"}
    assert monitor.step() == []  # already disconnected: nothing to do


def test_an_agent_that_comes_back_reconnects_its_instance_on_its_next_step() -> None:
    state, clock, (agent, _) = cluster()
    monitor = LivenessMonitor(state, timeout=30)
    agent.step()
    clock.advance(60)
    assert monitor.step() == ["i-0", "i-1"]
    agent.step()
    instance = state.snapshot().instance("i-0")
    assert (instance.agent_connected, instance.last_heartbeat_at) == (True, clock.now)
    assert {task.container_instance_id for task in state.run_task("web", count=2).tasks} == {"i-0"}


def test_a_new_instance_is_given_the_timeout_from_its_registration() -> None:
    clock = SimulatedClock()
    state = ClusterState("alive", clock=clock)
    monitor = LivenessMonitor(state, timeout=30)
    state.register_container_instance("i-0", cpu=1024, memory=1024)  # no agent has spoken for it yet
    clock.advance(30)
    assert monitor.step() == []
    clock.advance(1)
    assert monitor.step() == ["i-0"]


def test_deregistered_and_disconnected_instances_are_left_alone() -> None:
    state, clock, _ = cluster(hosts=3)
    state.deregister_container_instance("i-0")
    state.commit([UpdateInstance("i-1", agent_connected=False)])
    versions = {instance.id: instance.version for instance in state.snapshot().instances()}
    clock.advance(3600)
    assert LivenessMonitor(state, timeout=30).step() == ["i-2"]
    after = {instance.id: instance.version for instance in state.snapshot().instances()}
    assert after == {**versions, "i-2": versions["i-2"] + 1}


def test_a_heartbeat_that_lands_first_wins_and_racing_monitors_change_nothing_twice() -> None:
    state, clock, (agent,) = cluster(hosts=1)
    agent.step()
    clock.advance(31)
    stale = state.snapshot()  # what a monitor read before the agent's heartbeat landed
    agent.step()
    late = LivenessMonitor(state, timeout=30)
    late.state = _Frozen(state, stale)  # type: ignore[assignment]
    assert late.step() == []  # refused: the instance moved since its snapshot
    assert state.snapshot().instance("i-0").agent_connected is True
    clock.advance(31)
    first, second = LivenessMonitor(state, timeout=30), LivenessMonitor(state, timeout=30)
    version = state.snapshot().instance("i-0").version
    assert first.step() == ["i-0"]
    assert second.step() == []
    assert state.snapshot().instance("i-0").version == version + 1


class _Frozen:
    """A state whose snapshot() is stuck at ``snapshot`` (commits go through)."""

    def __init__(self, state: ClusterState, snapshot: clusterkit.Snapshot) -> None:
        self._state, self._snapshot = state, snapshot
        self.store = state.store

    def snapshot(self) -> clusterkit.Snapshot:
        return self._snapshot

    def commit(self, changes: list[UpdateInstance]) -> clusterkit.CommitResult:
        return self._state.commit(changes)


def test_the_heartbeat_stays_out_of_ecs_output_and_round_trips_in_the_record() -> None:
    state, clock, (agent,) = cluster(hosts=1)
    agent.step()
    instance = state.snapshot().instance("i-0")
    assert instance.last_heartbeat_at == clock.now
    described = clusterkit.ecs_json.dump_container_instance(instance, state.arns)
    assert "lastHeartbeatAt" not in described
    assert_output(described, "ContainerInstance")
    assert state.describe_container_instances(["i-0"]).items[0] == instance
    document = encode_instance(instance, state.arns)
    assert document["lastHeartbeatAt"] == clock.now
    assert decode_instance(document) == instance
    assert decode_instance(described) == attrs.evolve(instance, last_heartbeat_at=None)  # the bare form


def test_run_steps_until_stopped() -> None:
    import threading

    state, clock, _ = cluster(hosts=1)
    clock.advance(3600)
    monitor = LivenessMonitor(state, timeout=30)
    worker = threading.Thread(target=monitor.run, kwargs={"interval": 0.01})
    worker.start()
    try:
        for _ in range(500):
            if not state.snapshot().instance("i-0").agent_connected:
                break
            threading.Event().wait(0.01)
    finally:
        monitor.close()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert state.snapshot().instance("i-0").agent_connected is False


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: LivenessMonitor(ClusterState("x"), timeout=0), "timeout"),
        (lambda: LivenessMonitor(ClusterState("x"), timeout="30"), "timeout"),  # type: ignore[arg-type]  # a str on purpose
        (
            lambda: clusterkit.ContainerInstance(
                id="i", registered=clusterkit.Resources(), remaining=clusterkit.Resources(), last_heartbeat_at=-1.0
            ),
            "lastHeartbeatAt",
        ),
        (lambda: Agent(ClusterState("x"), FakeExecutor(), "i", heartbeat_interval="10"), "heartbeat_interval"),  # type: ignore[arg-type]  # a str on purpose
    ],
)
def test_bad_settings_are_refused(make: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.field == field


def test_a_heartbeat_flag_that_is_not_a_bool_is_refused() -> None:
    state, _, _ = cluster(hosts=1)
    with pytest.raises(ValidationError):
        state.commit([UpdateInstance("i-0", heartbeat="yes")])  # type: ignore[arg-type]


def test_the_agent_and_the_monitor_keep_running_through_store_errors() -> None:
    import threading

    state, clock, (agent,) = cluster(hosts=1)
    commit = state.commit
    failures = {"left": 6}

    def flaky(changes: object, **options: object) -> clusterkit.CommitResult:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise clusterkit.StoreError("etcd did not answer /kv/txn at any endpoint")
        return commit(changes, **options)  # type: ignore[arg-type]

    state.commit = flaky  # type: ignore[method-assign]
    clock.advance(3600)  # a heartbeat is due, and the monitor finds the agent silent
    monitor = LivenessMonitor(state, timeout=30)
    stop = threading.Event()
    workers = [
        threading.Thread(target=agent.run, kwargs={"interval": 0.01}),
        threading.Thread(target=monitor.run, args=(stop,), kwargs={"interval": 0.01}),
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in range(500):
            if failures["left"] == 0 and agent.store_error is None:
                break
            threading.Event().wait(0.01)
    finally:
        agent.close()
        stop.set()
        for worker in workers:
            worker.join(timeout=5)
    assert not any(worker.is_alive() for worker in workers)
    assert failures["left"] == 0 and agent.store_error is None
    assert state.snapshot().instance("i-0").last_heartbeat_at == clock.now
