"""Placement against a brute-force oracle.

Small random clusters (instances with cpu, memory and GPU, zones, DRAINING, disconnected
and deregistered ones, tasks already placed) and random task definitions (cpu, memory,
GPU, static and dynamic TCP/UDP host ports, bridge/host/awsvpc). The oracle, the testing
kit's (``clusterkit.testing``, through ``check_plan``), knows nothing of the
scheduler: it loops over ``snapshot.instances()`` and ``snapshot.tasks()`` and decides
feasibility and the best instance from the ECS rules written out by hand. A plan is
replayed placement by placement against it and against the specs below (whose constraint
meanings are written out here, apart from the query language), then committed and checked.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import BaseScheduler, ClusterState, PlacementRequest, Snapshot
from clusterkit.placement import Plan, PortRange, binpack, random, spread
from clusterkit.state import UpdateInstance, state_violations
from clusterkit.testing import (
    View,
    check_plan,
    check_state,
    failing_reasons,
    field_value,
    oracle_key,
    oracle_views,
    port_mappings,
)

ZONES = ("zone-a", "zone-b", "zone-c")
ZONE = "attribute:ecs.availability-zone"
FAMILY = "app"
GROUP = f"family:{FAMILY}"
DEFAULT_RANGE = (49153, 65535)

# -- specs --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class InstanceSpec:
    cpu: int
    memory: int
    gpu: int
    zone: str | None
    tier: str | None
    host: str | None
    status: str  # ACTIVE, DRAINING or INACTIVE
    agent: bool
    pre: tuple[str, ...]  # groups of the tasks placed before the request: family:app, family:db, family:other


@dataclasses.dataclass(frozen=True)
class Mapping:
    container_port: int
    host_port: int | None
    protocol: str


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    network_mode: str
    cpu: int
    memory: int
    gpu: int
    mappings: tuple[Mapping, ...]

    def json(self) -> dict[str, Any]:
        container: dict[str, Any] = {"name": "c0", "image": "img", "cpu": self.cpu, "memory": self.memory}
        if self.gpu:
            container["resourceRequirements"] = [{"type": "GPU", "value": str(self.gpu)}]
        mappings = []
        for mapping in self.mappings:
            item: dict[str, Any] = {"containerPort": mapping.container_port, "protocol": mapping.protocol}
            if mapping.host_port is not None:
                item["hostPort"] = mapping.host_port
            mappings.append(item)
        container["portMappings"] = mappings
        return {"family": FAMILY, "networkMode": self.network_mode, "containerDefinitions": [container]}

    def static_ports(self, protocol: str) -> set[int]:
        """Host ports the task takes as written (bridge static, host = container port)."""
        if self.network_mode == "awsvpc":
            return set()
        if self.network_mode == "host":
            return {m.container_port for m in self.mappings if m.protocol == protocol}
        return {m.host_port for m in self.mappings if m.protocol == protocol and m.host_port}

    def dynamic_count(self, protocol: str) -> int:
        if self.network_mode != "bridge":
            return 0
        return sum(1 for m in self.mappings if m.protocol == protocol and not m.host_port)


# Constraints as data: (kind, argument). Each has an ECS text and a hand-written test.
def constraint_text(constraint: tuple[str, Any]) -> dict[str, str]:
    kind, argument = constraint
    if kind == "distinct":
        return {"type": "distinctInstance"}
    expression = {
        "zone_in": lambda: f"{ZONE} in [{', '.join(argument)}]",
        "tier_eq": lambda: f"attribute:tier == {argument}",
        "tier_ne": lambda: f"attribute:tier != {argument}",
        "not_group": lambda: f"not(task:group == {argument})",
        "group_ne": lambda: f"task:group != {argument}",
        "zone_match": lambda: f"{ZONE} =~ {argument}",
    }[kind]()
    return {"type": "memberOf", "expression": expression}


def constraint_holds(constraint: tuple[str, Any], view: View) -> bool:
    """The hand-written meaning of each constraint (the kit's oracle asks the query language)."""
    kind, argument = constraint
    zone, tier = view.instance.attribute("ecs.availability-zone"), view.instance.attribute("tier")
    if kind == "distinct":
        return view.groups[GROUP] == 0
    if kind == "zone_in":
        return zone is not None and zone in argument
    if kind == "zone_match":
        return zone is not None and zone.startswith("zone-") and zone[5:] in "ab"
    if kind == "tier_eq":
        return bool(tier == argument)
    if kind == "tier_ne":
        return bool(tier != argument)
    assert kind in ("not_group", "group_ne")
    return view.groups[argument] == 0


# -- hypothesis strategies ----------------------------------------------------------------


@st.composite
def instance_specs(draw: st.DrawFn, zones: int, *, healthy: bool = False) -> InstanceSpec:
    status = "ACTIVE" if healthy else draw(st.sampled_from(["ACTIVE"] * 6 + ["DRAINING", "INACTIVE"]))
    return InstanceSpec(
        cpu=draw(st.sampled_from([256, 300, 512, 700, 1024, 1500, 2048, 4096, 8192])),
        memory=draw(st.sampled_from([256, 512, 1000, 2048, 4096, 8192])),
        gpu=draw(st.sampled_from([0, 0, 1, 2, 4])),
        zone=draw(st.sampled_from(ZONES[:zones])) if healthy else draw(st.sampled_from([*ZONES[:zones], None])),
        tier=draw(st.sampled_from(["gold", "silver", None])),
        host=draw(st.sampled_from([None, None, "h-1", "h-2"])),
        status=status,
        agent=True if healthy else draw(st.sampled_from([True] * 5 + [False])),
        pre=() if healthy else tuple(draw(st.lists(st.sampled_from([GROUP, "family:db", "family:other"]), max_size=3))),
    )


CONTAINER_PORTS = (53, 80, 8080, 5000, 5001, 22)
HOST_PORTS = (None, 0, 0, 0, 80, 8080, 53, 49153, 49154, 22, 51678)  # 22 and 51678 are reserved


@st.composite
def task_specs(draw: st.DrawFn, *, ports: bool = True) -> TaskSpec:
    mode = draw(st.sampled_from(["bridge", "bridge", "host", "awsvpc"]))
    drawn = draw(port_mappings(mode, container_ports=CONTAINER_PORTS, host_ports=HOST_PORTS)) if ports else []
    mappings = [Mapping(m["containerPort"], m.get("hostPort"), m["protocol"]) for m in drawn]
    return TaskSpec(
        network_mode=mode,
        cpu=draw(st.sampled_from([0, 64, 100, 128, 256, 300, 512, 1024])),
        memory=draw(st.sampled_from([64, 128, 256, 500, 1024, 2048])),
        gpu=draw(st.sampled_from([0, 0, 0, 0, 1, 2])),
        mappings=tuple(mappings),
    )


CONSTRAINTS: st.SearchStrategy[list[tuple[str, Any]]] = st.lists(
    st.one_of(
        st.just(("distinct", None)),
        st.tuples(st.just("zone_in"), st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)),
        st.tuples(st.sampled_from(["tier_eq", "tier_ne"]), st.sampled_from(["gold", "silver"])),
        st.tuples(st.sampled_from(["not_group", "group_ne"]), st.sampled_from(["family:db", GROUP])),
        st.just(("zone_match", "zone-[ab]")),
    ),
    max_size=2,
) | st.just([])

