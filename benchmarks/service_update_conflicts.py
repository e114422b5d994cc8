"""service_update_conflicts: users' ``update_service`` calls racing a busy service scheduler.

One in-memory ``ClusterState`` on the wall clock: 40 hosts in three zones, 6 REPLICA services
of 6 tasks (``--services``). Threads, all at once, for a fixed number of updates:

- **the service scheduler** (one ``ServiceScheduler``) reconciles every service in a loop, as
  fast as it can, committing each decision with the service's record;
- **churn** plays the agents: every PENDING task is reported RUNNING, every task asked to stop
  is reported STOPPED, and 8 RUNNING tasks crash each round (reported STOPPED with an exit
  code), so the scheduler keeps replacing tasks and writing the services' records;
  the interpreter switches threads every 10 µs (``sys.setswitchinterval``), so the threads
  interleave about as finely as processes would;
- **N updaters** (``--threads``, 6 by default) each call
  ``update_service(name, desired_count=...)`` on a random one of its own services (updater
  ``i`` owns the services ``i, i + N, ...``: two users racing on one service must retry, by
  design, and that is not what is measured), alternating its count between 5 and 7,
  ``--updates`` times each.

Measured: how many of the updates needed more than one commit (each commit an update makes is
counted; a second one means the first was refused, ``STALE_VERSION``, because the scheduler
wrote the service meanwhile), and how many failed outright (``ConflictError`` after every
retry). The target is 0 retries: a user's write never conflicts with the scheduler's.

``value`` = updates that needed more than one commit; ``baseline`` = the scheduler's commits in
the same run (the writes the updates raced); ``ratio`` = retried updates / updates.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from benchmarks import _report
from clusterkit import ClusterState
from clusterkit.errors import ClusterkitError, ConflictError
from clusterkit.services import ServiceScheduler

NAME: Final = "service_update_conflicts"
DESCRIPTION: Final = (
    "update_service(desired_count) from N threads while the service scheduler commits as fast as it can "
    "(tasks crashing and replaced): updates that needed a retry (target 0)"
)
TARGET: Final = "<= 0"
SWITCH_INTERVAL: Final = 1e-5
DEFINITION: Final = {
    "family": "web",
    "containerDefinitions": [{"name": "web", "image": "registry.local/web:1", "cpu": 64, "memory": 128}],
}


class CountingState(ClusterState):
    """A ClusterState counting, per thread, the commits a call makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counting = threading.local()

    def commit(self, changes: Any, *, atomic: bool = False) -> Any:
        """Commit, counting one for the calling thread when it counts."""
        if getattr(self.counting, "on", False):
            self.counting.commits += 1
        return super().commit(changes, atomic=atomic)

    @contextmanager
    def counted(self) -> Iterator[threading.local]:
        """Count the commits made on this thread inside the block."""
        self.counting.on = True
        self.counting.commits = 0
        try:
            yield self.counting
        finally:
            self.counting.on = False


def build(hosts: int, services: int, tasks: int) -> CountingState:
    """The cluster and its services (their first tasks started and RUNNING, not timed)."""
    state = CountingState("bench")
    for index in range(hosts):
        state.register_container_instance(
            f"i-{index:04d}", cpu=4096, memory=8192, attributes={"ecs.availability-zone": f"zone-{index % 3}"}
        )
    state.register_task_definition(DEFINITION)
    for index in range(services):
        state.create_service(f"svc-{index:03d}", "web", desired_count=tasks)
    return state


