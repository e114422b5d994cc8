"""One run: a workload played against one policy, in simulated time, on the real code.

The run builds a real ``ClusterState`` on a simulated clock and plays the workload's events
into it. Batch tasks queue for the policy's schedulers, which work as Omega's do: each takes
a snapshot, plans a request with the policy's real ``Scheduler``, and commits the plan
``decision_time`` seconds later, when other schedulers may have taken the room first
(those placements are rejected, counted as conflicts, and planned again). Services are kept
by the real ``ServiceScheduler``. The hosts are simulated: a placed task reports RUNNING
``start_delay`` seconds later (HEALTHY too, when it has a health check), a batch task exits
after its duration, a task told to stop reports STOPPED ``stop_delay`` seconds later — the
reports an agent would send, as commits. Everything happens in event order on one thread,
so one seed gives one run.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from clusterkit.api import ClusterState
from clusterkit.autoscaling.capacity import CapacityProvider
from clusterkit.autoscaling.cluster import ClusterAutoscaler
from clusterkit.autoscaling.policies import CPU_UTILIZATION, TargetTrackingPolicy
from clusterkit.autoscaling.policies import Policy as ScalingPolicy
from clusterkit.autoscaling.providers import InMemoryProvider
from clusterkit.autoscaling.service import ServiceAutoscaler
from clusterkit.autoscaling.sources import running_tasks
from clusterkit.model.placement import DEFAULT_STRATEGY, PlacementStrategy, load_strategies
from clusterkit.model.resources import Resources
from clusterkit.model.task import PENDING_STATUSES, Task
from clusterkit.model.taskdef import TaskDefinition
from clusterkit.placement.plan import Plan
from clusterkit.placement.request import PlacementRequest
from clusterkit.placement.scheduler import BaseScheduler, Scheduler
from clusterkit.services.health import has_health_check
from clusterkit.services.reconcile import DEFAULT_SETTINGS, ReconcileSettings
from clusterkit.services.scheduler import ServiceScheduler
from clusterkit.sim._checks import at_least_one, not_negative, positive
from clusterkit.sim.metrics import RunMetrics, Sample, percentile
from clusterkit.sim.workload import (
    BatchTask,
    Crash,
    CreateService,
    DeleteService,
    Event,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterTaskDefinition,
    Unhealthy,
    UpdateService,
)
from clusterkit.state.changes import Change, TaskStateChange
from clusterkit.state.clock import SimulatedClock
from clusterkit.state.events import ContainerInstanceChanged, TaskChanged
from clusterkit.state.ids import repeatable_ids
from clusterkit.state.snapshot import Snapshot

__all__ = ["EPOCH", "Policy", "SampleHook", "ServiceScaling", "simulate"]

EPOCH: Final = 1_700_000_000.0
"""The simulated clock's reading at the workload's time 0."""
_ZONE: Final = "ecs.availability-zone"

SampleHook = Callable[[Snapshot, frozenset[tuple[int, int]], Sample], None]
"""Called with each sample: the snapshot it was taken from, the (CPU, memory) shapes waiting, the sample."""


@attrs.frozen
class ServiceScaling:
    """Autoscaling for every service the workload creates: a scalable target and its policies.

    The services' CPU utilisation comes from the workload's ``load`` events: the CPU units
    of work a service is offered, over the CPU units its RUNNING tasks reserve (1024 for a
    task that reserves none). ``sample_interval`` is the autoscaler's.
    """

    min_capacity: int = 1
    max_capacity: int = 100
    policies: tuple[ScalingPolicy, ...] = (TargetTrackingPolicy("cpu75", CPU_UTILIZATION, 75.0),)
    sample_interval: float = attrs.field(default=15.0, validator=positive)


@attrs.frozen
class Policy:
    """One configuration to simulate: the schedulers, how many and how fast, and the timings.

    ``scheduler`` places batch tasks (with ``strategies``) and the services' tasks (services
    the workload creates get ``strategies`` as their placement strategy). ``schedulers`` of
    them share the cluster; each wakes every ``interval`` seconds, takes what waits in its
    queue as one request per shape (of at most ``batch_size`` tasks), and commits each
    ``decision_time`` seconds after its snapshot; placements another scheduler beat are
    planned again at once, up to ``max_attempts`` times a pass. The service scheduler steps
    every ``service_interval`` seconds; the cluster is sampled every ``sample_interval``.

    ``service_scaling`` autoscales the workload's services; ``capacity`` adds a capacity
    provider whose managed scaling (every ``capacity_interval`` seconds) launches and removes
    instances of its shape beside the workload's own, for the services' missing tasks and
    the batch tasks waiting in the schedulers' queues alike.
    """

    name: str
    scheduler: Scheduler = attrs.field(factory=lambda: BaseScheduler(seed=0))
    strategies: tuple[PlacementStrategy, ...] = attrs.field(default=DEFAULT_STRATEGY, converter=load_strategies)
    schedulers: int = attrs.field(default=1, validator=at_least_one)
    interval: float = attrs.field(default=1.0, validator=positive)
    decision_time: float = attrs.field(default=0.0, validator=not_negative)
    batch_size: int = attrs.field(default=1000, validator=at_least_one)
    max_attempts: int = attrs.field(default=5, validator=at_least_one)
    service_interval: float = attrs.field(default=1.0, validator=positive)
    settings: ReconcileSettings = DEFAULT_SETTINGS
    start_delay: float = attrs.field(default=1.0, validator=not_negative)
    stop_delay: float = attrs.field(default=1.0, validator=not_negative)
    sample_interval: float = attrs.field(default=60.0, validator=positive)
    service_scaling: ServiceScaling | None = None
    capacity: CapacityProvider | None = None
    capacity_interval: float = attrs.field(default=15.0, validator=positive)


class _WorkloadLoad:
    """The services' CPU utilisation from the workload's load events (a MetricSource)."""

    def __init__(self, loads: dict[str, float]) -> None:
        self.loads = loads

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """100 × demand / CPU units reserved by the RUNNING tasks; None without load or tasks."""
        demand = self.loads.get(service)
        running = running_tasks(snapshot, service)
        if metric != CPU_UTILIZATION or demand is None or not running:
            return None
        return 100.0 * demand / sum(task.charge.cpu or 1024 for task in running)


@attrs.define
class _Waiting:
    """A batch task waiting for a scheduler."""

    definition: str
    arrival: float
    duration: float
    epoch: int = -1  # the capacity epoch of its last failed try (-1: not tried)
    attempts: int = 0  # placements of it other writers beat, in this pass


@attrs.define
class _Counters:
    submitted: int = 0
    placed: int = 0
    finished: int = 0
    lost: int = 0
    transactions: int = 0
    conflicted: int = 0
    conflicts: int = 0
    retries: int = 0
    commits: int = 0
    failures: Counter[str] = attrs.Factory(Counter)
    waits: list[float] = attrs.Factory(list)
    below: dict[str, float] = attrs.Factory(dict)
    instance_seconds: float = 0.0


class _Run:
    """The event loop of one run (use :func:`simulate`)."""

    def __init__(self, policy: Policy, seed: int, on_sample: SampleHook | None = None) -> None:
        self.policy = policy
        self.on_sample = on_sample
        self.rng = random.Random(seed)
        self.clock = SimulatedClock(EPOCH)
        self.state = ClusterState("sim", clock=self.clock)
        self.services = ServiceScheduler(
            self.state, placement=policy.scheduler, settings=policy.settings, resync_interval=float("inf")
        )
        self.events = self.state.subscribe(capacity=1 << 30)
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.queues: list[deque[_Waiting]] = [deque() for _ in range(policy.schedulers)]
        self.deferred: list[list[_Waiting]] = [[] for _ in range(policy.schedulers)]
        self.busy = [False] * policy.schedulers
        self.next_queue = 0
        self.capacity_epoch = 0
        self.durations: dict[str, float] = {}  # batch task id → its run time, until it stops
        self.tracked: set[str] = set()  # tasks with a start or stop on the way
        self.shapes: dict[tuple[int, int], str] = {}
        self.checked: dict[str, bool] = {}
        self.registered: set[str] = set()  # instances not INACTIVE
        self.loads: dict[str, float] = {}
        self.due: dict[str, TaskStateChange] = {}
        self.counters = _Counters()
        self.samples: list[Sample] = []
        self.now = 0.0
        self.autoscaler: ServiceAutoscaler | None = None
        if policy.service_scaling is not None:
            scaling = policy.service_scaling
            self.autoscaler = ServiceAutoscaler(
                self.state, _WorkloadLoad(self.loads), clock=self.clock, sample_interval=scaling.sample_interval
            )
        self.cluster_autoscaler: ClusterAutoscaler | None = None
        if policy.capacity is not None:
            provider = InMemoryProvider(self.state, policy.capacity, add=self._add_capacity)
            self.cluster_autoscaler = ClusterAutoscaler(
                self.state, policy.capacity, provider, clock=self.clock, also_waiting=self._waiting_shapes
            )

    # -- time ------------------------------------------------------------------------------

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at workload time ``when``."""
        heapq.heappush(self.timers, (when, next(self.sequence), action))

    def every(self, interval: float, action: Callable[[], None], offset: float = 0.0) -> None:
        """Run ``action`` every ``interval`` seconds from ``offset``."""

        def tick() -> None:
            action()
            self.at(self.now + interval, tick)

        self.at(offset, tick)

    def advance(self, when: float) -> None:
        self.counters.instance_seconds += (when - self.now) * len(self.registered)
        self.now = when
        self.clock.now = EPOCH + when

    def waiting(self) -> Iterator[_Waiting]:
        """Every batch task waiting for a scheduler: in the queues, and set aside until room comes."""
        for items in (*self.queues, *self.deferred):
            yield from items

    def _waiting_shapes(self) -> Counter[Resources]:
        """The shapes of the batch tasks waiting for a scheduler: they wait for capacity too."""
        snapshot = self.state.snapshot()
        by_definition = Counter(item.definition for item in self.waiting())
        shapes: Counter[Resources] = Counter()
        for definition, count in by_definition.items():
            shapes[snapshot.task_definition(definition).charge] += count
        return shapes

    def _add_capacity(self, instance_id: str, attributes: Mapping[str, str | None]) -> None:
        """A capacity provider's new instance, in the zones in turn."""
        assert self.policy.capacity is not None
        shape = self.policy.capacity.instance_shape
        zones = ("zone-a", "zone-b", "zone-c")
        zone = zones[len(self.registered) % len(zones)]
        self.state.register_container_instance(
            instance_id, cpu=shape.cpu, memory=shape.memory, attributes={_ZONE: zone, **attributes}
        )

    # -- the hosts, simulated ---------------------------------------------------------------

    def report(self, task: Task, **fields: Any) -> None:
        """Queue an agent's report on ``task`` for this moment's commit."""
        if task.id in self.due:
            self.flush()
            task = self.state.snapshot().task(task.id)
        self.due[task.id] = TaskStateChange(task.id, task.version, **fields)

    def flush(self) -> None:
        """Commit the reports queued for this moment, then react to every commit since."""
        if self.due:
            changes: list[Change] = list(self.due.values())
            self.due.clear()
            self.state.commit(changes)
            self.counters.commits += 1
        self.observe()

    def observe(self) -> None:
        events = self.events.drain()
        if not events:
            return
        self.services.notice(events)
        for event in events:
            if isinstance(event, ContainerInstanceChanged):
                self.capacity_epoch += 1
                if event.instance.status == "INACTIVE":
                    self.registered.discard(event.instance.id)
                else:
                    self.registered.add(event.instance.id)
            elif isinstance(event, TaskChanged):
                self._task_changed(event.task)

    def _task_changed(self, task: Task) -> None:
        if task.is_stopped:
            self.capacity_epoch += 1
            self.tracked.discard(task.id)
            if self.durations.pop(task.id, None) is not None:
                self.counters.lost += 1  # stopped before its run was over: its instance went
            return
        if task.id in self.tracked:
            return
        if task.desired_status == "STOPPED" and task.last_status != "DEACTIVATING":
            self.tracked.add(task.id)
            self.at(self.now + self.policy.stop_delay, lambda: self._stop(task.id))
        elif task.last_status in PENDING_STATUSES:
            self.tracked.add(task.id)
            self.at(self.now + self.policy.start_delay, lambda: self._start(task.id))

    def _start(self, task_id: str) -> None:
        self.tracked.discard(task_id)
        task = self.state.snapshot().task(task_id)
        if task.is_stopped or task.last_status not in PENDING_STATUSES:
            return
        if task.desired_status == "STOPPED":
            self._stop(task_id)
            return
        healthy = self._checked(task.task_definition)
        self.report(task, last_status="RUNNING", health_status="HEALTHY" if healthy else None)
        duration = self.durations.get(task_id)
        if duration is not None:
            self.at(self.now + duration, lambda: self._finish(task_id))

    def _finish(self, task_id: str) -> None:
        task = self.state.snapshot().task(task_id)
        if task.is_stopped:
            return
        self.durations.pop(task_id, None)
        self.counters.finished += 1
        reason = "Essential container in task exited: app (exit code 0)"
        self.report(task, last_status="STOPPED", stop_code="EssentialContainerExited", stopped_reason=reason)

    def _stop(self, task_id: str) -> None:
        self.tracked.discard(task_id)
        task = self.state.snapshot().task(task_id)
        if not task.is_stopped:
            self.report(task, last_status="STOPPED")

    def _checked(self, task_definition: str) -> bool:
        known = self.checked.get(task_definition)
        if known is None:
            known = self.checked[task_definition] = has_health_check(
                self.state.snapshot().task_definition(task_definition)
            )
        return known

    # -- the workload ------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Play one workload event into the state."""
        if isinstance(event, BatchTask):
            self._arrive(event)
        elif isinstance(event, InstanceJoin):
            attributes: dict[str, str | None] = dict(event.attributes)
            if event.zone is not None:
                attributes[_ZONE] = event.zone
            self.state.register_container_instance(
                event.instance, cpu=event.cpu, memory=event.memory, attributes=attributes
            )
        elif isinstance(event, InstanceLeave):
            self.state.deregister_container_instance(event.instance, force=True)
        elif isinstance(event, RegisterTaskDefinition):
            self.state.register_task_definition(event.definition)
        elif isinstance(event, CreateService):
            self.state.create_service(
                event.service,
                event.task_definition,
                desired_count=event.desired_count if event.scheduling_strategy == "REPLICA" else None,
                scheduling_strategy="DAEMON" if event.scheduling_strategy == "DAEMON" else "REPLICA",
                placement_strategy=self.policy.strategies if event.scheduling_strategy == "REPLICA" else None,
            )
            scaling = self.policy.service_scaling
            if self.autoscaler is not None and scaling is not None and event.scheduling_strategy == "REPLICA":
                self.autoscaler.register_scalable_target(
                    event.service, min_capacity=scaling.min_capacity, max_capacity=scaling.max_capacity
                )
                for scaling_policy in scaling.policies:
                    self.autoscaler.put_scaling_policy(event.service, scaling_policy)
        elif isinstance(event, UpdateService):
            self.state.update_service(
                event.service, desired_count=event.desired_count, task_definition=event.task_definition
            )
        elif isinstance(event, DeleteService):
            self.state.update_service(event.service, desired_count=0)
            self.state.delete_service(event.service)
        elif isinstance(event, Load):
            self.loads[event.service] = event.demand
        elif isinstance(event, Crash | Unhealthy):
            self._disturb(event)

    def _arrive(self, event: BatchTask) -> None:
        key = (event.cpu, event.memory)
        family = self.shapes.get(key)
        if family is None:
            family = self.shapes[key] = f"batch-{event.cpu}-{event.memory}"
            container = {"name": "app", "image": "batch", "cpu": event.cpu, "memory": event.memory}
            self.state.register_task_definition({"family": family, "containerDefinitions": [container]})
        definition = f"{family}:1"
        queue = self.queues[self.next_queue]
        self.next_queue = (self.next_queue + 1) % len(self.queues)
        queue.extend(_Waiting(definition, self.now, event.duration) for _ in range(event.count))
        self.counters.submitted += event.count

    def _disturb(self, event: Crash | Unhealthy) -> None:
        snapshot = self.state.snapshot()
        running = sorted(
            (task for task in snapshot.service_tasks(event.service) if task.last_status == "RUNNING"),
            key=lambda task: task.id,
        )
        for task in self.rng.sample(running, min(event.count, len(running))):
            if isinstance(event, Crash):
                reason = "Essential container in task exited: app (exit code 1)"
                self.report(task, last_status="STOPPED", stop_code="EssentialContainerExited", stopped_reason=reason)
            else:
                self.report(task, health_status="UNHEALTHY")
                self.at(self.now + event.duration, functools.partial(self._recover, task.id))

    def _recover(self, task_id: str) -> None:
        task = self.state.snapshot().task(task_id)
        if not task.is_stopped and task.health_status == "UNHEALTHY":
            self.report(task, health_status="HEALTHY")

    # -- the schedulers ----------------------------------------------------------------------

    def wake(self, index: int) -> None:
        """Scheduler ``index`` takes what waits in its queue, one request per shape (unless busy).

        Tasks that failed to fit against the cluster as it still is wait for a change.
        """
        if self.busy[index]:
            return
        waiting = [*self.deferred[index], *self.queues[index]]
        self.deferred[index] = []
        self.queues[index].clear()
        groups: dict[str, list[_Waiting]] = {}
        for item in waiting:
            if item.epoch == self.capacity_epoch:
                self.deferred[index].append(item)
            else:
                item.attempts = 0
                groups.setdefault(item.definition, []).append(item)
        size = self.policy.batch_size
        requests = deque(group[at : at + size] for group in groups.values() for at in range(0, len(group), size))
        self._serve(index, requests)

    def _serve(self, index: int, requests: deque[list[_Waiting]]) -> None:
        """Plan and commit ``requests`` in turn; conflicts are planned again at once, a few times."""
        while requests:
            items = requests.popleft()
            snapshot = self.state.snapshot()
            definition = snapshot.task_definition(items[0].definition)
            plan = self.policy.scheduler.place(snapshot, self._request(definition, len(items)))
            if self.policy.decision_time > 0:
                self.busy[index] = True

                def commit(plan: Plan = plan, items: list[_Waiting] = items) -> None:
                    self.busy[index] = False
                    self._retry(index, requests, self._commit(index, plan, items))
                    self._serve(index, requests)

                self.at(self.now + self.policy.decision_time, commit)
                return
            self._retry(index, requests, self._commit(index, plan, items))

    def _retry(self, index: int, requests: deque[list[_Waiting]], rejected: list[_Waiting]) -> None:
        again = [item for item in rejected if item.attempts < self.policy.max_attempts]
        later = [item for item in rejected if item.attempts >= self.policy.max_attempts]
        if again:
            requests.appendleft(again)
        self.queues[index].extendleft(reversed(later))

    def _request(self, definition: TaskDefinition, count: int) -> PlacementRequest:
        return PlacementRequest(definition, count, strategies=self.policy.strategies)

    def _commit(self, index: int, plan: Plan, items: list[_Waiting]) -> list[_Waiting]:
        """Commit ``plan`` for ``items``; returns the items whose placements another writer beat."""
        counters = self.counters
        placed = 0
        rejected: list[_Waiting] = []
        if plan.placements:
            self.flush()
            result = self.state.commit(plan.changes)
            counters.commits += 1
            counters.transactions += 1
            conflicts = [rejection for rejection in result.rejected if rejection.reason != "ABORTED"]
            if conflicts:
                counters.conflicted += 1
                counters.conflicts += len(conflicts)
                counters.retries += len(conflicts)
            for change in result.accepted:
                item = items[placed]
                placed += 1
                task_id = change.task.id  # type: ignore[union-attr]
                self.durations[task_id] = item.duration
                counters.waits.append(self.now - item.arrival)
            rejected = items[placed : placed + len(result.rejected)]
            for item in rejected:
                item.attempts += 1
            self.observe()
        counters.placed += placed
        failed = items[placed + len(rejected) :]
        for unplaced, item in zip(plan.unplaced, failed, strict=False):
            counters.failures[unplaced.reason] += 1
            item.epoch = self.capacity_epoch
        self.deferred[index].extend(failed)
        return rejected

    # -- the service scheduler and samples -----------------------------------------------------

    def step_services(self) -> None:
        self.flush()
        self.services.step()
        self.observe()
        snapshot = self.state.snapshot()
        for service in snapshot.services():
            if service.status != "ACTIVE" or service.scheduling_strategy != "REPLICA":
                continue
            running = sum(1 for task in snapshot.service_tasks(service.name) if task.last_status == "RUNNING")
            if running < service.desired_count:
                below = self.counters.below
                below[service.name] = below.get(service.name, 0.0) + self.policy.service_interval

    def step_autoscalers(self) -> None:
        """The service autoscaler samples the load and commits desired counts."""
        assert self.autoscaler is not None
        self.flush()
        self.autoscaler.step()
        self.observe()

    def step_capacity(self) -> None:
        """The capacity provider's managed scaling: launch, drain or remove instances."""
        assert self.cluster_autoscaler is not None
        self.flush()
        self.cluster_autoscaler.step()
        self.observe()

    def sample(self) -> None:
        self.flush()
        snapshot = self.state.snapshot()
        shapes = {(charge.cpu, charge.memory) for charge in self._waiting_shapes()}
        totals = Counter[str]()
        for instance in snapshot.instances():
            if instance.status == "INACTIVE":
                continue
            registered, remaining = instance.registered, instance.remaining
            totals["instances"] += 1
            totals["cpu_registered"] += registered.cpu
            totals["memory_registered"] += registered.memory
            totals["cpu_allocated"] += registered.cpu - remaining.cpu
            totals["memory_allocated"] += registered.memory - remaining.memory
            holding = instance.running_tasks_count + instance.pending_tasks_count
            totals["running_tasks"] += instance.running_tasks_count
            totals["instances_in_use"] += 1 if holding else 0
            if shapes and instance.status == "ACTIVE":
                fits = any(cpu <= remaining.cpu and memory <= remaining.memory for cpu, memory in shapes)
                if not fits:
                    totals["stranded_cpu"] += remaining.cpu
                    totals["stranded_memory"] += remaining.memory
        pending = sum(1 for _ in self.waiting())
        sample = Sample(time=self.now, pending_tasks=pending, **{
            name: totals[name] for name in (
                "instances", "instances_in_use", "cpu_registered", "cpu_allocated", "memory_registered",
                "memory_allocated", "running_tasks", "stranded_cpu", "stranded_memory",
            )
        })  # fmt: skip
        self.samples.append(sample)
        if self.on_sample is not None:
            self.on_sample(snapshot, frozenset(shapes), sample)

    # -- the loop ----------------------------------------------------------------------------------

    def busy_with_batch(self) -> bool:
        """Batch work left that can still move: tasks running, or waiting with a chance to fit."""
        if self.durations or any(self.busy):
            return True
        return any(item.epoch != self.capacity_epoch for item in self.waiting())

    def run(self, workload: Iterable[Event], until: float | None, progress: Callable[[float], None] | None) -> None:
        events = iter(workload)
        upcoming = next(events, None)
        count = self.policy.schedulers
        for index in range(count):
            self.every(self.policy.interval, functools.partial(self.wake, index), self.policy.interval * index / count)
        self.every(self.policy.service_interval, self.step_services)
        if self.autoscaler is not None:
            self.every(self.autoscaler.sample_interval, self.step_autoscalers)
        if self.cluster_autoscaler is not None:
            self.every(self.policy.capacity_interval, self.step_capacity)
        self.every(self.policy.sample_interval, self.sample)
        while True:
            when = self.timers[0][0]
            if upcoming is not None and upcoming.at <= when:
                when = upcoming.at
            elif upcoming is None and not self.busy_with_batch() and until is None:
                break
            if until is not None and when > until:
                break
            if when > self.now:
                self.advance(when)
                if progress is not None:
                    progress(self.now)
            while upcoming is not None and upcoming.at <= when:
                self.apply(upcoming)
                upcoming = next(events, None)
            self.observe()
            while self.timers and self.timers[0][0] <= when:
                heapq.heappop(self.timers)[2]()
            self.flush()
        self.sample()

    def close(self) -> None:
        """Stop the subscriptions and the autoscalers' resources."""
        self.events.close()
        if self.autoscaler is not None:
            self.autoscaler.close()
        if self.cluster_autoscaler is not None:
            self.cluster_autoscaler.close()

    def _scaling_activities(self) -> int:
        count = 0
        if self.autoscaler is not None:
            count += len(self.autoscaler.describe_scaling_activities())
        if self.cluster_autoscaler is not None:
            count += len(self.cluster_autoscaler.activities)
        return count

    def metrics(self, seed: int) -> RunMetrics:
        counters = self.counters
        waits = sorted(counters.waits)
        pending = sum(1 for _ in self.waiting())
        return RunMetrics(
            policy=self.policy.name,
            seed=seed,
            duration=self.now,
            submitted=counters.submitted,
            placed=counters.placed,
            finished=counters.finished,
            lost=counters.lost,
            pending=pending,
            wait_p50=percentile(waits, 0.5),
            wait_p90=percentile(waits, 0.9),
            wait_p99=percentile(waits, 0.99),
            wait_max=waits[-1] if waits else 0.0,
            wait_cdf=tuple(percentile(waits, step / 100) for step in range(101)) if waits else (),
            transactions=counters.transactions,
            conflicted_transactions=counters.conflicted,
            conflicts=counters.conflicts,
            retries=counters.retries,
            commits=counters.commits,
            placement_failures=dict(counters.failures),
            service_seconds_below_desired=dict(counters.below),
            scaling_activities=self._scaling_activities(),
            instance_hours=counters.instance_seconds / 3600.0,
            samples=tuple(self.samples),
        )


def simulate(
    workload: Iterable[Event],
    policy: Policy,
    *,
    seed: int = 0,
    until: float | None = None,
    progress: Callable[[float], None] | None = None,
    on_sample: SampleHook | None = None,
) -> RunMetrics:
    """Play ``workload`` against ``policy`` and return what the run measured.

    The run ends at ``until`` (workload seconds), or else once the workload is over and
    no batch task is running or could still be placed. ``progress`` is called with the
    simulated time whenever it moves; ``on_sample(snapshot, waiting shapes, sample)`` with
    each sample as it is taken. The same workload, policy and seed give the same
    metrics, byte for byte (``RunMetrics.to_json``).
    """
    with repeatable_ids(seed):
        run = _Run(policy, seed, on_sample)
        try:
            run.run(workload, until, progress)
        finally:
            run.close()
        return run.metrics(seed)
