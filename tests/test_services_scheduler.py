"""The ServiceScheduler loop: regressions found by the service state machine, each with its scenario."""

from __future__ import annotations

import attrs

from clusterkit.model import Service
from clusterkit.services import Decision, ServiceOutcome, ServiceScheduler
from clusterkit.state import Snapshot
from clusterkit.testing import FakeCluster


def web(image: str, cpu: int = 256) -> dict[str, object]:
    return {"family": "web", "containerDefinitions": [{"name": "web", "image": image, "cpu": cpu, "memory": 512}]}


class SplitsLaunches(ServiceScheduler):
    """Decides as ECS does, then launches one task per Launch: a decision of several launches."""

    def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
        decision = super().decide(snapshot, service, now)
        split = tuple(attrs.evolve(launch, count=1) for launch in decision.launches for _ in range(launch.count))
        return attrs.evolve(decision, launches=split)


def test_two_launches_of_one_decision_do_not_count_on_the_same_room() -> None:
    """Each launch of a decision was planned on the same snapshot: two of them took the one
    free slot, the atomic commit was refused eight times over, and the service never moved
    again (an older deployment replacing its own task beside the new one's launch made
    such decisions).
    """
    cluster = FakeCluster(instances=1, cpus=1, memory=4096)  # room for four tasks of 256 CPU units
    cluster.schedulers[:] = [SplitsLaunches(cluster.state, resync_interval=float("inf"))]
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.start_task("web:1", ["i-0000"])
    state.start_task("web:1", ["i-0000"])
    state.start_task("web:1", ["i-0000"])  # one slot left
    state.create_service("web", "web", desired_count=2)
    outcomes = cluster.run(3)
    assert all(outcome.conflicts == 0 for outcome in outcomes), outcomes
    assert sum(len(outcome.started) for outcome in outcomes) == 1  # the one free slot, taken once
    assert outcomes[0].unplaced == 1
    cluster.close()


def test_a_service_short_of_room_does_not_commit_every_pass_and_starts_its_tasks_when_room_comes() -> None:
    """With tasks no instance could take, each pass committed the unchanged record again:
    a new version, a ServiceChanged event, the service marked again — a busy loop that
    bumped the version every tick and only by chance placed the tasks once room came.
    """
    cluster = FakeCluster(instances=1, cpus=1, memory=4096)  # room for four
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=6)
    cluster.run(5)
    version = state.snapshot().service("web").status_version  # the scheduler's writes: the status's version
    outcomes = cluster.run(120)
    assert state.snapshot().service("web").status_version == version + 1  # the tasks became healthy: recorded once
    idle_commits = [o for o in outcomes if o.committed and not o.started and not o.stopped]
    assert len(idle_commits) <= 1  # only that one: no commit per pass while the tasks find no room
    assert len(cluster.service_tasks("web")) == 4
    cluster.add_instance()
    cluster.run(3)
    assert len(cluster.service_tasks("web")) == 6
    events = [event.message for event in state.snapshot().service("web").events]
    assert sum("was unable to place a task" in message for message in events) == 1
    cluster.close()


def test_a_service_short_of_room_starts_its_tasks_when_another_task_stops() -> None:
    cluster = FakeCluster(instances=1, cpus=1, memory=4096)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    standalone = state.start_task("web:1", ["i-0000"]).tasks[0]
    state.create_service("web", "web", desired_count=4)
    cluster.run(60)
    assert len(cluster.service_tasks("web")) == 3
    state.stop_task(standalone.id)
    cluster.run(3)
    assert len(cluster.service_tasks("web")) == 4
    cluster.close()


def test_a_daemon_leaves_a_draining_instance_once_the_other_tasks_left_it() -> None:
    """The daemon's task stays while a replica's task is on the draining instance; when that
    task stopped, only the instance's resources changed, no service was marked, and the
    daemon's task stayed on the drained instance for good.
    """
    cluster = FakeCluster(instances=2)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.register_task_definition({**web("agent:1"), "family": "agent"})
    state.create_service("agent", "agent", scheduling_strategy="DAEMON")
    state.create_service("web", "web", desired_count=2, placement_strategy=[{"type": "spread", "field": "instanceId"}])
    cluster.run(60)
    assert {task.container_instance_id for task in cluster.service_tasks("web")} == {"i-0000", "i-0001"}
    cluster.drain("i-0000")
    cluster.run(5)
    assert any(task.container_instance_id == "i-0000" for task in cluster.service_tasks("agent"))  # not yet
    cluster.run(120)
    assert not [task for task in cluster.state.snapshot().tasks_on("i-0000")]
    assert [task.container_instance_id for task in cluster.service_tasks("agent")] == ["i-0001"]
    cluster.close()


def test_a_deployment_completes_though_the_older_one_lost_tasks_it_cannot_replace() -> None:
    """An older deployment whose tasks crashed during the rollout kept asking for its own
    replacements after the new deployment had all its healthy tasks: no room for them, so
    every pass launched (unplaced) and the deployment never COMPLETED. Older deployments
    replace failed tasks only while the service is short of its desired count.
    """
    cluster = FakeCluster(instances=1, cpus=1, memory=4096)  # room for four
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.register_task_definition(web("web:2"))
    state.create_service("web", "web:1", desired_count=2)
    cluster.run(45)
    state.update_service("web", task_definition="web:2")
    cluster.tick()  # two tasks of web:2 start: the host is full
    for task in cluster.service_tasks("web"):
        if task.task_definition == "web:1":
            cluster.crash(task)
    cluster.tick()  # the agent reports them STOPPED: two slots free
    state.start_task("web:1", ["i-0000"])
    state.start_task("web:1", ["i-0000"])  # and taken by standalone tasks
    cluster.run(60)
    record = state.snapshot().service("web")
    assert [(d.task_definition, d.rollout_state) for d in record.deployments] == [("web:2", "COMPLETED")]
    assert sorted(t.task_definition for t in cluster.service_tasks("web")) == ["web:2", "web:2"]
    cluster.close()


