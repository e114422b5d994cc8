"""What a user registers to scale a service, in Application Auto Scaling's terms.

A ``ScalableTarget`` bounds a service's desired count; ``TargetTrackingPolicy`` keeps a
metric near a target value, ``StepScalingPolicy`` adds or removes capacity by how far an
alarm's metric is past its threshold, ``ScheduledAction`` changes the bounds at a time.
Each decision is recorded as a ``ScalingActivity``. All are frozen values; bad input raises
``ValidationError`` naming the field as Application Auto Scaling names it (``MinCapacity``,
``TargetValue``, ``StepAdjustments[1].MetricIntervalLowerBound``, …).
"""

from __future__ import annotations

import itertools
import math
from typing import Final, Literal

import attrs

from clusterkit.autoscaling._alarms import Alarm
from clusterkit.autoscaling._metrics import Statistic
from clusterkit.errors import ValidationError

__all__ = [
    "ADJUSTMENT_TYPES",
    "ALB_REQUEST_COUNT_PER_TARGET",
    "AdjustmentType",
    "CPU_UTILIZATION",
    "MEMORY_UTILIZATION",
    "PREDEFINED_METRICS",
    "ScalableTarget",
    "ScalingActivity",
    "ScalingPolicy",
    "ScheduledAction",
    "StepAdjustment",
    "StepScalingPolicy",
    "TargetTrackingPolicy",
]

CPU_UTILIZATION: Final = "ECSServiceAverageCPUUtilization"
"""CPU units the service's RUNNING tasks use, as a percentage of the units they reserve."""
MEMORY_UTILIZATION: Final = "ECSServiceAverageMemoryUtilization"
"""Memory the service's RUNNING tasks use, as a percentage of the memory they reserve."""
ALB_REQUEST_COUNT_PER_TARGET: Final = "ALBRequestCountPerTarget"
"""Requests per target of the service's target group in a period."""
PREDEFINED_METRICS: Final = frozenset({CPU_UTILIZATION, MEMORY_UTILIZATION, ALB_REQUEST_COUNT_PER_TARGET})
"""ECS's predefined metric names; any other non-empty name is a custom metric."""

AdjustmentType = Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]
"""How a step's ``scaling_adjustment`` changes the capacity."""
ADJUSTMENT_TYPES: Final = frozenset({"ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"})
_AGGREGATIONS: Final = ("Average", "Minimum", "Maximum")
_MAX_CAPACITY: Final = 1_000_000


