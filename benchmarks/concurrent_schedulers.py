"""concurrent_schedulers: Omega-style shared-state scheduling with 1, 2 and 4 scheduler threads.

One ClusterState with 2,000 instances (16384 CPU units, 65536 MiB, three zones) and the 16
mixed shapes of ``benchmarks._placement`` is shared by N scheduler threads (N = 1, 2, 4).
40,000 tasks, as requests of 50 tasks of one shape, are split evenly across the threads;
each thread has its own seeded stream of requests and places each with
``clusterkit.placement.place_and_commit(state, BaseScheduler(sample=2), PlacementRequest(definition,
50, strategies=[binpack("memory")]), atomic=..., max_attempts=10)``: plan against a snapshot,
commit, re-plan what the commit rejected. ``sample=2`` is the setting clusterkit recommends
for schedulers that share a cluster (Nomad's limit iterator, the power of two choices):
each takes the best of two random feasible instances, so they rarely want the same one;
``--sample 0`` runs the default full binpack scan, where every scheduler wants the same
fullest instances. (2,000 instances rather than 1,000 so that
40,000 tasks of these shapes fit: they fill about 56% of the CPU at the end. binpack is
the most contended strategy: every scheduler wants the same fullest instances.)

Each configuration runs with incremental commits (accepted placements stay, the rejected
ones are re-planned) and with all-or-nothing commits (``atomic=True``: one rejection
rejects the whole request, as gang scheduling); each of the six runs 3 times (``--runs``),
into a fresh state each time and with the streams' seed moved on, and the counts of the
runs are summed: conflicts depend on where the interpreter happens to switch threads, so
one run alone is noisy.

Per configuration: throughput (tasks placed / wall seconds from the start barrier to the
last thread's end, over its runs) and Omega's *conflict fraction*: commits that met at
least one rejection (a conflict: another scheduler took the room first) per successful
transaction (a request all of whose tasks were placed). A request whose commits are all
clean counts 0; each commit that had to be retried counts 1; a request that gave up after
``max_attempts`` conflicted commits counts them all but is not a success. The rejected
placements per placed task are shown too. ``value`` = the worst incremental conflict
fraction over 1, 2 and 4 threads; target <= 0.1. ``baseline`` = the worst all-or-nothing
conflict fraction; ``ratio`` = all-or-nothing ÷ incremental at the thread count with the
worst incremental fraction (null when that fraction is 0).

CPython's GIL means the threads interleave rather than run in parallel: a thread is
switched out every ``sys.getswitchinterval()`` seconds (5 ms by default), often between
its snapshot and its commit, which is what makes conflicts possible at all; more threads
do not add CPU, so throughput cannot scale with them.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Sequence
from typing import Final

import attrs

import clusterkit
from benchmarks import _report
from benchmarks._cluster import INSTANCE_CPU
from benchmarks._placement import Shape, new_cluster, shapes
from clusterkit import BaseScheduler, PlacementRequest, TaskDefinition
from clusterkit.placement import binpack, place_and_commit

NAME: Final = "concurrent_schedulers"
#: BaseScheduler(sample=...) for every scheduler thread; None = the default full binpack scan.
SAMPLE: list[int | None] = [2]
DESCRIPTION: Final = "conflicts per transaction, 1/2/4 sample=2 scheduler threads (target <= 0.1; vs atomic)"
TARGET: Final = "<= 0.1"
THREADS: Final = (1, 2, 4)


@attrs.define
class Tally:
    """One thread's counts (and, summed, one configuration's)."""

    requests: int = 0
    successful: int = 0
    gave_up: int = 0
    short: int = 0
    placed: int = 0
    commits: int = 0
    conflicted_commits: int = 0
    rejected_placements: int = 0
    attempts: int = 0

    def add(self, other: Tally) -> None:
        """Add ``other``'s counts to these."""
        for field in attrs.fields(Tally):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    @property
    def conflict_fraction(self) -> float:
        """Conflicted commits per successful transaction (Omega)."""
        return self.conflicted_commits / self.successful if self.successful else float("inf")


