"""A service's spec (users, autoscalers) and status (the service scheduler), each versioned.

A user's write and the scheduler's never conflict; the scheduler never overwrites a newer
spec; readers still see ECS's one ``Service``, the new deployment included at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterkit import ClusterState
from clusterkit.ecs_json import dump_service_record
from clusterkit.errors import ValidationError
from clusterkit.model import Deployment, Service, ServiceSpec, ServiceStatus, compose, observe, split
from clusterkit.placement import PortRange
from clusterkit.services import Decision, ServiceScheduler
from clusterkit.state import PutServiceSpec, PutServiceStatus, Snapshot
from clusterkit.testing import CommitLog, FakeCluster, ServiceInvariants, decided_count


def web(image: str) -> dict[str, object]:
    return {"family": "web", "containerDefinitions": [{"name": "web", "image": image, "cpu": 128, "memory": 256}]}


class CountingState(ClusterState):
    """Counts the commits made while ``counting`` is set."""

    counting = False
    commits = 0

    def commit(self, changes: Any, *, atomic: bool = False, client_token: Any = None) -> Any:
        """Count, then commit."""
        if self.counting:
            self.commits += 1
        return super().commit(changes, atomic=atomic, client_token=client_token)


class UserRacesTheCommit(ServiceScheduler):
    """Decides, then lets a user's update land before its commit (once, when armed)."""

    update: dict[str, Any] | None = None

    def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
        decision = super().decide(snapshot, service, now)
        if self.update is not None:
            update, self.update = self.update, None
            self.state.update_service(service.name, **update)  # type: ignore[attr-defined]
        return decision


def test_a_user_update_between_the_schedulers_snapshot_and_its_commit_neither_fails_nor_is_lost() -> None:
    cluster = FakeCluster(instances=3)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=2)
    racing = UserRacesTheCommit(state, resync_interval=float("inf"))
    before = state.snapshot().service("web")
    racing.update = {"desired_count": 4}
    outcome = racing.reconcile_service("web")
    assert outcome.committed and outcome.conflicts == 0  # the scheduler's commit went through at once
    assert len(outcome.started) == 2  # what it decided from the spec it read
    after = state.snapshot().service("web")
    assert after.desired_count == 4 and after.version == before.version + 1  # the user's write kept
    assert after.generation == before.generation + 1
    assert after.deployments[0].desired_count == 4  # observed at once by readers
    assert state.snapshot().service_status("web").observed_generation == before.generation  # not yet by the scheduler
    again = racing.reconcile_service("web")
    assert again.committed and len(again.started) == 2  # the next pass observes and acts on it
    assert state.snapshot().service_status("web").observed_generation == after.generation
    assert state.snapshot().service_spec("web").desired_count == 4  # never written back by the scheduler
    cluster.close()


@pytest.mark.parametrize("scale_in", [False, True])
def test_the_rules_hold_a_raced_commit_to_the_count_it_was_decided_with(scale_in: bool) -> None:
    """The scheduler launches 4 while the user lowers the count to 1 (SERVICE_MAX of the new
    count would flag it), or scales in to 1 while the user raises it to 4 (SERVICE_MIN would).
    """
    log = CommitLog()
    cluster = FakeCluster(instances=3, store=log)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=4)
    if scale_in:
        cluster.run(60)  # steady: 4 tasks RUNNING and healthy
        state.update_service("web", desired_count=1)
    log.take()

    class Logged(UserRacesTheCommit):
        def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
            with log.acting("user"):  # the user's write, made inside the scheduler's pass
                return super().decide(snapshot, service, now)

    racing = Logged(state, resync_interval=float("inf"))
    before = state.snapshot()
    checker = ServiceInvariants(before)
    racing.update = {"desired_count": 4 if scale_in else 1}
    outcome = racing.reconcile_service("web")
    assert outcome.committed and outcome.conflicts == 0
    assert (len(outcome.stopped), len(outcome.started)) == ((3, 0) if scale_in else (0, 4))
    commits = log.take()
    assert [commit.actor for commit in commits] == ["user", "cluster"]
    for commit in commits:
        after = Snapshot(commit.roots, state.arns)
        assert checker.check(before, after, commit.events, now=commit.now, user=commit.actor == "user") == []
        before = after
    assert decided_count(before, before.service("web")) == (1 if scale_in else 4)
    assert before.service("web").desired_count == (4 if scale_in else 1)
    cluster.close()


