"""ECS's service rules, example by example (design notes §4 and §7), on a FakeCluster or ``reconcile``.

Each test names the rule it holds the service scheduler to. Hosts in the FakeCluster offer
2,048 CPU units and 4,096 MiB; every task here takes 256 and 512, so eight fit a host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from clusterkit import ClusterState, ValidationError
from clusterkit.model import MAX_SERVICE_EVENTS, Resources, Service, Task, circuit_breaker_threshold
from clusterkit.services import (
    DRAINING_REASON,
    UNHEALTHY_REASON,
    ServiceOutcome,
    ServiceScheduler,
    TaskHealth,
    add_events,
    messages,
    reconcile,
    task_health,
)
from clusterkit.state import PutService, ServiceChanged
from clusterkit.testing import CommitLog, FakeCluster

START = 1_700_000_000.0


def definition(image: str = "web:1", *, family: str = "web", checked: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image, "cpu": 256, "memory": 512}
    if checked:
        container["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}
    return {"family": family, "containerDefinitions": [container]}


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    made = FakeCluster(instances=3)
    made.state.register_task_definition(definition("web:1"))
    made.state.register_task_definition(definition("web:2"))
    yield made
    made.close()


def service(cluster: FakeCluster, name: str = "web") -> Service:
    return cluster.state.snapshot().service(name)


def by_definition(cluster: FakeCluster, name: str = "web") -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in cluster.service_tasks(name):
        if task.desired_status == "RUNNING":
            counts[task.task_definition] = counts.get(task.task_definition, 0) + 1
    return counts


def healthy_service(cluster: FakeCluster, desired: int, maximum: int, minimum: int, name: str = "web") -> None:
    cluster.state.create_service(
        name,
        "web:1",
        desired_count=desired,
        deployment_configuration={"maximumPercent": maximum, "minimumHealthyPercent": minimum},
    )
    cluster.run(45)  # started, RUNNING, and healthy after 40 s without a health check
    assert service(cluster, name).primary is not None
    assert service(cluster, name).deployments[0].rollout_state == "COMPLETED"


def first_pass(cluster: FakeCluster) -> ServiceOutcome:
    """The first pass that commits something, within a few ticks."""
    for _ in range(3):
        committed = [o for o in cluster.tick(1.0) if o.committed]
        if committed:
            (outcome,) = committed
            return outcome
    raise AssertionError("no pass committed anything")


# -- minimumHealthyPercent rounds up, maximumPercent rounds down ---------------------------


def test_the_bounds_round_as_ecs_rounds_them() -> None:
    from clusterkit.model import DeploymentConfiguration

    assert DeploymentConfiguration(minimum_healthy_percent=50).min_healthy(4) == 2
    assert DeploymentConfiguration(minimum_healthy_percent=75).min_healthy(2) == 2  # ⌈1.5⌉
    assert DeploymentConfiguration(maximum_percent=200).max_tasks(4) == 8
    assert DeploymentConfiguration(maximum_percent=125).max_tasks(3) == 3  # ⌊3.75⌋


def test_desired_4_minimum_50_stops_2_before_starting_2(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=4, maximum=100, minimum=50)
    cluster.state.update_service("web", task_definition="web:2")
    outcome = first_pass(cluster)
    assert len(outcome.stopped) == 2 and not outcome.started  # maximumPercent 100: no room to start first
    cluster.tick(1.0)  # the agents stop them; the next pass starts 2 in their room
    assert by_definition(cluster) == {"web:1": 2, "web:2": 2}
    cluster.run(120)
    assert by_definition(cluster) == {"web:2": 4}
    assert service(cluster).deployments[0].rollout_state == "COMPLETED"


def test_desired_4_maximum_200_starts_4_before_stopping_any(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=4, maximum=200, minimum=100)
    cluster.state.update_service("web", task_definition="web:2")
    outcome = first_pass(cluster)
    assert len(outcome.started) == 4 and not outcome.stopped
    cluster.run(30)  # not healthy yet: nothing old may stop
    assert by_definition(cluster) == {"web:1": 4, "web:2": 4}
    cluster.run(30)
    assert by_definition(cluster) == {"web:2": 4}


def test_desired_2_minimum_75_cannot_stop_and_with_maximum_100_says_why(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=2, maximum=100, minimum=75)
    cluster.state.update_service("web", task_definition="web:2")
    outcomes = cluster.run(30)
    assert not any(o.started or o.stopped for o in outcomes)
    assert by_definition(cluster) == {"web:1": 2}
    assert service(cluster).events[0].message == (
        "(service web) was unable to stop or start tasks during a deployment because of the service deployment "
        "configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
    )


def test_desired_2_minimum_75_with_room_above_starts_first(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=2, maximum=150, minimum=75)  # ⌊3⌋: one task of room
    cluster.state.update_service("web", task_definition="web:2")
    outcome = first_pass(cluster)
    assert len(outcome.started) == 1 and not outcome.stopped
    cluster.run(120)
    assert by_definition(cluster) == {"web:2": 2}


def test_desired_3_maximum_125_cannot_start(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=3, maximum=125, minimum=50)
    cluster.state.update_service("web", task_definition="web:2")
    outcome = first_pass(cluster)
    assert not outcome.started and len(outcome.stopped) == 1  # ⌈1.5⌉ = 2 must stay healthy
    cluster.run(200)
    assert by_definition(cluster) == {"web:2": 3}


def test_desired_3_maximum_125_minimum_100_is_stuck_and_says_so(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=3, maximum=125, minimum=100)
    cluster.state.update_service("web", task_definition="web:2")
    cluster.run(10)
    assert by_definition(cluster) == {"web:1": 3}
    assert service(cluster).events[0].message == messages.deployment_stuck("web")


# -- the circuit breaker -------------------------------------------------------------------


@pytest.mark.parametrize(("desired", "threshold"), [(0, 3), (1, 3), (6, 3), (7, 4), (25, 13), (400, 200), (1000, 200)])
def test_circuit_breaker_threshold_is_half_the_desired_count_between_3_and_200(desired: int, threshold: int) -> None:
    assert circuit_breaker_threshold(desired) == threshold


def failing_service(desired: int, failed_before: int) -> tuple[ClusterState, Service]:
    """A service whose deployment counted ``failed_before`` failed tasks, and one more task that never started."""
    state = ClusterState("breaker", clock=lambda: START)
    state.register_container_instance("i-1", cpu=2048, memory=4096)
    state.register_task_definition(definition("web:1"))
    state.create_service(
        "web",
        "web:1",
        desired_count=desired,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    ServiceScheduler(state).reconcile_service("web")  # no agents: its tasks wait, PENDING
    task = next(state.snapshot().service_tasks("web"))
    state.submit_task_state_change(task.id, version=task.version, status="STOPPED", stop_code="TaskFailedToStart")
    record = state.snapshot().service("web")
    counted = attrs.evolve(record.deployments[0], failed_tasks=failed_before)
    state.commit([PutService(attrs.evolve(record, deployments=(counted,)), record.version)])
    return state, state.snapshot().service("web")


@pytest.mark.parametrize("desired", [1, 7, 25])
def test_the_circuit_breaker_trips_exactly_at_its_threshold(desired: int) -> None:
    threshold = circuit_breaker_threshold(desired)
    state, record = failing_service(desired, threshold - 2)
    primary = reconcile(state.snapshot(), record, START).service.deployments[0]
    assert (primary.rollout_state, primary.failed_tasks) == ("IN_PROGRESS", threshold - 1)
    state, record = failing_service(desired, threshold - 1)
    decision = reconcile(state.snapshot(), record, START)
    primary = decision.service.deployments[0]
    assert (primary.rollout_state, primary.failed_tasks) == ("FAILED", threshold)
    assert not decision.launches  # a FAILED deployment starts nothing more
    assert messages.circuit_breaker_tripped("web", primary.id) in [e.message for e in decision.service.events]


@pytest.mark.parametrize("desired", [1, 7])
def test_a_tripped_deployment_rolls_back_to_the_last_completed_one(desired: int) -> None:
    log = CommitLog()  # every version of the service record, to follow the deployment's count
    cluster = FakeCluster(instances=3, store=log)
    cluster.state.register_task_definition(definition("web:1"))
    cluster.state.create_service(
        "web",
        "web:1",
        desired_count=desired,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    cluster.run(45)
    good = service(cluster).deployments[0]
    cluster.state.register_task_definition(definition("broken:1"))
    cluster.fail_pull("broken:1")
    cluster.state.update_service("web", task_definition="web:2")
    cluster.run(300, 5.0)
    records = [e.service for c in log.take() for e in c.events if isinstance(e, ServiceChanged)]
    counts = [(d.failed_tasks, d.rollout_state) for r in records for d in r.deployments if d.task_definition == "web:2"]
    threshold = circuit_breaker_threshold(desired)
    assert all(failed < threshold for failed, state in counts if state == "IN_PROGRESS")
    assert all(failed == threshold for failed, state in counts if state == "FAILED")  # if a record shows it FAILED
    current = service(cluster)
    assert current.primary is not None and current.primary.id == good.id  # back to the COMPLETED one
    assert current.task_definition == "web:1" and current.primary.rollout_state == "COMPLETED"
    assert any("rolling back to deployment" in event.message for event in current.events)
    assert by_definition(cluster) == {"web:1": desired}
    cluster.close()


def test_a_failed_deployment_with_nothing_to_roll_back_to_stalls(cluster: FakeCluster) -> None:
    cluster.state.register_task_definition(definition("broken:1"))
    cluster.fail_pull("broken:1")
    cluster.state.create_service(
        "web",
        "web:3",
        desired_count=2,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    cluster.run(600, 5.0)
    current = service(cluster)
    assert current.deployments[0].rollout_state == "FAILED"
    assert current.deployments[0].failed_tasks == 3
    assert "until the service is updated" in " ".join(e.message for e in current.events)
    starts_before = sum("has started" in e.message for e in current.events)
    cluster.run(1800, 30.0)
    assert sum("has started" in e.message for e in service(cluster).events) == starts_before


# -- health --------------------------------------------------------------------------------


def checked_cluster(cluster: FakeCluster, *, grace: int = 0, maximum: int = 200) -> None:
    cluster.state.register_task_definition(definition("api:1", family="api", checked=True))
    cluster.state.create_service(
        "api",
        "api:1",
        desired_count=2,
        deployment_configuration={"maximumPercent": maximum, "minimumHealthyPercent": 100},
        health_check_grace_period_seconds=grace,
    )
    cluster.tick()  # placed
    cluster.tick()  # RUNNING, health UNKNOWN


def report_health(cluster: FakeCluster, health: str = "HEALTHY", only: set[str] | None = None) -> None:
    for task in cluster.service_tasks("api"):
        if task.last_status == "RUNNING" and (only is None or task.id in only):
            cluster.set_health(task, health)  # type: ignore[arg-type]


def test_an_unhealthy_task_is_replaced_start_first(cluster: FakeCluster) -> None:
    checked_cluster(cluster)
    report_health(cluster)
    cluster.run(3)
    sick = cluster.service_tasks("api")[0]
    cluster.set_health(sick, "UNHEALTHY")
    cluster.run(3)
    tasks = cluster.service_tasks("api")
    assert len(tasks) == 3 and cluster.state.snapshot().task(sick.id).desired_status == "RUNNING"  # replacement first
    report_health(cluster, only={t.id for t in tasks if t.id != sick.id and t.health_status != "HEALTHY"})
    cluster.run(3)
    stopped = cluster.state.snapshot().task(sick.id)
    assert stopped.desired_status == "STOPPED" and stopped.stopped_reason == UNHEALTHY_REASON
    assert stopped.stop_code == "ServiceSchedulerInitiated"
    assert len(cluster.service_tasks("api")) == 2


def test_with_no_room_above_unhealthy_tasks_stop_one_at_a_time(cluster: FakeCluster) -> None:
    checked_cluster(cluster, maximum=100)
    report_health(cluster)
    cluster.run(3)
    report_health(cluster, "UNHEALTHY")
    outcome = first_pass(cluster)
    assert len(outcome.stopped) == 1 and not outcome.started  # maximumPercent leaves no room to start first


def test_the_grace_period_ignores_unhealthy_reports(cluster: FakeCluster) -> None:
    checked_cluster(cluster, grace=60)
    report_health(cluster, "UNHEALTHY")
    outcomes = cluster.run(50)
    assert not any(o.started or o.stopped for o in outcomes)
    outcomes = cluster.run(15)
    assert any(o.started for o in outcomes)  # the grace period is over: replaced


def test_task_health_rules() -> None:
    running = Task(
        charge=Resources(cpu=256, memory=512),
        id="t-1",
        task_definition="web:1",
        container_instance_id="i-1",
        last_status="RUNNING",
        created_at=START,
        started_at=START,
    )
    unchecked = {"checked": False, "grace_period": 0.0, "healthy_after": 40.0}
    assert task_health(running, now=START + 39.9, **unchecked) == (TaskHealth.STARTING, START + 40)  # type: ignore[arg-type]
    assert task_health(running, now=START + 40, **unchecked) == (TaskHealth.HEALTHY, None)  # type: ignore[arg-type]
    unhealthy = Task(**{**_fields(running), "health_status": "UNHEALTHY"})
    graced = {"checked": True, "grace_period": 30.0, "healthy_after": 40.0}
    assert task_health(unhealthy, now=START + 10, **graced) == (TaskHealth.STARTING, START + 30)  # type: ignore[arg-type]
    assert task_health(unhealthy, now=START + 30, **graced)[0] is TaskHealth.UNHEALTHY  # type: ignore[arg-type]
    unknown = Task(**{**_fields(running), "health_status": "UNKNOWN"})
    assert task_health(unknown, now=START + 1000, **graced)[0] is TaskHealth.STARTING  # type: ignore[arg-type]


def _fields(task: Task) -> dict[str, Any]:
    return attrs.asdict(task, recurse=False)


def test_tasks_without_a_health_check_count_healthy_after_40_seconds(cluster: FakeCluster) -> None:
    cluster.state.create_service("web", "web:1", desired_count=2)
    cluster.run(39)
    assert service(cluster).deployments[0].rollout_state == "IN_PROGRESS"
    cluster.run(3)
    assert service(cluster).deployments[0].rollout_state == "COMPLETED"
    assert service(cluster).events[0].message == "(service web) has reached a steady state."


# -- launch throttling -----------------------------------------------------------------------


def test_launch_back_off_grows_to_15_minutes_and_an_update_resets_it(cluster: FakeCluster) -> None:
    cluster.state.register_task_definition(definition("broken:1"))
    cluster.fail_pull("broken:1")
    cluster.state.create_service("web", "web:3", desired_count=1)
    current = service(cluster)
    gaps: list[float] = []
    seen = 0.0
    for _ in range(2000):
        passed_at = cluster.clock.now
        cluster.tick(5.0)
        current = service(cluster)
        if current.next_launch_at != seen:
            seen = current.next_launch_at
            gaps.append(current.next_launch_at - passed_at)
        if current.launch_failures >= 12:
            break
    assert gaps[:4] == [10, 20, 40, 80] and max(gaps) == 900 and gaps[-2:] == [900, 900], gaps  # doubling, ≤ 15 min
    assert service(cluster).next_launch_at - cluster.clock.now <= 900
    assert any(e.message == "(service web) is unable to consistently start tasks successfully." for e in current.events)
    cluster.state.update_service("web", task_definition="web:1")
    assert service(cluster).launch_failures == 0 and service(cluster).next_launch_at == 0
    outcome = first_pass(cluster)
    assert len(outcome.started) == 1  # at once, not 15 minutes later


# -- draining ----------------------------------------------------------------------------------


def test_pending_tasks_on_a_draining_instance_stop_at_once() -> None:
    state = ClusterState("drain", clock=lambda: START)
    for name in ("i-1", "i-2"):
        state.register_container_instance(name, cpu=2048, memory=4096)
    state.register_task_definition(definition("web:1"))
    state.create_service("web", "web:1", desired_count=2, placement_strategy=[{"type": "binpack", "field": "memory"}])
    scheduler = ServiceScheduler(state)
    scheduler.reconcile_service("web")  # no agents: the tasks stay PENDING
    on = {task.container_instance_id for task in state.snapshot().service_tasks("web")}
    assert len(on) == 1
    drained = on.pop()
    state.update_container_instances_state([drained], "DRAINING")
    decision = reconcile(state.snapshot(), state.snapshot().service("web"), START)
    assert {stop.reason for stop in decision.stops} == {DRAINING_REASON} and len(decision.stops) == 2
    # their replacements start in the same pass: they still count toward ⌊2 · 200%⌋ = 4 until STOPPED
    assert sum(launch.count for launch in decision.launches) == 2


def test_running_tasks_on_a_draining_instance_are_replaced_first_with_minimum_100(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=3, maximum=200, minimum=100)
    drained = cluster.service_tasks("web")[0].container_instance_id
    leaving = [t.id for t in cluster.service_tasks("web") if t.container_instance_id == drained]
    cluster.drain(drained)
    outcome = first_pass(cluster)
    assert len(outcome.started) == len(leaving) and not outcome.stopped
    cluster.run(30)
    assert all(cluster.state.snapshot().task(t).desired_status == "RUNNING" for t in leaving)  # not healthy yet
    cluster.run(20)
    assert all(cluster.state.snapshot().task(t).is_stopped for t in leaving)
    assert all(t.container_instance_id != drained for t in cluster.service_tasks("web"))
    assert len(cluster.service_tasks("web")) == 3


def test_standalone_tasks_on_a_draining_instance_are_left_alone(cluster: FakeCluster) -> None:
    standalone = cluster.state.start_task("web:1", ["i-0000"]).tasks[0]
    cluster.drain("i-0000")
    cluster.run(120)
    found = cluster.state.snapshot().task(standalone.id)
    assert found.last_status == "RUNNING" and found.desired_status == "RUNNING"


# -- daemons -------------------------------------------------------------------------------------


def daemon_cluster(cluster: FakeCluster, **options: Any) -> None:
    cluster.state.register_task_definition(definition("agent:1", family="agent"))
    cluster.state.create_service("agent", "agent", scheduling_strategy="DAEMON", **options)
    cluster.run(3)


def daemon_hosts(cluster: FakeCluster) -> list[str]:
    return sorted(t.container_instance_id for t in cluster.service_tasks("agent") if t.desired_status == "RUNNING")


def test_a_daemon_runs_once_on_every_instance_and_comes_to_a_new_one(cluster: FakeCluster) -> None:
    daemon_cluster(cluster)
    assert daemon_hosts(cluster) == ["i-0000", "i-0001", "i-0002"]
    config = service(cluster, "agent").deployment_configuration
    assert (config.maximum_percent, config.minimum_healthy_percent) == (100, 0)
    added = cluster.add_instance()
    cluster.run(3)
    assert daemon_hosts(cluster) == ["i-0000", "i-0001", "i-0002", added]


def test_a_daemon_leaves_an_instance_that_stops_meeting_its_constraint(cluster: FakeCluster) -> None:
    daemon_cluster(cluster, placement_constraints=[{"type": "memberOf", "expression": "attribute:role != edge"}])
    cluster.state.put_attributes("i-0001", {"role": "edge"})
    cluster.run(3)
    assert daemon_hosts(cluster) == ["i-0000", "i-0002"]
    cluster.state.delete_attributes("i-0001", ["role"])
    cluster.run(3)
    assert daemon_hosts(cluster) == ["i-0000", "i-0001", "i-0002"]


def test_a_daemon_is_never_placed_on_a_draining_instance_and_is_the_last_to_leave_it(cluster: FakeCluster) -> None:
    daemon_cluster(cluster)
    cluster.state.create_service("web", "web:1", desired_count=3)
    cluster.run(45)
    drained = "i-0000"
    cluster.drain(drained)
    cluster.run(5)
    assert drained in daemon_hosts(cluster)  # the service's task is still being replaced
    cluster.run(60)
    assert not list(cluster.state.snapshot().tasks_on(drained))
    assert daemon_hosts(cluster) == ["i-0001", "i-0002"]
    cluster.run(60)
    assert daemon_hosts(cluster) == ["i-0001", "i-0002"]  # never placed back while DRAINING


# -- deleting and describing ---------------------------------------------------------------------


def test_delete_service_with_force_drains_then_goes_inactive(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=3, maximum=200, minimum=100)
    with pytest.raises(ValidationError):
        cluster.state.delete_service("web")  # a desired count of 3: scale to 0 first, or force
    assert cluster.state.delete_service("web", force=True).status == "DRAINING"
    cluster.tick()
    assert service(cluster).status == "DRAINING"  # its tasks are stopping
    cluster.run(3)
    assert service(cluster).status == "INACTIVE" and not cluster.service_tasks("web")
    with pytest.raises(ValidationError):
        cluster.state.update_service("web", desired_count=1)


def test_describe_services_reports_unknown_names_as_missing(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=2, maximum=200, minimum=100)
    described = cluster.state.describe_services(["web", "nope"]).to_ecs()
    assert [s["serviceName"] for s in described["services"]] == ["web"]
    assert described["services"][0]["runningCount"] == 2
    assert described["failures"] == [{"arn": "arn:aws:ecs:local:000000000000:service/sim/nope", "reason": "MISSING"}]


# -- events ----------------------------------------------------------------------------------------


def test_service_events_suppress_duplicates_and_keep_the_newest_100() -> None:
    record = Service("web", "web:1")
    record = add_events(record, ["a", "a", "b", "b", "a"], START)
    assert [e.message for e in record.events] == ["a", "b", "a"]  # newest first, repeats dropped
    record = add_events(record, [f"event {n}" for n in range(150)], START)
    assert len(record.events) == MAX_SERVICE_EVENTS == 100
    assert record.events[0].message == "event 149" and record.events[-1].message == "event 50"


def test_a_steady_service_logs_its_steady_state_once(cluster: FakeCluster) -> None:
    healthy_service(cluster, desired=2, maximum=200, minimum=100)
    cluster.run(300)
    messages_ = [e.message for e in service(cluster).events]
    assert messages_.count("(service web) has reached a steady state.") == 1


def test_during_a_rolling_deployment_a_failed_task_is_replaced_with_its_own_revision(cluster: FakeCluster) -> None:
    cluster.state.create_service(
        "web",
        "web:1",
        desired_count=3,
        deployment_configuration={
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": True, "rollback": False},
        },
    )
    cluster.run(45)
    cluster.state.register_task_definition(definition("broken:1"))
    cluster.fail_pull("broken:1")
    cluster.state.update_service("web", task_definition="web:3")
    cluster.run(120, 5.0)
    assert service(cluster).deployments[0].rollout_state == "FAILED"  # stalled: rollback is off
    assert by_definition(cluster) == {"web:1": 3}
    cluster.crash(cluster.service_tasks("web")[0])
    cluster.run(300, 5.0)  # once the launch back-off of the failed deployment's launches has passed
    assert by_definition(cluster) == {"web:1": 3}  # the older deployment's own revision
