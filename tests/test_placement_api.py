"""Placement through the public API: run_task, requests, constraints, ports, explain, custom schedulers."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import (
    BaseScheduler,
    ClusterState,
    ContainerInstance,
    PlacementConstraint,
    PlacementRequest,
    PlaceTask,
    QuerySyntaxError,
    Snapshot,
    ValidationError,
)
from clusterkit.model import DEFAULT_RESERVED_PORTS
from clusterkit.placement import (
    DEFAULT_STRATEGY,
    PlacementContext,
    PlacementStrategy,
    PortRange,
    Rejected,
    Weighted,
    binpack,
    place_and_commit,
    random,
    spread,
)
from clusterkit.state import UpdateInstance, state_violations

ZONE = "attribute:ecs.availability-zone"


def definition(
    family: str,
    *,
    cpu: int = 128,
    memory: int = 128,
    ports: list[dict[str, Any]] | None = None,
    network_mode: str = "bridge",
    gpu: int = 0,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "img", "cpu": cpu, "memory": memory}
    if ports:
        container["portMappings"] = ports
    if gpu:
        container["resourceRequirements"] = [{"type": "GPU", "value": str(gpu)}]
    return {"family": family, "networkMode": network_mode, "containerDefinitions": [container]}


def cluster(
    *specs: tuple[str, str, int, int],
    name: str = "api",
    dynamic_ports: PortRange | None = None,
    **attributes: str,
) -> ClusterState:
    """Instances ``(id, zone, cpu, memory)``, each with the extra attributes given."""
    state = ClusterState(name) if dynamic_ports is None else ClusterState(name, dynamic_ports=dynamic_ports)
    for instance_id, zone, cpu, memory in specs:
        state.register_container_instance(
            instance_id, cpu=cpu, memory=memory, attributes={"ecs.availability-zone": zone, **attributes}
        )
    return state


def where(tasks: Any) -> list[str]:
    return [task.container_instance_id for task in tasks]


def live_tasks(snapshot: Snapshot) -> list[Any]:
    return [task for task in snapshot.tasks() if task.last_status != "STOPPED"]


# -- run_task: inputs and outputs -----------------------------------------------------------


def four_instances() -> ClusterState:
    state = cluster(
        ("i-1", "zone-a", 2048, 2048),
        ("i-2", "zone-a", 2048, 1024),
        ("i-3", "zone-b", 2048, 4096),
        ("i-4", "zone-b", 2048, 3072),
    )
    state.register_task_definition(definition("web", memory=256))
    return state


@pytest.mark.parametrize(
    ("objects", "ecs_json"),
    [
        ([binpack("memory")], [{"type": "binpack", "field": "memory"}]),
        ([binpack("cpu")], [{"type": "binpack", "field": "CPU"}]),
        ([spread("instanceId")], [{"type": "spread", "field": "instanceId"}]),
        (
            [spread(ZONE), binpack("memory")],
            [{"type": "spread", "field": ZONE}, {"type": "binpack", "field": "MEMORY"}],
        ),
        ([random(7)], None),
    ],
)
def test_run_task_takes_strategy_objects_and_ecs_json_alike(objects: list[Any], ecs_json: Any) -> None:
    first, second = four_instances(), four_instances()
    a = first.run_task("web", count=6, placement_strategy=objects)
    if ecs_json is None:  # random has no seed in ECS JSON: the same seed object twice instead
        ecs_json = [random(7)]
    b = second.run_task("web", count=6, placement_strategy=ecs_json)
    assert len(a.tasks) == 6 and a.failures == ()
    assert where(a.tasks) == where(b.tasks)
    assert state_violations(first.snapshot()) == [] and state_violations(second.snapshot()) == []


def test_ecs_json_strategies_and_constraints_load_to_the_same_objects() -> None:
    state = four_instances()
    web = state.snapshot().task_definition("web")
    from_json = PlacementRequest(
        web,
        strategies=[{"type": "spread", "field": ZONE}, {"type": "binpack", "field": "memory"}, {"type": "random"}],
        constraints=[{"type": "distinctInstance"}, {"type": "memberOf", "expression": f"{ZONE} == zone-a"}],
    )
    assert from_json.strategies == (spread(ZONE), binpack("memory"), random())
    assert from_json.constraints == (
        PlacementConstraint("distinctInstance"),
        PlacementConstraint("memberOf", f"{ZONE} == zone-a"),
    )
    assert [s.to_ecs() for s in from_json.strategies] == [
        {"type": "spread", "field": ZONE},
        {"type": "binpack", "field": "memory"},
        {"type": "random"},
    ]


def test_run_task_constraints_from_objects_and_json_place_the_same() -> None:
    first, second = four_instances(), four_instances()
    objects = [PlacementConstraint("memberOf", f"{ZONE} == zone-b"), PlacementConstraint("distinctInstance")]
    ecs_json = [{"type": "memberOf", "expression": f"{ZONE} == zone-b"}, {"type": "distinctInstance"}]
    a = first.run_task("web", count=3, placement_constraints=objects)
    b = second.run_task("web", count=3, placement_constraints=ecs_json)
    assert sorted(where(a.tasks)) == sorted(where(b.tasks)) == ["i-3", "i-4"]
    assert len(a.failures) == len(b.failures) == 1


def test_run_task_failure_names_the_main_reason_and_counts_every_instance() -> None:
    state = cluster(("i-1", "zone-a", 4096, 1024), ("i-2", "zone-a", 4096, 1024), ("i-3", "zone-b", 256, 4096))
    state.register_task_definition(definition("big", cpu=512, memory=800))
    state.update_container_instances_state(["i-3"], "DRAINING")
    state.register_container_instance("i-4", cpu=4096, memory=4096, attributes={"ecs.availability-zone": "zone-b"})
    assert state.commit([UpdateInstance("i-4", agent_connected=False)]).ok
    result = state.run_task("big", count=4)
    assert sorted(where(result.tasks)) == ["i-1", "i-2"]
    assert len(result.failures) == 2
    for failure in result.failures:
        assert failure.arn == state.arns.cluster_arn
        assert failure.reason == "RESOURCE:MEMORY"
        assert failure.detail == "AGENT: 1, INACTIVE: 1, RESOURCE:MEMORY: 2"
    assert len(live_tasks(state.snapshot())) == 2


def test_run_task_with_nothing_to_place_on_reports_no_instances() -> None:
    state = ClusterState("empty")
    state.register_task_definition(definition("web"))
    result = state.run_task("web", count=2)
    assert result.tasks == ()
    assert [f.reason for f in result.failures] == ["NO_INSTANCES", "NO_INSTANCES"]


def test_run_task_fills_what_fits_and_reports_the_rest() -> None:
    state = cluster(("i-1", "zone-a", 1024, 1000))
    state.register_task_definition(definition("web", cpu=0, memory=300))
    result = state.run_task("web", count=5, started_by="me", group="batch")
    assert len(result.tasks) == 3
    assert all(t.started_by == "me" and t.group == "batch" for t in result.tasks)
    assert [f.reason for f in result.failures] == ["RESOURCE:MEMORY"] * 2
    assert state.snapshot().instance("i-1").remaining.memory == 100


# -- the default strategy ---------------------------------------------------------------


def test_default_strategy_is_spread_over_zones_then_binpack_memory() -> None:
    assert (spread(ZONE), binpack("memory")) == DEFAULT_STRATEGY
    state = four_instances()
    assert PlacementRequest(state.snapshot().task_definition("web")).strategies == DEFAULT_STRATEGY


def test_default_strategy_alternates_zones_and_packs_within_a_zone() -> None:
    state = cluster(
        ("i-1", "zone-a", 4096, 2048),
        ("i-2", "zone-a", 4096, 1024),
        ("i-3", "zone-b", 4096, 4096),
        ("i-4", "zone-b", 4096, 3072),
        ("i-5", "zone-c", 4096, 8192),
    )
    state.register_task_definition(definition("web", cpu=0, memory=512))
    result = state.run_task("web", count=6)
    zones = [state.snapshot().instance(i).attribute("ecs.availability-zone") for i in where(result.tasks)]
    for step in range(1, 7):
        counts = Counter(zones[:step])
        assert max(counts.values()) - min(counts.get(z, 0) for z in ("zone-a", "zone-b", "zone-c")) <= 1, zones
    # within each zone the instance with the least memory left that still fits takes the task
    assert where(result.tasks)[:3] == ["i-2", "i-4", "i-5"]
    assert where(result.tasks)[3:] == ["i-2", "i-4", "i-5"]


def test_default_strategy_spreads_tasks_already_running_into_account() -> None:
    state = cluster(("a-1", "zone-a", 4096, 4096), ("b-1", "zone-b", 4096, 4096))
    state.register_task_definition(definition("web", memory=128))
    assert len(state.start_task("web", ["a-1", "a-1"]).tasks) == 2
    result = state.run_task("web", count=3)
    assert where(result.tasks) == ["b-1", "b-1", "a-1"]


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ([spread("host")], "i-3"),
        ([spread(ZONE), spread("host")], "i-3"),
        ([spread(ZONE), spread("host"), binpack("memory")], "i-3"),
        ([spread(ZONE), spread("attribute:rack"), binpack("memory")], "i-3"),
        ([spread(ZONE), spread("attribute:rack")], "i-3"),
    ],
)
def test_spread_over_hosts_or_attributes_later_in_a_chain_counts_per_value(chain: Any, expected: str) -> None:
    """i-1 and i-2 share host h-1 and rack r-1, and i-1 runs a task of the group: i-3 is the spread choice."""
    state = ClusterState("hosts")
    for instance_id, host in (("i-1", "h-1"), ("i-2", "h-1"), ("i-3", "h-2")):
        state.register_container_instance(
            instance_id,
            cpu=4096,
            memory=4096,
            attributes={"ecs.availability-zone": "zone-a", "rack": "r-1" if host == "h-1" else "r-2"},
            ec2_instance_id=host,
        )
    state.register_task_definition(definition("app"))
    assert len(state.start_task("app", ["i-1"]).tasks) == 1
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition("app"), strategies=chain)
    assert BaseScheduler().explain(snapshot, request).chosen == expected
    assert BaseScheduler().place(snapshot, request).placements[0].task.container_instance_id == expected


# -- request validation -----------------------------------------------------------------


def test_more_than_five_strategies_is_refused_naming_the_field() -> None:
    state = four_instances()
    six = [spread(ZONE), binpack("memory"), binpack("cpu"), spread("instanceId"), random(), spread("host")]
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_strategy=six)
    assert caught.value.field == "placementStrategy"
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_strategy=[s.to_ecs() for s in six])
    assert caught.value.field == "placementStrategy"
    assert len(live_tasks(state.snapshot())) == 0
    assert len(PlacementRequest(state.snapshot().task_definition("web"), strategies=six[:5]).strategies) == 5


def test_more_than_ten_constraints_is_refused_naming_the_field() -> None:
    state = four_instances()
    eleven = [{"type": "memberOf", "expression": f"{ZONE} != zone-{n}"} for n in range(11)]
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_constraints=eleven)
    assert caught.value.field == "placementConstraints"
    assert len(state.run_task("web", placement_constraints=eleven[:10]).tasks) == 1


def test_constraints_count_with_the_task_definitions_own() -> None:
    state = four_instances()
    own = definition("tagged")
    own["placementConstraints"] = [{"type": "memberOf", "expression": f"{ZONE} != z{n}"} for n in range(6)]
    state.register_task_definition(own)
    five = [{"type": "memberOf", "expression": f"{ZONE} != y{n}"} for n in range(5)]
    with pytest.raises(ValidationError) as caught:
        state.run_task("tagged", placement_constraints=five)
    assert caught.value.field == "placementConstraints"
    assert len(state.run_task("tagged", placement_constraints=five[:4]).tasks) == 1


def test_an_expression_over_2000_characters_is_refused_naming_the_field() -> None:
    state = four_instances()
    long_value = "x" * (2000 - len(f"{ZONE} == "))
    fits = f"{ZONE} == {long_value}"
    assert len(fits) == 2000
    result = state.run_task("web", placement_constraints=[{"type": "memberOf", "expression": fits}])
    assert result.tasks == () and result.failures[0].reason == "ATTRIBUTE"
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_constraints=[{"type": "memberOf", "expression": fits + "x"}])
    assert caught.value.field.endswith("expression")
    assert "placementConstraints" in caught.value.field
    with pytest.raises(ValidationError) as caught:
        PlacementConstraint("memberOf", fits + "x")
    assert caught.value.field == "expression"


@pytest.mark.parametrize(
    "expression",
    ["attribute:ecs.availability-zone ==", "attribute: == a", "(agentConnected == true", "bogus == 1", "a &&"],
)
def test_a_bad_expression_raises_query_syntax_error_and_changes_nothing(expression: str) -> None:
    state = four_instances()
    version = state.version
    with pytest.raises(QuerySyntaxError):
        state.run_task("web", placement_constraints=[{"type": "memberOf", "expression": expression}])
    with pytest.raises(QuerySyntaxError):
        BaseScheduler().place(
            state.snapshot(),
            PlacementRequest(
                state.snapshot().task_definition("web"), constraints=[PlacementConstraint("memberOf", expression)]
            ),
        )
    assert state.version == version
    with pytest.raises(QuerySyntaxError):
        state.list_container_instances(filter=expression)


def test_bad_strategies_are_refused_naming_the_item() -> None:
    """Like placementConstraints[0].expression, a strategy's bad part is placementStrategy[i].<part>."""
    state = four_instances()
    cases: list[tuple[Any, str]] = [  # the last strategy is a bare string on purpose
        ({"type": "binpack", "field": "disk"}, "placementStrategy[1].field"),
        ({"type": "spread"}, "placementStrategy[1].field"),
        ({"type": "spread", "field": "attribute:"}, "placementStrategy[1].field"),
        ({"type": "random", "field": "cpu"}, "placementStrategy[1].field"),
        ({"type": "pack", "field": "cpu"}, "placementStrategy[1].type"),
        ({"type": "binpack", "field": "cpu", "weight": 2}, "placementStrategy[1]"),
        ("binpack", "placementStrategy[1]"),
    ]
    wrong = {}
    for strategy, field in cases:
        with pytest.raises(ValidationError) as caught:
            state.run_task("web", placement_strategy=[{"type": "random"}, strategy])
        if caught.value.field != field:
            wrong[field] = caught.value.field
    assert wrong == {}, "expected field: field named"
    with pytest.raises(ValidationError) as caught:
        PlacementStrategy("binpack", "disk")
    assert caught.value.field == "field"  # as PlacementConstraint: the caller adds its path
    assert len(live_tasks(state.snapshot())) == 0


