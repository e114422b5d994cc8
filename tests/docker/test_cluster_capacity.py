"""Cluster scaling on real engines: the Docker capacity provider starts and stops extra engines.

Engine 1's instance belongs to the capacity provider with a small shape (256 CPU units,
64 MiB: one 48 MiB task). A service of two such tasks leaves one waiting, so the
ClusterAutoscaler (1-second periods here) starts one more engine through
``scripts/services.sh engine-start N`` with an Agent of its own; the waiting task runs
there. When the service scales to zero the newest empty instance — the extra engine's —
is drained, deregistered and its engine stopped. Engines are numbered from 5 here, clear of
the throwaway engine3 of test_engines.py; they are stopped even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from clusterkit import Agent, ClusterState, Resources
from clusterkit.autoscaling import (
    CAPACITY_PROVIDER_ATTRIBUTE,
    CapacityProvider,
    ClusterAutoscaler,
    DockerEngineProvider,
    EngineScript,
)
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_TASK
from clusterkit.model import DEFAULT_RESERVED_PORTS
from clusterkit.services import ServiceScheduler
from tests.conftest import engine_numbers, require_service
from tests.docker.conftest import container_definition, executor_for

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
SHAPE = Resources(256, 64, DEFAULT_RESERVED_PORTS)


def _wait(what: str, done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.2)


@pytest.fixture
def provider() -> CapacityProvider:
    return CapacityProvider("docker", SHAPE, instance_warmup_period=5, minimum_size=1)


@pytest.fixture
def engines(state: ClusterState, cluster: str, provider: CapacityProvider) -> Iterator[DockerEngineProvider]:
    require_service(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root and dockerd, to start engines")
    made = DockerEngineProvider(
        state,
        provider,
        cluster=cluster,
        engines=EngineScript(ROOT / "scripts" / "services.sh"),
        numbers=engine_numbers(5, 4),
    )
    try:
        yield made
    finally:
        made.close()
        for number in made.numbers:  # whatever a failed launch may have left
            EngineScript(ROOT / "scripts" / "services.sh").stop(number)


@pytest.mark.slow
def test_waiting_tasks_start_an_engine_and_its_empty_engine_is_drained_and_stopped(
    state: ClusterState,
    cluster: str,
    engine1: docker.APIClient,
    provider: CapacityProvider,
    engines: DockerEngineProvider,
) -> None:
    executor = executor_for(cluster)
    host = executor.host()
    first = Agent.register(
        state,
        executor,
        reserved_cpu=host.cpus * 1024 - SHAPE.cpu,
        reserved_memory=host.memory_mib - SHAPE.memory,
        attributes={CAPACITY_PROVIDER_ATTRIBUTE: "docker"},
    )
    stop = threading.Event()
    scheduler = ServiceScheduler(state, resync_interval=2.0)
    autoscaler = ClusterAutoscaler(state, provider, engines, period=1.0, scale_in_periods=3)
    threads = [
        threading.Thread(target=first.run, kwargs={"interval": 0.5}, daemon=True),
        threading.Thread(target=scheduler.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True),
        threading.Thread(target=autoscaler.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        state.register_task_definition(
            {"family": "sleeper", "containerDefinitions": [container_definition(memory=48, command=SLEEPER)]}
        )
        state.create_service("web", "sleeper", desired_count=2)

        _wait("a scale-out", lambda: any(a.kind == "Launch" for a in autoscaler.activities))
        launch = next(a for a in autoscaler.activities if a.kind == "Launch")
        assert launch.status == "Successful", launch.cause
        assert (launch.from_count, launch.to_count) == (1, 2)
        (added,) = launch.instances
        number = engines.engine_of(added)
        extra = docker.APIClient(base_url=f"unix:///run/clusterkit-engine{number}.sock", version="1.41", timeout=30)

        def both_running() -> bool:
            tasks = list(state.snapshot().service_tasks("web"))
            return len(tasks) == 2 and all(t.last_status == "RUNNING" for t in tasks)

        _wait("both tasks RUNNING", both_running)
        on_extra = [t for t in state.snapshot().service_tasks("web") if t.container_instance_id == added]
        assert len(on_extra) == 1
        live = extra.containers(filters={"label": f"{LABEL_CLUSTER}={cluster}"})
        assert [c["Labels"][LABEL_TASK] for c in live] == [on_extra[0].id]  # it really runs on the new engine
        assert len([a for a in autoscaler.activities if a.kind == "Launch"]) == 1  # one engine was enough

        state.update_service("web", desired_count=0)
        _wait("the extra engine's termination", lambda: any(a.kind == "Terminate" for a in autoscaler.activities))
        kinds = [a.kind for a in autoscaler.activities]
        assert kinds == ["Launch", "Drain", "Terminate"]
        drain, terminate = autoscaler.activities[1:]
        assert drain.instances == terminate.instances == (added,)  # the newest empty one; engine 1 is the minimum
        assert terminate.status == "Successful", terminate.cause
        snapshot = state.snapshot()
        assert snapshot.instance(added).status == "INACTIVE"
        assert snapshot.instance(first.instance_id).status == "ACTIVE"
        assert engines.instances == {}
        assert not Path(f"/run/clusterkit-engine{number}.sock").exists()
        assert not Path(f"/run/clusterkit-engine{number}.pid").exists()
        with pytest.raises((docker.errors.DockerException, OSError)):  # requests.ConnectionError is an OSError
            extra.ping()
        assert all(t.stop_code == "ServiceSchedulerInitiated" for t in snapshot.service_tasks("web", "STOPPED"))
        script = EngineScript(ROOT / "scripts" / "services.sh")
        script.start(number)  # the engine comes back clean: its containers were removed before it stopped
        try:
            assert extra.containers(all=True, filters={"label": f"{LABEL_CLUSTER}={cluster}"}) == []
        finally:
            script.stop(number)
    finally:
        stop.set()
        first.close()
        for thread in threads:
            thread.join(timeout=30)
        autoscaler.close()
