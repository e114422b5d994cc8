"""The service scheduler on the two real engines: healing, rolling updates, the circuit breaker, draining.

A replica service of busybox httpd tasks runs on two hosts (engine 1 in zone-a, engine 2 in
zone-b, each publishing its dynamic ports on a loopback address of its own), driven in
wall-clock time by a ``ServiceScheduler`` and one ``Agent`` per engine. Each task serves the
``BODY`` of its task definition and has a container health check that fetches its own page,
so HEALTHY means serving. On SIGTERM the server keeps answering for a second before it
exits, as a well-behaved service finishes what it was asked while a load balancer stops
sending to it; a client that routes only to RUNNING, HEALTHY tasks not being stopped then
never hits a closed port.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from clusterkit import Agent, ClusterState, Task
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_TASK
from clusterkit.model import Deployment
from clusterkit.services import ServiceScheduler
from clusterkit.state import Snapshot
from tests.conftest import loopback
from tests.docker.conftest import ENGINE1, ENGINE2, container_definition, executor_for

ZONE = "ecs.availability-zone"
# Addresses of the service tests' own, so their dynamic ports never meet those of other tests.
HOSTS = (("zone-a", ENGINE1, loopback(12)), ("zone-b", ENGINE2, loopback(13)))
SERVE = (
    'mkdir -p /tmp/www && echo "$BODY" > /tmp/www/index.html'
    " && { httpd -f -p 80 -h /tmp/www & pid=$!; trap 'sleep 1; kill $pid; exit 0' TERM; wait; }"
)
HEALTH = {
    "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"],
    "interval": 5,
    "timeout": 2,
    "retries": 2,
    "startPeriod": 0,
}
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def web(body: str, command: str = SERVE) -> dict[str, Any]:
    """The web task definition: an httpd that serves ``body``, with a health check that fetches it."""
    app = container_definition(
        entryPoint=["sh", "-c"],
        command=[command],
        environment=[{"name": "BODY", "value": body}],
        portMappings=[{"containerPort": 80}],
        healthCheck=HEALTH,
        stopTimeout=5,
    )
    return {"family": "web", "containerDefinitions": [app]}


def get(address: str, port: int) -> str:
    """One GET, no retries: the body, stripped.

    A refused or reset connection fails at once; a slow answer is still an answer, so the timeout
    is generous: on a loaded two-core machine, restarting crashing containers can starve a healthy
    httpd for seconds.
    """
    with urllib.request.urlopen(f"http://{address}:{port}/", timeout=15) as response:
        return str(response.read().decode().strip())


class Hosts:
    """The state, one agent per engine, a service scheduler, and a loop that drives them."""

    def __init__(self, state: ClusterState, cluster: str, engines: dict[str, docker.APIClient]) -> None:
        self.state = state
        self.agents: list[Agent] = []
        self.address: dict[str, str] = {}  # instance id → the host address its ports are published on
        self.engine: dict[str, docker.APIClient] = {}  # instance id → its engine
        self.zone: dict[str, str] = {}
        for zone, url, host_ip in HOSTS:
            agent = Agent.register(state, executor_for(cluster, url, host_ip=host_ip), attributes={ZONE: zone})
            self.agents.append(agent)
            self.address[agent.instance_id] = host_ip
            self.engine[agent.instance_id] = engines[url]
            self.zone[zone] = agent.instance_id
        self.cluster = cluster
        self.scheduler = ServiceScheduler(state, resync_interval=5.0)
        self.events = state.subscribe()
        self.seen: dict[str, Deployment] = {}  # every deployment the loop saw, as last seen

    def close(self) -> None:
        self.events.close()
        for agent in self.agents:
            agent.close()
            agent.executor.close()  # type: ignore[attr-defined]

    def step(self) -> None:
        self.scheduler.notice(self.events.drain())
        self.scheduler.step()
        for agent in self.agents:
            agent.step()
        for name in ("web",):
            try:
                service = self.state.snapshot().service(name)
            except Exception:
                continue
            self.seen.update((deployment.id, deployment) for deployment in service.deployments)

    def until(self, condition: Callable[[Snapshot], bool], what: str, timeout: float = 45.0) -> Snapshot:
        """Drive scheduler and agents until ``condition`` holds for a snapshot; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.step()
            snapshot = self.state.snapshot()
            if condition(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                events = [e["message"] for e in self.describe()["events"][:10]]
                pytest.fail(f"{what}: not within {timeout:g}s; tasks {self.tasks(snapshot)}; events {events}")
            time.sleep(0.1)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.state.describe_services(["web"]).to_ecs()["services"][0]
        return described

    @staticmethod
    def tasks(snapshot: Snapshot) -> list[Task]:
        """The service's tasks that have not reached STOPPED."""
        return list(snapshot.service_tasks_holding(snapshot.service("web")))

    def serving(self, snapshot: Snapshot) -> list[Task]:
        """The tasks a client may route to: RUNNING, HEALTHY and not being stopped."""
        return [
            t
            for t in self.tasks(snapshot)
            if t.last_status == "RUNNING" and t.health_status == "HEALTHY" and t.desired_status == "RUNNING"
        ]

    def steady(self, definition: str, count: int = 3) -> Callable[[Snapshot], bool]:
        """``count`` tasks, all of ``definition``, all serving, and the service's only deployment COMPLETED."""

        def holds(snapshot: Snapshot) -> bool:
            service = snapshot.service("web")
            tasks = self.tasks(snapshot)
            return (
                len(service.deployments) == 1
                and service.deployments[0].rollout_state == "COMPLETED"
                and service.deployments[0].task_definition == definition
                and len(tasks) == count
                and all(t.task_definition == definition for t in tasks)
                and len(self.serving(snapshot)) == count
            )

        return holds

    def fetch(self, task: Task) -> str:
        return get(self.address[task.container_instance_id], task.host_ports[0].host_port)

    def container(self, task: Task) -> str:
        engine = self.engine[task.container_instance_id]
        labels = [f"{LABEL_CLUSTER}={self.cluster}", f"{LABEL_TASK}={task.id}"]
        (listed,) = engine.containers(filters={"label": labels})
        return str(listed["Id"])


class Prober:
    """A client in a thread: over and over, GET every task a client may route to, from a fresh snapshot.

    Bounded: at most ``limit`` requests and ``seconds`` of time, whichever comes first; each
    body must be the ``BODY`` of the task's own definition.
    """

    def __init__(self, hosts: Hosts, bodies: dict[str, str], *, limit: int = 3000, seconds: float = 60.0) -> None:
        self.hosts, self.bodies, self.limit, self.seconds = hosts, bodies, limit, seconds
        self.requests = 0
        self.failures: list[str] = []
        self.fewest = 10**6  # the fewest tasks there were to route to
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self._stop.is_set() and self.requests < self.limit and time.monotonic() < deadline:
            targets = self.hosts.serving(self.hosts.state.snapshot())
            self.fewest = min(self.fewest, len(targets))
            for task in targets:
                self.requests += 1
                try:
                    body = self.hosts.fetch(task)
                except OSError as error:
                    self.failures.append(f"{task.id} ({task.task_definition}): {error}")
                    continue
                if body != self.bodies[task.task_definition]:
                    self.failures.append(f"{task.id} ({task.task_definition}) answered {body!r}")
            self._stop.wait(0.05)


@pytest.fixture
def hosts(state: ClusterState, cluster: str, engine1: docker.APIClient, engine2: docker.APIClient) -> Iterator[Hosts]:
    """Two hosts in two zones, and the web service (3 tasks of web:1, BODY v1) up and serving."""
    hosts = Hosts(state, cluster, {ENGINE1: engine1, ENGINE2: engine2})
    try:
        state.register_task_definition(web("v1"))
        state.create_service("web", "web:1", desired_count=3, deployment_configuration=BREAKER)
        hosts.until(hosts.steady("web:1"), "3 tasks of web:1 serving")
        yield hosts
    finally:
        hosts.close()  # the cluster fixture then removes every container of the test from both engines


def test_the_service_spreads_over_zones_answers_on_recorded_ports_and_is_deleted(hosts: Hosts) -> None:
    snapshot = hosts.state.snapshot()
    tasks = hosts.tasks(snapshot)
    per_instance = sorted(sum(t.container_instance_id == i for t in tasks) for i in hosts.address)
    assert per_instance == [1, 2]  # three tasks over two zones
    for task in tasks:
        assert hosts.fetch(task) == "v1"
    service = hosts.describe()
    assert (service["runningCount"], service["pendingCount"], service["desiredCount"]) == (3, 0, 3)
    assert service["events"][0]["message"] == "(service web) has reached a steady state."

    hosts.state.update_service("web", desired_count=0)
    hosts.state.delete_service("web")
    snapshot = hosts.until(lambda s: s.service("web").status == "INACTIVE", "the deleted service gone", timeout=30)
    assert all(snapshot.task(t.id).stop_code == "ServiceSchedulerInitiated" for t in tasks)
    for instance_id, engine in hosts.engine.items():
        assert engine.containers(filters={"label": f"{LABEL_CLUSTER}={hosts.cluster}"}) == [], instance_id


def test_a_killed_container_is_replaced_and_the_replacement_answers_on_its_port(hosts: Hosts) -> None:
    before = {t.id: t for t in hosts.tasks(hosts.state.snapshot())}
    victim = sorted(before.values(), key=lambda t: t.id)[0]
    hosts.engine[victim.container_instance_id].kill(hosts.container(victim))  # SIGKILL, behind clusterkit's back

    snapshot = hosts.until(hosts.steady("web:1"), "a replacement serving", timeout=40)
    dead = snapshot.task(victim.id)
    assert (dead.last_status, dead.stop_code) == ("STOPPED", "EssentialContainerExited")
    assert dead.stopped_reason is not None and "exit code 137" in dead.stopped_reason
    (replacement,) = [t for t in hosts.tasks(snapshot) if t.id not in before]
    assert hosts.fetch(replacement) == "v1"  # at its own host address and recorded dynamic port
    assert {t.id for t in hosts.tasks(snapshot)} == before.keys() - {victim.id} | {replacement.id}
    messages = [e["message"] for e in hosts.describe()["events"]]
    assert any(replacement.id in m and "has started 1 tasks" in m for m in messages)


def test_a_rolling_update_keeps_every_request_answered(hosts: Hosts) -> None:
    old = {t.id for t in hosts.tasks(hosts.state.snapshot())}
    hosts.state.register_task_definition(web("v2"))
    with Prober(hosts, {"web:1": "v1", "web:2": "v2"}) as prober:
        time.sleep(0.5)  # a few rounds on the old tasks first
        hosts.state.update_service("web", task_definition="web:2")
        snapshot = hosts.until(hosts.steady("web:2"), "3 tasks of web:2 serving", timeout=60)
        time.sleep(0.5)
    assert prober.failures == [], prober.failures[:5]
    assert prober.requests >= 30  # it really asked, all along
    assert prober.fewest >= 3  # minimumHealthyPercent 100: never fewer than 3 to route to
    tasks = hosts.tasks(snapshot)
    assert not old & {t.id for t in tasks}
    assert [hosts.fetch(t) for t in tasks] == ["v2"] * 3
    for task_id in old:
        stopped = snapshot.task(task_id)
        assert (stopped.last_status, stopped.stop_code) == ("STOPPED", "ServiceSchedulerInitiated")
    (deployment,) = hosts.describe()["deployments"]
    assert deployment["taskDefinition"].endswith("task-definition/web:2")
    assert (deployment["rolloutState"], deployment["runningCount"]) == ("COMPLETED", 3)


@pytest.mark.parametrize(
    "crash",
    [
        "echo starting; exit 1",  # exits at once: most often seen going from PENDING straight to STOPPED
        "echo starting; sleep 1; exit 1",  # seen RUNNING first, then exits long before its health check passes
    ],
    ids=["exits-at-once", "exits-after-a-second"],
)
def test_a_definition_whose_container_exits_trips_the_circuit_breaker_and_rolls_back(hosts: Hosts, crash: str) -> None:
    good = hosts.state.snapshot().service("web").deployments[0]
    old = {t.id for t in hosts.tasks(hosts.state.snapshot())}
    hosts.state.register_task_definition(web("broken", command=crash))
    with Prober(hosts, {"web:1": "v1"}) as prober:
        bad = hosts.state.update_service("web", task_definition="web:2").deployments[0]
        hosts.until(
            lambda s: hosts.steady("web:1")(s) and s.service("web").deployments[0].id == good.id,
            "rolled back to web:1",
            timeout=60,
        )
    assert prober.failures == [], prober.failures[:5]
    assert prober.fewest >= 3
    failed = hosts.seen[bad.id]
    assert (failed.rollout_state, failed.rollout_state_reason) == (
        "FAILED",
        "ECS deployment circuit breaker: tasks failed to start.",
    )
    assert failed.failed_tasks >= 3
    snapshot = hosts.state.snapshot()
    assert {t.id for t in hosts.tasks(snapshot)} == old  # the old tasks served all along
    assert [hosts.fetch(t) for t in hosts.tasks(snapshot)] == ["v1"] * 3
    service = hosts.describe()
    assert service["taskDefinition"].endswith("task-definition/web:1")
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    messages = [e["message"] for e in service["events"]]
    assert f"(service web) (deployment {bad.id}) deployment failed: tasks failed to start." in messages
    assert f"(service web) rolling back to deployment {good.id} after deployment {bad.id} failed." in messages


def test_draining_a_host_moves_its_tasks_to_the_other(hosts: Hosts) -> None:
    snapshot = hosts.state.snapshot()
    drained = max(hosts.address, key=lambda i: sum(t.container_instance_id == i for t in hosts.tasks(snapshot)))
    (other,) = set(hosts.address) - {drained}
    with Prober(hosts, {"web:1": "v1"}) as prober:
        hosts.state.update_container_instances_state([drained], "DRAINING")
        snapshot = hosts.until(
            lambda s: hosts.steady("web:1")(s) and all(t.container_instance_id == other for t in hosts.tasks(s)),
            "every task moved off the draining host",
            timeout=60,
        )
    assert prober.failures == [], prober.failures[:5]
    assert prober.fewest >= 3
    assert list(snapshot.tasks_on(drained)) == []  # nothing left holding the drained instance
    assert [hosts.fetch(t) for t in hosts.tasks(snapshot)] == ["v1"] * 3
    assert {hosts.address[t.container_instance_id] for t in hosts.tasks(snapshot)} == {hosts.address[other]}
    assert hosts.engine[drained].containers(filters={"label": f"{LABEL_CLUSTER}={hosts.cluster}"}) == []
