"""Capacity-provider managed scaling: the cluster autoscaler.

ECS's managed scaling is target tracking on CapacityProviderReservation (see
``clusterkit.autoscaling``): a scale-out alarm on 1 datapoint of 1 minute above
``targetCapacity``, a scale-in alarm on 15 of 15 datapoints below it. The pure
``scaling_decision`` turns the alarms and the latest reservation into a step:

* desired ``N' = ⌈M · 100 / targetCapacity⌉`` (a scale-in never below ``minimum_size``);
* scale-out: ``N' − N`` clamped to ``[minimumScalingStepSize, maximumScalingStepSize]``
  and to ``maximum_size``; from zero instances the first scale-out adds
  ``max(2, minimumScalingStepSize)`` (clamped to the maximum step);
* scale-in: ``N − N'`` instances, at most ``maximumScalingStepSize`` and never more than
  the empty instances (only instances without non-daemon tasks are ever removed; the
  minimum step does not force a larger scale-in);
* during an instance warm-up (``instance_warmup_period`` seconds after a scale-out) the
  autoscaler neither scales out again nor in; below ``minimum_size`` it scales out to it.

Instances being drained for scale-in (DRAINING, with the ``clusterkit.scale-in``
attribute) count as gone for the decision. The ``ClusterAutoscaler`` loop samples the
metric, decides, and acts: it launches through an ``InstanceProvider``; it scales in by
setting the chosen empty instances DRAINING (a compare-and-set on the instance's version,
so a task placed there meanwhile cancels it) and terminates each one on a later step once
it still holds no non-daemon task (managed termination protection).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final, Literal

import attrs

from clusterkit.api import ClusterState
from clusterkit.autoscaling._alarms import Alarm, AlarmState
from clusterkit.autoscaling._capacity import (
    SCALE_IN_ATTRIBUTE,
    CapacityProvider,
    Reservation,
    ReservationTracker,
    desired_instances,
)
from clusterkit.autoscaling._metrics import MetricSeries
from clusterkit.autoscaling._providers import InstanceProvider
from clusterkit.errors import ClusterkitError, ValidationError
from clusterkit.model import ContainerInstance, Resources
from clusterkit.services import only_daemons_left
from clusterkit.state import Snapshot, UpdateInstance, run_loop

__all__ = ["ClusterAutoscaler", "CapacityActivity", "CapacityDecision", "scaling_decision"]

FIRST_SCALE_OUT: Final = 2
"""Instances the first scale-out from zero adds (at least; the minimum step if larger)."""
ActivityKind = Literal["Launch", "Drain", "Terminate"]


@attrs.frozen(slots=True)
class CapacityDecision:
    """What to do now: ``change`` instances (> 0 launch, < 0 remove, 0 nothing), toward ``desired``.

    ``reason`` says why, in words.
    """

    change: int
    desired: int
    reason: str


def scaling_decision(
    provider: CapacityProvider,
    reservation: Reservation,
    *,
    scale_out: AlarmState,
    scale_in: AlarmState,
    warming: bool = False,
    removing: int = 0,
    empty: int = 0,
) -> CapacityDecision:
    """The managed-scaling step for ``reservation`` given the alarms' states. Pure.

    ``removing``: instances already being drained for scale-in (counted as gone);
    ``empty``: the instances that could be removed now (no non-daemon task, not draining).
    """
    current = reservation.running - removing
    needed = reservation.needed
    low, high = provider.minimum_scaling_step_size, provider.maximum_scaling_step_size
    if warming:
        return CapacityDecision(0, current, "instances are warming up")
    if current < provider.minimum_size:
        return CapacityDecision(provider.minimum_size - current, provider.minimum_size, "below the minimum size")
    if scale_out == "ALARM":
        if current == 0:
            if needed <= 0:
                return CapacityDecision(0, 0, "no capacity needed")
            step = min(max(FIRST_SCALE_OUT, low), high)
        else:
            step = desired_instances(needed, provider.target_capacity) - current
            if step <= 0:
                return CapacityDecision(0, current, "the capacity needed is already there")
            step = min(max(step, low), high)
        step = min(step, provider.maximum_size - current)
        if step <= 0:
            return CapacityDecision(0, current, "at the maximum size")
        return CapacityDecision(step, current + step, "capacity reservation above the target")
    if scale_in == "ALARM":
        desired = max(desired_instances(needed, provider.target_capacity), provider.minimum_size)
        step = min(current - desired, high, empty)
        if step <= 0:
            return CapacityDecision(0, current, "no empty instance to remove")
        return CapacityDecision(-step, current - step, "capacity reservation below the target")
    return CapacityDecision(0, current, "capacity reservation on target")


@attrs.frozen(slots=True)
class CapacityActivity:
    """One thing the autoscaler did, worded as Auto Scaling's activities are.

    ``kind`` is ``Launch``, ``Drain`` or ``Terminate``; ``status`` ``Successful`` or
    ``Failed`` (``cause`` then ends with the error).
    """

    at: float
    kind: ActivityKind
    from_count: int
    to_count: int
    instances: tuple[str, ...]
    cause: str
    status: Literal["Successful", "Failed"] = "Successful"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterAutoscaler:
    """Managed scaling of one capacity provider's instances in ``state``.

    ``step()`` samples CapacityProviderReservation into a ``MetricSeries`` of ``period``
    seconds (60 as in ECS), evaluates the scale-out alarm (``scale_out_periods`` datapoints
    above ``targetCapacity``, 1 by default) and the scale-in alarm (``scale_in_periods`` of
    as many below it, 15 by default), decides with ``scaling_decision`` and acts through
    ``instances``. Returns the activities of that step; ``activities`` keeps them all.
    ``run(stop)`` steps every ``interval`` seconds of wall time until ``stop`` is set.
    ``clock`` defaults to the state's. ``also_waiting()`` adds task shapes that wait outside the
    state (see ``ReservationTracker``).
    """

    def __init__(
        self,
        state: ClusterState,
        provider: CapacityProvider,
        instances: InstanceProvider,
        *,
        clock: Callable[[], float] | None = None,
        period: float = 60.0,
        scale_out_periods: int = 1,
        scale_in_periods: int = 15,
        also_waiting: Callable[[], Mapping[Resources, int]] | None = None,
    ) -> None:
        if not isinstance(provider, CapacityProvider):
            raise ValidationError("provider", provider, "must be a CapacityProvider")
        self.state = state
        self.provider = provider
        self.instances = instances
        self.clock = clock if clock is not None else state.clock
        self.series = MetricSeries(period=period, retention=max(scale_in_periods, scale_out_periods) + 2)
        target = float(provider.target_capacity)
        self.scale_out_alarm = Alarm(
            f"{provider.name}-AlarmHigh", target, "GreaterThanThreshold", evaluation_periods=scale_out_periods
        )
        self.scale_in_alarm = Alarm(
            f"{provider.name}-AlarmLow", target, "LessThanThreshold", evaluation_periods=scale_in_periods
        )
        self.tracker = ReservationTracker(state, provider, also_waiting=also_waiting)
        self.warm_until = float("-inf")
        self.activities: list[CapacityActivity] = []
        self.last: Reservation | None = None
        #: Why the last step of :meth:`run` failed; None once one succeeds.
        self.error: str | None = None
        self._stop = threading.Event()

    # -- one step ------------------------------------------------------------------------

    def sample(self) -> Reservation:
        """Evaluate the metric now and record it in the series."""
        reservation = self.tracker.reservation()
        self.series.put(reservation.metric, at=self.clock())
        self.last = reservation
        return reservation

    def step(self) -> list[CapacityActivity]:
        """Sample, terminate drained instances, decide and act once. The activities done."""
        now = self.clock()
        reservation = self.sample()
        done = self._terminate_drained(now)
        if done:
            reservation = self.last = self.tracker.reservation()  # N moved: decide on the new count
        snapshot = self.state.snapshot()
        mine = [snapshot.instance(i) for i in sorted(self.tracker.instances)]
        removing = sum(1 for instance in mine if _draining_for_scale_in(instance))
        empty = [
            instance
            for instance in mine
            if instance.status == "ACTIVE"
            and not _draining_for_scale_in(instance)
            and only_daemons_left(snapshot, instance.id)
        ]
        out = self.scale_out_alarm.evaluate(self.series, now=now)
        scale_in = self.scale_in_alarm.evaluate(self.series, now=now)
        decision = scaling_decision(
            self.provider,
            reservation,
            scale_out=out,
            scale_in=scale_in,
            warming=now < self.warm_until,
            removing=removing,
            empty=len(empty),
        )
        current = reservation.running - removing
        if decision.change > 0:
            done.append(self._launch(now, current, decision))
        elif decision.change < 0:
            done.extend(self._scale_in(now, current, decision, empty, snapshot))
        self.activities.extend(done)
        return done

    def _policy_cause(self, now: float, alarm: Alarm, current: int, desired: int) -> str:
        return (
            f"At {_when(now)} a monitor alarm {alarm.name} in state ALARM triggered policy "
            f"{self.provider.name}-managed-scaling changing the desired capacity from {current} to {desired}."
        )

    def _launch(self, now: float, current: int, decision: CapacityDecision) -> CapacityActivity:
        if decision.reason == "below the minimum size":
            cause = f"At {_when(now)} the minimum size ({self.provider.minimum_size}) asked for more instances."
        else:
            cause = self._policy_cause(now, self.scale_out_alarm, current, decision.desired)
        cause += (
            f" At {_when(now)} an instance was started in response to a difference between desired and actual"
            f" capacity, increasing the capacity from {current} to {decision.desired}."
        )
        try:
            launched = tuple(self.instances.launch(decision.change))
        except (ClusterkitError, OSError) as error:
            return CapacityActivity(now, "Launch", current, current, (), f"{cause} {error}", "Failed")
        finally:
            self.warm_until = self.clock() + self.provider.instance_warmup_period
        self.tracker.refresh()
        return CapacityActivity(now, "Launch", current, current + len(launched), launched, cause)

    def _scale_in(
        self, now: float, current: int, decision: CapacityDecision, empty: list[ContainerInstance], snapshot: Snapshot
    ) -> list[CapacityActivity]:
        chosen = sorted(empty, key=lambda instance: (-instance.registered_at, instance.id))[: -decision.change]
        cause = self._policy_cause(now, self.scale_in_alarm, current, decision.desired)
        if not self.provider.managed_termination_protection:
            ids = tuple(instance.id for instance in chosen)
            return [self._terminate(now, ids, current, cause)]
        changes = [
            UpdateInstance(
                instance.id,
                status="DRAINING",
                attributes={SCALE_IN_ATTRIBUTE: repr(now)},
                expected_version=instance.version,
            )
            for instance in chosen
        ]
        result = self.state.commit(changes)  # an instance that changed meanwhile is refused: decided again later
        drained = tuple(change.instance_id for change in result.accepted if isinstance(change, UpdateInstance))
        if not drained:
            return []
        cause += f" At {_when(now)} {len(drained)} instance(s) began draining (managed termination protection)."
        return [CapacityActivity(now, "Drain", current, current - len(drained), drained, cause)]

    def _terminate_drained(self, now: float) -> list[CapacityActivity]:
        """Terminate the instances drained for scale-in that hold no non-daemon task now."""
        snapshot = self.state.snapshot()
        ready = []
        for instance_id in sorted(self.tracker.instances):
            instance = snapshot.instance(instance_id)
            if _draining_for_scale_in(instance) and only_daemons_left(snapshot, instance_id):
                ready.append(instance_id)
        if not ready:
            return []
        count = len(self.tracker.instances)
        return [self._terminate(now, tuple(ready), count, "")]

    def _terminate(self, now: float, ids: tuple[str, ...], current: int, cause: str) -> CapacityActivity:
        gone: list[str] = []
        failure = ""
        for instance_id in ids:
            try:
                self.instances.terminate(instance_id)
                gone.append(instance_id)
            except (ClusterkitError, OSError) as error:
                failure = f" Terminating {instance_id} failed: {error}"
        self.tracker.refresh()
        cause = (
            f"{cause} At {_when(now)} an instance was taken out of service in response to a difference between"
            f" desired and actual capacity, shrinking the capacity from {current} to {current - len(gone)}."
        ).strip()
        status: Literal["Successful", "Failed"] = "Failed" if failure else "Successful"
        return CapacityActivity(now, "Terminate", current, current - len(gone), tuple(gone), cause + failure, status)

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, interval: float = 15.0) -> None:
        """Step every ``interval`` seconds until ``stop`` is set (by default the autoscaler's
        own, which :meth:`close` sets).

        A step that fails with a ClusterkitError (the store unreachable, say) is tried again
        on the next one; ``error`` holds its message meanwhile.
        """
        run_loop(
            stop if stop is not None else self._stop,
            self.step,
            interval=interval,
            survive=(ClusterkitError,),
            report=self._report,
        )

    def _report(self, error: BaseException | None) -> None:
        self.error = None if error is None else str(error)

    def close(self) -> None:
        """Stop following the state's commits, and ask :meth:`run` (without a ``stop`` of its own) to return."""
        self._stop.set()
        self.tracker.close()


def _draining_for_scale_in(instance: ContainerInstance) -> bool:
    return instance.status == "DRAINING" and instance.has_attribute(SCALE_IN_ATTRIBUTE)
