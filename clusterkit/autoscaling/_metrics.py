"""Metric time series grouped into fixed periods, as CloudWatch keeps them.

A ``MetricSeries`` takes samples ``(time, value)`` and answers with one datapoint per
period (60 s by default) in the statistic an alarm asks for. A period counts only once
it is complete: the datapoint for ``[k·P, (k+1)·P)`` exists from ``(k+1)·P`` on.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
from sortedcontainers import SortedDict

from clusterkit.errors import ValidationError

__all__ = ["STATISTICS", "MetricSeries", "Statistic"]

Statistic = Literal["Average", "Minimum", "Maximum", "Sum", "SampleCount"]
"""How the samples of one period become its datapoint."""
STATISTICS: frozenset[str] = frozenset({"Average", "Minimum", "Maximum", "Sum", "SampleCount"})


@attrs.define
class _Period:
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def statistic(self, statistic: Statistic) -> float:
        if statistic == "Average":
            return self.total / self.count
        if statistic == "Minimum":
            return self.low
        if statistic == "Maximum":
            return self.high
        if statistic == "Sum":
            return self.total
        return float(self.count)


class MetricSeries:
    """Samples of one metric, kept per period for ``retention`` periods. ``put`` is O(log n).

    >>> series = MetricSeries(period=60)
    >>> series.put(30.0, at=10); series.put(50.0, at=20); series.put(90.0, at=70)
    >>> series.datapoints("Average", count=2, now=125)
    [40.0, 90.0]
    """

    def __init__(self, *, period: float = 60.0, retention: int = 1440) -> None:
        if not (isinstance(period, int | float) and period > 0):
            raise ValidationError("period", period, "must be a positive number of seconds")
        if type(retention) is not int or retention < 1:
            raise ValidationError("retention", retention, "must be a positive whole number of periods")
        self.period = float(period)
        self.retention = retention
        self._periods: SortedDict[int, _Period] = SortedDict()

    def put(self, value: float, *, at: float) -> None:
        """Record one sample taken at ``at`` (seconds)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError("value", value, "must be a finite number")
        index = math.floor(at / self.period)
        period = self._periods.get(index)
        if period is None:
            period = self._periods[index] = _Period()
            while len(self._periods) > self.retention:
                self._periods.popitem(0)
        period.add(float(value))

    def datapoints(self, statistic: Statistic, *, count: int, now: float) -> list[float | None]:
        """The last ``count`` complete periods before ``now``, oldest first; None where no sample fell."""
        if statistic not in STATISTICS:
            raise ValidationError("statistic", statistic, f"must be one of {sorted(STATISTICS)}")
        last = math.floor(now / self.period) - 1
        points: list[float | None] = []
        for index in range(last - count + 1, last + 1):
            period = self._periods.get(index)
            points.append(None if period is None else period.statistic(statistic))
        return points

    def latest(self, statistic: Statistic, *, now: float) -> float | None:
        """The datapoint of the newest complete period before ``now`` (None if it had no sample)."""
        return self.datapoints(statistic, count=1, now=now)[0]
