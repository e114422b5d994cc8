"""The ServiceAutoscaler on a FakeCluster in simulated time: it samples, decides, commits; the service
scheduler starts and stops the tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit.autoscaling import (
    CPU_UTILIZATION,
    MEMORY_UTILIZATION,
    Alarm,
    ExecutorStatsSource,
    FedMetrics,
    ScheduledAction,
    ServiceAutoscaler,
    SimulatedLoad,
    StepAdjustment,
    StepScalingPolicy,
    TargetTrackingPolicy,
    running_tasks,
)
from clusterkit.errors import NotFoundError, StoreError, ValidationError
from clusterkit.state import Change, CommitResult, PutServiceSpec
from clusterkit.testing import FakeCluster

TASK: dict[str, Any] = {
    "family": "web",
    "containerDefinitions": [{"name": "web", "image": "web:1", "cpu": 256, "memory": 256}],
}
ZONE = "ecs.availability-zone"


class Load:
    """A load the test sets, in tasks' worth."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, now: float) -> float:
        return self.value


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    made = FakeCluster(instances=3, cpus=4, memory=8192)
    made.state.register_task_definition(TASK)
    yield made
    made.close()


def drive(cluster: FakeCluster, scaler: ServiceAutoscaler, seconds: float) -> list[object]:
    """Tick the cluster and step the autoscaler once a second for ``seconds``."""
    activities: list[object] = []
    for _ in range(int(seconds)):
        cluster.tick(1.0)
        activities.extend(scaler.step())
    return activities


def utilisation(cluster: FakeCluster, load: Load) -> float:
    return 100 * load.value / len(running_tasks(cluster.state.snapshot(), "web"))


def test_target_tracking_converges_on_a_synthetic_load_and_then_holds(cluster: FakeCluster) -> None:
    load = Load(3.5)
    cluster.state.create_service("web", "web", desired_count=1)
    scaler = ServiceAutoscaler(cluster.state, SimulatedLoad(load), clock=cluster.clock, sample_interval=10)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("cpu75", CPU_UTILIZATION, 75.0))
    drive(cluster, scaler, 600)
    assert 4 <= cluster.state.snapshot().service("web").desired_count <= 5
    assert abs(utilisation(cluster, load) - 75) <= 7.5
    assert drive(cluster, scaler, 3600) == []  # an hour without a change: no oscillation
    assert abs(utilisation(cluster, load) - 75) <= 7.5
    # The load falls: after the scale-in alarm's 15 minutes, in to ⌈5 · 20 / 75⌉ = 2, and it holds there.
    load.value = 1.0
    drive(cluster, scaler, 1800)
    assert cluster.state.snapshot().service("web").desired_count == 2
    assert len(running_tasks(cluster.state.snapshot(), "web")) == 2
    assert [(a.old, a.new) for a in reversed(scaler.describe_scaling_activities("web"))] == [(1, 5), (5, 2)]


def test_scale_in_stops_tasks_from_the_zone_with_the_most(cluster: FakeCluster) -> None:
    """The autoscaler only lowers the desired count; the service scheduler picks the tasks to stop,
    from the zone with the most tasks of the service first.
    """
    cluster.add_instance(zone="zone-a")  # zone-a has two instances: placement still spreads over zones
    cluster.state.create_service("web", "web", desired_count=7)
    cluster.run(60)
    zones = {i.id: i.attribute(ZONE) for i in cluster.state.snapshot().instances()}
    before = Counter(zones[t.container_instance_id] for t in cluster.service_tasks("web"))
    assert before == {"zone-a": 3, "zone-b": 2, "zone-c": 2}
    fed = FedMetrics()
    fed.put("web", "Queue", 5.0)
    scaler = ServiceAutoscaler(cluster.state, fed, clock=cluster.clock, sample_interval=5)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    quick = TargetTrackingPolicy("q", "Queue", 10.0, period=10, scale_in_periods=2)  # 5 of a 10 target: in to ⌈3.5⌉
    scaler.put_scaling_policy("web", quick)
    drive(cluster, scaler, 60)
    assert cluster.state.snapshot().service("web").desired_count == 4
    after = Counter(zones[t.container_instance_id] for t in cluster.service_tasks("web"))
    assert sorted(after.values()) == [1, 1, 2]  # balanced: never 0 in a zone while another keeps 3
    assert all(after[zone] <= before[zone] for zone in after)


