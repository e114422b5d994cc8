"""clusterkit.testing finds what it is for: broken schedulers, broken commits, broken states.

A kit that cannot fail is worthless, so most of these tests feed it something broken on
purpose and assert the violation it reports.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import (
    BaseScheduler,
    ClusterState,
    ContainerInstance,
    MemoryStore,
    PlacementRequest,
    Plan,
    Resources,
    Snapshot,
)
from clusterkit.ecs_json import load_task_definition
from clusterkit.placement import Placement, assign_host_ports, binpack, spread
from clusterkit.state import Roots
from clusterkit.testing import (
    InvariantViolated,
    SchedulerMachine,
    assert_valid_plan,
    check_plan,
    check_state,
    clusters,
    container_instances,
    placement_requests,
    run_machine,
    snapshots,
    task_definition_json,
)

# -- the strategies draw valid values, and the built-in scheduler agrees with the oracle ----


@given(snapshots())
def test_drawn_clusters_keep_every_invariant(snapshot: Snapshot) -> None:
    assert check_state(snapshot) == []


@given(task_definition_json())
def test_drawn_task_definitions_load_and_dump_back(data: dict[str, Any]) -> None:
    from clusterkit.ecs_json import dump_task_definition

    definition = load_task_definition(data)
    assert load_task_definition(dump_task_definition(definition)) == definition


@given(clusters(), st.data())
def test_base_scheduler_plans_agree_with_the_oracle_on_drawn_clusters(state: ClusterState, data: st.DataObject) -> None:
    snapshot = state.snapshot()
    request = data.draw(placement_requests(snapshot))
    scheduler = BaseScheduler(seed=data.draw(st.integers(0, 100)))
    plan = scheduler.place(snapshot, request)
    assert check_plan(snapshot, request, plan, scheduler=scheduler) == []
    result = state.commit(plan)
    assert result.ok, result.rejected
    assert check_state(result.snapshot, snapshot) == []


# -- broken plans are caught -------------------------------------------------------------


def _cluster() -> tuple[ClusterState, Snapshot]:
    state = ClusterState("kit", clock=lambda: 1.0)
    for name, zone, memory in [("i-1", "zone-a", 2048), ("i-2", "zone-b", 1024), ("i-3", "zone-b", 4096)]:
        state.register_container_instance(name, cpu=2048, memory=memory, attributes={"ecs.availability-zone": zone})
    state.register_task_definition(
        {
            "family": "web",
            "containerDefinitions": [
                {"name": "web", "image": "web", "cpu": 256, "memory": 512, "portMappings": [{"containerPort": 80}]}
            ],
        }
    )
    return state, state.snapshot()


def _moved(plan: Plan, instance_id: str) -> Plan:
    """The plan with its first task moved to ``instance_id``, as a careless scheduler would."""
    first = plan.placements[0]
    task = attrs.evolve(first.task, container_instance_id=instance_id)
    return attrs.evolve(plan, placements=(Placement(task, first.instance_version), *plan.placements[1:]))


def test_a_choice_the_oracle_would_not_make_is_caught() -> None:
    _, snapshot = _cluster()
    scheduler = BaseScheduler()
    request = PlacementRequest(snapshot.task_definition("web"), 1, strategies=[binpack("memory")])
    plan = scheduler.place(snapshot, request)
    assert plan.placements[0].task.container_instance_id == "i-2"
    assert check_plan(snapshot, request, plan, scheduler=scheduler) == []
    wrong = _moved(plan, "i-3")
    wrong = attrs.evolve(wrong, placements=(Placement(wrong.placements[0].task, 1),))
    violations = check_plan(snapshot, request, wrong, scheduler=scheduler)
    assert [v.code for v in violations] == ["PLAN_ORACLE"]
    assert "i-3" in violations[0].message and "i-2" in violations[0].message
    assert check_plan(snapshot, request, wrong) == []  # a custom scheduler may choose as it likes


def test_capacity_ports_status_and_constraints_are_checked_for_any_scheduler() -> None:
    state, _ = _cluster()
    state.update_container_instances_state(["i-3"], "DRAINING")
    snapshot = state.snapshot()
    definition = snapshot.task_definition("web")
    request = PlacementRequest(definition, 3, strategies=[spread("instanceId")])
    plan = BaseScheduler().place(snapshot, request)
    assert check_plan(snapshot, request, plan) == []
    on_draining = check_plan(snapshot, request, _moved(plan, "i-3"))
    assert {v.code for v in on_draining} >= {"PLAN_INSTANCE"}
    constrained = PlacementRequest(
        definition, 3, constraints=[{"type": "memberOf", "expression": "attribute:x exists"}]
    )
    assert {v.code for v in check_plan(snapshot, constrained, attrs.evolve(plan, request=constrained))} == {
        "PLAN_CONSTRAINT"
    }
    distinct = PlacementRequest(definition, 3, constraints=[{"type": "distinctInstance"}])
    crowded = attrs.evolve(_moved(plan, plan.placements[1].task.container_instance_id), request=distinct)
    codes = {v.code for v in check_plan(snapshot, distinct, crowded)}
    assert "PLAN_DISTINCT" in codes
    too_many = PlacementRequest(definition, 5)
    assert "PLAN_COUNT" in {v.code for v in check_plan(snapshot, too_many, plan)}
    with pytest.raises(InvariantViolated) as caught:
        assert_valid_plan(snapshot, constrained, plan)
    assert caught.value.codes == {"PLAN_CONSTRAINT"}


def test_overcommit_is_caught_in_a_plan() -> None:
    _, snapshot = _cluster()
    definition = snapshot.task_definition("web")
    request = PlacementRequest(definition, 3, strategies=[binpack("memory")])
    placements = []
    for placement in BaseScheduler().place(snapshot, PlacementRequest(definition, 3)).placements:
        charge, ports = assign_host_ports(definition, Resources(), BaseScheduler().dynamic_ports) or (None, ())
        assert charge is not None
        task = attrs.evolve(placement.task, container_instance_id="i-2", charge=charge, host_ports=ports)
        placements.append(Placement(task, snapshot.instance("i-2").version))
    plan = Plan(request, snapshot.version, tuple(placements))
    violations = check_plan(snapshot, request, plan)
    assert {"PLAN_CAPACITY", "PLAN_PORTS"} <= {v.code for v in violations}
    assert any(v.code == "PLAN_CAPACITY" and v.field == "memory" and v.instance_id == "i-2" for v in violations)


# -- broken states are caught ------------------------------------------------------------


def _with_instance(snapshot: Snapshot, instance_id: str, **changes: Any) -> Snapshot:
    roots: Roots = snapshot._roots
    instance = attrs.evolve(roots.instances[instance_id], **changes)
    return Snapshot(roots._replace(instances=roots.instances.set(instance_id, instance)), snapshot.arns)


def test_remaining_that_does_not_add_up_and_overcommit_are_caught() -> None:
    state, _ = _cluster()
    state.start_task("web", ["i-2", "i-2"])
    snapshot = state.snapshot()
    assert check_state(snapshot) == []
    drifted = _with_instance(snapshot, "i-2", remaining=Resources(cpu=2048, memory=1024))
    found = check_state(drifted)  # the capacity index, keyed by what is left, is out of step too
    assert [(v.code, v.instance_id) for v in found if v.code != "INDEX"] == [("REMAINING", "i-2")]
    shrunk = _with_instance(snapshot, "i-2", registered=Resources(cpu=2048, memory=600))
    found = [v for v in check_state(shrunk) if v.code != "INDEX"]
    assert [(v.code, v.field) for v in found] == [("OVERCOMMIT", "memory")]
    assert found[0].task_id is not None
    gone = _with_instance(snapshot, "i-2", status="INACTIVE")
    assert "INACTIVE_INSTANCE" in {v.code for v in check_state(gone)}


def test_versions_going_backwards_and_lost_tasks_are_caught() -> None:
    state, older = _cluster()
    state.start_task("web", ["i-1"])
    newer = state.snapshot()
    codes = {v.code for v in check_state(older, previous=newer)}
    assert codes == {"VERSION_BACKWARDS", "LOST"}
    reused = _with_instance(newer, "i-1", agent_version="9.9.9")
    assert [v.code for v in check_state(reused, previous=newer)] == ["VERSION_REUSED"]
    assert check_state(newer, previous=older) == []


# -- broken schedulers and committers are caught by the state machine ----------------------


class PortBlind(BaseScheduler):
    """Broken on purpose: binds dynamic host ports as if no port on the instance were taken."""

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        plan = super().place(snapshot, request)
        assigned = assign_host_ports(request.task_definition, Resources(), self.dynamic_ports)
        assert assigned is not None
        charge, bindings = assigned
        placements = tuple(
            attrs.evolve(p, task=attrs.evolve(p.task, charge=charge, host_ports=bindings)) for p in plan.placements
        )
        return attrs.evolve(plan, placements=placements)


class FirstFit:
    """Broken on purpose: every task on the first ACTIVE instance, whatever it has left."""

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        plan = BaseScheduler().place(snapshot, attrs.evolve(request, strategies=[]))
        first = next((i for i in snapshot.instances() if i.accepts_tasks), None)
        if first is None:
            return plan
        moved = [
            Placement(attrs.evolve(p.task, container_instance_id=first.id), first.version) for p in plan.placements
        ]
        return attrs.evolve(plan, placements=tuple(moved))


class PortBlindMachine(SchedulerMachine):
    def make_schedulers(self) -> list[BaseScheduler]:
        return [BaseScheduler(), PortBlind()]


class FirstFitMachine(SchedulerMachine):
    def make_schedulers(self) -> list[Any]:
        return [FirstFit()]


class BlindStore(MemoryStore):
    """A store that takes whatever it is given: no compare before the swap."""

    def overwrite(self, roots: Roots) -> None:
        self._roots = roots


class BlindWriteMachine(SchedulerMachine):
    """Broken on purpose: commits each plan as checked against the snapshot it was made on,
    then writes the result over the cluster: no version check against the newest state.
    """

    def make_schedulers(self) -> list[BaseScheduler]:
        return [BaseScheduler(), BaseScheduler(seed=3)]

    def make_state(self) -> ClusterState:
        self.store = BlindStore()
        return ClusterState("blind", store=self.store, clock=lambda: 1.0)

    def commit(self, plan: Plan, snapshot: Snapshot) -> Any:
        scratch = ClusterState("blind", store=MemoryStore(snapshot._roots), clock=lambda: 1.0)
        result = scratch.commit(plan)
        self.store.overwrite(scratch._roots())
        return result


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (PortBlindMachine, {"PLAN_PORTS"}),
        (FirstFitMachine, {"PLAN_CAPACITY", "PLAN_PORTS", "PLAN_CONSTRAINT", "PLAN_DISTINCT"}),
        (BlindWriteMachine, {"VERSION_BACKWARDS", "LOST", "VERSION_REUSED"}),
    ],
    ids=["ignores-ports", "ignores-capacity", "commits-without-version-checks"],
)
def test_the_machine_finds_the_broken_one(machine: type[SchedulerMachine], expected: set[str]) -> None:
    with pytest.raises(InvariantViolated) as caught:
        run_machine(machine, examples=200, derandomize=True, shrink=False)
    assert caught.value.codes & expected, caught.value


def test_the_machine_passes_a_sound_scheduler_and_counts_its_steps() -> None:
    report = run_machine(SchedulerMachine, examples=5, steps=20, derandomize=True)
    assert report.steps > 20 and report.plans > 0


def test_importing_clusterkit_does_not_import_hypothesis() -> None:
    code = "import sys, clusterkit, clusterkit.state; assert 'hypothesis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


GOLD_ONLY = {"type": "memberOf", "expression": "attribute:tier == gold"}


class GoldMachine(SchedulerMachine):
    """A user's own cluster: family ``billing`` runs only on ``tier=gold`` instances."""

    families = ("billing", "reports")

    def task_definition_strategy(self, family: str) -> st.SearchStrategy[dict[str, Any]]:
        container = {"name": "app", "image": f"{family}:1", "cpu": 128, "memory": 128}
        definition: dict[str, Any] = {"family": family, "containerDefinitions": [container]}
        if family == "billing":
            definition["placementConstraints"] = [GOLD_ONLY]
        return st.just(definition)

    def instance_strategy(self) -> st.SearchStrategy[ContainerInstance]:
        tiers = st.sampled_from(["gold", "silver"])
        return container_instances("i-new").flatmap(
            lambda instance: tiers.map(
                lambda tier: attrs.evolve(instance, attributes={**instance.attribute_map, "tier": tier})
            )
        )


