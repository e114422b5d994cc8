"""A scheduler process and an agent process on the real Docker engine, sharing one cluster through etcd.

Needs both services: the Docker engines (this folder) and the etcd cluster.
"""

from __future__ import annotations

import multiprocessing
import time

import docker
import pytest

from clusterkit import ClusterState, Event, Subscription, TaskChanged
from clusterkit.liveness import LivenessMonitor
from tests.conftest import ETCD_ENDPOINTS, loopback
from tests.docker.conftest import ENGINE1, IMAGE, container_definition, fetch
from tests.docker.test_engines import HTTPD, containers_of
from tests.etcd import _workers

pytestmark = pytest.mark.etcd

HOST_IP = loopback(5)


def wait_for(events: Subscription, task_id: str, status: str, seen: list[Event], timeout: float = 60) -> TaskChanged:
    """The first TaskChanged event of ``task_id`` reaching ``status``, read from ``events``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = events.get(timeout=max(0.0, deadline - time.monotonic()))
        if event is None:
            break
        seen.append(event)
        if isinstance(event, TaskChanged) and event.task.id == task_id and event.task.last_status == status:
            return event
    pytest.fail(f"no event of task {task_id} reaching {status} in {timeout}s; saw {seen[-5:]}")


def test_an_agent_process_on_docker_runs_what_a_scheduler_process_placed_and_reports_back_as_events(
    scheduler: tuple[ClusterState, str], cluster: str, engine1: docker.APIClient
) -> None:
    state, prefix = scheduler
    events = state.subscribe()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    agent = context.Process(
        target=_workers.docker_agent, args=(ETCD_ENDPOINTS, prefix, cluster, ENGINE1, HOST_IP, "i-docker", ready)
    )
    agent.start()
    try:
        assert ready.wait(60), "the agent process did not register"
        deadline = time.monotonic() + 10
        while not state.snapshot().instances() and time.monotonic() < deadline:
            time.sleep(0.05)
        instance = state.snapshot().instance("i-docker")
        assert instance.attribute("host") == "docker" and instance.agent_connected
        assert instance.registered.memory > 0  # the engine's host, as the agent process saw it
        assert LivenessMonitor(state).step() == []  # the agent holds its lease

        state.register_task_definition(
            {
                "family": "web",
                "containerDefinitions": [container_definition(command=HTTPD, portMappings=[{"containerPort": 80}])],
            }
        )
        task = state.run_task("web").tasks[0]
        assert task.container_instance_id == "i-docker"
        seen: list[Event] = []
        started = wait_for(events, task.id, "RUNNING", seen)
        assert started.task.version > task.version  # reported by the agent process, with the task's version
        assert len(containers_of(engine1, cluster, task.id, all=False)) == 1
        assert "clusterkit" in fetch(HOST_IP, task.host_ports[0].host_port)
        assert engine1.inspect_image(IMAGE)  # type: ignore[no-untyped-call]  # docker-py's low-level API is untyped

        state.stop_task(task.id, reason="done")
        stopped = wait_for(events, task.id, "STOPPED", seen)
        assert stopped.task.stop_code == "UserInitiated" and stopped.task.stopped_reason == "done"
        assert containers_of(engine1, cluster, task.id, all=False) == []
        versions = [event.version for event in seen]
        assert versions == sorted(versions)  # events in revision order
        assert state.snapshot().instance("i-docker").remaining == instance.remaining  # freed
    finally:
        events.close()
        agent.kill()
        agent.join(timeout=10)