def test_a_failed_deployment_does_not_wear_down_the_tasks_that_keep_the_service_up() -> None:
    """After the circuit breaker failed a deployment (rollback off), the older deployment's
    tasks were still "replaced by the deployment": a crashed one's replacement was stopped
    as soon as it started and the older deployment's count went down, for good — the
    service ran one task short with nothing coming to replace it.
    """
    cluster = FakeCluster(instances=3)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.register_task_definition(web("broken:1"))
    cluster.fail_pull("broken:1")
    state.create_service(
        "web",
        "web:1",
        desired_count=3,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    cluster.run(45)
    state.update_service("web", task_definition="web:2")
    cluster.run(120, 5.0)
    assert state.snapshot().service("web").deployments[0].rollout_state == "FAILED"
    cluster.crash(cluster.service_tasks("web")[0])
    cluster.run(600, 5.0)
    tasks = [t for t in cluster.service_tasks("web") if t.desired_status == "RUNNING"]
    assert sorted(t.task_definition for t in tasks) == ["web:1"] * 3
    older = state.snapshot().service("web").deployments[1]
    assert older.task_definition == "web:1" and older.desired_count == 3
    cluster.close()


def test_the_run_loop_keeps_going_through_store_errors_and_then_reconciles_everything() -> None:
    import threading

    from clusterkit.errors import StoreError
    from clusterkit.state import CommitResult

    cluster = FakeCluster(instances=2)
    state = cluster.state
    commit = state.commit
    failures = {"left": 4}

    def flaky(changes: object, **options: object) -> CommitResult:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise StoreError("etcd did not answer /kv/txn at any endpoint")
        return commit(changes, **options)  # type: ignore[arg-type]

    definition = {"family": "web", "containerDefinitions": [{"name": "a", "image": "web", "memory": 64}]}
    state.register_task_definition(definition)
    state.create_service("web", "web:1", desired_count=3)
    state.commit = flaky  # type: ignore[method-assign]
    scheduler = ServiceScheduler(state, resync_interval=float("inf"))
    stop = threading.Event()
    worker = threading.Thread(target=scheduler.run, args=(stop,), kwargs={"interval": 0.01})
    worker.start()
    try:
        for _ in range(500):
            if failures["left"] == 0 and len(cluster.service_tasks("web")) == 3:
                break
            threading.Event().wait(0.01)
        seen_error = scheduler.store_error
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert failures["left"] == 0 and len(cluster.service_tasks("web")) == 3  # launched once the store answered
    assert seen_error is None  # and the error cleared with the first step that went through
    cluster.close()


def racing_cluster(races: int) -> tuple[FakeCluster, list[str]]:
    """A service ``web`` wanting 2 tasks on a cluster whose next ``races`` commits of a service
    status lose to another scheduler's write of that status (made between the snapshot and the
    commit); and the reasons of every rejection the commits meet.
    """
    from clusterkit.state import CommitResult, PutServiceStatus

    cluster = FakeCluster(instances=2)
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.create_service("web", "web", desired_count=2)
    original = state.commit
    refused: list[str] = []
    left = [races]

    def racing(changes: list[object], **options: object) -> CommitResult:
        if left[0] > 0 and any(isinstance(change, PutServiceStatus) for change in changes):
            left[0] -= 1
            stored = state.snapshot().service_status("web")
            original([PutServiceStatus(stored, stored.version)])  # another scheduler first
        result = original(changes, **options)  # type: ignore[arg-type]
        refused.extend(rejection.reason for rejection in result.rejected)
        return result

    state.commit = racing  # type: ignore[method-assign,assignment]
    return cluster, refused


def test_a_conflict_is_counted_by_the_retry_and_the_service_decided_again() -> None:
    """The atomic commit is refused (STALE_VERSION), counted once in the outcome, and the next
    attempt, decided from a fresh snapshot, commits.
    """
    cluster, refused = racing_cluster(1)
    outcome = ServiceScheduler(cluster.state).reconcile_service("web")
    assert "STALE_VERSION" in refused
    assert outcome.conflicts == 1 and outcome.committed and len(outcome.started) == 2
    assert len(cluster.service_tasks("web")) == 2  # placed once, not twice
    cluster.close()


def test_a_service_that_keeps_conflicting_gives_up_after_eight_attempts() -> None:
    cluster, refused = racing_cluster(100)
    outcome = ServiceScheduler(cluster.state).reconcile_service("web")
    assert outcome == ServiceOutcome("web", conflicts=8)
    assert refused.count("STALE_VERSION") == 8 and cluster.service_tasks("web") == []
    cluster.close()


def test_run_without_a_stop_ends_promptly_on_close() -> None:
    import threading
    import time

    cluster = FakeCluster(instances=1)
    cluster.state.register_task_definition(web("web:1"))
    cluster.state.create_service("web", "web", desired_count=1)
    scheduler = ServiceScheduler(cluster.state)
    worker = threading.Thread(target=scheduler.run, kwargs={"interval": 60.0}, daemon=True)  # the timer: far too late
    worker.start()
    for _ in range(500):
        if cluster.service_tasks("web"):
            break
        time.sleep(0.01)
    assert len(cluster.service_tasks("web")) == 1  # it stepped on its own
    closed = time.monotonic()
    scheduler.close()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - closed < 2.0
    cluster.close()
