"""When a service task counts as healthy, as ECS decides it.

A RUNNING task is **healthy** when every essential container with a health check reports
HEALTHY (the agent reports the task's health as the worst of them); a task whose essential
containers have no health check counts healthy once it has been RUNNING for
``healthy_after`` seconds (40 in ECS). An UNHEALTHY report is ignored for the service's
``healthCheckGracePeriodSeconds`` after the task started.

A task of a service with load balancers is healthy only when, besides its containers' health
check (if any; without one the 40 seconds do not apply), every target group reports its
target ``healthy``; a target group reporting it ``unhealthy`` past the grace period makes it
UNHEALTHY, replaced as a task failing its container health check is. Everything here is pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from clusterkit.model import PENDING_STATUSES, Task, TaskDefinition

__all__ = ["TaskHealth", "has_health_check", "target_groups_unhealthy", "task_health"]


class TaskHealth(enum.Enum):
    """Where a task of a service stands, as the service scheduler sees it."""

    PENDING = "PENDING"
    """Not RUNNING yet (PROVISIONING, PENDING, ACTIVATING)."""
    STARTING = "STARTING"
    """RUNNING, not yet healthy: health UNKNOWN, in its grace period, or not RUNNING long enough."""
    HEALTHY = "HEALTHY"
    """RUNNING and healthy."""
    UNHEALTHY = "UNHEALTHY"
    """RUNNING, its health check failing, past its grace period: to be replaced."""
    STOPPING = "STOPPING"
    """Past RUNNING on its way to STOPPED (DEACTIVATING, STOPPING, DEPROVISIONING)."""


def has_health_check(definition: TaskDefinition) -> bool:
    """True when some essential container has a health check."""
    return any(
        container.essential and container.health_check is not None for container in definition.container_definitions
    )


def target_groups_unhealthy(task: Task, target_groups: Iterable[str]) -> tuple[str, ...]:
    """The target groups (of ``target_groups``) that report the task's target ``unhealthy``."""
    reported = {entry.target_group_arn: entry.state for entry in task.target_health}
    return tuple(arn for arn in target_groups if reported.get(arn) == "unhealthy")


def task_health(
    task: Task,
    *,
    checked: bool,
    grace_period: float,
    healthy_after: float,
    now: float,
    target_groups: tuple[str, ...] = (),
) -> tuple[TaskHealth, float | None]:
    """The task's ``TaskHealth`` at ``now``, and when that may change by time alone (or None).

    ``checked`` says whether the task's definition has a health check (``has_health_check``);
    ``target_groups`` are the ARNs of its service's target groups.
    """
    status = task.last_status
    if status in PENDING_STATUSES:
        return TaskHealth.PENDING, None
    if status != "RUNNING":
        return TaskHealth.STOPPING, None
    started = task.started_at if task.started_at is not None else task.created_at
    grace_ends = started + grace_period
    if target_groups:
        reported = {entry.target_group_arn: entry.state for entry in task.target_health}
        failing = (checked and task.health_status == "UNHEALTHY") or any(
            reported.get(arn) == "unhealthy" for arn in target_groups
        )
        if failing:
            return (TaskHealth.UNHEALTHY, None) if now >= grace_ends else (TaskHealth.STARTING, grace_ends)
        container_ok = not checked or task.health_status == "HEALTHY"
        if container_ok and all(reported.get(arn) == "healthy" for arn in target_groups):
            return TaskHealth.HEALTHY, None
        return TaskHealth.STARTING, None
    if checked:
        if task.health_status == "HEALTHY":
            return TaskHealth.HEALTHY, None
        if task.health_status == "UNHEALTHY":
            if now >= grace_ends:
                return TaskHealth.UNHEALTHY, None
            return TaskHealth.STARTING, grace_ends
        return TaskHealth.STARTING, None
    settled = started + healthy_after
    if now >= settled:
        return TaskHealth.HEALTHY, None
    return TaskHealth.STARTING, settled
