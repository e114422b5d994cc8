"""Several schedulers, one ClusterState, real threads: optimistic commits keep the state whole."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from clusterkit import BaseScheduler, ClusterState, PlacementRequest, PlaceTask, Plan, Snapshot
from clusterkit.placement import PlacementOutcome, binpack, place_and_commit, random, spread
from clusterkit.state import state_violations


def definition(
    family: str, *, cpu: int = 256, memory: int = 256, ports: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "img", "cpu": cpu, "memory": memory}
    if ports:
        container["portMappings"] = ports
    return {"family": family, "containerDefinitions": [container]}


class SlowScheduler(BaseScheduler):
    """Plans like BaseScheduler, then dawdles: the others commit in between, so commits conflict."""

    def __init__(self, pause: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pause = pause

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        plan = super().place(snapshot, request)
        time.sleep(self.pause)
        return plan


def run_threads(workers: list[Any]) -> list[Any]:
    """Run each worker in its own thread, all released together; re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def main(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = workers[index]()
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=main, args=(n,)) for n in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a scheduler thread hung"
    if errors:
        raise errors[0]
    return results


def live(snapshot: Snapshot) -> list[Any]:
    return [task for task in snapshot.tasks() if task.last_status != "STOPPED"]


# -- many schedulers, many requests ------------------------------------------------------------


@pytest.mark.parametrize(
    "strategies", [[binpack("memory")], [binpack("cpu")], [spread("instanceId")], None, [random(5)]]
)
def test_concurrent_schedulers_keep_the_state_whole_and_account_for_every_task(strategies: Any) -> None:
    state = ClusterState("busy")
    for n in range(6):  # tiny instances: two tasks each
        state.register_container_instance(
            f"i-{n}", cpu=512, memory=600, attributes={"ecs.availability-zone": f"zone-{n % 3}"}
        )
    state.register_task_definition(definition("web"))
    state.register_task_definition(definition("api"))
    capacity = 12
    requested = 0
    workers = []
    per_worker: list[list[PlacementRequest]] = []
    for worker in range(4):
        snapshot = state.snapshot()
        requests = [
            PlacementRequest(
                snapshot.task_definition("web" if k % 2 else "api"),
                count=1 + (worker + k) % 3,
                started_by=f"w{worker}-r{k}",
                strategies=strategies,
            )
            for k in range(4)
        ]
        requested += sum(r.count for r in requests)
        per_worker.append(requests)
        scheduler = SlowScheduler(0.002, seed=worker)

        def work(
            requests: list[PlacementRequest] = requests, scheduler: BaseScheduler = scheduler
        ) -> list[PlacementOutcome]:
            return [place_and_commit(state, scheduler, r, max_attempts=60, backoff=0.0005) for r in requests]

        workers.append(work)
    assert requested > capacity
    outcomes = [o for result in run_threads(workers) for o in result]
    snapshot = state.snapshot()
    assert state_violations(snapshot) == []
    placed = live(snapshot)
    assert len(placed) == sum(len(o.tasks) for o in outcomes) == min(requested, capacity)
    assert {t.id for t in placed} == {t.id for o in outcomes for t in o.tasks}
    # every instance ended full: 2 tasks each
    assert Counter(t.container_instance_id for t in placed) == {f"i-{n}": 2 for n in range(6)}
    conflicts = [c for o in outcomes for c in o.conflicts]
    assert conflicts, "tiny instances and slow planners must collide at least once"
    assert {c.reason for c in conflicts} <= {"RESOURCE:CPU", "RESOURCE:MEMORY"}
    pairs = [
        (r, o)
        for rs, os_ in zip(per_worker, [outcomes[i : i + 4] for i in range(0, 16, 4)], strict=True)
        for r, o in zip(rs, os_, strict=True)
    ]
    for request, outcome in pairs:
        assert all(t.started_by == request.started_by for t in outcome.tasks)
        for unplaced in outcome.unplaced:
            assert "CONFLICT" not in unplaced.reasons, "60 attempts should outlast the contention"
        if outcome.conflicts:
            assert outcome.attempts > 1, "a conflict is retried"
    lost = {
        r.started_by: (r.count, len(o.tasks), len(o.unplaced))
        for r, o in pairs
        if len(o.tasks) + len(o.unplaced) != r.count
    }
    assert lost == {}, "request: (count, placed, reported unplaced)"


