"""service_reconcile: the service scheduler healing 2,000 services after 10% of their tasks die.

A ``FakeCluster`` (clusterkit's testing kit) of 1,000 hosts in three zones, each run by an
``Agent`` on a ``FakeExecutor`` (4 CPUs, 8 GiB: 16 tasks of 256 CPU units and 512 MiB), on a
simulated clock, with one ``ServiceScheduler``; 2,000 REPLICA services of 5 tasks each
(10,000 tasks) with ECS's default placement (spread over zones, then over instances) are
brought to a steady state first (not timed). The agents are kept: a tick of all 1,000 of
them costs far less than the scheduler's work (the split is printed), so replacing them by
direct ``submit_task_state_change`` reports would change little.

Measured:

1. **One reconcile pass of an unchanged steady service** (target ≤ 50 µs): the pure
   ``reconcile(snapshot, service, now)`` and ``ServiceScheduler.reconcile_service(name)``
   (snapshot, decision, nothing to commit), for every service; median and p99. Again on a
   cluster ten times smaller in the same run: the pass reads the service's own tasks, not
   the cluster, so its cost must not grow with the cluster. Baseline: a naive pass that
   counts the service's live tasks by scanning every task of the cluster.
2. **Task replacements committed per second** (the figure; target ≥ 5,000/s): 10% of the
   tasks (seeded) crash; the agents report them STOPPED; then the scheduler's passes
   (``notice`` + ``step``: decide, place, commit each service atomically with its record)
   are timed until every dead task has a committed replacement. Baseline, on a copy of the
   same state: a naive loop that, for every service, rescans every task of the cluster to
   count its live tasks and places what is missing first-fit, one commit per service. The
   rate per CPU second of the passes (``time.process_time``) is printed beside it: on a
   shared machine it leaves out the time other processes had the cores.
3. **Wall time to steady state**: from the crashes until every service again runs 5
   RUNNING tasks, healthy and recorded so (the agents start them; 40 s of simulated time
   for a task without a health check to count healthy), ticks of the whole cluster
   included.
4. The same replacement figure with ``binpack(memory)`` placement for every service (the
   placement that reads the state's capacity index), to separate the scheduler's own cost
   from ECS's default spread placement.

Once both clusters are built the process freezes what it holds (``gc.freeze()``, as
docs/performance.md advises a long-running scheduler that loaded a large state): the
1,000 agents and FakeExecutors of the simulation and the state they share are then left
out of later collections, which would otherwise walk all of them during the timed passes.
``--no-freeze`` leaves the collector as it is; the GC's time in the replacement passes is
printed either way.

``value`` = replacements/s with the default placement; ``baseline`` = the naive loop's;
``ratio`` = value / baseline.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import statistics
import time
from collections.abc import Sequence
from typing import Final

import attrs

from benchmarks import _report
from clusterkit import ClusterState, MemoryStore, PlaceTask, Snapshot, Task
from clusterkit.services import ServiceOutcome, reconcile
from clusterkit.state import new_id
from clusterkit.testing import FakeCluster

NAME: Final = "service_reconcile"
DESCRIPTION: Final = (
    "service scheduler: replacements committed/s after 10% of 2,000 services × 5 tasks die on 1,000 hosts "
    "(target >= 5,000/s; a steady pass <= 50 µs); baseline: a loop rescanning every task"
)
TARGET: Final = ">= 5000"
STEADY_TARGET: Final = "<= 50"
TASKS_PER_SERVICE: Final = 5
DEFINITION: Final = {
    "family": "web",
    "containerDefinitions": [{"name": "web", "image": "registry.local/web:1", "cpu": 256, "memory": 512}],
}


def build(instances: int, services: int) -> tuple[FakeCluster, float]:
    """A steady cluster of ``services`` × 5 tasks on ``instances`` hosts; and the seconds it took."""
    start = time.perf_counter()
    cluster = FakeCluster("bench", instances=instances, cpus=4, memory=8192)
    cluster.state.register_task_definition(DEFINITION)
    for index in range(services):
        cluster.state.create_service(f"svc-{index:05d}", "web", desired_count=TASKS_PER_SERVICE)
    settle(cluster)
    return cluster, time.perf_counter() - start


def steady(cluster: FakeCluster) -> bool:
    """Every service runs its desired count, RUNNING, recorded healthy, its deployment COMPLETED."""
    snapshot = cluster.state.snapshot()
    for service in snapshot.services():
        tasks = list(snapshot.service_tasks_holding(service))
        if len(tasks) != service.desired_count or service.deployments[0].rollout_state != "COMPLETED":
            return False
        if any(t.last_status != "RUNNING" or t.desired_status != "RUNNING" for t in tasks):
            return False
        if not {t.id for t in tasks} <= service.healthy_seen:
            return False
    return True


def settle(cluster: FakeCluster, limit: int = 20) -> int:
    """Tick until steady: 1 s ticks while tasks start, 40 s jumps while they become healthy."""
    for tick in range(limit):
        snapshot = cluster.state.snapshot()
        starting = any(t.last_status != "RUNNING" for t in snapshot.tasks() if not t.is_stopped)
        cluster.tick(1.0 if starting or tick < 2 else 40.0)
        if not starting and steady(cluster):
            return tick + 1
    raise RuntimeError("the cluster did not settle")


# -- 1. one pass of a steady service ----------------------------------------------------------


def steady_passes(cluster: FakeCluster) -> dict[str, list[float]]:
    """Nanoseconds per pass, for every service: pure reconcile, reconcile_service, and the naive count."""
    snapshot = cluster.state.snapshot()
    now = cluster.clock.now
    scheduler = cluster.schedulers[0]
    services = list(snapshot.services())
    pure: list[float] = []
    loop: list[float] = []
    for service in services:
        start = time.perf_counter_ns()
        decision = reconcile(snapshot, service, now)
        pure.append(time.perf_counter_ns() - start)
        assert decision.is_empty, f"{service.name} is not steady: {decision}"
    for service in services:
        start = time.perf_counter_ns()
        outcome = scheduler.reconcile_service(service.name)
        loop.append(time.perf_counter_ns() - start)
        assert not outcome.committed
    naive: list[float] = []
    for service in services[:: max(1, len(services) // 50)]:  # it is slow: a sample of 50
        start = time.perf_counter_ns()
        naive_count(snapshot, service.name)
        naive.append(time.perf_counter_ns() - start)
    return {"pure": pure, "loop": loop, "naive": naive}


def naive_count(snapshot: Snapshot, name: str) -> int:
    """The baseline pass: the service's live tasks, counted by scanning every task."""
    group = f"service:{name}"
    return sum(1 for task in snapshot.tasks() if task.group == group and task.last_status != "STOPPED")


