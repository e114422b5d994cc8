"""placement_throughput: tasks placed per second by run_task, binpack(memory), 150,000 tasks on 5,000 instances.

The workload (``benchmarks._placement``): 5,000 instances of 16384 CPU units and 65536 MiB
over three availability zones (attribute ``ecs.availability-zone``), 16 single-container
task definitions of mixed shapes (CPU 128–1024 units, memory 256–2048 MiB, log-uniform, seeded), and
150,000 tasks placed through the public API as 300 calls of
``state.run_task(family, count=500, placement_strategy=[binpack("memory")])``, the shape
drawn per call from a seeded RNG. Every task is planned by the built-in BaseScheduler and
committed (plan → commit → retry loop). ``value`` = tasks placed / wall seconds of the
run_task calls (instance and definition registration not timed), the best of 2 runs
(each into a fresh cluster; ``--runs``); target >= 15,000/s.

Reported in the text only: ``binpack(cpu)`` on the whole stream, its runs alternating
with the binpack(memory) ones, and its time per task ÷ binpack(memory)'s (``binpack_cpu``
is the benchmark of that ratio); and, each on a fresh cluster of the same size and the
first 30,000 tasks of the same stream:

* ``spread(attribute:ecs.availability-zone)`` then ``binpack(memory)`` (clusterkit's and
  ECS's usual service default);
* ``binpack(memory)`` with the constraint
  ``memberOf(attribute:ecs.availability-zone in [zone-a, zone-b])``.

Each of these stops early once its run_task calls have taken ``--budget`` seconds (the
report says so), so the benchmark stays bounded while a strategy is slow. No baseline:
``baseline`` and ``ratio`` are null. The cyclic GC stays on, as in a service; the time it
takes is shown per run. ``--profile`` adds cProfile summaries of the whole binpack run and
of about two seconds' worth of the spread run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

from benchmarks import _report
from benchmarks._placement import (
    ZONE_ATTRIBUTE,
    batches,
    lower_bound,
    measure,
    new_cluster,
    profile_top,
    run_batches,
    shapes,
    strategy_text,
)
from benchmarks.binpack_cpu import paired_runs, report
from clusterkit.placement import binpack, spread

NAME: Final = "placement_throughput"
DESCRIPTION: Final = "run_task placements/s, binpack(memory), 150k mixed tasks on 5k instances (target >= 15,000/s)"
TARGET: Final = ">= 15000"
MEMBER_OF: Final = f"attribute:{ZONE_ATTRIBUTE} in [zone-a, zone-b]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="15,000 tasks on 500 instances, variants 3,000 (smoke)")
    parser.add_argument("--tasks", type=int, default=None, help="binpack tasks (default 150,000)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 5,000)")
    parser.add_argument("--variant-tasks", type=int, default=None, help="tasks of each text-only variant (30,000)")
    parser.add_argument("--batch", type=int, default=500, help="tasks per run_task call (default 500)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds each text-only variant may take (60)")
    parser.add_argument("--runs", type=int, default=2, help="binpack runs; the best counts (default 2)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile summaries (binpack, spread)")
    args = parser.parse_args(argv)
    tasks = args.tasks or (15_000 if args.quick else 150_000)
    instances = args.instances or (500 if args.quick else 5_000)
    variant_tasks = min(tasks, args.variant_tasks or (3_000 if args.quick else 30_000))
    budget = 10.0 if args.quick else args.budget
    runs = max(1, args.runs)

    shape_list = shapes()
    work = batches(tasks, shape_list, batch=args.batch)
    variant_work = batches(variant_tasks, shape_list, batch=args.batch)
    demand_cpu = sum(item.count * item.shape.cpu for item in work)
    demand_memory = sum(item.count * item.shape.memory for item in work)
    by_cpu, by_memory, _ = lower_bound(demand_cpu, demand_memory)
    print(
        f"{NAME}: {tasks:,} tasks of {len(shape_list)} shapes on {instances:,} instances (3 zones), "
        f"run_task batches of {args.batch}"
    )
    print(
        f"  shapes (cpu/MiB): {', '.join(f'{s.cpu}/{s.memory}' for s in shape_list)}\n"
        f"  demand fills {by_cpu:,} instances by CPU, {by_memory:,} by memory "
        f"({100 * by_cpu / instances:.0f}% of the cluster's CPU at the end)"
    )

    _report.heading("runs (each into a fresh cluster)")
    main_runs, cpu_runs = paired_runs(instances, work, runs)
    main_run = max(main_runs, key=lambda run: run.rate)
    spread_strategies = [spread(f"attribute:{ZONE_ATTRIBUTE}"), binpack("memory")]
    spread_run = measure(strategy_text(spread_strategies), instances, variant_work, spread_strategies, budget=budget)
    member_run = measure(
        f"binpack(memory) + memberOf({MEMBER_OF})",
        instances,
        variant_work,
        [binpack("memory")],
        member_of=MEMBER_OF,
        budget=budget,
    )

    _report.heading("throughput (tasks placed / wall seconds of the run_task calls)")
    report(main_runs, cpu_runs)
    for label, run in (
        (strategy_text(spread_strategies), spread_run),
        ("binpack(memory) + memberOf 2 of 3 zones", member_run),
    ):
        note = f"stopped early: {run.placed:,} of {run.planned:,} in {run.seconds:.0f} s" if run.stopped_early else ""
        _report.line(f"{label}, {run.placed:,} tasks", run.rate, "tasks/s", note)
    _report.line("spread+binpack / binpack", spread_run.rate / main_run.rate)

    _report.heading("binpack(memory): cost per task and per run_task call")
    _report.line("per task (whole run)", main_run.micros, "µs")
    calls_ms = [1e3 * s for s in main_run.call_seconds]
    _report.line(f"run_task({args.batch}) p50", _report.percentile(calls_ms, 50), "ms")
    _report.line(f"run_task({args.batch}) p99", _report.percentile(calls_ms, 99), "ms")
    tenth = max(1, len(main_run.call_seconds) // 10)
    first, last = main_run.call_seconds[:tenth], main_run.call_seconds[-tenth:]
    first_rate = sum(item.count for item in work[:tenth]) / sum(first)
    last_rate = sum(item.count for item in work[len(work) - tenth :]) / sum(last)
    _report.line("rate over the first tenth of the calls (empty cluster)", first_rate, "tasks/s")
    _report.line("rate over the last tenth of the calls (cluster filling)", last_rate, "tasks/s")
    if main_run.failed:
        _report.line("tasks not placed (failures)", main_run.failed)

    if args.profile:
        state = new_cluster(instances, shape_list)  # the whole stream: late calls cost more (fuller heap, GC)
        _report.heading(f"cProfile: binpack(memory), the whole run of {tasks:,} tasks")
        print(profile_top(lambda: run_batches(state, work, [binpack("memory")])))
        state = new_cluster(instances, shape_list)
        # about two seconds' worth at the measured rate: the strategy's cost per task varies a lot
        spread_tasks = max(100, min(variant_tasks, 5_000, round(2 * spread_run.rate, -2)))
        spread_work = batches(int(spread_tasks), shape_list, batch=args.batch)
        _report.heading(f"cProfile: {strategy_text(spread_strategies)}, {sum(b.count for b in spread_work):,} tasks")
        print(profile_top(lambda: run_batches(state, spread_work, spread_strategies)))

    _report.finish(NAME, main_run.rate, "tasks/s", TARGET)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
