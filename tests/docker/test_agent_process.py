"""``clusterkit agent`` as a process on the real Docker engine and etcd: it registers, runs
what another process placed, is scraped, stops leaving its task running, and adopts its
container when started again.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from clusterkit import ClusterState, FakeExecutor
from clusterkit.liveness import LivenessMonitor
from clusterkit.ops import AgentConfig, run_agent
from tests.conftest import ETCD_ENDPOINTS, loopback
from tests.docker.conftest import ENGINE1, container_definition, fetch
from tests.docker.test_engines import HTTPD, containers_of
from tests.etcd._ops import METRICS_PORT, running, scrape, spawn, wait_until

pytestmark = pytest.mark.etcd

HOST = loopback(33)


def agent_flags(prefix: str, cluster: str) -> list[str]:
    return [
        *("--etcd-prefix", prefix, "--cluster", cluster, "--docker-host", ENGINE1, "--host-ip", HOST),
        *("--instance-id", "i-agent", "--liveness-ttl", "2", "--interval", "0.5", "--attributes", "host=docker"),
        *("--image-pull-behavior", "prefer-cached", "--metrics-host", HOST, "--metrics-port", str(METRICS_PORT)),
    ]


def connected(state: ClusterState) -> bool:
    instances = {instance.id: instance for instance in state.snapshot().instances()}
    return "i-agent" in instances and instances["i-agent"].agent_connected


def test_the_agent_process_runs_a_task_placed_elsewhere_and_adopts_it_after_a_restart(
    scheduler: tuple[ClusterState, str], cluster: str, engine1: docker.APIClient, tmp_path: Path
) -> None:
    state, prefix = scheduler
    log = tmp_path / "agent.log"
    started = time.monotonic()
    with running([spawn("agent", log, *agent_flags(prefix, cluster))]) as processes:
        ready = wait_until(lambda: connected(state), 60)
        assert ready is not None, log.read_text()
        print(f"agent start to ready: {ready - started:.2f} s")
        instance = state.snapshot().instance("i-agent")
        assert instance.status == "ACTIVE" and instance.attribute("host") == "docker"
        assert instance.registered.memory > 0  # measured from the engine

        state.register_task_definition(
            {
                "family": "web",
                "containerDefinitions": [container_definition(command=HTTPD, portMappings=[{"containerPort": 80}])],
            }
        )
        task = state.run_task("web").tasks[0]
        assert task.container_instance_id == "i-agent"
        assert wait_until(lambda: state.snapshot().task(task.id).last_status == "RUNNING", 60), log.read_text()
        assert "clusterkit" in fetch(HOST, state.snapshot().task(task.id).host_ports[0].host_port)
        (container,) = containers_of(engine1, cluster, task.id, all=False)
        first_start = engine1.inspect_container(container["Id"])["State"]["StartedAt"]

        metrics = scrape(HOST)
        assert metrics["clusterkit_agent_task_starts_total"] == 1
        assert metrics["clusterkit_agent_task_start_seconds_count"] == 1
        assert metrics["clusterkit_commits_total"] >= 2  # registration, reports
        assert metrics["clusterkit_reconcile_passes_total{component=agent}"] >= 1
        with urllib.request.urlopen(f"http://{HOST}:{METRICS_PORT}/healthz", timeout=5) as answer:
            assert answer.read() == b"ok\n"

        processes[0].terminate()  # SIGTERM: stop, leaving the task running
        assert processes[0].wait(timeout=30) == 0, log.read_text()
        assert len(containers_of(engine1, cluster, task.id, all=False)) == 1
        assert state.snapshot().task(task.id).last_status == "RUNNING"
        assert wait_until(lambda: LivenessMonitor(state).step() == ["i-agent"], 10)  # its lease was given up
        assert not state.snapshot().instance("i-agent").agent_connected

        processes.append(spawn("agent", log, *agent_flags(prefix, cluster)))  # the same instance id
        assert wait_until(lambda: connected(state), 60), log.read_text()
        time.sleep(2.0)  # a few passes of the restarted agent
        (again,) = containers_of(engine1, cluster, task.id, all=True)  # adopted: no second container
        assert again["Id"] == container["Id"]
        inspected = engine1.inspect_container(again["Id"])
        assert inspected["State"]["StartedAt"] == first_start and inspected["State"]["Running"]  # not restarted
        assert state.snapshot().task(task.id).last_status == "RUNNING"
        assert [i.id for i in state.snapshot().instances()] == ["i-agent"]  # no second registration
        assert scrape(HOST).get("clusterkit_agent_task_starts_total") == 0  # it started nothing

        state.stop_task(task.id, reason="done")
        assert wait_until(lambda: state.snapshot().task(task.id).last_status == "STOPPED", 60)
        assert containers_of(engine1, cluster, task.id, all=False) == []


def test_drain_on_stop_sets_the_instance_draining_and_waits_for_its_tasks(scheduler: tuple[ClusterState, str]) -> None:
    state, prefix = scheduler
    config = AgentConfig(
        cluster=state.cluster_name,
        etcd_endpoints=ETCD_ENDPOINTS,
        etcd_prefix=prefix,
        instance_id="i-drain",
        liveness_ttl=2,
        interval=0.2,
        drain_on_stop=True,
        drain_timeout=30.0,
    )
    stop, started = threading.Event(), threading.Event()
    returned: list[object] = []
    thread = threading.Thread(
        target=lambda: returned.append(run_agent(config, stop, executor=FakeExecutor(), started=started)), daemon=True
    )
    thread.start()
    try:
        assert started.wait(30)
        state.register_task_definition({"family": "job", "containerDefinitions": [container_definition()]})
        assert wait_until(lambda: connected_to(state, "i-drain"), 10)
        task = state.run_task("job").tasks[0]
        assert wait_until(lambda: state.snapshot().task(task.id).last_status == "RUNNING", 10)
        stop.set()  # SIGTERM, with --drain-on-stop
        assert wait_until(lambda: state.snapshot().instance("i-drain").status == "DRAINING", 10)
        time.sleep(1.0)
        assert thread.is_alive()  # waiting for its task
        state.stop_task(task.id)  # what the service scheduler would do for a service's task
        thread.join(timeout=10)
        assert not thread.is_alive() and returned
        assert state.snapshot().task(task.id).last_status == "STOPPED"  # the agent stopped it before leaving
    finally:
        stop.set()
        thread.join(timeout=40)


def connected_to(state: ClusterState, instance_id: str) -> bool:
    instances = {instance.id: instance for instance in state.snapshot().instances()}
    return instance_id in instances and instances[instance_id].agent_connected