def test_a_new_task_definition_racing_the_scheduler_opens_the_deployment_readers_saw() -> None:
    cluster = FakeCluster(instances=3)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=2)
    cluster.run(3)
    state.register_task_definition(web("web:2"))
    racing = UserRacesTheCommit(state, resync_interval=float("inf"))
    racing.update = {"task_definition": "web:2"}
    outcome = racing.reconcile_service("web")
    shown = state.snapshot().service("web")
    assert outcome.conflicts == 0
    assert shown.task_definition == "web:2" and shown.deployments[0].task_definition == "web:2"
    promised = shown.deployments[0].id
    cluster.run(2)
    committed = state.snapshot().service_status("web")
    assert committed.deployments[0].id == promised  # the deployment the update showed is the one committed
    cluster.close()


def test_update_service_commits_once_while_the_scheduler_writes_the_status() -> None:
    state = CountingState("count")
    state.register_container_instance("i-1", cpu=4096, memory=8192)
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=1)
    scheduler = ServiceScheduler(state)
    snapshot = state.snapshot()
    decision = scheduler.decide(snapshot, snapshot.service("web"), state.clock())
    status = snapshot.observed_status("web")
    state.update_service("web", desired_count=3)  # the user first
    written = attrs.evolve(split(decision.service)[1], version=status.version)
    assert state.commit([PutServiceStatus(written, snapshot.service_status("web").version)]).ok  # then the scheduler
    state.counting = True
    state.update_service("web", desired_count=2)
    assert state.commits == 1
    assert state.snapshot().service("web").desired_count == 2


def test_the_autoscalers_compare_and_swap_never_fails_because_the_scheduler_wrote() -> None:
    cluster = FakeCluster(instances=2)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    created = state.create_service("web", "web", desired_count=1)
    cluster.run(60)  # the scheduler wrote the status many times
    current = state.snapshot().service("web")
    assert current.status_version > created.status_version and current.version == created.version
    done = state.update_service("web", desired_count=3, expected_version=created.version)
    assert done.desired_count == 3
    cluster.close()


def test_a_stale_status_write_is_refused_and_a_spec_write_does_not_move_the_status() -> None:
    state = ClusterState("s")
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=1)
    status = state.snapshot().service_status("web")
    state.update_service("web", desired_count=2)
    assert state.snapshot().service_status("web").version == status.version
    assert state.commit([PutServiceStatus(status, status.version)]).ok
    result = state.commit([PutServiceStatus(status, status.version)])
    assert [r.reason for r in result.rejected] == ["STALE_VERSION"]
    spec = state.snapshot().service_spec("web")
    result = state.commit([PutServiceSpec(spec, spec.version - 1)])
    assert [r.reason for r in result.rejected] == ["STALE_VERSION"]
    with pytest.raises(ValidationError, match="spec"):
        state.commit([PutServiceSpec(status, 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"deployments": [Deployment("d", "web:1", 1)]}, "deployments"),
        ({"deployments": (Deployment("d", "web:1", 1, status="ACTIVE"),)}, "deployments"),
        ({"tracked_tasks": {"t"}}, "tracked_tasks"),
        ({"healthy_seen": frozenset({"t"})}, "healthySeen"),
        ({"launch_failures": -1}, "launchFailures"),
        ({"inactive": 1}, "inactive"),
        ({"observed_generation": -1}, "observedGeneration"),
        ({"version": 0}, "statusVersion"),
    ],
)
def test_a_malformed_status_is_refused_naming_its_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceStatus("web", **fields)
    assert caught.value.field == field