class TierBlind:
    """Broken on purpose: ignores every placement constraint (the gold-only rule among them)."""

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        definition = attrs.evolve(request.task_definition, placement_constraints=())
        return BaseScheduler().place(snapshot, attrs.evolve(request, constraints=(), task_definition=definition))


class TierBlindMachine(GoldMachine):
    def make_schedulers(self) -> list[Any]:
        return [TierBlind()]


def test_the_machine_draws_the_users_families_and_attributes() -> None:
    seen: dict[str, set[str]] = {"families": set(), "tiers": set()}

    class Watching(BaseScheduler):
        def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
            seen["families"].add(request.task_definition.family)
            seen["tiers"].update(i.attribute_map.get("tier") or "" for i in snapshot.instances())
            return super().place(snapshot, request)

    class WatchedGold(GoldMachine):
        def make_schedulers(self) -> list[Any]:
            return [Watching()]

    run_machine(WatchedGold, examples=20, steps=20, derandomize=True)
    assert seen["families"] == {"billing", "reports"}
    assert {"gold", "silver"} <= seen["tiers"]


def test_a_scheduler_that_breaks_the_users_attribute_rule_is_named_by_the_plan_rule() -> None:
    with pytest.raises(InvariantViolated) as caught:
        run_machine(TierBlindMachine, examples=200, derandomize=True, shrink=False)
    assert "PLAN_CONSTRAINT" in caught.value.codes, caught.value


