"""Service calls on ClusterState: records, validation, deployments, describe JSON, save and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from clusterkit import ClusterState, ConflictError, NotFoundError, ValidationError
from clusterkit.api._services import spec_update
from clusterkit.model import DeploymentConfiguration, circuit_breaker_threshold
from clusterkit.state import PutService
from clusterkit.testing import FakeCluster

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 128}]}


def cluster() -> ClusterState:
    state = ClusterState("svc", clock=lambda: 1_000.0)
    state.register_container_instance("i-1", cpu=2048, memory=4096)
    state.register_task_definition(WEB)
    return state


def saved(state: ClusterState, tmp_path: Path, name: str = "state.json") -> str:
    path = tmp_path / name
    state.save(path)
    return path.read_text()


def test_create_service_sets_ecs_defaults_and_a_first_deployment() -> None:
    state = cluster()
    service = state.create_service("web", "web", desired_count=3)
    assert service.version == 1
    assert service.task_definition == "web:1"
    assert service.deployment_configuration == DeploymentConfiguration(200, 100)
    assert [s.to_ecs() for s in service.placement_strategy] == [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ]
    (primary,) = service.deployments
    assert (primary.status, primary.rollout_state, primary.desired_count) == ("PRIMARY", "IN_PROGRESS", 3)
    assert primary.id.startswith("ecs-svc/") and len(primary.id) == 8 + 19
    daemon = state.create_service("agent", "web", scheduling_strategy="DAEMON")
    assert daemon.deployment_configuration == DeploymentConfiguration(100, 0)
    assert daemon.placement_strategy == ()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.create_service("web", "web"), "desiredCount"),
        (lambda s: s.create_service("web", "web", desired_count=-1), "desiredCount"),
        (lambda s: s.create_service("web", "nope", desired_count=1), "taskDefinition"),
        (lambda s: s.create_service("bad name!", "web", desired_count=1), "serviceName"),
        (lambda s: s.create_service("web", "web", desired_count=1, scheduling_strategy="BATCH"), "schedulingStrategy"),
        (lambda s: s.create_service("d", "web", desired_count=2, scheduling_strategy="DAEMON"), "desiredCount"),
        (
            lambda s: s.create_service("web", "web", desired_count=1, deployment_configuration={"maximumPercent": 50}),
            "deploymentConfiguration.maximumPercent",
        ),
        (
            lambda s: s.create_service(
                "web", "web", desired_count=1, deployment_configuration={"minimumHealthyPercent": 101}
            ),
            "deploymentConfiguration.minimumHealthyPercent",
        ),
        (
            lambda s: s.create_service("web", "web", desired_count=1, deployment_configuration={"maxPercent": 150}),
            "deploymentConfiguration.maxPercent",
        ),
        (
            lambda s: s.create_service(
                "web", "web", desired_count=1, deployment_configuration={"deploymentCircuitBreaker": {"enable": "yes"}}
            ),
            "deploymentConfiguration.deploymentCircuitBreaker.enable",
        ),
        (
            lambda s: s.create_service("web", "web", desired_count=1, placement_strategy=[{"type": "binpack"}]),
            "placementStrategy[0].field",
        ),
        (
            lambda s: s.create_service("web", "web", desired_count=1, health_check_grace_period_seconds=-5),
            "healthCheckGracePeriodSeconds",
        ),
        (lambda s: s.update_service("ghost", desired_count=1), "service"),
        (
            lambda s: (s.create_service("web", "web", desired_count=1), s.update_service("web", desired_count=-2)),
            "desiredCount",
        ),
        (
            lambda s: (
                s.create_service("web", "web", desired_count=1),
                s.update_service("web", task_definition="nope"),
            ),
            "taskDefinition",
        ),
        (
            lambda s: (
                s.create_service("web", "web", desired_count=1),
                s.update_service("web", deployment_configuration={"maximumPercent": 99}),
            ),
            "deploymentConfiguration.maximumPercent",
        ),
        (lambda s: s.delete_service("ghost"), "service"),
    ],
)
def test_bad_service_calls_name_the_field_and_change_nothing(call: Any, field: str, tmp_path: Path) -> None:
    state = cluster()
    before = saved(state, tmp_path, "before.json")
    calls: list[str] = []

    def record(*args: Any, **kwargs: Any) -> Any:  # snapshot the state just before the failing call
        calls.append(saved(state, tmp_path, f"call{len(calls)}.json"))
        return original(*args, **kwargs)

    original = state.update_service
    state.update_service = record  # type: ignore[method-assign]
    with pytest.raises((ValidationError, NotFoundError)) as caught:
        call(state)
    assert isinstance(caught.value, (ValidationError, NotFoundError))  # narrows the common base to the two
    assert caught.value.field == field
    assert saved(state, tmp_path, "after.json") == (calls[-1] if calls else before)


def test_a_name_in_use_is_refused_until_the_service_is_deleted() -> None:
    state = cluster()
    state.create_service("web", "web", desired_count=0)
    with pytest.raises(ValidationError) as caught:
        state.create_service("web", "web", desired_count=1)
    assert "exists already" in str(caught.value)
    assert state.delete_service("web").status == "INACTIVE"  # no tasks: INACTIVE at once
    again = state.create_service("web", "web", desired_count=2)
    assert again.status == "ACTIVE" and again.version == 3


def test_update_service_starts_a_deployment_only_for_a_new_definition_or_when_forced() -> None:
    state = cluster()
    first = state.create_service("web", "web", desired_count=2)
    scaled = state.update_service("web", desired_count=5)
    assert [d.id for d in scaled.deployments] == [first.deployments[0].id]
    assert scaled.deployments[0].desired_count == 5 and scaled.desired_count == 5
    state.register_task_definition({**WEB, "containerDefinitions": [{"name": "app", "image": "web:2", "memory": 128}]})
    rolled = state.update_service("web", task_definition="web")
    assert rolled.task_definition == "web:2"
    assert rolled.deployments[0].task_definition == "web:2" and rolled.deployments[0].id != first.deployments[0].id
    forced = state.update_service("web", force_new_deployment=True)
    assert forced.deployments[0].task_definition == "web:2"
    assert forced.deployments[0].id != rolled.deployments[0].id


def test_update_service_resets_the_launch_back_off() -> None:
    state = cluster()
    service = state.create_service("web", "web", desired_count=1)
    import attrs

    throttled = attrs.evolve(service, launch_failures=7, next_launch_at=5_000.0)
    assert state.commit([PutService(throttled, service.version)]).ok
    updated = state.update_service("web", desired_count=2)
    assert (updated.launch_failures, updated.next_launch_at) == (0, 0.0)


def test_a_stale_put_service_is_refused_and_changes_nothing() -> None:
    state = cluster()
    service = state.create_service("web", "web", desired_count=1)
    state.update_service("web", desired_count=2)
    result = state.commit([PutService(service, service.version)])
    assert [r.reason for r in result.rejected] == ["STALE_VERSION"]
    assert state.snapshot().service("web").desired_count == 2


def test_delete_needs_force_while_tasks_are_wanted() -> None:
    fake = FakeCluster(instances=2)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=2)
    fake.run(3)
    with pytest.raises(ValidationError) as caught:
        fake.state.delete_service("web")
    assert caught.value.field == "force"
    assert fake.state.delete_service("web", force=True).status == "DRAINING"
    assert fake.state.list_services().items == ()  # DRAINING: no longer listed, as in ECS ...
    assert fake.state.snapshot().describe_services(["web"]).items[0].status == "DRAINING"  # ... but described
    fake.run(5)
    assert fake.state.snapshot().service("web").status == "INACTIVE"
    assert fake.service_tasks("web") == []
    assert fake.state.list_services().items == ()
    fake.close()


def test_describe_services_gives_counts_per_deployment_and_missing_failures() -> None:
    fake = FakeCluster(instances=2)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=3)
    fake.run(2)
    described = fake.state.describe_services(["web", "ghost"]).to_ecs()
    (service,) = described["services"]
    assert described["failures"] == [{"arn": fake.state.arns.service("ghost"), "reason": "MISSING"}]
    assert (service["runningCount"], service["pendingCount"], service["desiredCount"]) == (3, 0, 3)
    assert service["deployments"][0]["runningCount"] == 3
    assert service["serviceArn"].endswith(":service/sim/web")
    assert service["events"][0]["message"].startswith("(service web) has started 3 tasks")
    with pytest.raises(ValidationError) as caught:
        fake.state.describe_services([f"s{n}" for n in range(11)]).to_ecs()
    assert caught.value.field == "services"
    fake.close()


def test_list_services_pages_by_name_and_filters_by_strategy() -> None:
    state = cluster()
    for name in ("c", "a", "b", "d"):
        state.create_service(name, "web", desired_count=0)
    state.create_service("z", "web", scheduling_strategy="DAEMON")
    first = state.list_services(max_results=2)
    second = state.list_services(max_results=2, next_token=first.next_token)
    third = state.list_services(max_results=2, next_token=second.next_token)
    names = [arn.rsplit("/", 1)[1] for arn in first.items + second.items + third.items]
    assert names == ["a", "b", "c", "d", "z"] and third.next_token is None
    assert [a.rsplit("/", 1)[1] for a in state.list_services(scheduling_strategy="DAEMON").items] == ["z"]


def test_services_are_saved_and_restored_exactly(tmp_path: Path) -> None:
    fake = FakeCluster(instances=2)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=3, deployment_configuration={"maximumPercent": 150})
    fake.run(3)
    path = tmp_path / "state.json"
    fake.state.save(path)
    restored = ClusterState.restore(path)
    assert restored.snapshot().service("web") == fake.state.snapshot().service("web")
    assert restored.version == fake.state.version
    fake.close()


@pytest.mark.parametrize(
    ("desired", "threshold"), [(0, 3), (1, 3), (6, 3), (7, 4), (25, 13), (400, 200), (10_000, 200)]
)
def test_circuit_breaker_threshold(desired: int, threshold: int) -> None:
    assert circuit_breaker_threshold(desired) == threshold


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "min_healthy", "max_tasks"),
    [(4, 50, 200, 2, 8), (2, 75, 100, 2, 2), (3, 100, 125, 3, 3), (0, 100, 200, 0, 0), (5, 0, 150, 0, 7)],
)
def test_deployment_bounds_round_like_ecs(
    desired: int, minimum: int, maximum: int, min_healthy: int, max_tasks: int
) -> None:
    config = DeploymentConfiguration(maximum, minimum)
    assert (config.min_healthy(desired), config.max_tasks(desired)) == (min_healthy, max_tasks)


def test_describe_services_output_is_ecs_shaped_through_a_whole_life() -> None:
    from tests.ecs_api import assert_output

    fake = FakeCluster(instances=3)
    state = fake.state
    state.register_task_definition(WEB)
    state.create_service(
        "web",
        "web",
        desired_count=2,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        placement_constraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone != zone-c"}],
    )
    state.create_service("agent", "web", scheduling_strategy="DAEMON")
    seen = []
    fake.run(3)
    seen.append(state.describe_services(["web", "agent", "ghost"]).to_ecs())
    state.register_task_definition({**WEB, "containerDefinitions": [{"name": "app", "image": "broken", "memory": 128}]})
    fake.fail_pull("broken")
    state.update_service("web", task_definition="web")
    fake.run(1)
    seen.append(state.describe_services(["web"]).to_ecs())  # a deployment in progress
    fake.run(6)
    seen.append(state.describe_services(["web"]).to_ecs())  # failed and rolled back
    state.delete_service("agent", force=True)
    seen.append(state.describe_services(["agent"]).to_ecs())
    for response in seen:
        assert_output(response, "DescribeServicesResponse")
    rolled = seen[2]["services"][0]
    assert any(d["rolloutState"] == "FAILED" for d in rolled["deployments"])
    fake.close()


def test_a_deleted_service_cannot_be_updated_and_deleting_it_again_changes_nothing() -> None:
    fake = FakeCluster(instances=1)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=1)
    fake.run(2)
    draining = fake.state.delete_service("web", force=True)
    assert draining.status == "DRAINING"
    version = fake.state.version
    with pytest.raises(ValidationError) as caught:
        fake.state.update_service("web", desired_count=3)
    assert caught.value.field == "service" and "DRAINING" in str(caught.value)
    assert fake.state.delete_service("web", force=True) == draining
    assert fake.state.version == version
    fake.close()


def test_a_pending_task_lost_with_its_deregistered_host_is_not_a_failed_launch() -> None:
    fake = FakeCluster(instances=2)
    fake.state.register_task_definition(WEB)
    fake.state.create_service(
        "web", "web", desired_count=2, deployment_configuration={"deploymentCircuitBreaker": {"enable": True}}
    )
    scheduler = fake.schedulers[0]
    scheduler.step()  # placed, still PENDING: no agent has acted
    pending = fake.service_tasks("web")
    assert {t.last_status for t in pending} == {"PENDING"}
    fake.remove(pending[0].container_instance_id)
    scheduler.step()
    service = fake.state.snapshot().service("web")
    assert service.launch_failures == 0
    assert service.deployments[0].failed_tasks == 0
    fake.close()


def test_a_replacement_goes_elsewhere_than_where_its_task_just_failed() -> None:
    fake = FakeCluster(instances=3)
    fake.state.register_task_definition(WEB)
    fake.state.create_service("web", "web", desired_count=1)
    for _ in range(4):  # each time on a fresh instance, never straight back onto the one that failed
        fake.run(2)
        (task,) = fake.service_tasks("web")
        fake.crash(task)  # before it was ever healthy: a failure
        fake.run(2)
        (replacement,) = fake.service_tasks("web")
        assert replacement.id != task.id
        assert replacement.container_instance_id != task.container_instance_id
    fake.close()


DAEMON_MAXIMUM = (
    "The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration."
)


@pytest.mark.parametrize(
    "configuration", [{"maximumPercent": 200}, {"maximumPercent": 101}, DeploymentConfiguration(150, 0)]
)
def test_a_daemon_service_refuses_a_maximum_percent_above_100(configuration: Any) -> None:
    state = cluster()
    version = state.version
    with pytest.raises(ValidationError) as caught:
        state.create_service("agent", "web", scheduling_strategy="DAEMON", deployment_configuration=configuration)
    assert caught.value.field == "deploymentConfiguration.maximumPercent" and caught.value.problem == DAEMON_MAXIMUM
    assert state.version == version and list(state.snapshot().services()) == []
    daemon = state.create_service("agent", "web", scheduling_strategy="DAEMON")
    version = state.version
    with pytest.raises(ValidationError) as caught:
        state.update_service("agent", deployment_configuration=configuration)
    assert caught.value.field == "deploymentConfiguration.maximumPercent" and caught.value.problem == DAEMON_MAXIMUM
    assert state.version == version and state.snapshot().service("agent") == daemon
    # 100 is allowed, and a REPLICA service may surge above it
    assert state.update_service("agent", deployment_configuration={"maximumPercent": 100}).deployment_configuration == (
        DeploymentConfiguration(100, 0)
    )
    replica = state.create_service("web", "web", desired_count=1, deployment_configuration=configuration)
    assert replica.deployment_configuration.maximum_percent > 100


def test_an_update_that_loses_a_race_is_made_again_on_the_newer_spec() -> None:
    state = cluster()
    state.create_service("web", "web", desired_count=1)
    original = state.commit
    raced: list[int] = []

    def racing(changes: Any, **options: Any) -> Any:
        if not raced:  # another user's write lands between the call's snapshot and its commit
            raced.append(original([spec_update(state.snapshot(), "web", health_check_grace_period_seconds=30)]).version)
        return original(changes, **options)

    state.commit = racing  # type: ignore[method-assign]
    updated = state.update_service("web", desired_count=4)
    assert raced and (updated.desired_count, updated.health_check_grace_period_seconds) == (4, 30)  # both kept


def test_an_update_or_delete_that_keeps_losing_raises_conflict_error_and_writes_nothing_of_its_own() -> None:
    state = cluster()
    state.create_service("web", "web", desired_count=1)
    original = state.commit
    races: list[int] = []

    def always_racing(changes: Any, **options: Any) -> Any:
        races.append(
            original([spec_update(state.snapshot(), "web", health_check_grace_period_seconds=len(races))]).version
        )
        return original(changes, **options)

    state.commit = always_racing  # type: ignore[method-assign]
    with pytest.raises(ConflictError, match="kept changing"):
        state.update_service("web", desired_count=4)
    assert len(races) == 20 and state.snapshot().service("web").desired_count == 1
    races.clear()
    with pytest.raises(ConflictError, match="kept changing"):
        state.delete_service("web", force=True)
    assert len(races) == 20 and state.snapshot().service("web").status == "ACTIVE"


def test_a_rejection_that_is_no_race_is_a_validation_error_at_once() -> None:
    state = cluster()
    state.create_service("web", "web", desired_count=1)
    original = state.commit
    commits: list[int] = []

    def unregistered(changes: Any, **options: Any) -> Any:  # the spec names a task definition the store lacks
        commits.append(1)
        bent = [attrs.evolve(c, spec=attrs.evolve(c.spec, task_definition="gone:1")) for c in changes]
        return original(bent, **options)

    version = state.version
    state.commit = unregistered  # type: ignore[method-assign]
    with pytest.raises(ValidationError) as caught:
        state.update_service("web", desired_count=2)
    assert caught.value.field == "service" and "task definition gone:1 is not registered" in caught.value.problem
    assert commits == [1] and state.version == version  # not tried again
