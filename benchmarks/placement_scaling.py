"""placement_scaling: does the cost of one placement stay flat from 500 to 50,000 instances?

The workload of ``benchmarks._placement`` (zoned instances of 16384 CPU units and 65536
MiB, 16 mixed log-uniform shapes, seeded), placed through the public API as calls of
``state.run_task(family, count=500, placement_strategy=[binpack("memory")])``.

For each cluster size — 500, 5,000 and 50,000 instances — the same 20,000 placements are
made as 4 rounds of 5,000 (10 run_task calls each), every round into a fresh cluster
(building it is not timed; 5,000 tasks fill at most a third of 500 instances, so every
size places every task). Each round is tried 3 times per size (``--repeats``), the sizes
interleaved so machine noise hits them alike, and the fastest try counts — noise on a
shared machine only ever adds time. Cost per placement = the summed wall seconds of the
run_task calls of the 4 counted rounds / the 20,000 tasks they placed. ``value`` = µs per
placement at 50,000 instances ÷ µs per placement at 500; target <= 1.5.

In the same run, the naive scheduler a user writes by hand (pure Python, no clusterkit):
a dict of instance id → (cpu left, memory left); for each task, loop over every instance
and keep the one with the least memory left after the task among those it fits (binpack
on memory, best fit), then update its entry. It runs the first 300 tasks of the same
stream at 50,000 instances (and at 500, for its slope), best of 3 too. ``baseline`` =
the naive µs per placement at 50,000 instances; ``ratio`` = naive ÷ clusterkit µs per
placement at 50,000 instances, clusterkit's speed-up (its own target, >= 50, is checked in
the text).

Beside the figure, per size: what building a cluster takes (registering its instances by
commits of 1,000, not timed in the rounds: those commits build the placement indexes as they
go), the first read of a fresh cluster's placement indexes, the first run_task call of a
round against the later ones, the steady state (µs per placement without each round's first
call) and the cyclic GC's time in the rounds.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import time
from collections.abc import Sequence
from typing import Final

import attrs

from benchmarks import _report
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY, instance_ids
from benchmarks._placement import Batch, Run, Shape, batches, new_cluster, profile_top, run_batches, shapes
from benchmarks._report import GcTimer
from clusterkit.placement import binpack

NAME: Final = "placement_scaling"
DESCRIPTION: Final = "µs/placement at 50k instances ÷ at 500, binpack (target <= 1.5; baseline: naive full scan)"
TARGET: Final = "<= 1.5"
SPEEDUP_TARGET: Final = ">= 50"


def naive_best_fit(instances: int, tasks: Sequence[tuple[int, int]]) -> tuple[float, int]:
    """The hand-written full scan: seconds per placement and how many tasks it placed."""
    remaining: dict[str, tuple[int, int]] = dict.fromkeys(instance_ids(instances), (INSTANCE_CPU, INSTANCE_MEMORY))
    placed = 0
    start = time.perf_counter()
    for cpu, memory in tasks:
        best_id: str | None = None
        best_left = 0
        for instance_id, (cpu_left, memory_left) in remaining.items():
            if cpu_left >= cpu and memory_left >= memory:
                left = memory_left - memory
                if best_id is None or left < best_left:
                    best_id, best_left = instance_id, left
        if best_id is not None:
            cpu_left, memory_left = remaining[best_id]
            remaining[best_id] = (cpu_left - cpu, memory_left - memory)
            placed += 1
    elapsed = time.perf_counter() - start
    return elapsed / max(1, placed), placed


@attrs.frozen
class Round:
    """One round: its run_task calls, the seconds building its cluster took, and the GC's share."""

    run: Run
    built: float
    gc_seconds: float

    @property
    def seconds(self) -> float:
        """Wall seconds of the round's run_task calls."""
        return self.run.seconds


def clusterkit_round(instances: int, work: Sequence[Batch]) -> Round:
    """One round into a fresh cluster of ``instances`` (its build timed apart, not counted)."""
    start = time.perf_counter()
    state = new_cluster(instances, sorted({item.shape for item in work}, key=lambda shape: shape.family))
    built = time.perf_counter() - start
    gc.collect()
    with GcTimer() as gc_time:
        run = run_batches(state, work, [binpack("memory")])
    del state
    return Round(run, built, gc_time.total)


def first_read(instances: int, shape_list: Sequence[Shape]) -> float:
    """Seconds of the first read of a fresh cluster's placement indexes (what a first run_task pays)."""
    state = new_cluster(instances, shape_list)
    gc.collect()
    start = time.perf_counter()
    state.snapshot().capacity_index  # noqa: B018 - the read is what is timed
    return time.perf_counter() - start