# -- 2. replacements --------------------------------------------------------------------------


def kill(cluster: FakeCluster, fraction: float, seed: int) -> list[str]:
    """Crash ``fraction`` of the service tasks; the agents report them STOPPED (not timed)."""
    scheduler = cluster.schedulers[0]
    scheduler.notice(cluster._subscriptions[0].drain())
    scheduler.step()  # wake-ups already due: not part of the healing
    snapshot = cluster.state.snapshot()
    running = sorted(t.id for t in snapshot.tasks() if t.service_name is not None and t.last_status == "RUNNING")
    victims = random.Random(seed).sample(running, int(len(running) * fraction))
    for task_id in victims:
        cluster.crash(task_id)
    for agent in cluster.agents.values():
        agent.step()
    snapshot = cluster.state.snapshot()
    assert all(snapshot.task(task_id).is_stopped for task_id in victims)
    return victims


@attrs.frozen
class Healing:
    replaced: int
    scheduler_seconds: float
    scheduler_cpu: float
    passes: int
    wall_to_steady: float
    agent_seconds: float
    simulated_seconds: float


def heal(cluster: FakeCluster, dead: int, profile: cProfile.Profile | None = None) -> Healing:
    """Time the scheduler's passes until ``dead`` replacements are committed, then tick to steady."""
    scheduler = cluster.schedulers[0]
    subscription = cluster._subscriptions[0]
    wall = time.perf_counter()
    replaced = passes = 0
    spent = cpu = 0.0
    while replaced < dead and passes < 20:
        start, start_cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        scheduler.notice(subscription.drain())
        outcomes: list[ServiceOutcome] = scheduler.step()
        if profile is not None:
            profile.disable()
        spent += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        passes += 1
        replaced += sum(len(outcome.started) for outcome in outcomes)
    if replaced < dead:
        raise RuntimeError(f"only {replaced} of {dead} replacements committed")
    agent_seconds = 0.0
    begun = cluster.clock.now
    for _ in range(20):
        start = time.perf_counter()
        for agent in cluster.agents.values():
            agent.step()
        agent_seconds += time.perf_counter() - start
        if steady(cluster):
            break
        snapshot = cluster.state.snapshot()
        starting = any(t.last_status != "RUNNING" for t in snapshot.tasks() if not t.is_stopped)
        cluster.clock.advance(1.0 if starting else 40.0)
        scheduler.notice(subscription.drain())
        start = time.perf_counter()
        scheduler.step()
        spent += time.perf_counter() - start
    else:
        raise RuntimeError("the services did not come back to a steady state")
    return Healing(replaced, spent, cpu, passes, time.perf_counter() - wall, agent_seconds, cluster.clock.now - begun)


