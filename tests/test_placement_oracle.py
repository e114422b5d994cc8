"""Placement against a brute-force oracle.

Small random clusters (instances with cpu, memory and GPU, zones, DRAINING, disconnected
and deregistered ones, tasks already placed) and random task definitions (cpu, memory,
GPU, static and dynamic TCP/UDP host ports, bridge/host/awsvpc). The oracle below knows
nothing of the scheduler: it loops over ``snapshot.instances()`` and ``snapshot.tasks()``
and decides feasibility and the best instance from the ECS rules written out by hand. A
plan is replayed placement by placement against it, then committed and checked again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import (
    DEFAULT_RESERVED_PORTS,
    BaseScheduler,
    ClusterState,
    PlacementRequest,
    PortRange,
    Snapshot,
    binpack,
    random,
    spread,
    state_violations,
)
from clusterkit.placement.plan import Plan
from clusterkit.state.changes import UpdateInstance

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


@dataclasses.dataclass
class View:
    """The oracle's view of one instance while a plan is replayed."""

    id: str
    status: str
    agent: bool
    zone: str | None
    tier: str | None
    host: str
    cpu: int
    memory: int
    gpu: float
    ports: set[int]
    ports_udp: set[int]
    groups: Counter[str]


def oracle_views(snapshot: Snapshot) -> dict[str, View]:
    """Every non-INACTIVE instance, with what it has left and the groups of its live tasks."""
    views: dict[str, View] = {}
    for instance in snapshot.instances():
        if instance.status == "INACTIVE":
            continue
        attributes = dict(instance.attributes)
        left = instance.remaining
        views[instance.id] = View(
            instance.id,
            instance.status,
            instance.agent_connected,
            attributes.get("ecs.availability-zone"),
            attributes.get("tier"),
            instance.ec2_instance_id or instance.id,
            left.cpu,
            left.memory,
            dict(left.scalars).get("GPU", 0),
            set(left.ports),
            set(left.ports_udp),
            Counter(),
        )
    for task in snapshot.tasks():
        if task.last_status != "STOPPED" and task.container_instance_id in views:
            views[task.container_instance_id].groups[task.group] += 1
    return views


def constraint_holds(constraint: tuple[str, Any], view: View) -> bool:
    kind, argument = constraint
    if kind == "distinct":
        return view.groups[GROUP] == 0
    if kind == "zone_in":
        return view.zone is not None and view.zone in argument
    if kind == "zone_match":
        return view.zone is not None and view.zone.startswith("zone-") and view.zone[5:] in "ab"
    if kind == "tier_eq":
        return view.tier == argument
    if kind == "tier_ne":
        return view.tier != argument
    assert kind in ("not_group", "group_ne")
    return view.groups[argument] == 0


def free_ports(taken: set[int], port_range: tuple[int, int], count: int) -> bool:
    first, last = port_range
    return sum(1 for port in range(first, last + 1) if port not in taken) >= count if count else True


def failing_reasons(
    view: View, task: TaskSpec, constraints: list[tuple[str, Any]], port_range: tuple[int, int]
) -> set[str]:
    """Every ECS reason this instance cannot take one more task (empty: it can)."""
    reasons: set[str] = set()
    if view.status != "ACTIVE":
        reasons.add("INACTIVE")
    if not view.agent:
        reasons.add("AGENT")
    if view.cpu < task.cpu:
        reasons.add("RESOURCE:CPU")
    if view.memory < task.memory:
        reasons.add("RESOURCE:MEMORY")
    if view.gpu < task.gpu:
        reasons.add("RESOURCE:GPU")
    for protocol, taken in (("tcp", view.ports), ("udp", view.ports_udp)):
        static = task.static_ports(protocol)
        if static & taken or not free_ports(taken | static, port_range, task.dynamic_count(protocol)):
            reasons.add("RESOURCE:PORTS")
    for constraint in constraints:
        if not constraint_holds(constraint, view):
            reasons.add("DISTINCT_INSTANCE" if constraint[0] == "distinct" else "ATTRIBUTE")
    return reasons


def field_value(view: View, field: str) -> str | None:
    if field == "instanceId":
        return view.id
    if field == "host":
        return view.host
    assert field == ZONE
    return view.zone


def oracle_key(view: View, views: dict[str, View], strategies: list[tuple[str, str]]) -> tuple[Any, ...]:
    """Lower is better, strategy by strategy, then the instance id (the documented tie-break)."""
    key: list[Any] = []
    for kind, field in strategies:
        if kind == "binpack":
            key.append(getattr(view, field))
        else:
            value = field_value(view, field)
            key.append(sum(v.groups[GROUP] for v in views.values() if field_value(v, field) == value))
    key.append(view.id)
    return tuple(key)


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


