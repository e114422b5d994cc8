"""A service behind the real HAProxy, on the two real engines: no request fails while it scales,
rolls to a new revision, and loses a container.

busybox httpd tasks (each serving its own task id) run on engine 1 and engine 2, their
dynamic ports published on loopback addresses of their own; a ``ServiceScheduler``, one
``Agent`` per engine and a ``LoadBalancerController`` run as threads in wall-clock time,
as a deployment runs them. HAProxy's ``tests`` backend (frontend 127.0.0.1:18080) is kept
in step through its runtime API. A client thread sends about 20 requests a second through
HAProxy and counts every failure.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from clusterkit import Agent, ClusterState
from clusterkit.balancing import HAProxyRuntime, LoadBalancerController, TargetGroup
from clusterkit.executor.docker import LABEL_TASK
from clusterkit.services import ServiceScheduler
from clusterkit.state import Snapshot
from tests.conftest import HAPROXY_FRONTENDS, loopback
from tests.docker.conftest import ENGINE1, ENGINE2, container_definition, executor_for

pytestmark = pytest.mark.slow

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tests/0000000000000001"
GROUP = TargetGroup(ARN, "tests", interval=0.5, healthy_threshold=2, unhealthy_threshold=2, deregistration_delay=3.0)
URL = f"http://127.0.0.1:{HAPROXY_FRONTENDS['tests']}/"
# Loopback addresses of these tests' own, so their dynamic ports never meet other tests'.
HOSTS = (("zone-a", ENGINE1, loopback(22)), ("zone-b", ENGINE2, loopback(23)))
SERVE = 'mkdir -p /tmp/www && echo "$VERSION $(hostname)" > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www'


def web(version: str) -> dict[str, Any]:
    """busybox httpd serving ``version`` and its container's hostname."""
    app = container_definition(
        entryPoint=["sh", "-c"],
        command=[SERVE],
        environment=[{"name": "VERSION", "value": version}],
        portMappings=[{"containerPort": 80}],
        stopTimeout=2,
    )
    return {"family": "web", "containerDefinitions": [app]}


class Client:
    """Requests through HAProxy at ~20/s in a thread: answers and failures counted."""

    def __init__(self) -> None:
        self.answers: dict[str, int] = {}
        self.failures: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lb-client", daemon=True)

    def __enter__(self) -> Client:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.05) and self.sent < 20_000:
            self.sent += 1
            try:
                with urllib.request.urlopen(URL, timeout=5) as response:
                    body = response.read().decode().strip()
                    self.answers[body] = self.answers.get(body, 0) + 1
            except Exception as error:  # every failure counts, whatever it is
                self.failures.append(f"{time.strftime('%X')} {error!r}")


