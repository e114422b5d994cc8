"""DockerExecutor and the agent on a real engine: ports, limits, health, crashes, dependsOn, stops, logs."""

from __future__ import annotations

import time
from typing import Any

import docker
import pytest

from clusterkit import Agent, ClusterState
from clusterkit.errors import ExecutorError, NotFoundError
from clusterkit.executor import TaskObservation
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_CONTAINER, LABEL_TASK, DockerExecutor
from clusterkit.logs import LogStore
from tests.conftest import loopback
from tests.docker.conftest import container_definition, executor_for, fetch, running, settle, stopped

HTTPD = ["httpd", "-f", "-v", "-p", "80", "-h", "/www"]


def launch(state: ClusterState, cluster: str, definition: dict[str, Any], **agent_options: Any) -> tuple[Agent, str]:
    """Register engine 1 as an instance, run one task of ``definition``; returns the agent and the task id."""
    agent = Agent.register(state, executor_for(cluster), **agent_options)
    state.register_task_definition(definition)
    task = state.run_task(definition["family"]).tasks[0]
    return agent, task.id


def test_httpd_with_a_dynamic_port_answers_at_the_port_recorded_in_the_task(state: ClusterState, cluster: str) -> None:
    logs = LogStore()
    web = {
        "family": "web",
        "containerDefinitions": [container_definition(command=HTTPD, portMappings=[{"containerPort": 80}])],
    }
    agent, task_id = launch(state, cluster, web, log_store=logs)
    task = settle(agent, task_id, running)
    assert task.last_status == "RUNNING"
    (binding,) = task.host_ports
    assert 49153 <= binding.host_port <= 65535  # the default dynamic range
    assert "clusterkit" in fetch(loopback(2), binding.host_port)
    agent.step()  # collects the access log line into the store
    lines = logs.query(task_id=task_id, container="app", contains="response:200")
    assert lines and all(line.task_id == task_id for line in lines)
    assert logs.query(task_id=task_id, until=lines[0].at - 3600) == []


def test_limits_environment_command_labels_and_health_check_are_what_docker_inspect_reports(
    state: ClusterState, cluster: str, engine1: docker.APIClient
) -> None:
    health = {"command": ["CMD-SHELL", "true"], "interval": 7, "timeout": 3, "retries": 4, "startPeriod": 2}
    app = container_definition(
        cpu=300,
        memory=96,
        memoryReservation=48,
        environment=[{"name": "GREETING", "value": "hello"}],
        entryPoint=["sh", "-c"],
        command=["trap 'exit 0' TERM; sleep 600 & wait"],
        healthCheck=health,
        dockerLabels={"team": "payments"},
    )
    agent, task_id = launch(state, cluster, {"family": "limits", "containerDefinitions": [app]})
    settle(agent, task_id, running)
    (listed,) = engine1.containers(filters={"label": f"{LABEL_TASK}={task_id}"})
    info = engine1.inspect_container(listed["Id"])
    host = info["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"], host["CpuShares"]) == (96 * 2**20, 48 * 2**20, 300)
    assert "GREETING=hello" in info["Config"]["Env"]
    assert info["Config"]["Entrypoint"] == ["sh", "-c"]
    assert info["Config"]["Cmd"] == ["trap 'exit 0' TERM; sleep 600 & wait"]
    labels = info["Config"]["Labels"]
    assert (labels[LABEL_CLUSTER], labels[LABEL_TASK], labels[LABEL_CONTAINER], labels["team"]) == (
        cluster,
        task_id,
        "app",
        "payments",
    )
    check = info["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD-SHELL", "true"]
    assert (check["Interval"], check["Timeout"], check["StartPeriod"]) == (7 * 10**9, 3 * 10**9, 2 * 10**9)
    assert check["Retries"] == 4
    assert info["Config"]["StopTimeout"] == 2


