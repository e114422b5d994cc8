"""Services: the reconciler that decides what a service needs, and the loop that commits it."""

from clusterkit.services import _messages as messages
from clusterkit.services._health import TaskHealth, has_health_check, target_groups_unhealthy, task_health
from clusterkit.services._reconcile import (
    DEFAULT_SETTINGS,
    DRAINING_REASON,
    UNHEALTHY_REASON,
    Decision,
    Launch,
    ReconcileSettings,
    Stop,
    add_events,
    deployment_id,
    only_daemons_left,
    reconcile,
)
from clusterkit.services._scheduler import ServiceOutcome, ServiceScheduler

__all__ = [
    "DEFAULT_SETTINGS",
    "DRAINING_REASON",
    "Decision",
    "Launch",
    "ReconcileSettings",
    "ServiceOutcome",
    "ServiceScheduler",
    "Stop",
    "TaskHealth",
    "UNHEALTHY_REASON",
    "add_events",
    "deployment_id",
    "has_health_check",
    "messages",
    "only_daemons_left",
    "reconcile",
    "target_groups_unhealthy",
    "task_health",
]