@st.composite
def task_specs(draw: st.DrawFn, *, ports: bool = True) -> TaskSpec:
    mode = draw(st.sampled_from(["bridge", "bridge", "host", "awsvpc"]))
    mappings: list[Mapping] = []
    seen: set[tuple[int, str]] = set()
    static: set[tuple[int, str]] = set()
    for _ in range(draw(st.integers(0, 3)) if ports else 0):
        protocol = draw(st.sampled_from(["tcp", "tcp", "udp"]))
        container_port = draw(st.sampled_from([53, 80, 8080, 5000, 5001, 22]))
        if mode == "bridge":
            host_port = draw(st.sampled_from([None, 0, 0, 0, 80, 8080, 53, 49153, 49154, 22, 51678]))
        else:
            host_port = draw(st.sampled_from([None, container_port]))
        written = container_port if mode == "host" else host_port
        if (container_port, protocol) in seen or (written and (written, protocol) in static):
            continue
        seen.add((container_port, protocol))
        if written:
            static.add((written, protocol))
        mappings.append(Mapping(container_port, host_port, protocol))
    return TaskSpec(
        network_mode=mode,
        cpu=draw(st.sampled_from([0, 64, 100, 128, 256, 300, 512, 1024])),
        memory=draw(st.sampled_from([64, 128, 256, 500, 1024, 2048])),
        gpu=draw(st.sampled_from([0, 0, 0, 0, 1, 2])),
        mappings=tuple(mappings),
    )