def test_a_crashing_container_stops_the_task_with_its_exit_code(state: ClusterState, cluster: str) -> None:
    crash = {
        "family": "crash",
        "containerDefinitions": [container_definition(command=["sh", "-c", "sleep 0.3; exit 3"])],
    }
    agent, task_id = launch(state, cluster, crash)
    task = settle(agent, task_id, stopped)
    assert task.stop_code == "EssentialContainerExited"
    assert task.stopped_reason is not None and "exit code 3" in task.stopped_reason
    assert (
        state.snapshot().instance(agent.instance_id).remaining
        == state.snapshot().instance(agent.instance_id).registered
    )


def test_the_agent_removes_a_stopped_tasks_containers_after_the_cleanup_wait(
    state: ClusterState, cluster: str, engine1: docker.APIClient
) -> None:
    crash = {"family": "brief", "containerDefinitions": [container_definition(command=["sh", "-c", "exit 4"])]}
    agent, task_id = launch(state, cluster, crash, cleanup_wait=1)
    settle(agent, task_id, stopped)
    label = {"label": f"{LABEL_TASK}={task_id}"}
    (exited,) = engine1.containers(all=True, filters=label)  # kept at first, to inspect
    assert exited["State"] == "exited"
    deadline = time.monotonic() + 30
    while engine1.containers(all=True, filters=label) and time.monotonic() < deadline:
        time.sleep(0.3)
        agent.step()
    assert engine1.containers(all=True, filters=label) == []
    assert state.snapshot().task(task_id).last_status == "STOPPED"  # the task's record stays


def test_a_failing_health_check_is_reported_unhealthy(state: ClusterState, cluster: str) -> None:
    sick = container_definition(
        command=["sleep", "600"],
        healthCheck={"command": ["CMD-SHELL", "exit 1"], "interval": 5, "retries": 1, "timeout": 2},
    )
    agent, task_id = launch(state, cluster, {"family": "sick", "containerDefinitions": [sick]})
    task = settle(agent, task_id, lambda t: t.health_status != "UNKNOWN", timeout=40)
    assert (task.last_status, task.health_status) == ("RUNNING", "UNHEALTHY")


def test_depends_on_orders_the_starts_and_a_failed_success_dependency_fails_the_task(
    state: ClusterState, cluster: str, engine1: docker.APIClient
) -> None:
    init = container_definition("init", essential=False, command=["sh", "-c", "sleep 0.5"])
    db = container_definition(
        "db",
        command=["sh", "-c", "touch /tmp/ready; trap 'exit 0' TERM; sleep 600 & wait"],
        healthCheck={"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "retries": 1, "timeout": 2},
        dependsOn=[{"containerName": "init", "condition": "SUCCESS"}],
    )
    app = container_definition(
        "app", command=["sleep", "600"], dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]
    )
    agent, task_id = launch(state, cluster, {"family": "ordered", "containerDefinitions": [app, db, init]})
    settle(agent, task_id, running, timeout=40)
    started = {}
    for listed in engine1.containers(all=True, filters={"label": f"{LABEL_TASK}={task_id}"}):
        info = engine1.inspect_container(listed["Id"])
        started[info["Config"]["Labels"][LABEL_CONTAINER]] = (info["State"]["StartedAt"], info["State"]["FinishedAt"])
    assert started["init"][1] < started["db"][0] < started["app"][0]  # init finished before db started, …

    failing_init = container_definition("init", essential=False, command=["sh", "-c", "exit 4"])
    state.register_task_definition({"family": "broken", "containerDefinitions": [db, failing_init]})
    broken = state.run_task("broken").tasks[0]
    task = settle(agent, broken.id, stopped)
    assert task.stop_code == "TaskFailedToStart"
    assert task.stopped_reason is not None and "needs init to succeed, it exited 4" in task.stopped_reason
    assert engine1.containers(all=True, filters={"label": f"{LABEL_TASK}={broken.id}"}) == []  # cleaned up


