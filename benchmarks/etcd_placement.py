"""etcd_placement: run_task placements per second through a 3-member etcd cluster, 100 tasks per call.

A ClusterState on an ``EtcdStore`` (the 3 members ``scripts/services.sh`` runs on loopback,
each fsyncing its own log) with 500 instances (16384 CPU units, 65536 MiB, three zones) and
one task definition (128 CPU units, 256 MiB). The timed loop calls
``state.run_task("app", count=100, placement_strategy=...)`` 50 times (5,000 tasks): each call
plans against the local replica, commits, and returns once the replica holds the write
(etcd's watch brings it back). Two strategies, each in a prefix of its own:

* ``spread(instanceId)``: 100 tasks on 100 instances, so a call writes about 200 keys (100
  tasks, 100 instances);
* the default (spread over zones, then binpack on memory): 100 tasks on a few instances,
  about 103 keys.

etcd refuses a transaction of more than ``--max-txn-ops`` operations (128 by default), so
``ClusterState.commit`` splits an incremental commit that writes more keys into halves
that fit: the spread calls take two transactions, the default ones one. This benchmark
measures that as it is, against etcd's default limit, which ``scripts/services.sh`` keeps:
the split costs a second round trip per call rather than failing, every etcd accepts it,
and raising the limit buys little here (see ``docs/distributed.md``). Against a cluster
started with a larger ``--max-txn-ops``, pass the same ``--max-txn-ops`` here to let
each call commit in one transaction.

``value`` = the lower of the two strategies' placements per second (tasks placed / wall
seconds of the run_task calls); target >= 2,000/s. ``baseline`` = the same calls
(spread(instanceId)) on an in-memory ClusterState, measured in the same run; ``ratio`` =
value / baseline.

Also reported: single-task commit latency, p50 and p99 of ``state.commit([PlaceTask(task)])``
over 300 commits through etcd, beside the same commits in memory.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from typing import Final

import clusterkit
from benchmarks import _etcd, _report
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY, definition
from clusterkit import ContainerInstance, PlaceTask, RegisterInstance, Resources, Task
from clusterkit.placement import PlacementStrategy, spread
from clusterkit.state import EtcdStore

NAME: Final = "etcd_placement"
DESCRIPTION: Final = "run_task placements/s through a 3-member etcd cluster, 100 per call (target >= 2,000/s)"
TARGET: Final = ">= 2000"
ZONES: Final = ("zone-a", "zone-b", "zone-c")


def seed(state: clusterkit.ClusterState, instances: int) -> list[str]:
    """Register ``instances`` instances over three zones and the ``app`` definition; their ids."""
    registered = Resources(INSTANCE_CPU, INSTANCE_MEMORY, clusterkit.model.DEFAULT_RESERVED_PORTS)
    ids = [f"i-{index:05d}" for index in range(instances)]
    changes = [
        RegisterInstance(
            ContainerInstance(
                id=instance_id,
                registered=registered,
                remaining=registered,
                attributes={"ecs.availability-zone": ZONES[index % len(ZONES)]},
            )
        )
        for index, instance_id in enumerate(ids)
    ]
    result = state.commit(changes)  # split into transactions that fit, on etcd
    assert result.ok, result.rejected[:3]
    state.register_task_definition(definition("app"))
    return ids


def placements(
    state: clusterkit.ClusterState, calls: int, count: int, strategy: Sequence[PlacementStrategy] | None
) -> tuple[float, int]:
    """Seconds of ``calls`` run_task calls of ``count`` tasks, and the tasks placed."""
    placed = 0
    start = time.perf_counter()
    for _ in range(calls):
        result = state.run_task("app", count=count, placement_strategy=strategy)
        placed += len(result.tasks)
    return time.perf_counter() - start, placed


def commit_latencies(state: clusterkit.ClusterState, ids: Sequence[str], samples: int, seed_: int) -> list[int]:
    """Nanoseconds of ``samples`` single-task commits, each on a random instance."""
    rng = random.Random(seed_)
    app = state.snapshot().task_definition("app")
    taken: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(samples):
        task = Task(
            id=clusterkit.state.new_id(),
            task_definition=app.key,
            container_instance_id=ids[rng.randrange(len(ids))],
            charge=app.charge,
        )
        t0 = clock()
        result = state.commit([PlaceTask(task)])
        taken.append(clock() - t0)
        assert result.ok, result.rejected
    return taken


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="5 calls per strategy, 50 latency samples (smoke test)")
    parser.add_argument("--calls", type=int, default=None, help="run_task calls per strategy (default 50)")
    parser.add_argument("--count", type=int, default=100, help="tasks per run_task call (default 100)")
    parser.add_argument("--instances", type=int, default=500, help="instances (default 500)")
    parser.add_argument("--samples", type=int, default=None, help="single-task commits timed (default 300)")
    parser.add_argument("--max-txn-ops", type=int, default=128, help="the cluster's --max-txn-ops (default 128)")
    parser.add_argument("--endpoints", default=",".join(_etcd.ENDPOINTS), help="etcd client URLs, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    endpoints = tuple(args.endpoints.split(","))
    _etcd.require_etcd(NAME, endpoints)
    calls = args.calls or (5 if args.quick else 50)
    samples = args.samples or (50 if args.quick else 300)
    strategies: dict[str, Sequence[PlacementStrategy] | None] = {
        "spread(instanceId)": [spread("instanceId")],
        "default (zones, then binpack memory)": None,
    }
    print(
        f"{NAME}: {calls} run_task calls of {args.count} tasks per strategy, {args.instances} instances, "
        f"etcd at {', '.join(endpoints)}, max_txn_ops {args.max_txn_ops}"
    )

    _report.heading("in memory (baseline): spread(instanceId)")
    memory = clusterkit.ClusterState("bench")
    memory_ids = seed(memory, args.instances)
    placements(memory, 2, args.count, strategies["spread(instanceId)"])  # warm up
    seconds, placed = placements(memory, calls, args.count, strategies["spread(instanceId)"])
    baseline = placed / seconds
    _report.line("placements/s", baseline, "/s", f"{placed:,} tasks in {seconds:.2f} s")

    rates: dict[str, float] = {}
    prefixes: list[str] = []
    latencies: list[int] = []
    try:
        for label, strategy in strategies.items():
            _report.heading(f"through etcd: {label}")
            prefix = _etcd.fresh_prefix(NAME)
            prefixes.append(prefix)
            state = _etcd.open_state(prefix, endpoints, max_txn_ops=args.max_txn_ops)
            store = state.store
            assert isinstance(store, EtcdStore)
            started = time.perf_counter()
            ids = seed(state, args.instances)
            _report.line("seeding (instances, definition)", time.perf_counter() - started, "s")
            placements(state, 2, args.count, strategy)  # warm up
            transactions, refused = store.transactions, store.refused
            seconds, placed = placements(state, calls, args.count, strategy)
            rates[label] = placed / seconds
            _report.line("placements/s", rates[label], "/s", f"{placed:,} tasks in {seconds:.2f} s")
            _report.line("etcd transactions per run_task call", (store.transactions - transactions) / calls)
            _report.line("transactions refused (a key had moved)", store.refused - refused)
            if not latencies:
                latencies = commit_latencies(state, ids, samples, args.seed)
            store.close()
    finally:
        for prefix in prefixes:
            _etcd.delete_prefix(prefix, endpoints)

    _report.heading("single-task commit latency, state.commit([PlaceTask(task)])")
    in_memory = commit_latencies(memory, memory_ids, max(samples, 2000), args.seed)
    etcd_ms = {key: value / 1000 for key, value in _report.summary_ns(latencies).items()}
    memory_ms = {key: value / 1000 for key, value in _report.summary_ns(in_memory).items()}
    print(f"  {'':<24} {'p50 ms':>10} {'p99 ms':>10} {'max ms':>10}")
    for label, figures in (("through etcd", etcd_ms), ("in memory", memory_ms)):
        print(f"  {label:<24} {figures['p50']:>10.3f} {figures['p99']:>10.3f} {figures['max']:>10.3f}")
    print(f"  ({len(latencies)} commits through etcd, {len(in_memory)} in memory)")

    worst = min(rates, key=lambda key: rates[key])
    print(f"\n  slower strategy: {worst}")
    _report.finish(NAME, rates[worst], "placements/s", TARGET, baseline=baseline, ratio=rates[worst] / baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