def test_concurrent_schedulers_on_a_roomy_cluster_place_everything() -> None:
    state = ClusterState("roomy")
    for n in range(8):
        state.register_container_instance(f"i-{n}", cpu=8192, memory=8192)
    state.register_task_definition(definition("web", cpu=64, memory=64, ports=[{"containerPort": 80}]))
    web = state.snapshot().task_definition("web")

    def work(worker: int) -> Any:
        scheduler = SlowScheduler(0.001, seed=worker)
        return lambda: [
            place_and_commit(
                state, scheduler, PlacementRequest(web, 3, strategies=[binpack("memory")]), max_attempts=60
            )
            for _ in range(5)
        ]

    outcomes = [o for result in run_threads([work(w) for w in range(4)]) for o in result]
    snapshot = state.snapshot()
    assert state_violations(snapshot) == []
    assert all(len(o.tasks) == 3 and o.unplaced == () for o in outcomes)
    placed = live(snapshot)
    assert len(placed) == 60
    # dynamic host ports never collide on an instance, even when plans raced
    for instance_id in {t.container_instance_id for t in placed}:
        ports = [b.host_port for t in placed if t.container_instance_id == instance_id for b in t.host_ports]
        assert len(ports) == len(set(ports)), instance_id
    conflicts = [c for o in outcomes for c in o.conflicts]
    assert {c.reason for c in conflicts} <= {"RESOURCE:PORTS", "RESOURCE:MEMORY", "RESOURCE:CPU"}


# -- conflicts, step by step ---------------------------------------------------------------------------


class Interloper(BaseScheduler):
    """Plans, then lets another writer start tasks before handing the plan back (once)."""

    def __init__(self, state: ClusterState, family: str, instances: list[str]) -> None:
        super().__init__()
        self.state, self.family, self.instances = state, family, instances
        self.fired = False

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        plan = super().place(snapshot, request)
        if not self.fired:
            self.fired = True
            assert self.state.start_task(self.family, self.instances).failures == ()
        return plan


def test_a_conflict_is_detected_and_retried_elsewhere() -> None:
    state = ClusterState("retry")
    state.register_container_instance("i-1", cpu=4096, memory=300)
    state.register_container_instance("i-2", cpu=4096, memory=400)
    state.register_task_definition(definition("job"))
    job = state.snapshot().task_definition("job")
    scheduler = Interloper(state, "job", ["i-1"])  # binpack picks i-1; the interloper fills it first
    outcome = place_and_commit(state, scheduler, PlacementRequest(job, strategies=[binpack("memory")]), backoff=0)
    assert [t.container_instance_id for t in outcome.tasks] == ["i-2"]
    assert [c.reason for c in outcome.conflicts] == ["RESOURCE:MEMORY"]
    conflict = outcome.conflicts[0].change
    assert isinstance(conflict, PlaceTask)  # the scheduler plans placements only
    assert conflict.task.container_instance_id == "i-1"
    assert (outcome.attempts, outcome.commits, outcome.unplaced) == (2, 2, ())
    assert state_violations(state.snapshot()) == []


def test_a_retry_keeps_the_tasks_the_first_plan_could_not_place() -> None:
    """Every task of the request is either placed or reported unplaced, whatever the retries did."""
    state = ClusterState("retry")
    state.register_container_instance("i-1", cpu=4096, memory=600)  # room for two
    state.register_task_definition(definition("job"))
    job = state.snapshot().task_definition("job")
    # the plan places two and cannot place the third; the interloper then takes one of the two slots
    outcome = place_and_commit(state, Interloper(state, "job", ["i-1"]), PlacementRequest(job, 3), backoff=0)
    assert len(outcome.tasks) == 1
    assert [c.reason for c in outcome.conflicts] == ["RESOURCE:MEMORY"]
    assert len(outcome.tasks) + len(outcome.unplaced) == 3, f"{len(outcome.unplaced)} unplaced reported"


# -- racing for one static host port ---------------------------------------------------------------


def port_state() -> ClusterState:
    state = ClusterState("port")
    state.register_container_instance("i-1", cpu=8192, memory=8192)
    state.register_task_definition(definition("web", ports=[{"containerPort": 80, "hostPort": 8080}]))
    return state