def test_observe_is_pure_and_opens_one_deployment_per_asked_generation() -> None:
    spec = ServiceSpec("web", "web:1", desired_count=2, created_at=5.0, updated_at=5.0)
    first = observe(spec, ServiceStatus("web"), {})
    assert observe(spec, ServiceStatus("web"), {}) == first
    assert [d.task_definition for d in first.deployments] == ["web:1"] and first.observed_generation == 1
    scaled = attrs.evolve(spec, desired_count=5, generation=2, updated_at=6.0)
    second = observe(scaled, first, {first.deployments[0].id: 2})
    assert [d.id for d in second.deployments] == [first.deployments[0].id]
    assert second.deployments[0].desired_count == 5
    rolled = attrs.evolve(scaled, task_definition="web:2", generation=3, deployment_generation=3, updated_at=7.0)
    third = observe(rolled, second, {first.deployments[0].id: 2})
    assert [d.task_definition for d in third.deployments] == ["web:2", "web:1"]
    assert third.deployments[1].status == "ACTIVE" and third.deployments[1].desired_count == 2
    assert observe(rolled, third, {}) is third  # observed already: unchanged
    assert compose(rolled, third).task_definition == "web:2"


def test_compose_and_split_are_inverse_and_compose_sets_every_field() -> None:
    from clusterkit.model import DeploymentConfiguration, LoadBalancer, PlacementConstraint, ServiceEvent, binpack

    spec = ServiceSpec(  # no field at its default: a field compose forgot would show the template's
        "web",
        "web:1",
        desired_count=2,
        deployment_configuration=DeploymentConfiguration(150, 50),
        placement_constraints=(PlacementConstraint("distinctInstance"),),
        placement_strategy=(binpack("memory"),),
        health_check_grace_period_seconds=30,
        load_balancers=(LoadBalancer("arn:tg", "web", 80),),
        status="DRAINING",
        generation=3,
        deployment_generation=2,
        created_at=5.0,
        updated_at=6.0,
        version=4,
    )
    status = ServiceStatus(
        "web",
        deployments=(Deployment("ecs-svc/1", "web:1", 2),),
        events=(ServiceEvent("e", 7.0, "hello"),),
        tracked_tasks=frozenset({"t1", "t2"}),
        healthy_seen=frozenset({"t1"}),
        launch_failures=2,
        next_launch_at=9.0,
        inactive=True,
        observed_generation=3,
        version=7,
    )
    view = compose(spec, status)
    assert attrs.evolve(view) == view  # a valid Service: evolve runs every check
    assert split(view) == (spec, status)
    assert (view.status, view.version, view.status_version, view.generation) == ("INACTIVE", 4, 7, 3)


def test_scheduler_uses_the_dynamic_ports_it_is_given() -> None:
    state = ClusterState("ports")
    given_range = PortRange(40000, 40100)
    assert ServiceScheduler(state, dynamic_ports=given_range).dynamic_ports == given_range
    assert ServiceScheduler(state).dynamic_ports == state.dynamic_ports
    own = ClusterState("own", dynamic_ports=PortRange(30000, 30010))
    assert ServiceScheduler(own).dynamic_ports == PortRange(30000, 30010)
    with pytest.raises(ValidationError, match="dynamic_ports"):
        ServiceScheduler(state, dynamic_ports=(1, 2))  # type: ignore[arg-type]


def test_a_bridge_service_gets_host_ports_from_the_schedulers_range() -> None:
    cluster = FakeCluster(instances=1)
    state = cluster.state
    cluster.schedulers[:] = [ServiceScheduler(state, dynamic_ports=PortRange(40000, 40100))]
    state.register_task_definition(
        {
            "family": "web",
            "containerDefinitions": [
                {"name": "web", "image": "web:1", "memory": 128, "portMappings": [{"containerPort": 80}]}
            ],
        }
    )
    state.create_service("web", "web", desired_count=2)
    cluster.run(2)
    ports = {port for task in cluster.service_tasks("web") for port in task.charge.ports}
    assert len(ports) == 2 and all(40000 <= port <= 40100 for port in ports)
    cluster.close()


