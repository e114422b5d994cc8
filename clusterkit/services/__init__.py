"""Services: the reconciler that decides what a service needs, and the loop that commits it."""

from clusterkit.services.health import TaskHealth, has_health_check, task_health
from clusterkit.services.reconcile import Decision, Launch, ReconcileSettings, Stop, reconcile
from clusterkit.services.scheduler import ServiceOutcome, ServiceScheduler

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