def steady_micros(rounds: Sequence[Round]) -> float:
    """µs per placement over every run_task call but each round's first."""
    seconds = sum(sum(r.run.call_seconds[1:]) for r in rounds)
    placed = sum(r.run.placed * (len(r.run.call_seconds) - 1) / len(r.run.call_seconds) for r in rounds)
    return 1e6 * seconds / placed if placed else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="100 vs 5,000 instances, 2 rounds of 1,000, naive 50")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per size (default 4)")
    parser.add_argument("--round-tasks", type=int, default=None, help="placements per round (default 5,000)")
    parser.add_argument("--repeats", type=int, default=None, help="tries of each round per size; the best counts (3)")
    parser.add_argument("--naive-tasks", type=int, default=None, help="tasks for the naive scan (default 300)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one round per end size")
    args = parser.parse_args(argv)
    if args.quick:
        sizes, rounds, round_tasks, naive_tasks = (100, 1_000, 5_000), 2, 1_000, 50
    else:
        sizes, rounds, round_tasks, naive_tasks = (500, 5_000, 50_000), 4, 5_000, 300
    rounds = args.rounds or rounds
    repeats = max(1, args.repeats or (1 if args.quick else 3))
    round_tasks = args.round_tasks or round_tasks
    naive_tasks = args.naive_tasks or naive_tasks
    small, large = sizes[0], sizes[-1]

    shape_list = shapes()
    work = batches(rounds * round_tasks, shape_list)
    per_round = len(work) // rounds
    round_work = [work[index * per_round : (index + 1) * per_round] for index in range(rounds)]
    print(
        f"{NAME}: {rounds} rounds × {round_tasks:,} placements per size, sizes "
        f"{', '.join(f'{size:,}' for size in sizes)} instances; binpack(memory), run_task batches of "
        f"{work[0].count}; naive full scan: {naive_tasks:,} tasks"
    )

    _report.heading(f"rounds (each into a fresh cluster; sizes interleaved; best of {repeats} per round)")
    runs: dict[int, list[Round]] = {size: [] for size in sizes}
    for index, chunk in enumerate(round_work):
        tries: dict[int, list[Round]] = {size: [] for size in sizes}
        for repeat in range(repeats):
            order = sizes if (index + repeat) % 2 == 0 else tuple(reversed(sizes))
            for size in order:
                tries[size].append(clusterkit_round(size, chunk))
        for size in sizes:
            runs[size].append(min(tries[size], key=lambda run: run.seconds))
        print(
            f"  round {index + 1}: "
            + "   ".join(
                f"{size:,}: {runs[size][-1].run.micros:,.1f} µs "
                f"[{', '.join(f'{r.run.micros:.0f}' for r in tries[size])}]"
                for size in sizes
            ),
            flush=True,
        )

    micros: dict[int, float] = {}
    for size in sizes:
        placed = sum(r.run.placed for r in runs[size])
        failed = sum(r.run.failed for r in runs[size])
        micros[size] = 1e6 * sum(r.seconds for r in runs[size]) / placed
        if failed:
            print(f"  {size:,} instances: {failed:,} tasks could not be placed")

    _report.heading("build, first read and steady state, per size (the counted rounds)")
    for size in sizes:
        counted = runs[size]
        built = statistics.median(r.built for r in counted)
        read = min(first_read(size, shape_list) for _ in range(repeats))
        firsts = [r.run.call_seconds[0] for r in counted]
        later = [seconds for r in counted for seconds in r.run.call_seconds[1:]]
        _report.line(
            f"{size:,} instances: build (register, not timed)", built, "s", f"{1e6 * built / size:,.1f} µs an instance"
        )
        _report.line(
            f"{size:,} instances: first read of the indexes", read * 1e3, "ms", "a fresh cluster's first snapshot"
        )
        _report.line(
            f"{size:,} instances: first run_task call",
            statistics.median(firsts) * 1e3,
            "ms",
            f"later calls: median {statistics.median(later) * 1e3:,.1f} ms" if later else "",
        )
        _report.line(
            f"{size:,} instances: steady state", steady_micros(counted), "µs", "per placement, first calls left out"
        )
        _report.line(f"{size:,} instances: cyclic GC in the rounds", 1e3 * sum(r.gc_seconds for r in counted), "ms")

    _report.heading("naive full-scan best fit (pure Python dict, no clusterkit)")
    stream = [(item.shape.cpu, item.shape.memory) for item in work for _ in range(item.count)][:naive_tasks]
    naive_small = min(naive_best_fit(small, stream)[0] for _ in range(repeats))
    naive_large, naive_placed = min(naive_best_fit(large, stream) for _ in range(repeats))
    print(f"  {naive_placed:,} tasks at {large:,} instances, {naive_placed:,} at {small:,}", flush=True)

    _report.heading("cost per placement, µs (wall time of run_task / tasks placed)")
    for size in sizes:
        spread_text = ", ".join(f"{r.run.micros:,.1f}" for r in runs[size])
        _report.line(f"clusterkit at {size:,} instances", micros[size], "µs", f"rounds: {spread_text}")
    _report.line(f"naive at {small:,} instances", naive_small * 1e6, "µs")
    _report.line(f"naive at {large:,} instances", naive_large * 1e6, "µs")

    scaling = micros[large] / micros[small]
    speedup = naive_large * 1e6 / micros[large]
    _report.heading("ratios")
    _report.line(f"clusterkit {large:,} ÷ {small:,} instances (value)", scaling, "", f"target {TARGET}")
    _report.line(f"naive {large:,} ÷ {small:,} instances", naive_large / naive_small)
    verdict = "PASS" if _report.meets(speedup, SPEEDUP_TARGET) else "FAIL"
    _report.line(
        f"speed-up over naive at {large:,} instances (ratio)", speedup, "×", f"target {SPEEDUP_TARGET}: {verdict}"
    )

    if args.profile:
        for size in (small, large):
            state = new_cluster(size, shape_list)
            chunk = round_work[0]
            _report.heading(f"cProfile: {size:,} instances, {sum(b.count for b in chunk):,} placements")
            print(profile_top(functools.partial(run_batches, state, chunk, [binpack("memory")])))

    print(f"\n  (JSON: baseline = naive µs per placement at {large:,} instances; ratio = speed-up over naive)")
    _report.finish(NAME, scaling, "ratio", TARGET, baseline=naive_large * 1e6, ratio=speedup)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
