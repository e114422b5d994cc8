"""Services: a task definition kept running, at a desired count (REPLICA) or on every instance (DAEMON).

A ``Service`` is a record in the cluster state like a task or an instance: versioned,
saved and restored, changed only by commits. It holds what the user asked for (task
definition, desired count, deployment configuration, placement), the deployments rolling
it from one task definition to the next, the service events ECS users know, and the
bookkeeping the service scheduler needs to decide exactly once (the tasks it tracks, the
launch back-off). ``clusterkit.services`` decides; this module only holds values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, Literal

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._validate import check_choice, check_int, check_name, check_text
from clusterkit.model.placement import MAX_STRATEGIES, PlacementStrategy, spread
from clusterkit.model.task import Task
from clusterkit.model.taskdef import MAX_CONSTRAINTS, PlacementConstraint, TaskDefinition

__all__ = [
    "DEFAULT_SERVICE_STRATEGY",
    "MAX_SERVICE_EVENTS",
    "Deployment",
    "DeploymentCircuitBreaker",
    "DeploymentConfiguration",
    "DeploymentStatus",
    "LoadBalancer",
    "RolloutState",
    "SchedulingStrategy",
    "Service",
    "ServiceEvent",
    "ServiceStatus",
    "check_load_balancers",
    "circuit_breaker_threshold",
    "is_daemon_task",
]

SchedulingStrategy = Literal["REPLICA", "DAEMON"]
ServiceStatus = Literal["ACTIVE", "DRAINING", "INACTIVE"]
DeploymentStatus = Literal["PRIMARY", "ACTIVE", "INACTIVE"]
RolloutState = Literal["IN_PROGRESS", "COMPLETED", "FAILED"]

MAX_SERVICE_EVENTS: Final = 100
"""How many service events a service keeps (the newest), as the ECS console does."""
DEFAULT_SERVICE_STRATEGY: Final = (spread("attribute:ecs.availability-zone"), spread("instanceId"))
"""A replica service's placement when none is given: spread over zones, then over instances."""


@attrs.frozen(slots=True)
class DeploymentCircuitBreaker:
    """Stop a deployment whose tasks keep failing; with ``rollback``, go back to the last good one."""

    enable: bool = False
    rollback: bool = False

    def __attrs_post_init__(self) -> None:
        for field in ("enable", "rollback"):
            if not isinstance(getattr(self, field), bool):
                raise ValidationError(
                    f"deploymentCircuitBreaker.{field}", getattr(self, field), "must be true or false"
                )