CONSTRAINTS = st.lists(
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
    return [binpack(field) if kind == "binpack" else spread(field) for kind, field in chain]


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


def replay(
    snapshot: Snapshot,
    plan: Plan,
    task: TaskSpec,
    constraints: list[tuple[str, Any]],
    chain: list[tuple[str, str]] | None,
    port_range: tuple[int, int],
    *,
    ranked: bool = True,
) -> dict[str, View]:
    """Check each placement of ``plan`` against the oracle; returns the oracle's final views."""
    views = oracle_views(snapshot)
    effective = chain if chain is not None else [("spread", ZONE), ("binpack", "memory")]
    assert len(plan.placements) + len(plan.unplaced) == plan.request.count
    for step, placement in enumerate(plan.placements):
        feasible = [v for v in views.values() if not failing_reasons(v, task, constraints, port_range)]
        chosen = placement.task.container_instance_id
        assert chosen in {v.id for v in feasible}, (
            f"step {step}: {chosen} cannot take the task: "
            f"{failing_reasons(views[chosen], task, constraints, port_range) if chosen in views else 'unknown'}"
        )
        if ranked:
            best = min(feasible, key=lambda v: oracle_key(v, views, effective))
            assert chosen == best.id, (
                f"step {step}: chose {chosen} {oracle_key(views[chosen], views, effective)}, "
                f"oracle says {best.id} {oracle_key(best, views, effective)}"
            )
        view = views[chosen]
        assert placement.instance_version == snapshot.instance(chosen).version
        check_task_ports(placement.task, task, view, port_range)
        charge = placement.task.charge
        assert (charge.cpu, charge.memory, charge.scalar("GPU")) == (task.cpu, task.memory, task.gpu)
        assert placement.task.group == GROUP
        view.cpu -= task.cpu
        view.memory -= task.memory
        view.gpu -= task.gpu
        if task.network_mode != "awsvpc":
            for binding in placement.task.host_ports:
                (view.ports if binding.protocol == "tcp" else view.ports_udp).add(binding.host_port)
        view.groups[GROUP] += 1
    leftover = [v.id for v in views.values() if not failing_reasons(v, task, constraints, port_range)]
    if plan.unplaced:
        assert leftover == [], f"{len(plan.unplaced)} unplaced, but the oracle can place on {leftover}"
        for unplaced in plan.unplaced:
            assert sum(unplaced.reasons.values()) == len(views), (dict(unplaced.reasons), len(views))
            for reason in unplaced.reasons:
                assert reason in {"INACTIVE", "AGENT", "ATTRIBUTE", "DISTINCT_INSTANCE", "RESOURCE:PORTS"} or (
                    reason in ("RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:GPU")
                ), reason
    return views


def check_task_ports(placed: Any, task: TaskSpec, view: View, port_range: tuple[int, int]) -> None:
    """The bindings follow the network mode; every taken port was free and is not reserved."""
    bindings = placed.host_ports
    assert sorted((b.container_port, b.protocol) for b in bindings) == sorted(
        (m.container_port, m.protocol) for m in task.mappings
    )
    taken: dict[str, set[int]] = {"tcp": set(), "udp": set()}
    for binding in bindings:
        mapping = next(
            m for m in task.mappings if (m.container_port, m.protocol) == (binding.container_port, binding.protocol)
        )
        if task.network_mode in ("host", "awsvpc"):
            assert binding.host_port == mapping.container_port
        elif mapping.host_port:
            assert binding.host_port == mapping.host_port
        else:
            assert port_range[0] <= binding.host_port <= port_range[1], binding
        if task.network_mode != "awsvpc":
            already = view.ports if binding.protocol == "tcp" else view.ports_udp
            assert binding.host_port not in already, f"{binding} is taken on {view.id}"
            assert binding.host_port not in taken[binding.protocol], f"{binding} twice in one task"
            assert binding.protocol == "udp" or binding.host_port not in DEFAULT_RESERVED_PORTS
            taken[binding.protocol].add(binding.host_port)
    charge = placed.charge
    if task.network_mode == "awsvpc":
        assert not charge.ports and not charge.ports_udp
    else:
        assert charge.ports == frozenset(taken["tcp"])
        assert charge.ports_udp == frozenset(taken["udp"])


def commit_and_check(
    state: ClusterState, plan: Plan, views: dict[str, View], constraints: list[tuple[str, Any]]
) -> Snapshot:
    """Commit the plan; every placement is accepted and the state keeps every rule."""
    result = state.commit(plan)
    assert result.ok, result.rejected
    snapshot = result.snapshot
    assert state_violations(snapshot) == []
    ports: dict[tuple[str, str], list[int]] = {}
    group_on: Counter[str] = Counter()
    for placed in snapshot.tasks():
        if placed.last_status == "STOPPED":
            continue
        if placed.group == GROUP:
            group_on[placed.container_instance_id] += 1
        for binding in placed.host_ports:
            charged = placed.charge.ports if binding.protocol == "tcp" else placed.charge.ports_udp
            if binding.host_port in charged:  # awsvpc bindings take nothing on the host
                ports.setdefault((placed.container_instance_id, binding.protocol), []).append(binding.host_port)
    for (instance_id, protocol), used in ports.items():
        assert len(used) == len(set(used)), f"{instance_id} {protocol} ports used twice: {sorted(used)}"
        if protocol == "tcp":
            assert not set(used) & DEFAULT_RESERVED_PORTS, (instance_id, sorted(used))
    if any(kind == "distinct" for kind, _ in constraints):
        new_on = Counter(p.task.container_instance_id for p in plan.placements)
        for instance_id, count in new_on.items():
            assert count == 1 and group_on[instance_id] == 1, (instance_id, new_on, group_on)
    for view in views.values():
        instance = snapshot.instance(view.id)
        left = instance.remaining
        assert (left.cpu, left.memory, left.scalar("GPU")) == (view.cpu, view.memory, view.gpu)
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


def run_scenario(scenario: dict[str, Any], *, strict: bool = False) -> tuple[ClusterState, Snapshot, Plan]:
    state = build(scenario["instances"], scenario["task"])
    snapshot = state.snapshot()
    first, last = scenario["port_range"]
    scheduler = BaseScheduler(dynamic_ports=PortRange(first, last), strict_versions=strict)
    request = PlacementRequest(
        snapshot.task_definition(FAMILY),
        scenario["count"],
        strategies=to_strategies(scenario["chain"]),
        constraints=[constraint_text(c) for c in scenario["constraints"]],
    )
    return state, snapshot, scheduler.place(snapshot, request)


@given(scenarios(chains=st.sampled_from([[("binpack", "memory")], [("binpack", "cpu")]])))
def test_binpack_picks_an_instance_with_the_least_remaining_field(scenario: dict[str, Any]) -> None:
    _, snapshot, plan = run_scenario(scenario)
    replay(snapshot, plan, scenario["task"], scenario["constraints"], scenario["chain"], scenario["port_range"])


@given(scenarios())
def test_strategy_chains_pick_the_oracle_best_at_every_step(scenario: dict[str, Any]) -> None:
    """spread then binpack (and every other chain): the choice minimises the chain's keys, in order."""
    _, snapshot, plan = run_scenario(scenario)
    replay(snapshot, plan, scenario["task"], scenario["constraints"], scenario["chain"], scenario["port_range"])


@given(scenarios(), st.booleans())
def test_committed_plans_keep_capacity_ports_status_and_constraints(scenario: dict[str, Any], strict: bool) -> None:
    state, snapshot, plan = run_scenario(scenario, strict=strict)
    views = replay(snapshot, plan, scenario["task"], scenario["constraints"], scenario["chain"], scenario["port_range"])
    commit_and_check(state, plan, views, scenario["constraints"])


@given(scenarios())
def test_unplaced_only_when_no_instance_can_take_the_task(scenario: dict[str, Any]) -> None:
    """The reasons count every non-INACTIVE instance; explain after the commit gives the same."""
    scenario = {**scenario, "count": scenario["count"] + 4}
    state, snapshot, plan = run_scenario(scenario)
    views = replay(snapshot, plan, scenario["task"], scenario["constraints"], scenario["chain"], scenario["port_range"])
    after = commit_and_check(state, plan, views, scenario["constraints"])
    first, last = scenario["port_range"]
    explanation = BaseScheduler(dynamic_ports=PortRange(first, last)).explain(after, plan.request)
    rejected = {c.instance_id: c.reason for c in explanation.rejected}
    assert set(rejected) | {c.instance_id for c in explanation.ranked} == set(views)
    for instance_id, reason in rejected.items():
        expected = failing_reasons(
            views[instance_id], scenario["task"], scenario["constraints"], scenario["port_range"]
        )
        assert reason in expected, (instance_id, reason, expected)
    if plan.unplaced:
        assert explanation.ranked == ()
        assert Counter(rejected.values()) == Counter(dict(plan.unplaced[-1].reasons))
        assert plan.unplaced[-1].reason in (set(rejected.values()) or {"NO_INSTANCES"})


@given(scenarios())
def test_explain_ranks_exactly_the_feasible_instances(scenario: dict[str, Any]) -> None:
    state = build(scenario["instances"], scenario["task"])
    snapshot = state.snapshot()
    first, last = scenario["port_range"]
    scheduler = BaseScheduler(dynamic_ports=PortRange(first, last))
    request = PlacementRequest(
        snapshot.task_definition(FAMILY),
        1,
        strategies=to_strategies(scenario["chain"]),
        constraints=[constraint_text(c) for c in scenario["constraints"]],
    )
    explanation = scheduler.explain(snapshot, request)
    views = oracle_views(snapshot)
    effective = scenario["chain"] or [("spread", ZONE), ("binpack", "memory")]
    feasible = sorted(
        (v for v in views.values() if not failing_reasons(v, scenario["task"], scenario["constraints"], (first, last))),
        key=lambda v: oracle_key(v, views, effective),
    )
    assert [c.instance_id for c in explanation.ranked] == [v.id for v in feasible]
    for candidate in explanation.ranked:
        assert list(candidate.strategy_keys) == list(oracle_key(views[candidate.instance_id], views, effective)[:-1])
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
    _, snapshot, plan = run_scenario(scenario)
    assert not plan.unplaced
    views = replay(snapshot, plan, scenario["task"], [], scenario["chain"], DEFAULT_RANGE)
    field = (scenario["chain"] or [("spread", ZONE)])[0][1]
    values = {field_value(v, field) for v in views.values()}
    counts: Counter[str | None] = Counter({value: 0 for value in values})
    for step, placement in enumerate(plan.placements):
        counts[field_value(views[placement.task.container_instance_id], field)] += 1
        assert max(counts.values()) - min(counts.values()) <= 1, (step, counts)


@given(scenarios(chains=st.just([("random", "")])), st.integers(0, 2**32))
@settings(max_examples=60)
def test_random_is_repeatable_for_a_seed_and_snapshot(scenario: dict[str, Any], seed: int) -> None:
    state = build(scenario["instances"], scenario["task"])
    snapshot = state.snapshot()
    first, last = scenario["port_range"]
    constraints = [constraint_text(c) for c in scenario["constraints"]]
    definition = snapshot.task_definition(FAMILY)

    def where(scheduler: BaseScheduler, strategy: Any) -> list[tuple[str, Any]]:
        request = PlacementRequest(definition, scenario["count"], strategies=[strategy], constraints=constraints)
        plan = scheduler.place(snapshot, request)
        replay(snapshot, plan, scenario["task"], scenario["constraints"], [], scenario["port_range"], ranked=False)
        return [(p.task.container_instance_id, p.task.host_ports) for p in plan.placements]

    by_strategy = where(BaseScheduler(dynamic_ports=PortRange(first, last)), random(seed))
    assert where(BaseScheduler(dynamic_ports=PortRange(first, last)), random(seed)) == by_strategy
    by_scheduler = where(BaseScheduler(dynamic_ports=PortRange(first, last), seed=seed), random())
    assert where(BaseScheduler(dynamic_ports=PortRange(first, last), seed=seed), random()) == by_scheduler


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