def test_stop_sends_sigterm_then_sigkill_after_the_timeout(state: ClusterState, cluster: str) -> None:
    polite = container_definition("polite", command=["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"])
    stubborn = container_definition("stubborn", command=HTTPD, stopTimeout=1)  # PID 1 ignores SIGTERM
    agent, task_id = launch(state, cluster, {"family": "stops", "containerDefinitions": [polite, stubborn]})
    settle(agent, task_id, running)
    began = time.monotonic()
    observed = agent.executor.stop(task_id, timeout=20)
    elapsed = time.monotonic() - began
    codes = {c.name: c.exit_code for c in observed.containers}
    assert codes == {"polite": 0, "stubborn": 137}  # 137 = 128 + SIGKILL
    assert 1.0 <= elapsed < 10, elapsed  # the stubborn one waited its own stopTimeout, not 20 s


def test_network_modes_host_and_none(state: ClusterState, cluster: str, engine1: docker.APIClient) -> None:
    agent = Agent.register(state, executor_for(cluster))
    for mode in ("host", "none"):
        app = container_definition(command=["sleep", "600"])
        state.register_task_definition({"family": mode, "networkMode": mode, "containerDefinitions": [app]})
        task = state.run_task(mode).tasks[0]
        settle(agent, task.id, running)
        (listed,) = engine1.containers(filters={"label": f"{LABEL_TASK}={task.id}"})
        assert engine1.inspect_container(listed["Id"])["HostConfig"]["NetworkMode"] == mode


def test_awsvpc_is_refused_with_a_clear_reason(state: ClusterState, cluster: str) -> None:
    app = container_definition(command=["sleep", "600"])
    agent, task_id = launch(state, cluster, {"family": "vpc", "networkMode": "awsvpc", "containerDefinitions": [app]})
    task = settle(agent, task_id, stopped)
    assert task.stop_code == "TaskFailedToStart"
    assert task.stopped_reason is not None and "awsvpc" in task.stopped_reason


def test_a_missing_image_fails_to_start_and_unknown_tasks_are_not_found(state: ClusterState, cluster: str) -> None:
    app = container_definition(image="clusterkit/no-such-image:1")
    agent, task_id = launch(state, cluster, {"family": "ghost", "containerDefinitions": [app]})
    task = settle(agent, task_id, stopped)
    assert task.stop_code == "TaskFailedToStart"
    assert task.stopped_reason is not None and task.stopped_reason.startswith("CannotPullContainerError")
    with pytest.raises(NotFoundError):
        agent.executor.inspect("no-such-task")


def test_an_unreachable_engine_raises_executor_errors_naming_it(cluster: str) -> None:
    executor = executor_for(cluster, "unix:///run/clusterkit-no-such-engine.sock")
    with pytest.raises(ExecutorError) as caught:
        executor.tasks()
    assert "unreachable" in caught.value.reason
    assert isinstance(caught.value.__cause__, Exception)  # raise … from the docker-py error