@attrs.frozen
class Result:
    """One configuration: threads, commit mode, counts and wall time."""

    threads: int
    atomic: bool
    tally: Tally
    seconds: float
    errors: tuple[str, ...]

    @property
    def rate(self) -> float:
        """Tasks placed per wall second."""
        return self.tally.placed / self.seconds


def worker(
    state: clusterkit.ClusterState,
    definitions: dict[str, TaskDefinition],
    requests: Sequence[Shape],
    size: int,
    atomic: bool,
    max_attempts: int,
    barrier: threading.Barrier,
    tally: Tally,
    errors: list[str],
) -> None:
    """Place ``requests`` one by one with place_and_commit, counting what happens."""
    scheduler = BaseScheduler(sample=SAMPLE[0])
    strategies = (binpack("memory"),)
    try:
        barrier.wait()
        for shape in requests:
            request = PlacementRequest(definitions[shape.family], size, strategies=strategies)
            outcome = place_and_commit(state, scheduler, request, atomic=atomic, max_attempts=max_attempts)
            placed = len(outcome.tasks)
            gave_up = any("CONFLICT" in unplaced.reasons for unplaced in outcome.unplaced)
            tally.requests += 1
            tally.placed += placed
            tally.commits += outcome.commits
            tally.attempts += outcome.attempts
            tally.rejected_placements += len(outcome.conflicts)
            # Every commit but a clean last one met a rejection; a request that gave up had no clean commit.
            tally.conflicted_commits += outcome.commits if gave_up else max(0, outcome.commits - 1)
            if placed == size:
                tally.successful += 1
            elif gave_up:
                tally.gave_up += 1
            else:
                tally.short += 1  # some tasks fit no instance: the cluster is full
    except Exception as error:  # reported, so a broken library shows up as such, not as a hang
        errors.append(f"{type(error).__name__}: {error}")
        barrier.abort()


def run_configuration(
    threads: int,
    atomic: bool,
    instances: int,
    shape_list: Sequence[Shape],
    total: int,
    size: int,
    max_attempts: int,
    seed: int,
) -> Result:
    """N threads placing ``total`` tasks (``size`` per request) into a fresh state."""
    state = new_cluster(instances, shape_list)
    snapshot = state.snapshot()
    definitions = {shape.family: snapshot.task_definition(shape.family) for shape in shape_list}
    per_thread = total // size // threads
    streams = []
    for index in range(threads):
        rng = random.Random(seed + 1000 * index)
        streams.append([shape_list[rng.randrange(len(shape_list))] for _ in range(per_thread)])
    tallies = [Tally() for _ in range(threads)]
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)
    pool = [
        threading.Thread(
            target=worker,
            args=(state, definitions, streams[index], size, atomic, max_attempts, barrier, tallies[index], errors),
            name=f"scheduler-{index}",
        )
        for index in range(threads)
    ]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    total_tally = Tally()
    for tally in tallies:
        total_tally.add(tally)
    assert errors or state.snapshot().task_count == total_tally.placed
    return Result(threads, atomic, total_tally, elapsed, tuple(errors))