def test_scale_in_waits_for_a_deployment_to_finish(cluster: FakeCluster) -> None:
    cluster.state.register_task_definition(
        {**TASK, "containerDefinitions": [{**TASK["containerDefinitions"][0], "image": "web:2"}]}
    )
    cluster.state.create_service("web", "web:1", desired_count=6)
    cluster.run(60)
    fed = FedMetrics()
    fed.put("web", "Queue", 1.0)
    scaler = ServiceAutoscaler(cluster.state, fed, clock=cluster.clock, sample_interval=5)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("q", "Queue", 10.0, period=10, scale_in_periods=2))
    cluster.state.update_service("web", task_definition="web:2")
    seen_in_progress = False
    for _ in range(300):
        cluster.tick(1.0)
        service = cluster.state.snapshot().service("web")
        deploying = any(d.rollout_state == "IN_PROGRESS" for d in service.deployments)
        scaler.step()
        after = cluster.state.snapshot().service("web")
        if deploying:
            seen_in_progress = True
            assert after.desired_count == 6, "scaled in during a deployment"
    assert seen_in_progress
    assert cluster.state.snapshot().service("web").desired_count == 1  # once it completed


def test_a_scheduled_action_scales_out_to_its_minimum_and_tasks_start(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=1)
    scaler = ServiceAutoscaler(cluster.state, FedMetrics(), clock=cluster.clock)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=4)
    scaler.put_scheduled_action("web", ScheduledAction("peak", cluster.clock.now + 30, min_capacity=3, max_capacity=8))
    drive(cluster, scaler, 29)
    assert cluster.state.snapshot().service("web").desired_count == 1
    drive(cluster, scaler, 5)
    assert len(cluster.service_tasks("web")) == 3
    assert scaler.describe_scalable_targets()[0].max_capacity == 8
    (activity,) = scaler.describe_scaling_activities()
    assert activity.cause.startswith("scheduled action name peak")


def test_a_step_policy_on_a_fed_metric(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=2)
    fed = FedMetrics()
    scaler = ServiceAutoscaler(cluster.state, fed, clock=cluster.clock, sample_interval=5)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    alarm = Alarm("queue-high", 100.0, "GreaterThanThreshold", evaluation_periods=2)
    steps = (StepAdjustment(1, 0.0, 50.0), StepAdjustment(3, 50.0, None))
    scaler.put_scaling_policy(
        "web", StepScalingPolicy("queue", "Queue", alarm, "ChangeInCapacity", steps, cooldown=60, period=10)
    )
    drive(cluster, scaler, 60)
    assert cluster.state.snapshot().service("web").desired_count == 2  # no data yet
    fed.put("web", "Queue", 180.0)
    drive(cluster, scaler, 40)
    assert cluster.state.snapshot().service("web").desired_count == 5
    (activity,) = scaler.describe_scaling_activities("web")
    assert activity.cause == "monitor alarm queue-high in state ALARM triggered policy queue"


def test_executor_stats_give_ecs_utilisation_of_the_running_tasks(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=3)
    cluster.run(5)
    tasks = running_tasks(cluster.state.snapshot(), "web")
    assert len(tasks) == 3
    for task, (cores, memory) in zip(tasks, [(0.5, 64.0), (0.25, 128.0), (0.0, 0.0)], strict=True):
        cluster.executor_of(task).set_usage(task.id, cpu_cores=cores, memory_mib=memory)
    source = ExecutorStatsSource(cluster.executors)
    snapshot = cluster.state.snapshot()
    # (512 + 256 + 0) CPU units used of 3 × 256 reserved; (64 + 128) MiB of 3 × 256.
    assert source.sample(snapshot, "web", CPU_UTILIZATION, 1.0) == pytest.approx(100.0)
    assert source.sample(snapshot, "web", MEMORY_UTILIZATION, 1.0) == pytest.approx(25.0)
    assert source.sample(snapshot, "web", "Queue", 1.0) is None
    cluster.crash(tasks[2])  # a stopped task's container reports nothing: left out
    assert source.sample(snapshot, "web", CPU_UTILIZATION, 2.0) == pytest.approx(150.0)
    source.close()


