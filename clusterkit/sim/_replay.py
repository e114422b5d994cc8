"""The workload, played into the state: one event at a time, at its moment.

Instances join and leave, task definitions are registered, services are created, updated
and deleted with the policy's strategies (and autoscaled, with the policy's
``ServiceScaling``), batch tasks are handed to the queues, a service's load is kept for the
autoscaler, and crashes and unhealthy spells go to the hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from clusterkit.api import ClusterState
from clusterkit.autoscaling import CPU_UTILIZATION, running_tasks
from clusterkit.model import PlacementStrategy
from clusterkit.sim._hosts import Hosts
from clusterkit.sim._queues import Queues
from clusterkit.sim._workload import (
    BatchTask,
    Crash,
    CreateService,
    DeleteService,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterDefinition,
    Unhealthy,
    UpdateService,
    WorkloadEvent,
)
from clusterkit.state import Snapshot

__all__ = ["ZONE", "Replay", "WorkloadLoad"]

ZONE: Final = "ecs.availability-zone"
"""The attribute an instance's zone goes in."""


class WorkloadLoad:
    """The services' CPU utilisation from the workload's load events (a MetricSource)."""

    def __init__(self) -> None:
        self.loads: dict[str, float] = {}

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """100 × demand / CPU units reserved by the RUNNING tasks; None without load or tasks."""
        demand = self.loads.get(service)
        running = running_tasks(snapshot, service)
        if metric != CPU_UTILIZATION or demand is None or not running:
            return None
        return 100.0 * demand / sum(task.charge.cpu or 1024 for task in running)


class Replay:
    """Plays workload events into ``state``; batch tasks go to ``queues``, disturbances to ``hosts``.

    ``created`` is called with the name of each REPLICA service the workload creates.
    """

    def __init__(
        self,
        state: ClusterState,
        queues: Queues,
        hosts: Hosts,
        load: WorkloadLoad,
        strategies: tuple[PlacementStrategy, ...],
        created: Callable[[str], None] | None = None,
    ) -> None:
        self._state = state
        self._queues = queues
        self._hosts = hosts
        self._load = load
        self._strategies = strategies
        self._created = created
        self._definitions: dict[tuple[str | None, int, int], str] = {}  # batch (family, CPU, memory) → family:revision

    def apply(self, event: WorkloadEvent) -> None:
        """Play one workload event into the state."""
        if isinstance(event, BatchTask):
            self._arrive(event)
        elif isinstance(event, InstanceJoin):
            attributes: dict[str, str | None] = dict(event.attributes)
            if event.zone is not None:
                attributes[ZONE] = event.zone
            self._state.register_container_instance(
                event.instance, cpu=event.cpu, memory=event.memory, attributes=attributes
            )
        elif isinstance(event, InstanceLeave):
            self._state.deregister_container_instance(event.instance, force=True)
        elif isinstance(event, RegisterDefinition):
            self._state.register_task_definition(event.definition)
        elif isinstance(event, CreateService):
            self._create(event)
        elif isinstance(event, UpdateService):
            self._state.update_service(
                event.service, desired_count=event.desired_count, task_definition=event.task_definition
            )
        elif isinstance(event, DeleteService):
            self._state.update_service(event.service, desired_count=0)
            self._state.delete_service(event.service)
        elif isinstance(event, Load):
            self._load.loads[event.service] = event.demand
        elif isinstance(event, Crash):
            self._hosts.crash(event.service, event.count)
        elif isinstance(event, Unhealthy):
            self._hosts.fall_ill(event.service, event.count, event.duration)

    def _create(self, event: CreateService) -> None:
        replica = event.scheduling_strategy == "REPLICA"
        self._state.create_service(
            event.service,
            event.task_definition,
            desired_count=event.desired_count if replica else None,
            scheduling_strategy="DAEMON" if event.scheduling_strategy == "DAEMON" else "REPLICA",
            placement_strategy=self._strategies if replica else None,
        )
        if self._created is not None and replica:
            self._created(event.service)

    def _arrive(self, event: BatchTask) -> None:
        """Hand the tasks to the queues, registering their definition first when new: one
        revision of the event's family (or of ``batch-CPU-MEMORY``) for each shape it arrives in.
        """
        key = (event.family, event.cpu, event.memory)
        definition = self._definitions.get(key)
        if definition is None:
            family = event.family if event.family is not None else f"batch-{event.cpu}-{event.memory}"
            container = {"name": "app", "image": "batch", "cpu": event.cpu, "memory": event.memory}
            registered = self._state.register_task_definition({"family": family, "containerDefinitions": [container]})
            definition = self._definitions[key] = registered.key
        self._queues.submit(definition, event.count, event.duration)
