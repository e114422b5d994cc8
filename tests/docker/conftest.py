"""Real Docker engines and a real private registry, as ``scripts/services.sh start`` leaves them.

Every test here talks to the real parts: engine 1 (the machine's engine), engine 2 (its
own data root, exec root, pid file, socket and bridge ``ckbr1``) and the htpasswd
registry on 127.0.0.1:5000. Without them the tests skip on a laptop and fail under CI=true.
Each test gets a cluster name of its own, so its containers carry labels no other test
shares, and they are removed afterwards on both engines.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from clusterkit import Agent, ClusterState, Task
from clusterkit.executor.docker import LABEL_CLUSTER, DockerExecutor
from clusterkit.state import EtcdStore
from tests.conftest import ETCD_ENDPOINTS, claimed_etcd, delete_prefix, etcd_available, loopback, require_service

ENGINE1 = "unix:///var/run/docker.sock"
ENGINE2 = "unix:///run/clusterkit-engine2.sock"
REGISTRY_FILE = Path("/run/clusterkit-services/registry.json")
IMAGE = "clusterkit/busybox:latest"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``docker`` (select or deselect them with ``-m``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.docker)


def _client(url: str) -> docker.APIClient | None:
    try:
        client = docker.APIClient(base_url=url, version="auto", timeout=30)
        client.ping()
        client.inspect_image(IMAGE)  # type: ignore[no-untyped-call]
    except Exception:
        return None
    return client


def _engine(url: str, name: str) -> docker.APIClient:
    client = _client(url)
    require_service(client is not None, f"Docker {name} at {url} with {IMAGE} (scripts/services.sh start)")
    assert client is not None
    return client


@pytest.fixture(scope="session")
def engine1() -> docker.APIClient:
    """A low-level client of engine 1, for checking what the executor did."""
    return _engine(ENGINE1, "engine 1")


@pytest.fixture(scope="session")
def engine2() -> docker.APIClient:
    """A low-level client of engine 2."""
    return _engine(ENGINE2, "engine 2")


@pytest.fixture(scope="session")
def registry() -> dict[str, str]:
    """The private registry's address and the credentials services.sh generated."""
    require_service(REGISTRY_FILE.exists(), f"the private registry (credentials in {REGISTRY_FILE})")
    entry: dict[str, str] = json.loads(REGISTRY_FILE.read_text())
    return entry


@pytest.fixture
def cluster(engine1: docker.APIClient, engine2: docker.APIClient) -> Iterator[str]:
    """A cluster name for this test only; its containers are removed from both engines afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    for client in (engine1, engine2):
        for container in client.containers(all=True, filters={"label": f"{LABEL_CLUSTER}={name}"}):
            client.remove_container(container["Id"], force=True, v=True)


@pytest.fixture
def scheduler(cluster: str) -> Iterator[tuple[ClusterState, str]]:
    """The scheduler process's state, on an etcd prefix of the test's own (deleted afterwards).
    Needs the etcd cluster too.
    """
    prefix = f"/clusterkit-tests/{uuid.uuid4().hex}"
    with claimed_etcd():  # first: a copy holding etcd alone may have members stopped meanwhile
        require_service(etcd_available(), "the etcd cluster (scripts/services.sh start)")
        store = EtcdStore(ETCD_ENDPOINTS, prefix=prefix)
        yield ClusterState(cluster, store=store), prefix
        store.close()
        delete_prefix(prefix + "/")


@pytest.fixture
def state(cluster: str) -> ClusterState:
    """A cluster state named like the test's cluster."""
    return ClusterState(cluster)


def executor_for(cluster: str, url: str = ENGINE1, **options: Any) -> DockerExecutor:
    """A DockerExecutor for the test's cluster on one engine (pulls only what is missing, by default)."""
    options.setdefault("pull_policy", "prefer-cached")
    options.setdefault("host_ip", loopback(2))
    return DockerExecutor(url, cluster=cluster, **options)


def container_definition(name: str = "app", **fields: Any) -> dict[str, Any]:
    """An ECS container definition on the local busybox image, overridable field by field."""
    return {"name": name, "image": IMAGE, "memory": 32, "stopTimeout": 2, **fields}


def settle(
    agent: Agent, task_id: str, done: Callable[[Task], bool], *, timeout: float = 30.0, others: tuple[Agent, ...] = ()
) -> Task:
    """Step the agent(s) until ``done(task)`` holds for the stored task; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        for each in (agent, *others):
            each.step()
        task = agent.state.snapshot().task(task_id)
        if done(task):
            return task
        if time.monotonic() > deadline:
            pytest.fail(f"task {task_id} did not settle in {timeout}s: {task}")
        time.sleep(0.2)


def fetch(address: str, port: int) -> str:
    """The page at ``http://address:port/``, retried for up to 5 s while the server starts ("" if never)."""
    for _ in range(50):
        try:
            return str(urllib.request.urlopen(f"http://{address}:{port}/", timeout=2).read().decode())
        except OSError:
            time.sleep(0.1)
    return ""


def running(task: Task) -> bool:
    """The task reached RUNNING (or went past it)."""
    return task.last_status in ("RUNNING", "STOPPED")


def stopped(task: Task) -> bool:
    """The task reached STOPPED."""
    return task.last_status == "STOPPED"
