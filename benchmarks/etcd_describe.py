"""etcd_describe: does describe_tasks stay flat through an etcd replica as the cluster grows from 10k to 200k tasks?

Two clusters live in etcd (the 3 members ``scripts/services.sh`` runs on loopback), each
under a prefix of its own: 10,000 tasks and 200,000 tasks, both on 2,000 instances (16384
CPU units, 65536 MiB) with 10 task definition families. They are loaded through the public
API as big incremental commits — 1,000 ``PlaceTask`` on 10 instances each —, which
``ClusterState.commit`` splits into transactions that fit etcd's 128 operations (about 125
tasks and their instance each): every task is checked and written as any other commit's.

Then ``describe_tasks([id])`` of a random task id, served by each state's local replica
(kept by a watch on its prefix), 2,000 samples a round (``perf_counter_ns`` around one
call), alternating small and large cluster sample by sample so machine noise hits both
alike, with the cyclic GC off during the window; the best p99 of 3 rounds counts, as in
``describe_latency``. ``value`` = p99(200k) / p99(10k); target <= 1.5. Reported too (not
counted): the first page of ``list_tasks(family=F)``, the load rate, and how long a fresh
process takes to read the 200k-task prefix (what a scheduler process starting on such a
cluster waits for).

The prefixes are deleted afterwards, etcd's history is compacted, and each member is
defragmented in turn (``--no-defragment`` to skip): the load grows each member's database
file by several hundred MiB, and etcd's space quota (2 GiB by default) counts the file,
which only defragmentation shrinks. A member serves nothing while it defragments (about a
second here); the other two keep quorum.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from typing import Final

import clusterkit
from benchmarks import _etcd, _report
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY, definition, instance_ids
from benchmarks.describe_latency import best_of_rounds
from clusterkit import ContainerInstance, PlaceTask, RegisterInstance, Resources, Task

NAME: Final = "etcd_describe"
DESCRIPTION: Final = "p99 of describe_tasks through an etcd replica at 200k tasks vs 10k (target ratio <= 1.5)"
TARGET: Final = "<= 1.5"
FAMILIES: Final = 10
PER_COMMIT: Final = 1000
PER_INSTANCE_IN_A_COMMIT: Final = 100


class Cluster:
    """One benchmark cluster in etcd: its state (and replica) and its task ids."""

    def __init__(self, label: str, tasks: int, instances: int, endpoints: Sequence[str]) -> None:
        self.label = label
        self.prefix = _etcd.fresh_prefix(NAME)
        self.state = _etcd.open_state(self.prefix, endpoints)
        start = time.perf_counter()
        registered = Resources(INSTANCE_CPU, INSTANCE_MEMORY, clusterkit.model.DEFAULT_RESERVED_PORTS)
        ids = instance_ids(instances)
        result = self.state.commit(
            [RegisterInstance(ContainerInstance(id=i, registered=registered, remaining=registered)) for i in ids]
        )
        assert result.ok, result.rejected[:3]
        definitions = [self.state.register_task_definition(definition(f"app-{n}")) for n in range(FAMILIES)]
        self.family = definitions[3].family
        registered_at = time.perf_counter()
        self.task_ids: list[str] = []
        per_round = instances * PER_INSTANCE_IN_A_COMMIT  # tasks before every instance got its share once
        for begin in range(0, tasks, PER_COMMIT):
            changes = []
            for k in range(begin, min(begin + PER_COMMIT, tasks)):
                which = k % FAMILIES
                instance = ids[((k % per_round) // PER_INSTANCE_IN_A_COMMIT) % instances]
                task = Task(
                    id=clusterkit.state.new_id(),
                    task_definition=definitions[which].key,
                    container_instance_id=instance,
                    charge=definitions[which].charge,
                )
                changes.append(PlaceTask(task))
            result = self.state.commit(changes)
            if result.rejected:
                raise RuntimeError(f"{label}: {len(result.rejected)} placements rejected, e.g. {result.rejected[0]}")
            self.task_ids.extend(change.task.id for change in changes)
            done = min(begin + PER_COMMIT, tasks)
            if done % 50_000 == 0:
                rate = done / (time.perf_counter() - registered_at)
                print(f"    {label}: {done:,} tasks placed ({rate:,.0f} tasks/s)", flush=True)
        self.load_seconds = time.perf_counter() - registered_at
        print(
            f"  {label}: {tasks:,} tasks on {instances:,} instances — instances and definitions "
            f"{registered_at - start:.1f} s, tasks {self.load_seconds:.1f} s "
            f"({tasks / self.load_seconds:,.0f} tasks/s, {self.state.store.transactions:,} transactions)",  # type: ignore[attr-defined]
            flush=True,
        )
        assert self.state.snapshot().task_count == tasks

    def close(self, endpoints: Sequence[str]) -> None:
        """Stop the replica and delete the prefix."""
        self.state.store.close()  # type: ignore[attr-defined]
        _etcd.delete_prefix(self.prefix, endpoints)


def _describe(cluster: Cluster) -> Callable[[random.Random], object]:
    state, ids = cluster.state, cluster.task_ids

    def call(rng: random.Random) -> object:
        return state.describe_tasks([ids[rng.randrange(len(ids))]])

    return call


def _list_family(cluster: Cluster) -> Callable[[random.Random], object]:
    state, family = cluster.state, cluster.family

    def call(rng: random.Random) -> object:
        return state.list_tasks(family=family, max_results=100)

    return call


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="2,000 vs 20,000 tasks on 200 instances, 500 samples")
    parser.add_argument("--samples", type=int, default=None, help="samples per round (default 2,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best p99 counts (default 3)")
    parser.add_argument("--endpoints", default=",".join(_etcd.ENDPOINTS), help="etcd client URLs, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-defragment", action="store_true", help="leave etcd's database files as they grew")
    args = parser.parse_args(argv)
    endpoints = tuple(args.endpoints.split(","))
    _etcd.require_etcd(NAME, endpoints)
    if args.quick:
        small_tasks, large_tasks, instances, samples = 2_000, 20_000, 200, args.samples or 500
    else:
        small_tasks, large_tasks, instances, samples = 10_000, 200_000, 2_000, args.samples or 2_000
    rounds = max(1, args.rounds)
    print(
        f"{NAME}: {small_tasks:,} vs {large_tasks:,} tasks, {instances:,} instances, in etcd at "
        f"{', '.join(endpoints)}; {samples:,} samples per round, best of {rounds} rounds"
    )
    clusters: list[Cluster] = []
    try:
        _report.heading(f"load (commits of {PER_COMMIT:,} PlaceTask, split into transactions that fit)")
        small = Cluster(f"{small_tasks:,} tasks", small_tasks, instances, endpoints)
        clusters.append(small)
        large = Cluster(f"{large_tasks:,} tasks", large_tasks, instances, endpoints)
        clusters.append(large)
        started = time.perf_counter()
        fresh = _etcd.open_state(large.prefix, endpoints)
        read = time.perf_counter() - started
        assert fresh.snapshot().task_count == large_tasks
        fresh.store.close()  # type: ignore[attr-defined]
        del fresh
        _report.line(f"a fresh process reads the {large_tasks:,}-task prefix", read, "s")
        gc.collect()

        _report.heading(f"latency through the replica, µs (p50 / p99: the lowest of {rounds} rounds)")
        columns = ("p50 small", "p99 small", "p50 large", "p99 large", "p99 ratio")
        print(f"  {'operation':<34} " + " ".join(f"{column:>10}" for column in columns))
        ratio = 0.0
        for index, (name, make) in enumerate(
            (("describe_tasks([id])", _describe), ("list_tasks family, first page", _list_family))
        ):
            s, big, spread = best_of_rounds(make(small), make(large), samples, rounds, args.seed + 10 * index)
            print(
                f"  {name:<34} {s['p50']:>10.1f} {s['p99']:>10.1f} {big['p50']:>10.1f} {big['p99']:>10.1f} "
                f"{big['p99'] / s['p99']:>10.2f}  {spread}" + ("" if index == 0 else " (not counted)"),
                flush=True,
            )
            if index == 0:
                ratio = big["p99"] / s["p99"]
    finally:
        for cluster in clusters:
            cluster.close(endpoints)
        if clusters:
            _etcd.delete_prefix(clusters[-1].prefix, endpoints, compact=True)
            if not args.no_defragment:
                _report.heading("housekeeping: the prefixes deleted, history compacted, members defragmented")
                for line in _etcd.defragment(endpoints):
                    print(f"  {line}")
    _report.finish(NAME, ratio, "p99 ratio (large/small)", TARGET)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
