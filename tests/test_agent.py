"""The host agent against FakeExecutor: start, crash, pull failure, stop, health, restart, orphans."""

from __future__ import annotations

import threading

import pytest

import clusterkit
from clusterkit import ClusterState, FakeExecutor
from clusterkit.agent import Agent
from tests.conftest import eventually

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
    assert clusterkit.state.state_violations(state.snapshot()) == []


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


def test_run_reacts_at_once_to_what_the_executor_sees_not_only_to_commits() -> None:
    state, executor, agent = cluster()
    worker = threading.Thread(target=agent.run, kwargs={"interval": 60.0})  # the timer alone would be far too late
    worker.start()
    try:
        task = state.run_task("web").tasks[0]
        assert eventually(lambda: state.snapshot().task(task.id).last_status == "RUNNING", seconds=2.0)
        executor.set_health(task.id, "app", "HEALTHY")  # nothing committed: only the executor knows
        assert eventually(lambda: state.snapshot().task(task.id).health_status == "HEALTHY", seconds=2.0)
        executor.exit(task.id, "app", 3)
        assert eventually(lambda: state.snapshot().task(task.id).last_status == "STOPPED", seconds=2.0)
        assert "3" in (state.snapshot().task(task.id).stopped_reason or "")
    finally:
        agent.close()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert executor._listener is None  # run() stops listening when it returns


def test_register_offers_the_host_less_the_reserve_with_its_attributes() -> None:
    state = ClusterState("agents")
    host = clusterkit.executor.HostInfo(cpus=4, memory_mib=8192, attributes={"ecs.cpu-architecture": "arm64"})
    agent = Agent.register(
        state, FakeExecutor(host=host), reserved_memory=512, reserved_cpu=256, attributes={"zone": "a"}
    )
    instance = state.snapshot().instance(agent.instance_id)
    assert (instance.registered.cpu, instance.registered.memory) == (4 * 1024 - 256, 8192 - 512)
    assert instance.registered.ports == clusterkit.model.DEFAULT_RESERVED_PORTS
    assert instance.attribute_map["ecs.cpu-architecture"] == "arm64" and instance.attribute_map["zone"] == "a"
    again = Agent.register(state, FakeExecutor(host=host), instance_id=agent.instance_id)
    assert again.instance_id == agent.instance_id and len(list(state.snapshot().instances())) == 1


@pytest.mark.parametrize(
    ("field", "reserve"), [("reserved_memory", 4096), ("reserved_cpu", 2048), ("reserved_cpu", -1)]
)
def test_a_reserve_that_leaves_nothing_is_refused_and_registers_nothing(field: str, reserve: int) -> None:
    state = ClusterState("agents")
    with pytest.raises(clusterkit.ValidationError) as caught:
        Agent.register(state, FakeExecutor(), **{field: reserve})  # type: ignore[arg-type]  # field names a reserve
    assert caught.value.field == field
    assert list(state.snapshot().instances()) == []


def test_an_unreachable_engine_fails_launches_disconnects_the_instance_and_recovers() -> None:
    state, executor, agent = cluster()
    running = state.run_task("web").tasks[0]
    agent.step()
    executor.fail_engine("engine gone")
    launching = state.run_task("web").tasks[0]
    agent.step()
    snapshot = state.snapshot()
    assert (snapshot.task(launching.id).stop_code, snapshot.task(launching.id).stopped_reason) == (
        "TaskFailedToStart",
        "engine gone",
    )
    assert snapshot.task(running.id).last_status == "RUNNING"  # unknown, not declared dead
    assert snapshot.instance("i-1").agent_connected is False
    assert agent.engine_error == "engine gone"
    assert state.run_task("web").tasks == ()  # nothing is placed on a disconnected instance
    executor.restore_engine()
    agent.step()
    assert state.snapshot().instance("i-1").agent_connected is True
    later = state.run_task("web").tasks[0]
    agent.step()
    assert state.snapshot().task(later.id).last_status == "RUNNING"


def test_launches_run_in_parallel_and_each_is_reported_once() -> None:
    state = ClusterState("agents")
    state.register_container_instance("i-1", cpu=100 * 1024, memory=100 * 1024)
    state.register_task_definition(WEB)
    executor = FakeExecutor()
    agent = Agent(state, executor, "i-1", workers=4)
    tasks = state.run_task("web", count=40).tasks
    reported = agent.step()
    assert sorted(t.id for t in reported) == sorted(t.id for t in tasks)
    assert all(state.snapshot().task(t.id).last_status == "RUNNING" for t in tasks)
    assert sorted(call for call in executor.calls if call[0] == "start") == sorted(("start", t.id) for t in tasks)
    agent.close()


def test_logs_are_collected_once_each_into_the_store() -> None:
    state, executor, _ = cluster()
    store = clusterkit.logs.LogStore()
    agent = Agent(state, executor, "i-1", log_store=store)
    task = state.run_task("web").tasks[0]
    agent.step()
    executor.write_log(task.id, "app", "hello")
    agent.step()
    agent.step()
    assert [line.text for line in store.query(task_id=task.id)] == ["started", "hello"]
    state.stop_task(task.id)
    agent.step()
    agent.step()
    assert [line.text for line in store.query(task_id=task.id)] == ["started", "hello", "stopped"]