def test_the_executor_stats_source_scales_the_service_out(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=1)
    cluster.run(5)
    source = ExecutorStatsSource(cluster.executors)
    scaler = ServiceAutoscaler(cluster.state, source, clock=cluster.clock, sample_interval=5)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=3)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("cpu", CPU_UTILIZATION, 50.0, period=10, scale_out_periods=2))
    (task,) = running_tasks(cluster.state.snapshot(), "web")
    cluster.executor_of(task).set_usage(task.id, cpu_cores=1.0, memory_mib=10)  # 400 % of its 256 units
    drive(cluster, scaler, 40)
    assert cluster.state.snapshot().service("web").desired_count == 3  # ⌈1 · 400 / 50⌉ = 8, capped at 3
    assert len(running_tasks(cluster.state.snapshot(), "web")) == 3
    source.close()


def test_registering_checks_the_service_and_the_target(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=1)
    cluster.state.create_service("agent", "web", scheduling_strategy="DAEMON")
    scaler = ServiceAutoscaler(cluster.state, FedMetrics(), clock=cluster.clock)
    with pytest.raises(NotFoundError):
        scaler.register_scalable_target("nope", min_capacity=1, max_capacity=2)
    with pytest.raises(ValidationError) as raised:
        scaler.register_scalable_target("agent", min_capacity=1, max_capacity=2)
    assert raised.value.field == "ResourceId"
    with pytest.raises(ValidationError) as raised:
        scaler.register_scalable_target("web", min_capacity=3, max_capacity=2)
    assert raised.value.field == "MaxCapacity"
    assert scaler.describe_scalable_targets() == []
    with pytest.raises(NotFoundError):
        scaler.put_scaling_policy("web", TargetTrackingPolicy("p", CPU_UTILIZATION, 50.0))
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=2)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("p", CPU_UTILIZATION, 50.0))
    with pytest.raises(NotFoundError):
        scaler.delete_scaling_policy("web", "other")
    assert [p.name for p in scaler.describe_scaling_policies("web")] == ["p"]
    scaler.deregister_scalable_target("web")
    with pytest.raises(NotFoundError):
        scaler.describe_scaling_policies("web")


def test_activities_keep_the_newest_and_a_refused_commit_is_failed(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.state.create_service("web", "web", desired_count=1)
    scaler = ServiceAutoscaler(cluster.state, FedMetrics(), clock=cluster.clock, keep_activities=2)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=9)
    for minimum in (2, 3, 4):
        scaler.put_scheduled_action("web", ScheduledAction(f"to{minimum}", cluster.clock.now, min_capacity=minimum))
        drive(cluster, scaler, 1)
    assert [(a.old, a.new) for a in scaler.describe_scaling_activities()] == [(3, 4), (2, 3)]
    refusal = ValidationError("service", "web", "refused for the test")

    def refuse(*args: object, **kwargs: object) -> None:
        raise refusal

    monkeypatch.setattr(cluster.state, "commit", refuse)
    scaler.put_scheduled_action("web", ScheduledAction("to5", cluster.clock.now, min_capacity=5))
    (failed,) = scaler.step()
    assert (failed.status, failed.status_message, failed.new) == ("Failed", str(refusal), 5)
    assert scaler.describe_scalable_targets()[0].min_capacity == 4  # not taken: the commit was refused
    assert scaler.describe_scaling_activities()[0] == failed


def test_a_deleted_service_is_left_alone(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=0)
    scaler = ServiceAutoscaler(cluster.state, FedMetrics(), clock=cluster.clock)
    scaler.register_scalable_target("web", min_capacity=0, max_capacity=9)
    cluster.state.delete_service("web")
    scaler.put_scheduled_action("web", ScheduledAction("to5", cluster.clock.now, min_capacity=5))
    assert drive(cluster, scaler, 5) == []
    assert scaler.describe_scaling_activities() == []


