"""ECS's task-definition and task calls: register, start, run, stop, state changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from clusterkit.api._calls import Calls, id_list
from clusterkit.ecs_json import dump_task, load_task_definition
from clusterkit.errors import NotFoundError, StaleVersionError, ValidationError
from clusterkit.model import (
    Arns,
    HealthStatus,
    PlacementConstraint,
    PlacementStrategy,
    Resources,
    StopCode,
    Task,
    TaskDefinition,
    TaskStatus,
)
from clusterkit.placement import BaseScheduler, PlacementRequest, PortRange, Scheduler, pinned_task, place_and_commit
from clusterkit.state import (
    Change,
    ClientToken,
    DeregisterTaskDefinition,
    Failure,
    PlaceTask,
    RegisterTaskDefinition,
    StopTask,
    TaskStateChange,
    TokenClaim,
    fingerprint,
)

__all__ = ["RunResult", "TaskCalls", "TaskDefinitionCalls"]


@attrs.frozen(slots=True)
class RunResult:
    """The answer of start_task / run_task: the tasks started and, per miss, a failure.

    ``to_ecs()`` gives ECS's RunTask / StartTask response (``arns``: the cluster's, for the task ARNs).
    """

    tasks: tuple[Task, ...]
    failures: tuple[Failure, ...] = ()
    arns: Arns = attrs.field(kw_only=True, eq=False, repr=False)

    def to_ecs(self) -> dict[str, Any]:
        """ECS's response: ``{"tasks": [...], "failures": [{"arn", "reason", "detail"}]}``."""
        return {
            "tasks": [dump_task(task, self.arns) for task in self.tasks],
            "failures": [failure.to_ecs() for failure in self.failures],
        }


class TaskDefinitionCalls(Calls):
    """RegisterTaskDefinition and DeregisterTaskDefinition."""

    def register_task_definition(self, definition: TaskDefinition | Mapping[str, Any] | str) -> TaskDefinition:
        """Register a definition (a TaskDefinition or ECS JSON); its family's next revision."""
        if not isinstance(definition, TaskDefinition):
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


class TaskCalls(Calls):
    """StartTask, RunTask, StopTask and SubmitTaskStateChange.

    ``dynamic_ports`` is the range bridge-mode tasks get host ports from.
    """

    dynamic_ports: PortRange

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
        ids = id_list("containerInstances", container_instances, limit=10)
        snapshot = self.snapshot()
        definition = snapshot.task_definition(task_definition)
        if definition.status != "ACTIVE":
            raise ValidationError("taskDefinition", task_definition, "is INACTIVE")
        changes: list[Change] = []
        failures: list[Failure] = []
        remaining: dict[str, Resources] = {}  # what this call has already claimed per instance
        now = self.clock()
        for instance_id in ids:
            instance = snapshot.instances_by_id.get(instance_id)
            if instance is None:
                failures.append(Failure(snapshot.arns.container_instance(instance_id), "MISSING"))
                continue
            pinned = pinned_task(
                definition,
                instance_id,
                remaining.get(instance_id, instance.remaining),
                dynamic_ports=self.dynamic_ports,
                group=group,
                started_by=started_by,
                now=now,
            )
            if pinned is None:
                failures.append(Failure(snapshot.arns.container_instance(instance_id), "RESOURCE:PORTS"))
                continue
            task, remaining[instance_id] = pinned
            changes.append(PlaceTask(task))
        result = self.commit(changes)
        failures.extend(
            Failure(snapshot.arns.container_instance(r.change.task.container_instance_id), r.reason)  # type: ignore[union-attr]
            for r in result.rejected
        )
        placed = tuple(change.task for change in result.accepted)  # type: ignore[union-attr]
        return RunResult(placed, tuple(failures), arns=self.arns)

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
        client_token: str | None = None,
    ) -> RunResult:
        """Place and start ``count`` tasks (ECS RunTask), retrying commit conflicts.

        ``placement_strategy`` and ``placement_constraints`` take clusterkit objects or
        ECS JSON (``[{"type": "binpack", "field": "memory"}]``). Without a strategy the
        default is spread over ``attribute:ecs.availability-zone`` then binpack on memory
        (``clusterkit.placement.DEFAULT_STRATEGY``). ``scheduler`` defaults to the
        built-in BaseScheduler (pass an instance, not the class). ``count`` may go to
        10,000 here, more than ECS allows: RunTask takes at most 10 per call, so code that
        must also run against ECS should keep to 10.
        Tasks no instance can take come back as failures whose reason is the most common
        rejection and whose detail counts the instances per reason.

        ``client_token`` (ECS's ``clientToken``: up to 64 ASCII characters) makes the call
        idempotent for ``CLIENT_TOKEN_TTL`` (an hour): made again with the same token and
        the same arguments, it places nothing and returns the tasks the first call placed (as
        they are now; the failures are not kept); with other arguments it raises
        ValidationError. That holds across processes sharing an etcd store, and for a retry
        after ``CommitOutcomeUnknown``.
        """
        claim = None
        if client_token is not None:
            claim = TokenClaim(
                client_token,
                fingerprint(
                    "run_task",
                    task_definition,
                    count,
                    group,
                    started_by,
                    placement_strategy,
                    placement_constraints,
                    type(scheduler).__name__,
                    atomic,
                ),
            )
            first = self._first_call(claim)
            if first is not None:
                return self._replayed_run(first)
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
        outcome = place_and_commit(self, chosen, request, atomic=atomic, client_token=claim)
        first = self._first_call(claim)  # another call with the token got there first
        if first is not None:
            return self._replayed_run(first)
        failures = tuple(
            Failure(
                snapshot.arns.cluster_arn,
                unplaced.reason,
                ", ".join(f"{reason}: {n}" for reason, n in sorted(unplaced.reasons.items())),
            )
            for unplaced in outcome.unplaced
        )
        return RunResult(outcome.tasks, failures, arns=self.arns)

    def _replayed_run(self, first: ClientToken) -> RunResult:
        """The answer to a call whose client token ``first`` holds: the tasks it placed, as they are now."""
        snapshot = self.snapshot()
        return RunResult(tuple(snapshot.task(task_id) for task_id in first.tasks), arns=self.arns)

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
