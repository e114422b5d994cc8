"""Tasks: running copies of a task definition, with the ECS lifecycle.

``last_status`` only moves forward along ``TASK_LIFECYCLE`` (states may be skipped,
STOPPED is final); ``desired_status`` only moves forward along PENDING → RUNNING →
STOPPED. Every change bumps ``version``; a status report based on an older version is
dropped by the ClusterState.
"""

from __future__ import annotations

import functools
from typing import Final, Literal

import attrs

from clusterkit.errors import IllegalTransitionError, ValidationError
from clusterkit.model._resources import Resources
from clusterkit.model._validate import check_choice, check_int, check_text

__all__ = [
    "DESIRED_STATUSES",
    "HEALTH_STATUSES",
    "INSTANCE_DEREGISTERED_REASON",
    "STOP_CODES",
    "TARGET_HEALTH_STATES",
    "TASK_LIFECYCLE",
    "DesiredStatus",
    "HealthStatus",
    "PortBinding",
    "StopCode",
    "TargetHealth",
    "TargetHealthState",
    "Task",
    "TaskStatus",
]

TaskStatus = Literal[
    "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"
]
DesiredStatus = Literal["PENDING", "RUNNING", "STOPPED"]
StopCode = Literal["TaskFailedToStart", "EssentialContainerExited", "UserInitiated", "ServiceSchedulerInitiated"]
HealthStatus = Literal["UNKNOWN", "HEALTHY", "UNHEALTHY"]
TargetHealthState = Literal["initial", "healthy", "unhealthy", "draining", "unused"]

TASK_LIFECYCLE: Final[tuple[TaskStatus, ...]] = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
DESIRED_STATUSES: Final[tuple[DesiredStatus, ...]] = ("PENDING", "RUNNING", "STOPPED")
STOP_CODES: Final[tuple[StopCode, ...]] = (
    "TaskFailedToStart",
    "EssentialContainerExited",
    "UserInitiated",
    "ServiceSchedulerInitiated",
)
HEALTH_STATUSES: Final[tuple[HealthStatus, ...]] = ("UNKNOWN", "HEALTHY", "UNHEALTHY")
TARGET_HEALTH_STATES: Final[tuple[TargetHealthState, ...]] = ("initial", "healthy", "unhealthy", "draining", "unused")
"""A target's states as Elastic Load Balancing names them."""
_ORDER: Final[dict[str, int]] = {status: index for index, status in enumerate(TASK_LIFECYCLE)}
_DESIRED_ORDER: Final[dict[str, int]] = {status: index for index, status in enumerate(DESIRED_STATUSES)}
INSTANCE_DEREGISTERED_REASON: Final = "Container instance deregistered"
"""The stop reason of the tasks stopped because their instance was deregistered with force."""
PENDING_STATUSES: Final = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
"""last statuses counted as pending on an instance (ECS pendingTasksCount)."""


@attrs.frozen(slots=True)
class PortBinding:
    """A container port published on the instance at ``host_port``."""

    container_name: str
    container_port: int
    host_port: int
    protocol: Literal["tcp", "udp"] = "tcp"


@attrs.frozen(slots=True)
class TargetHealth:
    """How one target group sees a task's target (ELB ``TargetHealth.State``)."""

    target_group_arn: str
    state: TargetHealthState

    def __attrs_post_init__(self) -> None:
        check_text("targetHealth.targetGroupArn", self.target_group_arn, max_length=1600)
        check_choice("targetHealth.state", self.state, TARGET_HEALTH_STATES)


@attrs.frozen(slots=True)
class Task:
    """One task: a task definition placed on a container instance.

    ``charge`` is what the task holds on its instance (cpu, memory, scalars, static and
    dynamic host ports) until it is STOPPED. Timestamps are seconds since the epoch.
    ``target_health`` is what the load balancers of its service report about it, one entry
    per target group it is registered in, sorted by target group (clusterkit's own: ECS
    users read it from ELB).
    """

    id: str
    task_definition: str
    container_instance_id: str
    charge: Resources
    last_status: TaskStatus = "PENDING"
    desired_status: DesiredStatus = "RUNNING"
    group: str = ""
    started_by: str | None = None
    host_ports: tuple[PortBinding, ...] = ()
    stop_code: StopCode | None = None
    stopped_reason: str | None = None
    health_status: HealthStatus = "UNKNOWN"
    target_health: tuple[TargetHealth, ...] = ()
    version: int = 1
    created_at: float = 0.0
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None

    def __attrs_post_init__(self) -> None:
        check_text("taskId", self.id, max_length=255)
        if "/" in self.id:
            raise ValidationError("taskId", self.id, "must not contain '/'")
        check_text("taskDefinition", self.task_definition, max_length=512)
        check_choice("lastStatus", self.last_status, TASK_LIFECYCLE)
        check_choice("desiredStatus", self.desired_status, DESIRED_STATUSES)
        if self.stop_code is not None:
            check_choice("stopCode", self.stop_code, STOP_CODES)
        if self.stopped_reason is not None:
            check_text("stoppedReason", self.stopped_reason, max_length=1024, empty=True)
        if self.started_by is not None:
            check_text("startedBy", self.started_by, max_length=128)
        check_text("group", self.group, max_length=255, empty=True)
        check_choice("healthStatus", self.health_status, HEALTH_STATUSES)
        check_target_health(self.target_health)
        check_int("version", self.version, 1)

    @property
    def family(self) -> str:
        """The task definition's family: worked out once per task definition, not per call. O(1)."""
        return _family_of(self.task_definition)

    @property
    def is_stopped(self) -> bool:
        """True once the task reached STOPPED: it no longer holds resources."""
        return self.last_status == "STOPPED"

    @property
    def service_name(self) -> str | None:
        """The service that owns this task, from a ``service:NAME`` group."""
        return self.group[8:] if self.group.startswith("service:") else None


def check_target_health(entries: object) -> None:
    """Raise ValidationError unless ``entries`` is a tuple of TargetHealth, one per target group, sorted."""
    if not isinstance(entries, tuple) or not all(isinstance(entry, TargetHealth) for entry in entries):
        raise ValidationError("targetHealth", entries, "must be a tuple of TargetHealth")
    arns = [entry.target_group_arn for entry in entries]
    if arns != sorted(set(arns)):
        raise ValidationError("targetHealth", entries, "must list each target group once, sorted by its ARN")


@functools.lru_cache(maxsize=4096)
def _family_of(task_definition: str) -> str:
    """``family`` of ``family:revision``, remembered for the task definitions in use."""
    return task_definition.rsplit(":", 1)[0]


def check_transition(task: Task, last_status: str | None, desired_status: str | None) -> None:
    """Raise IllegalTransitionError unless both moves go forward (or stay) in their lifecycles."""
    if last_status is not None:
        check_choice("lastStatus", last_status, TASK_LIFECYCLE)
        if _ORDER[last_status] < _ORDER[task.last_status]:
            raise IllegalTransitionError(
                "lastStatus", last_status, f"task {task.id} is {task.last_status}; a task's status never moves back"
            )
    if desired_status is not None:
        check_choice("desiredStatus", desired_status, DESIRED_STATUSES)
        if _DESIRED_ORDER[desired_status] < _DESIRED_ORDER[task.desired_status]:
            raise IllegalTransitionError(
                "desiredStatus", desired_status, f"task {task.id} is desired {task.desired_status}; it cannot move back"
            )