class RetryOnlyMachine(SchedulerMachine):
    """Only the built-in retry loop places: its plans must be checked like the others."""

    def make_schedulers(self) -> list[Any]:
        return [FirstFit()]

    run = None  # type: ignore[assignment]  # (no plain run and no race: only run_with_retries)
    race = None  # type: ignore[assignment]


def test_plans_the_retry_loop_commits_are_checked_first() -> None:
    with pytest.raises(InvariantViolated) as caught:
        run_machine(RetryOnlyMachine, examples=200, derandomize=True, shrink=False)
    assert caught.value.codes & {"PLAN_CAPACITY", "PLAN_PORTS", "PLAN_CONSTRAINT", "PLAN_DISTINCT"}, caught.value


def test_a_falsifying_example_prints_the_cluster_it_drew() -> None:
    @given(clusters(min_instances=2, max_instances=2))
    @settings(max_examples=1, database=None, derandomize=True)
    def fails(state: ClusterState) -> None:
        raise AssertionError("always")

    with pytest.raises(AssertionError) as caught:
        fails()
    printed = "\n".join(getattr(caught.value, "__notes__", []))
    assert "cluster drawn at version" in printed, printed
    assert "i-00 " in printed and "i-01 " in printed and "cpu " in printed, printed


def test_fake_cluster_and_the_checks_need_no_hypothesis_and_the_rest_says_which_extra() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "from clusterkit.testing import FakeCluster, check_plan, check_state, ServiceInvariants\n"
        "cluster = FakeCluster(instances=1)\n"
        "try:\n"
        "    from clusterkit.testing import SchedulerMachine\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "clusterkit.testing.SchedulerMachine needs hypothesis, the testing extra: pip install 'clusterkit[testing]'"
    )
