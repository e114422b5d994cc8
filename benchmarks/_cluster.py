"""Building benchmark clusters through the public API: instances, task definitions, tasks.

Instances are registered and tasks placed by commits of batches (``RegisterInstance`` /
``PlaceTask`` changes, 1,000 per commit by default): every task still goes through the
full check of a commit, but a million of them build in a reasonable time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final

import clusterkit
from clusterkit import (
    ContainerInstance,
    PlaceTask,
    RegisterInstance,
    Resources,
    Task,
    TaskDefinition,
    load_task_definition,
)

__all__ = [
    "INSTANCE_CPU",
    "INSTANCE_MEMORY",
    "TASK_CPU",
    "TASK_MEMORY",
    "definition",
    "fill",
    "instance_ids",
    "new_state",
]

INSTANCE_CPU: Final = 16384
INSTANCE_MEMORY: Final = 65536
TASK_CPU: Final = 128  # 128 tasks fit an instance by CPU, 256 by memory
TASK_MEMORY: Final = 256
BATCH: Final = 1000


def instance_ids(count: int) -> list[str]:
    """The ids of ``count`` benchmark instances (``i-0000000`` …)."""
    return [f"i-{index:07d}" for index in range(count)]


def definition(family: str = "app", *, dynamic_ports: int = 0) -> TaskDefinition:
    """A one-container bridge definition (ECS JSON): TASK_CPU, TASK_MEMORY and ``dynamic_ports`` dynamic ports."""
    container = {
        "name": "app",
        "image": "registry.local/app:1",
        "cpu": TASK_CPU,
        "memory": TASK_MEMORY,
        "portMappings": [{"containerPort": 8080 + index, "hostPort": 0} for index in range(dynamic_ports)],
    }
    return load_task_definition({"family": family, "networkMode": "bridge", "containerDefinitions": [container]})


def new_state(
    instances: int, definitions: Sequence[TaskDefinition] = ()
) -> tuple[clusterkit.ClusterState, list[str], list[TaskDefinition]]:
    """A ClusterState with ``instances`` instances and ``definitions`` registered (revision 1 each)."""
    state = clusterkit.ClusterState("bench")
    ids = instance_ids(instances)
    registered = Resources(INSTANCE_CPU, INSTANCE_MEMORY, clusterkit.model.DEFAULT_RESERVED_PORTS)
    for start in range(0, instances, BATCH):
        changes = [
            RegisterInstance(ContainerInstance(id=instance_id, registered=registered, remaining=registered))
            for instance_id in ids[start : start + BATCH]
        ]
        result = state.commit(changes)
        assert result.ok, result.rejected[:3]
    registered_definitions = [state.register_task_definition(d) for d in definitions]
    return state, ids, registered_definitions


def fill(
    state: clusterkit.ClusterState,
    definitions: Sequence[TaskDefinition],
    ids: Sequence[str],
    count: int,
    *,
    batch: int = BATCH,
    keep_ids: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Place ``count`` tasks (no host ports), ``batch`` PlaceTask per commit.

    Task ``k`` goes to instance ``k % len(ids)`` with definition ``k % len(definitions)``,
    so one batch touches up to ``batch`` instances. Returns the task ids when ``keep_ids``.
    """
    keys = [d.key for d in definitions]
    charges = [d.charge for d in definitions]
    for d in definitions:
        if d.dynamic_ports != (0, 0) or d.charge.ports:
            raise ValueError("fill() places tasks without host ports")
    kept: list[str] = []
    n_ids, n_defs = len(ids), len(definitions)
    new_id = clusterkit.state.new_id
    for start in range(0, count, batch):
        now = time.time()
        changes = []
        for k in range(start, min(start + batch, count)):
            which = k % n_defs
            task = Task(
                id=new_id(),
                task_definition=keys[which],
                container_instance_id=ids[k % n_ids],
                charge=charges[which],
                created_at=now,
            )
            changes.append(PlaceTask(task))
        result = state.commit(changes)
        if result.rejected:
            raise RuntimeError(f"fill: {len(result.rejected)} placements rejected, e.g. {result.rejected[0]}")
        if keep_ids:
            kept.extend(change.task.id for change in changes)
        if progress is not None:
            progress(min(start + batch, count))
    return kept
