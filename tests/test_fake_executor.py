"""FakeExecutor: the in-library executor users test agents and schedulers with."""

from __future__ import annotations

import pytest

from clusterkit import (
    ExecutorError,
    FakeExecutor,
    NotFoundError,
    Resources,
    Task,
    TaskDefinition,
    load_task_definition,
)
from clusterkit.executor import start_order

WEB = load_task_definition(
    {
        "family": "web",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "registry.local/app:1",
                "memory": 128,
                "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}],
                "healthCheck": {"command": ["CMD-SHELL", "true"]},
            },
            {"name": "db", "image": "registry.local/db:1", "memory": 128, "healthCheck": {"command": ["CMD", "ok"]}},
            {"name": "log", "image": "registry.local/log:1", "memory": 64, "essential": False},
        ],
    }
)


def task_of(definition: TaskDefinition, task_id: str = "t1") -> Task:
    return Task(id=task_id, task_definition=f"{definition.family}:1", container_instance_id="i-1", charge=Resources())


def test_containers_start_after_what_they_depend_on() -> None:
    assert start_order(WEB) == ["db", "app", "log"]
    executor = FakeExecutor(clock=lambda: 5.0)
    observed = executor.start(task_of(WEB), WEB)
    assert [c.name for c in observed.containers] == ["db", "app", "log"]
    assert observed.last_status == "RUNNING"
    assert [(line.container, line.text, line.at) for line in executor.logs("t1")][:2] == [
        ("db", "started", 5.0),
        ("app", "started", 5.0),
    ]


def test_starting_twice_makes_no_duplicate() -> None:
    executor = FakeExecutor()
    executor.start(task_of(WEB), WEB)
    executor.start(task_of(WEB), WEB)
    assert executor.tasks() == ("t1",)
    assert len(executor.logs("t1", "db")) == 1


def test_a_failed_pull_raises_and_starts_nothing() -> None:
    executor = FakeExecutor()
    executor.fail_pull("registry.local/db:1", "no basic auth credentials")
    with pytest.raises(ExecutorError) as caught:
        executor.start(task_of(WEB), WEB)
    assert caught.value.task_id == "t1"
    assert "CannotPullContainerError" in caught.value.reason and "no basic auth credentials" in caught.value.reason
    assert executor.tasks() == ()


def test_an_essential_container_exiting_stops_the_task_but_a_sidecar_does_not() -> None:
    executor = FakeExecutor()
    executor.start(task_of(WEB), WEB)
    executor.exit("t1", "log", 1)
    assert executor.inspect("t1").last_status == "RUNNING"
    executor.exit("t1", "app", 137)
    observed = executor.inspect("t1")
    assert observed.last_status == "STOPPED"
    stopped = observed.stopped_container
    assert stopped is not None and (stopped.name, stopped.exit_code) == ("app", 137)


def test_health_is_that_of_the_essential_checked_containers() -> None:
    executor = FakeExecutor()
    executor.start(task_of(WEB), WEB)
    assert executor.inspect("t1").health == "UNKNOWN"
    executor.set_health("t1", "db", "HEALTHY")
    assert executor.inspect("t1").health == "UNKNOWN"  # app has a check too, not yet reported
    executor.set_health("t1", "app", "HEALTHY")
    assert executor.inspect("t1").health == "HEALTHY"
    executor.set_health("t1", "db", "UNHEALTHY")
    assert executor.inspect("t1").health == "UNHEALTHY"


def test_stop_stops_every_container_with_the_sigterm_code_and_keeps_earlier_exits() -> None:
    executor = FakeExecutor()
    executor.start(task_of(WEB), WEB)
    executor.exit("t1", "log", 0)
    observed = executor.stop("t1", timeout=1)
    assert observed.last_status == "STOPPED"
    assert {c.name: c.exit_code for c in observed.containers} == {"db": 143, "app": 143, "log": 0}
    assert executor.calls == [("start", "t1"), ("stop", "t1")]


def test_unknown_tasks_and_containers_are_not_found() -> None:
    executor = FakeExecutor()
    with pytest.raises(NotFoundError):
        executor.inspect("nope")
    executor.start(task_of(WEB), WEB)
    with pytest.raises(NotFoundError):
        executor.exit("t1", "nope", 1)


def test_logs_since_a_time_and_remove_only_once_stopped() -> None:
    ticks = iter(range(100))
    executor = FakeExecutor(clock=lambda: float(next(ticks)))
    executor.start(task_of(WEB), WEB)
    executor.write_log("t1", "app", "late")
    assert [line.text for line in executor.logs("t1", "app", since=2.0)] == ["late"]
    with pytest.raises(ExecutorError):
        executor.remove("t1")  # still running
    executor.stop("t1")
    executor.remove("t1")
    assert executor.tasks() == ()
    with pytest.raises(NotFoundError):
        executor.inspect("t1")


def test_a_failed_engine_fails_every_call_until_it_is_restored() -> None:
    executor = FakeExecutor()
    executor.start(task_of(WEB), WEB)
    executor.fail_engine("socket gone")
    for call in (executor.tasks, executor.host, lambda: executor.inspect("t1"), lambda: executor.stop("t1")):
        with pytest.raises(ExecutorError) as caught:
            call()
        assert caught.value.reason == "socket gone"
    executor.restore_engine()
    assert executor.inspect("t1").last_status == "RUNNING"  # untouched while it was away


def test_usage_is_what_the_test_set_while_a_container_runs() -> None:
    executor = FakeExecutor()
    executor.start(task_of(WEB), WEB)
    idle = executor.usage("t1")
    assert idle is not None and (idle.cpu_cores, idle.memory_mib) == (0.0, 0.0)
    executor.set_usage("t1", cpu_cores=0.5, memory_mib=96.0)
    usage = executor.usage("t1")
    assert usage is not None and (usage.cpu_cores, usage.memory_mib, usage.cpu_units) == (0.5, 96.0, 512.0)
    executor.stop("t1")
    assert executor.usage("t1") is None  # nothing runs: nothing used
    with pytest.raises(NotFoundError):
        executor.usage("t9")
    with pytest.raises(NotFoundError):
        executor.set_usage("t9", cpu_cores=1.0, memory_mib=1.0)
    executor.fail_engine()
    with pytest.raises(ExecutorError):
        executor.usage("t1")