def test_two_schedulers_racing_for_one_host_port_exactly_one_wins() -> None:
    for round_ in range(30):
        state = port_state()
        web = state.snapshot().task_definition("web")

        def racer(seed: int, state: ClusterState = state, web: Any = web) -> PlacementOutcome:
            return place_and_commit(state, SlowScheduler(0.001, seed=seed), PlacementRequest(web), max_attempts=5)

        outcomes = run_threads([lambda: racer(1), lambda: racer(2)])
        snapshot = state.snapshot()
        assert state_violations(snapshot) == []
        assert len(live(snapshot)) == 1, round_
        winners = [o for o in outcomes if o.tasks]
        losers = [o for o in outcomes if not o.tasks]
        assert len(winners) == 1 and len(losers) == 1, round_
        (loser,) = losers
        assert [u.reason for u in loser.unplaced] == ["RESOURCE:PORTS"], round_
        assert {c.reason for c in loser.conflicts} <= {"RESOURCE:PORTS"}
        assert snapshot.instance("i-1").remaining.ports >= {8080}


def test_two_plans_from_one_snapshot_committed_at_once_exactly_one_wins() -> None:
    for round_ in range(30):
        state = port_state()
        snapshot = state.snapshot()
        request = PlacementRequest(snapshot.task_definition("web"))
        plans = [BaseScheduler(seed=n).place(snapshot, request) for n in range(2)]
        assert all(len(p.placements) == 1 for p in plans)
        results = run_threads([lambda p=plan, s=state: s.commit(p) for plan in plans])
        assert sorted(len(r.accepted) for r in results) == [0, 1], round_
        (rejected,) = [r for r in results if r.rejected]
        assert [x.reason for x in rejected.rejected] == ["RESOURCE:PORTS"]
        after = state.snapshot()
        assert len(live(after)) == 1 and state_violations(after) == []
        assert after.version == snapshot.version + 1


# -- atomic (gang) placement -------------------------------------------------------------------------


def test_atomic_place_and_commit_leaves_nothing_when_the_gang_does_not_fit() -> None:
    state = ClusterState("gang")
    state.register_container_instance("i-1", cpu=4096, memory=600)
    state.register_task_definition(definition("job"))
    job = state.snapshot().task_definition("job")
    outcome = place_and_commit(state, BaseScheduler(), PlacementRequest(job, 3), atomic=True)
    assert len(live(state.snapshot())) in (0, 3), "a gang is placed whole or not at all"
    assert outcome.tasks == () and len(outcome.unplaced) == 3
    result = state.run_task("job", count=3, atomic=True)
    assert len(live(state.snapshot())) in (0, 3)
    assert result.tasks == ()


def test_atomic_requests_racing_are_never_partly_committed() -> None:
    state = ClusterState("gangs")
    for n in range(5):
        state.register_container_instance(f"i-{n}", cpu=4096, memory=1000)  # three tasks of 300 MiB each
    state.register_task_definition(definition("job", cpu=64, memory=300))
    job = state.snapshot().task_definition("job")

    def work(worker: int) -> Any:
        scheduler = SlowScheduler(0.001, seed=worker)
        return lambda: [
            (
                f"w{worker}-{k}",
                place_and_commit(
                    state,
                    scheduler,
                    PlacementRequest(
                        job, 2 + (k + worker) % 3, started_by=f"w{worker}-{k}", strategies=[spread("instanceId")]
                    ),
                    atomic=True,
                    max_attempts=40,
                    backoff=0.0005,
                ),
            )
            for k in range(4)
        ]

    outcomes = [o for result in run_threads([work(w) for w in range(4)]) for o in result]
    snapshot = state.snapshot()
    assert state_violations(snapshot) == []
    by_tag = Counter(t.started_by for t in live(snapshot))
    for tag, outcome in outcomes:
        count = len(outcome.tasks) + len(outcome.unplaced)
        assert by_tag.get(tag, 0) in (0, count), f"{tag}: {by_tag.get(tag, 0)} of {count} committed"
        assert len(outcome.tasks) in (0, count)
        assert all(c.reason != "ABORTED" for c in outcome.conflicts)
    assert sum(by_tag.values()) == sum(len(o.tasks) for _, o in outcomes)
