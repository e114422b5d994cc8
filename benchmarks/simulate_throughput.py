"""simulate_throughput: simulated task lifecycles per second, and a 4-policy comparison with its report.

A synthetic workload (``WorkloadSpec(seed=1)``): 1,000 instances of 16 cores and 64 GiB over
three zones, batch tasks arriving at 50/s for 2,000 s (about 100,000 tasks) in the default
shape mixture (256/512, 512/1024, 1024/2048 CPU units/MiB, weights 3:2:1), each running an
exponential time of mean 300 s, so about 15,000 run at once. ``clusterkit.sim.simulate`` plays
it against the binpack policy and the spread policy: every task is placed by the real
``BaseScheduler`` into the real ``ClusterState``, reported RUNNING and later STOPPED. A
lifecycle is one task placed, run and stopped; the rate is lifecycles ÷ wall seconds of
the whole run (sampling and the service scheduler's passes included).

Then ``clusterkit.sim.compare`` runs four policies (binpack, spread, random, ecs-default)
on the same workload and ``write_report`` writes the plots and the report: the time of
that whole comparison is the second figure (target <= 120 s).

``value`` = the slower policy's lifecycles/s (target >= 5,000); ``baseline`` = lifecycles/s
of the same real code driven directly, without the simulator (place_and_commit one
request of 20 tasks, commit RUNNING, commit STOPPED, on the same cluster shape and the same
binpack policy); ``ratio`` = value / baseline, the share of the raw speed the simulator keeps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from typing import Final

from benchmarks import _report
from clusterkit import BaseScheduler, ClusterState, PlacementRequest
from clusterkit.cli import BUILT_IN_POLICIES
from clusterkit.model import binpack
from clusterkit.placement import place_and_commit
from clusterkit.sim import BatchTask, SchedulingPolicy, WorkloadSpec, compare, generate_workload, simulate, write_report

NAME: Final = "simulate_throughput"
DESCRIPTION: Final = (
    "simulator: task lifecycles/s on 1,000 instances and ~100,000 tasks, binpack and spread "
    "(target >= 5,000/s each; a 4-policy comparison with report <= 120 s); baseline: the same code driven directly"
)
TARGET: Final = ">= 5000"
COMPARE_TARGET: Final = "<= 120"


def workload_spec(quick: bool) -> WorkloadSpec:
    """The benchmark's workload: ~100,000 tasks (~5,000 with ``quick``)."""
    return WorkloadSpec(
        seed=1,
        duration=100.0 if quick else 2000.0,
        instances=1000,
        instance_cpu=16384,
        instance_memory=65536,
        arrival_rate=50.0,
        mean_duration=300.0,
    )


def policy(name: str) -> SchedulingPolicy:
    """A built-in policy of the ``clusterkit`` command."""
    return SchedulingPolicy(name, BaseScheduler(seed=0), BUILT_IN_POLICIES[name])


def direct(tasks: int, spec: WorkloadSpec) -> float:
    """Lifecycles/s of the real code without the simulator: place 20, RUNNING, STOPPED."""
    state = ClusterState("direct")
    for index in range(spec.instances):
        zone = spec.zones[index % len(spec.zones)]
        state.register_container_instance(
            f"i-{index}", cpu=spec.instance_cpu, memory=spec.instance_memory,
            attributes={"ecs.availability-zone": zone},
        )  # fmt: skip
    container = {"name": "app", "image": "batch", "cpu": 512, "memory": 1024}
    definition = state.register_task_definition({"family": "batch", "containerDefinitions": [container]})
    scheduler = BaseScheduler(seed=0)
    request = PlacementRequest(definition, 20, strategies=[binpack("memory")])
    start = time.perf_counter()
    done = 0
    while done < tasks:
        placed = place_and_commit(state, scheduler, request).tasks
        running = [state.submit_task_state_change(t.id, version=t.version, status="RUNNING") for t in placed]
        for task in running:
            state.submit_task_state_change(task.id, version=task.version, status="STOPPED",
                                           stop_code="EssentialContainerExited")  # fmt: skip
        done += len(placed)
    return done / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; ``--quick`` runs ~5,000 tasks and compares on them."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="a small workload, to check the benchmark runs")
    args = parser.parse_args(argv)
    spec = workload_spec(args.quick)
    events = generate_workload(spec)
    tasks = sum(event.count for event in events if isinstance(event, BatchTask))
    _report.heading(f"{NAME}: {tasks:,} batch tasks on {spec.instances:,} instances")
    rates = {}
    for name in ("binpack", "spread"):
        start = time.perf_counter()
        metrics = simulate(events, policy(name))
        seconds = time.perf_counter() - start
        rates[name] = metrics.finished / seconds
        _report.line(f"{name}", f"{rates[name]:,.0f}", "lifecycles/s",
                     f"{metrics.finished:,} finished in {seconds:.1f} s; {metrics.duration:,.0f} simulated s; "
                     f"peak instances in use {metrics.peak_instances_in_use}")  # fmt: skip
    baseline = direct(2_000 if args.quick else 20_000, spec)
    _report.line("direct (no simulator)", f"{baseline:,.0f}", "lifecycles/s")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        runs = compare(events, [policy(name) for name in ("binpack", "spread", "random", "ecs-default")])
        write_report(runs, folder)
    seconds = time.perf_counter() - start
    verdict = "PASS" if _report.meets(seconds, COMPARE_TARGET) else "FAIL"
    _report.line("4-policy comparison with report", f"{seconds:.1f}", "s", f"target {COMPARE_TARGET}: {verdict}")
    for run in runs:
        _report.line(f"  {run.policy}", f"{run.peak_instances_in_use}", "peak instances in use",
                     f"mean CPU alloc {run.mean_cpu_utilisation:.3f}, wait p99 {run.wait_p99:.2f} s")  # fmt: skip
    value = min(rates.values())
    _report.finish(NAME, value, "lifecycles/s", TARGET, baseline=baseline, ratio=value / baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
