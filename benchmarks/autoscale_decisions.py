"""autoscale_decisions: service autoscaling decisions evaluated per second over many services.

A ``ClusterState`` holds 2,000 REPLICA services (no instances: no task runs, the figure is
the autoscaler's own cost). Each is a scalable target with two target-tracking policies
(CPU and memory utilisation, ECS's 3-of-3 and 15-of-15 alarms on 60 s periods) fed by a
``FedMetrics`` source whose values sit near the targets, so the steady passes decide
"no change" and commit nothing. Twenty simulated minutes of samples are taken first (not
timed). Then ``ServiceAutoscaler.step`` is timed, each step one minute later on the simulated
clock: it samples 4,000 metrics, reads both policies' datapoints from their series, and
decides for every service from a fresh snapshot.

``value`` = decisions per second in those steps (services ÷ step time; target ≥ 10,000/s).
``baseline`` = one ``MetricSeries.put`` plus one ``datapoints`` read of 15 periods, per
second — the least any decision must do with its metric; ``ratio`` = value ÷ baseline.
Also printed: the pure ``decide`` alone, and one step that commits a scale-out for 10 % of
the services.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Final

from benchmarks import _report
from clusterkit import ClusterState
from clusterkit.autoscaling import (
    CPU_UTILIZATION,
    MEMORY_UTILIZATION,
    FedMetrics,
    MetricSeries,
    PolicyData,
    ScalableTarget,
    ScalerMemory,
    ServiceAutoscaler,
    TargetTrackingPolicy,
    decide,
)

NAME: Final = "autoscale_decisions"
DESCRIPTION: Final = (
    "ServiceAutoscaler.step over 2,000 services × 2 target-tracking policies: decisions/s (target >= 10,000/s); "
    "baseline: MetricSeries put + 15-period read per second"
)
TARGET: Final = ">= 10000"
DEFINITION: Final = {
    "family": "web",
    "containerDefinitions": [{"name": "web", "image": "registry.local/web:1", "cpu": 256, "memory": 512}],
}
POLICIES: Final = (
    TargetTrackingPolicy("cpu", CPU_UTILIZATION, 60.0),
    TargetTrackingPolicy("memory", MEMORY_UTILIZATION, 70.0),
)


class Clock:
    """A simulated clock the benchmark moves."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def build(services: int) -> tuple[ClusterState, ServiceAutoscaler, FedMetrics, Clock]:
    clock = Clock()
    state = ClusterState("bench", clock=clock)
    state.register_task_definition(DEFINITION)
    fed = FedMetrics()
    scaler = ServiceAutoscaler(state, fed, clock=clock, sample_interval=60)
    for index in range(services):
        name = f"svc-{index:05d}"
        state.create_service(name, "web", desired_count=4)
        scaler.register_scalable_target(name, min_capacity=1, max_capacity=40)
        for policy in POLICIES:
            scaler.put_scaling_policy(name, policy)
        fed.put(name, CPU_UTILIZATION, 58.0)  # under the targets, not 10 % under: hold
        fed.put(name, MEMORY_UTILIZATION, 66.0)
    for _ in range(20):
        scaler.step()
        clock.now += 60
    return state, scaler, fed, clock


def series_rate(operations: int) -> float:
    """MetricSeries put + a 15-period read, per second."""
    series = MetricSeries(period=60)
    now = 1_700_000_000.0
    with _report.gc_paused():
        began = time.perf_counter()
        for _ in range(operations):
            series.put(58.0, at=now)
            series.datapoints("Average", count=15, now=now)
            now += 60
        elapsed = time.perf_counter() - began
    return operations / elapsed


def decide_rate(rounds: int) -> float:
    """The pure decide() alone, on two policies' datapoints, per second."""
    data = {"cpu": PolicyData((58.0,) * 15), "memory": PolicyData((66.0,) * 15)}
    target = ScalableTarget("svc", 1, 40)
    memory = ScalerMemory()
    with _report.gc_paused():
        began = time.perf_counter()
        for _ in range(rounds):
            decide(target, POLICIES, data, memory, current=4, now=1_700_000_000.0)
        elapsed = time.perf_counter() - began
    return rounds / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="200 services, 3 steps (smoke test)")
    parser.add_argument("--services", type=int, default=None, help="services (default 2,000)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10)")
    args = parser.parse_args(argv)
    services = args.services or (200 if args.quick else 2000)
    steps = args.steps or (3 if args.quick else 10)
    print(f"{NAME}: {services} services × {len(POLICIES)} target-tracking policies, {steps} timed steps")

    began = time.perf_counter()
    state, scaler, fed, clock = build(services)
    _report.line("setup (services, targets, 20 minutes of samples)", time.perf_counter() - began, "s")

    times: list[float] = []
    with _report.gc_paused():
        for _ in range(steps):
            start = time.perf_counter()
            activities = scaler.step()
            times.append(time.perf_counter() - start)
            assert activities == [], "a steady step changed a count"
            clock.now += 60
    per_step = sorted(times)[len(times) // 2]
    value = services / per_step
    _report.heading("steady steps (sample, read datapoints, decide; nothing to commit)")
    _report.line("step, median", per_step * 1000, "ms")
    _report.line("decisions per second (value)", value, "/s")

    busy = max(1, services // 10)
    for index in range(busy):
        fed.put(f"svc-{index:05d}", CPU_UTILIZATION, 90.0)
    committing = 0.0
    for _ in range(4):  # three complete minutes above the target: the high alarm fires on the fourth step
        clock.now += 60
        start = time.perf_counter()
        scaler.step()
        committing = time.perf_counter() - start
    fired = [a for a in scaler.describe_scaling_activities() if a.new > a.old]
    _report.heading(f"a step that scales out {busy} services (commits included)")
    _report.line("services scaled out", len(fired))
    _report.line("that step", committing * 1000, "ms")
    clock.now += 60
    start = time.perf_counter()
    scaler.step()
    _report.line("the next (steady) step", (time.perf_counter() - start) * 1000, "ms")

    pure = decide_rate(20_000 if not args.quick else 2_000)
    baseline = series_rate(100_000 if not args.quick else 10_000)
    _report.heading("for comparison")
    _report.line("decide() alone, two policies", pure, "/s")
    _report.line("MetricSeries put + 15-period read (baseline)", baseline, "/s")
    del state
    _report.finish(NAME, value, "decisions/s", TARGET, baseline=baseline, ratio=value / baseline)
    return 0
