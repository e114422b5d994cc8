"""Spread over an attribute first: the walk of the attribute index against the full ranking.

A chain that starts with ``spread(attribute:NAME)`` and goes on with ``spread("instanceId")``
or nothing (ECS's default for services) is served by ``ValueSource``: it visits only the
instances of the least-loaded values, from the snapshot's attribute index, in the order the
rest of the chain gives. Here every plan it makes is compared with the plan the general
search makes (the least-loaded values' instances filtered out of the whole cluster and
ranked), on random clusters, and the attribute index and the spread counts with what a
scan of the instances says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import BaseScheduler, ClusterState, PlacementRequest, Snapshot
from clusterkit.model import ContainerInstance, Resources
from clusterkit.placement import Plan, spread
from clusterkit.placement._select import Selection
from clusterkit.placement._sources import ValueSource
from clusterkit.state import (
    DeregisterInstance,
    PlaceTask,
    RegisterInstance,
    TaskStateChange,
    UpdateInstance,
    state_violations,
)
from clusterkit.testing import ZONES, clusters

ZONE_NAME = "ecs.availability-zone"
ZONE = f"attribute:{ZONE_NAME}"
CHAINS = ((spread(ZONE), spread("instanceId")), (spread(ZONE),))


@st.composite
def zoned_clusters(draw: st.DrawFn) -> ClusterState:
    """The testing kit's clusters, with a zone (or a zone attribute without a value) on every instance."""
    state: ClusterState = draw(clusters(max_instances=10))
    snapshot = state.snapshot()
    for instance in sorted(snapshot.instances(), key=lambda found: found.id):
        if not instance.has_attribute(ZONE_NAME) and instance.status != "INACTIVE":
            zone = draw(st.sampled_from((*ZONES, None)))
            state.commit([UpdateInstance(instance.id, attributes={ZONE_NAME: zone})])
    return state


