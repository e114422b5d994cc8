"""A hypothesis state machine that runs service schedulers through failures, checking every commit.

``ServiceMachine`` drives a ``FakeCluster`` (hosts run by agents on FakeExecutors, a
simulated clock, one service scheduler, or two racing each other) with random programs of:

- services created (REPLICA with desired counts 0–8 and every kind of minimum and maximum
  percent, the edge ones included; DAEMON, with or without a constraint), deployed (a
  family's newest revision, a revision made for the rollout — which may be broken —,
  forced new deployments), scaled up and down, deleted;
- task definitions revised, with and without health checks, some broken on purpose: an
  image that never pulls, a container that exits as soon as it starts, a health check
  that never passes;
- tasks crashing and failing their health checks; hosts added, drained and reactivated,
  relabelled (so a daemon's constraint stops or starts matching), disconnected and
  reconnected, removed; standalone tasks taking and giving back capacity;
- the clock advancing by 1 s to 15 min, one tick or many;
- ``settle``: the failures stop and time passes (bounded), then every service must show
  what it wants (``check_services_settled``).

Every commit — not only the state a step ends on — goes through ``ServiceInvariants``: the
state's store is a ``CommitLog``, and each commit is compared with the version before it.
With ``racing = True`` two schedulers share the cluster and, on the ticks that race, the
second reconciles the same service between the first one's decision and its commit, so
the first commits on a stale record and must decide again. A lone scheduler's commit is
never refused (``SERVICE_CONFLICT``): with nothing racing it, a refusal means it planned
something the state cannot take. The general cluster
invariants (``check_state``) are checked after every step too.

Subclass it to test your own service scheduler (``make_scheduler``) or settings, and run
it with ``run_service_machine`` (or as ``MyMachine.TestCase`` under pytest). A broken rule
raises ``InvariantViolated`` naming it, and hypothesis shrinks the program.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Final

import attrs
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
from clusterkit.errors import ClusterkitError
from clusterkit.model import ContainerInstance, HealthStatus, Service, Task, TaskDefinition
from clusterkit.services import DEFAULT_SETTINGS, ReconcileSettings, ServiceScheduler
from clusterkit.state import (
    Change,
    ChangeSource,
    CommitResult,
    PutServiceStatus,
    Snapshot,
    StateCore,
    Subscription,
    TokenClaim,
    Violation,
)
from clusterkit.testing._checks import InvariantViolated, check_state
from clusterkit.testing._fake_cluster import FakeCluster
from clusterkit.testing._machine import machine_settings
from clusterkit.testing._service_checks import CommitLog, ServiceInvariants, check_services_settled, has_health_check

__all__ = ["ServiceMachine", "ServiceMachineReport", "run_service_machine"]

FAMILIES: Final = ("web", "api")
"""Task definition families: ``web`` has no health check, ``api`` has one."""
BEHAVIOURS: Final = ("ok", "never_pulls", "exits_at_once", "never_healthy")
"""What a revision's tasks do: run, fail to pull, exit at once, never pass their health check."""
TASK_CPU: Final = 256
TASK_MEMORY: Final = 512
HOST_CPUS: Final = 2
HOST_MEMORY: Final = 4096  # eight tasks per host, by CPU and by memory alike
EDGE: Final = ("role", "edge")
DAEMON_CONSTRAINT: Final = {"type": "memberOf", "expression": "attribute:role != edge"}
TICKS: Final = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
PERCENTS: Final = (
    (200, 100),
    (100, 0),
    (100, 50),
    (100, 75),
    (100, 100),
    (125, 100),
    (150, 50),
    (200, 0),
    (110, 75),
    (300, 100),
)
"""(maximumPercent, minimumHealthyPercent) pairs: the defaults, the edges, and some between."""


@attrs.frozen(slots=True)
class ServiceSpec:
    """A service to create: REPLICA (``desired``, ``percents`` = (maximum, minimum healthy))
    or DAEMON (``constrained`` to hosts without ``role=edge``), ``breaker`` = (enable,
    rollback), ``grace`` seconds of health-check grace period.
    """

    daemon: bool
    family: str
    desired: int
    percents: tuple[int, int]
    breaker: tuple[bool, bool]
    grace: int
    constrained: bool


SERVICE_SPECS: Final = st.builds(
    ServiceSpec,
    daemon=st.sampled_from((False, False, True)),  # replicas twice as often
    family=st.sampled_from(FAMILIES),
    desired=st.integers(0, 8),
    percents=st.sampled_from(PERCENTS),
    breaker=st.sampled_from(((False, False), (True, False), (True, True))),
    grace=st.sampled_from((0, 30, 120)),
    constrained=st.booleans(),
)