CHAINS = st.sampled_from(
    [
        [("binpack", "memory")],
        [("binpack", "cpu")],
        [("spread", ZONE)],
        [("spread", "instanceId")],
        [("spread", "host")],
        [("spread", ZONE), ("binpack", "memory")],
        [("spread", ZONE), ("binpack", "cpu")],
        [("spread", ZONE), ("spread", "instanceId")],
        [("binpack", "memory"), ("spread", ZONE)],
        [("binpack", "cpu"), ("binpack", "memory"), ("spread", "instanceId")],
        [("binpack", "cpu"), ("spread", ZONE)],
        [("spread", "instanceId"), ("binpack", "memory")],
        [("spread", "instanceId"), ("binpack", "cpu")],
        [("spread", "host"), ("binpack", "memory")],
        [("spread", ZONE), ("spread", "host"), ("binpack", "cpu")],
        None,  # the default: spread over zones, then binpack memory
    ]
)

PORT_RANGES = st.sampled_from([DEFAULT_RANGE, DEFAULT_RANGE, (49153, 49153), (49153, 49155), (50000, 50003)])


def to_strategies(chain: list[tuple[str, str]] | None) -> list[Any] | None:
    if chain is None:
        return None
    assert all(field in ("cpu", "memory") for kind, field in chain if kind == "binpack")
    return [
        binpack("cpu" if field == "cpu" else "memory") if kind == "binpack" else spread(field) for kind, field in chain
    ]


