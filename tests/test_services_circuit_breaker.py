"""The deployment circuit breaker, in memory: what counts as a failed task, and what a failure shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clusterkit import ClusterState
from clusterkit.state import ServiceChanged
from clusterkit.testing import FakeCluster

HEALTH = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1, "timeout": 2}
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def web(image: str) -> dict[str, Any]:
    app = {"name": "app", "image": image, "memory": 32, "portMappings": [{"containerPort": 80}], "healthCheck": HEALTH}
    return {"family": "web", "containerDefinitions": [app]}


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    """Two hosts; the web service, 3 tasks of web:1, healthy and its deployment COMPLETED."""
    cluster = FakeCluster(instances=2)
    cluster.state.register_task_definition(web("good"))
    cluster.state.create_service("web", "web:1", desired_count=3, deployment_configuration=BREAKER)
    for _ in range(3):
        cluster.tick()
        make_healthy(cluster, "web:1")
    cluster.tick()
    assert cluster.state.snapshot().service("web").deployments[0].rollout_state == "COMPLETED"
    yield cluster
    cluster.close()


def make_healthy(cluster: FakeCluster, definition: str) -> None:
    for task in cluster.service_tasks("web"):
        if task.task_definition == definition and task.last_status == "RUNNING" and task.health_status != "HEALTHY":
            cluster.set_health(task, "HEALTHY")


def test_tasks_that_run_then_exit_before_they_are_ever_healthy_trip_the_breaker(cluster: FakeCluster) -> None:
    cluster.state.register_task_definition(web("crashes-after-start"))
    bad = cluster.state.update_service("web", task_definition="web:2").deployments[0]
    for _ in range(10):
        cluster.tick()
        for task in cluster.service_tasks("web"):
            if task.task_definition == "web:2" and task.last_status == "RUNNING":
                cluster.crash(task)  # it reached RUNNING, its container exits before its health check passes
    service = cluster.state.snapshot().service("web")
    assert service.task_definition == "web:1"  # rolled back, not replacing crashing tasks for ever
    assert [d.task_definition for d in service.deployments] == ["web:1"]
    messages = [event.message for event in service.events]
    assert f"(service web) (deployment {bad.id}) deployment failed: tasks failed to start." in messages
    started = [m for m in messages if m.startswith("(service web) has started")]
    assert len(started) <= 3  # the initial 3, then a few bad launches: it stopped launching


def test_a_task_that_was_healthy_then_exited_does_not_count_as_failed(cluster: FakeCluster) -> None:
    for _ in range(4):  # more crashes than the threshold (3), each of a task that had been healthy
        (task, *_) = cluster.service_tasks("web")
        cluster.crash(task)
        for _ in range(3):
            cluster.tick()
            make_healthy(cluster, "web:1")
    service = cluster.state.snapshot().service("web")
    assert (service.deployments[0].rollout_state, service.deployments[0].failed_tasks) == ("COMPLETED", 0)
    assert len(cluster.service_tasks("web")) == 3


def test_a_failed_deployment_is_committed_as_failed_before_the_rollback_completes(cluster: FakeCluster) -> None:
    cluster.state.register_task_definition(web("no-such-image"))
    cluster.fail_pull("no-such-image")
    with cluster.state.subscribe() as events:
        bad = cluster.state.update_service("web", task_definition="web:2").deployments[0]
        for _ in range(6):
            cluster.tick()  # the 3 launches fail together; the next pass trips the breaker
        records = [e.service for e in events.drain() if isinstance(e, ServiceChanged)]
    states = [d.rollout_state for record in records for d in record.deployments if d.id == bad.id]
    assert "FAILED" in states  # a subscriber, and describe_services meanwhile, saw the deployment fail
    failed = next(d for r in records for d in r.deployments if d.id == bad.id and d.rollout_state == "FAILED")
    assert failed.rollout_state_reason == "ECS deployment circuit breaker: tasks failed to start."
    assert failed.status == "ACTIVE"
    service = cluster.state.snapshot().service("web")
    assert [(d.task_definition, d.rollout_state) for d in service.deployments] == [("web:1", "COMPLETED")]
    assert len(cluster.service_tasks("web")) == 3


def test_a_task_reported_healthy_that_exits_before_the_next_pass_does_not_count(cluster: FakeCluster) -> None:
    cluster.state.register_task_definition(web("v2"))
    cluster.state.update_service("web", task_definition="web:2")
    cluster.tick()  # the scheduler launches 3 tasks of web:2, the agents start them
    task = next(t for t in cluster.service_tasks("web") if t.task_definition == "web:2")
    agent = cluster.agents[task.container_instance_id]
    cluster.set_health(task, "HEALTHY")
    agent.step()  # reports it HEALTHY …
    cluster.crash(task)
    agent.step()  # … and STOPPED, before the service scheduler looked again
    cluster.tick()
    primary = cluster.state.snapshot().service("web").deployments[0]
    assert (primary.task_definition, primary.failed_tasks) == ("web:2", 0)


def test_a_scale_down_that_brings_the_threshold_to_the_failures_so_far_trips_the_breaker() -> None:
    import attrs

    from clusterkit.services import reconcile
    from clusterkit.state import PutService

    state = ClusterState("breaker", clock=lambda: 1_000.0)
    state.register_container_instance("i-1", cpu=2048, memory=4096)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 128}]}
    )
    service = state.create_service(
        "web", "web", desired_count=8, deployment_configuration={"deploymentCircuitBreaker": {"enable": True}}
    )
    counted = attrs.evolve(service, deployments=(attrs.evolve(service.deployments[0], failed_tasks=3),))
    assert state.commit([PutService(counted, service.version)]).ok  # 3 failures: under 8's threshold of 4
    state.update_service("web", desired_count=3)  # the threshold is 3 now
    snapshot = state.snapshot()
    decision = reconcile(snapshot, snapshot.service("web"), 1_000.0)
    primary = decision.service.deployments[0]
    assert (primary.rollout_state, primary.failed_tasks) == ("FAILED", 3)
    assert decision.launches == ()
