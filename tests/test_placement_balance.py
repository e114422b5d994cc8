"""BaseScheduler(balance=...): pack cpu and memory together, not one at a time."""

from __future__ import annotations

from typing import Any

import pytest

import clusterkit
from clusterkit import BaseScheduler, PlacementRequest, ValidationError
from clusterkit.placement import binpack, spread


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, "0.2", True])
def test_balance_is_a_fraction(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        BaseScheduler(balance=bad)  # type: ignore[arg-type]
    assert caught.value.field == "balance"


def cluster() -> clusterkit.ClusterState:
    """Two instances: i-a is busy with CPU-heavy work (CPU binding), i-b carries one small task."""
    state = clusterkit.ClusterState("balance")
    for name in ("i-a", "i-b"):
        state.register_container_instance(name, cpu=4096, memory=16384)
    container = {"name": "c", "image": "x"}
    for family, cpu, memory in (("cpuheavy", 1024, 512), ("memheavy", 128, 2048)):
        state.register_task_definition(
            {"family": family, "containerDefinitions": [{**container, "cpu": cpu, "memory": memory}]}
        )
    state.start_task("cpuheavy", ["i-a", "i-a"])
    state.start_task("memheavy", ["i-b"])
    return state


def test_memory_heavy_work_goes_where_it_leaves_memory_and_cpu_in_step() -> None:
    state = cluster()
    request = PlacementRequest(state.snapshot().task_definition("memheavy"), count=4, strategies=[binpack("memory")])
    plain = BaseScheduler().place(state.snapshot(), request)
    balanced = BaseScheduler(balance=0.2).place(state.snapshot(), request)
    # binpack alone keeps filling i-b (least memory left), running its memory far ahead of its CPU
    assert {p.task.container_instance_id for p in plain.placements} == {"i-b"}
    # balanced: i-b is set aside once its memory would run >20% ahead; the CPU-busy i-a takes the rest
    assert [p.task.container_instance_id for p in balanced.placements] == ["i-b", "i-a", "i-a", "i-a"]
    result = state.commit(balanced)
    assert result.ok and clusterkit.state.state_violations(state.snapshot()) == []
    for instance in state.snapshot().instances():
        cpu = 1 - instance.remaining.cpu / instance.registered.cpu
        memory = 1 - instance.remaining.memory / instance.registered.memory
        assert memory - cpu <= 0.2 + 1e-9, instance.id


def test_set_aside_instances_are_still_used_when_nothing_else_fits() -> None:
    state = clusterkit.ClusterState("aside")
    state.register_container_instance("only", cpu=4096, memory=16384)
    state.register_task_definition(
        {"family": "cpuheavy", "containerDefinitions": [{"name": "c", "image": "x", "cpu": 1024, "memory": 512}]}
    )
    state.register_task_definition(
        {"family": "memheavy", "containerDefinitions": [{"name": "c", "image": "x", "cpu": 128, "memory": 2048}]}
    )
    state.start_task("cpuheavy", ["only"])
    request = PlacementRequest(state.snapshot().task_definition("memheavy"), count=6, strategies=[binpack("memory")])
    plan = BaseScheduler(balance=0.2).place(state.snapshot(), request)
    assert len(plan.placements) == 6 and not plan.unplaced  # unbalancing, but the only room there is


def test_explain_ranks_set_aside_instances_last() -> None:
    state = cluster()
    request = PlacementRequest(state.snapshot().task_definition("memheavy"), count=1, strategies=[binpack("memory")])
    state.start_task("memheavy", ["i-b"])  # one more would run i-b's memory past the balance
    scheduler = BaseScheduler(balance=0.2)
    explanation = scheduler.explain(state.snapshot(), request)
    assert [c.instance_id for c in explanation.ranked] == ["i-a", "i-b"]
    assert scheduler.place(state.snapshot(), request).placements[0].task.container_instance_id == explanation.chosen
    assert BaseScheduler().explain(state.snapshot(), request).chosen == "i-b"  # plain binpack: least memory left


@pytest.mark.parametrize("chain", [[binpack("cpu")], [spread("instanceId")], [spread("instanceId"), binpack("cpu")]])
def test_set_aside_instances_are_used_with_sorted_chains_too(chain: list[Any]) -> None:
    """Found by the reliability suite: taking a set-aside instance crashed binpack(cpu)'s sorted order."""
    state = clusterkit.ClusterState("aside-sorted")
    state.register_container_instance("only", cpu=256, memory=256)
    state.register_task_definition(
        {"family": "mem", "containerDefinitions": [{"name": "c", "image": "x", "memory": 64}]}
    )
    state.start_task("mem", ["only"])
    cpu = state.register_task_definition(
        {"family": "cpu", "containerDefinitions": [{"name": "c", "image": "x", "cpu": 128, "memory": 16}]}
    )
    plan = BaseScheduler(balance=0.2).place(state.snapshot(), PlacementRequest(cpu, count=3, strategies=chain))
    assert [p.task.container_instance_id for p in plan.placements] == ["only", "only"]
    assert [u.reason for u in plan.unplaced] == ["RESOURCE:CPU"]