def test_bad_constraints_are_refused_naming_the_item() -> None:
    state = four_instances()
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_constraints=[{"type": "memberOf"}])
    assert caught.value.field == "placementConstraints[0].expression"
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_constraints=[{"type": "distinctInstance", "expression": "a == b"}])
    assert caught.value.field == "placementConstraints[0].expression"
    with pytest.raises(ValidationError) as caught:
        state.run_task("web", placement_constraints=[{"type": "sameZone"}])
    assert caught.value.field == "placementConstraints[0].type"
    with pytest.raises(ValidationError):
        state.run_task("web", placement_constraints={"type": "distinctInstance"})  # type: ignore[dict-item]


# -- constraints ---------------------------------------------------------------------------


def test_distinct_instance_puts_each_task_on_its_own_instance() -> None:
    state = four_instances()
    result = state.run_task("web", count=6, placement_constraints=[{"type": "distinctInstance"}])
    assert sorted(where(result.tasks)) == ["i-1", "i-2", "i-3", "i-4"]
    assert [f.reason for f in result.failures] == ["DISTINCT_INSTANCE"] * 2
    again = state.run_task("web", placement_constraints=[{"type": "distinctInstance"}])
    assert again.tasks == () and again.failures[0].detail == "DISTINCT_INSTANCE: 4"
    other_group = state.run_task("web", group="other", placement_constraints=[{"type": "distinctInstance"}])
    assert len(other_group.tasks) == 1