def naive_heal(roots_state: ClusterState, services: int) -> tuple[int, float]:
    """The baseline on a copy of the killed state: per service, rescan every task, place first-fit."""
    state = ClusterState("naive", store=MemoryStore(roots_state._roots()), clock=roots_state.clock)
    definition = state.snapshot().task_definition("web")
    charge = definition.charge
    replaced = 0
    start = time.perf_counter()
    for index in range(services):
        name = f"svc-{index:05d}"
        snapshot = state.snapshot()
        missing = TASKS_PER_SERVICE - naive_count(snapshot, name)
        if missing <= 0:
            continue
        changes: list[PlaceTask] = []
        for instance in snapshot.instances():
            if len(changes) == missing:
                break
            if instance.status == "ACTIVE" and charge.fits(instance.remaining):
                task = Task(
                    id=new_id(),
                    task_definition=definition.key,
                    container_instance_id=instance.id,
                    charge=charge,
                    group=f"service:{name}",
                )
                changes.append(PlaceTask(task))
        result = state.commit(changes)
        replaced += len(result.accepted)
    return replaced, time.perf_counter() - start


def use_binpack(cluster: FakeCluster) -> None:
    """Every service places with binpack(memory) from now on (no new deployment)."""
    for service in list(cluster.state.snapshot().services()):
        cluster.state.update_service(service.name, placement_strategy=[{"type": "binpack", "field": "memory"}])
    cluster.tick(1.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="100 hosts, 200 services (smoke test)")
    parser.add_argument("--instances", type=int, default=None, help="hosts (default 1,000)")
    parser.add_argument("--services", type=int, default=None, help="services of 5 tasks (default 2,000)")
    parser.add_argument("--seed", type=int, default=7, help="which tasks die")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the replacement passes")
    parser.add_argument("--no-freeze", action="store_true", help="do not gc.freeze() the built clusters")
    args = parser.parse_args(argv)
    instances = args.instances or (100 if args.quick else 1_000)
    services = args.services or (200 if args.quick else 2_000)

    print(
        f"{NAME}: {services:,} services × {TASKS_PER_SERVICE} tasks on {instances:,} hosts (agents on FakeExecutors, "
        "simulated clock), ECS's default placement (spread over zones, then instances)",
        flush=True,
    )
    cluster, built = build(instances, services)
    small, _ = build(max(10, instances // 10), max(20, services // 10))
    _report.line("cluster built and steady (not timed)", built, "s")
    if not args.no_freeze:
        gc.collect()
        gc.freeze()
    print(
        "  the built clusters " + ("left to the collector (--no-freeze)" if args.no_freeze else "frozen (gc.freeze())")
    )

    _report.heading(f"one reconcile pass of an unchanged steady service (target {STEADY_TARGET} µs)")
    passes = steady_passes(cluster)
    small_passes = steady_passes(small)
    small.close()
    pure, loop, naive = passes["pure"], passes["loop"], passes["naive"]
    steady_us = statistics.median(loop) / 1000
    for label, samples in (
        ("reconcile(snapshot, service, now)", pure),
        ("ServiceScheduler.reconcile_service(name)", loop),
        ("naive: scan every task to count the service's", naive),
    ):
        summary = _report.summary_ns(samples)
        _report.line(label, summary["p50"], "µs", f"p99 {summary['p99']:.1f} µs")
    small_us = statistics.median(small_passes["loop"]) / 1000
    _report.line(
        "reconcile_service on a cluster 10× smaller",
        small_us,
        "µs",
        f"{steady_us / small_us:.2f}× here: O(tasks of the service), not of the cluster",
    )
    verdict = "PASS" if _report.meets(steady_us, STEADY_TARGET) else "FAIL"
    _report.line("steady pass, median", steady_us, "µs", f"target {STEADY_TARGET}: {verdict}")

    _report.heading("10% of the tasks die: replacements committed (default spread placement)")
    dead = kill(cluster, 0.10, args.seed)
    killed_state = ClusterState("copy", store=MemoryStore(cluster.state._roots()), clock=cluster.clock)
    profile = cProfile.Profile() if args.profile else None
    with _report.GcTimer() as gc_time:
        healing = heal(cluster, len(dead), profile)
    rate = healing.replaced / healing.scheduler_seconds
    naive_replaced, naive_seconds = naive_heal(killed_state, services)
    naive_rate = naive_replaced / naive_seconds
    _report.line("tasks killed", len(dead))
    _report.line("replacements committed", healing.replaced, "", f"in {healing.passes} scheduler passes")
    _report.line(
        "scheduler time to commit them", healing.scheduler_seconds, "s", "decide + place + commit, per service"
    )
    _report.line("replacements committed per second", rate, "/s", f"target {TARGET}")
    _report.line(
        "  per CPU second of the passes (process time)",
        healing.replaced / healing.scheduler_cpu,
        "/s",
        "leaves out the time other processes had the cores",
    )
    _report.line("  cyclic GC meanwhile (passes and ticks)", gc_time.total, "s", gc_time.describe())
    _report.line("naive loop (rescan every task per service)", naive_rate, "/s", f"{naive_replaced} placed")
    _report.line("wall time from the crashes to steady state", healing.wall_to_steady, "s", "agents' ticks included")
    _report.line("  of which the agents (all hosts, each tick)", healing.agent_seconds, "s")
    _report.line("simulated time to steady state", healing.simulated_seconds, "s", "40 s to count healthy")

    _report.heading("the same with binpack(memory) placement: the scheduler's own cost")
    use_binpack(cluster)
    dead_again = kill(cluster, 0.10, args.seed + 1)
    binpack = heal(cluster, len(dead_again))
    binpack_rate = binpack.replaced / binpack.scheduler_seconds
    _report.line("replacements committed per second, binpack(memory)", binpack_rate, "/s")
    _report.line("  per CPU second of the passes (process time)", binpack.replaced / binpack.scheduler_cpu, "/s")
    _report.line("wall time to steady state, binpack(memory)", binpack.wall_to_steady, "s")
    cluster.close()

    if profile is not None:
        _report.heading("cProfile of the replacement passes (cumulative)")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())

    _report.finish(NAME, rate, "replacements/s", TARGET, baseline=naive_rate, ratio=rate / naive_rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
