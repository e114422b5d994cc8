"""A hypothesis state machine that lets schedulers loose on one cluster and checks every step.

Subclass ``SchedulerMachine``, return your scheduler(s) from ``make_schedulers``, and run it
(``run_machine(MyMachine)``, or ``TestMine = MyMachine.TestCase`` under pytest). Hypothesis
then drives random programs of these steps against one ``ClusterState``:

- instances join, drain (and come back), lose and regain their agent, and leave;
- task definitions get new revisions, old ones are deregistered;
- a scheduler plans a request on a fresh snapshot and the plan is committed; or the built-in
  loop (``place_and_commit``) runs it;
- two schedulers plan on the **same** snapshot, one commits, then the other commits its
  now **stale** plan: the state's optimistic commit must reject what no longer fits;
- agents report tasks RUNNING or STOPPED (and a stale report must be refused); tasks are stopped.

Every plan goes through ``check_plan`` (with the oracle, for a plain ``BaseScheduler``),
every commit's outcome is checked, and after every step ``check_state`` compares the
cluster with the step before. A broken rule raises ``InvariantViolated``, whose
``violations`` name it, and hypothesis shrinks the program to a minimal one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from clusterkit.api import ClusterState
from clusterkit.errors import StaleVersionError
from clusterkit.model import ContainerInstance, Task, TaskStatus
from clusterkit.placement import BaseScheduler, PlacementRequest, Plan, Scheduler, place_and_commit
from clusterkit.state import CommitResult, PlaceTask, RegisterInstance, Snapshot, UpdateInstance, Violation
from clusterkit.testing._checks import InvariantViolated, check_plan, check_state
from clusterkit.testing.strategies import CLOCK, FAMILIES, container_instances, placement_requests, task_definition_json

__all__ = ["MachineReport", "SchedulerMachine", "run_machine"]

_STALE_REASONS = frozenset({"INACTIVE", "AGENT", "MISSING", "STALE_VERSION"})


class SchedulerMachine(RuleBasedStateMachine):
    """Schedulers sharing one cluster, every step checked; subclass it with your own.

    Override ``make_schedulers`` (at least one scheduler; the default is three plain
    ``BaseScheduler``: one as it comes, one seeded, one with ``strict_versions``),
    ``make_state`` for another ``ClusterState`` (a store, a port range), or ``commit`` to
    test your own way of committing a plan. ``max_instances`` caps the cluster's size.

    What the cluster is made of is yours to give too, so that rules tied to your families
    or attributes are exercised: ``families`` names the task definition families (one
    definition each at the start, new revisions later), ``task_definition_strategy(family)``
    draws a definition's ECS JSON and ``instance_strategy()`` an instance as it registers
    (its attributes, resources). The class counts what it did over all its runs:
    ``steps_run``, ``plans_checked`` and ``stale_commits``.
    """

    max_instances: ClassVar[int] = 8
    families: ClassVar[tuple[str, ...]] = FAMILIES
    steps_run: ClassVar[int] = 0
    plans_checked: ClassVar[int] = 0
    stale_commits: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.state = self.make_state()
        self.schedulers = list(self.make_schedulers())
        if not self.schedulers:
            raise ValueError("make_schedulers must return at least one scheduler")
        self.previous = self.state.snapshot()
        self.joined = 0

    # -- what a subclass overrides ----------------------------------------------------------

    def make_schedulers(self) -> Sequence[Scheduler]:
        """The schedulers to test; they take turns and race each other."""
        return (BaseScheduler(), BaseScheduler(seed=7), BaseScheduler(strict_versions=True))

    def make_state(self) -> ClusterState:
        """The cluster the schedulers share (empty; the machine registers everything)."""
        return ClusterState("machine", clock=lambda: CLOCK)

    def commit(self, plan: Plan, snapshot: Snapshot) -> CommitResult:
        """Commit ``plan``, made against ``snapshot``, to the state (``state.commit(plan)``)."""
        return self.state.commit(plan)

    def task_definition_strategy(self, family: str) -> st.SearchStrategy[dict[str, Any]]:
        """Task definitions of ``family`` as ECS JSON (default: ``strategies.task_definition_json``)."""
        return task_definition_json(family)

    def instance_strategy(self) -> st.SearchStrategy[ContainerInstance]:
        """Instances as they register; the machine gives each its id (default: ``strategies.container_instances``)."""
        return container_instances("i-new")

    # -- helpers ----------------------------------------------------------------------------

    def _count(self) -> None:
        type(self).steps_run += 1

    @staticmethod
    def _fail(violations: list[Violation], where: str) -> None:
        if violations:
            raise InvariantViolated(violations, where)

    def _plan(self, index: int, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        index %= len(self.schedulers)
        scheduler = self.schedulers[index]
        plan = scheduler.place(snapshot, request)
        type(self).plans_checked += 1
        self._fail(check_plan(snapshot, request, plan, scheduler=scheduler), f"the plan of scheduler {index}")
        return plan

    def _request(self, data: st.DataObject, snapshot: Snapshot) -> PlacementRequest:
        request: PlacementRequest = data.draw(placement_requests(snapshot), label="request")
        return request

    def _pick(self, data: st.DataObject, items: Sequence[Any], label: str) -> Any:
        return data.draw(st.sampled_from(sorted(items, key=lambda item: item.id)), label=label)

    def _instances(self, *statuses: str) -> list[ContainerInstance]:
        return [i for i in self.state.snapshot().instances() if i.status in statuses]

    def _live_tasks(self) -> list[Task]:
        return [t for t in self.state.snapshot().tasks() if not t.is_stopped]

    # -- the steps --------------------------------------------------------------------------

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        """One task definition per family and a few instances."""
        if not self.families:
            raise ValueError("families must name at least one task definition family")
        for family in self.families:
            self.state.register_task_definition(data.draw(self.task_definition_strategy(family), label=family))
        for instance in data.draw(st.lists(self.instance_strategy(), min_size=1, max_size=4), label="instances"):
            self.join_instance(instance)

    def join_instance(self, instance: ContainerInstance) -> None:
        """Register ``instance`` under a new id."""
        instance = attrs.evolve(instance, id=f"i-{self.joined:03d}")
        self.joined += 1
        result = self.state.commit([RegisterInstance(instance)])
        self._fail([Violation("COMMIT_REJECTED", str(r)) for r in result.rejected], "registering an instance")

    @precondition(lambda self: len(self._instances("ACTIVE", "DRAINING")) < self.max_instances)
    @rule(data=st.data())
    def join(self, data: st.DataObject) -> None:
        """An instance joins the cluster."""
        self._count()
        self.join_instance(data.draw(self.instance_strategy(), label="instance"))

    @precondition(lambda self: bool(self._instances("ACTIVE", "DRAINING")))
    @rule(data=st.data())
    def drain_or_activate(self, data: st.DataObject) -> None:
        """An ACTIVE instance starts DRAINING, or a DRAINING one becomes ACTIVE again."""
        self._count()
        instance = self._pick(data, self._instances("ACTIVE", "DRAINING"), "instance")
        self.state.update_container_instances_state(
            [instance.id], "ACTIVE" if instance.status == "DRAINING" else "DRAINING"
        )

    @precondition(lambda self: bool(self._instances("ACTIVE", "DRAINING")))
    @rule(data=st.data())
    def toggle_agent(self, data: st.DataObject) -> None:
        """An instance's agent disconnects, or reconnects."""
        self._count()
        instance = self._pick(data, self._instances("ACTIVE", "DRAINING"), "instance")
        self.state.commit([UpdateInstance(instance.id, agent_connected=not instance.agent_connected)])

    @precondition(lambda self: bool(self._instances("ACTIVE", "DRAINING")))
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        """An instance leaves: deregistered with force, its tasks STOPPED."""
        self._count()
        instance = self._pick(data, self._instances("ACTIVE", "DRAINING"), "instance")
        self.state.deregister_container_instance(instance.id, force=True)

    @rule(data=st.data())
    def revise(self, data: st.DataObject) -> None:
        """A family gets a new revision; sometimes its previous one is deregistered."""
        self._count()
        family = data.draw(st.sampled_from(self.families), label="family")
        old = self.state.snapshot().task_definition(family)
        self.state.register_task_definition(data.draw(self.task_definition_strategy(family), label="definition"))
        if data.draw(st.booleans(), label="deregister the old one"):
            self.state.deregister_task_definition(old.key)

    @rule(data=st.data(), scheduler=st.integers(0, 15))
    def run(self, data: st.DataObject, scheduler: int) -> None:
        """A scheduler plans a request on a fresh snapshot; the plan is committed whole."""
        self._count()
        snapshot = self.state.snapshot()
        request = self._request(data, snapshot)
        plan = self._plan(scheduler, snapshot, request)
        result = self.commit(plan, snapshot)
        self._fail(
            [Violation("COMMIT_REJECTED", f"{r.reason}: {r.detail}") for r in result.rejected],
            "committing a valid plan made on the newest snapshot",
        )

    @rule(data=st.data(), scheduler=st.integers(0, 15))
    def run_with_retries(self, data: st.DataObject, scheduler: int) -> None:
        """The built-in loop places a request: plan, commit, plan again what was lost."""
        self._count()
        request = self._request(data, self.state.snapshot())
        index = scheduler % len(self.schedulers)
        checked = _Checked(self, index)  # every plan the loop commits is checked first
        outcome = place_and_commit(self.state, checked, request, backoff=0)
        if len(outcome.tasks) + len(outcome.unplaced) != request.count:
            self._fail([Violation("PLAN_COUNT", f"{outcome} for {request.count} tasks")], "place_and_commit")

    @rule(data=st.data(), first=st.integers(0, 15), second=st.integers(0, 15))
    def race(self, data: st.DataObject, first: int, second: int) -> None:
        """Two schedulers plan on one snapshot; the second commits first, then the first's
        plan is committed stale: whatever no longer fits must be rejected, nothing else.
        """
        self._count()
        snapshot = self.state.snapshot()
        stale = self._plan(first, snapshot, self._request(data, snapshot))
        winner = self._plan(second, snapshot, self._request(data, snapshot))
        self.commit(winner, snapshot)
        before = self.state.snapshot()
        result = self.commit(stale, snapshot)
        type(self).stale_commits += 1
        found = [
            Violation("STALE_REJECTION", f"a stale placement was rejected for {r.reason}: {r.detail}")
            for r in result.rejected
            if r.reason not in _STALE_REASONS and not r.reason.startswith("RESOURCE:")
        ]
        for change in result.accepted:
            if isinstance(change, PlaceTask) and change.expected_instance_version is not None:
                now = before.instances_by_id.get(change.task.container_instance_id)
                if now is None or now.version != change.expected_instance_version:
                    found.append(
                        Violation(
                            "CAS",
                            f"a placement expecting version {change.expected_instance_version} of "
                            f"{change.task.container_instance_id} was accepted at {now and now.version}",
                            change.task.container_instance_id,
                            change.task.id,
                            "version",
                        )
                    )
        found.extend(check_state(self.state.snapshot(), before))  # nothing the winner did may be lost
        self._fail(found, "committing a stale plan")

    @precondition(lambda self: bool(self._live_tasks()))
    @rule(data=st.data())
    def report(self, data: st.DataObject) -> None:
        """An agent reports a task RUNNING or STOPPED; a report based on an older version is refused."""
        self._count()
        task = self._pick(data, self._live_tasks(), "task")
        status: TaskStatus = data.draw(st.sampled_from(["RUNNING", "STOPPED"]), label="status")
        if task.last_status == "RUNNING":
            status = "STOPPED"
        updated = self.state.submit_task_state_change(task.id, version=task.version, status=status)
        try:
            self.state.submit_task_state_change(task.id, version=updated.version - 1, status="STOPPED")
        except StaleVersionError:
            return
        self._fail([Violation("VERSION", f"a stale report on task {task.id} was applied", task_id=task.id)], "report")

    @precondition(lambda self: bool(self._live_tasks()))
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        """A task is asked to stop, and its agent reports it STOPPED."""
        self._count()
        task = self._pick(data, self._live_tasks(), "task")
        stopped = self.state.stop_task(task.id)
        self.state.submit_task_state_change(task.id, version=stopped.version, status="STOPPED")

    @invariant()
    def state_holds(self) -> None:
        """After every step: the invariants, and nothing went backwards since the step before."""
        snapshot = self.state.snapshot()
        self._fail(check_state(snapshot, self.previous), f"the state at version {snapshot.version}")
        self.previous = snapshot


