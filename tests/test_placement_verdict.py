"""A filter's typed verdict: Rejected(reason, lasting), and plain reason strings as before."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clusterkit
from clusterkit import BaseScheduler, ContainerInstance, PlacementConstraint, PlacementRequest, ValidationError
from clusterkit.placement import PlacementContext, PlacementStrategy, Rejected, binpack, spread


def cluster(instances: int = 4) -> clusterkit.ClusterState:
    """``i-0`` has the least memory, so binpack looks at it first for every task."""
    state = clusterkit.ClusterState("verdict")
    for n in range(instances):
        state.register_container_instance(
            f"i-{n}", cpu=4096, memory=2048 * (n + 1), attributes={"zone": f"zone-{n % 2}"}
        )
    state.register_task_definition(
        {"family": "w", "containerDefinitions": [{"name": "a", "image": "b", "memory": 256}]}
    )
    return state


class Recording:
    """A filter that rejects the instances ``names`` with ``verdict`` and counts the instances it is asked about."""

    def __init__(self, verdict: Rejected | str, names: frozenset[str] = frozenset({"i-0"})) -> None:
        self.verdict = verdict
        self.names = names
        self.asked: Counter[str] = Counter()

    def __call__(self, instance: ContainerInstance, context: PlacementContext) -> Rejected | str | None:
        self.asked[instance.id] += 1
        return self.verdict if instance.id in self.names else None


def plan_with(verdict: Rejected | str, count: int = 5) -> tuple[Recording, clusterkit.Plan]:
    state = cluster()
    rule = Recording(verdict)
    request = PlacementRequest(state.snapshot().task_definition("w"), count=count, strategies=[binpack("memory")])
    return rule, BaseScheduler(filters=[rule]).place(state.snapshot(), request)


def test_a_lasting_rejection_is_not_asked_again_in_the_same_plan() -> None:
    rule, plan = plan_with(Rejected("MAINTENANCE", lasting=True))
    assert rule.asked["i-0"] == 1
    assert {p.task.container_instance_id for p in plan.placements} == {"i-1"}


def test_a_rejection_that_can_change_is_asked_again_for_every_task() -> None:
    rule, plan = plan_with(Rejected("MAINTENANCE"))
    assert rule.asked["i-0"] == 5
    assert {p.task.container_instance_id for p in plan.placements} == {"i-1"}


def test_a_plain_reason_string_still_works_and_counts_as_one_that_can_change() -> None:
    rule, plan = plan_with("MAINTENANCE")
    assert rule.asked["i-0"] == 5
    assert {p.task.container_instance_id for p in plan.placements} == {"i-1"}


@pytest.mark.parametrize("reason", ["RESOURCE:LICENSES", "DISTINCT_INSTANCE", "ATTRIBUTE"])
def test_a_reason_string_named_like_a_lasting_built_in_one_lasts_as_before(reason: str) -> None:
    rule, _ = plan_with(reason)
    assert rule.asked["i-0"] == 1


def test_attribute_can_change_in_a_request_whose_expressions_read_task_groups() -> None:
    state = cluster()
    reads_groups = PlacementConstraint("memberOf", "not(task:group == service:other)")
    request = PlacementRequest(
        state.snapshot().task_definition("w"), count=5, strategies=[binpack("memory")], constraints=[reads_groups]
    )
    rule = Recording("ATTRIBUTE")
    plan = BaseScheduler(filters=[rule]).place(state.snapshot(), request)
    assert rule.asked["i-0"] == 5
    assert {p.task.container_instance_id for p in plan.placements} == {"i-1"}


def test_the_reason_of_a_rejected_shows_in_unplaced_and_explain() -> None:
    state = cluster(1)
    request = PlacementRequest(state.snapshot().task_definition("w"), count=2)
    scheduler = BaseScheduler(filters=[lambda instance, context: Rejected("MAINTENANCE", lasting=True)])
    plan = scheduler.place(state.snapshot(), request)
    assert [dict(u.reasons) for u in plan.unplaced] == [{"MAINTENANCE": 1}, {"MAINTENANCE": 1}]
    explanation = scheduler.explain(state.snapshot(), request)
    assert [(c.instance_id, c.reason) for c in explanation.rejected] == [("i-0", "MAINTENANCE")]
    result = state.run_task("w", count=1, scheduler=scheduler)
    assert [(f.reason, f.detail) for f in result.failures] == [("MAINTENANCE", "MAINTENANCE: 1")]


def test_a_check_override_may_return_a_rejected() -> None:
    class NoOddInstances(BaseScheduler):
        """Rejects the odd-numbered instances for good."""

        def check(self, instance: ContainerInstance, context: PlacementContext) -> Rejected | str | None:
            if int(instance.id[2:]) % 2:
                return Rejected("ODD", lasting=True)
            return super().check(instance, context)

    state = cluster()
    request = PlacementRequest(state.snapshot().task_definition("w"), count=3)
    plan = NoOddInstances(filters=[lambda i, c: "NOT_ZERO" if i.id != "i-0" else None]).place(state.snapshot(), request)
    assert [p.task.container_instance_id for p in plan.placements] == ["i-0"] * 3
    explanation = NoOddInstances().explain(state.snapshot(), request)
    assert {c.instance_id: c.reason for c in explanation.rejected} == {"i-1": "ODD", "i-3": "ODD"}


@pytest.mark.parametrize(
    ("reason", "lasting", "field"), [("", False, "reason"), (3, False, "reason"), ("X", 1, "lasting")]
)
def test_a_rejected_needs_a_non_empty_reason_and_a_bool(reason: object, lasting: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Rejected(reason, lasting)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.value == (reason if field == "reason" else lasting)


@pytest.mark.parametrize("bad", [42, "", b"X", ("X", True)])
def test_a_filter_returning_anything_else_is_refused(bad: object) -> None:
    state = cluster(1)
    request = PlacementRequest(state.snapshot().task_definition("w"))
    scheduler = BaseScheduler(filters=[lambda instance, context: bad])  # type: ignore[list-item, return-value]
    with pytest.raises(ValidationError) as caught:
        scheduler.place(state.snapshot(), request)
    assert caught.value.field == "filter"
    assert caught.value.value == bad


CHAINS: list[list[PlacementStrategy]] = [
    [binpack("memory")],
    [binpack("cpu"), spread("instanceId")],
    [spread("attribute:zone"), binpack("memory")],
    [spread("instanceId")],
    [],
]


@settings(max_examples=60, deadline=None)
@given(
    memories=st.lists(st.integers(1, 8), min_size=1, max_size=8),
    rejected=st.sets(st.integers(0, 7)),
    chain=st.sampled_from(range(len(CHAINS))),
    count=st.integers(1, 12),
)
def test_lasting_only_saves_calls_it_never_changes_the_plan(
    memories: list[int], rejected: set[int], chain: int, count: int
) -> None:
    """For a rule that really lasts (it reads the instance alone), lasting=True gives the same plan.

    Not with a random order (a ``random`` chain, or ``sample``): it is drawn over the instances
    still in play, so dropping the lasting ones draws another (equally repeatable) order.
    """
    state = clusterkit.ClusterState("verdicts")
    for n, memory in enumerate(memories):
        state.register_container_instance(f"i-{n}", cpu=2048, memory=512 * memory, attributes={"zone": f"z{n % 3}"})
    state.register_task_definition(
        {"family": "w", "containerDefinitions": [{"name": "a", "image": "b", "cpu": 256, "memory": 512}]}
    )
    names = {f"i-{n}" for n in rejected}
    request = PlacementRequest(state.snapshot().task_definition("w"), count=count, strategies=CHAINS[chain])
    outcomes = []
    for lasting in (True, False):
        rule = Recording(Rejected("OUT", lasting=lasting), frozenset(names))
        plan = BaseScheduler(filters=[rule], seed=11).place(state.snapshot(), request)
        where = [p.task.container_instance_id for p in plan.placements]
        outcomes.append((where, [dict(u.reasons) for u in plan.unplaced], rule.asked))
    (lasting_where, lasting_unplaced, lasting_asked), (where, unplaced, changing_asked) = outcomes
    assert lasting_where == where
    assert lasting_unplaced == unplaced
    assert not names & set(where)
    for name in names:
        assert lasting_asked[name] <= changing_asked[name]
