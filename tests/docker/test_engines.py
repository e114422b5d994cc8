"""Several engines: each placement lands on its own host; agents restart and engines stop and come back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from clusterkit import Agent, ClusterState
from clusterkit.executor import RegistryCredentials
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_TASK, DockerExecutor
from clusterkit.placement import spread
from tests.conftest import engine_numbers, loopback, require_service
from tests.docker.conftest import (
    ENGINE1,
    ENGINE2,
    container_definition,
    executor_for,
    fetch,
    running,
    settle,
    stopped,
)

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/www"]
WEB = {
    "family": "web",
    "containerDefinitions": [container_definition(command=HTTPD, portMappings=[{"containerPort": 80}])],
}
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


def containers_of(client: docker.APIClient, cluster: str, task_id: str, *, all: bool = True) -> list[dict[str, str]]:
    labels = [f"{LABEL_CLUSTER}={cluster}", f"{LABEL_TASK}={task_id}"]
    listed: list[dict[str, str]] = client.containers(all=all, filters={"label": labels})
    return listed


def test_each_placement_lands_on_its_own_engine_and_agents_keep_to_their_own(
    state: ClusterState, cluster: str, engine1: docker.APIClient, engine2: docker.APIClient
) -> None:
    hosts = {
        "a": (
            Agent.register(state, executor_for(cluster, ENGINE1, host_ip=loopback(2)), attributes={"host": "a"}),
            engine1,
        ),
        "b": (
            Agent.register(state, executor_for(cluster, ENGINE2, host_ip=loopback(3)), attributes={"host": "b"}),
            engine2,
        ),
    }
    address = {hosts["a"][0].instance_id: loopback(2), hosts["b"][0].instance_id: loopback(3)}
    engine_of = {agent.instance_id: engine for agent, engine in hosts.values()}
    state.register_task_definition(WEB)
    tasks = state.run_task("web", count=4, placement_strategy=[spread("instanceId")]).tasks
    agents = tuple(agent for agent, _ in hosts.values())
    for task in tasks:
        settle(agents[0], task.id, running, others=agents[1:])
    ports_by_instance: dict[str, set[int]] = {}
    for task in tasks:
        own = engine_of[task.container_instance_id]
        other = engine2 if own is engine1 else engine1
        assert len(containers_of(own, cluster, task.id)) == 1
        assert containers_of(other, cluster, task.id) == []
        port = task.host_ports[0].host_port
        ports_by_instance.setdefault(task.container_instance_id, set()).add(port)
        assert "clusterkit" in fetch(address[task.container_instance_id], port)
    # Each host has its own loopback address, so both hand out the first dynamic port.
    assert all(49153 in ports for ports in ports_by_instance.values()) and len(ports_by_instance) == 2

    agent_a, agent_b = agents
    on_b = next(t for t in tasks if t.container_instance_id == agent_b.instance_id)
    state.stop_task(on_b.id)
    for _ in range(3):
        agent_a.step()  # a's agent sees a task stopped, but not on its instance: it leaves it alone
    assert len(containers_of(engine2, cluster, on_b.id, all=False)) == 1
    settle(agent_b, on_b.id, stopped)
    assert containers_of(engine2, cluster, on_b.id, all=False) == []


def test_a_restarted_agent_reconciles_from_container_labels(
    state: ClusterState, cluster: str, engine1: docker.APIClient
) -> None:
    first = Agent.register(state, executor_for(cluster))
    state.register_task_definition({"family": "svc", "containerDefinitions": [container_definition(command=SLEEPER)]})
    kept, dropped = state.run_task("svc", count=2).tasks
    for task in (kept, dropped):
        settle(first, task.id, running)
    del first  # the agent dies; its containers live on

    state.stop_task(dropped.id, reason="scaled in while the agent was down")
    late = state.run_task("svc").tasks[0]  # placed while the agent was down: PENDING
    orphan = engine1.create_container(
        "clusterkit/busybox:latest", SLEEPER, labels={LABEL_CLUSTER: cluster, LABEL_TASK: "not-a-task-of-the-state"}
    )
    engine1.start(orphan["Id"])

    second = Agent.register(state, executor_for(cluster), instance_id=kept.container_instance_id)
    assert second.instance_id == kept.container_instance_id  # taken over, not registered again
    settle(second, late.id, running)
    settle(second, dropped.id, stopped)
    second.step()
    assert len(containers_of(engine1, cluster, kept.id)) == 1  # no duplicate
    assert len(containers_of(engine1, cluster, late.id)) == 1
    assert containers_of(engine1, cluster, dropped.id, all=False) == []
    assert engine1.inspect_container(orphan["Id"])["State"]["Running"] is False  # the orphan was stopped
    snapshot = state.snapshot()
    statuses = {t.id: t.last_status for t in snapshot.tasks_on(second.instance_id)}
    assert statuses == {kept.id: "RUNNING", late.id: "RUNNING"}  # nothing left PENDING
    assert snapshot.task(dropped.id).stop_code == "UserInitiated"


class Engine:
    """A throwaway Docker engine of the test's own, which it may stop and start again."""

    def __init__(self, name: str, bridge: str, cidr: str) -> None:
        self.socket = f"/run/clusterkit-{name}.sock"
        self.url = f"unix://{self.socket}"
        self.root = Path(f"/var/lib/clusterkit-{name}")
        self.exec_root = Path(f"/run/clusterkit-{name}")
        self.bridge, self.cidr = bridge, cidr
        self.log = Path(f"/tmp/clusterkit-{name}.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", self.cidr, "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        command = [
            "dockerd",
            f"--data-root={self.root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.exec_root}.pid",
            f"--host={self.url}",
            f"--bridge={self.bridge}",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        client = docker.APIClient(base_url=self.url, version="1.41", timeout=10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except Exception:
                time.sleep(0.2)
        raise AssertionError(f"the engine did not start; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)
        self.process = None


@pytest.fixture
def throwaway_engine(engine1: docker.APIClient) -> Iterator[Engine]:
    require_service(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root and dockerd, to run an engine")
    (number,) = engine_numbers(3, 1)  # this copy's own: two copies of the suite never share it
    engine = Engine(f"engine{number}", f"ckbr{number}", f"172.29.{number}.1/24")
    engine.start()
    try:
        yield engine
    finally:
        if engine.process is None:
            engine.start()  # to remove what the test left
        client = docker.APIClient(base_url=engine.url, version="1.41", timeout=30)
        for container in client.containers(all=True):
            client.remove_container(container["Id"], force=True, v=True)
        engine.stop()


def test_an_engine_stopped_mid_launch_fails_the_launches_clearly_and_the_agent_recovers(
    state: ClusterState, cluster: str, registry: dict[str, str], throwaway_engine: Engine
) -> None:
    credentials = RegistryCredentials({registry["address"]: registry})
    image = f"{registry['address']}/clusterkit/busybox:latest"
    executor = DockerExecutor(throwaway_engine.url, cluster=cluster, host_ip=loopback(4), credentials=credentials)
    agent = Agent.register(state, executor)
    db = container_definition(
        "db",
        image=image,
        command=SLEEPER,
        healthCheck={"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1, "timeout": 2, "startPeriod": 0},
    )
    app = container_definition(
        "app", image=image, command=SLEEPER, dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]
    )
    state.register_task_definition({"family": "slow", "containerDefinitions": [db, app]})
    state.register_task_definition(
        {"family": "quick", "containerDefinitions": [container_definition(image=image, command=SLEEPER)]}
    )
    launching = state.run_task("slow").tasks[0]
    step = threading.Thread(target=agent.step)
    step.start()  # pulls, starts db, then waits for it to be HEALTHY (about 5 s)
    deadline = time.monotonic() + 30
    while not executor.tasks() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert executor.tasks() == (launching.id,)  # the launch is under way
    throwaway_engine.stop()
    step.join(timeout=60)
    assert not step.is_alive()
    queued = state.run_task("quick").tasks[0]  # placed before the agent noticed
    agent.step()

    snapshot = state.snapshot()
    for task_id in (launching.id, queued.id):
        task = snapshot.task(task_id)
        assert (task.last_status, task.stop_code) == ("STOPPED", "TaskFailedToStart")
        assert task.stopped_reason
    launch_reason = snapshot.task(launching.id).stopped_reason or ""
    assert "unreachable" in launch_reason or "DependencyFailed: app needs db HEALTHY" in launch_reason
    assert "unreachable" in (snapshot.task(queued.id).stopped_reason or "")
    assert snapshot.instance(agent.instance_id).agent_connected is False
    assert agent.engine_error is not None and "unreachable" in agent.engine_error
    assert state.run_task("quick").tasks == ()  # no placements on a host whose engine is away

    throwaway_engine.start()
    agent.step()
    assert agent.engine_error is None
    assert state.snapshot().instance(agent.instance_id).agent_connected is True
    after = state.run_task("quick").tasks[0]
    settle(agent, after.id, running)
    live = docker.APIClient(base_url=throwaway_engine.url, version="1.41").containers(
        filters={"label": f"{LABEL_CLUSTER}={cluster}"}
    )
    assert [c["Labels"][LABEL_TASK] for c in live] == [after.id]  # nothing of the failed launches runs
    assert all(t.last_status != "PENDING" for t in state.snapshot().tasks_on(agent.instance_id))