def test_logs_since_a_time_return_only_newer_lines(state: ClusterState, cluster: str) -> None:
    talker = container_definition(command=["sh", "-c", "echo one; sleep 1.5; echo two; sleep 600"])
    agent, task_id = launch(state, cluster, {"family": "talker", "containerDefinitions": [talker]})
    settle(agent, task_id, running)
    deadline = time.monotonic() + 10
    while len(lines := agent.executor.logs(task_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [line.text for line in lines] == ["one", "two"]
    assert [line.text for line in agent.executor.logs(task_id, since=lines[0].at)] == ["two"]
    assert agent.executor.logs(task_id, container="other") == []


def test_complete_waits_for_any_exit_and_an_out_of_memory_kill_is_named(state: ClusterState, cluster: str) -> None:
    init = container_definition("init", essential=False, command=["sh", "-c", "sleep 0.3; exit 5"])
    hog = container_definition(
        "hog",
        memory=8,
        command=["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); sleep 600"],
        dependsOn=[{"containerName": "init", "condition": "COMPLETE"}],
    )
    agent, task_id = launch(state, cluster, {"family": "hog", "containerDefinitions": [hog, init]})
    task = settle(agent, task_id, stopped)
    assert task.stop_code == "EssentialContainerExited"  # it started: COMPLETE accepts exit code 5
    assert task.stopped_reason is not None
    assert "hog (exit code 137)" in task.stopped_reason and "OutOfMemoryError" in task.stopped_reason


def test_starting_a_started_task_again_adopts_its_containers_and_reruns_nothing(
    state: ClusterState, cluster: str, engine1: docker.APIClient
) -> None:
    init = container_definition("init", essential=False, command=["true"])
    app = container_definition(
        "app", command=["sleep", "600"], dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]
    )
    agent, task_id = launch(state, cluster, {"family": "twice", "containerDefinitions": [app, init]})
    settle(agent, task_id, running)

    def started() -> dict[str, str]:
        listed = engine1.containers(all=True, filters={"label": f"{LABEL_TASK}={task_id}"})
        return {c["Labels"][LABEL_CONTAINER]: engine1.inspect_container(c["Id"])["State"]["StartedAt"] for c in listed}

    before = started()
    snapshot = state.snapshot()
    task = snapshot.task(task_id)
    observed = agent.executor.start(task, snapshot.task_definition(task.task_definition))
    assert observed.last_status == "RUNNING"
    assert started() == before  # same two containers, neither started again


def test_the_agent_inspects_quiet_tasks_only_when_the_engine_reports_events(
    state: ClusterState, cluster: str, engine1: docker.APIClient
) -> None:
    sleeper = container_definition(command=["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"])
    agent, task_id = launch(
        state, cluster, {"family": "quiet", "containerDefinitions": [sleeper]}, resync_interval=3600
    )
    other = state.run_task("quiet").tasks[0]
    settle(agent, task_id, running)
    settle(agent, other.id, running)
    executor = agent.executor
    assert isinstance(executor, DockerExecutor)  # launch's executor_for made it
    inspected: list[str] = []
    inspect = executor.inspect

    def counting(task_id: str) -> TaskObservation:
        inspected.append(task_id)
        return inspect(task_id)

    executor.inspect = counting  # type: ignore[method-assign]
    for _ in range(3):
        agent.step()
        time.sleep(0.2)
    assert inspected.count(task_id) <= 1 and inspected.count(other.id) <= 1  # then quiet: no more calls
    before = len(inspected)
    agent.step()
    assert len(inspected) == before

    (listed,) = engine1.containers(filters={"label": f"{LABEL_TASK}={task_id}"})
    engine1.kill(listed["Id"], signal="SIGKILL")  # behind the agent's back: only the event tells
    task = settle(agent, task_id, stopped, timeout=10)
    assert task.stopped_reason is not None and "exit code 137" in task.stopped_reason
    assert other.id not in inspected[before:]  # the other task stayed quiet
    executor.close()
    assert executor.changed() is None  # closed: it can no longer tell


def test_usage_reads_cpu_and_memory_from_the_engines_stats(state: ClusterState, cluster: str) -> None:
    """A spinning shell uses about a core; a container that wrote 20 MiB to its tmpfs uses at least that."""
    busy = container_definition(
        "busy", cpu=256, entryPoint=["sh", "-c"], command=["while :; do :; done"], stopTimeout=1
    )
    fill = "head -c 20971520 /dev/zero > /dev/shm/fill; echo filled; sleep 3600"  # tmpfs: memory, not reclaimable
    holder = container_definition("holder", entryPoint=["sh", "-c"], command=[fill], memory=64, stopTimeout=1)
    agent, task_id = launch(state, cluster, {"family": "usage", "containerDefinitions": [busy, holder]})
    settle(agent, task_id, running)
    deadline = time.monotonic() + 20
    while not any("filled" in line.text for line in agent.executor.logs(task_id, "holder")):
        assert time.monotonic() < deadline, "the holder never filled its memory"
        time.sleep(0.2)
    usage = agent.executor.usage(task_id)
    assert usage is not None
    assert 0.5 < usage.cpu_cores < 2.5  # one spinning core (less if other tests share the machine)
    assert 20 <= usage.memory_mib < 120
    state.stop_task(task_id)
    settle(agent, task_id, stopped)
    assert agent.executor.usage(task_id) is None
    with pytest.raises(NotFoundError):
        agent.executor.usage("no-such-task")
