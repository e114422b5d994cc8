"""BaseScheduler(sample=N): the best of N random feasible instances."""

from __future__ import annotations

import pytest

import clusterkit
from clusterkit import BaseScheduler, PlacementRequest, ValidationError
from clusterkit.placement import binpack


def cluster(instances: int = 12) -> clusterkit.ClusterState:
    state = clusterkit.ClusterState("sample")
    for n in range(instances):
        state.register_container_instance(f"i-{n:02d}", cpu=4096, memory=1024 * (n + 1))
    state.register_task_definition(
        {"family": "w", "containerDefinitions": [{"name": "a", "image": "b", "memory": 512}]}
    )
    return state


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_sample_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        BaseScheduler(sample=bad)  # type: ignore[arg-type]
    assert caught.value.field == "sample"


def test_a_sample_as_large_as_the_cluster_is_the_full_binpack() -> None:
    state = cluster()
    request = PlacementRequest(state.snapshot().task_definition("w"), count=5, strategies=[binpack("memory")])
    full = BaseScheduler().place(state.snapshot(), request)
    sampled = BaseScheduler(sample=100, seed=3).place(state.snapshot(), request)
    assert [p.task.container_instance_id for p in sampled.placements] == [
        p.task.container_instance_id for p in full.placements
    ]


def test_sampled_plans_vary_with_the_seed_repeat_with_it_and_keep_the_invariants() -> None:
    state = cluster()
    request = PlacementRequest(state.snapshot().task_definition("w"), count=20, strategies=[binpack("memory")])
    choices = {}
    for seed in range(6):
        plan = BaseScheduler(sample=2, seed=seed).place(state.snapshot(), request)
        again = BaseScheduler(sample=2, seed=seed).place(state.snapshot(), request)
        where = [p.task.container_instance_id for p in plan.placements]
        assert where == [p.task.container_instance_id for p in again.placements]
        choices[seed] = tuple(where)
    assert len(set(choices.values())) > 1, "different seeds should sample different instances"
    result = state.commit(BaseScheduler(sample=2, seed=1).place(state.snapshot(), request))
    assert result.ok
    assert clusterkit.state.state_violations(state.snapshot()) == []


def test_each_sampled_choice_is_the_best_of_two_feasible_instances() -> None:
    state = cluster(4)
    request = PlacementRequest(state.snapshot().task_definition("w"), count=1, strategies=[binpack("memory")])
    smallest = "i-00"  # 1 GiB: the binpack choice; with two of four sampled it is chosen half the time or so
    picks = [
        BaseScheduler(sample=2, seed=seed).place(state.snapshot(), request).placements[0].task.container_instance_id
        for seed in range(40)
    ]
    assert "i-03" not in picks, "the most empty instance is never the better of two"
    assert 5 < picks.count(smallest) < 35