@attrs.frozen(slots=True)
class DeploymentConfiguration:
    """How far a deployment may go above and below the desired count, in percent.

    RUNNING + PENDING tasks stay at or below ``⌊desired · maximum_percent / 100⌋``
    (``max_tasks``); healthy tasks stay at or above ``⌈desired · minimum_healthy_percent / 100⌉``
    (``min_healthy``). Replica services default to 200 and 100, daemon services to 100 and 0.
    """

    maximum_percent: int = 200
    minimum_healthy_percent: int = 100
    deployment_circuit_breaker: DeploymentCircuitBreaker = DeploymentCircuitBreaker()

    def __attrs_post_init__(self) -> None:
        check_int("maximumPercent", self.maximum_percent, 100, 10_000)
        check_int("minimumHealthyPercent", self.minimum_healthy_percent, 0, 100)
        if not isinstance(self.deployment_circuit_breaker, DeploymentCircuitBreaker):
            raise ValidationError(
                "deploymentCircuitBreaker", self.deployment_circuit_breaker, "must be a DeploymentCircuitBreaker"
            )

    def max_tasks(self, desired: int) -> int:
        """The most RUNNING + PENDING tasks allowed for ``desired``: rounds down."""
        return desired * self.maximum_percent // 100

    def min_healthy(self, desired: int) -> int:
        """The fewest healthy tasks allowed for ``desired``: rounds up."""
        return -(-desired * self.minimum_healthy_percent // 100)


def circuit_breaker_threshold(desired: int) -> int:
    """Failed tasks that trip the circuit breaker: ``clamp(⌈0.5 · desired⌉, 3, 200)``."""
    return min(200, max(3, math.ceil(desired / 2)))


@attrs.frozen(slots=True)
class Deployment:
    """One task definition being rolled out (PRIMARY) or rolled away from (ACTIVE).

    ``desired_count`` is how many tasks of this deployment the service still wants: the
    service's count for the PRIMARY one; for an ACTIVE one, the tasks not yet replaced (a
    failed task of an older deployment is replaced with its own revision while it lasts).
    ``failed_tasks`` counts toward the circuit breaker; a task that becomes healthy resets it.
    """

    id: str
    task_definition: str
    desired_count: int
    status: DeploymentStatus = "PRIMARY"
    rollout_state: RolloutState = "IN_PROGRESS"
    rollout_state_reason: str = ""
    failed_tasks: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    def __attrs_post_init__(self) -> None:
        check_text("deployments.id", self.id, max_length=255)
        check_text("deployments.taskDefinition", self.task_definition, max_length=512)
        check_int("deployments.desiredCount", self.desired_count, 0)
        check_choice("deployments.status", self.status, ("PRIMARY", "ACTIVE", "INACTIVE"))
        check_choice("deployments.rolloutState", self.rollout_state, ("IN_PROGRESS", "COMPLETED", "FAILED"))
        check_text("deployments.rolloutStateReason", self.rollout_state_reason, max_length=1024, empty=True)
        check_int("deployments.failedTasks", self.failed_tasks, 0)


@attrs.frozen(slots=True)
class LoadBalancer:
    """A target group the service's tasks are registered in: ECS ``loadBalancers[]``.

    Each RUNNING task's (host address, host port of ``container_name``'s
    ``container_port``) is a target of ``target_group_arn``.
    """

    target_group_arn: str
    container_name: str
    container_port: int

    def __attrs_post_init__(self) -> None:
        check_text("loadBalancers.targetGroupArn", self.target_group_arn, max_length=1600)
        check_text("loadBalancers.containerName", self.container_name, max_length=255)
        check_int("loadBalancers.containerPort", self.container_port, 1, 65535)


def check_load_balancers(balancers: tuple[LoadBalancer, ...], definition: TaskDefinition) -> None:
    """Raise ValidationError unless each load balancer names a container of ``definition`` that
    maps its ``containerPort`` (TCP), as ECS checks at CreateService and UpdateService.
    """
    names = {container.name: container for container in definition.container_definitions}
    for index, balancer in enumerate(balancers):
        container = names.get(balancer.container_name)
        if container is None:
            raise ValidationError(
                f"loadBalancers[{index}].containerName",
                balancer.container_name,
                f"is not a container of task definition {definition.key}",
            )
        if not any(
            m.container_port == balancer.container_port and m.protocol == "tcp" for m in container.port_mappings
        ):
            raise ValidationError(
                f"loadBalancers[{index}].containerPort",
                balancer.container_port,
                f"container {balancer.container_name} of {definition.key} has no TCP portMappings entry for it",
            )


@attrs.frozen(slots=True)
class ServiceEvent:
    """A line of the service's event log, worded as ECS words it."""

    id: str
    created_at: float
    message: str


@attrs.frozen(slots=True)
class Service:
    """A long-running service: REPLICA keeps ``desired_count`` tasks, DAEMON one per instance.

    ``deployments`` lists the PRIMARY deployment first; ``events`` the newest first (at most
    ``MAX_SERVICE_EVENTS``). The service scheduler's bookkeeping: ``tracked_tasks`` are the
    tasks it started that have not reached STOPPED (so each stop is counted once, even with
    several schedulers racing), ``healthy_seen`` those of them it has seen healthy,
    ``launch_failures`` the consecutive tasks that stopped before RUNNING and
    ``next_launch_at`` when it may launch again (the back-off). ``version`` is bumped by
    every commit that changes the record. ``load_balancers`` are the target groups its
    RUNNING tasks are registered in (``clusterkit.balancing`` keeps a load balancer in step).
    """

    name: str
    task_definition: str
    desired_count: int = 0
    scheduling_strategy: SchedulingStrategy = "REPLICA"
    deployment_configuration: DeploymentConfiguration = DeploymentConfiguration()
    placement_constraints: tuple[PlacementConstraint, ...] = ()
    placement_strategy: tuple[PlacementStrategy, ...] = ()
    health_check_grace_period_seconds: int = 0
    load_balancers: tuple[LoadBalancer, ...] = ()
    status: ServiceStatus = "ACTIVE"
    deployments: tuple[Deployment, ...] = ()
    events: tuple[ServiceEvent, ...] = ()
    tracked_tasks: frozenset[str] = frozenset()
    healthy_seen: frozenset[str] = frozenset()
    launch_failures: int = 0
    next_launch_at: float = 0.0
    created_at: float = 0.0
    version: int = 1

    def __attrs_post_init__(self) -> None:
        check_name("serviceName", self.name)
        check_text("taskDefinition", self.task_definition, max_length=512)
        check_int("desiredCount", self.desired_count, 0)
        check_choice("schedulingStrategy", self.scheduling_strategy, ("REPLICA", "DAEMON"))
        if not isinstance(self.deployment_configuration, DeploymentConfiguration):
            raise ValidationError(
                "deploymentConfiguration", self.deployment_configuration, "must be a DeploymentConfiguration"
            )
        check_int("healthCheckGracePeriodSeconds", self.health_check_grace_period_seconds, 0, 2_147_483_647)
        check_choice("status", self.status, ("ACTIVE", "DRAINING", "INACTIVE"))
        for field in ("placement_constraints", "placement_strategy", "load_balancers", "deployments", "events"):
            if not isinstance(getattr(self, field), tuple):
                raise ValidationError(field, getattr(self, field), "must be a tuple")
        for field in ("tracked_tasks", "healthy_seen"):
            if not isinstance(getattr(self, field), frozenset):
                raise ValidationError(field, getattr(self, field), "must be a frozenset of task ids")
        if len(self.placement_constraints) > MAX_CONSTRAINTS:
            raise ValidationError("placementConstraints", len(self.placement_constraints), f"at most {MAX_CONSTRAINTS}")
        if len(self.placement_strategy) > MAX_STRATEGIES:
            raise ValidationError("placementStrategy", len(self.placement_strategy), f"at most {MAX_STRATEGIES}")
        for index, item in enumerate(self.placement_constraints):
            if not isinstance(item, PlacementConstraint):
                raise ValidationError(f"placementConstraints[{index}]", item, "must be a PlacementConstraint")
        for index, strategy in enumerate(self.placement_strategy):
            if not isinstance(strategy, PlacementStrategy):
                raise ValidationError(f"placementStrategy[{index}]", strategy, "must be a PlacementStrategy")
        for index, balancer in enumerate(self.load_balancers):
            if not isinstance(balancer, LoadBalancer):
                raise ValidationError(f"loadBalancers[{index}]", balancer, "must be a LoadBalancer")
        if len({balancer.target_group_arn for balancer in self.load_balancers}) != len(self.load_balancers):
            raise ValidationError("loadBalancers", self.load_balancers, "lists a target group twice")
        if self.scheduling_strategy == "DAEMON":
            if self.desired_count:
                raise ValidationError("desiredCount", self.desired_count, "a DAEMON service has no desired count")
            if self.placement_strategy:
                raise ValidationError("placementStrategy", self.placement_strategy, "a DAEMON service takes none")
        check_int("launchFailures", self.launch_failures, 0)
        check_int("version", self.version, 1)
        primaries = [d for d in self.deployments if d.status == "PRIMARY"]
        if self.deployments and (len(primaries) != 1 or self.deployments[0] is not primaries[0]):
            raise ValidationError("deployments", self.deployments, "the first deployment, and only it, is PRIMARY")
        if not self.healthy_seen <= self.tracked_tasks:
            raise ValidationError("healthySeen", sorted(self.healthy_seen - self.tracked_tasks), "are not tracked")

    @property
    def group(self) -> str:
        """The task group of its tasks: ``service:NAME``."""
        return f"service:{self.name}"

    @property
    def primary(self) -> Deployment | None:
        """The PRIMARY deployment (None before the first one)."""
        return self.deployments[0] if self.deployments else None

    def deployment(self, deployment_id: str | None) -> Deployment | None:
        """The deployment with this id, or None."""
        for found in self.deployments:
            if found.id == deployment_id:
                return found
        return None


def is_daemon_task(task: Task, services: Mapping[str, Service]) -> bool:
    """True when ``task`` belongs to a DAEMON service among ``services`` (by name). O(1)."""
    owner = services.get(task.service_name or "")
    return owner is not None and owner.scheduling_strategy == "DAEMON"
