"""commit_with_retry and Retry: plan on a snapshot, commit, plan again from a fresh one on a conflict."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import (
    Change,
    ClusterState,
    CommitResult,
    ConflictError,
    PlaceTask,
    Snapshot,
    StoreError,
    Task,
    UpdateInstance,
    ValidationError,
)
from clusterkit.state import Batches, Retry, commit_with_retry, is_stale, jittered, new_id, state_violations


def cluster(instances: int = 1, slots: int = 2) -> ClusterState:
    """Instances ``i-0``… each with room for ``slots`` tasks of the ``web`` family."""
    state = ClusterState("retry", clock=lambda: 1_000.0)
    for index in range(instances):
        state.register_container_instance(f"i-{index}", cpu=512 * slots, memory=512 * slots)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "web", "cpu": 512, "memory": 512}]}
    )
    return state


def place(snapshot: Snapshot, instance_id: str, count: int) -> list[Change]:
    definition = snapshot.task_definition("web")
    return [
        PlaceTask(
            Task(
                id=new_id(), task_definition=definition.key, container_instance_id=instance_id, charge=definition.charge
            )
        )
        for _ in range(count)
    ]


def fill(snapshot: Snapshot) -> list[Change]:
    """Level-triggered: a task in every free slot of every instance."""
    changes: list[Change] = []
    for instance in snapshot.instances():
        changes.extend(place(snapshot, instance.id, instance.remaining.cpu // 512))
    return changes


def racing(
    plan: Callable[[Snapshot], list[Change]], state: ClusterState, times: int = 1
) -> Callable[[Snapshot], list[Change]]:
    """``plan``, but the first ``times`` calls let another writer take a slot of ``i-0`` first."""
    calls = {"left": times}

    def planned(snapshot: Snapshot) -> list[Change]:
        changes = plan(snapshot)
        if calls["left"] > 0:
            calls["left"] -= 1
            assert state.commit(place(state.snapshot(), "i-0", 1)).ok  # the other writer wins the race
        return changes

    return planned


def running(state: ClusterState) -> int:
    return sum(1 for _ in state.snapshot().tasks())


def test_a_plan_that_fits_is_committed_once() -> None:
    state = cluster()
    outcome = commit_with_retry(state, fill)
    assert (outcome.attempts, outcome.commits, outcome.conflicted, outcome.gave_up) == (1, 1, 0, False)
    assert outcome.result is not None and outcome.result.ok
    assert len(outcome.accepted) == 2 and outcome.conflicts == () and outcome.unresolved == ()
    assert running(state) == 2


@pytest.mark.parametrize("nothing", [None, [], Batches([]), Batches([[], []])])
def test_a_plan_with_nothing_to_do_commits_nothing(nothing: object) -> None:
    state = cluster()
    version = state.version
    outcome = commit_with_retry(state, lambda snapshot: nothing)  # type: ignore[arg-type,return-value]
    assert (outcome.attempts, outcome.commits, outcome.result, outcome.gave_up) == (1, 0, None, False)
    assert state.version == version


def test_incremental_keeps_what_was_accepted_and_plans_again_from_the_fresh_snapshot() -> None:
    state = cluster(slots=3)
    seen: list[int] = []

    def plan(snapshot: Snapshot) -> list[Change]:
        seen.append(snapshot.version)
        return fill(snapshot)

    outcome = commit_with_retry(state, racing(plan, state), atomic=False)
    (first,) = outcome.results  # the second plan found the instance full: no second commit
    assert len(first.accepted) == 2 and [r.reason for r in first.rejected] == ["RESOURCE:CPU"]
    assert [r.reason for r in outcome.conflicts] == ["RESOURCE:CPU"]
    assert outcome.accepted == first.accepted
    assert outcome.attempts == 2 and outcome.conflicted == 1 and not outcome.gave_up
    assert seen[1] >= first.version  # planned again from a snapshot holding the accepted ones
    assert running(state) == 3  # 1 of the other writer's, 2 of ours: the instance is full


def test_replan_gets_only_the_rejected_remainder() -> None:
    state = cluster(instances=2, slots=2)
    asked: list[int] = []

    def plan(snapshot: Snapshot) -> list[Change]:
        return place(snapshot, "i-0", 2)

    def replan(snapshot: Snapshot, rejected: tuple[Change, ...]) -> list[Change]:
        asked.append(len(rejected))
        return place(snapshot, "i-1", len(rejected))

    outcome = commit_with_retry(state, racing(plan, state), replan=replan)
    assert asked == [1]
    assert outcome.commits == 2 and all(result.ok for result in outcome.results[1:])
    assert len(outcome.accepted) == 2
    assert {task.container_instance_id for task in state.snapshot().tasks()} == {"i-0", "i-1"}


def test_atomic_commits_nothing_on_a_conflict_and_plans_everything_again() -> None:
    state = cluster(instances=2, slots=2)
    sizes: list[int] = []

    def plan(snapshot: Snapshot) -> list[Change]:
        changes = fill(snapshot)
        sizes.append(len(changes))
        return changes

    outcome = commit_with_retry(state, racing(plan, state), atomic=True)
    first, second = outcome.results
    assert first.accepted == () and {r.reason for r in first.rejected} == {"RESOURCE:CPU", "ABORTED"}
    assert [r.reason for r in outcome.conflicts] == ["RESOURCE:CPU"]  # the bystanders are no conflict
    assert second.ok and sizes == [4, 3]
    assert outcome.conflicted == 1 and not outcome.gave_up
    assert running(state) == 4


def test_attempts_run_out_and_the_rest_is_unresolved() -> None:
    state = cluster(slots=10)
    outcome = commit_with_retry(state, racing(fill, state, times=99), atomic=True, max_attempts=3)
    assert (outcome.attempts, outcome.commits, outcome.conflicted, outcome.gave_up) == (3, 3, 3, True)
    assert outcome.accepted == ()
    assert outcome.result is not None and outcome.unresolved == outcome.result.rejected
    assert running(state) == 3  # the other writer's


def test_a_rejection_that_is_no_conflict_ends_the_loop() -> None:
    state = cluster()
    instance = state.snapshot().instance("i-0")
    state.commit([UpdateInstance("i-0", status="DRAINING")])  # the version moves on: a stale write
    calls = []

    def plan(snapshot: Snapshot) -> list[Change]:
        calls.append(snapshot.version)
        return [UpdateInstance("nope", status="ACTIVE")]

    outcome = commit_with_retry(state, plan, conflict=is_stale)
    assert len(calls) == 1 and not outcome.gave_up and outcome.conflicts == ()
    assert outcome.result is not None and [r.reason for r in outcome.result.rejected] == ["MISSING"]
    stale = commit_with_retry(
        state,
        lambda snapshot: [UpdateInstance("i-0", status="ACTIVE", expected_version=instance.version)],
        conflict=is_stale,
        max_attempts=2,
    )
    assert stale.gave_up and [r.reason for r in stale.conflicts] == ["STALE_VERSION"] * 2


def test_backoff_sleeps_between_attempts_only() -> None:
    state = cluster(slots=10)
    slept: list[float] = []
    asked: list[int] = []

    def backoff(attempt: int) -> float:
        asked.append(attempt)
        return 0.25 * attempt

    commit_with_retry(
        state, racing(fill, state, times=99), atomic=True, max_attempts=3, backoff=backoff, sleep=slept.append
    )
    assert asked == [1, 2] and slept == [0.25, 0.5]  # none after the last attempt


def test_jittered_stays_within_its_bound_and_refuses_bad_bases() -> None:
    delay = jittered(0.01)
    for attempt in range(1, 6):
        assert 0 <= delay(attempt) <= 0.01 * 2 ** (attempt - 1)
    assert jittered(0)(3) == 0.0
    with pytest.raises(ValidationError) as caught:
        jittered(-1)
    assert caught.value.field == "backoff"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_max_attempts_is_refused_and_nothing_changes(bad: object) -> None:
    state = cluster()
    version = state.version
    with pytest.raises(ValidationError) as caught:
        commit_with_retry(state, fill, max_attempts=bad)  # type: ignore[arg-type]
    assert caught.value.field == "maxAttempts" and state.version == version


def test_batches_are_committed_each_on_its_own() -> None:
    state = cluster(instances=2, slots=2)

    def plan(snapshot: Snapshot) -> Batches:
        return Batches([place(snapshot, "i-0", 2), place(snapshot, "i-1", 2)])

    outcome = commit_with_retry(state, racing(plan, state), atomic=True, max_attempts=1)  # type: ignore[arg-type]
    first, second = outcome.results
    assert not first.ok and second.ok  # i-0's lost to the other writer, i-1's went through
    assert outcome.gave_up and len(outcome.accepted) == 2


def test_a_commit_that_raises_conflict_error_is_a_conflict() -> None:
    state = cluster()
    commit = state.commit
    raised = {"left": 1}

    def flaky(changes: object, **options: object) -> object:
        if raised["left"]:
            raised["left"] -= 1
            raise ConflictError("lost the race outright")
        return commit(changes, **options)  # type: ignore[arg-type]

    state.commit = flaky  # type: ignore[assignment,method-assign]
    outcome = commit_with_retry(state, fill)
    assert outcome.attempts == 2 and outcome.conflicted == 1 and outcome.commits == 1 and running(state) == 2


def test_store_errors_pass_through() -> None:
    state = cluster()

    def broken(changes: object, **options: object) -> object:
        raise StoreError("etcd away")

    state.commit = broken  # type: ignore[assignment,method-assign]
    with pytest.raises(StoreError):
        commit_with_retry(state, fill)


def test_retry_can_be_driven_a_step_at_a_time() -> None:
    state = cluster(slots=3)
    retry = Retry(state, fill, max_attempts=4)
    with pytest.raises(ValidationError):
        retry.commit([])  # nothing planned yet
    groups = retry.plan()
    with pytest.raises(ValidationError):
        retry.plan()  # the last plan is not committed yet
    assert retry.snapshot is not None and len(groups[0]) == 3
    state.commit(place(state.snapshot(), "i-0", 1))  # what happens while the decision is made
    assert retry.commit(groups) is False and not retry.done
    assert retry.plan() == []  # the instance is full now: nothing left
    assert retry.done and not retry.outcome.gave_up and retry.outcome.attempts == 2
    with pytest.raises(ValidationError):
        retry.plan()


def test_a_committer_routes_every_commit_and_its_result_drives_the_loop() -> None:
    state = cluster(slots=3)
    returned: list[CommitResult] = []

    def committer(changes: list[Change]) -> CommitResult:
        if not returned:
            state.commit(place(state.snapshot(), "i-0", 2))  # a race inside the first commit
        returned.append(state.commit(changes))
        return returned[-1]

    retry = Retry(state, fill, max_attempts=4, committer=committer)
    while not retry.done:
        groups = retry.plan()
        if groups:
            retry.commit(groups)
    outcome = retry.outcome
    assert outcome.results == tuple(returned) and len(returned) == 1
    assert len(returned[0].accepted) == 1 and len(returned[0].rejected) == 2  # the race took two slots
    assert outcome.attempts == 2 and outcome.conflicted == 1 and not outcome.gave_up  # then nothing left


@given(
    races=st.lists(st.booleans(), max_size=8),
    atomic=st.booleans(),
    max_attempts=st.integers(1, 6),
    slots=st.integers(1, 4),
)
def test_a_plan_after_a_conflict_is_never_made_from_an_older_snapshot(
    races: list[bool], atomic: bool, max_attempts: int, slots: int
) -> None:
    state = cluster(instances=2, slots=slots)
    pending = list(races)
    seen: list[int] = []

    def plan(snapshot: Snapshot) -> list[Change]:
        seen.append(snapshot.version)
        changes = fill(snapshot)
        if pending and pending.pop(0) and snapshot.instance("i-0").remaining.cpu >= 512:
            state.commit(place(state.snapshot(), "i-0", 1))
        return changes

    outcome = commit_with_retry(state, plan, atomic=atomic, max_attempts=max_attempts)
    assert outcome.attempts == len(seen) <= max_attempts
    results = list(outcome.results)
    for index in range(1, len(seen)):  # each attempt after a conflict plans at or after that commit
        assert seen[index] >= results[index - 1].version >= seen[index - 1]
    assert not state_violations(state.snapshot())
    accepted = {change.task.id for change in outcome.accepted if isinstance(change, PlaceTask)}
    assert accepted <= {task.id for task in state.snapshot().tasks()}
    if not outcome.gave_up:  # it ended because nothing was left, or its last commit went through
        last_committed = outcome.commits == outcome.attempts  # else the last plan found nothing to do
        assert not last_committed or (outcome.result is not None and outcome.result.ok)
        assert all(instance.remaining.cpu < 512 for instance in state.snapshot().instances())


def test_a_plan_may_return_a_change_source() -> None:
    class Carrier:
        def __init__(self, changes: list[Change]) -> None:
            self.changes = changes

    state = cluster()
    outcome = commit_with_retry(state, lambda snapshot: Carrier(fill(snapshot)))
    assert outcome.commits == 1 and len(outcome.accepted) == 2 and running(state) == 2
    assert commit_with_retry(state, lambda snapshot: Carrier([])).commits == 0
