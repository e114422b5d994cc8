"""What a simulation run measured: totals, and samples over time.

The names follow the Omega simulator's report where it has one (transactions, conflict
fraction, wait time). Everything here is a plain value, so ``RunMetrics.to_json`` gives the
same bytes for the same run: wall-clock figures live in ``RunResult``, not here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

import attrs

__all__ = ["RunMetrics", "Sample", "percentile", "time_mean"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted ``values`` (0.0 for none)."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(values)))
    return float(values[rank - 1])


def time_mean(samples: Sequence[Sample], value: Callable[[Sample], float]) -> float:
    """The mean of ``value`` over the time ``samples`` (in time order) span: the area under the
    line through them, by the trapezoidal rule, over that time. Samples taken at one moment
    only (or one sample) give their plain mean; no samples give 0.0.
    """
    if not samples:
        return 0.0
    span = samples[-1].time - samples[0].time
    if span <= 0:
        return sum(value(sample) for sample in samples) / len(samples)
    area = sum((later.time - earlier.time) * (value(earlier) + value(later)) for earlier, later in pairwise(samples))
    return area / 2 / span


@attrs.frozen
class Sample:
    """The cluster at one moment of a run (seconds since the workload's start).

    ``stranded_cpu`` and ``stranded_memory`` are the free resources on ACTIVE instances where
    none of the shapes waiting at that moment fits (fragmentation); 0 when nothing waits.
    """

    time: float
    instances: int
    instances_in_use: int
    cpu_registered: int
    cpu_allocated: int
    memory_registered: int
    memory_allocated: int
    running_tasks: int
    pending_tasks: int
    stranded_cpu: int
    stranded_memory: int

    @property
    def cpu_utilisation(self) -> float:
        """CPU allocated / registered (0 with no instances)."""
        return self.cpu_allocated / self.cpu_registered if self.cpu_registered else 0.0

    @property
    def memory_utilisation(self) -> float:
        """Memory allocated / registered (0 with no instances)."""
        return self.memory_allocated / self.memory_registered if self.memory_registered else 0.0


@attrs.frozen
class RunMetrics:
    """One policy's run on one workload.

    Task counts: ``submitted`` batch tasks arrived, ``placed`` were committed to an
    instance, ``finished`` ran to the end, ``lost`` went with an instance that left,
    ``pending`` still waited at the end. ``wait_*`` are the batch tasks' times from arrival
    to placement (seconds; nearest-rank percentiles), ``wait_cdf`` their 0th, 1st, …, 100th
    percentiles (empty with no batch tasks); a task still waiting at the end counts with its
    wait so far (censored at the end). ``transactions`` are the schedulers' commits of
    placements, ``conflicted_transactions`` those with at least one placement rejected after
    another scheduler (a batch scheduler or the service scheduler) committed since the
    plan's snapshot (``conflicts`` such placements), and ``conflict_fraction`` = conflicted /
    transactions; ``retries`` are rejected placements planned again, conflicts or not.
    ``placement_failures`` counts, per reason, the tasks a scheduler could not place on a
    try. ``service_seconds_below_desired`` is, per service, the time its RUNNING tasks were
    fewer than its desired count; ``scaling_activities`` the autoscalers' decisions;
    ``instance_hours`` the instances registered, integrated over time (cost). The ``mean_*``
    figures are means over time: the area under the line through the samples, over the
    time they span.
    """

    policy: str
    seed: int
    duration: float
    submitted: int
    placed: int
    finished: int
    lost: int
    pending: int
    wait_p50: float
    wait_p90: float
    wait_p99: float
    wait_max: float
    wait_cdf: tuple[float, ...]
    transactions: int
    conflicted_transactions: int
    conflicts: int
    retries: int
    commits: int
    placement_failures: Mapping[str, int]
    service_seconds_below_desired: Mapping[str, float]
    scaling_activities: int
    instance_hours: float
    samples: tuple[Sample, ...]

    @property
    def conflict_fraction(self) -> float:
        """Conflicted transactions per transaction (0 with none)."""
        return self.conflicted_transactions / self.transactions if self.transactions else 0.0

    @property
    def mean_cpu_utilisation(self) -> float:
        """CPU allocated / registered, averaged over time."""
        return time_mean(self.samples, lambda sample: sample.cpu_utilisation)

    @property
    def mean_memory_utilisation(self) -> float:
        """Memory allocated / registered, averaged over time."""
        return time_mean(self.samples, lambda sample: sample.memory_utilisation)

    @property
    def peak_instances_in_use(self) -> int:
        """The most instances holding at least one task at a sample."""
        return max((sample.instances_in_use for sample in self.samples), default=0)

    @property
    def mean_instances_in_use(self) -> float:
        """Instances holding at least one task, averaged over time."""
        return time_mean(self.samples, lambda sample: sample.instances_in_use)

    @property
    def mean_stranded_cpu(self) -> float:
        """Stranded CPU units, averaged over time."""
        return time_mean(self.samples, lambda sample: sample.stranded_cpu)

    @property
    def mean_stranded_memory(self) -> float:
        """Stranded memory (MiB), averaged over time."""
        return time_mean(self.samples, lambda sample: sample.stranded_memory)

    def summary(self) -> dict[str, Any]:
        """The headline figures, one flat mapping (what the report's table shows)."""
        return {
            "policy": self.policy,
            "placed": self.placed,
            "pending": self.pending,
            "wait p50 (s)": round(self.wait_p50, 3),
            "wait p99 (s)": round(self.wait_p99, 3),
            "mean CPU alloc": round(self.mean_cpu_utilisation, 4),
            "mean memory alloc": round(self.mean_memory_utilisation, 4),
            "peak instances in use": self.peak_instances_in_use,
            "mean stranded CPU": round(self.mean_stranded_cpu, 1),
            "conflict fraction": round(self.conflict_fraction, 4),
            "retries": self.retries,
            "instance-hours": round(self.instance_hours, 3),
        }

    def to_json(self) -> str:
        """Every figure as JSON, keys sorted: the same run gives the same bytes."""
        data = attrs.asdict(self, recurse=True)
        data["samples"] = [attrs.asdict(sample) for sample in self.samples]
        data["placement_failures"] = dict(sorted(self.placement_failures.items()))
        data["service_seconds_below_desired"] = dict(sorted(self.service_seconds_below_desired.items()))
        data["conflict_fraction"] = self.conflict_fraction
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
