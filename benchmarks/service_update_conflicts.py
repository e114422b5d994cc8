"""service_update_conflicts: users' ``update_service`` calls racing a busy service scheduler.

One in-memory ``ClusterState`` on the wall clock: 40 hosts in three zones, 6 REPLICA services
of 6 tasks (``--services``). Threads, all at once, for a fixed number of updates:

- **the service scheduler** (one ``ServiceScheduler``) reconciles every service in a loop, as
  fast as it can, committing each decision with the service's record;
- **churn** plays the agents: every PENDING task is reported RUNNING, every task asked to stop
  is reported STOPPED, and 8 RUNNING tasks crash each round (reported STOPPED with an exit
  code), so the scheduler keeps replacing tasks and writing the services' records;
- **N updaters** (``--threads``, 6 by default) each call
  ``update_service(name, desired_count=...)`` on a random one of its own services (updater
  ``i`` owns the services ``i, i + N, ...``: two users racing on one service must retry, by
  design, and that is not what is measured), alternating its count between 5 and 7,
  ``--updates`` times each.

While the updaters run, the interpreter switches threads every 10 µs
(``sys.setswitchinterval``), so the threads interleave about as finely as processes would.

Measured: how many of the updates needed more than one commit (each commit an update makes is
counted; a second one means the first was refused, ``STALE_VERSION``, because the scheduler
wrote the service meanwhile), and how many failed outright (``ConflictError`` after every
retry). The target is 0 retries: a user's write never conflicts with the scheduler's.

With ``--etcd`` the state is on etcd (``scripts/services.sh start``): the scheduler and the
churn run in this process on one ``EtcdStore`` replica, and each updater is a process of its
own (``spawn``) with a replica of its own, so a user's write and the scheduler's meet only in
etcd's transactions.

``value`` = updates that needed more than one commit; ``baseline`` = the scheduler's commits in
the same run (the writes the updates raced); ``ratio`` = retried updates / updates.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import attrs

from benchmarks import _etcd, _report
from clusterkit import ClusterState
from clusterkit.errors import ClusterkitError, ConflictError
from clusterkit.services import ServiceScheduler
from clusterkit.state import EtcdStore

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

    def commit(self, changes: Any, *, atomic: bool = False, client_token: Any = None) -> Any:
        """Commit, counting one for the calling thread when it counts."""
        if getattr(self.counting, "on", False):
            self.counting.commits += 1
        return super().commit(changes, atomic=atomic, client_token=client_token)

    @contextmanager
    def counted(self) -> Iterator[threading.local]:
        """Count the commits made on this thread inside the block."""
        self.counting.on = True
        self.counting.commits = 0
        try:
            yield self.counting
        finally:
            self.counting.on = False


def build(state: ClusterState, hosts: int, services: int, tasks: int) -> None:
    """The cluster's hosts and services (not timed)."""
    for index in range(hosts):
        state.register_container_instance(
            f"i-{index:04d}", cpu=4096, memory=8192, attributes={"ecs.availability-zone": f"zone-{index % 3}"}
        )
    state.register_task_definition(DEFINITION)
    for index in range(services):
        state.create_service(f"svc-{index:03d}", "web", desired_count=tasks)


@attrs.define
class Tally:
    """What the updaters counted."""

    calls: int = 0
    retried: int = 0
    failed: int = 0
    extra_commits: int = 0

    def add(self, other: Tally) -> None:
        """Fold another updater's counts in."""
        self.calls += other.calls
        self.retried += other.retried
        self.failed += other.failed
        self.extra_commits += other.extra_commits


def update_loop(state: CountingState, mine: Sequence[str], updates: int, seed: int) -> Tally:
    """One updater: ``updates`` calls of update_service(desired_count) on its own services."""
    tally = Tally()
    rng = random.Random(seed)
    for round_ in range(updates):
        with state.counted() as counting:
            try:
                state.update_service(rng.choice(mine), desired_count=5 + 2 * (round_ % 2))
                lost = False
            except ConflictError:
                lost = True
        time.sleep(rng.random() * 0.002)  # users' calls arrive spread out
        tally.calls += 1
        tally.failed += lost
        tally.retried += counting.commits > 1
        tally.extra_commits += max(0, counting.commits - 1)
    return tally


def updater_process(
    endpoints: tuple[str, ...], prefix: str, mine: list[str], updates: int, seed: int, start: Any, results: Any
) -> None:
    """An updater in a process of its own, on its own EtcdStore replica (``spawn``)."""
    state = CountingState("bench", store=EtcdStore(endpoints, prefix=prefix))
    try:
        start.wait()
        results.put(attrs.asdict(update_loop(state, mine, updates, seed)))
    finally:
        state.store.close()  # type: ignore[attr-defined]


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