def combined(results: Sequence[Result]) -> tuple[Tally, float]:
    """The summed counts of several runs of one configuration, and their tasks per wall second."""
    tally = Tally()
    for result in results:
        tally.add(result.tally)
    return tally, tally.placed / sum(result.seconds for result in results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="4,000 tasks on 200 instances, 1 run (smoke test)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per configuration (default 40,000)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 2,000)")
    parser.add_argument("--request", type=int, default=50, help="tasks per request (default 50)")
    parser.add_argument("--max-attempts", type=int, default=10, help="place_and_commit max_attempts (default 10)")
    parser.add_argument("--runs", type=int, default=None, help="runs of every configuration, counts summed (3)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the request streams")
    parser.add_argument(
        "--sample",
        type=int,
        default=2,
        help="BaseScheduler(sample=N): best of N random feasible instances (default 2; 0 = full binpack scan)",
    )
    args = parser.parse_args(argv)
    SAMPLE[0] = args.sample or None
    total = args.tasks or (4_000 if args.quick else 40_000)
    instances = args.instances or (200 if args.quick else 2_000)
    runs = max(1, args.runs or (1 if args.quick else 3))
    shape_list = shapes()

    print(
        f"{NAME}: {total:,} tasks per configuration as requests of {args.request} (binpack(memory)), "
        f"{instances:,} instances, max_attempts {args.max_attempts}; threads {', '.join(map(str, THREADS))}; "
        f"{runs} run(s) of each; "
        + (
            f"schedulers take the best of {args.sample} random feasible instances"
            if args.sample
            else "full binpack scan"
        )
    )
    mean_cpu = sum(shape.cpu for shape in shape_list) / len(shape_list)
    print(f"  the tasks fill about {100 * total * mean_cpu / (instances * INSTANCE_CPU):.0f}% of the cluster's CPU")
    print(f"  GIL switch interval {sys.getswitchinterval() * 1e3:.0f} ms: the threads interleave, one runs at a time")

    _report.heading("configurations (each run into a fresh state)")
    results: dict[tuple[int, bool], list[Result]] = {(n, atomic): [] for n in THREADS for atomic in (False, True)}
    for run in range(runs):
        for threads in THREADS:
            for atomic in (False, True):
                result = run_configuration(
                    threads, atomic, instances, shape_list, total, args.request, args.max_attempts, args.seed + run
                )
                results[(threads, atomic)].append(result)
                tally = result.tally
                mode = "all-or-nothing" if atomic else "incremental"
                print(
                    f"  run {run + 1}, {threads} thread(s), {mode:<14}: {tally.placed:,} tasks in "
                    f"{result.seconds:.1f} s ({result.rate:,.0f}/s); {tally.commits:,} commits for "
                    f"{tally.requests:,} requests, {tally.conflicted_commits:,} conflicted "
                    f"({tally.conflict_fraction:.3f}), {tally.rejected_placements:,} placements rejected"
                    + (f", {tally.gave_up:,} gave up" if tally.gave_up else "")
                    + (f", {tally.short:,} short of room" if tally.short else ""),
                    flush=True,
                )
                for error in result.errors:
                    print(f"    ERROR in a scheduler thread: {error}")

    _report.heading(f"per configuration ({runs} run(s) summed)")
    header = ("tasks/s", "conflict frac.", "rejected/task", "commits/req", "gave up")
    print(f"  {'threads, commit mode':<26} " + " ".join(f"{column:>14}" for column in header) + "  per run")
    fractions: dict[tuple[int, bool], float] = {}
    rates: dict[tuple[int, bool], float] = {}
    for (threads, atomic), done in results.items():
        tally, rates[(threads, atomic)] = combined(done)
        fractions[(threads, atomic)] = tally.conflict_fraction
        mode = "all-or-nothing" if atomic else "incremental"
        per_run = ", ".join(f"{result.tally.conflict_fraction:.3f}" for result in done)
        print(
            f"  {f'{threads}, {mode}':<26} {rates[(threads, atomic)]:>14,.0f} {tally.conflict_fraction:>14.4f} "
            f"{tally.rejected_placements / max(1, tally.placed):>14.4f} "
            f"{tally.commits / max(1, tally.requests):>14.3f} {tally.gave_up:>14,}  [{per_run}]"
        )

    _report.heading("all-or-nothing ÷ incremental conflict fraction")
    ratios: dict[int, float | None] = {}
    for threads in THREADS:
        incremental, atomic_fraction = fractions[(threads, False)], fractions[(threads, True)]
        ratios[threads] = atomic_fraction / incremental if incremental > 0 else None
        shown = f"{ratios[threads]:.2f}" if ratios[threads] is not None else "n/a (no incremental conflicts)"
        _report.line(f"{threads} thread(s)", shown, "", f"{atomic_fraction:.4f} vs {incremental:.4f}")
    _report.line("throughput 4 threads ÷ 1 thread (incremental)", rates[(4, False)] / rates[(1, False)])

    worst_threads = max(THREADS, key=lambda n: fractions[(n, False)])
    worst = fractions[(worst_threads, False)]
    worst_atomic = max(fractions[(n, True)] for n in THREADS)
    print(f"\n  worst incremental conflict fraction: {worst_threads} thread(s)")
    if any(result.errors for done in results.values() for result in done):
        print("  some scheduler threads failed: see ERROR lines above")
    _report.finish(NAME, worst, "conflicts/transaction", TARGET, baseline=worst_atomic, ratio=ratios[worst_threads])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
