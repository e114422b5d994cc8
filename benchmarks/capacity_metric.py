"""capacity_metric: CapacityProviderReservation evaluations per second on a large cluster.

10,000 instances of one capacity provider (16 vCPU, 64 GiB) and 100,000 tasks: 90,000
standalone tasks on the first 80% of the instances (the rest are empty, or hold only a
daemon service's task), a daemon service's tasks on 2,000 instances, and 200 replica
services of 50 tasks, some of them short of tasks (so shapes wait and the bin-pack runs).

Between two evaluations, commits flow as a scheduler's and agents' would: each round
stops 20 tasks (desired STOPPED, then STOPPED), places 20 new ones and changes the desired
count of one service. The figure is evaluations per second of ``ReservationTracker.reservation()``
(fold the round's events in, then evaluate; the commits are not timed), target ≥ 10/s.
Baseline, measured in the same run: ``capacity_reservation(snapshot, provider)``, the full
rescan of every instance, task and service. ``ratio`` = value / baseline. At the end the
tracker's answer is checked against the full rescan.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from typing import Final

from benchmarks import _report
from benchmarks._cluster import BATCH, INSTANCE_CPU, INSTANCE_MEMORY, definition, fill, instance_ids
from clusterkit import (
    ClusterState,
    ContainerInstance,
    PlaceTask,
    RegisterInstance,
    Resources,
    StopTask,
    Task,
    TaskStateChange,
)
from clusterkit.autoscaling import (
    CAPACITY_PROVIDER_ATTRIBUTE,
    CapacityProvider,
    ReservationTracker,
    capacity_reservation,
)
from clusterkit.model import DEFAULT_RESERVED_PORTS
from clusterkit.state import new_id

NAME: Final = "capacity_metric"
DESCRIPTION: Final = (
    "CapacityProviderReservation evaluations/s at 10,000 instances and 100,000 tasks with commits flowing "
    "(target >= 10/s); baseline: the full rescan of a snapshot"
)
TARGET: Final = ">= 10"
SERVICES: Final = 200
SERVICE_TASKS: Final = 50
DAEMON_SHARE: Final = 0.2
PER_ROUND: Final = 20


def build(instances: int, tasks: int) -> tuple[ClusterState, CapacityProvider, list[str], list[str]]:
    """The cluster, its provider, the instance ids and the standalone task ids."""
    state = ClusterState("bench")
    shape = Resources(INSTANCE_CPU, INSTANCE_MEMORY, DEFAULT_RESERVED_PORTS)
    provider = CapacityProvider("bench", shape)
    ids = instance_ids(instances)
    for start in range(0, instances, BATCH):
        state.commit(
            [
                RegisterInstance(
                    ContainerInstance(
                        id=instance_id,
                        registered=shape,
                        remaining=shape,
                        attributes={CAPACITY_PROVIDER_ATTRIBUTE: "bench"},
                    )
                )
                for instance_id in ids[start : start + BATCH]
            ]
        )
    app = state.register_task_definition(definition("app"))
    agent = state.register_task_definition(definition("agent"))
    state.create_service("daemon", agent.key, scheduling_strategy="DAEMON")
    daemon_hosts = ids[: int(instances * DAEMON_SHARE)]
    changes = [
        PlaceTask(Task(new_id(), agent.key, instance_id, agent.charge, group="service:daemon"))
        for instance_id in daemon_hosts
    ]
    for start in range(0, len(changes), BATCH):
        state.commit(changes[start : start + BATCH])
    services = min(SERVICES, max(1, tasks // (SERVICE_TASKS * 10)))
    busy = ids[: int(instances * 0.8)]
    placed = 0
    for index in range(services):
        name = f"svc-{index:04d}"
        short = 3 if index % 4 == 0 else 0  # every fourth service waits for 3 tasks
        state.create_service(name, app.key, desired_count=SERVICE_TASKS + short)
        group = f"service:{name}"
        state.commit(
            [
                PlaceTask(Task(new_id(), app.key, busy[(placed + k) % len(busy)], app.charge, group=group))
                for k in range(SERVICE_TASKS)
            ]
        )
        placed += SERVICE_TASKS
    standalone = tasks - len(daemon_hosts) - placed
    kept = fill(state, [app], busy, standalone)
    return state, provider, ids, kept


def churn(state: ClusterState, rng: random.Random, live: list[str], busy: Sequence[str], round_: int) -> None:
    """One round of commits: stop PER_ROUND tasks, place PER_ROUND new ones, change one service."""
    victims = [live.pop(rng.randrange(len(live))) for _ in range(PER_ROUND)]
    state.commit([StopTask(task_id) for task_id in victims])
    snapshot = state.snapshot()
    state.commit(
        [TaskStateChange(t, snapshot.task(t).version, last_status="STOPPED") for t in victims]  # the agents report
    )
    app = snapshot.task_definition("app")
    fresh = [Task(new_id(), app.key, rng.choice(busy), app.charge) for _ in range(PER_ROUND)]
    state.commit([PlaceTask(task) for task in fresh])
    live.extend(task.id for task in fresh)
    name = f"svc-{rng.randrange(min(SERVICES, len(list(snapshot.services())) - 1)):04d}"
    state.update_service(name, desired_count=SERVICE_TASKS + (round_ % 5))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="1,000 instances and 10,000 tasks (smoke test)")
    parser.add_argument("--instances", type=int, default=None, help="instances (default 10,000)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks (default 100,000)")
    parser.add_argument("--rounds", type=int, default=None, help="evaluations timed (default 200)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    instances = args.instances or (1_000 if args.quick else 10_000)
    tasks = args.tasks or (10_000 if args.quick else 100_000)
    rounds = args.rounds or (40 if args.quick else 200)
    rng = random.Random(args.seed)

    print(f"{NAME}: {instances:,} instances of one capacity provider, {tasks:,} tasks, {rounds} evaluations")
    started = time.perf_counter()
    state, provider, ids, live = build(instances, tasks)
    _report.line("cluster built (not timed)", time.perf_counter() - started, "s")
    busy = ids[: int(instances * 0.8)]

    started = time.perf_counter()
    tracker = ReservationTracker(state, provider)
    _report.line("tracker built from a snapshot (once)", time.perf_counter() - started, "s")

    _report.heading(f"incremental: {PER_ROUND} stops, {PER_ROUND} placements, 1 service update between evaluations")
    samples: list[float] = []
    churn_seconds = 0.0
    for round_ in range(rounds):
        begin = time.perf_counter()
        churn(state, rng, live, busy, round_)
        churn_seconds += time.perf_counter() - begin
        begin = time.perf_counter()
        found = tracker.reservation()
        samples.append(time.perf_counter() - begin)
    value = len(samples) / sum(samples)
    _report.line("evaluation (refresh + metric), p50", statistics.median(samples) * 1e3, "ms")
    _report.line("evaluation, p99", _report.percentile(samples, 99) * 1e3, "ms")
    _report.line("commits between evaluations (not timed), mean", churn_seconds / rounds * 1e3, "ms")
    _report.line(
        "last reservation",
        found.metric,
        "%",
        f"M {found.needed}, N {found.running}, busy {found.busy}, waiting {found.waiting}",
    )

    _report.heading("baseline: capacity_reservation(snapshot), a full rescan")
    scans: list[float] = []
    for _ in range(3 if args.quick else 5):
        snapshot = state.snapshot()
        begin = time.perf_counter()
        full = capacity_reservation(snapshot, provider)
        scans.append(time.perf_counter() - begin)
    baseline = len(scans) / sum(scans)
    _report.line("full rescan, mean", statistics.mean(scans) * 1e3, "ms")
    same = (full.needed, full.running, full.metric, full.busy) == (
        found.needed,
        found.running,
        found.metric,
        found.busy,
    )
    _report.line("tracker == full rescan at the end", "yes" if same else "NO")
    tracker.close()
    if not same:
        print(f"MISMATCH: tracker {found} vs full rescan {full}")
        return 1
    _report.line("incremental evaluations/s (value)", value, "/s")
    _report.line("full rescans/s (baseline)", baseline, "/s")
    _report.finish(NAME, value, "evaluations/s", TARGET, baseline=baseline, ratio=value / baseline)
    return 0