def one_service(seconds: float) -> FakeCluster:
    """Two hosts, a service "web" of 2 tasks, run for ``seconds``."""
    cluster = FakeCluster(instances=2)
    cluster.state.register_task_definition(web("web:1"))
    cluster.state.create_service("web", "web", desired_count=2)
    cluster.run(seconds)
    return cluster


def test_a_format_3_save_file_with_one_record_per_service_still_loads(tmp_path: Path) -> None:
    cluster = one_service(50)
    path = tmp_path / "state.json"
    snapshot = cluster.state.save(path)
    data = json.loads(path.read_text())
    data["formatVersion"] = 3
    data["services"] = [dump_service_record(service, snapshot.arns) for service in snapshot.services()]
    path.write_text(json.dumps(data))
    restored = ClusterState.restore(path).snapshot()
    old, new = snapshot.service("web"), restored.service("web")
    # format 3 kept neither the status version nor when the spec was written
    assert attrs.evolve(new, status_version=old.status_version, updated_at=old.updated_at) == old
    assert new.status_version == old.version  # both parts at the record's version
    assert restored.service_spec("web").desired_count == 2
    cluster.close()


def test_save_and_restore_keep_both_records_and_their_versions(tmp_path: Path) -> None:
    cluster = one_service(0)
    state = cluster.state
    state.update_service("web", desired_count=3)  # not observed by the scheduler yet
    path = tmp_path / "state.json"
    snapshot = state.save(path)
    restored = ClusterState.restore(path).snapshot()
    assert restored.service_spec("web") == snapshot.service_spec("web")
    assert restored.service_status("web") == snapshot.service_status("web")
    assert restored.service("web") == snapshot.service("web")
    cluster.close()


# -- interleavings ---------------------------------------------------------------------------

WRITES = st.lists(
    st.one_of(
        st.tuples(st.just("scale"), st.integers(0, 4)),
        st.tuples(st.just("deploy"), st.sampled_from(["web:1", "web:2"])),
        st.tuples(st.just("force"), st.just(0)),
        st.tuples(st.just("step"), st.integers(0, 3)),
        st.tuples(st.just("race"), st.integers(0, 4)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(WRITES)
def test_spec_writes_and_scheduler_steps_interleave_without_conflict_or_loss(steps: list[tuple[str, Any]]) -> None:
    cluster = FakeCluster(instances=2, cpus=4, memory=8192)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.register_task_definition(web("web:2"))
    state.create_service("web", "web:1", desired_count=1)
    racing = UserRacesTheCommit(state, resync_interval=float("inf"))
    last_count, last_definition = 1, "web:1"
    versions = [(1, 1)]
    for kind, value in steps:
        if kind == "scale":
            done = state.update_service("web", desired_count=value)
            last_count = value
            assert done.desired_count == value
        elif kind == "deploy":
            state.update_service("web", task_definition=value)
            last_definition = value
        elif kind == "force":
            state.update_service("web", force_new_deployment=True)
        elif kind == "race":  # a user's write lands between the scheduler's decision and its commit
            racing.update = {"desired_count": value}
            outcome = racing.reconcile_service("web")
            assert outcome.conflicts == 0
            last_count = value
        else:
            cluster.tick(float(value))
        snapshot = state.snapshot()
        spec, status = snapshot.service_spec("web"), snapshot.service_status("web")
        assert (spec.desired_count, spec.task_definition) == (last_count, last_definition)  # the last write holds
        assert spec.version >= versions[-1][0] and status.version >= versions[-1][1]  # versions only increase
        versions.append((spec.version, status.version))
        view = snapshot.service("web")
        assert view.desired_count == last_count and view.deployments[0].desired_count == last_count
    cluster.run(3)
    final = state.snapshot().service("web")
    assert final.desired_count == last_count
    assert state.snapshot().service_status("web").observed_generation == final.generation  # caught up
    cluster.close()