def test_a_quiet_running_task_is_not_inspected_again_until_its_containers_change() -> None:
    state, executor, _ = cluster()
    agent = Agent(state, executor, "i-1", resync_interval=3600)
    task = state.run_task("web").tasks[0]
    agent.step()  # starts it: RUNNING
    agent.step()  # inspects it once more: it matches the state, so it is quiet from now on
    inspected = executor.calls.count(("inspect", task.id))
    for _ in range(5):
        agent.step()
    assert executor.calls.count(("inspect", task.id)) == inspected
    executor.set_health(task.id, "app", "UNHEALTHY")  # the engine reports a change
    agent.step()
    assert state.snapshot().task(task.id).health_status == "UNHEALTHY"
    assert executor.calls.count(("inspect", task.id)) == inspected + 1


def test_every_task_is_inspected_again_when_changes_are_unknown_or_the_resync_is_due() -> None:
    state, executor, _ = cluster()
    every_step = Agent(state, executor, "i-1", resync_interval=0)
    task = state.run_task("web").tasks[0]
    for _ in range(3):
        every_step.step()
    assert executor.calls.count(("inspect", task.id)) == 2  # resync on every step
    patient = Agent(state, executor, "i-1", resync_interval=3600)
    patient.step()  # a new agent: the first step looks at everything
    patient.step()
    assert executor.calls.count(("inspect", task.id)) == 3
    executor.fail_engine()
    executor.restore_engine()  # events may have been missed meanwhile
    patient.step()
    assert executor.calls.count(("inspect", task.id)) == 4


def test_an_agent_can_step_again_after_close() -> None:
    state, _, agent = cluster()
    state.run_task("web", count=2)
    agent.step()
    agent.close()
    later = state.run_task("web", count=2).tasks
    agent.step()  # launches in a fresh pool
    assert all(state.snapshot().task(t.id).last_status == "RUNNING" for t in later)


def test_a_stopped_tasks_containers_are_removed_once_the_cleanup_wait_has_passed() -> None:
    now = [1_000.0]
    state = ClusterState("agents", clock=lambda: now[0])
    state.register_container_instance("i-1", cpu=1024, memory=1024)
    state.register_task_definition(WEB)
    executor = FakeExecutor()
    agent = Agent(state, executor, "i-1", cleanup_wait=600)
    assert Agent(state, executor, "i-1").cleanup_wait == 3 * 3600  # the ECS agent's default
    crashed, stopped, running = state.run_task("web", count=3).tasks
    agent.step()
    executor.exit(crashed.id, "app", 1)
    agent.step()
    now[0] += 300
    state.stop_task(stopped.id)
    agent.step()
    agent.step()
    assert set(executor.tasks()) == {crashed.id, stopped.id, running.id}  # kept, to inspect
    now[0] += 300  # the crashed one stopped 600 s ago; the stopped one 300 s ago
    agent.step()
    assert set(executor.tasks()) == {stopped.id, running.id}
    assert ("remove", crashed.id) in executor.calls
    now[0] += 299
    agent.step()
    assert set(executor.tasks()) == {stopped.id, running.id}
    now[0] += 1
    agent.step()
    agent.step()
    assert set(executor.tasks()) == {running.id}
    assert executor.calls.count(("remove", stopped.id)) == 1  # removed once, then forgotten
    snapshot = state.snapshot()
    assert [snapshot.task(t.id).last_status for t in (crashed, stopped, running)] == ["STOPPED", "STOPPED", "RUNNING"]


def test_the_last_log_lines_are_collected_before_the_containers_go_and_a_failed_removal_is_retried() -> None:
    state, executor, _ = cluster()
    store = clusterkit.logs.LogStore()
    agent = Agent(state, executor, "i-1", log_store=store, cleanup_wait=0)
    task = state.run_task("web").tasks[0]
    agent.step()
    agent.step()
    executor.write_log(task.id, "app", "last words")
    executor.exit(task.id, "app", 3)
    agent.step()  # the exit is reported
    remove = executor.remove
    refused: list[str] = []

    def flaky_remove(task_id: str) -> None:
        if not refused:
            refused.append(task_id)
            raise clusterkit.ExecutorError(task_id, "the engine is busy")
        remove(task_id)

    executor.remove = flaky_remove  # type: ignore[method-assign]
    agent.step()  # settled, its last lines collected, its removal refused
    assert refused == [task.id] and list(executor.tasks()) == [task.id]
    agent.step()  # tried again
    assert list(executor.tasks()) == []
    texts = [line.text for line in store.query(task_id=task.id)]
    assert "last words" in texts and texts.count("last words") == 1


@pytest.mark.parametrize("wait", [-1, "3h", float("nan"), True])
def test_a_cleanup_wait_that_is_not_seconds_is_refused(wait: object) -> None:
    state, executor, _ = cluster()
    with pytest.raises(clusterkit.ValidationError, match="cleanup_wait"):
        Agent(state, executor, "i-1", cleanup_wait=wait)  # type: ignore[arg-type]
