"""packing_quality: how close does binpack come to the fewest instances the workload needs?

The workload of ``benchmarks._placement``: 150,000 tasks of 16 mixed log-uniform shapes
(seeded), placed through the public API as calls of ``state.run_task(family, count=500,
placement_strategy=[binpack("memory")])`` onto 6,000 instances of 16384 CPU units and
65536 MiB over three zones — enough that every task fits. Afterwards, instances used =
instances holding any task. The lower bound no packing can beat is
``max(⌈Σ cpu / 16384⌉, ⌈Σ memory / 65536⌉)`` over the tasks placed (the binding dimension
decides; with the default seed that is CPU). ``value`` = instances used ÷ lower bound for
``binpack("memory")`` run by ``BaseScheduler(balance=0.2)``, target <= 1.05: it sets aside
instances where a task would make memory (not binding) run more than 20% ahead of CPU.

Baseline: plain ECS ``binpack("memory")`` (``baseline`` = its ratio; ``ratio`` = value ÷
baseline). Any greedy rule that fills used instances before opening new ones ends at the
same count on this stream — batches of 500 identical tasks saturate the used instances
for their shape whatever the order — so ``binpack("cpu")`` gives the same figure; it,
``spread(instanceId)`` and ``random`` are reported in the text. ``--baseline-scale N`` runs the
baselines on a 1/N scale model instead (the first 1/N of the stream on 1/N of the
instances, with binpack(memory) on the same model for a like-for-like comparison), for when
a strategy that ranks every instance per task is too slow for the full size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Final

import attrs

from benchmarks import _report
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY
from benchmarks._placement import Batch, batches, instances_used, lower_bound, new_cluster, run_batches, shapes
from clusterkit import BaseScheduler
from clusterkit.placement import PlacementStrategy, binpack, random, spread

NAME: Final = "packing_quality"
DESCRIPTION: Final = "used instances ÷ lower bound, binpack + balance=0.2 (target <= 1.05; baseline: plain binpack)"
TARGET: Final = "<= 1.05"


@attrs.frozen
class Packing:
    """One packed cluster: what was placed and how many instances it took."""

    label: str
    instances: int
    placed: int
    failed: int
    used: int
    bound_cpu: int
    bound_memory: int
    cpu: int
    memory: int
    seconds: float
    cpu_full: int
    memory_full: int

    @property
    def bound(self) -> int:
        """The lower bound on the binding dimension."""
        return max(self.bound_cpu, self.bound_memory)

    @property
    def ratio(self) -> float:
        """Instances used ÷ lower bound."""
        return self.used / self.bound

    @property
    def cpu_use(self) -> float:
        """Share of the used instances' CPU the tasks hold."""
        return self.cpu / (self.used * INSTANCE_CPU)

    @property
    def memory_use(self) -> float:
        """Share of the used instances' memory the tasks hold."""
        return self.memory / (self.used * INSTANCE_MEMORY)


def pack(
    label: str,
    instances: int,
    work: Sequence[Batch],
    strategies: Sequence[PlacementStrategy],
    scheduler: BaseScheduler | None = None,
) -> Packing:
    """Run the stream into a fresh cluster of ``instances`` and count the instances used."""
    state = new_cluster(instances, sorted({item.shape for item in work}, key=lambda shape: shape.family))
    start = time.perf_counter()
    run = run_batches(state, work, strategies, scheduler=scheduler)
    elapsed = time.perf_counter() - start
    by_cpu, by_memory, _ = lower_bound(run.cpu, run.memory)
    smallest_cpu = min(item.shape.cpu for item in work)
    smallest_memory = min(item.shape.memory for item in work)
    left = [(i.remaining.cpu, i.remaining.memory) for i in state.snapshot().instances()]
    packing = Packing(
        label,
        instances,
        run.placed,
        run.failed,
        instances_used(state),
        by_cpu,
        by_memory,
        run.cpu,
        run.memory,
        elapsed,
        sum(1 for cpu, _ in left if cpu < smallest_cpu),
        sum(1 for _, memory in left if memory < smallest_memory),
    )
    print(
        f"  {label} on {instances:,} instances: {packing.placed:,} tasks in {elapsed:.1f} s, "
        f"{packing.used:,} instances used, lower bound {packing.bound:,} -> {packing.ratio:.3f}"
        + (f"; {packing.failed:,} tasks not placed" if packing.failed else ""),
        flush=True,
    )
    return packing


def report(packing: Packing) -> None:
    """The lines of one packing."""
    _report.line(
        f"{packing.label} ({packing.placed:,} tasks, {packing.instances:,} inst.)",
        packing.ratio,
        "",
        f"{packing.used:,} used / bound {packing.bound:,}; CPU {100 * packing.cpu_use:.1f}%, "
        f"memory {100 * packing.memory_use:.1f}% of the used instances",
    )
    stranded = (packing.used * INSTANCE_CPU - packing.cpu) / INSTANCE_CPU
    print(
        f"    {packing.cpu_full:,} instances CPU-full, {packing.memory_full:,} memory-full (less left than the "
        f"smallest task needs); CPU left idle on the used instances: {stranded:,.0f} instances' worth"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="15,000 tasks on 600 instances (smoke test)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks (default 150,000)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 6,000)")
    parser.add_argument("--baseline-scale", type=int, default=1, help="baselines on a 1/N scale model (default 1)")
    args = parser.parse_args(argv)
    tasks = args.tasks or (15_000 if args.quick else 150_000)
    instances = args.instances or (600 if args.quick else 6_000)
    scale = max(1, args.baseline_scale)

    shape_list = shapes()
    work = batches(tasks, shape_list)
    small_work = batches(max(1, tasks // scale), shape_list)
    small_instances = max(1, instances // scale)
    demand_cpu = sum(item.count * item.shape.cpu for item in work)
    demand_memory = sum(item.count * item.shape.memory for item in work)
    by_cpu, by_memory, bound = lower_bound(demand_cpu, demand_memory)
    print(
        f"{NAME}: {tasks:,} tasks of {len(shape_list)} shapes on {instances:,} instances, run_task batches of "
        f"{work[0].count}; lower bound {bound:,} instances (CPU {by_cpu:,}, memory {by_memory:,})"
    )

    _report.heading("packings (each into a fresh cluster)")
    balanced = pack("binpack(memory), balance=0.2", instances, work, [binpack("memory")], BaseScheduler(balance=0.2))
    main_packing = pack("binpack(memory)", instances, work, [binpack("memory")])
    cpu_packing = pack("binpack(cpu)", instances, work, [binpack("cpu")])
    label = f"1/{scale} scale model"
    if scale == 1:
        small_binpack = main_packing
    else:
        print(f"  baselines, {label}: {sum(b.count for b in small_work):,} tasks on {small_instances:,} instances")
        small_binpack = pack("binpack(memory)", small_instances, small_work, [binpack("memory")])
    spread_packing = pack("spread(instanceId)", small_instances, small_work, [spread("instanceId")])
    random_packing = pack("random", small_instances, small_work, [random(seed=1)])

    _report.heading("instances used ÷ lower bound (1.0 is perfect)")
    report(balanced)
    report(main_packing)
    report(cpu_packing)
    if scale != 1:
        print(f"  -- {label}:")
        report(small_binpack)
    report(spread_packing)
    report(random_packing)
    if main_packing.failed:
        print(f"  note: {main_packing.failed:,} tasks could not be placed; the bound counts the placed ones only")

    _report.finish(
        NAME,
        balanced.ratio,
        "used/bound",
        TARGET,
        baseline=main_packing.ratio,
        ratio=balanced.ratio / main_packing.ratio,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
