"""docker_launch: 50 tasks launched through the agent and DockerExecutor vs a ``docker run -d`` loop.

Both sides start the same containers on the same real engine: the local busybox image
(``scripts/services.sh`` builds it), ``memory`` 32 MiB, a shell that sleeps until SIGTERM,
labelled with a cluster of the benchmark's own. The clusterkit side is what a user does:
``run_task(count=50)`` on an instance an :class:`~clusterkit.Agent` registered from the
engine, then ``agent.step()`` until every task is RUNNING in the state — placement, image
check, create, start, inspect and the status reports included. The baseline is the loop an
operator would script: ``docker run -d`` once per container, one after the other, with the
same image, limits and labels. ``value`` = loop seconds ÷ clusterkit seconds (the
speed-up), target >= 2; ``baseline`` is the loop, 1× by definition. Each side runs
``--rounds`` times, alternating, and the best round of each counts (the machine is
shared); containers are removed between rounds, untimed.
"""

from __future__ import annotations

import argparse
import subprocess
import time
import uuid
from collections.abc import Sequence
from typing import Final

from benchmarks import _report
from benchmarks._docker import IMAGE, engine_ready
from clusterkit import Agent, ClusterState
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_TASK, DockerExecutor

NAME: Final = "docker_launch"
DESCRIPTION: Final = "50 tasks via agent + DockerExecutor vs a sequential docker run -d loop (speed-up, target >= 2)"
TARGET: Final = ">= 2"
COMMAND: Final = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")


def through_agent(url: str, cluster: str, tasks: int, workers: int) -> float:
    """Seconds from run_task to every task RUNNING, through the agent and DockerExecutor."""
    state = ClusterState(cluster)
    executor = DockerExecutor(url, cluster=cluster, pull_policy="prefer-cached", host_ip="127.0.0.2")
    agent = Agent.register(state, executor, workers=workers)
    container = {"name": "app", "image": IMAGE, "memory": 32, "command": list(COMMAND)}
    state.register_task_definition({"family": "bench", "containerDefinitions": [container]})
    began = time.perf_counter()
    placed = state.run_task("bench", count=tasks).tasks
    while True:
        agent.step()
        snapshot = state.snapshot()
        statuses = [snapshot.task(task.id).last_status for task in placed]
        if all(status == "RUNNING" for status in statuses):
            break
        if "STOPPED" in statuses:
            reasons = {snapshot.task(t.id).stopped_reason for t in placed if snapshot.task(t.id).is_stopped}
            raise SystemExit(f"{NAME}: a task failed to start: {reasons}")
    elapsed = time.perf_counter() - began
    agent.close()
    executor.close()
    if len(placed) != tasks:
        raise SystemExit(f"{NAME}: only {len(placed)} of {tasks} tasks were placed")
    return elapsed


def docker_run_loop(url: str, cluster: str, tasks: int) -> float:
    """Seconds for a sequential ``docker run -d`` of the same containers."""
    began = time.perf_counter()
    for number in range(tasks):
        subprocess.run(
            [
                "docker",
                "-H",
                url,
                "run",
                "-d",
                "--memory",
                "32m",
                "--label",
                f"{LABEL_CLUSTER}={cluster}",
                "--label",
                f"{LABEL_TASK}=loop-{number}",
                IMAGE,
                *COMMAND,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return time.perf_counter() - began


def remove_all(url: str, cluster: str) -> None:
    """Remove every container of the benchmark's cluster (not timed)."""
    listed = subprocess.run(
        ["docker", "-H", url, "ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={cluster}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "-H", url, "rm", "-f", *listed], check=True, stdout=subprocess.DEVNULL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="10 tasks, one round (smoke test)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per side (default 50)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per side, best counts (default 2)")
    parser.add_argument("--workers", type=int, default=8, help="the agent's parallel launches (default 8)")
    parser.add_argument("--engine", default="unix:///var/run/docker.sock", help="the Docker engine to use")
    args = parser.parse_args(argv)
    tasks = args.tasks or (10 if args.quick else 50)
    rounds = args.rounds or (1 if args.quick else 2)
    if not engine_ready(NAME, args.engine):
        return 2

    cluster = f"bench-{uuid.uuid4().hex[:8]}"
    print(f"{NAME}: {tasks} containers per side on {args.engine}, {rounds} round(s), agent workers={args.workers}")
    agent_seconds: list[float] = []
    loop_seconds: list[float] = []
    try:
        for round_number in range(1, rounds + 1):
            _report.heading(f"round {round_number}")
            loop_seconds.append(docker_run_loop(args.engine, cluster, tasks))
            remove_all(args.engine, cluster)
            _report.line("docker run -d loop", loop_seconds[-1], "s", f"{loop_seconds[-1] / tasks * 1000:.0f} ms each")
            agent_seconds.append(through_agent(args.engine, cluster, tasks, args.workers))
            remove_all(args.engine, cluster)
            _report.line("run_task + agent + DockerExecutor", agent_seconds[-1], "s", "until all RUNNING")
    finally:
        remove_all(args.engine, cluster)
    best_agent, best_loop = min(agent_seconds), min(loop_seconds)
    _report.heading("best of each")
    _report.line("docker run -d loop", best_loop, "s")
    _report.line("clusterkit", best_agent, "s")
    speedup = best_loop / best_agent
    # The baseline is the docker run loop itself: 1x by definition (its seconds are printed above).
    _report.finish(NAME, speedup, "x", TARGET, baseline=1.0, ratio=speedup)
    return 0
