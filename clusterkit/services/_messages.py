"""Service events worded as the ECS API words them, so people and their log searches recognise them.

The API's form (what ``aws ecs describe-services`` prints) opens with ``(service NAME)`` and
lists tasks as ``(task a) (task b)``; the console shows the same text after ``service``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "began_draining",
    "circuit_breaker_tripped",
    "deployment_completed",
    "deployment_stuck",
    "deregistered_targets",
    "registered_targets",
    "rolling_back",
    "stalled",
    "started_tasks",
    "steady_state",
    "stopped_tasks",
    "unable_to_place",
    "unable_to_start_consistently",
]

_RESOURCE_WORDS = {
    "RESOURCE:CPU": "has insufficient CPU units available",
    "RESOURCE:MEMORY": "has insufficient memory available",
    "RESOURCE:PORTS": "is already using a port required by your task",
    "ATTRIBUTE": "does not match the attributes its placement constraints require",
    "AGENT": 'encountered error "AGENT"',
    "INACTIVE": "is not ACTIVE",
}
_TROUBLESHOOTING = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."


def _task_list(task_ids: Sequence[str]) -> str:
    """``(task a) (task b)``: ECS's own list of task references."""
    return " ".join(f"(task {task_id})" for task_id in task_ids)


def steady_state(service: str) -> str:
    """The service has what it wants."""
    return f"(service {service}) has reached a steady state."


def started_tasks(service: str, task_ids: Sequence[str]) -> str:
    """Tasks were placed."""
    return f"(service {service}) has started {len(task_ids)} tasks: {_task_list(task_ids)}."


def stopped_tasks(service: str, task_ids: Sequence[str]) -> str:
    """Running tasks were asked to stop."""
    return f"(service {service}) has stopped {len(task_ids)} running tasks: {_task_list(task_ids)}."


def unable_to_place(service: str, reason: str, closest: str | None = None) -> str:
    """No instance could take a task; ``reason`` is the most common rejection (``RESOURCE:MEMORY``)."""
    words = _RESOURCE_WORDS.get(reason)
    if reason.startswith("RESOURCE:") and words is None:
        words = f"has insufficient {reason[9:]} available"
    text = f"(service {service}) was unable to place a task because no container instance met all of its requirements."
    if words is None:
        return f"{text} Reason: {reason}."
    matching = "container-instance" if closest is None else f"(container-instance {closest})"
    return f"{text} The closest matching {matching} {words}. {_TROUBLESHOOTING}"


def deployment_stuck(service: str) -> str:
    """Neither bound of the deployment configuration lets the deployment move."""
    return (
        f"(service {service}) was unable to stop or start tasks during a deployment because of the service "
        "deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
    )


def unable_to_start_consistently(service: str) -> str:
    """Launches keep failing; the scheduler backs off."""
    return f"(service {service}) is unable to consistently start tasks successfully."


def deployment_completed(service: str, deployment_id: str) -> str:
    """A deployment reached COMPLETED."""
    return f"(service {service}) (deployment {deployment_id}) deployment completed."


def circuit_breaker_tripped(service: str, deployment_id: str) -> str:
    """The circuit breaker failed a deployment."""
    return f"(service {service}) (deployment {deployment_id}) deployment failed: tasks failed to start."


def rolling_back(service: str, failed_id: str, target_id: str) -> str:
    """A failed deployment is rolled back to the last completed one."""
    return f"(service {service}) rolling back to deployment {target_id} after deployment {failed_id} failed."


def stalled(service: str, deployment_id: str, *, rollback: bool) -> str:
    """A failed deployment that is not rolled back: ``rollback`` off, or nothing completed to go back to."""
    why = "has no completed deployment to roll back to" if rollback else "is not rolled back (rollback is off)"
    return (
        f"(service {service}) (deployment {deployment_id}) failed and {why}: no new tasks of it are started "
        "until the service is updated."
    )


def registered_targets(service: str, count: int, target_group_arn: str) -> str:
    """Tasks' targets were registered in a target group."""
    return f"(service {service}) registered {count} targets in (target-group {target_group_arn})"


def began_draining(service: str, count: int) -> str:
    """Tasks being stopped had their targets put to draining."""
    return f"(service {service}) has begun draining connections on {count} tasks."


def deregistered_targets(service: str, count: int, target_group_arn: str) -> str:
    """Tasks' targets were taken out of a target group."""
    return f"(service {service}) deregistered {count} targets in (target-group {target_group_arn})"
