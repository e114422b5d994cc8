"""Two ``clusterkit controller`` processes on the real etcd: one leads, the other takes over.

The test process holds an agent (on a FakeExecutor) in the same cluster, so the leader's
service scheduler has real work: placing a service's tasks, which the agent runs. Each
controller serves /metrics on a loopback address of its own; ``clusterkit_leader`` and
``clusterkit_commits_total`` say who acts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clusterkit import Agent, ClusterState, FakeExecutor
from tests.conftest import loopback
from tests.etcd._ops import METRICS_PORT, running, scrape, spawn, wait_until
from tests.etcd.test_etcd_store import WEB

TTL = 3
HOSTS = (loopback(31), loopback(32))


@pytest.fixture
def cluster(open_state: Callable[..., ClusterState]) -> Iterator[ClusterState]:
    """The test's state on its prefix, a service's task definition and an agent running in a thread."""
    state = open_state()
    state.register_task_definition(WEB)
    agent = Agent.register(state, FakeExecutor(), instance_id="i-1", liveness_ttl=TTL)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"interval": 0.2}, daemon=True)
    thread.start()
    yield state
    stop.set()
    thread.join(timeout=10)
    agent.close()


def controller(prefix: str, number: int, log: Path) -> subprocess.Popen[bytes]:
    """Controller ``c{number}`` on the test's prefix, its /metrics on ``HOSTS[number]``."""
    return spawn(
        "controller",
        log,
        *("--etcd-prefix", prefix, "--cluster", "shared", "--lease-ttl", str(TTL), "--identity", f"c{number}"),
        *("--interval", "0.2", "--metrics-host", HOSTS[number], "--metrics-port", str(METRICS_PORT)),
    )


def leading(number: int) -> bool:
    return scrape(HOSTS[number], timeout=0.5).get("clusterkit_leader") == 1.0


def running_tasks(state: ClusterState, count: int) -> Callable[[], bool]:
    return lambda: (
        sum(task.last_status == "RUNNING" for task in state.snapshot().tasks()) == count
        and all(task.last_status in ("RUNNING", "STOPPED") for task in state.snapshot().tasks())
    )


@contextmanager
def pair(state: ClusterState, prefix: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Controller c0 leading, c1 standing by, and a service of 2 tasks c0 placed; yields c0.
    Both are killed at the end.
    """
    first = controller(prefix, 0, tmp_path / "c0.log")
    with running([first]) as processes:
        assert wait_until(lambda: leading(0), 30), (tmp_path / "c0.log").read_text()
        processes.append(controller(prefix, 1, tmp_path / "c1.log"))
        assert wait_until(lambda: scrape(HOSTS[1]).get("clusterkit_leader") == 0.0, 30), (
            tmp_path / "c1.log"
        ).read_text()
        state.create_service("svc", "web", desired_count=2)
        assert wait_until(running_tasks(state, 2), 30), "the leader did not place the service's tasks"
        yield first


def test_sigkill_the_leader_and_the_standby_leads_within_ttl_plus_one_second(
    cluster: ClusterState, prefix: str, tmp_path: Path
) -> None:
    state = cluster
    with pair(state, prefix, tmp_path) as first:
        assert scrape(HOSTS[0])["clusterkit_placements_total"] == 2
        assert scrape(HOSTS[1]).get("clusterkit_commits_total", 0) == 0  # the standby acts on nothing

        killed = time.monotonic()
        os.kill(first.pid, signal.SIGKILL)
        took_over = wait_until(lambda: leading(1), TTL + 3)
        assert took_over is not None, (tmp_path / "c1.log").read_text()
        print(f"failover: {took_over - killed:.2f} s")
        assert took_over - killed <= TTL + 1.0

        state.update_service("svc", desired_count=3)  # the new leader decides
        assert wait_until(running_tasks(state, 3), 30)
        assert scrape(HOSTS[1])["clusterkit_placements_total"] == 1
        assert "leading (term 1)" in (tmp_path / "c1.log").read_text()


def test_sigstop_the_leader_it_stops_acting_and_never_acts_again_when_continued(
    cluster: ClusterState, prefix: str, tmp_path: Path
) -> None:
    state = cluster
    with pair(state, prefix, tmp_path) as first:
        time.sleep(0.5)  # settled: nothing left for the leader to commit
        before = scrape(HOSTS[0])["clusterkit_commits_total"]

        stopped = time.monotonic()
        os.kill(first.pid, signal.SIGSTOP)
        took_over = wait_until(lambda: leading(1), TTL + 3)
        assert took_over is not None and took_over - stopped <= TTL + 1.0
        state.update_service("svc", desired_count=3)
        assert wait_until(running_tasks(state, 3), 30)

        os.kill(first.pid, signal.SIGCONT)  # continued long after its lease ended
        assert wait_until(lambda: scrape(HOSTS[0]).get("clusterkit_leader") == 0.0, 10)
        assert wait_until(lambda: "stopped leading (lease not renewed" in (tmp_path / "c0.log").read_text(), 10)
        resumed = scrape(HOSTS[0])
        assert resumed["clusterkit_commits_total"] == before  # not one commit after it was stopped
        state.update_service("svc", desired_count=4)  # work for a leader, again
        assert wait_until(running_tasks(state, 4), 30)
        time.sleep(1.0)
        after = scrape(HOSTS[0])
        assert after["clusterkit_commits_total"] == before and after["clusterkit_leader"] == 0.0
        assert leading(1) and scrape(HOSTS[1])["clusterkit_placements_total"] == 2
        assert scrape(HOSTS[1])["clusterkit_leader_changes_total"] == 1


def test_sigterm_hands_leadership_over_at_once(cluster: ClusterState, prefix: str, tmp_path: Path) -> None:
    with pair(cluster, prefix, tmp_path) as first:
        asked = time.monotonic()
        first.terminate()
        took_over = wait_until(lambda: leading(1), TTL)
        assert first.wait(timeout=10) == 0
        assert took_over is not None and took_over - asked < 1.5, "not handed over at once"
        log = (tmp_path / "c0.log").read_text()
        assert "stopped leading (stopping)" in log
