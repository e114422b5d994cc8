"""Compare scheduling policies on one workload in simulated time, before they touch a cluster.

Four policies place the same synthetic workload (Poisson arrivals with a daily swing, three
task shapes, two services whose tasks crash now and then) on 40 instances: ECS's binpack and
spread, random, and a business rule of our own, a binpack that keeps 25% of each instance's
CPU free for bursts. The real ClusterState, BaseScheduler and ServiceScheduler run on a
simulated clock; the report (plots, Markdown, HTML) goes to the folder given, or a temporary one.

    python examples/compare_policies.py [REPORT_FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from clusterkit import BaseScheduler, ContainerInstance
from clusterkit.model import binpack, random, spread
from clusterkit.placement import PlacementContext, Rejected
from clusterkit.sim import SchedulingPolicy, WorkloadSpec, compare, generate_workload, write_report


class Headroom(BaseScheduler):
    """Binpack, but never fill an instance's CPU past 75%."""

    def check(self, instance: ContainerInstance, context: PlacementContext) -> Rejected | str | None:
        after = context.remaining(instance).cpu - context.request.task_definition.charge.cpu
        if after < instance.registered.cpu // 4:
            return "HEADROOM"
        return super().check(instance, context)


workload = generate_workload(
    WorkloadSpec(seed=42, duration=1800, instances=40, arrival_rate=0.8, diurnal_amplitude=0.6,
                 diurnal_period=1800, mean_duration=240, services=2, crash_rate=2.0)
)  # fmt: skip
policies = [
    SchedulingPolicy("binpack", BaseScheduler(seed=1), [binpack("cpu")]),
    SchedulingPolicy(
        "spread", BaseScheduler(seed=1), [spread("attribute:ecs.availability-zone"), spread("instanceId")]
    ),
    SchedulingPolicy("random", BaseScheduler(seed=1), [random()]),
    SchedulingPolicy("headroom", Headroom(seed=1), [binpack("cpu")]),
]
runs = compare(workload, policies, seed=7)
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="clusterkit-compare-"))
page = write_report(runs, folder, title="Four policies on a synthetic day")

print(f"{'policy':10} {'placed':>7} {'peak in use':>12} {'mean in use':>12} {'wait p99':>9} {'stranded CPU':>13}")
for run in runs:
    print(f"{run.policy:10} {run.placed:7} {run.peak_instances_in_use:12} {run.mean_instances_in_use:12.1f} "
          f"{run.wait_p99:8.1f}s {run.mean_stranded_cpu:13.0f}")  # fmt: skip
fewest = min(runs, key=lambda run: run.mean_instances_in_use)
print(f"fewest instances in use on average: {fewest.policy}")
print(f"report: {page}")
