"""Processes for the multi-process etcd tests (importable, so ``spawn`` can start them)."""

from __future__ import annotations

import random
from typing import Any

from clusterkit import Agent, BaseScheduler, ClusterState, FakeExecutor, PlacementRequest, StoreError
from clusterkit.placement import place_and_commit
from clusterkit.state import EtcdStore


def race(endpoints: tuple[str, ...], prefix: str, seed: int, rounds: int, results: Any) -> None:
    """Place and stop tasks on the shared cluster; report what the state said was accepted."""
    rng = random.Random(seed)
    store = EtcdStore(endpoints, prefix=prefix)
    state = ClusterState("shared", store=store)
    scheduler = BaseScheduler(sample=2, seed=seed)
    accepted: list[str] = []
    stopped: list[str] = []
    commits = conflicts = 0
    try:
        definition = state.snapshot().task_definition("web")
        for _ in range(rounds):
            if accepted and rng.random() < 0.3:
                victim = rng.choice(accepted)
                if victim not in stopped:
                    state.stop_task(victim)
                    stopped.append(victim)
                    commits += 1
                continue
            outcome = place_and_commit(state, scheduler, PlacementRequest(definition, rng.randint(1, 4)))
            accepted.extend(task.id for task in outcome.tasks)
            commits += outcome.commits
            conflicts += len(outcome.conflicts)
    except StoreError as error:
        results.put({"seed": seed, "error": str(error)})
        return
    finally:
        store.close()
    results.put({"seed": seed, "accepted": accepted, "stopped": stopped, "commits": commits, "conflicts": conflicts})


def commit_forever(endpoints: tuple[str, ...], prefix: str, ready: Any) -> None:
    """Commit placements in a loop until killed (for the SIGKILL test)."""
    store = EtcdStore(endpoints, prefix=prefix)
    state = ClusterState("shared", store=store)
    ready.set()
    while True:
        state.run_task("web", count=3)
        for task in list(state.snapshot().tasks())[:2]:
            if task.desired_status != "STOPPED":
                state.stop_task(task.id)


def agent_forever(endpoints: tuple[str, ...], prefix: str, instance_id: str, ttl: int, ready: Any) -> None:
    """Register an agent (on a FakeExecutor) holding a lease of ``ttl`` seconds; run until killed."""
    store = EtcdStore(endpoints, prefix=prefix)
    state = ClusterState("shared", store=store)
    agent = Agent.register(state, FakeExecutor(), instance_id=instance_id, liveness_ttl=ttl)
    ready.set()
    agent.run(interval=0.2)


def docker_agent(
    endpoints: tuple[str, ...], prefix: str, cluster: str, engine: str, host_ip: str, instance_id: str, ready: Any
) -> None:
    """An agent on a real Docker engine, in a process of its own, sharing the cluster through etcd."""
    from clusterkit.executor.docker import DockerExecutor

    store = EtcdStore(endpoints, prefix=prefix)
    state = ClusterState(cluster, store=store)
    executor = DockerExecutor(engine, cluster=cluster, host_ip=host_ip, pull_policy="prefer-cached")
    agent = Agent.register(state, executor, instance_id=instance_id, liveness_ttl=2, attributes={"host": "docker"})
    ready.set()
    agent.run(interval=0.5)