# -- building a cluster -------------------------------------------------------------------


def build(instances: list[InstanceSpec], task: TaskSpec) -> ClusterState:
    state = ClusterState("oracle", clock=lambda: 1_700_000_000.0)
    state.register_task_definition(
        {
            "family": "db",
            "containerDefinitions": [
                {"name": "db", "image": "db", "cpu": 128, "memory": 128, "portMappings": [{"containerPort": 8080}]}
            ],
        }
    )
    state.register_task_definition(
        {
            "family": "other",
            "containerDefinitions": [
                {
                    "name": "o",
                    "image": "o",
                    "cpu": 64,
                    "memory": 64,
                    "portMappings": [{"containerPort": 53, "protocol": "udp"}, {"containerPort": 9000}],
                }
            ],
        }
    )
    ids = []
    for index, spec in enumerate(instances):
        attributes = {"tier": spec.tier}
        if spec.zone is not None:
            attributes["ecs.availability-zone"] = spec.zone
        instance = state.register_container_instance(
            f"i-{index:02d}",
            cpu=spec.cpu,
            memory=spec.memory,
            scalars={"GPU": spec.gpu} if spec.gpu else None,
            attributes={k: v for k, v in attributes.items() if v is not None},
            ec2_instance_id=spec.host,
        )
        ids.append(instance.id)
        for group in spec.pre:
            family = "db" if group == "family:db" else "other"
            state.start_task(family, [instance.id], group=group)
    for instance_id, spec in zip(ids, instances, strict=True):
        if spec.status == "DRAINING":
            state.update_container_instances_state([instance_id], "DRAINING")
        elif spec.status == "INACTIVE":
            state.deregister_container_instance(instance_id, force=True)
        if not spec.agent and spec.status != "INACTIVE":
            assert state.commit([UpdateInstance(instance_id, agent_connected=False)]).ok
    state.register_task_definition(task.json())
    assert state_violations(state.snapshot()) == []
    return state


# -- the replay ---------------------------------------------------------------------------

REASONS = {"INACTIVE", "AGENT", "ATTRIBUTE", "DISTINCT_INSTANCE", "RESOURCE:PORTS"}
REASONS |= {"RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:GPU"}


def replay(
    snapshot: Snapshot, plan: Plan, task: TaskSpec, constraints: list[tuple[str, Any]], scheduler: BaseScheduler
) -> dict[str, View]:
    """The kit's oracle (check_plan), then the specs step by step; returns the oracle's final views."""
    assert check_plan(snapshot, plan.request, plan, scheduler=scheduler) == []
    views = oracle_views(snapshot)
    for placement in plan.placements:
        view = views[placement.task.container_instance_id]
        assert all(constraint_holds(constraint, view) for constraint in constraints), placement
        charge = placement.task.charge
        assert (charge.cpu, charge.memory, charge.scalar("GPU")) == (task.cpu, task.memory, task.gpu)
        assert sorted((b.container_port, b.protocol) for b in placement.task.host_ports) == sorted(
            (m.container_port, m.protocol) for m in task.mappings
        )
        view.take(charge.cpu, charge.memory, dict(charge.scalars), set(charge.ports), set(charge.ports_udp))
        view.groups[GROUP] += 1
    for unplaced in plan.unplaced:
        assert sum(unplaced.reasons.values()) == len(views), (dict(unplaced.reasons), len(views))
        assert set(unplaced.reasons) <= REASONS, unplaced.reasons
    return views


def commit_and_check(
    state: ClusterState, plan: Plan, views: dict[str, View], constraints: list[tuple[str, Any]]
) -> Snapshot:
    """Commit the plan; every placement is accepted and the state keeps every rule."""
    before = state.snapshot()
    result = state.commit(plan)
    assert result.ok, result.rejected
    snapshot = result.snapshot
    assert check_state(snapshot, before) == []
    if any(kind == "distinct" for kind, _ in constraints):
        group_on = Counter(t.container_instance_id for t in snapshot.tasks() if not t.is_stopped and t.group == GROUP)
        new_on = Counter(p.task.container_instance_id for p in plan.placements)
        for instance_id, count in new_on.items():
            assert count == 1 and group_on[instance_id] == 1, (instance_id, new_on, group_on)
    for view in views.values():
        left = snapshot.instance(view.id).remaining
        assert (left.cpu, left.memory) == (view.cpu, view.memory)
        assert dict(left.scalars) == {name: amount for name, amount in view.scalars.items() if amount}
        assert (set(left.ports), set(left.ports_udp)) == (view.ports, view.ports_udp)
    return snapshot


