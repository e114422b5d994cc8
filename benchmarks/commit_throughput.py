"""commit_throughput: single-task commits per second, in memory, through the public API.

A ClusterState with 1,000 instances (16384 CPU units, 65536 MiB each) and one task
definition; 100,000 Task objects are built up front, then the timed loop commits them one
at a time: ``state.commit([PlaceTask(task)])``. Best of 3 runs, each into a fresh state.
A second figure uses a definition with one dynamic host port (the tasks carry their
assigned port, as a scheduler would send them). Two more, one run each on half the
tasks: a snapshot taken after every commit, and a snapshot whose capacity index is read
after every commit. Commits only log what they change for the derived indexes (the
task list index, the placement indexes); a read folds the log, and the writer folds it
itself once it is long, so the first figure includes those batched folds and the last
one shows the cost of folding every commit as it comes.

Baseline, measured in the same run and interleaved with the clusterkit runs: the same
loop committing into a naive store — a plain dict of tasks plus a list (the change log)
under a ``threading.Lock``, checking only for duplicate ids: no versions, no snapshots,
no resource accounting, no indexes. ``ratio`` = clusterkit rate / naive rate.

The cyclic GC stays on (as in a service); it is collected before every run.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import threading
import time
from collections.abc import Sequence
from typing import Final

import clusterkit
from benchmarks import _report
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY, definition, instance_ids, new_state
from clusterkit import PlaceTask, Resources, Task, TaskDefinition
from clusterkit.placement import assign_host_ports

NAME: Final = "commit_throughput"
DESCRIPTION: Final = "single-task commits/s through ClusterState.commit (target >= 50,000/s; baseline: dict+list+lock)"
TARGET: Final = ">= 50000"


class NaiveStore:
    """The baseline: a dict of tasks and a list of changes under one lock, nothing else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tasks: dict[str, Task] = {}
        self.log: list[PlaceTask] = []

    def commit(self, changes: Sequence[PlaceTask]) -> list[PlaceTask]:
        accepted = []
        with self._lock:
            for change in changes:
                task = change.task
                if task.id in self.tasks:
                    continue
                self.tasks[task.id] = task
                self.log.append(change)
                accepted.append(change)
        return accepted


def build_tasks(definition_: TaskDefinition, ids: Sequence[str], count: int) -> list[Task]:
    """``count`` new tasks, round-robin over ``ids``; dynamic host ports assigned per instance."""
    new_id = clusterkit.state.new_id
    key = definition_.key
    if definition_.dynamic_ports == (0, 0):
        charge = definition_.charge
        return [
            Task(charge=charge, id=new_id(), task_definition=key, container_instance_id=ids[k % len(ids)])
            for k in range(count)
        ]
    registered = Resources(INSTANCE_CPU, INSTANCE_MEMORY, clusterkit.model.DEFAULT_RESERVED_PORTS)
    remaining = dict.fromkeys(ids, registered)
    tasks = []
    for k in range(count):
        instance_id = ids[k % len(ids)]
        assigned = assign_host_ports(definition_, remaining[instance_id])
        assert assigned is not None
        task_charge, bindings = assigned
        remaining[instance_id] = remaining[instance_id].allocate(task_charge)
        tasks.append(
            Task(
                charge=task_charge,
                id=new_id(),
                task_definition=key,
                container_instance_id=instance_id,
                host_ports=bindings,
            )
        )
    return tasks


def run_clusterkit(
    tasks: Sequence[Task], instances: int, definition_: TaskDefinition, *, after_each: str = "nothing"
) -> tuple[float, float]:
    """Commits per second of one run into a fresh state (instances and definition not timed),
    and the seconds per commit the cyclic GC took during the run.

    ``after_each`` commit: ``"nothing"``; ``"snapshot"`` takes a snapshot; ``"read"`` takes
    one and reads its capacity index, which folds that commit's changes into the derived
    indexes (what a scheduler planning after every commit pays).
    """
    state, _, _ = new_state(instances, [definition_])
    commit = state.commit
    snapshot = state.snapshot
    gc.collect()
    with _report.GcTimer() as gc_time:
        start = time.perf_counter()
        if after_each == "read":
            for task in tasks:
                commit([PlaceTask(task)])
                snapshot().capacity_index  # noqa: B018  (the read is the point)
        elif after_each == "snapshot":
            for task in tasks:
                commit([PlaceTask(task)])
                snapshot()
        else:
            for task in tasks:
                commit([PlaceTask(task)])
        elapsed = time.perf_counter() - start
    assert state.snapshot().task_count == len(tasks), "some placements were rejected"
    del state
    gc.collect()
    return len(tasks) / elapsed, gc_time.total / len(tasks)


def run_naive(tasks: Sequence[Task]) -> float:
    """Commits per second of one run into a fresh NaiveStore."""
    store = NaiveStore()
    commit = store.commit
    gc.collect()
    start = time.perf_counter()
    for task in tasks:
        commit([PlaceTask(task)])
    elapsed = time.perf_counter() - start
    assert len(store.tasks) == len(tasks)
    del store
    gc.collect()
    return len(tasks) / elapsed