def test_member_of_an_attribute() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096), ("i-2", "zone-b", 4096, 4096), ("i-3", "zone-c", 4096, 4096))
    state.put_attributes("i-2", {"ecs.instance-type": "g2.xlarge"})
    state.put_attributes("i-3", {"ecs.instance-type": "t2.small"})
    state.register_task_definition(definition("web"))
    gpu = state.run_task(
        "web",
        count=3,
        placement_constraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ g2.*"}],
    )
    assert where(gpu.tasks) == ["i-2"] * 3
    not_c = state.run_task(
        "web",
        count=4,
        placement_constraints=[
            {"type": "memberOf", "expression": f"{ZONE} in [zone-a, zone-c] and attribute:ecs.instance-type !exists"}
        ],
    )
    assert where(not_c.tasks) == ["i-1"] * 4


def test_member_of_a_task_group_keeps_apart_and_together() -> None:
    state = cluster(*[(f"i-{n}", "zone-a", 4096, 4096) for n in range(1, 5)])
    state.register_task_definition(definition("db"))
    state.register_task_definition(definition("web"))
    assert len(state.start_task("db", ["i-1", "i-3"]).tasks) == 2
    apart = state.run_task(
        "web",
        count=6,
        placement_strategy=[spread("instanceId")],
        placement_constraints=[{"type": "memberOf", "expression": "not(task:group == family:db)"}],
    )
    assert Counter(where(apart.tasks)) == {"i-2": 3, "i-4": 3}
    together = state.run_task(
        "web",
        count=4,
        group="cache",
        placement_strategy=[spread("instanceId")],
        placement_constraints=[{"type": "memberOf", "expression": "task:group == family:db"}],
    )
    assert Counter(where(together.tasks)) == {"i-1": 2, "i-3": 2}


def test_anti_affinity_with_its_own_group_counts_the_plans_own_tasks() -> None:
    state = cluster(*[(f"i-{n}", "zone-a", 4096, 4096) for n in range(1, 4)])
    state.register_task_definition(definition("solo"))
    result = state.run_task(
        "solo", count=5, placement_constraints=[{"type": "memberOf", "expression": "task:group != family:solo"}]
    )
    assert sorted(where(result.tasks)) == ["i-1", "i-2", "i-3"]
    assert [f.reason for f in result.failures] == ["ATTRIBUTE", "ATTRIBUTE"]


