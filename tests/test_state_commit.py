"""ClusterState.commit: accepted and rejected placements, partial and atomic commits,
versions, snapshot immutability and malformed changes.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import attrs
import pytest

from clusterkit import (
    ClusterState,
    DeregisterInstance,
    DeregisterTaskDefinition,
    PlaceTask,
    RegisterInstance,
    RegisterTaskDefinition,
    Resources,
    Snapshot,
    StopTask,
    Task,
    TaskChanged,
    TaskStateChange,
    UpdateInstance,
    ValidationError,
    load_task_definition,
)
from clusterkit.ecs_json import dump_task_definition
from clusterkit.model import TaskStatus
from clusterkit.placement import assign_host_ports
from clusterkit.state import new_id, state_violations

NOW = 1_700_000_000.0

# -- helpers --------------------------------------------------------------------------------


def definition_json(family: str, *, cpu: int = 256, memory: int = 256, **container: Any) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "img", "cpu": cpu, "memory": memory, **container}],
    }


DEFINITIONS = {
    "small": definition_json("small"),
    "cpuhog": definition_json("cpuhog", cpu=2048, memory=64),
    "memhog": definition_json("memhog", cpu=0, memory=4096),
    "tcp": definition_json("tcp", portMappings=[{"containerPort": 80, "hostPort": 8080}]),
    "udp": definition_json("udp", portMappings=[{"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]),
    "reserved": definition_json("reserved", portMappings=[{"containerPort": 22, "hostPort": 22}]),
    "dynamic": definition_json("dynamic", portMappings=[{"containerPort": 80}]),
    "gpu": definition_json("gpu", resourceRequirements=[{"type": "GPU", "value": "1"}]),
    "half": definition_json("half", cpu=512, memory=256),
}


def task_for(
    state: ClusterState, reference: str, instance_id: str, *, task_id: str | None = None, **fields: Any
) -> Task:
    """A new task of ``reference`` on ``instance_id`` with the charge placement would give it."""
    snap = state.snapshot()
    definition = snap.task_definition(reference)
    try:
        remaining = snap.instance(instance_id).remaining
    except LookupError:
        remaining = Resources()
    assigned = assign_host_ports(definition, remaining, state.dynamic_ports)
    assert assigned is not None
    charge, bindings = assigned
    values: dict[str, Any] = {
        "id": task_id or new_id(),
        "task_definition": definition.key,
        "container_instance_id": instance_id,
        "charge": charge,
        "host_ports": bindings,
        "group": f"family:{definition.family}",
    }
    values.update(fields)
    return Task(**values)


def place(state: ClusterState, reference: str, instance_id: str, **kwargs: Any) -> PlaceTask:
    expected = kwargs.pop("expected_instance_version", None)
    return PlaceTask(task_for(state, reference, instance_id, **kwargs), expected)


def contents(snap: Snapshot) -> dict[str, Any]:
    """A deep copy of everything a snapshot shows, objects and indexes both."""
    roots = snap._roots
    pages: dict[str, list[str]] = {}
    for desired in ("PENDING", "RUNNING", "STOPPED"):
        items: list[str] = []
        token = None
        while True:
            page = snap.list_tasks(desired_status=desired, max_results=7, next_token=token)
            items.extend(page.items)
            token = page.next_token
            if token is None:
                break
        pages[desired] = items
    return {
        "version": snap.version,
        "tasks": copy.deepcopy({task.id: task for task in snap.tasks()}),
        "instances": copy.deepcopy({instance.id: instance for instance in snap.instances()}),
        "definitions": {d.key: json.dumps(dump_task_definition(d), sort_keys=True) for d in snap.task_definitions()},
        "revisions": dict(roots.family_revisions.items()),
        "task_index": {key: list(bucket) for key, bucket in roots.task_index.items()},
        "instance_index": {key: list(bucket) for key, bucket in roots.instance_index.items()},
        "definition_index": list(roots.task_definition_index),
        "pages": pages,
        "instance_pages": {
            status: snap.list_container_instances(status=status).items for status in ("ACTIVE", "DRAINING", "INACTIVE")
        },
    }


@pytest.fixture
def state() -> ClusterState:
    cluster = ClusterState("commit", clock=lambda: NOW)
    cluster.register_container_instance("i1", cpu=1024, memory=2048, scalars={"GPU": 1})
    cluster.register_container_instance("i2", cpu=1024, memory=2048, scalars={"GPU": 1})
    for definition in DEFINITIONS.values():
        cluster.register_task_definition(definition)
    return cluster


# -- accepted -------------------------------------------------------------------------------


def test_place_task_accepted_charges_the_instance(state: ClusterState) -> None:
    before = state.snapshot()
    change = place(state, "tcp", "i1")
    result = state.commit([change])
    assert result.ok
    assert result.accepted == (change,)
    assert result.rejected == ()
    assert result.version == before.version + 1 == state.version
    after = state.snapshot()
    task = after.task(change.task.id)
    assert task.charge == change.task.charge
    instance = after.instance("i1")
    old = before.instance("i1")
    assert instance.remaining.cpu == old.remaining.cpu - 256
    assert instance.remaining.memory == old.remaining.memory - 256
    assert 8080 in instance.remaining.ports and 8080 not in old.remaining.ports
    assert instance.pending_tasks_count == old.pending_tasks_count + 1
    assert instance.version == old.version + 1
    assert after.instance("i2") == before.instance("i2")
    assert {type(event).__name__ for event in result.events} == {"TaskChanged", "ContainerInstanceChanged"}
    assert all(event.version == result.version for event in result.events)
    assert state_violations(after) == []


def test_commit_accepts_a_change_source(state: ClusterState) -> None:
    @attrs.frozen
    class Plan:
        changes: tuple[PlaceTask, ...]

    plan = Plan((place(state, "small", "i1"), place(state, "small", "i2")))
    result = state.commit(plan)
    assert result.accepted == plan.changes
    assert state.snapshot().task_count == 2


def test_place_provisioning_task_counts_as_pending(state: ClusterState) -> None:
    change = place(state, "small", "i1", last_status="PROVISIONING")
    assert state.commit([change]).ok
    assert state.snapshot().instance("i1").pending_tasks_count == 1


# -- rejected -------------------------------------------------------------------------------


def fill(state: ClusterState, reference: str, instance_id: str = "i1") -> None:
    assert state.commit([place(state, reference, instance_id)]).ok


REJECTIONS = [
    pytest.param(None, "cpuhog", "RESOURCE:CPU", id="cpu"),
    pytest.param(None, "memhog", "RESOURCE:MEMORY", id="memory"),
    pytest.param("tcp", "tcp", "RESOURCE:PORTS", id="tcp-port"),
    pytest.param("udp", "udp", "RESOURCE:PORTS", id="udp-port"),
    pytest.param(None, "reserved", "RESOURCE:PORTS", id="reserved-port"),
    pytest.param("gpu", "gpu", "RESOURCE:GPU", id="gpu-scalar"),
]


@pytest.mark.parametrize(("first", "second", "reason"), REJECTIONS)
def test_place_rejected_for_resources(state: ClusterState, first: str | None, second: str, reason: str) -> None:
    if first is not None:
        fill(state, first)
    before = contents(state.snapshot())
    change = place(state, second, "i1")
    result = state.commit([change])
    assert not result.ok
    assert result.accepted == ()
    assert [(r.change, r.reason) for r in result.rejected] == [(change, reason)]
    assert result.rejected[0].detail
    assert result.events == ()
    assert result.version == before["version"]
    assert contents(state.snapshot()) == before
    if first is not None:  # the same task fits the other, empty instance
        other = PlaceTask(attrs.evolve(change.task, id=new_id(), container_instance_id="i2"))
        assert state.commit([other]).ok


def test_udp_and_tcp_ports_are_separate(state: ClusterState) -> None:
    fill(state, "udp")
    tcp_5353 = definition_json("tcp5353", portMappings=[{"containerPort": 53, "hostPort": 5353}])
    state.register_task_definition(tcp_5353)
    assert state.commit([place(state, "tcp5353", "i1")]).ok


def test_dynamic_port_already_taken_is_rejected(state: ClusterState) -> None:
    first = place(state, "dynamic", "i1")
    # a second plan from the same (old) snapshot picks the same dynamic port
    second = place(state, "dynamic", "i1")
    assert first.task.charge.ports == second.task.charge.ports
    result = state.commit([first, second])
    assert [r.reason for r in result.rejected] == ["RESOURCE:PORTS"]
    assert result.accepted == (first,)


def test_draining_instance_is_inactive(state: ClusterState) -> None:
    state.commit([UpdateInstance("i1", status="DRAINING")])
    before = contents(state.snapshot())
    result = state.commit([place(state, "small", "i1")])
    assert [r.reason for r in result.rejected] == ["INACTIVE"]
    assert contents(state.snapshot()) == before
    state.commit([UpdateInstance("i1", status="ACTIVE")])
    assert state.commit([place(state, "small", "i1")]).ok


def test_deregistered_instance_is_inactive(state: ClusterState) -> None:
    state.commit([DeregisterInstance("i1")])
    result = state.commit([place(state, "small", "i1")])
    assert [r.reason for r in result.rejected] == ["INACTIVE"]


def test_disconnected_agent_is_rejected_with_agent(state: ClusterState) -> None:
    result = state.commit([UpdateInstance("i1", agent_connected=False)])
    assert result.ok
    assert state.snapshot().instance("i1").agent_connected is False
    before = contents(state.snapshot())
    rejected = state.commit([place(state, "small", "i1")])
    assert [r.reason for r in rejected.rejected] == ["AGENT"]
    assert contents(state.snapshot()) == before
    state.commit([UpdateInstance("i1", agent_connected=True)])
    assert state.commit([place(state, "small", "i1")]).ok


def test_missing_instance_and_missing_definition(state: ClusterState) -> None:
    before = contents(state.snapshot())
    no_instance = place(state, "small", "i-nope")
    no_definition = PlaceTask(attrs.evolve(place(state, "small", "i1").task, task_definition="ghost:1"))
    result = state.commit([no_instance, no_definition])
    assert [(r.change, r.reason) for r in result.rejected] == [(no_instance, "MISSING"), (no_definition, "MISSING")]
    assert contents(state.snapshot()) == before


def test_duplicate_task_id(state: ClusterState) -> None:
    change = place(state, "small", "i1", task_id="t-dup")
    assert state.commit([change]).ok
    before = contents(state.snapshot())
    again = place(state, "small", "i2", task_id="t-dup")
    result = state.commit([again])
    assert [r.reason for r in result.rejected] == ["DUPLICATE"]
    assert contents(state.snapshot()) == before
    # within one commit too
    twins = [place(state, "small", "i1", task_id="t-twin"), place(state, "small", "i2", task_id="t-twin")]
    result = state.commit(twins)
    assert result.accepted == (twins[0],)
    assert [r.reason for r in result.rejected] == ["DUPLICATE"]
    assert state.snapshot().task("t-twin").container_instance_id == "i1"


def test_inactive_task_definition_is_rejected(state: ClusterState) -> None:
    state.commit([DeregisterTaskDefinition("small:1")])
    result = state.commit([place(state, "small:1", "i1")])
    assert [r.reason for r in result.rejected] == ["INACTIVE"]


def test_stale_expected_instance_version(state: ClusterState) -> None:
    seen = state.snapshot().instance("i1").version
    fill(state, "small")  # the instance moves on
    before = contents(state.snapshot())
    stale = place(state, "small", "i1", expected_instance_version=seen)
    result = state.commit([stale])
    assert [r.reason for r in result.rejected] == ["STALE_VERSION"]
    assert contents(state.snapshot()) == before
    current = state.snapshot().instance("i1").version
    assert current > seen
    fresh = place(state, "small", "i1", expected_instance_version=current)
    assert state.commit([fresh]).ok


def test_update_instance_with_a_stale_expected_version(state: ClusterState) -> None:
    seen = state.snapshot().instance("i1").version
    fill(state, "small")
    before = contents(state.snapshot())
    result = state.commit([UpdateInstance("i1", status="DRAINING", expected_version=seen)])
    assert [r.reason for r in result.rejected] == ["STALE_VERSION"]
    assert contents(state.snapshot()) == before
    current = state.snapshot().instance("i1").version
    assert state.commit([UpdateInstance("i1", status="DRAINING", expected_version=current)]).ok
    assert state.snapshot().instance("i1").status == "DRAINING"


def test_expected_version_is_the_version_before_the_commit(state: ClusterState) -> None:
    # one plan's placements on one instance all expect the version the plan saw
    version = state.snapshot().instance("i1").version
    first = place(state, "small", "i1", expected_instance_version=version)
    second = place(state, "small", "i1", expected_instance_version=version)
    result = state.commit([first, second])
    assert result.accepted == (first, second)
    assert state.snapshot().instance("i1").version == version + 2
    # the next commit sees the moved instance: the old version is stale now
    third = place(state, "small", "i1", expected_instance_version=version)
    fourth = place(state, "small", "i1", expected_instance_version=version + 1)
    result = state.commit([third, fourth])
    assert result.accepted == ()
    assert [r.reason for r in result.rejected] == ["STALE_VERSION", "STALE_VERSION"]


def test_two_changes_for_the_last_slot_in_one_commit(state: ClusterState) -> None:
    changes = [place(state, "half", "i1"), place(state, "half", "i1"), place(state, "half", "i1")]
    result = state.commit(changes)
    assert result.accepted == tuple(changes[:2])
    assert [(r.change, r.reason) for r in result.rejected] == [(changes[2], "RESOURCE:CPU")]
    assert state.snapshot().instance("i1").remaining.cpu == 0


# -- partial and atomic ---------------------------------------------------------------------


def mixed_batch(state: ClusterState) -> list[PlaceTask]:
    return [
        place(state, "small", "i1"),
        place(state, "cpuhog", "i1"),
        place(state, "small", "i2"),
        place(state, "small", "i-nope"),
        place(state, "gpu", "i2"),
    ]


def test_partial_commit_applies_the_rest(state: ClusterState) -> None:
    changes = mixed_batch(state)
    version = state.version
    result = state.commit(changes)
    assert result.accepted == (changes[0], changes[2], changes[4])
    assert [(r.change, r.reason) for r in result.rejected] == [(changes[1], "RESOURCE:CPU"), (changes[3], "MISSING")]
    assert result.version == version + 1
    snap = state.snapshot()
    for change in result.accepted:
        assert isinstance(change, PlaceTask)  # the batch holds placements only
        assert snap.task(change.task.id) == attrs.evolve(change.task, created_at=NOW)  # the commit stamps it
    for rejection in result.rejected:
        assert isinstance(rejection.change, PlaceTask)
        with pytest.raises(LookupError):
            snap.task(rejection.change.task.id)
    assert {e.task.id for e in result.events if isinstance(e, TaskChanged)} == {c.task.id for c in result.accepted}
    assert state_violations(snap) == []


def test_atomic_commit_rejects_all_and_changes_nothing(state: ClusterState) -> None:
    fill(state, "small", "i2")
    before = contents(state.snapshot())
    changes = mixed_batch(state)
    result = state.commit(changes, atomic=True)
    assert result.accepted == ()
    assert result.events == ()
    assert result.version == before["version"]
    reasons = {id(r.change): r.reason for r in result.rejected}
    assert len(result.rejected) == len(changes)
    assert reasons == {
        id(changes[0]): "ABORTED",
        id(changes[1]): "RESOURCE:CPU",
        id(changes[2]): "ABORTED",
        id(changes[3]): "MISSING",
        id(changes[4]): "ABORTED",
    }
    assert contents(state.snapshot()) == before
    # the same batch without the bad changes commits atomically
    good = [change for change in changes if reasons[id(change)] == "ABORTED"]
    assert state.commit(good, atomic=True).accepted == tuple(good)


# -- versions -------------------------------------------------------------------------------


def test_versions_strictly_increase(state: ClusterState) -> None:
    rng = random.Random(5)
    seen_task: dict[str, int] = {}
    seen_instance = {i.id: i.version for i in state.snapshot().instances()}
    version = state.version
    for step in range(120):
        snap = state.snapshot()
        live = [t for t in snap.tasks() if not t.is_stopped]
        roll = rng.random()
        if roll < 0.4 or not live:
            change: Any = place(state, rng.choice(["small", "dynamic", "udp", "half"]), rng.choice(["i1", "i2"]))
        elif roll < 0.7:
            task = rng.choice(live)
            order: list[TaskStatus] = ["PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"]
            later: list[TaskStatus] = (
                order[order.index(task.last_status) + 1 :] if task.last_status in order else ["STOPPED"]
            )
            change = TaskStateChange(task.id, task.version, rng.choice(later or ["STOPPED"]))
        elif roll < 0.85:
            change = StopTask(rng.choice(live).id)
        else:
            change = UpdateInstance(rng.choice(["i1", "i2"]), attributes={"step": str(step)})
        result = state.commit([change])
        after = state.snapshot()
        if result.events:
            assert result.version == version + 1, "each commit that changes something is one new version"
        else:
            assert result.version == version
        assert after.version == result.version
        version = result.version
        for task in after.tasks():
            old = seen_task.get(task.id)
            if old is not None:
                assert task.version >= old
            if any(isinstance(e, TaskChanged) and e.task.id == task.id for e in result.events):
                assert old is None or task.version > old
            seen_task[task.id] = task.version
        for instance in after.instances():
            assert instance.version >= seen_instance[instance.id]
            if instance != snap.instance(instance.id):
                assert instance.version > seen_instance[instance.id]
            seen_instance[instance.id] = instance.version
        assert state_violations(after) == []


def test_commit_that_changes_nothing_keeps_the_version(state: ClusterState) -> None:
    version = state.version
    result = state.commit([UpdateInstance("i1")])
    assert result.ok and result.events == () and result.version == version == state.version
    assert state.commit([]).version == version
    rejected = state.commit([place(state, "cpuhog", "i1")])
    assert rejected.version == version == state.version


def test_commit_result_snapshot_is_at_least_the_commit_version(state: ClusterState) -> None:
    result = state.commit([place(state, "small", "i1")])
    assert result.snapshot.version >= result.version
    assert result.snapshot.version == state.version
    later = state.commit([place(state, "small", "i2")])
    assert result.snapshot.version >= later.version >= result.version + 1
    rejected = state.commit([place(state, "cpuhog", "i1")])
    assert rejected.snapshot.version >= rejected.version


# -- snapshot immutability ------------------------------------------------------------------


def test_snapshot_never_changes_after_many_commits(state: ClusterState) -> None:
    rng = random.Random(17)
    for _ in range(20):
        state.commit([place(state, "small", rng.choice(["i1", "i2"]))])
    kept: list[tuple[Snapshot, dict[str, Any]]] = []
    for step in range(400):
        if step % 40 == 0:
            snap = state.snapshot()
            kept.append((snap, contents(snap)))
        snap = state.snapshot()
        live = [t for t in snap.tasks() if not t.is_stopped]
        roll = rng.random()
        if roll < 0.3:
            instance_id = f"n{step}"
            state.register_container_instance(instance_id, cpu=2048, memory=4096)
        elif roll < 0.6 or not live:
            ids = [i.id for i in snap.instances() if i.status == "ACTIVE"]
            changes = [place(state, rng.choice(["small", "dynamic", "tcp", "udp"]), rng.choice(ids)) for _ in range(3)]
            state.commit(changes)
        elif roll < 0.8:
            task = rng.choice(live)
            state.commit([TaskStateChange(task.id, task.version, "STOPPED")])
        elif roll < 0.9:
            state.commit([StopTask(rng.choice(live).id)])
        elif roll < 0.95:
            state.commit([RegisterTaskDefinition(load_task_definition(DEFINITIONS["small"]))])
        else:
            victim = rng.choice([i.id for i in snap.instances() if i.status != "INACTIVE"])
            state.commit([DeregisterInstance(victim, force=True)])
    assert state.version > kept[-1][0].version
    for snap, recorded in kept:
        assert contents(snap) == recorded
        assert state_violations(snap) == []


def test_snapshot_is_cached_until_the_next_commit(state: ClusterState) -> None:
    first = state.snapshot()
    assert state.snapshot() is first
    state.commit([place(state, "small", "i1")])
    assert state.snapshot() is not first
    assert state.snapshot().version == first.version + 1


# -- malformed changes ----------------------------------------------------------------------


def malformed(state: ClusterState) -> list[tuple[str, Any]]:
    good = place(state, "tcp", "i1").task
    dynamic = place(state, "dynamic", "i1").task
    return [
        ("task.charge", PlaceTask(attrs.evolve(good, charge=attrs.evolve(good.charge, cpu=1)))),
        ("task.charge", PlaceTask(attrs.evolve(good, charge=attrs.evolve(good.charge, memory=1)))),
        ("task.charge", PlaceTask(attrs.evolve(good, charge=attrs.evolve(good.charge, ports=frozenset())))),
        ("task.charge", PlaceTask(attrs.evolve(good, charge=attrs.evolve(good.charge, scalars={"GPU": 1})))),
        ("task.charge", PlaceTask(attrs.evolve(dynamic, charge=attrs.evolve(dynamic.charge, ports=frozenset())))),
        (
            "task.charge",
            PlaceTask(attrs.evolve(dynamic, charge=attrs.evolve(dynamic.charge, ports=frozenset({50001, 50002})))),
        ),
        ("task.lastStatus", PlaceTask(attrs.evolve(good, version=2))),
        ("task.lastStatus", PlaceTask(attrs.evolve(good, last_status="RUNNING"))),
        ("task.lastStatus", PlaceTask(attrs.evolve(good, desired_status="STOPPED"))),
        ("task", PlaceTask(5)),  # type: ignore[arg-type]
        ("task", PlaceTask({"id": "x"})),  # type: ignore[arg-type]
        ("change", "PlaceTask"),
        ("change", None),
        ("instance", RegisterInstance("i9")),  # type: ignore[arg-type]
        ("taskDefinition", RegisterTaskDefinition(DEFINITIONS["small"])),  # type: ignore[arg-type]
        ("status", UpdateInstance("i1", status="INACTIVE")),  # type: ignore[arg-type]
        ("agentConnected", UpdateInstance("i1", agent_connected="yes")),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("index", range(17))
@pytest.mark.parametrize("atomic", [False, True])
def test_malformed_change_raises_and_changes_nothing(state: ClusterState, index: int, atomic: bool) -> None:
    fill(state, "small", "i2")
    cases = malformed(state)
    assert len(cases) == 17
    field, bad = cases[index]
    before = contents(state.snapshot())
    good_first = place(state, "small", "i1")
    good_last = place(state, "gpu", "i2")
    with pytest.raises(ValidationError) as caught:
        state.commit([good_first, bad, good_last], atomic=atomic)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert contents(state.snapshot()) == before
    assert state.version == before["version"]
    # and the state still takes good changes
    assert state.commit([good_first, good_last]).ok