class _Checked:
    """Scheduler ``index`` of a machine, each plan it makes checked (``check_plan``) before it is used."""

    def __init__(self, machine: SchedulerMachine, index: int) -> None:
        self.machine = machine
        self.index = index

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        return self.machine._plan(self.index, snapshot, request)


def machine_settings(examples: int, steps: int, derandomize: bool, shrink: bool) -> settings:
    """The hypothesis settings a machine runs with outside pytest: no deadline, no database,
    the first bug reported, shrinking only when asked.
    """
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=derandomize,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, *((Phase.shrink,) if shrink else ())),
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@attrs.frozen(slots=True)
class MachineReport:
    """What ``run_machine`` did: ``steps`` run, ``plans`` checked and ``stale_commits`` made."""

    steps: int
    plans: int
    stale_commits: int


def run_machine(
    machine: type[SchedulerMachine],
    *,
    examples: int = 50,
    steps: int = 50,
    derandomize: bool = False,
    shrink: bool = True,
) -> MachineReport:
    """Run ``machine`` for ``examples`` programs of up to ``steps`` steps each.

    Returns what it did, or raises the first ``InvariantViolated``, with the failing
    program shrunk to a minimal one (which hypothesis prints) unless ``shrink`` is False;
    shrinking takes seconds to a minute. ``derandomize`` makes the run repeatable.
    Outside pytest this is the way to run a machine.
    """
    before = (machine.steps_run, machine.plans_checked, machine.stale_commits)
    run_state_machine_as_test(machine, settings=machine_settings(examples, steps, derandomize, shrink))
    return MachineReport(
        machine.steps_run - before[0], machine.plans_checked - before[1], machine.stale_commits - before[2]
    )