class Run:
    """The service scheduler and the agents' churn in threads, while updaters run."""

    def __init__(self, state: ClusterState, names: list[str], seed: int) -> None:
        self.state = state
        self.names = names
        self.seed = seed
        self.scheduler = ServiceScheduler(state)
        self.done = threading.Event()
        self.scheduler_commits = self.scheduler_conflicts = self.agent_reports = 0

    def schedule(self) -> None:
        """Reconcile every service, again and again."""
        while not self.done.is_set():
            for outcome in self.scheduler.step(self.names):
                self.scheduler_commits += outcome.committed
                self.scheduler_conflicts += outcome.conflicts

    def churn(self) -> None:
        """The agents' reports, round after round."""
        rng = random.Random(self.seed)
        while not self.done.is_set():
            self.agent_reports += agent_round(self.state, rng, crashes=8)

    def around(self, updaters: Callable[[], Tally], *, switch: float = 0.005) -> tuple[Tally, float, int]:
        """Run ``updaters`` while the scheduler and the churn run (switching threads every
        ``switch`` seconds): what they counted, their seconds, and the scheduler's commits meanwhile.
        """
        sys.setswitchinterval(switch)
        background = [threading.Thread(target=self.schedule), threading.Thread(target=self.churn)]
        for thread in background:
            thread.start()
        try:
            time.sleep(0.5)  # the scheduler busy first
            before = self.scheduler_commits
            start = time.perf_counter()
            tally = updaters()
            seconds = time.perf_counter() - start
            return tally, seconds, self.scheduler_commits - before
        finally:
            sys.setswitchinterval(0.005)
            self.done.set()
            for thread in background:
                thread.join()

    def with_threads(self, state: CountingState, threads: int, updates: int) -> tuple[Tally, float, int]:
        """Updaters in threads of this process."""
        total = Tally()
        lock = threading.Lock()

        def one(index: int) -> None:
            tally = update_loop(state, self.names[index::threads], updates, self.seed * 1000 + index)
            with lock:
                total.add(tally)

        def updaters() -> Tally:
            started = [threading.Thread(target=one, args=(index,)) for index in range(threads)]
            for thread in started:
                thread.start()
            for thread in started:
                thread.join()
            return total

        return self.around(updaters, switch=SWITCH_INTERVAL)  # threads interleave as finely as processes would

    def with_processes(
        self, endpoints: tuple[str, ...], prefix: str, processes: int, updates: int
    ) -> tuple[Tally, float, int]:
        """Updaters in processes of their own, each on its own etcd replica."""
        context = multiprocessing.get_context("spawn")
        start, results = context.Event(), context.Queue()
        started = [
            context.Process(
                target=updater_process,
                args=(
                    endpoints,
                    prefix,
                    self.names[index::processes],
                    updates,
                    self.seed * 1000 + index,
                    start,
                    results,
                ),
            )
            for index in range(processes)
        ]
        for process in started:
            process.start()

        def updaters() -> Tally:
            start.set()
            total = Tally()
            for _ in started:
                total.add(Tally(**results.get(timeout=600)))
            for process in started:
                process.join()
            return total

        time.sleep(3.0)  # the processes up and reading their replicas
        return self.around(updaters)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="4 updaters × 25 updates (smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="updater threads (default 6)")
    parser.add_argument("--updates", type=int, default=None, help="updates per thread (default 200)")
    parser.add_argument("--services", type=int, default=6, help="services (default 6)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--etcd", action="store_true", help="on etcd, the updaters in processes of their own")
    parser.add_argument("--endpoints", default=",".join(_etcd.ENDPOINTS), help="etcd client URLs, comma-separated")
    args = parser.parse_args(argv)
    threads = args.threads or (4 if args.quick else 6)
    if not 1 <= threads <= args.services:
        parser.error(f"--threads must be 1..{args.services} (each updater owns at least one service)")
    updates = args.updates or (25 if args.quick else 200)
    services = args.services
    print(
        f"{NAME}: {threads} updater {'processes on etcd' if args.etcd else 'threads'} × {updates} "
        f"update_service(desired_count) calls on {services} services "
        "while one ServiceScheduler reconciles every service in a loop and the agents' reports churn tasks",
        flush=True,
    )
    prefix = ""
    if args.etcd:
        endpoints = tuple(args.endpoints.split(","))
        _etcd.require_etcd(NAME, endpoints)
        prefix = _etcd.fresh_prefix(NAME)
        state: ClusterState = ClusterState("bench", store=EtcdStore(endpoints, prefix=prefix))
    else:
        state = CountingState("bench")
    try:
        build(state, 40, services, 6)
        run = Run(state, [f"svc-{index:03d}" for index in range(services)], args.seed)
        if args.etcd:
            tally, seconds, raced = run.with_processes(endpoints, prefix, threads, updates)
        else:
            assert isinstance(state, CountingState)
            tally, seconds, raced = run.with_threads(state, threads, updates)
    finally:
        if args.etcd:
            state.store.close()  # type: ignore[attr-defined]
            _etcd.delete_prefix(prefix, endpoints)
    retried, failed, calls, extra_commits = tally.retried, tally.failed, tally.calls, tally.extra_commits
    scheduler_conflicts, agent_reports = run.scheduler_conflicts, run.agent_reports

    _report.heading("while the updates ran")
    _report.line("service scheduler commits", raced, "", f"{raced / seconds:.0f}/s")
    _report.line("service scheduler commits refused (whole run)", scheduler_conflicts, "", "decided again")
    _report.line("agent reports committed (whole run)", agent_reports)
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
