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

The run's jobs are stages in private modules, composed here: ``_clock`` (simulated time and
the actions set for later), ``_bus`` (commits, and their events to every stage), ``_hosts``
(the agents' reports), ``_queues`` (the batch queues and the schedulers' plan-and-commit
passes), ``_replay`` (the workload's events) and ``_sampling`` (what is measured over time).
They talk through the state's commits and events, and a few calls made explicit here.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from clusterkit.api import ClusterState
from clusterkit.autoscaling import (
    CPU_UTILIZATION,
    CapacityProvider,
    ClusterAutoscaler,
    InMemoryProvider,
    ScalingPolicy,
    ServiceAutoscaler,
    TargetTrackingPolicy,
)
from clusterkit.model import DEFAULT_STRATEGY, PlacementStrategy, check_instance, load_strategies
from clusterkit.placement import BaseScheduler, Scheduler
from clusterkit.services import DEFAULT_SETTINGS, ReconcileSettings, ServiceScheduler
from clusterkit.sim._bus import Bus
from clusterkit.sim._checks import at_least_one, not_negative, positive
from clusterkit.sim._clock import Timeline
from clusterkit.sim._hosts import Hosts
from clusterkit.sim._metrics import RunMetrics, Sample, percentile
from clusterkit.sim._queues import Queues
from clusterkit.sim._replay import ZONE, Replay, WorkloadLoad
from clusterkit.sim._sampling import Sampling
from clusterkit.sim._workload import WorkloadEvent
from clusterkit.state import Snapshot, repeatable_ids

__all__ = ["EPOCH", "SampleHook", "SchedulingPolicy", "ServiceScaling", "simulate"]

EPOCH: Final = 1_700_000_000.0
"""The simulated clock's reading at the workload's time 0."""

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
class SchedulingPolicy:
    """One configuration to simulate: the schedulers, how many and how fast, and the timings.

    ``scheduler`` places batch tasks (with ``strategies``) and the services' tasks (services
    the workload creates get ``strategies`` as their placement strategy). ``schedulers`` of
    them share the cluster; each wakes every ``interval`` seconds, takes what waits in its
    queue as one request per shape (of at most ``batch_size`` tasks), and commits each
    ``decision_time`` seconds after its snapshot; placements the state rejects (conflicts,
    when another scheduler committed in between) are planned again at once, up to
    ``max_attempts`` times a pass. The service scheduler steps every ``service_interval``
    seconds; the cluster is sampled every ``sample_interval``.

    ``service_scaling`` autoscales the workload's services; ``capacity`` adds a capacity
    provider whose managed scaling (every ``capacity_interval`` seconds) launches and removes
    instances of its shape beside the workload's own, for the services' missing tasks and
    the batch tasks waiting in the schedulers' queues alike.
    """

    name: str
    scheduler: Scheduler = attrs.field(
        factory=lambda: BaseScheduler(seed=0),
        validator=lambda _, field, value: check_instance(field.name, value, "place"),
    )
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


class _Run:
    """One run: the stages of ``clusterkit.sim``'s private modules, composed (use :func:`simulate`).

    ``Timeline`` keeps the time and the actions set for later; ``Bus`` commits to the state and
    hands every commit's events to the stages; ``Hosts`` sends the agents' reports,
    ``Queues`` holds the batch tasks and runs the batch schedulers, ``Replay`` plays the
    workload's events, and ``Sampling`` measures. The real ``ServiceScheduler`` and the
    autoscalers run in their own passes.
    """

    def __init__(self, policy: SchedulingPolicy, seed: int, on_sample: SampleHook | None = None) -> None:
        self.policy = policy
        self.on_sample = on_sample
        self.time = Timeline(EPOCH)
        self.state = ClusterState("sim", clock=self.time.clock)
        self.services = ServiceScheduler(
            self.state, placement=policy.scheduler, settings=policy.settings, resync_interval=float("inf")
        )
        self.bus = Bus(self.state)
        self.hosts = Hosts(self.state, self.time, self.bus, random.Random(seed), policy.start_delay, policy.stop_delay)
        self.queues = Queues(
            self.state, self.time, self.bus, self.hosts.run_for, scheduler=policy.scheduler,
            strategies=policy.strategies, schedulers=policy.schedulers, decision_time=policy.decision_time,
            batch_size=policy.batch_size, max_attempts=policy.max_attempts,
        )  # fmt: skip
        self.sampling = Sampling(self.state, self.time)
        for listener in (self.services.notice, self.hosts.notice, self.queues.notice, self.sampling.notice):
            self.bus.listen(listener)
        load = WorkloadLoad()
        self.autoscaler: ServiceAutoscaler | None = None
        if policy.service_scaling is not None:
            self.autoscaler = ServiceAutoscaler(
                self.state, load, clock=self.time.clock, sample_interval=policy.service_scaling.sample_interval
            )
        self.replay = Replay(self.state, self.queues, self.hosts, load, policy.strategies, self._scale_service)
        self.cluster_autoscaler: ClusterAutoscaler | None = None
        if policy.capacity is not None:
            provider = InMemoryProvider(self.state, policy.capacity, add=self._add_capacity)
            self.cluster_autoscaler = ClusterAutoscaler(
                self.state, policy.capacity, provider, clock=self.time.clock, also_waiting=self.queues.waiting_shapes
            )

    def _scale_service(self, service: str) -> None:
        """A REPLICA service was created: the service autoscaler takes it on, if there is one."""
        scaling = self.policy.service_scaling
        if self.autoscaler is None or scaling is None:
            return
        self.autoscaler.register_scalable_target(
            service, min_capacity=scaling.min_capacity, max_capacity=scaling.max_capacity
        )
        for scaling_policy in scaling.policies:
            self.autoscaler.put_scaling_policy(service, scaling_policy)

    def _add_capacity(self, instance_id: str, attributes: Mapping[str, str | None]) -> None:
        """A capacity provider's new instance, in the zones in turn."""
        assert self.policy.capacity is not None
        shape = self.policy.capacity.instance_shape
        zones = ("zone-a", "zone-b", "zone-c")
        zone = zones[self.sampling.instances_up() % len(zones)]
        self.state.register_container_instance(
            instance_id, cpu=shape.cpu, memory=shape.memory, attributes={ZONE: zone, **attributes}
        )

    # -- the passes of the real code, and the samples ----------------------------------------

    def step_services(self) -> None:
        """The service scheduler's pass, then the services short of tasks are counted."""
        self.bus.step(self.services.step, schedules=True)
        self.sampling.tally_services(self.policy.service_interval)

    def step_autoscalers(self) -> None:
        """The service autoscaler samples the load and commits desired counts."""
        assert self.autoscaler is not None
        self.bus.step(self.autoscaler.step)

    def step_capacity(self) -> None:
        """The capacity provider's managed scaling: launch, drain or remove instances."""
        assert self.cluster_autoscaler is not None
        self.bus.step(self.cluster_autoscaler.step)

    def sample(self) -> None:
        """Sample the cluster now (and hand the sample to ``on_sample``)."""
        self.bus.flush()
        snapshot = self.state.snapshot()
        shapes = frozenset((charge.cpu, charge.memory) for charge in self.queues.waiting_shapes())
        sample = self.sampling.sample(snapshot, shapes, self.queues.pending())
        if self.on_sample is not None:
            self.on_sample(snapshot, shapes, sample)

    # -- the loop ----------------------------------------------------------------------------------

    def busy_with_batch(self) -> bool:
        """Batch work left that can still move: tasks running, or waiting with a chance to fit."""
        return self.hosts.running_batch() or self.queues.can_move()

    def run(
        self, workload: Iterable[WorkloadEvent], until: float | None, progress: Callable[[float], None] | None
    ) -> None:
        """Play ``workload`` to its end (or ``until``), with every pass on its timer."""
        policy, time, bus = self.policy, self.time, self.bus
        events = iter(workload)
        upcoming = next(events, None)
        count = policy.schedulers
        for index in range(count):
            time.every(policy.interval, functools.partial(self.queues.wake, index), policy.interval * index / count)
        time.every(policy.service_interval, self.step_services)
        if self.autoscaler is not None:
            time.every(self.autoscaler.sample_interval, self.step_autoscalers)
        if self.cluster_autoscaler is not None:
            time.every(policy.capacity_interval, self.step_capacity)
        time.every(policy.sample_interval, self.sample)
        while True:
            when = time.next_due()
            if upcoming is not None and upcoming.at <= when:
                when = upcoming.at
            elif upcoming is None and not self.busy_with_batch() and until is None:
                break
            if until is not None and when > until:
                break
            if when > time.now:
                self.sampling.elapse(when)
                time.advance(when)
                if progress is not None:
                    progress(when)
            if upcoming is not None and upcoming.at <= when:
                while upcoming is not None and upcoming.at <= when:
                    self.replay.apply(upcoming)
                    upcoming = next(events, None)
                bus.observe()
            time.run_due(when)
            bus.flush()
        self.sample()

    def close(self) -> None:
        """Stop the subscriptions and the autoscalers' resources."""
        self.bus.close()
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
        """What the run measured."""
        queues, hosts, sampling = self.queues, self.hosts, self.sampling
        waits = queues.waits_at(self.time.now)
        return RunMetrics(
            policy=self.policy.name,
            seed=seed,
            duration=self.time.now,
            submitted=queues.submitted,
            placed=queues.placed,
            finished=hosts.finished,
            lost=hosts.lost,
            pending=queues.pending(),
            wait_p50=percentile(waits, 0.5),
            wait_p90=percentile(waits, 0.9),
            wait_p99=percentile(waits, 0.99),
            wait_max=waits[-1] if waits else 0.0,
            wait_cdf=tuple(percentile(waits, step / 100) for step in range(101)) if waits else (),
            transactions=queues.transactions,
            conflicted_transactions=queues.conflicted,
            conflicts=queues.conflicts,
            retries=queues.retries,
            commits=self.bus.commits,
            placement_failures=dict(queues.failures),
            service_seconds_below_desired=dict(sampling.below),
            scaling_activities=self._scaling_activities(),
            instance_hours=sampling.instance_seconds / 3600.0,
            samples=tuple(sampling.samples),
        )


def simulate(
    workload: Iterable[WorkloadEvent],
    policy: SchedulingPolicy,
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
