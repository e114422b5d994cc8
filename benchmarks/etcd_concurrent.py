"""etcd_concurrent: 4 scheduler processes placing tasks on one cluster through etcd, against 1.

The workload of ``concurrent_schedulers``, in etcd (the 3 members ``scripts/services.sh``
runs on loopback) and in separate processes rather than threads: 2,000 instances (16384
CPU units, 65536 MiB, three zones), the 16 mixed task shapes of ``benchmarks._placement``,
and 40,000 tasks as requests of 50 tasks of one shape, which fill about 56% of the
cluster's CPU by the end. N scheduler processes (N = 1, then 4; ``spawn``), each with its
own ``EtcdStore`` and replica and its own seeded stream of requests, wait at a barrier,
then each places its share with ``place_and_commit(state, BaseScheduler(sample=2),
PlacementRequest(definition, 50, strategies=[binpack("memory")]), max_attempts=10)``: plan
against the local replica, commit (one etcd transaction comparing every key it writes),
re-plan what was rejected. ``sample=2``: each scheduler takes the best of two random
feasible instances, as clusterkit recommends for schedulers sharing a cluster (binpack is
the most contended strategy: with a full scan every scheduler wants the same fullest
instance). With N > 1 each process also takes the ownership hint ``partition=(index, N)``:
it samples its own share of the instances first and another's only when its own are full
(``--no-partition`` leaves it out, to compare).

Two kinds of collision are counted, separately:

* **conflicts**, as Omega counts them and as ``concurrent_schedulers`` does in memory: a
  commit that met a rejection because another scheduler took the room first
  (``place_and_commit`` then plans and commits what was rejected again). The conflict
  fraction is such commits per successful transaction (a request all of whose tasks were
  placed);
* **refused transactions**: etcd refused a commit's transaction because a key it compared
  had moved (another process wrote one of the instances meanwhile, not necessarily taking
  the room this commit needed). ``ClusterState.commit`` waits for the replica to hold that
  write, checks the same changes again and sends them again: nothing is rejected unless
  the room is gone, but each refusal costs a round trip. A request of 50 tasks spread by
  ``sample=2`` over about 50 of the 1,000 instances shares an instance with a concurrent
  request of another process often, so many first sends are refused.

``value`` = the conflict fraction with 4 processes; target <= 0.1. ``baseline`` is null;
``ratio`` = placements per second of the 4 processes together (tasks placed / wall seconds
from the first start to the last end) ÷ those of 1 process placing all 40,000 alone. Every
replica applies every process's writes, refused transactions are sent again, and the
machine has 2 cores shared with etcd's 3 members: 4 processes do not place 4 times as fast.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import random
import time
from collections.abc import Sequence
from typing import Any, Final

import clusterkit
from benchmarks import _etcd, _report
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY, instance_ids
from benchmarks._placement import SEED, ZONE_ATTRIBUTE, ZONES, definition, shapes
from clusterkit import BaseScheduler, ContainerInstance, PlacementRequest, RegisterInstance, Resources
from clusterkit.placement import binpack, place_and_commit
from clusterkit.state import EtcdStore

NAME: Final = "etcd_concurrent"
DESCRIPTION: Final = "4 scheduler processes on one etcd cluster: conflict fraction (target <= 0.1), placements/s vs 1"
TARGET: Final = "<= 0.1"


def seed_cluster(state: clusterkit.ClusterState, instances: int) -> None:
    """Register ``instances`` zoned instances and one definition per shape."""
    registered = Resources(INSTANCE_CPU, INSTANCE_MEMORY, clusterkit.model.DEFAULT_RESERVED_PORTS)
    changes = [
        RegisterInstance(
            ContainerInstance(
                id=instance_id,
                registered=registered,
                remaining=registered,
                attributes={ZONE_ATTRIBUTE: ZONES[index % len(ZONES)]},
            )
        )
        for index, instance_id in enumerate(instance_ids(instances))
    ]
    result = state.commit(changes)  # split into transactions that fit
    assert result.ok, result.rejected[:3]
    for shape in shapes():
        state.register_task_definition(definition(shape))


def scheduler_process(
    endpoints: tuple[str, ...],
    prefix: str,
    index: int,
    requests: int,
    size: int,
    barrier: Any,
    results: Any,
    partition: tuple[int, int] | None,
) -> None:
    """One scheduler process: place ``requests`` requests of ``size`` tasks, report the counts."""
    state = _etcd.open_state(prefix, endpoints)
    store = state.store
    assert isinstance(store, EtcdStore)
    tally: dict[str, Any] = {"index": index, "placed": 0, "successful": 0, "commits": 0, "conflicted": 0}
    tally.update(gave_up=0, short=0, rejected=0)
    try:
        snapshot = state.snapshot()
        definitions = [snapshot.task_definition(shape.family) for shape in shapes()]
        rng = random.Random(SEED + 1000 * index)
        stream = [definitions[rng.randrange(len(definitions))] for _ in range(requests)]
        scheduler = BaseScheduler(sample=2, seed=index, partition=partition)
        strategies = (binpack("memory"),)
        barrier.wait(timeout=120)
        tally["start"] = time.time()
        cpu = time.process_time()
        for definition_ in stream:
            outcome = place_and_commit(
                state, scheduler, PlacementRequest(definition_, size, strategies=strategies), max_attempts=10
            )
            placed = len(outcome.tasks)
            gave_up = any("CONFLICT" in unplaced.reasons for unplaced in outcome.unplaced)
            tally["placed"] += placed
            tally["commits"] += outcome.commits
            tally["rejected"] += len(outcome.conflicts)
            tally["conflicted"] += outcome.commits if gave_up else max(0, outcome.commits - 1)
            if placed == size:
                tally["successful"] += 1
            elif gave_up:
                tally["gave_up"] += 1
            else:
                tally["short"] += 1
        tally["end"] = time.time()
        tally["cpu"] = time.process_time() - cpu
        tally["transactions"], tally["refused"] = store.transactions, store.refused
    except Exception as error:  # reported, so a failure shows as such rather than as a hang
        tally["error"] = f"{type(error).__name__}: {error}"
    finally:
        store.close()
        results.put(tally)


def run(
    endpoints: tuple[str, ...], processes: int, instances: int, total: int, size: int, partitioned: bool
) -> dict[str, Any]:
    """``processes`` scheduler processes placing ``total`` tasks into a fresh cluster; the summed counts.

    ``partitioned``: each process gets ``partition=(index, processes)``, the ownership hint.
    """
    prefix = _etcd.fresh_prefix(NAME)
    try:
        seeding = _etcd.open_state(prefix, endpoints)
        seed_cluster(seeding, instances)
        seeding.store.close()  # type: ignore[attr-defined]  # a replica here would compete for the CPU
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(processes)
        results = context.Queue()
        share = total // size // processes
        workers = [
            context.Process(
                target=scheduler_process,
                args=(
                    endpoints,
                    prefix,
                    index,
                    share,
                    size,
                    barrier,
                    results,
                    (index, processes) if partitioned else None,
                ),
            )
            for index in range(processes)
        ]
        for worker in workers:
            worker.start()
        tallies = []
        for _ in workers:
            try:
                tallies.append(results.get(timeout=900))
            except queue.Empty:
                tallies.append({"error": "a scheduler process reported nothing in 900 s"})
        for worker in workers:
            worker.join(timeout=30)
        errors = [tally["error"] for tally in tallies if "error" in tally]
        if errors:
            raise RuntimeError("; ".join(errors))
        summed = {key: sum(tally[key] for tally in tallies) for key in tallies[0] if key not in ("start", "end")}
        summed["seconds"] = max(tally["end"] for tally in tallies) - min(tally["start"] for tally in tallies)
        fresh = _etcd.open_state(prefix, endpoints)
        summed["held"] = fresh.snapshot().task_count
        problems = clusterkit.state.state_violations(fresh.snapshot())
        fresh.store.close()  # type: ignore[attr-defined]
        if problems:
            raise RuntimeError(f"the cluster is inconsistent after the run: {problems[:3]}")
        return summed
    finally:
        _etcd.delete_prefix(prefix, endpoints)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="4,000 tasks on 200 instances (smoke test)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per configuration (default 40,000)")
    parser.add_argument("--request", type=int, default=50, help="tasks per request (default 50)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 2,000)")
    parser.add_argument("--processes", type=int, default=4, help="scheduler processes racing (default 4)")
    parser.add_argument("--endpoints", default=",".join(_etcd.ENDPOINTS), help="etcd client URLs, comma-separated")
    parser.add_argument(
        "--no-partition", action="store_true", help="no ownership hint: every process samples the whole cluster"
    )
    args = parser.parse_args(argv)
    endpoints = tuple(args.endpoints.split(","))
    _etcd.require_etcd(NAME, endpoints)
    total = args.tasks or (4_000 if args.quick else 40_000)
    instances = args.instances or (200 if args.quick else 2_000)
    print(
        f"{NAME}: {total:,} tasks per configuration as requests of {args.request} (binpack(memory), "
        f"BaseScheduler(sample=2{'' if args.no_partition else ', partition=(i, N)'})), {instances:,} instances, "
        f"1 then {args.processes} scheduler processes, "
        f"etcd at {', '.join(endpoints)}"
    )
    figures: dict[int, dict[str, Any]] = {}
    for processes in (1, args.processes):
        _report.heading(f"{processes} scheduler process(es)")
        summed = run(endpoints, processes, instances, total, args.request, processes > 1 and not args.no_partition)
        figures[processes] = summed
        rate = summed["placed"] / summed["seconds"]
        fraction = summed["conflicted"] / max(1, summed["successful"])
        summed["rate"], summed["fraction"] = rate, fraction
        _report.line(
            "placements/s (all processes together)", rate, "/s", f"{summed['placed']:,} in {summed['seconds']:.1f} s"
        )
        _report.line(
            "scheduler CPU seconds per 1,000 placements",
            1000 * summed["cpu"] / max(1, summed["placed"]),
            "s",
            "all processes, their watch threads included",
        )
        _report.line("requests placed whole (successful transactions)", summed["successful"])
        _report.line("commits that met a rejection", summed["conflicted"], "", f"{summed['rejected']:,} placements")
        _report.line(
            "etcd transactions refused (a key had moved)", summed["refused"], "", f"of {summed['transactions']:,}"
        )
        _report.line("conflict fraction (per successful transaction)", fraction)
        _report.line(
            "refused transactions per successful transaction",
            summed["refused"] / max(1, summed["successful"]),
            "",
            "sent again after a re-check",
        )
        if summed["gave_up"] or summed["short"]:
            _report.line("requests given up / short of room", f"{summed['gave_up']} / {summed['short']}")
        assert summed["held"] == summed["placed"], (summed["held"], summed["placed"])
    many = figures[args.processes]
    ratio = many["rate"] / figures[1]["rate"]
    _report.heading(f"{args.processes} processes ÷ 1")
    _report.line("placements/s ratio", ratio)
    _report.finish(NAME, many["fraction"], "conflicts/transaction", TARGET, ratio=ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
