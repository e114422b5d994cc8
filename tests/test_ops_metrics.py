"""The processes' metrics: the hooks fill them from the components' own results; /metrics and /healthz answer."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clusterkit import Agent, ClusterState, FakeExecutor
from clusterkit.ops import Metrics, MetricsServer, NotLeadingError
from clusterkit.services import ServiceScheduler
from clusterkit.testing import SimulatedClock


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics.exposition().decode()).get((name, tuple(sorted(labels.items()))), 0.0)


def web(state: ClusterState) -> None:
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 128}]}
    )


def test_placements_failures_passes_commits_and_services_below_desired() -> None:
    clock = SimulatedClock()
    state = ClusterState("m", clock=clock)
    web(state)
    state.register_container_instance("i-1", cpu=1024, memory=300)
    state.create_service("svc", "web", desired_count=3)  # room for two
    metrics = Metrics()
    metrics.watch_commits(state)
    metrics.watch_services(state)
    scheduler = ServiceScheduler(state)
    metrics.count_passes(scheduler, "service_scheduler")
    commits_before = value(metrics, "clusterkit_commits_total")
    outcomes = scheduler.step()
    assert sum(len(outcome.started) for outcome in outcomes) == 2
    assert value(metrics, "clusterkit_placements_total") == 2
    assert value(metrics, "clusterkit_placement_failures_total", reason="no_room") == 1
    assert value(metrics, "clusterkit_reconcile_passes_total", component="service_scheduler") == 1
    assert value(metrics, "clusterkit_reconcile_seconds_count", component="service_scheduler") == 1
    assert value(metrics, "clusterkit_commits_total") > commits_before
    assert value(metrics, "clusterkit_commit_seconds_count") == value(metrics, "clusterkit_commits_total")
    assert value(metrics, "clusterkit_services_below_desired") == 1  # two PENDING, none RUNNING


def test_agent_task_starts_and_their_time() -> None:
    clock = SimulatedClock()
    state = ClusterState("m", clock=clock)
    web(state)
    agent = Agent.register(state, FakeExecutor(clock=clock), instance_id="i-1")
    metrics = Metrics()
    metrics.count_passes(agent, "agent")
    task = state.run_task("web").tasks[0]
    clock.advance(3)
    for _ in range(5):
        agent.step()
        if state.snapshot().task(task.id).last_status == "RUNNING":
            break
    assert value(metrics, "clusterkit_agent_task_starts_total") == 1
    assert value(metrics, "clusterkit_agent_task_start_seconds_sum") >= 3.0
    assert value(metrics, "clusterkit_reconcile_passes_total", component="agent") >= 1


def test_a_guard_fences_commits_and_they_are_counted_apart_from_etcd_errors() -> None:
    state = ClusterState("m")
    web(state)
    metrics = Metrics()
    leading = [True]

    def guard() -> None:
        if not leading[0]:
            raise NotLeadingError("not leading")

    metrics.watch_commits(state, guard=guard)
    state.register_container_instance("i-1", cpu=1024, memory=1024)
    leading[0] = False
    version = state.snapshot().version
    with pytest.raises(NotLeadingError):
        state.run_task("web")
    assert state.snapshot().version == version  # nothing written
    assert value(metrics, "clusterkit_commits_fenced_total") == 1
    scheduler = ServiceScheduler(state)
    state_commit = state.commit
    metrics.count_passes(scheduler, "service_scheduler")
    leading[0] = True
    state.create_service("svc", "web", desired_count=1)
    leading[0] = False
    with pytest.raises(NotLeadingError):
        scheduler.step()
    assert state.commit is state_commit
    assert value(metrics, "clusterkit_etcd_errors_total", component="service_scheduler") == 0
    assert value(metrics, "clusterkit_reconcile_passes_total", component="service_scheduler") == 1


def test_the_server_answers_metrics_and_health() -> None:
    metrics = Metrics()
    metrics.lead(True)
    problem: list[str | None] = [None]
    server = MetricsServer(metrics, "127.0.0.1", 0, lambda: problem[0])
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain")
            scraped = samples(answer.read().decode())
        assert scraped[("clusterkit_leader", ())] == 1.0
        assert scraped[("clusterkit_leader_changes_total", ())] == 1.0
        with urllib.request.urlopen(base + "/healthz", timeout=5) as answer:
            assert answer.status == 200 and answer.read() == b"ok\n"
        problem[0] = "the engine does not answer"
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert raised.value.code == 503 and raised.value.read() == b"the engine does not answer\n"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base + "/nothing", timeout=5)
        assert missing.value.code == 404
    finally:
        server.close()