class Deployment:
    """The state, one agent per engine, the service scheduler and the LB controller, as threads."""

    def __init__(self, state: ClusterState, cluster: str, haproxy: HAProxyRuntime) -> None:
        self.state = state
        self.agents = [
            Agent.register(state, executor_for(cluster, url, host_ip=ip), attributes={"ecs.availability-zone": zone})
            for zone, url, ip in HOSTS
        ]
        self.haproxy = haproxy
        self.scheduler = ServiceScheduler(state, resync_interval=2.0)
        self.controller = LoadBalancerController(state, haproxy, [GROUP], poll_interval=0.25)
        self._stop = threading.Event()
        self._controller_stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.scheduler.run, args=(self._stop,), kwargs={"interval": 0.5}, daemon=True),
            *(threading.Thread(target=a.run, kwargs={"interval": 0.5}, daemon=True) for a in self.agents),
        ]
        self._controller_thread = self._start_controller()
        for thread in self._threads:
            thread.start()

    def _start_controller(self) -> threading.Thread:
        self._controller_stop = threading.Event()
        thread = threading.Thread(target=self.controller.run, args=(self._controller_stop,), daemon=True)
        thread.start()
        return thread

    def restart_controller(self) -> None:
        """Stop the controller thread and start a new controller, which remembers nothing."""
        self._controller_stop.set()
        self._controller_thread.join(10)
        self.controller = LoadBalancerController(self.state, self.haproxy, [GROUP], poll_interval=0.25)
        self._controller_thread = self._start_controller()

    def close(self) -> None:
        self._stop.set()
        self._controller_stop.set()
        for agent in self.agents:
            agent.close()
        for thread in [*self._threads, self._controller_thread]:
            thread.join(10)
        for agent in self.agents:
            agent.executor.close()  # type: ignore[attr-defined]

    def until(self, condition: Callable[[Snapshot], bool], what: str, timeout: float = 60.0) -> Snapshot:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.state.snapshot()
            if condition(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                service = snapshot.service("web")
                tasks = [(t.id[:8], t.last_status, t.target_health) for t in self.tasks(snapshot)]
                events = [e.message for e in service.events[:8]]
                pytest.fail(f"{what}: not within {timeout:g}s; tasks {tasks}; events {events}")
            time.sleep(0.2)

    @staticmethod
    def tasks(snapshot: Snapshot) -> list[Any]:
        return list(snapshot.service_tasks_holding(snapshot.service("web")))

    def steady(self, definition: str, count: int) -> Callable[[Snapshot], bool]:
        """``count`` tasks of ``definition`` registered and healthy, nothing else, HAProxy matching."""

        def holds(snapshot: Snapshot) -> bool:
            tasks = self.tasks(snapshot)
            healthy = [
                t
                for t in tasks
                if t.task_definition == definition
                and t.last_status == "RUNNING"
                and [(e.target_group_arn, e.state) for e in t.target_health] == [(ARN, "healthy")]
            ]
            if len(healthy) != count or len(tasks) != count:
                return False
            servers = self.haproxy.servers("tests")
            return sorted(servers) == sorted(t.id for t in tasks) and all(s.up for s in servers.values())

        return holds


@pytest.fixture
def deployment(state: ClusterState, cluster: str, haproxy: HAProxyRuntime) -> Iterator[Deployment]:
    made = Deployment(state, cluster, haproxy)
    yield made
    made.close()


def test_no_request_fails_while_the_service_scales_rolls_and_heals(
    deployment: Deployment, engine1: docker.APIClient, engine2: docker.APIClient
) -> None:
    state = deployment.state
    state.register_task_definition(web("v1"))
    state.create_service(
        "web",
        "web:1",
        desired_count=2,
        load_balancers=[{"targetGroupArn": ARN, "containerName": "app", "containerPort": 80}],
        health_check_grace_period_seconds=5,
    )
    deployment.until(deployment.steady("web:1", 2), "2 healthy targets")
    with Client() as client:
        time.sleep(1)
        state.update_service("web", desired_count=6)
        deployment.until(deployment.steady("web:1", 6), "scaled out to 6")
        state.update_service("web", desired_count=2)
        deployment.until(deployment.steady("web:1", 2), "scaled in to 2")
        state.register_task_definition(web("v2"))
        state.update_service("web", task_definition="web:2")
        deployment.until(deployment.steady("web:2", 2), "rolled to web:2")
        victim = deployment.tasks(state.snapshot())[0]
        pairs = zip(deployment.agents, (engine1, engine2), strict=True)
        engines = {agent.instance_id: engine for agent, engine in pairs}
        engine = engines[victim.container_instance_id]
        for container in engine.containers(filters={"label": f"{LABEL_TASK}={victim.id}"}):
            engine.kill(container["Id"])
        deployment.until(lambda s: s.task(victim.id).last_status == "STOPPED", "the killed task stopped")
        snapshot = deployment.until(deployment.steady("web:2", 2), "healed with a new target")
        assert victim.id not in {t.id for t in deployment.tasks(snapshot)}
        time.sleep(1)
    print(f"requests through HAProxy: {client.sent} sent, {len(client.failures)} failed")  # the closing-note figure
    assert client.failures == [], f"{len(client.failures)} of {client.sent} failed: {client.failures[:5]}"
    assert client.sent > 100
    assert any(body.startswith("v1 ") for body in client.answers)
    assert any(body.startswith("v2 ") for body in client.answers)
    events = [event.message for event in state.snapshot().service("web").events]
    assert any(m.startswith("(service web) registered ") and m.endswith(f"(target-group {ARN})") for m in events)
    assert any(m.startswith("(service web) has begun draining connections on ") for m in events)
    assert any(m.startswith("(service web) deregistered ") and m.endswith(f"(target-group {ARN})") for m in events)


def test_a_new_controller_rebuilds_haproxy_from_the_state(deployment: Deployment) -> None:
    state = deployment.state
    state.register_task_definition(web("v1"))
    state.create_service(
        "web",
        "web:1",
        desired_count=2,
        load_balancers=[{"targetGroupArn": ARN, "containerName": "app", "containerPort": 80}],
    )
    deployment.until(deployment.steady("web:1", 2), "2 healthy targets")
    tasks = sorted(t.id for t in deployment.tasks(state.snapshot()))
    deployment.restart_controller()
    deployment.haproxy.delete("tests", tasks[0])  # what a restarted HAProxy forgot
    deployment.until(lambda s: tasks[0] in deployment.haproxy.servers("tests"), "the server re-added")
    deployment.until(deployment.steady("web:1", 2), "healthy again")
    assert sorted(t.id for t in deployment.tasks(state.snapshot())) == tasks  # nothing replaced
