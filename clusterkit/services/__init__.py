"""Services: the reconciler that decides what a service needs, and the loop that commits it."""

from clusterkit.services._health import TaskHealth, has_health_check, task_health
from clusterkit.services._reconcile import Decision, Launch, ReconcileSettings, Stop, reconcile
from clusterkit.services._scheduler import ServiceOutcome, ServiceScheduler

__all__ = [
    "Decision",
    "Launch",
    "ReconcileSettings",
    "ServiceOutcome",
    "ServiceScheduler",
    "Stop",
    "TaskHealth",
    "has_health_check",
    "reconcile",
    "task_health",
]
