"""Alarms over a metric series: "M out of N datapoints breach the threshold", as CloudWatch decides.

An ``Alarm`` looks at the last ``evaluation_periods`` complete datapoints of a
``MetricSeries`` and is in ALARM when at least ``datapoints_to_alarm`` of them breach its
threshold. Missing datapoints never breach (CloudWatch's ``missing`` treatment); with no
datapoint at all the alarm has INSUFFICIENT_DATA, so nothing that needs it acts.
"""

from __future__ import annotations

from typing import Literal

import attrs

from clusterkit.autoscaling._metrics import STATISTICS, MetricSeries, Statistic
from clusterkit.errors import ValidationError

__all__ = ["Alarm", "AlarmComparison", "AlarmState", "COMPARISONS"]

AlarmComparison = Literal[
    "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]
"""How a datapoint is compared with the threshold to breach it."""
COMPARISONS: frozenset[str] = frozenset(
    {"GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"}
)
AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
"""An alarm's state after one evaluation."""


@attrs.frozen
class Alarm:
    """Breach ``threshold`` in ``datapoints_to_alarm`` of the last ``evaluation_periods`` datapoints.

    ``datapoints_to_alarm`` defaults to ``evaluation_periods`` (N out of N).
    """

    name: str
    threshold: float
    comparison: AlarmComparison
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    statistic: Statistic = "Average"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("AlarmName", self.name, "must be a non-empty string")
        if self.comparison not in COMPARISONS:
            raise ValidationError("ComparisonOperator", self.comparison, f"must be one of {sorted(COMPARISONS)}")
        if self.statistic not in STATISTICS:
            raise ValidationError("Statistic", self.statistic, f"must be one of {sorted(STATISTICS)}")
        if type(self.evaluation_periods) is not int or self.evaluation_periods < 1:
            raise ValidationError("EvaluationPeriods", self.evaluation_periods, "must be a whole number >= 1")
        needed = self.datapoints_to_alarm
        if needed is not None and (type(needed) is not int or not 1 <= needed <= self.evaluation_periods):
            bound = self.evaluation_periods
            raise ValidationError("DatapointsToAlarm", needed, f"must be a whole number in 1..{bound}")

    @property
    def needed(self) -> int:
        """How many breaching datapoints put the alarm in ALARM."""
        return self.datapoints_to_alarm if self.datapoints_to_alarm is not None else self.evaluation_periods

    def breaches(self, value: float) -> bool:
        """Whether one datapoint breaches the threshold."""
        if self.comparison == "GreaterThanThreshold":
            return value > self.threshold
        if self.comparison == "GreaterThanOrEqualToThreshold":
            return value >= self.threshold
        if self.comparison == "LessThanThreshold":
            return value < self.threshold
        return value <= self.threshold

    def state(self, datapoints: list[float | None]) -> AlarmState:
        """The state these datapoints (oldest first, None for missing) put the alarm in."""
        present = [value for value in datapoints[-self.evaluation_periods :] if value is not None]
        if not present:
            return "INSUFFICIENT_DATA"
        breaching = sum(1 for value in present if self.breaches(value))
        return "ALARM" if breaching >= self.needed else "OK"

    def evaluate(self, series: MetricSeries, *, now: float) -> AlarmState:
        """The alarm's state over ``series`` at ``now``."""
        return self.state(series.datapoints(self.statistic, count=self.evaluation_periods, now=now))