# -- the properties -----------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn, chains: Any = CHAINS) -> dict[str, Any]:
    zones = draw(st.integers(1, 3))
    return {
        "instances": draw(st.lists(instance_specs(zones), min_size=1, max_size=12)),
        "task": draw(task_specs()),
        "constraints": draw(CONSTRAINTS),
        "chain": draw(chains),
        "count": draw(st.integers(1, 8)),
        "port_range": draw(PORT_RANGES),
    }


def scheduler_for(scenario: dict[str, Any], **options: Any) -> BaseScheduler:
    first, last = scenario["port_range"]
    return BaseScheduler(dynamic_ports=PortRange(first, last), **options)


def request_for(snapshot: Snapshot, scenario: dict[str, Any], count: int | None = None) -> PlacementRequest:
    return PlacementRequest(
        snapshot.task_definition(FAMILY),
        scenario["count"] if count is None else count,
        strategies=to_strategies(scenario["chain"]),
        constraints=[constraint_text(c) for c in scenario["constraints"]],
    )


def run_scenario(
    scenario: dict[str, Any], *, strict: bool = False
) -> tuple[ClusterState, Snapshot, Plan, dict[str, View]]:
    """Build, plan and replay: the state, the snapshot planned on, the plan and the oracle's views after it."""
    state = build(scenario["instances"], scenario["task"])
    snapshot = state.snapshot()
    scheduler = scheduler_for(scenario, strict_versions=strict)
    plan = scheduler.place(snapshot, request_for(snapshot, scenario))
    return state, snapshot, plan, replay(snapshot, plan, scenario["task"], scenario["constraints"], scheduler)


@given(scenarios(chains=st.sampled_from([[("binpack", "memory")], [("binpack", "cpu")]])))
def test_binpack_picks_an_instance_with_the_least_remaining_field(scenario: dict[str, Any]) -> None:
    run_scenario(scenario)


@given(scenarios())
def test_strategy_chains_pick_the_oracle_best_at_every_step(scenario: dict[str, Any]) -> None:
    """spread then binpack (and every other chain): the choice minimises the chain's keys, in order."""
    run_scenario(scenario)


@given(scenarios(), st.booleans())
def test_committed_plans_keep_capacity_ports_status_and_constraints(scenario: dict[str, Any], strict: bool) -> None:
    state, _, plan, views = run_scenario(scenario, strict=strict)
    commit_and_check(state, plan, views, scenario["constraints"])


@given(scenarios())
def test_unplaced_only_when_no_instance_can_take_the_task(scenario: dict[str, Any]) -> None:
    """The reasons count every non-INACTIVE instance; explain after the commit gives the same."""
    scenario = {**scenario, "count": scenario["count"] + 4}
    state, _, plan, views = run_scenario(scenario)
    after = commit_and_check(state, plan, views, scenario["constraints"])
    explanation = scheduler_for(scenario).explain(after, plan.request)
    rejected = {c.instance_id: c.reason for c in explanation.rejected}
    assert set(rejected) | {c.instance_id for c in explanation.ranked} == set(views)
    definition, constraints = plan.request.task_definition, plan.request.all_constraints
    first, last = scenario["port_range"]
    for instance_id, reason in rejected.items():
        expected = failing_reasons(views[instance_id], definition, constraints, GROUP, PortRange(first, last))
        assert reason in expected, (instance_id, reason, expected)
    if plan.unplaced:
        assert explanation.ranked == ()
        assert Counter(rejected.values()) == Counter(dict(plan.unplaced[-1].reasons))
        assert plan.unplaced[-1].reason in (set(rejected.values()) or {"NO_INSTANCES"})