@settings(max_examples=15)
@given(
    loads=st.lists(st.floats(min_value=0.0, max_value=12.0), min_size=1, max_size=6),
    minimum=st.integers(1, 3),
    extra=st.integers(0, 6),
    goal=st.sampled_from([40.0, 60.0, 75.0]),
)
def test_in_simulated_time_the_count_stays_in_bounds_and_never_falls_in_a_scale_out_cooldown(
    loads: list[float], minimum: int, extra: int, goal: float
) -> None:
    """A load that jumps every ten minutes through ``loads``; the autoscaler and the cluster in
    simulated time. The desired count never leaves the bounds, and no scale-in comes within
    the 300 s after a scale-out.
    """
    cluster = FakeCluster(instances=3, cpus=4, memory=8192)
    try:
        cluster.state.register_task_definition(TASK)
        cluster.state.create_service("web", "web", desired_count=minimum)
        load = Load(loads[0])
        scaler = ServiceAutoscaler(cluster.state, SimulatedLoad(load), clock=cluster.clock, sample_interval=15)
        scaler.register_scalable_target("web", min_capacity=minimum, max_capacity=minimum + extra)
        scaler.put_scaling_policy("web", TargetTrackingPolicy("cpu", CPU_UTILIZATION, goal))
        last_out = -float("inf")
        for value in loads:
            load.value = value
            for _ in range(120):  # ten minutes, a step every 5 s
                cluster.tick(5.0)
                for activity in scaler.step():
                    if activity.new > activity.old:
                        last_out = activity.time
                    else:
                        assert activity.time >= last_out + 300, "scale-in within a scale-out cooldown"
                desired = cluster.state.snapshot().service("web").desired_count
                assert minimum <= desired <= minimum + extra
    finally:
        cluster.close()


def test_a_task_whose_engine_is_away_is_left_out_and_sources_override_per_metric(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=3)
    cluster.run(5)
    tasks = running_tasks(cluster.state.snapshot(), "web")
    for task in tasks:
        cluster.executor_of(task).set_usage(task.id, cpu_cores=0.25, memory_mib=32.0)
    cluster.executor_of(tasks[0]).set_usage(tasks[0].id, cpu_cores=1.0, memory_mib=32.0)
    source = ExecutorStatsSource(cluster.executors)
    cluster.executor_of(tasks[0]).fail_engine()
    assert source.sample(cluster.state.snapshot(), "web", CPU_UTILIZATION, 1.0) == pytest.approx(100.0)
    source.close()
    fed = FedMetrics()
    fed.put("web", CPU_UTILIZATION, 5.0)
    fed.put("web", "Queue", 1000.0)
    load = SimulatedLoad(Load(9.0))  # 300 % over the three tasks
    scaler = ServiceAutoscaler(
        cluster.state, fed, sources={CPU_UTILIZATION: load}, clock=cluster.clock, sample_interval=5
    )
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("cpu", CPU_UTILIZATION, 50.0, period=10))
    scaler.step()
    series = scaler.series("web", CPU_UTILIZATION, 10)
    assert series is not None and series.latest("Average", now=cluster.clock.now + 10) == pytest.approx(300.0)
    assert scaler.series("web", "Queue", 10) is None  # no policy asks for it: not sampled


def test_step_adjustments_may_come_as_a_list() -> None:
    alarm = Alarm("high", 10.0, "GreaterThanThreshold")
    policy = StepScalingPolicy("s", "Queue", alarm, "ChangeInCapacity", [StepAdjustment(1, 0.0, None)])
    assert policy.step_adjustments == (StepAdjustment(1, 0.0, None),)


def _racing(cluster: FakeCluster, **change: object) -> Counter[str]:
    """Make the autoscaler's next commit race another writer's ``change`` to the service; count its commits."""
    commit = cluster.state.commit
    calls: Counter[str] = Counter()
    racing_now: list[bool] = []

    def racing(changes: Sequence[Change], **options: Any) -> CommitResult:
        if racing_now or not any(isinstance(c, PutServiceSpec) for c in changes):
            return commit(changes, **options)  # the other writer's own commit, or not a count
        calls["autoscaler"] += 1
        if calls["autoscaler"] == 1:
            racing_now.append(True)
            cluster.state.update_service("web", **change)  # type: ignore[arg-type]  # another writer gets in first
            racing_now.clear()
        return commit(changes, **options)

    cluster.state.commit = racing  # type: ignore[method-assign,assignment]
    return calls