def test_task_definition_constraints_apply_with_the_requests() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096), ("i-2", "zone-b", 4096, 4096), ("i-3", "zone-c", 4096, 4096))
    own = definition("pinned")
    own["placementConstraints"] = [{"type": "memberOf", "expression": f"{ZONE} != zone-a"}]
    state.register_task_definition(own)
    result = state.run_task(
        "pinned", count=4, placement_constraints=[{"type": "memberOf", "expression": f"{ZONE} != zone-b"}]
    )
    assert where(result.tasks) == ["i-3"] * 4


# -- ports -----------------------------------------------------------------------------------


def test_host_mode_takes_one_task_per_host_per_port() -> None:
    state = cluster(*[(f"i-{n}", "zone-a", 4096, 4096) for n in range(1, 4)])
    state.register_task_definition(definition("web", network_mode="host", ports=[{"containerPort": 8080}]))
    result = state.run_task("web", count=5, placement_strategy=[binpack("memory")])
    assert sorted(where(result.tasks)) == ["i-1", "i-2", "i-3"]
    assert [f.reason for f in result.failures] == ["RESOURCE:PORTS"] * 2
    for task in result.tasks:
        assert [(b.container_port, b.host_port) for b in task.host_ports] == [(8080, 8080)]
        assert task.charge.ports == frozenset({8080})
    # a bridge task asking for the same host port cannot go there either, another port can
    state.register_task_definition(definition("side", ports=[{"containerPort": 80, "hostPort": 8080}]))
    assert state.run_task("side").failures[0].reason == "RESOURCE:PORTS"
    state.register_task_definition(definition("side", ports=[{"containerPort": 80, "hostPort": 8081}]))
    assert len(state.run_task("side", count=3).tasks) == 3


def test_awsvpc_takes_no_host_ports() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096))
    state.register_task_definition(
        definition("vpc", network_mode="awsvpc", ports=[{"containerPort": 80}, {"containerPort": 22}])
    )
    result = state.run_task("vpc", count=4)
    assert len(result.tasks) == 4 and result.failures == ()
    for task in result.tasks:
        assert not task.charge.ports and not task.charge.ports_udp
        assert sorted(b.host_port for b in task.host_ports) == [22, 80]
        assert task.last_status == "PROVISIONING"
    assert state.snapshot().instance("i-1").remaining.ports == DEFAULT_RESERVED_PORTS


def test_udp_and_tcp_ports_are_apart() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096))
    state.register_task_definition(definition("dns-tcp", ports=[{"containerPort": 53, "hostPort": 53}]))
    state.register_task_definition(
        definition("dns-udp", ports=[{"containerPort": 53, "hostPort": 53, "protocol": "udp"}])
    )
    assert len(state.run_task("dns-tcp").tasks) == 1
    assert len(state.run_task("dns-udp").tasks) == 1
    assert state.run_task("dns-tcp").failures[0].reason == "RESOURCE:PORTS"
    assert state.run_task("dns-udp").failures[0].reason == "RESOURCE:PORTS"
    remaining = state.snapshot().instance("i-1").remaining
    assert 53 in remaining.ports and 53 in remaining.ports_udp
    # dynamic ports: tcp and udp each count from the start of the range
    state.register_task_definition(
        definition("both", ports=[{"containerPort": 1}, {"containerPort": 1, "protocol": "udp"}])
    )
    task = state.run_task("both").tasks[0]
    assert sorted((b.protocol, b.host_port) for b in task.host_ports) == [("tcp", 49153), ("udp", 49153)]


@pytest.mark.parametrize("port", sorted(DEFAULT_RESERVED_PORTS))
def test_reserved_ports_are_never_assigned(port: int) -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096), dynamic_ports=PortRange(port - 1, port + 1))
    state.register_task_definition(definition("static", ports=[{"containerPort": 80, "hostPort": port}]))
    state.register_task_definition(definition("host", network_mode="host", ports=[{"containerPort": port}]))
    state.register_task_definition(definition("dynamic", ports=[{"containerPort": 80}]))
    assert state.run_task("static").failures[0].reason == "RESOURCE:PORTS"
    assert state.run_task("host").failures[0].reason == "RESOURCE:PORTS"
    given_ports = [t.host_ports[0].host_port for t in state.run_task("dynamic", count=3).tasks]
    free = [p for p in (port - 1, port, port + 1) if p not in DEFAULT_RESERVED_PORTS]
    assert sorted(given_ports) == free
    assert not set(given_ports) & DEFAULT_RESERVED_PORTS
    assert state_violations(state.snapshot()) == []


def test_custom_reserved_ports_are_kept_free() -> None:
    state = ClusterState("reserved", dynamic_ports=PortRange(50000, 50003))
    state.register_container_instance("i-1", cpu=4096, memory=4096, reserved_ports=[50001], reserved_udp_ports=[50002])
    state.register_task_definition(
        definition("dyn", ports=[{"containerPort": 1}, {"containerPort": 2, "protocol": "udp"}])
    )
    tasks = state.run_task("dyn", count=4).tasks
    assert len(tasks) == 3
    tcp = sorted(b.host_port for t in tasks for b in t.host_ports if b.protocol == "tcp")
    udp = sorted(b.host_port for t in tasks for b in t.host_ports if b.protocol == "udp")
    assert tcp == [50000, 50002, 50003]
    assert udp == [50000, 50001, 50003]
    assert state.run_task("dyn").failures[0].reason == "RESOURCE:PORTS"


def test_dynamic_port_range_is_configurable_on_the_state_and_the_scheduler() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096), dynamic_ports=PortRange(50000, 50002))
    state.register_task_definition(definition("web", ports=[{"containerPort": 80}]))
    result = state.run_task("web", count=4)
    assert sorted(t.host_ports[0].host_port for t in result.tasks) == [50000, 50001, 50002]
    assert [f.reason for f in result.failures] == ["RESOURCE:PORTS"]
    # the scheduler's own range, independent of the state's
    other = cluster(("i-1", "zone-a", 4096, 4096))
    other.register_task_definition(definition("web", ports=[{"containerPort": 80}, {"containerPort": 81}]))
    scheduler = BaseScheduler(dynamic_ports=PortRange(61000, 61004))
    result = other.run_task("web", count=3, scheduler=scheduler)
    ports = sorted(b.host_port for t in result.tasks for b in t.host_ports)
    assert ports == [61000, 61001, 61002, 61003]
    assert [f.reason for f in result.failures] == ["RESOURCE:PORTS"]
    # start_task takes dynamic ports from the state's range too
    started = state.start_task("web", ["i-1"])
    assert [f.reason for f in started.failures] == ["RESOURCE:PORTS"]