def agent_round(state: ClusterState, rng: random.Random, crashes: int) -> int:
    """One round of the agents' reports; returns how many reports were committed."""
    reports = 0
    snapshot = state.snapshot()
    running = []
    for task in snapshot.tasks():
        if task.is_stopped:
            continue
        try:
            if task.desired_status == "STOPPED":
                state.submit_task_state_change(task.id, version=task.version, status="STOPPED")
            elif task.last_status == "PENDING":
                state.submit_task_state_change(task.id, version=task.version, status="RUNNING")
            else:
                running.append(task)
                continue
        except ClusterkitError:
            continue  # moved meanwhile: next round
        reports += 1
    for task in rng.sample(running, min(crashes, len(running))):
        try:
            state.submit_task_state_change(
                task.id, version=task.version, status="STOPPED", reason="Essential container in task exited"
            )
            reports += 1
        except ClusterkitError:
            pass
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="4 updaters × 25 updates (smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="updater threads (default 6)")
    parser.add_argument("--updates", type=int, default=None, help="updates per thread (default 200)")
    parser.add_argument("--services", type=int, default=6, help="services (default 6)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    threads = args.threads or (4 if args.quick else 6)
    if not 1 <= threads <= args.services:
        parser.error(f"--threads must be 1..{args.services} (each updater owns at least one service)")
    updates = args.updates or (25 if args.quick else 200)
    services = args.services
    print(
        f"{NAME}: {threads} updater threads × {updates} update_service(desired_count) calls on {services} services "
        "while one ServiceScheduler reconciles every service in a loop and the agents' reports churn tasks",
        flush=True,
    )
    state = build(40, services, 6)
    names = [f"svc-{index:03d}" for index in range(services)]
    scheduler = ServiceScheduler(state)
    done = threading.Event()
    scheduler_commits = [0]
    scheduler_conflicts = [0]
    agent_reports = [0]

    def schedule() -> None:
        while not done.is_set():
            for outcome in scheduler.step(names):
                scheduler_commits[0] += outcome.committed
                scheduler_conflicts[0] += outcome.conflicts

    def churn() -> None:
        rng = random.Random(args.seed)
        while not done.is_set():
            agent_reports[0] += agent_round(state, rng, crashes=8)

    retried = failed = calls = 0
    extra_commits = 0
    tally = threading.Lock()

    def update(index: int) -> None:
        nonlocal retried, failed, calls, extra_commits
        rng = random.Random(args.seed * 1000 + index)
        mine = names[index::threads]
        for round_ in range(updates):
            name = rng.choice(mine)
            with state.counted() as counting:
                try:
                    state.update_service(name, desired_count=5 + 2 * (round_ % 2))
                    lost = False
                except ConflictError:
                    lost = True
            time.sleep(rng.random() * 0.002)  # users' calls arrive spread out
            with tally:
                calls += 1
                failed += lost
                retried += counting.commits > 1
                extra_commits += max(0, counting.commits - 1)

    sys.setswitchinterval(SWITCH_INTERVAL)  # threads interleave as finely as processes would
    background = [threading.Thread(target=schedule), threading.Thread(target=churn)]
    for thread in background:
        thread.start()
    time.sleep(0.5)  # the scheduler busy first
    start = time.perf_counter()
    before = scheduler_commits[0]
    updaters = [threading.Thread(target=update, args=(index,)) for index in range(threads)]
    for thread in updaters:
        thread.start()
    for thread in updaters:
        thread.join()
    seconds = time.perf_counter() - start
    sys.setswitchinterval(0.005)
    raced = scheduler_commits[0] - before
    done.set()
    for thread in background:
        thread.join()

    _report.heading("while the updates ran")
    _report.line("service scheduler commits", raced, "", f"{raced / seconds:.0f}/s")
    _report.line("service scheduler commits refused (whole run)", scheduler_conflicts[0], "", "decided again")
    _report.line("agent reports committed (whole run)", agent_reports[0])
    _report.line("wall time of the updates", seconds, "s")
    _report.heading("update_service(desired_count=...) calls")
    _report.line("calls", calls)
    _report.line("needed more than one commit (retried)", retried, "", f"{extra_commits} extra commits in all")
    _report.line("failed after every retry (ConflictError)", failed)
    verdict = "PASS" if _report.meets(retried, TARGET) else "FAIL"
    _report.line("retried updates", retried, "", f"target {TARGET}: {verdict}")
    _report.finish(NAME, retried, "retried updates", TARGET, baseline=raced, ratio=retried / max(calls, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
