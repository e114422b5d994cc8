"""Managed scaling: the decision rules, and the ClusterAutoscaler on a FakeCluster in simulated time.

The simulations run a whole cluster (agents on FakeExecutors, a service scheduler) with an
``InMemoryProvider`` that adds FakeCluster hosts, on the cluster's simulated clock. The
property that matters most: scale-in never stops a non-daemon task — every instance the
autoscaler terminates held none when it went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from clusterkit import Resources
from clusterkit.autoscaling import (
    SCALE_IN_ATTRIBUTE,
    AlarmState,
    CapacityProvider,
    ClusterAutoscaler,
    DockerEngineProvider,
    InMemoryProvider,
    Reservation,
    capacity_reservation,
    scaling_decision,
)
from clusterkit.errors import StoreError, ValidationError
from clusterkit.model import DEFAULT_RESERVED_PORTS, INSTANCE_DEREGISTERED_REASON
from clusterkit.state import UpdateInstance
from clusterkit.testing import FakeCluster

SHAPE = Resources(1024, 1024, DEFAULT_RESERVED_PORTS)  # a FakeCluster host of 1 CPU and 1024 MiB
HALF = {"family": "half", "containerDefinitions": [{"name": "app", "image": "app:1", "cpu": 512, "memory": 256}]}
AGENT = {"family": "agent", "containerDefinitions": [{"name": "agent", "image": "agent:1", "cpu": 64, "memory": 32}]}


def _provider(**options: object) -> CapacityProvider:
    return CapacityProvider("cp", SHAPE, **options)  # type: ignore[arg-type]


def _decide(
    needed: int,
    running: int,
    *,
    out: AlarmState = "OK",
    scale_in: AlarmState = "OK",
    provider: CapacityProvider | None = None,
    **kwargs: object,
) -> int:
    metric = (200.0 if needed else 100.0) if running == 0 else needed * 100 / running
    decision = scaling_decision(
        provider or _provider(),
        Reservation(needed, running, metric),
        scale_out=out,
        scale_in=scale_in,
        **kwargs,  # type: ignore[arg-type]
    )
    return decision.change


# -- the rules -----------------------------------------------------------------------------


def test_the_first_scale_out_from_zero_adds_two() -> None:
    assert _decide(1, 0, out="ALARM") == 2
    assert _decide(9, 0, out="ALARM") == 2  # whatever M is: the metric is 200 either way


def test_the_first_scale_out_honours_a_larger_minimum_step_and_the_maximum_step() -> None:
    assert _decide(1, 0, out="ALARM", provider=_provider(minimum_scaling_step_size=3)) == 3
    assert _decide(1, 0, out="ALARM", provider=_provider(maximum_scaling_step_size=1)) == 1


def test_scale_out_reaches_the_target_clamped_to_the_steps() -> None:
    assert _decide(7, 4, out="ALARM") == 3
    assert _decide(30, 10, out="ALARM", provider=_provider(maximum_scaling_step_size=5)) == 5
    assert _decide(5, 4, out="ALARM", provider=_provider(minimum_scaling_step_size=4)) == 4
    assert _decide(30, 10, out="ALARM", provider=_provider(maximum_size=12)) == 2


def test_a_target_below_100_keeps_headroom() -> None:
    assert _decide(4, 4, out="ALARM", provider=_provider(target_capacity=80)) == 1  # ⌈4 · 100 / 80⌉ = 5
    assert _decide(4, 5, scale_in="ALARM", provider=_provider(target_capacity=80), empty=1) == 0
    assert _decide(4, 6, scale_in="ALARM", provider=_provider(target_capacity=80), empty=2) == -1


def test_warm_up_blocks_scaling() -> None:
    assert _decide(9, 2, out="ALARM", warming=True) == 0
    assert _decide(0, 2, scale_in="ALARM", warming=True, empty=2) == 0


def test_scale_in_removes_only_empty_instances_within_the_bounds() -> None:
    assert _decide(2, 6, scale_in="ALARM", empty=4) == -4
    assert _decide(2, 6, scale_in="ALARM", empty=1) == -1
    assert _decide(2, 6, scale_in="ALARM", empty=4, provider=_provider(maximum_scaling_step_size=3)) == -3
    assert _decide(0, 6, scale_in="ALARM", empty=6, provider=_provider(minimum_size=2)) == -4
    assert _decide(2, 6, scale_in="OK", empty=4) == 0  # the alarm decides when, M how many
    assert _decide(2, 6, scale_in="INSUFFICIENT_DATA", empty=4) == 0


def test_instances_being_drained_count_as_gone() -> None:
    assert _decide(2, 6, scale_in="ALARM", empty=2, removing=2) == -2
    assert _decide(5, 6, out="ALARM", removing=2) == 1  # 4 staying, 5 needed


def test_below_the_minimum_size_it_scales_out_to_it() -> None:
    assert _decide(0, 1, provider=_provider(minimum_size=3)) == 2


@given(
    needed=st.integers(0, 300),
    running=st.integers(0, 200),
    removing=st.integers(0, 20),
    empty=st.integers(0, 200),
    out=st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]),
    scale_in=st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]),
    warming=st.booleans(),
    target=st.integers(1, 100),
    steps=st.tuples(st.integers(1, 50), st.integers(1, 50)).map(sorted),
    sizes=st.tuples(st.integers(0, 50), st.integers(0, 400)).map(sorted),
)
def test_every_decision_keeps_within_the_providers_bounds(
    needed: int,
    running: int,
    removing: int,
    empty: int,
    out: AlarmState,
    scale_in: AlarmState,
    warming: bool,
    target: int,
    steps: list[int],
    sizes: list[int],
) -> None:
    removing = min(removing, running)
    empty = min(empty, running - removing)
    provider = _provider(
        target_capacity=target,
        minimum_scaling_step_size=steps[0],
        maximum_scaling_step_size=steps[1],
        minimum_size=sizes[0],
        maximum_size=sizes[1],
    )
    metric = (200.0 if needed else 100.0) if running == 0 else needed * 100 / running
    decision = scaling_decision(
        provider,
        Reservation(needed, running, metric),
        scale_out=out,
        scale_in=scale_in,
        warming=warming,
        removing=removing,
        empty=empty,
    )
    current = running - removing
    assert decision.desired == current + decision.change
    if warming:
        assert decision.change == 0
    if decision.change < 0:
        assert scale_in == "ALARM" and out != "ALARM"
        assert -decision.change <= min(empty, steps[1])  # only empty instances, at most the maximum step
        assert decision.desired >= max(sizes[0], -(-needed * 100 // target))  # never below what is needed
    if decision.change > 0 and current >= sizes[0]:
        assert out == "ALARM"
        assert decision.change <= steps[1]
        assert decision.desired <= sizes[1]
        if current > 0 and decision.desired < sizes[1]:
            assert decision.change >= steps[0]
            if decision.change < steps[1]:
                assert decision.desired >= -(-needed * 100 // target)  # reaches the target


def test_an_autoscaler_needs_a_capacity_provider() -> None:
    cluster = FakeCluster(instances=0)
    with pytest.raises(ValidationError) as raised:
        ClusterAutoscaler(cluster.state, "cp", InMemoryProvider(cluster.state, _provider()))  # type: ignore[arg-type]
    assert raised.value.field == "provider"
    cluster.close()


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("count", lambda state, hosts: hosts.launch(0)),
        ("count", lambda state, hosts: hosts.launch(True)),
        ("period", lambda state, hosts: ClusterAutoscaler(state, hosts.provider, hosts, period=0)),
        ("EvaluationPeriods", lambda state, hosts: ClusterAutoscaler(state, hosts.provider, hosts, scale_in_periods=0)),
        ("numbers", lambda state, hosts: DockerEngineProvider(state, hosts.provider, cluster="c", numbers=[2])),
    ],
)
def test_bad_autoscaler_inputs_name_the_field_and_change_nothing(field: str, call: Any) -> None:
    cluster = FakeCluster(instances=1)
    hosts = InMemoryProvider(cluster.state, _provider())
    version = cluster.state.version
    with pytest.raises(ValidationError) as raised:
        call(cluster.state, hosts)
    assert raised.value.field == field
    assert cluster.state.version == version
    cluster.close()


def test_run_steps_until_stopped_and_survives_a_failed_step() -> None:
    cluster = FakeCluster(instances=0, cpus=1, memory=1024)
    provider = _provider(minimum_size=1)
    autoscaler = ClusterAutoscaler(cluster.state, provider, InMemoryProvider(cluster.state, provider))
    reservation = autoscaler.tracker.reservation
    failures = [StoreError("etcd away")]

    def flaky() -> Reservation:
        if failures:
            raise failures.pop()
        return reservation()

    autoscaler.tracker.reservation = flaky  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=autoscaler.run, args=(stop,), kwargs={"interval": 0.01})
    thread.start()
    deadline = time.monotonic() + 10
    while not autoscaler.activities and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert [(a.kind, a.to_count) for a in autoscaler.activities] == [("Launch", 1)]  # the minimum size
    assert not failures  # the first step failed, and the loop went on
    assert autoscaler.error is None
    autoscaler.close()
    cluster.close()


# -- simulations ---------------------------------------------------------------------------


class Simulation:
    """A FakeCluster of 1-CPU hosts whose instances a ClusterAutoscaler adds and removes."""

    def __init__(self, provider: CapacityProvider, *, period: float = 60.0, scale_in_periods: int = 15) -> None:
        self.cluster = FakeCluster("capacity", instances=0, cpus=1, memory=1024)
        self.cluster.state.register_task_definition(HALF)
        self.cluster.state.register_task_definition(AGENT)
        self.stopped_work: list[str] = []  # non-daemon tasks an instance still held when it was terminated
        self.instances = InMemoryProvider(
            self.cluster.state,
            provider,
            add=lambda instance_id, attributes: self.cluster.add_instance(instance_id, attributes=attributes),
            remove=self._remove,
        )
        self.autoscaler = ClusterAutoscaler(
            self.cluster.state, provider, self.instances, period=period, scale_in_periods=scale_in_periods
        )

    def _remove(self, instance_id: str) -> None:
        snapshot = self.cluster.state.snapshot()
        services = {s.name: s for s in snapshot.services()}
        for task in snapshot.tasks_on(instance_id):
            owner = services.get(task.service_name or "")
            if owner is None or owner.scheduling_strategy != "DAEMON":
                self.stopped_work.append(task.id)
        self.cluster.remove(instance_id)

    def run(self, seconds: float, step: float = 5.0) -> None:
        end = self.cluster.clock.now + seconds
        while self.cluster.clock.now < end:
            self.cluster.tick(step)
            self.autoscaler.step()

    @property
    def running(self) -> int:
        return capacity_reservation(self.cluster.state.snapshot(), self.autoscaler.provider).running

    def service_tasks(self, name: str) -> list[str]:
        return [t.last_status for t in self.cluster.service_tasks(name)]

    def close(self) -> None:
        self.autoscaler.close()
        self.cluster.close()


@contextmanager
def simulation(provider: CapacityProvider, **options: float) -> Iterator[Simulation]:
    made = Simulation(provider, **options)  # type: ignore[arg-type]
    try:
        yield made
    finally:
        made.close()


def test_from_zero_the_cluster_grows_by_two_then_after_warm_up_to_what_the_tasks_need() -> None:
    with simulation(_provider()) as sim:
        sim.cluster.state.create_service("web", "half", desired_count=6)  # 2 per host: 3 hosts
        sim.run(70)
        launches = [a for a in sim.autoscaler.activities if a.kind == "Launch"]
        assert [(a.from_count, a.to_count) for a in launches] == [(0, 2)]
        assert "changing the desired capacity from 0 to 2" in launches[0].cause
        sim.run(200)  # still warming up: no second scale-out although 2 tasks wait
        assert sim.running == 2
        assert sorted(sim.service_tasks("web")) == ["RUNNING"] * 4
        sim.run(200)
        launches = [a for a in sim.autoscaler.activities if a.kind == "Launch"]
        assert [(a.from_count, a.to_count) for a in launches] == [(0, 2), (2, 3)]
        sim.run(30)
        assert sim.service_tasks("web") == ["RUNNING"] * 6
        assert sim.autoscaler.last is not None and sim.autoscaler.last.metric == 100.0


def test_when_the_work_goes_empty_instances_are_drained_then_terminated() -> None:
    with simulation(_provider()) as sim:
        sim.cluster.state.create_service("web", "half", desired_count=6)
        sim.run(600)
        assert sim.running == 3
        sim.cluster.state.update_service("web", desired_count=1)
        sim.run(60 * 14)  # the scale-in alarm wants 15 datapoints of 1 minute
        assert sim.running == 3
        sim.run(60 * 3)
        kinds = [a.kind for a in sim.autoscaler.activities]
        assert kinds[-2:] == ["Drain", "Terminate"]
        assert sim.running == 1
        assert sim.service_tasks("web") == ["RUNNING"]
        assert sim.stopped_work == []
        assert len(sim.instances.terminated) == 2


def test_scale_in_keeps_the_minimum_size_and_headroom() -> None:
    with simulation(_provider(target_capacity=50, minimum_size=1)) as sim:
        sim.cluster.state.create_service("web", "half", desired_count=2)  # one host's worth
        sim.run(60 * 25)
        assert sim.running == 2  # ⌈1 · 100 / 50⌉: one busy host, one spare
        sim.cluster.state.update_service("web", desired_count=0)
        sim.run(60 * 20)
        assert sim.running == 1  # the minimum size


def test_daemon_tasks_do_not_keep_an_instance_and_leave_with_it() -> None:
    with simulation(_provider()) as sim:
        sim.cluster.state.create_service("agent", "agent", scheduling_strategy="DAEMON")
        sim.cluster.state.create_service("web", "half", desired_count=1)
        sim.run(400)
        assert sim.running == 2  # the first scale-out: 2, though one host is enough
        assert len(sim.cluster.service_tasks("agent")) == 2
        sim.run(60 * 17)
        assert sim.running == 1
        assert sim.stopped_work == []
        daemon_tasks = sim.cluster.service_tasks("agent")
        assert len(daemon_tasks) == 1  # one per instance left


def test_without_termination_protection_an_empty_instance_goes_at_once() -> None:
    with simulation(_provider(managed_termination_protection=False), period=10, scale_in_periods=3) as sim:
        sim.cluster.state.create_service("web", "half", desired_count=1)
        sim.run(100)
        assert sim.running == 2  # warming up: no scale-in yet
        sim.run(300)
        assert [a.kind for a in sim.autoscaler.activities] == ["Launch", "Terminate"]
        assert sim.running == 1
        assert sim.stopped_work == []


def test_an_instance_that_gets_a_task_while_it_is_chosen_is_not_drained() -> None:
    with simulation(_provider(), period=10, scale_in_periods=3) as sim:
        state = sim.cluster.state
        state.create_service("web", "half", desired_count=1)
        sim.run(250)  # still warming up: both instances stay
        snapshot = state.snapshot()
        (empty,) = [i.id for i in snapshot.instances() if not list(snapshot.tasks_on(i.id))]
        commit = state.commit
        raced: list[str] = []

        def racing(changes: Any, **options: Any) -> Any:
            changes = list(changes)
            if not raced and any(isinstance(c, UpdateInstance) and c.status == "DRAINING" for c in changes):
                raced.append(state.start_task("half", [empty]).tasks[0].id)  # a task lands there first
            return commit(changes, **options)

        state.commit = racing  # type: ignore[method-assign]
        sim.run(150)
        assert raced, "the autoscaler tried to drain the empty instance"
        instance = state.snapshot().instance(empty)
        assert instance.status == "ACTIVE" and not instance.has_attribute(SCALE_IN_ATTRIBUTE)
        assert state.snapshot().task(raced[0]).desired_status == "RUNNING"
        assert "Drain" not in [a.kind for a in sim.autoscaler.activities]
        assert sim.stopped_work == []


@settings(max_examples=40)
@given(
    changes=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(10, 400)), min_size=1, max_size=5),
    daemon=st.booleans(),
    target=st.sampled_from([60, 100]),
)
def test_scale_in_never_stops_a_non_daemon_task(changes: list[tuple[int, int, int]], daemon: bool, target: int) -> None:
    provider = _provider(target_capacity=target, instance_warmup_period=30)
    with simulation(provider, period=10, scale_in_periods=3) as sim:
        state = sim.cluster.state
        if daemon:
            state.create_service("agent", "agent", scheduling_strategy="DAEMON")
        state.create_service("a", "half", desired_count=0)
        state.create_service("b", "agent", desired_count=0)
        for first, second, seconds in changes:
            state.update_service("a", desired_count=first)
            state.update_service("b", desired_count=second)
            sim.run(seconds)
        state.update_service("a", desired_count=first // 2)  # the work shrinks: some instances empty out
        state.update_service("b", desired_count=second // 2)
        sim.run(300)
        event(f"instances terminated: {min(len(sim.instances.terminated), 3)}+")
        assert sim.stopped_work == []
        for task in state.snapshot().tasks():
            if task.stopped_reason == INSTANCE_DEREGISTERED_REASON:
                assert task.service_name == "agent"  # only daemon tasks leave with their instance