def _check_name(field: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise ValidationError(field, value, "must be a non-empty string of at most 256 characters")


def _check_capacity(field: str, value: object) -> None:
    if type(value) is not int or not 0 <= value <= _MAX_CAPACITY:
        raise ValidationError(field, value, f"must be a whole number in 0..{_MAX_CAPACITY}")


def _check_seconds(field: str, value: object) -> None:
    if type(value) is not int or not 0 <= value <= 31_536_000:
        raise ValidationError(field, value, "must be a whole number of seconds in 0..31536000")


def _check_periods(field: str, value: object) -> None:
    if type(value) is not int or value < 1:
        raise ValidationError(field, value, "must be a whole number >= 1")


def _check_number(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, value, "must be a finite number")


@attrs.frozen(slots=True)
class ScalableTarget:
    """A service whose desired count autoscaling keeps within ``[min_capacity, max_capacity]``."""

    service: str
    min_capacity: int
    max_capacity: int

    def __attrs_post_init__(self) -> None:
        _check_name("ResourceId", self.service)
        _check_capacity("MinCapacity", self.min_capacity)
        _check_capacity("MaxCapacity", self.max_capacity)
        if self.min_capacity > self.max_capacity:
            raise ValidationError("MaxCapacity", self.max_capacity, f"must be >= MinCapacity ({self.min_capacity})")

    def clamp(self, capacity: int) -> int:
        """``capacity`` brought within the bounds."""
        return min(self.max_capacity, max(self.min_capacity, capacity))


@attrs.frozen(slots=True)
class TargetTrackingPolicy:
    """Keep ``metric`` near ``target_value`` by changing the desired count.

    Two alarms watch the metric's per-period averages (``period`` seconds): the high one is
    in ALARM when ``scale_out_datapoints`` of the last ``scale_out_periods`` are above the
    target (3 of 3 one-minute datapoints by default); the low one when
    ``scale_in_datapoints`` of the last ``scale_in_periods`` are more than
    ``scale_in_margin`` (a fraction) below it (15 of 15, 10 %). Either alarm asks for
    ``⌈current · metric / target⌉`` tasks. ``disable_scale_in`` leaves scale-in to others.
    """

    name: str
    metric: str
    target_value: float
    scale_out_cooldown: int = 300
    scale_in_cooldown: int = 300
    disable_scale_in: bool = False
    period: float = 60.0
    scale_out_periods: int = 3
    scale_out_datapoints: int | None = None
    scale_in_periods: int = 15
    scale_in_datapoints: int | None = None
    scale_in_margin: float = 0.1

    def __attrs_post_init__(self) -> None:
        _check_name("PolicyName", self.name)
        _check_name("MetricName", self.metric)
        _check_number("TargetValue", self.target_value)
        if self.target_value <= 0:
            raise ValidationError("TargetValue", self.target_value, "must be greater than 0")
        _check_seconds("ScaleOutCooldown", self.scale_out_cooldown)
        _check_seconds("ScaleInCooldown", self.scale_in_cooldown)
        if not isinstance(self.disable_scale_in, bool):
            raise ValidationError("DisableScaleIn", self.disable_scale_in, "must be true or false")
        _check_number("Period", self.period)
        if self.period <= 0:
            raise ValidationError("Period", self.period, "must be a positive number of seconds")
        _check_number("ScaleInMargin", self.scale_in_margin)
        if not 0 <= self.scale_in_margin < 1:
            raise ValidationError("ScaleInMargin", self.scale_in_margin, "must be a fraction in [0, 1)")
        self.high_alarm("check")  # the alarms validate their periods and datapoints
        self.low_alarm("check")

    def high_alarm(self, service: str) -> Alarm:
        """The alarm that scales out: the metric above the target."""
        return Alarm(
            f"TargetTracking-service/{service}-AlarmHigh-{self.name}",
            self.target_value,
            "GreaterThanThreshold",
            evaluation_periods=self.scale_out_periods,
            datapoints_to_alarm=self.scale_out_datapoints,
        )

    def low_alarm(self, service: str) -> Alarm:
        """The alarm that scales in: the metric more than the margin below the target."""
        return Alarm(
            f"TargetTracking-service/{service}-AlarmLow-{self.name}",
            self.target_value * (1 - self.scale_in_margin),
            "LessThanThreshold",
            evaluation_periods=self.scale_in_periods,
            datapoints_to_alarm=self.scale_in_datapoints,
        )

    @property
    def window(self) -> int:
        """How many datapoints the two alarms look at, at most."""
        return max(self.scale_out_periods, self.scale_in_periods)


@attrs.frozen(slots=True)
class StepAdjustment:
    """Add ``scaling_adjustment`` when the metric minus the threshold lies in ``[lower, upper)``.

    A missing bound is infinite (``None`` lower: −∞, ``None`` upper: +∞). For an alarm on a
    low metric (``LessThan…``) the interval is ``(lower, upper]``, as Application Auto
    Scaling compares below the threshold.
    """

    scaling_adjustment: int
    lower: float | None = None
    upper: float | None = None

    def contains(self, difference: float, *, below: bool = False) -> bool:
        """Whether the metric's distance from the threshold falls in this step (``below``: a low alarm's)."""
        low = -math.inf if self.lower is None else self.lower
        high = math.inf if self.upper is None else self.upper
        if below:
            return low < difference <= high
        return low <= difference < high


def _as_tuple(value: object) -> object:
    """A list or other iterable of steps as a tuple (anything else is left for validation to refuse)."""
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


@attrs.frozen(slots=True)
class StepScalingPolicy:
    """Change the capacity by the step the alarm's metric falls in, when ``alarm`` is in ALARM.

    ``step_adjustments`` cover the metric's distance from the alarm's threshold without gaps
    or overlaps. ``PercentChangeInCapacity`` rounds toward zero, moves at least one task,
    and at least ``min_adjustment_magnitude`` when given. The step is picked from the newest
    datapoint in ``metric_aggregation`` (the alarm judges in its own statistic); ``cooldown``
    follows every change it makes.
    """

    name: str
    metric: str
    alarm: Alarm
    adjustment_type: AdjustmentType
    step_adjustments: tuple[StepAdjustment, ...] = attrs.field(converter=_as_tuple)
    min_adjustment_magnitude: int | None = None
    cooldown: int = 300
    metric_aggregation: Statistic = "Average"
    period: float = 60.0

    def __attrs_post_init__(self) -> None:
        _check_name("PolicyName", self.name)
        _check_name("MetricName", self.metric)
        if not isinstance(self.alarm, Alarm):
            raise ValidationError("Alarms", self.alarm, "must be an Alarm")
        if self.adjustment_type not in ADJUSTMENT_TYPES:
            raise ValidationError("AdjustmentType", self.adjustment_type, f"must be one of {sorted(ADJUSTMENT_TYPES)}")
        magnitude = self.min_adjustment_magnitude
        if magnitude is not None:
            if type(magnitude) is not int or magnitude < 1:
                raise ValidationError("MinAdjustmentMagnitude", magnitude, "must be a whole number >= 1")
            if self.adjustment_type != "PercentChangeInCapacity":
                raise ValidationError("MinAdjustmentMagnitude", magnitude, "applies only to PercentChangeInCapacity")
        _check_seconds("Cooldown", self.cooldown)
        if self.metric_aggregation not in _AGGREGATIONS:
            raise ValidationError(
                "MetricAggregationType", self.metric_aggregation, f"must be one of {list(_AGGREGATIONS)}"
            )
        _check_number("Period", self.period)
        if self.period <= 0:
            raise ValidationError("Period", self.period, "must be a positive number of seconds")
        _check_steps(self.step_adjustments, self.adjustment_type)

    def step_for(self, value: float) -> StepAdjustment | None:
        """The step the metric ``value`` falls in (None if none covers it)."""
        difference = value - self.alarm.threshold
        below = self.alarm.comparison.startswith("Less")
        return next((step for step in self.step_adjustments if step.contains(difference, below=below)), None)

    def capacity(self, current: int, step: StepAdjustment) -> int:
        """The capacity ``step`` asks for from ``current`` (before the target's bounds)."""
        adjustment = step.scaling_adjustment
        if self.adjustment_type == "ExactCapacity":
            return adjustment
        if self.adjustment_type == "ChangeInCapacity":
            return current + adjustment
        change = math.trunc(current * adjustment / 100)  # toward zero
        if adjustment and abs(change) < 1:
            change = 1 if adjustment > 0 else -1
        magnitude = self.min_adjustment_magnitude
        if magnitude is not None and adjustment and abs(change) < magnitude:
            change = magnitude if adjustment > 0 else -magnitude
        return current + change


def _check_steps(steps: object, adjustment_type: str) -> None:
    if not isinstance(steps, tuple) or not steps:
        raise ValidationError("StepAdjustments", steps, "must be a non-empty tuple of StepAdjustment")
    for index, step in enumerate(steps):
        field = f"StepAdjustments[{index}]"
        if not isinstance(step, StepAdjustment):
            raise ValidationError(field, step, "must be a StepAdjustment")
        if type(step.scaling_adjustment) is not int:
            raise ValidationError(f"{field}.ScalingAdjustment", step.scaling_adjustment, "must be a whole number")
        if adjustment_type == "ExactCapacity" and step.scaling_adjustment < 0:
            raise ValidationError(
                f"{field}.ScalingAdjustment", step.scaling_adjustment, "must be >= 0 for ExactCapacity"
            )
        for bound, name in ((step.lower, "MetricIntervalLowerBound"), (step.upper, "MetricIntervalUpperBound")):
            if bound is not None:
                _check_number(f"{field}.{name}", bound)
        if step.lower is None and step.upper is None:
            raise ValidationError(f"{field}.MetricIntervalLowerBound", None, "and the upper bound cannot both be null")
        if step.lower is not None and step.upper is not None and step.lower >= step.upper:
            raise ValidationError(
                f"{field}.MetricIntervalUpperBound", step.upper, f"must be > the lower bound ({step.lower})"
            )
    order = sorted(range(len(steps)), key=lambda i: -math.inf if steps[i].lower is None else steps[i].lower)
    first, last = steps[order[0]], steps[order[-1]]
    for previous, index in itertools.pairwise(order):
        before, step = steps[previous], steps[index]
        field = f"StepAdjustments[{index}].MetricIntervalLowerBound"
        if step.lower is None:
            raise ValidationError(field, None, "only one step may have a null lower bound")
        if before.upper is None or step.lower < before.upper:
            raise ValidationError(field, step.lower, f"overlaps StepAdjustments[{previous}]")
        if step.lower > before.upper:
            raise ValidationError(
                field, step.lower, f"leaves a gap after StepAdjustments[{previous}] (upper {before.upper})"
            )
    low = -math.inf if first.lower is None else first.lower
    high = math.inf if last.upper is None else last.upper
    if low > 0:
        raise ValidationError(
            f"StepAdjustments[{order[0]}].MetricIntervalLowerBound", low, "leaves a gap above the threshold (0)"
        )
    if high < 0:
        raise ValidationError(
            f"StepAdjustments[{order[-1]}].MetricIntervalUpperBound", high, "leaves a gap below the threshold (0)"
        )
    # Application Auto Scaling: the steps reach to infinity on each side they extend past 0,
    # so a metric beyond the last bound still gets a step (it never silently changes nothing)
    if 0 < high < math.inf:
        raise ValidationError(
            f"StepAdjustments[{order[-1]}].MetricIntervalUpperBound",
            high,
            "a step has a positive upper bound, so one step must have a null upper bound",
        )
    if -math.inf < low < 0:
        raise ValidationError(
            f"StepAdjustments[{order[0]}].MetricIntervalLowerBound",
            low,
            "a step has a negative lower bound, so one step must have a null lower bound",
        )


@attrs.frozen(slots=True)
class ScheduledAction:
    """At ``at`` (seconds since the epoch) set the target's bounds; a None bound stays as it is.

    A desired count below the new minimum scales out to it, one above the new maximum in.
    """

    name: str
    at: float
    min_capacity: int | None = None
    max_capacity: int | None = None

    def __attrs_post_init__(self) -> None:
        _check_name("ScheduledActionName", self.name)
        _check_number("Schedule", self.at)
        if self.min_capacity is None and self.max_capacity is None:
            raise ValidationError("ScalableTargetAction", None, "must set MinCapacity, MaxCapacity or both")
        if self.min_capacity is not None:
            _check_capacity("ScalableTargetAction.MinCapacity", self.min_capacity)
        if self.max_capacity is not None:
            _check_capacity("ScalableTargetAction.MaxCapacity", self.max_capacity)
        if self.min_capacity is not None and self.max_capacity is not None and self.min_capacity > self.max_capacity:
            raise ValidationError(
                "ScalableTargetAction.MaxCapacity", self.max_capacity, f"must be >= MinCapacity ({self.min_capacity})"
            )

    def apply(self, target: ScalableTarget) -> ScalableTarget:
        """The target with this action's bounds (the other bound moved along if they would cross)."""
        low = target.min_capacity if self.min_capacity is None else self.min_capacity
        high = target.max_capacity if self.max_capacity is None else self.max_capacity
        if self.min_capacity is None:
            low = min(low, high)
        if self.max_capacity is None:
            high = max(low, high)
        return ScalableTarget(target.service, low, high)


ScalingPolicy = TargetTrackingPolicy | StepScalingPolicy
"""A scaling policy of either kind."""


@attrs.frozen(slots=True)
class ScalingActivity:
    """One change of a service's desired count, and why.

    ``cause`` reads as Application Auto Scaling writes it: ``monitor alarm … in state ALARM
    triggered policy …``; ``status`` is ``Successful``, or ``Failed`` when the commit was
    refused (``status_message`` says why).
    """

    time: float
    service: str
    old: int
    new: int
    cause: str
    status: Literal["Successful", "Failed"] = "Successful"
    status_message: str = ""

    @property
    def description(self) -> str:
        """What was done, as the activity's description reads."""
        return f"Setting desired count to {self.new}."