_TALLIES: dict[type, Counter[str]] = {}


def _tally(machine: type) -> Counter[str]:
    return _TALLIES.setdefault(machine, Counter())


class _RacingState(StateCore):
    """The cluster as the first of two racing schedulers sees it: a view of ``state`` whose
    ``commit``, while ``armed``, first lets ``rival`` reconcile the same service, so that the
    commit arrives on a stale service record.
    """

    def __init__(self, state: ClusterState) -> None:  # a view: no store of its own
        self._state = state
        self.arns = state.arns
        self.clock = state.clock
        self.dynamic_ports = state.dynamic_ports
        self.rival: ServiceScheduler | None = None
        self.armed = False

    @property
    def version(self) -> int:
        """The state's version."""
        return self._state.version

    def snapshot(self) -> Snapshot:
        """The state's newest snapshot."""
        return self._state.snapshot()

    def subscribe(self, capacity: int = 10_000) -> Subscription:
        """The state's events."""
        return self._state.subscribe(capacity)

    def commit(
        self, changes: Iterable[Change] | ChangeSource, *, atomic: bool = False, client_token: TokenClaim | None = None
    ) -> CommitResult:
        """Let the rival act first on the service being committed (when armed), then commit."""
        items = list(changes.changes if isinstance(changes, ChangeSource) else changes)
        if self.armed and self.rival is not None:
            name = next((c.status.name for c in items if isinstance(c, PutServiceStatus)), None)
            if name is not None:
                self.rival.reconcile_service(name)
        return self._state.commit(items, atomic=atomic, client_token=client_token)


@attrs.frozen(slots=True)
class ServiceMachineReport:
    """What ``run_service_machine`` did.

    ``steps`` run, ``commits`` checked one by one, ``failures`` injected by kind, ``races``
    (commits refused because the state moved, mostly as the rival scheduler committed the
    same service first), ``settles`` (times the failures stopped and the cluster had to
    settle), and what the settled checks held: ``converged`` services, ``tripped`` services
    found FAILED (their circuit breaker tripped, nothing to roll back to), ``stuck``
    deployments their bounds keep from moving (which must say so), ``no_capacity`` services
    not held for want of room; ``trips`` and ``rollbacks``: circuit breakers seen tripping
    in the commits, and the trips that rolled back; ``slowest_settle``: the most simulated
    seconds a settle took (this class, all runs). ``violations`` is always 0: a violation
    raises instead.
    """

    steps: int
    commits: int
    failures: dict[str, int]
    races: int
    settles: int
    converged: int
    tripped: int
    no_capacity: int
    stuck: int
    trips: int
    rollbacks: int
    slowest_settle: int
    violations: int = 0


