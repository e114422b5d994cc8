"""Several OS processes, each its own ClusterState, on one etcd cluster."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable

import pytest

from clusterkit import ClusterState
from clusterkit.testing import check_state
from tests.etcd import _workers

WORKERS = 4
ROUNDS = 40


def seeded(state: ClusterState) -> None:
    for n in range(6):
        state.register_container_instance(
            f"i-{n}", cpu=8192, memory=8192, attributes={"ecs.availability-zone": f"zone-{n % 3}"}
        )
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 128, "cpu": 64}]}
    )


@pytest.mark.slow
def test_four_processes_race_and_the_cluster_stays_exact(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    seeded(open_state())
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_workers.race, args=(etcd, prefix, seed, ROUNDS, results)) for seed in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert all("error" not in report for report in reports), reports
    fresh = open_state().snapshot()
    assert check_state(fresh) == []
    accepted = [task_id for report in reports for task_id in report["accepted"]]
    assert len(accepted) == len(set(accepted))  # no task was accepted twice
    held = {task.id: task for task in fresh.tasks()}
    assert set(accepted) == set(held)  # every accepted task is there, and nothing else is
    stopped = {task_id for report in reports for task_id in report["stopped"]}
    assert {task_id for task_id, task in held.items() if task.desired_status == "STOPPED"} == stopped
    commits = sum(report["commits"] for report in reports)
    conflicts = sum(report["conflicts"] for report in reports)
    print(f"\n{WORKERS} processes: {commits} commits, {conflicts} conflicts, fraction {conflicts / commits:.3f}")
    assert commits >= WORKERS * ROUNDS // 2


@pytest.mark.slow
def test_a_process_killed_mid_commit_leaves_nothing_half_applied(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    seeded(open_state())
    context = multiprocessing.get_context("spawn")
    for delay in (0.3, 0.7, 1.1):
        ready = context.Event()
        worker = context.Process(target=_workers.commit_forever, args=(etcd, prefix, ready))
        worker.start()
        assert ready.wait(60)
        time.sleep(delay)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=10)
        fresh = open_state().snapshot()
        assert check_state(fresh) == [], f"after a kill {delay}s in"
        assert fresh.task_count > 0
