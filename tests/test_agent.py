"""The host agent against FakeExecutor: start, crash, pull failure, stop, health, restart, orphans."""

from __future__ import annotations

import threading

import clusterkit
from clusterkit import ClusterState, FakeExecutor
from clusterkit.agent import Agent

WEB = {
    "family": "web",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "registry.local/web:1",
            "cpu": 256,
            "memory": 256,
            "healthCheck": {"command": ["CMD-SHELL", "true"]},
        },
    ],
}


def cluster() -> tuple[ClusterState, FakeExecutor, Agent]:
    state = ClusterState("agents")
    state.register_container_instance("i-1", cpu=1024, memory=1024)
    state.register_task_definition(WEB)
    executor = FakeExecutor()
    return state, executor, Agent(state, executor, "i-1")


def test_a_placed_task_is_started_and_reported_running() -> None:
    state, executor, agent = cluster()
    task = state.run_task("web").tasks[0]
    reported = agent.step()
    assert [t.id for t in reported] == [task.id]
    stored = state.snapshot().task(task.id)
    assert (stored.last_status, stored.version) == ("RUNNING", 2)
    assert agent.step() == []  # nothing changed: nothing reported
    assert executor.calls.count(("start", task.id)) == 1


def test_a_crashed_essential_container_stops_the_task_with_its_exit_code() -> None:
    state, executor, agent = cluster()
    task = state.run_task("web").tasks[0]
    agent.step()
    executor.exit(task.id, "app", 2)
    agent.step()
    stored = state.snapshot().task(task.id)
    assert (stored.last_status, stored.stop_code) == ("STOPPED", "EssentialContainerExited")
    assert stored.stopped_reason is not None and "exit code 2" in stored.stopped_reason
    assert state.snapshot().instance("i-1").remaining.cpu == 1024  # resources freed
    assert clusterkit.state_violations(state.snapshot()) == []


def test_a_failed_pull_stops_the_task_as_failed_to_start() -> None:
    state, executor, agent = cluster()
    executor.fail_pull("registry.local/web:1", "no basic auth credentials")
    task = state.run_task("web").tasks[0]
    agent.step()
    stored = state.snapshot().task(task.id)
    assert (stored.last_status, stored.stop_code) == ("STOPPED", "TaskFailedToStart")
    assert stored.stopped_reason is not None and "no basic auth credentials" in stored.stopped_reason


def test_stop_task_stops_the_containers_and_keeps_the_user_stop_code() -> None:
    state, executor, agent = cluster()
    task = state.run_task("web").tasks[0]
    agent.step()
    state.stop_task(task.id, reason="scale in")
    agent.step()
    stored = state.snapshot().task(task.id)
    assert (stored.last_status, stored.stop_code, stored.stopped_reason) == ("STOPPED", "UserInitiated", "scale in")
    assert executor.inspect(task.id).last_status == "STOPPED"


def test_health_changes_are_reported() -> None:
    state, executor, agent = cluster()
    task = state.run_task("web").tasks[0]
    agent.step()
    executor.set_health(task.id, "app", "UNHEALTHY")
    agent.step()
    assert state.snapshot().task(task.id).health_status == "UNHEALTHY"


def test_a_restarted_agent_neither_duplicates_nor_leaves_tasks_pending_nor_keeps_orphans() -> None:
    state, executor, agent = cluster()
    running = state.run_task("web").tasks[0]
    agent.step()
    pending = state.run_task("web").tasks[0]  # placed while the agent is down
    executor.start(
        clusterkit.Task(
            id="orphan", task_definition="web:1", container_instance_id="i-1", charge=clusterkit.Resources()
        ),
        state.snapshot().task_definition("web"),
    )
    restarted = Agent(state, executor, "i-1")
    restarted.step()
    snapshot = state.snapshot()
    assert snapshot.task(pending.id).last_status == "RUNNING"
    assert snapshot.task(running.id).last_status == "RUNNING"
    assert executor.calls.count(("start", running.id)) == 1
    assert executor.inspect("orphan").last_status == "STOPPED"


def test_run_reacts_to_commits_until_closed() -> None:
    state, _, agent = cluster()
    worker = threading.Thread(target=agent.run, kwargs={"interval": 0.05})
    worker.start()
    try:
        task = state.run_task("web").tasks[0]
        for _ in range(200):
            if state.snapshot().task(task.id).last_status == "RUNNING":
                break
            threading.Event().wait(0.01)
        assert state.snapshot().task(task.id).last_status == "RUNNING"
    finally:
        agent.close()
        worker.join(timeout=5)
    assert not worker.is_alive()
