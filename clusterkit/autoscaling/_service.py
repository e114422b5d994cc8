"""ServiceAutoscaler: the loop that samples metrics, decides with ``decide`` and commits desired counts.

Register a scalable target for a service, put scaling policies and scheduled actions on it,
then ``step`` (tests, on a simulated clock) or ``run`` (wall-clock). Each step samples every
metric a policy needs once ``sample_interval`` has passed since the last sample, into one
``MetricSeries`` per (service, metric, period); then decides for each target from a fresh
snapshot and commits a changed desired count (``spec_update``, UpdateService's write) as a
compare-and-swap on the service's spec, with ``commit_with_retry``: made again on a newer
spec only while the count is still the one it decided from (another writer's count in
between means deciding again on the next step). The service scheduler then starts or stops
tasks — stopping, as it always does, from the zone and then the instance with the most tasks.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import attrs

from clusterkit.api import ClusterState, spec_update, spec_written
from clusterkit.autoscaling._decide import PolicyData, ScalerMemory, ScalingDecision, decide
from clusterkit.autoscaling._metrics import MetricSeries
from clusterkit.autoscaling._policies import (
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    StepScalingPolicy,
    TargetTrackingPolicy,
)
from clusterkit.autoscaling._sources import MetricSource
from clusterkit.errors import ClusterkitError, NotFoundError, ValidationError
from clusterkit.state import Change, Snapshot, commit_with_retry, is_stale, run_loop

__all__ = ["ServiceAutoscaler"]


class ServiceAutoscaler:
    """Application Auto Scaling for the services of one ClusterState.

    ``source`` gives every metric; ``sources`` (metric name → source) overrides it per
    metric. ``clock`` is ``time.time`` or a simulated clock; metrics are sampled every
    ``sample_interval`` seconds; the newest ``keep_activities`` activities are kept.
    Thread-safe: register and put from one thread while ``run`` loops in another.
    """

    def __init__(
        self,
        state: ClusterState,
        source: MetricSource,
        *,
        sources: Mapping[str, MetricSource] | None = None,
        clock: Callable[[], float] = time.time,
        sample_interval: float = 15.0,
        keep_activities: int = 1000,
    ) -> None:
        if isinstance(sample_interval, bool) or not isinstance(sample_interval, int | float) or sample_interval <= 0:
            raise ValidationError("sample_interval", sample_interval, "must be a positive number of seconds")
        if type(keep_activities) is not int or keep_activities < 1:
            raise ValidationError("keep_activities", keep_activities, "must be a whole number >= 1")
        self.state = state
        self.source = source
        self.sources = dict(sources or {})
        self.clock = clock
        self.sample_interval = float(sample_interval)
        self._targets: dict[str, ScalableTarget] = {}
        self._policies: dict[str, dict[str, ScalingPolicy]] = {}
        self._actions: dict[str, dict[str, ScheduledAction]] = {}
        self._memory: dict[str, ScalerMemory] = {}
        self._series: dict[tuple[str, str, float], MetricSeries] = {}
        self._activities: collections.deque[ScalingActivity] = collections.deque(maxlen=keep_activities)
        self._sampled_at = -math.inf
        self._lock = threading.RLock()
        self._stop = threading.Event()
        #: Why the last step of :meth:`run` failed in the store (etcd away); None once one succeeds.
        self.store_error: str | None = None

    # -- registering -----------------------------------------------------------------------

    def register_scalable_target(self, service: str, *, min_capacity: int, max_capacity: int) -> ScalableTarget:
        """Scale ``service`` within ``[min_capacity, max_capacity]`` (again: new bounds, same policies).

        NotFoundError for an unknown service; ValidationError for a DAEMON one (it has no
        desired count).
        """
        target = ScalableTarget(service, min_capacity, max_capacity)
        record = self.state.snapshot().service(service)
        if record.scheduling_strategy == "DAEMON":
            raise ValidationError("ResourceId", service, "a DAEMON service has no desired count to scale")
        with self._lock:
            self._targets[service] = target
            self._policies.setdefault(service, {})
            self._actions.setdefault(service, {})
            self._memory.setdefault(service, ScalerMemory())
        return target

    def deregister_scalable_target(self, service: str) -> None:
        """Stop scaling ``service``: its policies, scheduled actions and cooldowns go too."""
        with self._lock:
            self._target(service)
            for table in (self._targets, self._policies, self._actions, self._memory):
                table.pop(service, None)
            for key in [key for key in self._series if key[0] == service]:
                del self._series[key]

    def put_scaling_policy(self, service: str, policy: ScalingPolicy) -> ScalingPolicy:
        """Add a policy to the service's target, or replace the one of the same name."""
        if not isinstance(policy, TargetTrackingPolicy | StepScalingPolicy):
            raise ValidationError("PolicyType", policy, "must be a TargetTrackingPolicy or a StepScalingPolicy")
        with self._lock:
            self._target(service)
            self._policies[service][policy.name] = policy
        return policy

    def delete_scaling_policy(self, service: str, name: str) -> None:
        """Remove a policy; NotFoundError if the target has none of that name."""
        with self._lock:
            self._target(service)
            if self._policies[service].pop(name, None) is None:
                raise NotFoundError("scaling policy", name)

    def put_scheduled_action(self, service: str, action: ScheduledAction) -> ScheduledAction:
        """Add a scheduled action (or replace the one of the same name, which then runs again)."""
        if not isinstance(action, ScheduledAction):
            raise ValidationError("ScheduledAction", action, "must be a ScheduledAction")
        with self._lock:
            self._target(service)
            self._actions[service][action.name] = action
            memory = self._memory[service]
            self._memory[service] = attrs.evolve(memory, done=memory.done - {action.name})
        return action

    def describe_scalable_targets(self) -> list[ScalableTarget]:
        """Every registered target, by service name."""
        with self._lock:
            return [self._targets[name] for name in sorted(self._targets)]

    def describe_scaling_policies(self, service: str) -> list[ScalingPolicy]:
        """The service's policies, by name."""
        with self._lock:
            self._target(service)
            return [self._policies[service][name] for name in sorted(self._policies[service])]

    def describe_scheduled_actions(self, service: str) -> list[ScheduledAction]:
        """The service's scheduled actions, by time."""
        with self._lock:
            self._target(service)
            return sorted(self._actions[service].values(), key=lambda action: (action.at, action.name))

    def describe_scaling_activities(self, service: str | None = None) -> list[ScalingActivity]:
        """The activities kept (of one service, or all), newest first."""
        with self._lock:
            return [a for a in reversed(self._activities) if service is None or a.service == service]

    def _target(self, service: str) -> ScalableTarget:
        target = self._targets.get(service)
        if target is None:
            raise NotFoundError("scalable target", service)
        return target

    # -- the loop --------------------------------------------------------------------------

    def step(self) -> list[ScalingActivity]:
        """Sample if due, decide for every target, commit; returns this step's activities."""
        now = self.clock()
        with self._lock:
            if now - self._sampled_at >= self.sample_interval:
                self._sample(self.state.snapshot(), now)
                self._sampled_at = now
            services = sorted(self._targets)
        activities: list[ScalingActivity] = []
        for service in services:
            activities.extend(self._scale(service, now))
        return activities

    def run(self, stop: threading.Event | None = None, *, interval: float = 1.0) -> None:
        """Step every ``interval`` seconds until ``stop`` is set (by default the autoscaler's own,
        which :meth:`close` sets). A step the store cannot take (``StoreError``: etcd without
        quorum) is tried again on the next one; ``store_error`` holds its reason meanwhile.
        """
        run_loop(stop if stop is not None else self._stop, self.step, interval=interval, report=self._report)

    def _report(self, error: BaseException | None) -> None:
        self.store_error = None if error is None else str(error)

    def close(self) -> None:
        """Ask ``run`` (without a ``stop`` of its own) to return."""
        self._stop.set()

    def series(self, service: str, metric: str, period: float = 60.0) -> MetricSeries | None:
        """The samples kept of a service's metric at a period (None before any policy needed it)."""
        with self._lock:
            return self._series.get((service, metric, float(period)))

    def _sample(self, snapshot: Snapshot, now: float) -> None:
        wanted: dict[tuple[str, str], list[float]] = {}
        for service, policies in self._policies.items():
            for policy in policies.values():
                wanted.setdefault((service, policy.metric), []).append(float(policy.period))
        for (service, metric), periods in sorted(wanted.items()):
            try:
                value = self.sources.get(metric, self.source).sample(snapshot, service, metric, now)
            except NotFoundError:
                value = None  # the service was deleted: no data
            if value is None:
                continue
            for period in set(periods):
                key = (service, metric, period)
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = MetricSeries(period=period, retention=1440)
                series.put(value, at=now)

    def _data(self, service: str, policy: ScalingPolicy, now: float) -> PolicyData:
        series = self._series.get((service, policy.metric, float(policy.period)))
        if series is None:
            return PolicyData()
        if isinstance(policy, TargetTrackingPolicy):
            return PolicyData(tuple(series.datapoints("Average", count=policy.window, now=now)))
        points = series.datapoints(policy.alarm.statistic, count=policy.alarm.evaluation_periods, now=now)
        return PolicyData(tuple(points), series.latest(policy.metric_aggregation, now=now))

    def _decide(
        self, service: str, snapshot: Snapshot, now: float
    ) -> tuple[int, ScalableTarget, ScalerMemory, ScalingDecision]:
        with self._lock:
            target = self._targets[service]
            policies: Sequence[ScalingPolicy] = list(self._policies[service].values())
            actions = list(self._actions[service].values())
            memory = self._memory[service]
            data = {policy.name: self._data(service, policy, now) for policy in policies}
        record = snapshot.service(service)
        if record.status != "ACTIVE":
            raise NotFoundError("service", service)  # deleted (DRAINING or INACTIVE): nothing to scale
        deploying = any(d.rollout_state == "IN_PROGRESS" for d in record.deployments)
        decision = decide(
            target, policies, data, memory, current=record.desired_count, now=now, deploying=deploying, actions=actions
        )
        return record.desired_count, target, memory, decision

    def _commit_count(self, service: str, snapshot: Snapshot, current: int, desired: int) -> bool:
        """Set the desired count to ``desired`` if it is still ``current``: a compare-and-swap on
        the service's spec, made again on a newer spec whose count did not move (another user
        changed something else of it; the service scheduler writes only the status, which
        never moves the spec's version). False when the count moved.
        """

        def plan(fresh: Snapshot) -> list[Change] | None:
            if fresh.service(service).desired_count != current:
                return None  # another writer's count: decide again on the next step
            return [spec_update(fresh, service, desired_count=desired)]  # at the spec's version read here

        outcome = commit_with_retry(self.state, plan, conflict=is_stale, max_attempts=5, snapshot=snapshot)
        return spec_written(outcome, service) is not None  # False too when other writers kept winning

    def _scale(self, service: str, now: float) -> list[ScalingActivity]:
        snapshot = self.state.snapshot()
        try:
            current, target, before, decision = self._decide(service, snapshot, now)
        except (KeyError, NotFoundError):
            return []  # deregistered meanwhile, or the service is gone
        activities = list(decision.activities)
        if decision.desired != current:
            try:
                if not self._commit_count(service, snapshot, current, decision.desired):
                    return []  # another writer changed the count meanwhile: decide again on the next step
            except ClusterkitError as error:
                activities = [attrs.evolve(a, status="Failed", status_message=str(error)) for a in activities]
                with self._lock:
                    self._activities.extend(activities)
                return activities
        with self._lock:
            if service in self._targets:
                if self._targets[service] == target:  # else registered again meanwhile: the new bounds win
                    self._targets[service] = decision.target
                # A scheduled action put again while this step decided runs again: keep it not done.
                again = before.done - self._memory[service].done
                self._memory[service] = attrs.evolve(decision.memory, done=decision.memory.done - again)
            self._activities.extend(activities)
        return activities