@pytest.mark.parametrize(
    ("change", "final"),
    [
        ({"desired_count": 2}, 2),  # the count moved: the autoscaler's decision is void, nothing overwritten
        ({"health_check_grace_period_seconds": 30}, 4),  # only the record moved: the same count, set again
    ],
)
def test_the_desired_count_is_compare_and_swapped(cluster: FakeCluster, change: dict[str, object], final: int) -> None:
    cluster.state.create_service("web", "web", desired_count=1)
    scaler = ServiceAutoscaler(cluster.state, SimulatedLoad(Load(3.0)), clock=cluster.clock, sample_interval=10)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=10)
    scaler.put_scaling_policy("web", TargetTrackingPolicy("cpu75", CPU_UTILIZATION, 75.0))
    calls = _racing(cluster, **change)
    for _ in range(300):  # three minutes at 300 % on one task: out to ⌈1 · 300 / 75⌉ = 4
        drive(cluster, scaler, 1)
        if calls["autoscaler"]:
            break
    assert calls["autoscaler"] == (1 if final == 2 else 2)  # a moved record only: tried again on the new one
    assert cluster.state.snapshot().service("web").desired_count == final
    assert len(scaler.describe_scaling_activities("web")) == (1 if final == 4 else 0)


def test_update_service_with_an_expected_version_is_a_compare_and_swap(cluster: FakeCluster) -> None:
    from clusterkit.errors import StaleVersionError

    created = cluster.state.create_service("web", "web", desired_count=1)
    moved = cluster.state.update_service("web", desired_count=2)
    with pytest.raises(StaleVersionError) as caught:
        cluster.state.update_service("web", desired_count=5, expected_version=created.version)
    assert caught.value.field == "expectedVersion" and caught.value.current == moved.version
    assert cluster.state.snapshot().service("web").desired_count == 2
    done = cluster.state.update_service("web", desired_count=5, expected_version=moved.version)
    assert (done.desired_count, done.version) == (5, moved.version + 1)
    with pytest.raises(ValidationError, match="expectedVersion"):
        cluster.state.update_service("web", desired_count=5, expected_version=0)


def test_a_commit_refused_for_no_race_is_a_failed_activity_at_once(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web", desired_count=1)
    scaler = ServiceAutoscaler(cluster.state, FedMetrics(), clock=cluster.clock)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=9)
    commit = cluster.state.commit
    commits: list[int] = []

    def unregistered(changes: Sequence[Change], **options: Any) -> CommitResult:  # a spec the store refuses
        commits.append(1)
        bent = [
            attrs.evolve(c, spec=attrs.evolve(c.spec, task_definition="gone:1")) if isinstance(c, PutServiceSpec) else c
            for c in changes
        ]
        return commit(bent, **options)

    cluster.state.commit = unregistered  # type: ignore[method-assign,assignment]
    scaler.put_scheduled_action("web", ScheduledAction("to3", cluster.clock.now, min_capacity=3))
    (failed,) = scaler.step()
    assert failed.status == "Failed" and "task definition gone:1 is not registered" in failed.status_message
    assert commits == [1]  # not tried again: no race
    assert cluster.state.snapshot().service("web").desired_count == 1


def test_run_reports_store_errors_keeps_going_and_ends_on_close(cluster: FakeCluster) -> None:
    import threading
    import time

    cluster.state.create_service("web", "web", desired_count=1)
    scaler = ServiceAutoscaler(cluster.state, FedMetrics(), clock=cluster.clock)
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=9)
    scaler.put_scheduled_action("web", ScheduledAction("to3", cluster.clock.now, min_capacity=3))
    commit = cluster.state.commit
    failures = {"left": 3}
    seen: list[str | None] = []

    def flaky(changes: Sequence[Change], **options: Any) -> CommitResult:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise StoreError("etcd did not answer /kv/txn at any endpoint")
        return commit(changes, **options)

    cluster.state.commit = flaky  # type: ignore[method-assign,assignment]
    worker = threading.Thread(target=scaler.run, kwargs={"interval": 0.01}, daemon=True)
    worker.start()
    for _ in range(500):
        seen.append(scaler.store_error)
        if cluster.state.snapshot().service("web").desired_count == 3 and scaler.store_error is None:
            break
        time.sleep(0.01)
    closed = time.monotonic()
    scaler.close()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - closed < 2.0
    assert cluster.state.snapshot().service("web").desired_count == 3 and failures["left"] == 0
    assert scaler.store_error is None
