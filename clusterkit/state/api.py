"""The ECS-named facade of a ClusterState: the calls an ECS user already knows, in snake_case.

Writes build changes and commit them; reads answer from a fresh snapshot. Where ECS
returns failures as data (StartTask, DescribeTasks …) so does this; where ECS raises a
client error (an unknown task definition, a bad argument) this raises a ClusterkitError
and the state is unchanged.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar

import attrs

from clusterkit.errors import NotFoundError, StaleVersionError, ValidationError
from clusterkit.model.arns import Arns
from clusterkit.model.instance import DEFAULT_RESERVED_PORTS, ContainerInstance
from clusterkit.model.resources import Resources
from clusterkit.model.task import HealthStatus, StopCode, Task, TaskStatus
from clusterkit.model.taskdef import TaskDefinition
from clusterkit.placement.ports import PortRange, assign_host_ports
from clusterkit.state.changes import (
    Change,
    CommitResult,
    DeregisterInstance,
    DeregisterTaskDefinition,
    PlaceTask,
    RegisterInstance,
    RegisterTaskDefinition,
    StopTask,
    TaskStateChange,
    UpdateInstance,
)
from clusterkit.state.ids import new_id
from clusterkit.state.snapshot import MAX_DESCRIBE, Described, Failure, Snapshot

if TYPE_CHECKING:
    from clusterkit.model.taskdef import PlacementConstraint
    from clusterkit.placement.request import PlacementStrategy
    from clusterkit.placement.scheduler import Scheduler

__all__ = ["EcsApi", "RunResult"]


@attrs.frozen(slots=True)
class RunResult:
    """The answer of start_task / run_task: the tasks started and, per miss, a failure."""

    tasks: tuple[Task, ...]
    failures: tuple[Failure, ...] = ()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _from_snapshot(read: Callable[Concatenate[Snapshot, _P], _R]) -> Callable[Concatenate[EcsApi, _P], _R]:
    """A facade method that answers ``read`` from a fresh snapshot (same signature and docs)."""

    @functools.wraps(read)
    def answer(self: EcsApi, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return read(self.snapshot(), *args, **kwargs)

    return answer


class EcsApi(ABC):
    """ECS's control-plane calls over ``commit`` and ``snapshot``."""

    arns: Arns
    clock: Callable[[], float]
    dynamic_ports: PortRange

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """An immutable view of the newest state."""

    @abstractmethod
    def commit(self, changes: Iterable[Change], *, atomic: bool = False) -> CommitResult:
        """Apply changes optimistically (see ClusterState.commit)."""

    def _commit_one(self, change: Change, field: str, value: object) -> CommitResult:
        result = self.commit([change])
        for rejection in result.rejected:
            if rejection.reason == "MISSING":
                raise NotFoundError(field, value)
            if rejection.reason == "STALE_VERSION":
                current = getattr(rejection.change, "version", 0)
                raise StaleVersionError(field, value, current) from None
            raise ValidationError(field, value, rejection.detail)
        return result

    # -- container instances -----------------------------------------------------------

    def register_container_instance(
        self,
        instance_id: str | None = None,
        *,
        cpu: int,
        memory: int,
        scalars: Mapping[str, float] | None = None,
        attributes: Mapping[str, str | None] | None = None,
        reserved_ports: Iterable[int] = DEFAULT_RESERVED_PORTS,
        reserved_udp_ports: Iterable[int] = (),
        ec2_instance_id: str | None = None,
        agent_version: str = "1.0.0",
    ) -> ContainerInstance:
        """Register an instance with ``cpu`` units and ``memory`` MiB (ECS RegisterContainerInstance).

        The reserved ports (ECS's 22, 2375, 2376, 51678, 51679 by default) are taken
        from the start. ``ecs.os-type`` defaults to ``linux``.
        """
        for field, value in (("scalars", scalars), ("attributes", attributes)):
            if value is not None and not isinstance(value, Mapping):
                raise ValidationError(field, value, "must be a mapping of name to value")
        ports = _port_list("reservedPorts", reserved_ports)
        ports_udp = _port_list("reservedUdpPorts", reserved_udp_ports)
        registered = Resources(cpu, memory, ports, ports_udp, scalars or {})
        merged: dict[str, str | None] = {"ecs.os-type": "linux"}
        merged.update(attributes or {})
        instance = ContainerInstance(
            id=instance_id if instance_id is not None else new_id(),
            registered=registered,
            remaining=registered,
            attributes=merged,
            agent_version=agent_version,
            ec2_instance_id=ec2_instance_id,
        )
        result = self._commit_one(RegisterInstance(instance), "containerInstanceId", instance.id)
        return result.snapshot.instance(instance.id)

    def deregister_container_instance(self, container_instance: str, *, force: bool = False) -> ContainerInstance:
        """Make an instance INACTIVE; with ``force`` its remaining tasks are stopped."""
        if not isinstance(force, bool):
            raise ValidationError("force", force, "must be true or false")
        instance_id = Arns.last_part(container_instance)
        result = self._commit_one(DeregisterInstance(instance_id, force), "containerInstance", container_instance)
        return result.snapshot.instance(instance_id)

    def update_container_instances_state(
        self, container_instances: Sequence[str], status: Literal["ACTIVE", "DRAINING"]
    ) -> Described[ContainerInstance]:
        """Set instances ACTIVE or DRAINING (no new tasks go to a DRAINING instance)."""
        ids = _id_list("containerInstances", container_instances)
        if status not in ("ACTIVE", "DRAINING"):
            raise ValidationError("status", status, "must be ACTIVE or DRAINING")
        result = self.commit([UpdateInstance(instance_id, status=status) for instance_id in ids])
        missing = {rejection.change.instance_id for rejection in result.rejected}  # type: ignore[union-attr]
        snapshot = result.snapshot
        return Described(
            tuple(snapshot.instance(i) for i in ids if i not in missing),
            tuple(Failure(snapshot.arns.container_instance(i)) for i in ids if i in missing),
        )

    def put_attributes(self, container_instance: str, attributes: Mapping[str, str | None]) -> ContainerInstance:
        """Add or replace custom attributes on an instance (ECS PutAttributes)."""
        if not isinstance(attributes, Mapping):
            raise ValidationError("attributes", attributes, "must be a mapping of name to value")
        instance_id = Arns.last_part(container_instance)
        result = self._commit_one(
            UpdateInstance(instance_id, attributes=dict(attributes)), "containerInstance", container_instance
        )
        return result.snapshot.instance(instance_id)

    def delete_attributes(self, container_instance: str, names: Iterable[str]) -> ContainerInstance:
        """Remove attributes from an instance (ECS DeleteAttributes)."""
        if isinstance(names, (str, bytes)) or not all(isinstance(name, str) for name in names):
            raise ValidationError("attributes", names, "must be a list of attribute names")
        instance_id = Arns.last_part(container_instance)
        change = UpdateInstance(instance_id, remove_attributes=tuple(names))
        result = self._commit_one(change, "containerInstance", container_instance)
        return result.snapshot.instance(instance_id)

    # -- task definitions --------------------------------------------------------------

    def register_task_definition(self, definition: TaskDefinition | Mapping[str, Any] | str) -> TaskDefinition:
        """Register a definition (a TaskDefinition or ECS JSON); its family's next revision."""
        if not isinstance(definition, TaskDefinition):
            from clusterkit.ecs_json import load_task_definition

            definition = load_task_definition(definition)
        result = self._commit_one(RegisterTaskDefinition(definition), "taskDefinition", definition.family)
        event = result.events[-1]
        return event.task_definition  # type: ignore[union-attr]

    def deregister_task_definition(self, task_definition: str) -> TaskDefinition:
        """Mark ``family:revision`` INACTIVE: running tasks go on, new ones may not use it."""
        key = Arns.last_part(task_definition)
        if not isinstance(key, str) or ":" not in key:
            raise ValidationError("taskDefinition", task_definition, "give family:revision or an ARN")
        result = self._commit_one(DeregisterTaskDefinition(key), "taskDefinition", task_definition)
        return result.snapshot.task_definition(key)

    # -- tasks -------------------------------------------------------------------------

    def start_task(
        self,
        task_definition: str,
        container_instances: Sequence[str],
        *,
        group: str | None = None,
        started_by: str | None = None,
    ) -> RunResult:
        """Start one task of ``task_definition`` on each instance named (ECS StartTask).

        Instances that cannot take it (resources, ports, status, agent) come back as
        failures ``{arn, reason}``; the others start PENDING, desired RUNNING.
        """
        ids = _id_list("containerInstances", container_instances, limit=10)
        snapshot = self.snapshot()
        definition = snapshot.task_definition(task_definition)
        if definition.status != "ACTIVE":
            raise ValidationError("taskDefinition", task_definition, "is INACTIVE")
        changes: list[Change] = []
        failures: list[Failure] = []
        remaining: dict[str, Resources] = {}  # what this call has already claimed per instance
        now = self.clock()
        for instance_id in ids:
            instance = snapshot._roots.instances.get(instance_id)
            if instance is None:
                failures.append(Failure(snapshot.arns.container_instance(instance_id), "MISSING"))
                continue
            left = remaining.get(instance_id, instance.remaining)
            assigned = assign_host_ports(definition, left, self.dynamic_ports)
            if assigned is None:
                failures.append(Failure(snapshot.arns.container_instance(instance_id), "RESOURCE:PORTS"))
                continue
            charge, bindings = assigned
            if charge.fits(left):
                remaining[instance_id] = left.allocate(charge)
            changes.append(
                PlaceTask(
                    Task(
                        id=new_id(),
                        task_definition=definition.key,
                        container_instance_id=instance_id,
                        charge=charge,
                        last_status="PROVISIONING" if definition.network_mode == "awsvpc" else "PENDING",
                        group=group if group is not None else f"family:{definition.family}",
                        started_by=started_by,
                        host_ports=bindings,
                        created_at=now,
                    )
                )
            )
        result = self.commit(changes)
        failures.extend(
            Failure(snapshot.arns.container_instance(r.change.task.container_instance_id), r.reason)  # type: ignore[union-attr]
            for r in result.rejected
        )
        placed = tuple(change.task for change in result.accepted)  # type: ignore[union-attr]
        return RunResult(placed, tuple(failures))

    def run_task(
        self,
        task_definition: str,
        *,
        count: int = 1,
        group: str | None = None,
        started_by: str | None = None,
        placement_strategy: Iterable[PlacementStrategy | Mapping[str, Any]] | None = None,
        placement_constraints: Iterable[PlacementConstraint | Mapping[str, Any]] | None = None,
        scheduler: Scheduler | None = None,
        atomic: bool = False,
    ) -> RunResult:
        """Place and start ``count`` tasks (ECS RunTask), retrying commit conflicts.

        ``placement_strategy`` and ``placement_constraints`` take clusterkit objects or
        ECS JSON (``[{"type": "binpack", "field": "memory"}]``). Without a strategy the
        default is spread over ``attribute:ecs.availability-zone`` then binpack on memory
        (``clusterkit.placement.DEFAULT_STRATEGY``). ``scheduler`` defaults to the
        built-in BaseScheduler. Unlike ECS (10 per call), ``count`` may go to 10,000.
        Tasks no instance can take come back as failures whose reason is the most common
        rejection and whose detail counts the instances per reason.
        """
        from clusterkit.placement.request import PlacementRequest
        from clusterkit.placement.runner import place_and_commit
        from clusterkit.placement.scheduler import BaseScheduler

        snapshot = self.snapshot()
        definition = snapshot.task_definition(task_definition)
        if definition.status != "ACTIVE":
            raise ValidationError("taskDefinition", task_definition, "is INACTIVE")
        request = PlacementRequest(
            definition,
            count,
            group,
            started_by,
            placement_strategy,
            placement_constraints,
        )
        chosen = scheduler if scheduler is not None else BaseScheduler(dynamic_ports=self.dynamic_ports)
        outcome = place_and_commit(self, chosen, request, atomic=atomic)  # type: ignore[arg-type]
        failures = tuple(
            Failure(
                snapshot.arns.cluster_arn,
                unplaced.reason,
                ", ".join(f"{reason}: {n}" for reason, n in sorted(unplaced.reasons.items())),
            )
            for unplaced in outcome.unplaced
        )
        return RunResult(outcome.tasks, failures)

    def stop_task(self, task: str, *, reason: str | None = None) -> Task:
        """Ask a task to stop (desired STOPPED, stop code UserInitiated); returns it."""
        task_id = Arns.last_part(task)
        result = self._commit_one(StopTask(task_id, reason), "task", task)
        return result.snapshot.task(task_id)

    def submit_task_state_change(
        self,
        task: str,
        *,
        version: int,
        status: TaskStatus | None = None,
        health_status: HealthStatus | None = None,
        stop_code: StopCode | None = None,
        reason: str | None = None,
    ) -> Task:
        """An agent's status report for a task it saw at ``version`` (ECS SubmitTaskStateChange).

        A report older than the stored task is dropped: StaleVersionError, state unchanged.
        Reaching STOPPED frees the task's resources on its instance.
        """
        task_id = Arns.last_part(task)
        change = TaskStateChange(task_id, version, status, health_status, stop_code, reason)
        result = self.commit([change])
        for rejection in result.rejected:
            if rejection.reason == "MISSING":
                raise NotFoundError("task", task)
            raise StaleVersionError("version", version, result.snapshot.task(task_id).version)
        return result.snapshot.task(task_id)

    # -- reads: each answers from a fresh snapshot ------------------------------------

    describe_container_instances = _from_snapshot(Snapshot.describe_container_instances)
    describe_task_definition = _from_snapshot(Snapshot.task_definition)
    describe_tasks = _from_snapshot(Snapshot.describe_tasks)
    list_container_instances = _from_snapshot(Snapshot.list_container_instances)
    list_task_definition_families = _from_snapshot(Snapshot.list_task_definition_families)
    list_task_definitions = _from_snapshot(Snapshot.list_task_definitions)
    list_tasks = _from_snapshot(Snapshot.list_tasks)


def _port_list(field: str, ports: Iterable[int]) -> frozenset[int]:
    if isinstance(ports, (str, bytes)) or not isinstance(ports, Iterable):
        raise ValidationError(field, ports, "must be a list of port numbers")
    return frozenset(ports)


def _id_list(field: str, values: Sequence[str], limit: int = MAX_DESCRIBE) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not 1 <= len(values) <= limit:
        raise ValidationError(field, values, f"give a list of 1..{limit} ids or ARNs")
    ids = []
    for value in values:
        if not isinstance(value, str) or not value:
            raise ValidationError(field, value, "an id or ARN is a non-empty string")
        ids.append(Arns.last_part(value))
    return ids