@given(scenarios())
def test_explain_ranks_exactly_the_feasible_instances(scenario: dict[str, Any]) -> None:
    snapshot = build(scenario["instances"], scenario["task"]).snapshot()
    scheduler = scheduler_for(scenario)
    request = request_for(snapshot, scenario, count=1)
    explanation = scheduler.explain(snapshot, request)
    views = oracle_views(snapshot)
    ports = scheduler.dynamic_ports
    feasible = sorted(
        (
            v
            for v in views.values()
            if not failing_reasons(v, request.task_definition, request.all_constraints, GROUP, ports)
        ),
        key=lambda v: oracle_key(v, views, request.strategies, GROUP),
    )
    assert [c.instance_id for c in explanation.ranked] == [v.id for v in feasible]
    for candidate in explanation.ranked:
        key = oracle_key(views[candidate.instance_id], views, request.strategies, GROUP)
        assert list(candidate.strategy_keys) == list(key[:-1])
    plan = scheduler.place(snapshot, request)
    assert explanation.chosen == (plan.placements[0].task.container_instance_id if plan.placements else None)


@st.composite
def balanced_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    zones = draw(st.integers(1, 3))
    instances = draw(st.lists(instance_specs(zones, healthy=True), min_size=zones, max_size=12))
    # every zone has an instance, and every instance is big enough for every task
    instances = [
        dataclasses.replace(spec, zone=ZONES[index % zones], cpu=8192, memory=16384, gpu=0)
        if index < zones
        else dataclasses.replace(spec, cpu=8192, memory=16384, gpu=0)
        for index, spec in enumerate(instances)
    ]
    task = draw(task_specs(ports=False))
    task = dataclasses.replace(task, gpu=0, cpu=min(task.cpu, 512), memory=min(task.memory, 1024))
    return {
        "instances": instances,
        "task": task,
        "constraints": [],
        "chain": draw(
            st.sampled_from(
                [
                    [("spread", ZONE)],
                    [("spread", ZONE), ("binpack", "memory")],
                    [("spread", ZONE), ("binpack", "cpu")],
                    [("spread", "instanceId")],
                    None,
                ]
            )
        ),
        "count": draw(st.integers(1, 8)),
        "port_range": DEFAULT_RANGE,
    }


@given(balanced_scenarios())
def test_spread_keeps_the_values_within_one_task_when_all_have_room(scenario: dict[str, Any]) -> None:
    _, _, plan, views = run_scenario(scenario)
    assert not plan.unplaced
    field = (scenario["chain"] or [("spread", ZONE)])[0][1]
    values = {field_value(v.instance, field) for v in views.values()}
    counts: Counter[str | None] = Counter({value: 0 for value in values})
    for step, placement in enumerate(plan.placements):
        counts[field_value(views[placement.task.container_instance_id].instance, field)] += 1
        assert max(counts.values()) - min(counts.values()) <= 1, (step, counts)


@given(scenarios(chains=st.just([("random", "")])), st.integers(0, 2**32))
@settings(max_examples=60)
def test_random_is_repeatable_for_a_seed_and_snapshot(scenario: dict[str, Any], seed: int) -> None:
    """check_plan places the request again with the same seed: PLAN_REPEAT if it differs."""
    snapshot = build(scenario["instances"], scenario["task"]).snapshot()
    constraints = [constraint_text(c) for c in scenario["constraints"]]
    definition = snapshot.task_definition(FAMILY)
    for scheduler, strategy in (
        (scheduler_for(scenario), random(seed)),
        (scheduler_for(scenario, seed=seed), random()),
    ):
        plan = scheduler.place(
            snapshot, PlacementRequest(definition, scenario["count"], strategies=[strategy], constraints=constraints)
        )
        replay(snapshot, plan, scenario["task"], scenario["constraints"], scheduler)


def test_random_actually_varies_with_the_seed() -> None:
    instances = [InstanceSpec(4096, 8192, 0, "zone-a", None, None, "ACTIVE", True, ()) for _ in range(6)]
    task = TaskSpec("bridge", 128, 128, 0, ())
    state = build(instances, task)
    snapshot = state.snapshot()
    request = PlacementRequest(snapshot.task_definition(FAMILY), 1, strategies=[random()])
    firsts = {
        BaseScheduler(seed=seed).place(snapshot, request).placements[0].task.container_instance_id for seed in range(40)
    }
    assert len(firsts) >= 4, firsts
    seeded = {
        BaseScheduler()
        .place(snapshot, PlacementRequest(snapshot.task_definition(FAMILY), 1, strategies=[random(s)]))
        .placements[0]
        .task.container_instance_id
        for s in range(40)
    }
    assert len(seeded) >= 4, seeded