def slow_plan(scheduler: BaseScheduler, snapshot: Snapshot, request: PlacementRequest) -> Plan:
    """The plan of the general search: ``ValueSource`` refused, as for an attribute some instance lacks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ValueSource, "covers", staticmethod(lambda snapshot, name: False))
        return scheduler.place(snapshot, request)


def chosen(plan: Plan) -> list[tuple[str, Any]]:
    return [(placement.task.container_instance_id, placement.task.host_ports) for placement in plan.placements]


@given(
    zoned_clusters(),
    st.data(),
    st.sampled_from(CHAINS),
    st.integers(1, 8),
    st.sampled_from((None, "service:api", "family:web")),
    st.sampled_from((None, 0.2)),
)
@settings(max_examples=150, deadline=None)
def test_the_walk_places_as_the_full_ranking(
    state: ClusterState, data: st.DataObject, chain: Any, count: int, group: str | None, balance: float | None
) -> None:
    snapshot = state.snapshot()
    definitions = sorted((d for d in snapshot.task_definitions() if d.status == "ACTIVE"), key=lambda d: d.key)
    definition = data.draw(st.sampled_from(definitions))
    ids = sorted(instance.id for instance in snapshot.instances())
    avoid = data.draw(st.lists(st.sampled_from(ids), max_size=3)) if ids else []
    request = PlacementRequest(definition, count, group=group, strategies=chain, avoid=avoid)
    scheduler = BaseScheduler(seed=3, balance=balance)
    assert Selection(scheduler, snapshot, request).values is not None  # the walk serves this chain
    fast = scheduler.place(snapshot, request)
    slow = slow_plan(scheduler, snapshot, request)
    assert chosen(fast) == chosen(slow)
    assert [u.reasons for u in fast.unplaced] == [u.reasons for u in slow.unplaced]
    if fast.placements:  # the first task goes where the full ranking of explain puts it first
        assert fast.placements[0].task.container_instance_id in _first_ranked(scheduler, snapshot, request)


@given(zoned_clusters(), st.data())
@settings(max_examples=80, deadline=None)
def test_the_walk_places_as_the_full_ranking_commit_after_commit(state: ClusterState, data: st.DataObject) -> None:
    """Plans and changes in turn: the memo of full instances that one version's plans leave
    (``Snapshot.spread_starts``), carried to later versions, never changes a plan."""
    scheduler = BaseScheduler(seed=5)
    for step in range(data.draw(st.integers(3, 12), label="steps")):
        snapshot = state.snapshot()
        action = data.draw(st.sampled_from(("place", "place", "place", "stop", "attribute", "status", "register")))
        instance_ids = sorted(instance.id for instance in snapshot.instances())
        if action == "place":
            definitions = sorted((d for d in snapshot.task_definitions() if d.status == "ACTIVE"), key=lambda d: d.key)
            request = PlacementRequest(
                data.draw(st.sampled_from(definitions)),
                data.draw(st.integers(1, 4)),
                group=data.draw(st.sampled_from(("service:api", "family:web"))),
                strategies=data.draw(st.sampled_from(CHAINS)),
            )
            fast = scheduler.place(snapshot, request)
            assert chosen(fast) == chosen(slow_plan(scheduler, snapshot, request)), f"step {step}"
            if fast.placements:
                assert state.commit([PlaceTask(placement.task) for placement in fast.placements]).ok
        elif action == "stop":
            holding = sorted((t for t in snapshot.tasks() if not t.is_stopped), key=lambda t: t.id)
            if holding:
                task = data.draw(st.sampled_from(holding))
                state.commit([TaskStateChange(task.id, task.version, last_status="STOPPED")])
        elif action == "attribute" and instance_ids:
            zone = data.draw(st.sampled_from((*ZONES, None)))
            state.commit([UpdateInstance(data.draw(st.sampled_from(instance_ids)), attributes={ZONE_NAME: zone})])
        elif action == "status" and instance_ids:
            instance = snapshot.instance(data.draw(st.sampled_from(instance_ids)))
            if instance.status != "INACTIVE":
                options: list[UpdateInstance | DeregisterInstance] = [
                    UpdateInstance(instance.id, status="DRAINING"),
                    UpdateInstance(instance.id, status="ACTIVE"),
                    UpdateInstance(instance.id, agent_connected=not instance.agent_connected),
                    DeregisterInstance(instance.id, force=True),
                ]
                change = data.draw(st.sampled_from(options))
                state.commit([change])
        elif action == "register":
            registered = Resources(cpu=data.draw(st.sampled_from((512, 2048))), memory=2048)
            zone = data.draw(st.sampled_from(ZONES))
            instance = ContainerInstance(
                id=f"i-{90 - step:02d}", registered=registered, remaining=registered, attributes={ZONE_NAME: zone}
            )
            state.commit([RegisterInstance(instance)])
    assert not state_violations(state.snapshot())


def _first_ranked(scheduler: BaseScheduler, snapshot: Snapshot, request: PlacementRequest) -> set[str]:
    """The instance explain ranks first; with ``avoid`` or ``balance``, any ranked one (set aside: last resort)."""
    ranked = [candidate.instance_id for candidate in scheduler.explain(snapshot, request).ranked]
    if request.avoid or scheduler.balance is not None:
        return set(ranked)
    return set(ranked[:1])


@given(zoned_clusters(), st.sampled_from((None, "service:api", "family:web")))
@settings(max_examples=60, deadline=None)
def test_spread_counts_and_the_attribute_index_match_a_scan(state: ClusterState, group: str | None) -> None:
    snapshot = state.snapshot()
    assert not state_violations(snapshot)  # the attribute index is checked among the invariants
    expected: dict[str | None, list[str]] = {}
    for instance in _live(snapshot):
        if instance.has_attribute(ZONE_NAME):
            expected.setdefault(instance.attribute(ZONE_NAME), []).append(instance.id)
    index = snapshot.instance_ids_by_attribute(ZONE_NAME)
    assert {value: list(ids) for value, ids in index.items()} == {v: sorted(ids) for v, ids in expected.items()}
    assert snapshot.live_instance_count == len(list(_live(snapshot)))
    definition = next(d for d in snapshot.task_definitions() if d.status == "ACTIVE")
    request = PlacementRequest(definition, 1, group=group, strategies=CHAINS[0])
    selection = Selection(BaseScheduler(), snapshot, request)
    scanned = selection.context.count_by(ZONE, _live(snapshot))
    assert selection.ranking.counts(ZONE) == scanned


def _live(snapshot: Snapshot) -> Iterator[Any]:
    return (instance for instance in snapshot.instances() if instance.status != "INACTIVE")


def test_an_instance_without_the_attribute_turns_the_walk_off() -> None:
    state = ClusterState("partial")
    state.register_container_instance("i-1", cpu=1024, memory=1024, attributes={ZONE_NAME: "zone-a"})
    state.register_container_instance("i-2", cpu=1024, memory=1024)
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "c", "image": "i", "cpu": 128, "memory": 128}]}
    )
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition("web"), 2, strategies=CHAINS[0])
    assert Selection(BaseScheduler(), snapshot, request).values is None
    assert Selection(BaseScheduler(), snapshot, request).ranking.counts(ZONE) == {"zone-a": 0, None: 0}
    state.put_attributes("i-2", {ZONE_NAME: "zone-b"})
    snapshot = state.snapshot()
    assert Selection(BaseScheduler(), snapshot, request).values is not None
    assert sorted(t.container_instance_id for t in BaseScheduler().place(snapshot, request).tasks) == ["i-1", "i-2"]
    state.deregister_container_instance("i-1")
    assert dict(state.snapshot().instance_ids_by_attribute(ZONE_NAME)).keys() == {"zone-b"}


def test_the_memo_of_full_instances_follows_the_cluster() -> None:
    """What one plan learnt (the instances before i-3 of zone-a are full) is dropped once an
    instance there gets room back, and is not read once zone-a's instances changed."""
    state = ClusterState("memo")
    for instance_id, zone in (("i-0", "zone-b"), ("i-1", "zone-a"), ("i-2", "zone-a"), ("i-3", "zone-a")):
        state.register_container_instance(instance_id, cpu=1024, memory=1024, attributes={ZONE_NAME: zone})
    for family in ("web", "other"):
        state.register_task_definition(
            {"family": family, "containerDefinitions": [{"name": "c", "image": "i", "cpu": 512, "memory": 512}]}
        )
    for instance_id in ("i-1", "i-1", "i-2", "i-2"):
        assert state.start_task("other", [instance_id]).tasks  # i-1 and i-2 are full
    scheduler = BaseScheduler()

    def place(group: str) -> str:
        snapshot = state.snapshot()
        request = PlacementRequest(snapshot.task_definition("web"), 1, group=group, strategies=CHAINS[0])
        plan = scheduler.place(snapshot, request)
        assert chosen(plan) == chosen(slow_plan(scheduler, snapshot, request))
        assert state.commit([PlaceTask(placement.task) for placement in plan.placements]).ok
        return plan.placements[0].task.container_instance_id

    assert place("service:a") == "i-0"  # both zones at 0 tasks: the lowest id of either
    memo = state.snapshot().spread_starts
    assert [start for (name, value, *_), (start, _) in memo.items() if value == "zone-a"] == ["i-3"]
    other = next(t for t in state.snapshot().tasks_on("i-1"))
    state.commit([TaskStateChange(other.id, other.version, last_status="STOPPED")])  # room on i-1 again
    assert place("service:a") == "i-1"  # zone-a (zone-b has one), and not i-3: the memo went with the room
    state.commit([UpdateInstance("i-0", attributes={ZONE_NAME: "zone-a"})])  # zone-a's instances change
    assert place("service:b") == "i-0"  # not i-3: the memo was of another set of zone-a's instances