def test_static_host_port_in_the_dynamic_range_is_not_handed_out_twice() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096), dynamic_ports=PortRange(50000, 50001))
    state.register_task_definition(
        definition("mix", ports=[{"containerPort": 80, "hostPort": 50000}, {"containerPort": 81}])
    )
    task = state.run_task("mix").tasks[0]
    assert sorted(b.host_port for b in task.host_ports) == [50000, 50001]
    assert task.charge.ports == frozenset({50000, 50001})


@pytest.mark.parametrize(("first", "last"), [(0, 10), (10, 65536), (100, 99)])
def test_port_range_is_validated(first: int, last: int) -> None:
    with pytest.raises(ValidationError) as caught:
        PortRange(first, last)
    assert caught.value.field.startswith("dynamicPortRange")


# -- explain -----------------------------------------------------------------------------------


def explain_cluster() -> ClusterState:
    state = cluster(
        ("i-1", "zone-a", 4096, 2048),
        ("i-2", "zone-a", 4096, 1024),
        ("i-3", "zone-b", 4096, 3072),
        ("i-4", "zone-b", 4096, 256),
        ("i-5", "zone-b", 4096, 4096),
        ("i-6", "zone-c", 4096, 4096),
        ("i-7", "zone-a", 4096, 4096),
    )
    state.put_attributes("i-6", {"ecs.instance-type": "t2.nano"})
    state.update_container_instances_state(["i-5"], "DRAINING")
    assert state.commit([UpdateInstance("i-7", agent_connected=False)]).ok
    state.register_container_instance("i-8", cpu=4096, memory=4096)
    state.deregister_container_instance("i-8")
    state.register_task_definition(definition("web", memory=512))
    return state


def test_explain_ranks_the_candidates_and_gives_every_rejection() -> None:
    state = explain_cluster()
    snapshot = state.snapshot()
    request = PlacementRequest(
        snapshot.task_definition("web"),
        strategies=[binpack("memory")],
        constraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type !exists"}],
    )
    explanation = BaseScheduler().explain(snapshot, request)
    assert [c.instance_id for c in explanation.ranked] == ["i-2", "i-1", "i-3"]
    assert [c.strategy_keys for c in explanation.ranked] == [(1024,), (2048,), (3072,)]
    assert {c.instance_id: c.reason for c in explanation.rejected} == {
        "i-4": "RESOURCE:MEMORY",
        "i-5": "INACTIVE",
        "i-6": "ATTRIBUTE",
        "i-7": "AGENT",
    }
    assert explanation.strategies == (binpack("memory"),)
    plan = BaseScheduler().place(snapshot, request)
    assert explanation.chosen == plan.placements[0].task.container_instance_id == "i-2"


@pytest.mark.parametrize(
    "strategies",
    [
        None,
        [binpack("cpu")],
        [spread("instanceId")],
        [spread(ZONE)],
        [spread(ZONE), binpack("memory")],
        [binpack("memory"), spread(ZONE)],
        [spread("host"), binpack("cpu")],
    ],
)
def test_explain_chooses_where_place_puts_the_task(strategies: Any) -> None:
    state = explain_cluster()
    state.start_task("web", ["i-1", "i-3", "i-3"])
    for count in range(1, 6):
        snapshot = state.snapshot()
        request = PlacementRequest(snapshot.task_definition("web"), strategies=strategies)
        explanation = BaseScheduler().explain(snapshot, request)
        plan = BaseScheduler().place(snapshot, request)
        assert explanation.chosen == plan.placements[0].task.container_instance_id, count
        keys = [c.strategy_keys for c in explanation.ranked]
        if strategies is not None and strategies[0].type != "random":
            assert keys == sorted(keys)
        assert state.commit(plan).ok


def test_explain_chooses_where_a_seeded_random_place_puts_the_task() -> None:
    """Explanation.chosen is "the instance the scheduler would pick": for random(seed) too."""
    state = explain_cluster()
    snapshot = state.snapshot()
    mismatches = {}
    for seed in range(10):
        request = PlacementRequest(snapshot.task_definition("web"), strategies=[random(seed)])
        explanation = BaseScheduler().explain(snapshot, request)
        assert {c.instance_id for c in explanation.ranked} == {"i-1", "i-2", "i-3", "i-6"}
        placed = BaseScheduler().place(snapshot, request).placements[0].task.container_instance_id
        if explanation.chosen != placed:
            mismatches[seed] = (explanation.chosen, placed)
    assert mismatches == {}, "seed: (explain chose, place put it on)"


def test_explain_with_no_candidate_chooses_nothing() -> None:
    state = explain_cluster()
    snapshot = state.snapshot()
    request = PlacementRequest(
        snapshot.task_definition("web"), constraints=[{"type": "memberOf", "expression": "attribute:x == y"}]
    )
    explanation = BaseScheduler().explain(snapshot, request)
    assert explanation.chosen is None and explanation.ranked == ()
    assert len(explanation.rejected) == 7
    plan = BaseScheduler().place(snapshot, request)
    assert Counter(c.reason for c in explanation.rejected) == Counter(dict(plan.unplaced[0].reasons))


# -- custom filters and scorers -----------------------------------------------------------------


def licensed(instance: ContainerInstance, context: PlacementContext) -> str | None:
    return None if instance.attribute("license") == "yes" else "NO_LICENSE"


def test_a_filter_reason_shows_in_unplaced_and_explain() -> None:
    state = cluster(
        ("i-1", "zone-a", 4096, 1024),
        ("i-2", "zone-a", 4096, 4096),
        ("i-3", "zone-a", 64, 4096),
        ("i-4", "zone-b", 4096, 4096),
    )
    state.put_attributes("i-1", {"license": "yes"})
    state.register_task_definition(definition("app", memory=512))
    scheduler = BaseScheduler(filters=[licensed])
    result = state.run_task("app", count=3, scheduler=scheduler)
    assert where(result.tasks) == ["i-1", "i-1"]
    assert result.failures[0].reason == "NO_LICENSE"
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition("app"))
    plan = scheduler.place(snapshot, request)
    assert dict(plan.unplaced[0].reasons) == {"RESOURCE:MEMORY": 1, "NO_LICENSE": 2, "RESOURCE:CPU": 1}
    assert plan.unplaced[0].reason == "NO_LICENSE"
    explanation = scheduler.explain(snapshot, request)
    assert explanation.ranked == ()
    assert {c.instance_id: c.reason for c in explanation.rejected} == {
        "i-1": "RESOURCE:MEMORY",
        "i-2": "NO_LICENSE",
        "i-3": "RESOURCE:CPU",
        "i-4": "NO_LICENSE",
    }


