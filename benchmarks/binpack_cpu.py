"""binpack_cpu: is binpack(cpu) as fast as binpack(memory)? Same stream, same cluster size.

The workload of ``placement_throughput`` (``benchmarks._placement``): 150,000 tasks of 16
mixed shapes placed on 5,000 zoned instances by 300 ``run_task`` calls of 500 tasks each,
once with ``placement_strategy=[binpack("cpu")]`` and once with ``[binpack("memory")]``,
each into a fresh cluster. The runs alternate (memory, cpu, memory, cpu …) so machine
noise hits both alike; the best run of each counts (``--runs``, default 3 each).

Both strategies read a persistent capacity index of the snapshot (``capacity_index`` and
``cpu_capacity_index``); before it had its own, binpack(cpu) sorted every instance for
every request and took about 4.5 times as long per task.

``value`` = binpack(cpu)'s seconds per task ÷ binpack(memory)'s (the memory rate ÷ the
cpu rate), target <= 1.3. Both rates are in the report; ``baseline`` and ``ratio`` are
null (the value is a ratio already).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

from benchmarks import _report
from benchmarks._placement import Batch, Run, batches, measure, shapes
from clusterkit.placement import binpack

NAME: Final = "binpack_cpu"
DESCRIPTION: Final = "binpack(cpu) s/task ÷ binpack(memory) s/task, 150k mixed tasks on 5k instances (target <= 1.3)"
TARGET: Final = "<= 1.3"


def paired_runs(instances: int, work: Sequence[Batch], runs: int) -> tuple[list[Run], list[Run]]:
    """``runs`` binpack(memory) and ``runs`` binpack(cpu) streams, alternating, each into a fresh cluster."""
    by_memory: list[Run] = []
    by_cpu: list[Run] = []
    for index in range(runs):
        by_memory.append(measure(f"binpack(memory) run {index + 1}", instances, work, [binpack("memory")]))
        by_cpu.append(measure(f"binpack(cpu) run {index + 1}", instances, work, [binpack("cpu")]))
    return by_memory, by_cpu


def report(by_memory: Sequence[Run], by_cpu: Sequence[Run]) -> float:
    """Print both strategies' best rates and their ratio; returns the ratio (memory rate ÷ cpu rate)."""
    best_memory = max(by_memory, key=lambda run: run.rate)
    best_cpu = max(by_cpu, key=lambda run: run.rate)
    for label, chosen, all_runs in (("binpack(memory)", best_memory, by_memory), ("binpack(cpu)", best_cpu, by_cpu)):
        _report.line(
            f"{label}, {chosen.placed:,} tasks (best of {len(all_runs)})",
            chosen.rate,
            "tasks/s",
            "runs: " + ", ".join(f"{run.rate:,.0f}" for run in all_runs),
        )
    ratio = best_memory.rate / best_cpu.rate if best_cpu.rate else float("inf")
    _report.line("binpack(cpu) time per task ÷ binpack(memory)", ratio, "", "target <= 1.3")
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="15,000 tasks on 500 instances (smoke test)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per run (default 150,000)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 5,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each strategy; the best counts (default 3)")
    args = parser.parse_args(argv)
    tasks = args.tasks or (15_000 if args.quick else 150_000)
    instances = args.instances or (500 if args.quick else 5_000)
    work = batches(tasks, shapes())
    print(f"{NAME}: {tasks:,} tasks on {instances:,} instances, binpack(memory) and binpack(cpu) alternating")

    _report.heading("runs (each into a fresh cluster)")
    by_memory, by_cpu = paired_runs(instances, work, max(1, args.runs))
    _report.heading("throughput (tasks placed / wall seconds of the run_task calls)")
    _report.finish(NAME, report(by_memory, by_cpu), "ratio", TARGET)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