class ServiceMachine(RuleBasedStateMachine):
    """Service schedulers on a ``FakeCluster`` through failures; every commit checked.

    Class attributes to override: ``racing`` (two schedulers racing), ``max_instances``,
    ``max_services``, ``reconcile_settings`` (the timings; ECS's by default) and
    ``settle_seconds`` (how long a settling cluster gets). Override ``make_scheduler`` to
    test your own ``ServiceScheduler``.
    """

    racing: ClassVar[bool] = False
    max_instances: ClassVar[int] = 6
    max_services: ClassVar[int] = 4
    reconcile_settings: ClassVar[ReconcileSettings] = DEFAULT_SETTINGS
    settle_seconds: ClassVar[float] = 2400.0

    def __init__(self) -> None:
        super().__init__()
        self.log = CommitLog()
        self.cluster = FakeCluster(
            "services",
            instances=0,
            cpus=HOST_CPUS,
            memory=HOST_MEMORY,
            schedulers=2 if self.racing else 1,
            settings=self.reconcile_settings,
            store=self.log,
        )
        self.state = self.cluster.state
        self.race: _RacingState | None = None
        if self.racing:
            self.race = _RacingState(self.state)
            rival = self.make_scheduler(self.state)
            self.race.rival = rival
            self.cluster.schedulers[:] = [self.make_scheduler(self.race), rival]
        else:
            self.cluster.schedulers[:] = [self.make_scheduler(self.state)]
        self.behaviour: dict[str, str] = {}
        self.revisions: Counter[str] = Counter()
        self.sick: set[str] = set()
        self.disconnected: set[str] = set()
        self.services_made = 0
        self.checker = ServiceInvariants(self.state.snapshot(), healthy_after=self.reconcile_settings.healthy_after)
        self.last = self.state.snapshot()
        self.previous = self.last

    # -- what a subclass overrides ----------------------------------------------------------

    def make_scheduler(self, state: StateCore) -> ServiceScheduler:
        """A service scheduler on ``state`` (no periodic resync: events and wake-ups only)."""
        return ServiceScheduler(state, settings=self.reconcile_settings, resync_interval=float("inf"))

    # -- bookkeeping ------------------------------------------------------------------------

    def _count(self, what: str = "steps", by: int = 1) -> None:
        _tally(type(self))[what] += by

    def _failure(self, kind: str) -> None:
        self._count(f"failure:{kind}")

    def _check_commits(self) -> None:
        for commit in self.log.take():
            after = Snapshot(commit.roots, self.state.arns)
            found = self.checker.check(self.last, after, commit.events, now=commit.now, user=commit.actor == "user")
            self.last = after
            self._count("commits")
            if found:
                raise InvariantViolated(found, f"the commit of version {after.version} (by the {commit.actor})")

    def _tick(self, seconds: float, race: bool = False) -> None:
        self._health_checks()
        if self.race is not None:
            self.race.armed = race
        try:
            outcomes = self.cluster.tick(seconds)
        finally:
            if self.race is not None:
                self.race.armed = False
        self._count("races", sum(outcome.conflicts for outcome in outcomes))
        self._check_commits()
        refused = [outcome for outcome in outcomes if outcome.conflicts]
        if refused and self.race is None:  # alone, a scheduler's commit is refused only if it planned wrong
            raise InvariantViolated(
                [
                    Violation("SERVICE_CONFLICT", f"service {o.service}: {o.conflicts} commits refused, with no rival")
                    for o in refused
                ],
                f"the tick at {self.cluster.clock.now:.0f}",
            )

    def teardown(self) -> None:
        """Stop the agents; count the circuit breakers seen tripping."""
        self._count("trips", self.checker.trips)
        self._count("rollbacks", self.checker.rollbacks)
        self.cluster.close()

    def _health_checks(self) -> None:
        """Health checks report as the task definitions and the test say: HEALTHY unless sick."""
        snapshot = self.state.snapshot()
        for instance_id in sorted(self.cluster.executors):
            for task in snapshot.tasks_on(instance_id):
                definition = snapshot.task_definitions_by_key.get(task.task_definition)
                if task.last_status != "RUNNING" or not has_health_check(definition):
                    continue
                failing = task.id in self.sick or self.behaviour.get(task.task_definition) == "never_healthy"
                wanted: HealthStatus = "UNHEALTHY" if failing else "HEALTHY"
                if task.health_status != wanted:
                    with contextlib.suppress(ClusterkitError):  # its containers are gone: reported soon
                        self.cluster.set_health(task, wanted)

    def _runnable(self, definition: TaskDefinition) -> bool:
        return self.behaviour.get(definition.key, "ok") == "ok"

    def _pick(self, data: st.DataObject, items: Sequence[Any], label: str) -> Any:
        return data.draw(st.sampled_from(items), label=label)

    def _instances(self, *statuses: str) -> list[ContainerInstance]:
        return [i for i in self.state.snapshot().instances() if i.status in statuses]

    def _services(self, strategy: str | None = None) -> list[Service]:
        return [
            s
            for s in self.state.snapshot().services()
            if s.status == "ACTIVE" and (strategy is None or s.scheduling_strategy == strategy)
        ]

    def _live_services(self) -> int:
        return sum(s.status != "INACTIVE" for s in self.state.snapshot().services())

    def _running_tasks(self, checked: bool = False) -> list[Task]:
        snapshot = self.state.snapshot()
        found = []
        for instance_id in sorted(self.cluster.executors):
            for task in snapshot.tasks_on(instance_id):
                if task.service_name is None or task.last_status != "RUNNING" or task.desired_status != "RUNNING":
                    continue
                if checked and not has_health_check(snapshot.task_definitions_by_key.get(task.task_definition)):
                    continue
                found.append(task)
        return sorted(found, key=lambda t: t.id)

    def _register(self, family: str, behaviour: str) -> TaskDefinition:
        self.revisions[family] += 1
        image = f"registry.local/{family}:{self.revisions[family]}-{behaviour}"
        container: dict[str, Any] = {"name": "app", "image": image, "cpu": TASK_CPU, "memory": TASK_MEMORY}
        if family == "api":
            container["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}
        elif family == "hog":
            container.update(cpu=4 * TASK_CPU, memory=4 * TASK_MEMORY)
        definition = self.state.register_task_definition({"family": family, "containerDefinitions": [container]})
        if behaviour == "never_pulls":
            self.cluster.fail_pull(image)
        elif behaviour == "exits_at_once":
            self.cluster.exit_on_start(image)
        self.behaviour[definition.key] = behaviour
        return definition

    def _add_instance(self, edge: bool) -> None:
        self.cluster.add_instance(attributes=dict([EDGE]) if edge else None)

    # -- the steps --------------------------------------------------------------------------

    @initialize(hosts=st.integers(2, 4), edge=st.booleans(), services=st.lists(SERVICE_SPECS, min_size=1, max_size=3))
    def setup(self, hosts: int, edge: bool, services: list[ServiceSpec]) -> None:
        """A few hosts (one maybe labelled ``role=edge``), a good revision of every family, a few services."""
        for index in range(hosts):
            self._add_instance(edge and index == 0)
        for family in (*FAMILIES, "hog"):
            self._register(family, "ok")
        for spec in services:
            self._create(spec)
        self._check_commits()

    @precondition(lambda self: len(self._instances("ACTIVE", "DRAINING")) < self.max_instances)
    @rule(edge=st.booleans())
    def add_instance(self, edge: bool) -> None:
        """Capacity comes: a host joins."""
        self._count()
        self._add_instance(edge)

    @precondition(lambda self: bool(self._instances("ACTIVE", "DRAINING")))
    @rule(data=st.data())
    def drain_or_activate(self, data: st.DataObject) -> None:
        """An ACTIVE host starts DRAINING, or a DRAINING one is ACTIVE again."""
        self._count()
        instance = self._pick(data, self._instances("ACTIVE", "DRAINING"), "instance")
        if instance.status == "ACTIVE":
            self._failure("drain")
            self.cluster.drain(instance.id)
        else:
            self.cluster.activate(instance.id)

    @precondition(lambda self: len(self._instances("ACTIVE", "DRAINING")) > 1)
    @rule(data=st.data())
    def remove_instance(self, data: st.DataObject) -> None:
        """A host is gone: deregistered with force, its tasks STOPPED."""
        self._count()
        self._failure("remove_host")
        instance = self._pick(data, self._instances("ACTIVE", "DRAINING"), "instance")
        self.cluster.remove(instance.id)
        self.disconnected.discard(instance.id)

    @precondition(lambda self: bool(self.cluster.agents))
    @rule(data=st.data())
    def disconnect_or_reconnect(self, data: st.DataObject) -> None:
        """A host's agent loses its engine (no new tasks go there), or gets it back."""
        self._count()
        instance_id = self._pick(data, sorted(self.cluster.agents), "instance")
        if instance_id in self.disconnected:
            self.cluster.reconnect(instance_id)
            self.disconnected.discard(instance_id)
        else:
            self._failure("disconnect")
            self.cluster.disconnect(instance_id)
            self.disconnected.add(instance_id)

    @precondition(lambda self: bool(self._instances("ACTIVE", "DRAINING")))
    @rule(data=st.data())
    def relabel(self, data: st.DataObject) -> None:
        """A host gains or loses ``role=edge``: a constrained daemon leaves it or comes to it."""
        self._count()
        instance = self._pick(data, self._instances("ACTIVE", "DRAINING"), "instance")
        if instance.attribute(EDGE[0]) == EDGE[1]:
            self.state.delete_attributes(instance.id, [EDGE[0]])
        else:
            self._failure("relabel")
            self.state.put_attributes(instance.id, dict([EDGE]))

    @precondition(lambda self: bool(self._instances("ACTIVE")))
    @rule(data=st.data())
    def take_capacity(self, data: st.DataObject) -> None:
        """A standalone task takes half a host (if it fits): capacity goes."""
        self._count()
        instance = self._pick(data, self._instances("ACTIVE"), "instance")
        if self.state.start_task("hog", [instance.id]).tasks:
            self._failure("capacity_taken")

    @precondition(lambda self: bool(self._hogs()))
    @rule(data=st.data())
    def give_capacity(self, data: st.DataObject) -> None:
        """A standalone task stops: capacity comes back."""
        self._count()
        self.state.stop_task(self._pick(data, self._hogs(), "standalone task").id)

    def _hogs(self) -> list[Task]:
        snapshot = self.state.snapshot()
        return sorted(
            (t for t in snapshot.tasks() if t.family == "hog" and t.desired_status == "RUNNING"), key=lambda t: t.id
        )

    @rule(family=st.sampled_from(FAMILIES), behaviour=st.sampled_from(BEHAVIOURS))
    def revise(self, family: str, behaviour: str) -> None:
        """A family gets a new revision, which may be broken (never pulls, exits at once, never healthy)."""
        self._count()
        if behaviour == "never_healthy" and family != "api":
            behaviour = "ok"  # without a health check, nothing can fail one
        if behaviour != "ok":
            self._failure(behaviour)
        self._register(family, behaviour)

    @precondition(lambda self: self._live_services() < self.max_services)
    @rule(spec=SERVICE_SPECS)
    def create_service(self, spec: ServiceSpec) -> None:
        """A REPLICA or DAEMON service of a family's newest revision."""
        self._count()
        self._create(spec)

    def _create(self, spec: ServiceSpec) -> None:
        name = f"svc-{self.services_made}"
        self.services_made += 1
        configuration: dict[str, Any] = {
            "deploymentCircuitBreaker": {"enable": spec.breaker[0], "rollback": spec.breaker[1]},
        }
        if not spec.daemon:
            configuration.update(maximumPercent=spec.percents[0], minimumHealthyPercent=spec.percents[1])
        with self.log.acting("user"):
            if spec.daemon:
                self.state.create_service(
                    name,
                    spec.family,
                    scheduling_strategy="DAEMON",
                    deployment_configuration={"maximumPercent": 100, "minimumHealthyPercent": 0, **configuration},
                    placement_constraints=[DAEMON_CONSTRAINT] if spec.constrained else None,
                    health_check_grace_period_seconds=spec.grace,
                )
            else:
                self.state.create_service(
                    name,
                    spec.family,
                    desired_count=spec.desired,
                    deployment_configuration=configuration,
                    health_check_grace_period_seconds=spec.grace,
                )

    @precondition(lambda self: bool(self._services()))
    @rule(data=st.data(), force=st.booleans())
    def deploy(self, data: st.DataObject, force: bool) -> None:
        """A service is updated to its family's newest revision (a new deployment if it differs, or forced)."""
        self._count()
        service = self._pick(data, self._services(), "service")
        with self.log.acting("user"):
            self.state.update_service(
                service.name, task_definition=service.task_definition.rsplit(":", 1)[0], force_new_deployment=force
            )

    @precondition(lambda self: bool(self._services()))
    @rule(data=st.data(), behaviour=st.sampled_from(BEHAVIOURS))
    def roll_out(self, data: st.DataObject, behaviour: str) -> None:
        """A service is updated to a new revision of its family, made for it, which may be broken."""
        self._count()
        service = self._pick(data, self._services(), "service")
        family = service.task_definition.rsplit(":", 1)[0]
        if behaviour == "never_healthy" and family != "api":
            behaviour = "ok"
        if behaviour != "ok":
            self._failure(behaviour)
        definition = self._register(family, behaviour)
        with self.log.acting("user"):
            self.state.update_service(service.name, task_definition=definition.key)

    @precondition(lambda self: bool(self._services("REPLICA")))
    @rule(data=st.data(), desired=st.integers(0, 8))
    def scale(self, data: st.DataObject, desired: int) -> None:
        """A REPLICA service is scaled up or down."""
        self._count()
        service = self._pick(data, self._services("REPLICA"), "service")
        with self.log.acting("user"):
            self.state.update_service(service.name, desired_count=desired)

    @precondition(lambda self: bool(self._services()))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        """A service is deleted (with force): DRAINING until its tasks stopped, then INACTIVE."""
        self._count()
        service = self._pick(data, self._services(), "service")
        with self.log.acting("user"):
            self.state.delete_service(service.name, force=True)

    @precondition(lambda self: bool(self._running_tasks()))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        """A RUNNING service task crashes (its containers exit with code 1)."""
        self._count()
        self._failure("crash")
        self.cluster.crash(self._pick(data, self._running_tasks(), "task"))

    @precondition(lambda self: bool(self._running_tasks(checked=True)))
    @rule(data=st.data())
    def fail_health(self, data: st.DataObject) -> None:
        """A RUNNING service task's health check starts failing, for good."""
        self._count()
        self._failure("health_check")
        task = self._pick(data, self._running_tasks(checked=True), "task")
        self.sick.add(task.id)
        self.cluster.set_health(task, "UNHEALTHY")

    @rule(seconds=st.sampled_from(TICKS), race=st.booleans())
    def tick(self, seconds: float, race: bool) -> None:
        """The schedulers and agents act (racing, when asked), then the clock moves on by ``seconds``."""
        self._count()
        self._tick(seconds, race)

    @rule(seconds=st.sampled_from((30.0, 120.0, 600.0)), step=st.sampled_from((1.0, 5.0, 20.0)), race=st.booleans())
    def run_for(self, seconds: float, step: float, race: bool) -> None:
        """Many ticks: ``seconds`` of time in ``step``-second ticks (every other one racing, when asked)."""
        self._count()
        end = self.cluster.clock.now + seconds
        ticks = 0
        while self.cluster.clock.now < end:
            self._tick(step, race and ticks % 2 == 0)
            ticks += 1

    @rule()
    def settle(self) -> None:
        """The failures stop (agents reconnect); within ``settle_seconds`` every service must
        show what it wants, as far as capacity allows (``check_services_settled``).
        """
        self._count()
        self._count("settles")
        for instance_id in sorted(self.disconnected):
            self.cluster.reconnect(instance_id)
        self.disconnected.clear()
        clock = self.cluster.clock
        start = clock.now
        deadline = start + self.settle_seconds
        ticks = 0
        while True:
            self._tick(10.0)
            ticks += 1
            if ticks % 3 and clock.now < deadline:
                continue
            report = check_services_settled(
                self.state.snapshot(),
                now=clock.now,
                runnable=self._runnable,
                healthy_after=self.reconcile_settings.healthy_after,
            )
            if not report.violations or clock.now >= deadline:
                break
        self._count("converged", report.converged)
        self._count("tripped", report.tripped)
        self._count("no_capacity", report.no_capacity)
        self._count("stuck", report.stuck)
        tally = _tally(type(self))
        tally["slowest_settle"] = max(tally["slowest_settle"], int(clock.now - start))
        if report.violations:
            where = f"the cluster {self.settle_seconds:.0f} s after failures stopped"
            raise InvariantViolated(report.violations, where)

    @invariant()
    def commits_hold(self) -> None:
        """Every commit since the last step keeps the service rules; the state its invariants."""
        self._check_commits()
        snapshot = self.state.snapshot()
        found = check_state(snapshot, self.previous)
        self.previous = snapshot
        if found:
            raise InvariantViolated(found, f"the state at version {snapshot.version}")

    @classmethod
    def report(cls) -> ServiceMachineReport:
        """What every run of this class did so far."""
        tally = _tally(cls)
        return ServiceMachineReport(
            steps=tally["steps"],
            commits=tally["commits"],
            failures={key[8:]: value for key, value in sorted(tally.items()) if key.startswith("failure:")},
            races=tally["races"],
            settles=tally["settles"],
            converged=tally["converged"],
            tripped=tally["tripped"],
            no_capacity=tally["no_capacity"],
            stuck=tally["stuck"],
            trips=tally["trips"],
            rollbacks=tally["rollbacks"],
            slowest_settle=tally["slowest_settle"],
        )


def run_service_machine(
    machine: type[ServiceMachine] = ServiceMachine,
    *,
    examples: int = 50,
    steps: int = 50,
    derandomize: bool = False,
    shrink: bool = True,
) -> ServiceMachineReport:
    """Run ``machine`` for ``examples`` programs of up to ``steps`` steps each.

    Returns what this run did (steps, commits checked, failures injected by kind, races,
    settles), or raises the first ``InvariantViolated`` with the failing program shrunk to
    a minimal one (which hypothesis prints) unless ``shrink`` is False. ``derandomize``
    makes the run repeatable.
    """
    before = machine.report()
    run_state_machine_as_test(machine, settings=machine_settings(examples, steps, derandomize, shrink))
    after = machine.report()
    failures = {kind: count - before.failures.get(kind, 0) for kind, count in after.failures.items()}
    return ServiceMachineReport(
        steps=after.steps - before.steps,
        commits=after.commits - before.commits,
        failures={kind: count for kind, count in failures.items() if count},
        races=after.races - before.races,
        settles=after.settles - before.settles,
        converged=after.converged - before.converged,
        tripped=after.tripped - before.tripped,
        no_capacity=after.no_capacity - before.no_capacity,
        stuck=after.stuck - before.stuck,
        trips=after.trips - before.trips,
        rollbacks=after.rollbacks - before.rollbacks,
        slowest_settle=after.slowest_settle,
    )