def test_a_filter_sees_the_plan_so_far() -> None:
    """A cap of two tasks of the group per zone, read from the context, holds within one plan."""
    state = cluster(("i-1", "zone-a", 4096, 4096), ("i-2", "zone-a", 4096, 4096), ("i-3", "zone-b", 4096, 4096))
    state.register_task_definition(definition("app"))

    def two_per_zone(instance: ContainerInstance, context: PlacementContext) -> str | None:
        zone = instance.attribute("ecs.availability-zone")
        counts = context.count_by(ZONE, context.snapshot.instances())
        return "ZONE_FULL" if counts.get(zone, 0) >= 2 else None

    result = state.run_task("app", count=6, scheduler=BaseScheduler(filters=[two_per_zone]))
    zones = Counter(state.snapshot().instance(i).attribute("ecs.availability-zone") for i in where(result.tasks))
    assert zones == {"zone-a": 2, "zone-b": 2}
    assert [f.reason for f in result.failures] == ["ZONE_FULL", "ZONE_FULL"]


def test_family_count_counts_a_family_across_services_and_run_task_while_group_count_keeps_to_the_group() -> None:
    """At most three tasks of family ``app`` per instance, however they were started."""
    state = cluster(("i-1", "zone-a", 8192, 8192), ("i-2", "zone-b", 8192, 8192))
    state.register_task_definition(definition("app"))
    state.register_task_definition(definition("other"))
    state.run_task(
        "app",
        count=2,
        placement_constraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == zone-a"}],
    )
    state.run_task(
        "other",
        count=2,
        placement_constraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == zone-a"}],
    )
    seen: list[tuple[int, int, int]] = []

    def three_per_instance(instance: ContainerInstance, context: PlacementContext) -> Rejected | None:
        if instance.id == "i-1":
            seen.append((context.group_count("i-1"), context.family_count("i-1"), context.family_count("i-1", "other")))
        return Rejected("FAMILY_CAP", lasting=True) if context.family_count(instance.id) >= 3 else None

    result = state.run_task(
        "app", count=5, group="batch:nightly", scheduler=BaseScheduler(filters=[three_per_instance]),
        placement_strategy=[{"type": "binpack", "field": "memory"}],
    )  # fmt: skip
    assert Counter(where(result.tasks)) == {"i-1": 1, "i-2": 3}
    assert [f.reason for f in result.failures] == ["FAMILY_CAP"]
    assert seen[0] == (0, 2, 2)  # none of the group yet; two of the family started by run_task, two of another
    assert (1, 3, 2) in seen  # this plan's own placement counts for both


def test_a_filter_must_return_none_or_a_reason() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096))
    state.register_task_definition(definition("app"))
    with pytest.raises(ValidationError):
        state.run_task("app", scheduler=BaseScheduler(filters=[lambda i, c: ""]))
    with pytest.raises(ValidationError):
        state.run_task("app", scheduler=BaseScheduler(filters=[lambda i, c: 3]))  # type: ignore[list-item,return-value]
    assert len(live_tasks(state.snapshot())) == 0


def test_scorers_rank_before_strategies_and_weights_count() -> None:
    state = cluster(("i-1", "zone-a", 4096, 1024), ("i-2", "zone-b", 4096, 2048), ("i-3", "zone-c", 4096, 4096))
    state.register_task_definition(definition("app"))
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition("app"), strategies=[binpack("memory")])

    def likes_c(instance: ContainerInstance, context: PlacementContext) -> float:
        return 1.0 if instance.id == "i-3" else 0.0

    def likes_b(instance: ContainerInstance, context: PlacementContext) -> float:
        return 1.0 if instance.id == "i-2" else 0.0

    assert BaseScheduler().place(snapshot, request).placements[0].task.container_instance_id == "i-1"
    assert BaseScheduler(scorers=[likes_c]).place(snapshot, request).placements[0].task.container_instance_id == "i-3"
    heavier_b = BaseScheduler(scorers=[Weighted(likes_c, 1.0), Weighted(likes_b, 3.0)])
    explanation = heavier_b.explain(snapshot, request)
    assert [c.instance_id for c in explanation.ranked] == ["i-2", "i-3", "i-1"]
    assert [c.score for c in explanation.ranked] == pytest.approx([0.75, 0.25, 0.0])
    assert heavier_b.place(snapshot, request).placements[0].task.container_instance_id == "i-2"
    # equal scores: the strategy breaks the tie
    flat = BaseScheduler(scorers=[lambda i, c: 0.5])
    assert flat.place(snapshot, request).placements[0].task.container_instance_id == "i-1"


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "high", None])
def test_a_scorer_outside_zero_to_one_is_refused(bad: Any) -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096))
    state.register_task_definition(definition("app"))
    with pytest.raises(ValidationError) as caught:
        state.run_task("app", scheduler=BaseScheduler(scorers=[lambda i, c: bad]))
    assert caught.value.field == "score"
    assert len(live_tasks(state.snapshot())) == 0


