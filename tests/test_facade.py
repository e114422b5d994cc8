"""The facade's one result shape, its paginators and waiters, and its answer to boto3-style arguments.

Every describe call answers ``Described``, every list call ``Page``, run_task and start_task
``RunResult``; each ``to_ecs()`` must be the ECS response exactly (botocore's output shape, by
``tests.ecs_api``'s strict walker). ``paginate`` must yield exactly the whole listing whatever
the page size; the waiters follow botocore's acceptors on the state's clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import (
    Agent,
    ArgumentError,
    BaseScheduler,
    ClusterState,
    Described,
    Failure,
    FakeExecutor,
    Page,
    PlacementRequest,
    ServiceScheduler,
    ValidationError,
    WaiterError,
)
from clusterkit.api import PAGINATED, WAITERS
from clusterkit.ecs_json import dump_service
from clusterkit.placement import place_and_commit
from clusterkit.sim import SchedulingPolicy
from clusterkit.state import SimulatedClock
from clusterkit.testing import FakeCluster
from clusterkit.testing.strategies import clusters
from tests.ecs_api import assert_output

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 128}]}


def small_state(instances: int = 3, clock: SimulatedClock | None = None) -> ClusterState:
    state = ClusterState("facade", clock=clock or SimulatedClock())
    state.register_task_definition(WEB)
    for index in range(instances):
        state.register_container_instance(f"i-{index}", cpu=1024, memory=2048)
    return state


# --- one result shape: to_ecs() is ECS's response ------------------------------------------------


@given(clusters())
@settings(max_examples=30, deadline=None)
def test_every_result_to_ecs_is_the_ecs_response_shape(state: ClusterState) -> None:
    snapshot = state.snapshot()
    task_ids = [*[task.id for task in snapshot.tasks()][:99], "ghost"]
    instance_ids = [*[instance.id for instance in snapshot.instances()][:99], "ghost"]
    tasks = state.describe_tasks(task_ids)
    instances = state.describe_container_instances(instance_ids)
    assert isinstance(tasks, Described) and isinstance(instances, Described)
    assert_output(tasks.to_ecs(), "DescribeTasksResponse")
    assert_output(instances.to_ecs(), "DescribeContainerInstancesResponse")
    assert [t["taskArn"] for t in tasks.to_ecs()["tasks"]] == [state.arns.task(t.id) for t in tasks.items]
    assert tasks.to_ecs()["failures"] == [{"arn": state.arns.task("ghost"), "reason": "MISSING"}]
    assert instances.to_ecs()["failures"] == [{"arn": state.arns.container_instance("ghost"), "reason": "MISSING"}]
    for operation, shape in [
        ("list_tasks", "ListTasksResponse"),
        ("list_container_instances", "ListContainerInstancesResponse"),
        ("list_task_definitions", "ListTaskDefinitionsResponse"),
        ("list_task_definition_families", "ListTaskDefinitionFamiliesResponse"),
        ("list_services", "ListServicesResponse"),
    ]:
        page = getattr(state, operation)(max_results=1)
        assert isinstance(page, Page)
        assert_output(page.to_ecs(), shape)
        assert list(page.to_ecs()) == [page.key] + (["nextToken"] if page.next_token else [])


def test_run_start_and_update_results_are_ecs_responses() -> None:
    state = small_state(instances=2)
    run = state.run_task("web", count=3)
    assert_output(run.to_ecs(), "RunTaskResponse")
    assert [t["taskArn"] for t in run.to_ecs()["tasks"]] == [state.arns.task(t.id) for t in run.tasks]
    started = state.start_task("web", ["i-0", "ghost"])
    assert_output(started.to_ecs(), "StartTaskResponse")
    assert started.to_ecs()["failures"] == [{"arn": state.arns.container_instance("ghost"), "reason": "MISSING"}]
    too_many = state.run_task("web", count=1000)  # 2 instances of 2048 MiB: most cannot fit
    failure = too_many.to_ecs()["failures"][0]
    assert failure["reason"] == "RESOURCE:MEMORY" and failure["detail"] == too_many.failures[0].detail != ""
    assert_output(too_many.to_ecs(), "RunTaskResponse")
    drained = state.update_container_instances_state(["i-1", "ghost"], "DRAINING")
    assert_output(drained.to_ecs(), "UpdateContainerInstancesStateResponse")
    assert [i["status"] for i in drained.to_ecs()["containerInstances"]] == ["DRAINING"]
    assert drained.to_ecs()["failures"] == [{"arn": state.arns.container_instance("ghost"), "reason": "MISSING"}]


def test_describe_services_to_ecs_is_the_json_it_answered_before() -> None:
    fake = FakeCluster(instances=2)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=3)
    fake.run(2)
    fake.state.update_service("web", desired_count=4)
    fake.tick()
    described = fake.state.describe_services(["web", "ghost"])
    snapshot = fake.state.snapshot()
    assert [s.name for s in described.items] == ["web"] and described.failures == (
        Failure(fake.state.arns.service("ghost")),
    )
    before = {  # what describe_services built itself before it answered a Described
        "services": [dump_service(s, snapshot.arns, snapshot.service_counts(s)) for s in described.items],
        "failures": [{"arn": f.arn, "reason": f.reason} for f in described.failures],
    }
    assert described.to_ecs() == before
    assert_output(described.to_ecs(), "DescribeServicesResponse")
    fake.close()


def test_a_failure_shows_its_detail_only_when_it_has_one() -> None:
    assert Failure("arn:x").to_ecs() == {"arn": "arn:x", "reason": "MISSING"}
    assert Failure("arn:x", "RESOURCE:CPU", "RESOURCE:CPU: 2").to_ecs() == {
        "arn": "arn:x",
        "reason": "RESOURCE:CPU",
        "detail": "RESOURCE:CPU: 2",
    }


# --- pages and paginators ----------------------------------------------------------------------


def test_a_page_iterates_and_counts_its_items() -> None:
    state = small_state()
    tasks = state.run_task("web", count=5).tasks
    page = state.list_tasks(max_results=3)
    assert list(page) == list(page.items) and len(page) == 3 and page.next_token is not None
    assert [*page, *state.list_tasks(next_token=page.next_token)] == [state.arns.task(t.id) for t in tasks]
    empty = state.list_tasks(family="nothing")
    assert list(empty) == [] and len(empty) == 0 and empty.to_ecs() == {"taskArns": []}
    assert page == Page(page.items, page.next_token, key="anything")  # the key names, it does not compare


@given(clusters(max_instances=12), st.integers(1, 100), st.sampled_from(PAGINATED))
@settings(max_examples=60, deadline=None)
def test_paginating_yields_exactly_the_whole_listing_at_any_page_size(
    state: ClusterState, size: int, operation: str
) -> None:
    everything = list(state.paginate(operation, max_results=100))
    walked = list(state.paginate(operation, max_results=size))
    assert walked == everything and len(set(walked)) == len(walked)
    snapshot = state.snapshot()
    expected = {
        "list_tasks": {state.arns.task(t.id) for t in snapshot.tasks() if t.desired_status == "RUNNING"},
        "list_container_instances": {
            state.arns.container_instance(i.id) for i in snapshot.instances() if i.status in ("ACTIVE", "DRAINING")
        },
        "list_task_definitions": {
            state.arns.task_definition(d.key) for d in snapshot.task_definitions() if d.status == "ACTIVE"
        },
        "list_task_definition_families": {d.family for d in snapshot.task_definitions() if d.status == "ACTIVE"},
        "list_services": set(),
    }[operation]
    assert set(walked) == expected


def test_paginate_passes_filters_and_refuses_what_it_cannot_follow() -> None:
    state = small_state()
    state.register_task_definition({**WEB, "family": "db"})
    state.run_task("web", count=4)
    state.run_task("db", count=3)
    assert len(list(state.paginate("list_tasks", family="db", max_results=1))) == 3
    with pytest.raises(ValidationError) as caught:
        state.paginate("describe_tasks")
    assert caught.value.field == "operation" and "list_tasks" in str(caught.value)
    with pytest.raises(ArgumentError) as wrong:
        state.paginate("list_tasks", maxResults=2)  # raised at once, not at the first next()
    assert "use max_results=" in str(wrong.value)


# --- waiters -------------------------------------------------------------------------------------


def test_the_waiters_are_botocores() -> None:
    assert {name: (w.operation, w.delay, w.max_attempts) for name, w in WAITERS.items()} == {
        "services_inactive": ("describe_services", 15, 40),
        "services_stable": ("describe_services", 15, 120),
        "tasks_running": ("describe_tasks", 6, 100),
        "tasks_stopped": ("describe_tasks", 6, 100),
    }
    assert [(a.state, a.says) for a in WAITERS["tasks_running"].acceptors] == [
        ("failure", "tasks[].lastStatus has STOPPED"),
        ("failure", "failures[].reason has MISSING"),
        ("success", "every tasks[].lastStatus is RUNNING"),
    ]


def test_services_stable_waits_while_a_scheduler_is_driven_between_attempts() -> None:
    fake = FakeCluster(instances=2)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=3)
    pauses: list[float] = []

    def drive(seconds: float) -> None:
        pauses.append(seconds)
        fake.tick(seconds)

    described = fake.state.wait("services_stable", services=["web"], between=drive)
    (service,) = described.to_ecs()["services"]
    assert service["runningCount"] == service["desiredCount"] == 3 and len(service["deployments"]) == 1
    assert pauses and set(pauses) == {15}, "ECS's delay between attempts"
    fake.close()


def test_a_waiter_on_a_simulated_clock_moves_it_rather_than_sleeping() -> None:
    clock = SimulatedClock()
    state = small_state(clock=clock)
    (task,) = state.run_task("web").tasks  # PENDING: nothing runs it
    began, start = time.monotonic(), clock.now
    with pytest.raises(WaiterError) as caught:
        state.waiter("tasks_running").wait(tasks=[task.id])
    assert time.monotonic() - began < 10, "100 attempts of 6 s were not slept"
    assert clock.now - start == 99 * 6, "the state's clock moved by the delay between attempts"
    error = caught.value
    assert (error.name, error.attempts, error.reason) == ("tasks_running", 100, "ran out of attempts")
    assert f"{task.id} PENDING" in error.seen and "tasks_running" in str(error) and "100 attempt" in str(error)
    assert state.snapshot().task(task.id).last_status == "PENDING"


def test_a_failure_acceptor_ends_the_wait_at_once() -> None:
    state = small_state()
    (task,) = state.run_task("web").tasks
    state.submit_task_state_change(task.id, version=state.snapshot().task(task.id).version, status="STOPPED")
    calls: list[float] = []
    with pytest.raises(WaiterError) as stopped:
        state.wait("tasks_running", tasks=[task.id], between=calls.append)
    assert stopped.value.attempts == 1 and calls == [] and "tasks[].lastStatus has STOPPED" in stopped.value.reason
    assert state.wait("tasks_stopped", tasks=[task.id]).items[0].last_status == "STOPPED"
    with pytest.raises(WaiterError) as missing:
        state.wait("services_stable", services=["ghost"])
    assert missing.value.attempts == 1 and "MISSING" in str(missing.value)


def test_services_stable_fails_on_a_deleted_service_and_services_inactive_succeeds() -> None:
    fake = FakeCluster(instances=1)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=1)
    fake.run(3)
    fake.state.delete_service("web", force=True)
    with pytest.raises(WaiterError) as caught:
        fake.state.wait("services_stable", services=["web"])
    assert "DRAINING" in caught.value.reason or "INACTIVE" in caught.value.reason
    inactive = fake.state.wait("services_inactive", services=["web"], between=fake.tick)
    assert inactive.items[0].status == "INACTIVE"
    fake.close()


def test_waiter_settings_are_checked_and_unknown_waiters_named() -> None:
    state = small_state()
    (task,) = state.run_task("web").tasks
    with pytest.raises(ValidationError) as unknown:
        state.waiter("task_running")
    assert unknown.value.field == "waiter" and "tasks_running" in str(unknown.value)
    with pytest.raises(ValidationError) as attempts:
        state.wait("tasks_running", tasks=[task.id], max_attempts=0)
    assert attempts.value.field == "maxAttempts"
    with pytest.raises(ValidationError) as delay:
        state.wait("tasks_running", tasks=[task.id], delay=-1)
    assert delay.value.field == "delay"
    with pytest.raises(WaiterError) as short:
        state.wait("tasks_running", tasks=[task.id], delay=0, max_attempts=2)
    assert short.value.attempts == 2
    with pytest.raises(ArgumentError) as boto:
        state.wait("tasks_running", tasks=[task.id], WaiterConfig={"Delay": 1})
    assert boto.value.field == "WaiterConfig"


# --- boto3-style arguments and scheduler classes ----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field", "says"),
    [
        (lambda s: s.run_task(taskDefinition="web"), "taskDefinition", "use task_definition="),
        (lambda s: s.create_service("api", "web", desiredCount=1), "desiredCount", "use desired_count="),
        (lambda s: s.update_service("api", desiredCount=2), "desiredCount", "use desired_count="),
        (lambda s: s.list_tasks(serviceName="api"), "serviceName", "use service_name="),
        (lambda s: s.list_tasks(famly="web"), "famly", "did you mean family=?"),
        (lambda s: s.run_task("web", launchType="EC2"), "launchType", "it takes task_definition=, count="),
        (lambda s: s.describe_tasks(), "tasks", "describe_tasks() needs it"),
        (lambda s: s.describe_task_definition(taskDefinition="web"), "taskDefinition", "use task_definition="),
        (
            lambda s: s.describe_container_instances(containerInstances=["i-0"]),
            "containerInstances",
            "use container_instances=",
        ),
        (lambda s: s.start_task("web", containerInstances=["i-0"]), "containerInstances", "use container_instances="),
        (
            lambda s: ClusterState(clusterName="x"),  # type: ignore[call-arg]
            "clusterName",
            "ClusterState() takes ECS's parameters",
        ),
    ],
)
def test_a_boto3_style_keyword_is_told_the_snake_case_name(call: Any, field: str, says: str) -> None:
    state = small_state()
    state.create_service("api", "web", desired_count=1)
    version = state.version
    with pytest.raises(ArgumentError) as caught:
        call(state)
    assert caught.value.field == field and says in str(caught.value)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValidationError)
    assert state.version == version


def test_a_type_error_from_inside_a_call_is_not_taken_for_a_bad_argument() -> None:
    state = small_state()

    class Broken:
        def place(self, snapshot: object, request: object) -> object:
            raise TypeError("the scheduler's own bug")

    with pytest.raises(TypeError) as caught:
        state.run_task("web", scheduler=Broken())  # type: ignore[arg-type]
    assert type(caught.value) is TypeError and "own bug" in str(caught.value)


def test_a_scheduler_class_is_told_to_pass_an_instance() -> None:
    state = small_state()
    version = state.version
    request = PlacementRequest(state.snapshot().task_definition("web"), 1)
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: state.run_task("web", scheduler=BaseScheduler), "scheduler"),  # type: ignore[arg-type]
        (lambda: place_and_commit(state, BaseScheduler, request), "scheduler"),  # type: ignore[arg-type]
        (lambda: ServiceScheduler(state, placement=BaseScheduler), "placement"),  # type: ignore[arg-type]
        (lambda: SchedulingPolicy("x", scheduler=BaseScheduler), "scheduler"),  # type: ignore[arg-type]
    ]
    with pytest.raises(ValidationError) as executor:
        Agent(state, FakeExecutor, "i-0")  # type: ignore[arg-type]
    assert executor.value.field == "executor" and "pass an instance: FakeExecutor()" in str(executor.value)
    for call, field in calls:
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.field == field and "pass an instance: BaseScheduler()" in str(caught.value)
    with pytest.raises(ValidationError) as not_one:
        state.run_task("web", scheduler="binpack")  # type: ignore[arg-type]
    assert "must have a place() method" in str(not_one.value)
    assert state.version == version


def test_a_waiter_on_a_real_clock_sleeps_the_delay() -> None:
    state = ClusterState("real")  # time.time: nothing to move, so the waiter sleeps
    state.register_task_definition(WEB)
    state.register_container_instance("i-0", cpu=1024, memory=2048)
    (task,) = state.run_task("web").tasks
    began = time.monotonic()
    with pytest.raises(WaiterError) as caught:
        state.wait("tasks_running", tasks=[task.id], delay=0.05, max_attempts=3)
    assert time.monotonic() - began >= 0.1 and caught.value.attempts == 3