def wrap_cost(tasks: Sequence[Task]) -> float:
    """Seconds per commit spent building the ``[PlaceTask(task)]`` argument alone."""
    start = time.perf_counter()
    for task in tasks:
        [PlaceTask(task)]
    return (time.perf_counter() - start) / len(tasks)


def profile(tasks: Sequence[Task], instances: int, definition_: TaskDefinition, top: int = 20) -> str:
    """cProfile of one run: the ``top`` functions by own time."""
    state, _, _ = new_state(instances, [definition_])
    profiler = cProfile.Profile()
    profiler.enable()
    for task in tasks:
        state.commit([PlaceTask(task)])
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="10,000 commits on 100 instances (smoke test)")
    parser.add_argument("--commits", type=int, default=None, help="commits per run (default 100,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant; the best counts (default 3)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one run")
    args = parser.parse_args(argv)
    commits = args.commits or (10_000 if args.quick else 100_000)
    instances = 100 if args.quick else 1_000
    runs = max(1, args.runs)

    plain = definition("app")
    ported = definition("ported", dynamic_ports=1)
    # Registered once to learn the key the tasks name: revision 1, as in every fresh state.
    _, _, (plain_registered, ported_registered) = new_state(0, [plain, ported])
    ids = instance_ids(instances)

    print(f"{NAME}: {commits:,} single-task commits per run, {instances:,} instances, best of {runs}")
    start = time.perf_counter()
    plain_tasks = build_tasks(plain_registered, ids, commits)
    build_plain = (time.perf_counter() - start) / commits
    start = time.perf_counter()
    ported_tasks = build_tasks(ported_registered, ids, commits)
    build_ported = (time.perf_counter() - start) / commits
    wrap = min(wrap_cost(plain_tasks) for _ in range(3))
    id_cost = (
        min(_report.timed(lambda: [clusterkit.state.new_id() for _ in range(commits)]) for _ in range(3)) / commits
    )

    ck_rates: list[float] = []
    ck_gc: list[float] = []
    naive_rates: list[float] = []
    ported_rates: list[float] = []
    for run in range(runs):  # interleaved, so machine noise hits all three alike
        rate, gc_per_commit = run_clusterkit(plain_tasks, instances, plain_registered)
        ck_rates.append(rate)
        ck_gc.append(gc_per_commit)
        naive_rates.append(run_naive(plain_tasks))
        ported_rates.append(run_clusterkit(ported_tasks, instances, ported_registered)[0])
        print(
            f"  run {run + 1}: clusterkit {ck_rates[-1]:>10,.0f}/s   naive {naive_rates[-1]:>12,.0f}/s   "
            f"clusterkit+1 dynamic port {ported_rates[-1]:>10,.0f}/s",
            flush=True,
        )
    half = plain_tasks[: max(1, commits // 2)]
    snapshot_rate, _ = run_clusterkit(half, instances, plain_registered, after_each="snapshot")
    read_rate, _ = run_clusterkit(half, instances, plain_registered, after_each="read")

    best, best_naive, best_ported = max(ck_rates), max(naive_rates), max(ported_rates)
    _report.heading("throughput (best of runs)")
    _report.line("clusterkit commit([PlaceTask]) — no host ports", best, "commits/s")
    _report.line("clusterkit commit([PlaceTask]) — 1 dynamic host port", best_ported, "commits/s")
    _report.line(
        "clusterkit commit + snapshot() after each (1 run)",
        snapshot_rate,
        "commits/s",
        "a reader seals the state every commit: B-tree path copies",
    )
    _report.line(
        "clusterkit commit + snapshot().capacity_index after each",
        read_rate,
        "commits/s",
        "1 run; each read folds one commit into the indexes",
    )
    _report.line("naive dict+list+lock store", best_naive, "commits/s")
    _report.line("ratio clusterkit / naive", best / best_naive)

    _report.heading("cost per commit, µs (no host ports)")
    per_commit = 1e6 / best
    _report.line("Task(...) + new_id(), built before the loop", build_plain * 1e6, "µs")
    _report.line("  of which new_id()", id_cost * 1e6, "µs")
    _report.line("Task + new_id + assign_host_ports (1 dynamic port)", build_ported * 1e6, "µs")
    _report.line("[PlaceTask(task)] argument", wrap * 1e6, "µs")
    _report.line("state.commit(...) itself", per_commit - wrap * 1e6, "µs")
    _report.line("  of which cyclic GC (gc.callbacks, same run)", ck_gc[ck_rates.index(best)] * 1e6, "µs")
    _report.line("whole timed loop body", per_commit, "µs")
    _report.line("naive loop body", 1e6 / best_naive, "µs")
    _report.line(
        "build + commit, end to end",
        build_plain * 1e6 + per_commit,
        "µs",
        f"{1 / (build_plain + 1 / best):,.0f} tasks/s",
    )

    if args.profile:
        _report.heading("cProfile of one run (own time)")
        print(profile(plain_tasks[: max(1, commits // 2)], instances, plain_registered))

    _report.finish(NAME, best, "commits/s", TARGET, baseline=best_naive, ratio=best / best_naive)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