@pytest.mark.parametrize("weight", [0, -1, float("nan"), True, "1"])
def test_a_weight_must_be_positive(weight: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        Weighted(lambda i, c: 0.5, weight)
    assert caught.value.field == "weight"


class EvenOnly(BaseScheduler):
    """Only instances whose id ends in an even digit; prefer the most memory left."""

    def check(self, instance: ContainerInstance, context: PlacementContext) -> str | None:
        return None if int(instance.id[-1]) % 2 == 0 else "ODD"

    def score(self, instance: ContainerInstance, context: PlacementContext) -> float:
        return context.remaining(instance).memory / 8192


def test_a_subclass_can_override_check_and_score() -> None:
    state = cluster(*[(f"i-{n}", "zone-a", 8192, 1024 * n) for n in range(1, 7)])
    state.register_task_definition(definition("app", memory=1024))
    scheduler = EvenOnly(scorers=[lambda i, c: 0.0])  # scorers given: score() ranks first
    result = state.run_task("app", count=5, scheduler=scheduler, placement_strategy=[binpack("memory")])
    # most memory left first, re-ranked after each placement: 6 (6144), 6 (5120) / 4 (4096) ...
    assert where(result.tasks) == ["i-6", "i-6", "i-4", "i-6", "i-4"]
    explanation = scheduler.explain(state.snapshot(), PlacementRequest(state.snapshot().task_definition("app")))
    assert {c.reason for c in explanation.rejected} == {"ODD"}
    assert {c.instance_id for c in explanation.rejected} == {"i-1", "i-3", "i-5"}


def test_a_subclass_check_without_scorers_still_filters() -> None:
    state = cluster(*[(f"i-{n}", "zone-a", 8192, 8192) for n in range(1, 5)])
    state.register_task_definition(definition("app"))
    result = state.run_task("app", count=8, scheduler=EvenOnly(), placement_strategy=[spread("instanceId")])
    assert Counter(where(result.tasks)) == {"i-2": 4, "i-4": 4}


# -- strict versions -----------------------------------------------------------------------


def test_strict_plans_reject_placements_on_instances_that_changed() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096), ("i-2", "zone-b", 4096, 4096))
    state.register_task_definition(definition("app"))
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition("app"), 4, strategies=[spread("instanceId")])
    strict = BaseScheduler(strict_versions=True).place(snapshot, request)
    loose = BaseScheduler().place(snapshot, request)
    assert Counter(where(strict.tasks)) == {"i-1": 2, "i-2": 2}
    state.put_attributes("i-1", {"color": "blue"})  # i-1 changes, with room to spare
    result = state.commit(strict)
    assert {r.reason for r in result.rejected} == {"STALE_VERSION"}
    rejected = [r.change for r in result.rejected]
    assert all(isinstance(c, PlaceTask) for c in (*rejected, *result.accepted))  # the plan holds placements only
    assert sorted(c.task.container_instance_id for c in rejected if isinstance(c, PlaceTask)) == ["i-1", "i-1"]
    assert sorted(c.task.container_instance_id for c in result.accepted if isinstance(c, PlaceTask)) == ["i-2", "i-2"]
    assert len(state.commit(loose).accepted) == 4  # the fine-grained check re-checks the fit instead
    assert state_violations(state.snapshot()) == []


def test_strict_plans_with_several_tasks_per_instance_commit_when_nothing_changed() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096))
    state.register_task_definition(definition("app"))
    snapshot = state.snapshot()
    plan = BaseScheduler(strict_versions=True).place(snapshot, PlacementRequest(snapshot.task_definition("app"), 5))
    assert plan.strict_versions
    assert all(p.instance_version == snapshot.instance("i-1").version for p in plan.placements)
    result = state.commit(plan)
    assert result.ok and len(result.accepted) == 5
    outcome = place_and_commit(
        state, BaseScheduler(strict_versions=True), PlacementRequest(snapshot.task_definition("app"), 3)
    )
    assert len(outcome.tasks) == 3 and outcome.conflicts == ()


def test_strict_place_and_commit_replans_after_a_change() -> None:
    state = cluster(("i-1", "zone-a", 4096, 4096))
    state.register_task_definition(definition("app"))
    snapshot = state.snapshot()
    plan = BaseScheduler(strict_versions=True).place(snapshot, PlacementRequest(snapshot.task_definition("app"), 2))
    state.put_attributes("i-1", {"k": "v"})
    assert {r.reason for r in state.commit(plan).rejected} == {"STALE_VERSION"}
    assert len(live_tasks(state.snapshot())) == 0
    outcome = place_and_commit(
        state, BaseScheduler(strict_versions=True), PlacementRequest(snapshot.task_definition("app"), 2)
    )
    assert len(outcome.tasks) == 2


# -- list_container_instances with a cluster query filter ------------------------------------------


ZONES = ("zone-a", "zone-b", "zone-c")
TYPES = ("t2.small", "t2.large", "g2.xlarge", "m5.large")
VERSIONS = ("1.2", "1.9.0", "1.10.0", "1.10.1", "2.0.0")


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


FILTERS: list[tuple[str, Any]] = [
    (f"{ZONE} == zone-a", lambda i, g: i["zone"] == "zone-a"),
    (f"{ZONE} != zone-a", lambda i, g: i["zone"] != "zone-a"),
    (f"{ZONE} in [zone-a, zone-c]", lambda i, g: i["zone"] in ("zone-a", "zone-c")),
    (f"{ZONE} not_in [zone-a, zone-c]", lambda i, g: i["zone"] not in ("zone-a", "zone-c")),
    (
        "attribute:ecs.instance-type =~ t2\\..*",
        lambda i, g: i["type"] is not None and re.fullmatch(r"t2\..*", i["type"]),
    ),
    (
        "attribute:ecs.instance-type !~ t2\\..*",
        lambda i, g: not (i["type"] is not None and re.fullmatch(r"t2\..*", i["type"])),
    ),
    ("attribute:ecs.instance-type exists", lambda i, g: i["type"] is not None),
    ("attribute:flag exists", lambda i, g: i["flag"]),
    ("attribute:flag !exists", lambda i, g: not i["flag"]),
    ("agentConnected == false", lambda i, g: not i["agent"]),
    ("agentVersion >= 1.10.0", lambda i, g: _version(i["version"]) >= (1, 10)),
    ("agentVersion < 1.9", lambda i, g: _version(i["version"]) < (1, 9)),
    ("runningTasksCount > 1", lambda i, g: i["running"] > 1),
    ("runningTasksCount == 0", lambda i, g: i["running"] == 0),
    ("task:group == family:db", lambda i, g: "family:db" in g),
    ("not(task:group == family:db)", lambda i, g: "family:db" not in g),
    ("task:group exists", lambda i, g: bool(g)),
    ("ec2InstanceId in [ec2-1, ec2-3]", lambda i, g: i["ec2"] in ("ec2-1", "ec2-3")),
    (
        f"{ZONE} == zone-b and (task:group == family:db or agentConnected == false)",
        lambda i, g: i["zone"] == "zone-b" and ("family:db" in g or not i["agent"]),
    ),
    (
        f"!({ZONE} == zone-b) || runningTasksCount >= 2",
        lambda i, g: i["zone"] != "zone-b" or i["running"] >= 2,
    ),
]


