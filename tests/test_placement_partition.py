"""BaseScheduler(partition=(index, count)): each scheduler's own share of the instances first."""

from __future__ import annotations

import zlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import BaseScheduler, ClusterState, PlacementRequest, ValidationError
from clusterkit.model import binpack, random, spread
from clusterkit.placement import PlacementStrategy
from tests.test_placement_api import cluster, definition

ZONE = "attribute:ecs.availability-zone"
CHAINS: list[list[PlacementStrategy]] = [
    [binpack("memory")],
    [spread(ZONE), spread("instanceId")],
    [spread(ZONE), binpack("memory")],
    [spread("instanceId")],
    [random()],
]


def share(instance_id: str, count: int) -> int:
    return zlib.crc32(instance_id.encode()) % count


def zoned(slots: list[int]) -> ClusterState:
    """Instances i-0… in three zones, instance k with room for ``slots[k]`` tasks of ``app`` (128 MiB)."""
    specs = [(f"i-{k}", f"zone-{k % 3}", 4096, 128 * room) for k, room in enumerate(slots)]
    state = cluster(*specs)
    state.register_task_definition(definition("app", cpu=0))
    return state


@pytest.mark.parametrize("partition", [(2, 2), (-1, 2), (0, 0), [0, 2], (0, 2.0), (True, 2), (0,)])
def test_a_partition_that_is_not_index_of_count_is_refused(partition: object) -> None:
    with pytest.raises(ValidationError, match="partition"):
        BaseScheduler(partition=partition)  # type: ignore[arg-type]


def test_a_spread_over_zones_still_chooses_the_zone_first_then_own_instances_in_it() -> None:
    state = zoned([1] * 9)
    request = PlacementRequest(state.snapshot().task_definition("app"), count=3)  # spread over zones, binpack
    plan = BaseScheduler(partition=(0, 3)).place(state.snapshot(), request)
    zones = Counter(p.task.container_instance_id for p in plan.placements)
    assert sorted(int(i[2:]) % 3 for i in zones) == [0, 1, 2]  # one task per zone, whoever owns them
    for zone in range(3):
        in_zone = [f"i-{k}" for k in range(zone, 9, 3)]
        (taken,) = [i for i in zones if i in in_zone]
        if any(share(i, 3) == 0 for i in in_zone):
            assert share(taken, 3) == 0  # an own instance of that zone, when it has one


def test_tasks_go_to_the_schedulers_own_instances_first_then_to_the_others() -> None:
    state = zoned([2] * 8)
    own = {f"i-{k}" for k in range(8) if share(f"i-{k}", 2) == 0}
    assert 0 < len(own) < 8
    request = PlacementRequest(
        state.snapshot().task_definition("app"), count=2 * len(own) + 3, strategies=[binpack("memory")]
    )
    plan = BaseScheduler(partition=(0, 2), seed=1).place(state.snapshot(), request)
    chosen = [p.task.container_instance_id for p in plan.placements]
    assert all(instance in own for instance in chosen[: 2 * len(own)])  # every own slot first
    assert all(instance not in own for instance in chosen[2 * len(own) :])  # then the others
    assert len(chosen) == request.count


@settings(max_examples=60, deadline=None)
@given(
    slots=st.lists(st.integers(0, 4), min_size=1, max_size=12),
    count=st.integers(1, 30),
    chain=st.sampled_from(range(len(CHAINS))),
    shares=st.integers(1, 4),
    sample=st.sampled_from([None, 2]),
    data=st.data(),
)
def test_a_partition_only_reorders_it_never_places_fewer_nor_leaves_own_room_for_anothers_instance(
    slots: list[int], count: int, chain: int, shares: int, sample: int | None, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, shares - 1))
    state = zoned(slots)
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition("app"), count=count, strategies=CHAINS[chain])
    plain = BaseScheduler(seed=3, sample=sample).place(snapshot, request)
    hinted = BaseScheduler(seed=3, sample=sample, partition=(index, shares)).place(snapshot, request)
    assert len(hinted.placements) == len(plain.placements) == min(count, sum(slots))
    taken = Counter(p.task.container_instance_id for p in hinted.placements)
    own_room_left = any(share(f"i-{k}", shares) == index and taken[f"i-{k}"] < room for k, room in enumerate(slots))
    attribute_first = CHAINS[chain][0].field == ZONE  # the zone is chosen first, then own instances in it
    if own_room_left and not attribute_first:  # own room left at the end: nothing went to another's
        assert all(share(instance, shares) == index for instance in taken)