@st.composite
def query_clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 10))
    return [
        {
            "zone": draw(st.sampled_from([*ZONES, None])),
            "type": draw(st.sampled_from([*TYPES, None])),
            "flag": draw(st.booleans()),
            "agent": draw(st.booleans()),
            "version": draw(st.sampled_from(VERSIONS)),
            "ec2": draw(st.sampled_from([None, "ec2-1", "ec2-2", "ec2-3"])),
            "status": draw(st.sampled_from(["ACTIVE", "ACTIVE", "DRAINING", "INACTIVE"])),
            "db": draw(st.integers(0, 2)),
            "web": draw(st.integers(0, 2)),
            "running": 0,
        }
        for _ in range(count)
    ]


@given(
    query_clusters(),
    st.sampled_from(range(len(FILTERS))),
    st.sampled_from([None, "ACTIVE", "DRAINING", "INACTIVE"]),
    st.integers(1, 4),
)
def test_list_container_instances_filter_matches_brute_force(
    specs: list[dict[str, Any]], which: int, status: str | None, page_size: int
) -> None:
    state = ClusterState("query")
    state.register_task_definition(definition("db", cpu=1, memory=8))
    state.register_task_definition(definition("web", cpu=1, memory=8))
    for n, spec in enumerate(specs):
        attributes: dict[str, str | None] = {}
        if spec["zone"] is not None:
            attributes["ecs.availability-zone"] = spec["zone"]
        if spec["type"] is not None:
            attributes["ecs.instance-type"] = spec["type"]
        if spec["flag"]:
            attributes["flag"] = None  # an attribute with no value still exists
        instance_id = f"i-{n:02d}"
        state.register_container_instance(
            instance_id,
            cpu=1024,
            memory=1024,
            attributes=attributes,
            agent_version=spec["version"],
            ec2_instance_id=spec["ec2"],
        )
        for family in ("db", "web"):
            for _ in range(spec[family]):
                task = state.start_task(family, [instance_id]).tasks[0]
                if family == "web":  # web tasks run; db tasks stay PENDING
                    state.submit_task_state_change(task.id, version=task.version, status="RUNNING")
                    spec["running"] += 1
    for n, spec in enumerate(specs):
        instance_id = f"i-{n:02d}"
        if spec["status"] == "DRAINING":
            state.update_container_instances_state([instance_id], "DRAINING")
        if spec["status"] == "INACTIVE":
            state.deregister_container_instance(instance_id, force=True)
            spec["db"] = spec["web"] = spec["running"] = 0
            spec["agent"] = False  # a deregistered instance's agent is disconnected
        if not spec["agent"] and spec["status"] != "INACTIVE":
            assert state.commit([UpdateInstance(instance_id, agent_connected=False)]).ok
    snapshot = state.snapshot()
    assert state_violations(snapshot) == []
    text, test = FILTERS[which]
    wanted_status = ("ACTIVE", "DRAINING") if status is None else (status,)
    expected = []
    for n, spec in enumerate(specs):
        instance = snapshot.instance(f"i-{n:02d}")
        assert instance.running_tasks_count == spec["running"]
        groups = {g for g, k in (("family:db", spec["db"]), ("family:web", spec["web"])) if k}
        if instance.status in wanted_status and test(spec, groups):
            expected.append(state.arns.container_instance(instance.id))
    listed: list[str] = []
    token = None
    while True:
        page = state.list_container_instances(filter=text, status=status, max_results=page_size, next_token=token)
        assert len(page.items) <= page_size
        listed.extend(page.items)
        token = page.next_token
        if token is None:
            break
    assert listed == sorted(expected)


@pytest.mark.parametrize(
    "strategy",
    [
        None,
        [spread("attribute:ecs.availability-zone"), spread("instanceId")],
        [binpack("memory")],
        [spread("instanceId")],
    ],
)
def test_avoided_instances_are_the_last_resort(strategy: Any) -> None:
    state = ClusterState("avoid")
    for name, zone in (("i-1", "zone-a"), ("i-2", "zone-b"), ("i-3", "zone-b")):
        state.register_container_instance(name, cpu=1024, memory=1024, attributes={"ecs.availability-zone": zone})
    definition = state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 512}]}
    )
    scheduler = BaseScheduler()
    # zone-a is the least loaded and i-1 is the emptiest: every strategy would pick it, but for the avoidance
    request = PlacementRequest(definition, 4, strategies=strategy, avoid={"i-1"})
    plan = scheduler.place(state.snapshot(), request)
    hosts = [p.task.container_instance_id for p in plan.placements]
    assert sorted(hosts[:4]) == ["i-2", "i-2", "i-3", "i-3"]  # the avoided instance only once the others are full
    more = scheduler.place(state.snapshot(), attrs.evolve(request, count=6))
    assert sorted(p.task.container_instance_id for p in more.placements) == ["i-1", "i-1", "i-2", "i-2", "i-3", "i-3"]
    with pytest.raises(ValidationError) as caught:
        PlacementRequest(definition, 1, avoid="i-1")
    assert caught.value.field == "avoid"


def test_a_seeded_random_strategy_draws_afresh_once_tasks_were_added() -> None:
    state = ClusterState("random-draws")
    for index in range(20):
        state.register_container_instance(f"i-{index:02d}", cpu=4096, memory=8192)
    definition = state.register_task_definition(
        {"family": "job", "containerDefinitions": [{"name": "a", "image": "b", "memory": 64}]}
    )
    scheduler = BaseScheduler(seed=7)
    request = PlacementRequest(definition, 1, strategies=[random()])
    first = scheduler.place(state.snapshot(), request).tasks[0].container_instance_id
    assert scheduler.place(state.snapshot(), request).tasks[0].container_instance_id == first  # same cluster
    hosts = set()
    for _ in range(20):
        hosts.add(place_and_commit(state, scheduler, request).tasks[0].container_instance_id)
    assert len(hosts) >= 8  # not the same instance every time (one in 20 each: about 13 distinct)
