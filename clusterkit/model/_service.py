"""Services: a task definition kept running, at a desired count (REPLICA) or on every instance (DAEMON).

A service is two records in the cluster state, each versioned on its own, as Kubernetes
splits an object's spec from its status:

- ``ServiceSpec``: what the user asked for (task definition, desired count, deployment
  configuration, placement, load balancers; DRAINING once deleted), written by users and
  autoscalers. Every write bumps its ``generation``; one that asks for a new deployment (a
  new task definition, ``forceNewDeployment``) also sets ``deployment_generation`` to it.
- ``ServiceStatus``: what the service scheduler made of it (the deployments rolling it from
  one task definition to the next, the service events ECS users know, the tasks it tracks,
  the launch back-off, INACTIVE once every task is gone) and the spec ``observed_generation``
  it has taken in. Only the service scheduler writes it.

So a user's write never conflicts with the scheduler's, and the scheduler, never writing
the spec, never overwrites a newer one. ``observe(spec, status, holding)`` is how a status
takes in a newer spec (a new PRIMARY deployment, the primary's count, the back-off reset);
``Service``, ECS's one shape, is ``compose(spec, observe(...))``: what readers see.
``clusterkit.services`` decides; this module only holds values.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Final, Literal

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._placement import MAX_STRATEGIES, PlacementStrategy, spread
from clusterkit.model._replace import replacer
from clusterkit.model._task import Task
from clusterkit.model._taskdef import MAX_CONSTRAINTS, PlacementConstraint, TaskDefinition
from clusterkit.model._validate import check_choice, check_int, check_name, check_text

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
    "ServiceLifecycle",
    "ServiceSpec",
    "ServiceStatus",
    "check_load_balancers",
    "circuit_breaker_threshold",
    "compose",
    "deployment_id",
    "is_daemon_task",
    "observe",
    "needs_observing",
    "split",
    "status_of",
]

SchedulingStrategy = Literal["REPLICA", "DAEMON"]
ServiceLifecycle = Literal["ACTIVE", "DRAINING", "INACTIVE"]
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
    ``next_launch_at`` when it may launch again (the back-off). ``load_balancers`` are the
    target groups its RUNNING tasks are registered in (``clusterkit.balancing`` keeps a load
    balancer in step).

    It is the read-only view of the two records a service is stored as (``compose`` of its
    ``ServiceSpec`` and its observed ``ServiceStatus``): ``version`` is the spec's (bumped by
    every user's or autoscaler's write: what ``update_service(expected_version=...)``
    compares), ``status_version`` the status's (bumped by the service scheduler's writes);
    ``generation`` the spec's generation, ``observed_generation`` the one the status took in.
    ``task_definition`` is the PRIMARY deployment's (after a rollback, the one rolled back to).
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
    status: ServiceLifecycle = "ACTIVE"
    deployments: tuple[Deployment, ...] = ()
    events: tuple[ServiceEvent, ...] = ()
    tracked_tasks: frozenset[str] = frozenset()
    healthy_seen: frozenset[str] = frozenset()
    launch_failures: int = 0
    next_launch_at: float = 0.0
    created_at: float = 0.0
    version: int = 1
    status_version: int = 1
    generation: int = 1
    deployment_generation: int = 1
    observed_generation: int = 1
    updated_at: float = 0.0

    def __attrs_post_init__(self) -> None:
        check_choice("status", self.status, ("ACTIVE", "DRAINING", "INACTIVE"))
        _check_spec_fields(self)
        _check_status_fields(self)
        check_int("version", self.version, 1)
        check_int("statusVersion", self.status_version, 1)
        check_int("observedGeneration", self.observed_generation, 0)

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


def _check_spec_fields(value: Service | ServiceSpec) -> None:
    """The checks of what the user asked, shared by the spec and the view."""
    check_name("serviceName", value.name)
    check_text("taskDefinition", value.task_definition, max_length=512)
    check_int("desiredCount", value.desired_count, 0)
    check_choice("schedulingStrategy", value.scheduling_strategy, ("REPLICA", "DAEMON"))
    if not isinstance(value.deployment_configuration, DeploymentConfiguration):
        raise ValidationError(
            "deploymentConfiguration", value.deployment_configuration, "must be a DeploymentConfiguration"
        )
    check_int("healthCheckGracePeriodSeconds", value.health_check_grace_period_seconds, 0, 2_147_483_647)
    for field in ("placement_constraints", "placement_strategy", "load_balancers"):
        if not isinstance(getattr(value, field), tuple):
            raise ValidationError(field, getattr(value, field), "must be a tuple")
    if len(value.placement_constraints) > MAX_CONSTRAINTS:
        raise ValidationError("placementConstraints", len(value.placement_constraints), f"at most {MAX_CONSTRAINTS}")
    if len(value.placement_strategy) > MAX_STRATEGIES:
        raise ValidationError("placementStrategy", len(value.placement_strategy), f"at most {MAX_STRATEGIES}")
    for index, item in enumerate(value.placement_constraints):
        if not isinstance(item, PlacementConstraint):
            raise ValidationError(f"placementConstraints[{index}]", item, "must be a PlacementConstraint")
    for index, strategy in enumerate(value.placement_strategy):
        if not isinstance(strategy, PlacementStrategy):
            raise ValidationError(f"placementStrategy[{index}]", strategy, "must be a PlacementStrategy")
    for index, balancer in enumerate(value.load_balancers):
        if not isinstance(balancer, LoadBalancer):
            raise ValidationError(f"loadBalancers[{index}]", balancer, "must be a LoadBalancer")
    if len({balancer.target_group_arn for balancer in value.load_balancers}) != len(value.load_balancers):
        raise ValidationError("loadBalancers", value.load_balancers, "lists a target group twice")
    if value.scheduling_strategy == "DAEMON":
        if value.desired_count:
            raise ValidationError("desiredCount", value.desired_count, "a DAEMON service has no desired count")
        if value.placement_strategy:
            raise ValidationError("placementStrategy", value.placement_strategy, "a DAEMON service takes none")
    check_int("generation", value.generation, 1)
    check_int("deploymentGeneration", value.deployment_generation, 1, value.generation)


def _check_status_fields(value: Service | ServiceStatus) -> None:
    """The checks of the service scheduler's bookkeeping, shared by the status and the view."""
    for field in ("deployments", "events"):
        if not isinstance(getattr(value, field), tuple):
            raise ValidationError(field, getattr(value, field), "must be a tuple")
    for field in ("tracked_tasks", "healthy_seen"):
        if not isinstance(getattr(value, field), frozenset):
            raise ValidationError(field, getattr(value, field), "must be a frozenset of task ids")
    check_int("launchFailures", value.launch_failures, 0)
    primaries = [d for d in value.deployments if d.status == "PRIMARY"]
    if value.deployments and (len(primaries) != 1 or value.deployments[0] is not primaries[0]):
        raise ValidationError("deployments", value.deployments, "the first deployment, and only it, is PRIMARY")
    if not value.healthy_seen <= value.tracked_tasks:
        raise ValidationError("healthySeen", sorted(value.healthy_seen - value.tracked_tasks), "are not tracked")


def is_daemon_task(task: Task, services: Mapping[str, Service]) -> bool:
    """True when ``task`` belongs to a DAEMON service among ``services`` (by name). O(1)."""
    owner = services.get(task.service_name or "")
    return owner is not None and owner.scheduling_strategy == "DAEMON"


@attrs.frozen(slots=True)
class ServiceSpec:
    """What the user asked of a service: the record users and autoscalers write.

    ``generation`` is bumped by every write (Kubernetes' ``metadata.generation``);
    ``deployment_generation`` is the generation of the last write that asked for a new
    deployment (a new task definition, or ``forceNewDeployment``). ``status`` is ACTIVE, or
    DRAINING once deleted. ``updated_at`` is when it was last written (the commit's time),
    ``version`` bumped by every commit that writes it.
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
    status: Literal["ACTIVE", "DRAINING"] = "ACTIVE"
    generation: int = 1
    deployment_generation: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 1

    def __attrs_post_init__(self) -> None:
        check_choice("status", self.status, ("ACTIVE", "DRAINING"))
        _check_spec_fields(self)
        check_int("version", self.version, 1)


@attrs.frozen(slots=True)
class ServiceStatus:
    """What the service scheduler made of a service's spec: the record only it writes.

    ``deployments`` (the PRIMARY one first), ``events`` (the newest first), the tasks it
    tracks and has seen healthy, the launch back-off, ``inactive`` once a deleted service's
    tasks are all gone, and ``observed_generation``: the spec generation taken in (0: none
    yet). ``version`` is bumped by every commit that writes it.
    """

    name: str
    deployments: tuple[Deployment, ...] = ()
    events: tuple[ServiceEvent, ...] = ()
    tracked_tasks: frozenset[str] = frozenset()
    healthy_seen: frozenset[str] = frozenset()
    launch_failures: int = 0
    next_launch_at: float = 0.0
    inactive: bool = False
    observed_generation: int = 0
    version: int = 1

    def __attrs_post_init__(self) -> None:
        check_name("serviceName", self.name)
        if not isinstance(self.inactive, bool):
            raise ValidationError("inactive", self.inactive, "must be true or false")
        check_int("observedGeneration", self.observed_generation, 0)
        check_int("statusVersion", self.version, 1)
        for field, kind in (("deployments", Deployment), ("events", ServiceEvent)):
            items = getattr(self, field)
            if isinstance(items, tuple) and not all(isinstance(item, kind) for item in items):
                raise ValidationError(field, items, f"must be a tuple of {kind.__name__}")
        _check_status_fields(self)


_VIEW_FIELDS: Final = (
    "name",
    "task_definition",
    "desired_count",
    "scheduling_strategy",
    "deployment_configuration",
    "placement_constraints",
    "placement_strategy",
    "health_check_grace_period_seconds",
    "load_balancers",
    "status",
    "deployments",
    "events",
    "tracked_tasks",
    "healthy_seen",
    "launch_failures",
    "next_launch_at",
    "created_at",
    "version",
    "status_version",
    "generation",
    "deployment_generation",
    "observed_generation",
    "updated_at",
)
_view: Final = replacer(Service, *_VIEW_FIELDS)
_TEMPLATE: Final = Service("template", "template:1")


def compose(spec: ServiceSpec, status: ServiceStatus) -> Service:
    """ECS's one ``Service`` shape from a spec and a status (observe the status first: ``observe``).

    Both parts were checked when built: the view is assembled without checking them again
    (readers compose a service per snapshot).
    """
    primary = status.deployments[0] if status.deployments else None
    return _view(  # every field of Service, in its order
        _TEMPLATE,
        spec.name,
        primary.task_definition if primary is not None else spec.task_definition,
        spec.desired_count,
        spec.scheduling_strategy,
        spec.deployment_configuration,
        spec.placement_constraints,
        spec.placement_strategy,
        spec.health_check_grace_period_seconds,
        spec.load_balancers,
        "INACTIVE" if status.inactive else spec.status,
        status.deployments,
        status.events,
        status.tracked_tasks,
        status.healthy_seen,
        status.launch_failures,
        status.next_launch_at,
        spec.created_at,
        spec.version,
        status.version,
        spec.generation,
        spec.deployment_generation,
        status.observed_generation,
        spec.updated_at,
    )


def split(service: Service) -> tuple[ServiceSpec, ServiceStatus]:
    """The spec and the status a ``Service`` view was composed from (``compose``'s inverse,
    but for the spec's task definition, which is the view's: the PRIMARY deployment's).
    """
    spec = ServiceSpec(
        name=service.name,
        task_definition=service.task_definition,
        desired_count=service.desired_count,
        scheduling_strategy=service.scheduling_strategy,
        deployment_configuration=service.deployment_configuration,
        placement_constraints=service.placement_constraints,
        placement_strategy=service.placement_strategy,
        health_check_grace_period_seconds=service.health_check_grace_period_seconds,
        load_balancers=service.load_balancers,
        status="DRAINING" if service.status != "ACTIVE" else "ACTIVE",
        generation=service.generation,
        deployment_generation=service.deployment_generation,
        created_at=service.created_at,
        updated_at=service.updated_at,
        version=service.version,
    )
    return spec, status_of(service)


def status_of(service: Service) -> ServiceStatus:
    """The status part of a ``Service`` view: what the service scheduler commits."""
    return ServiceStatus(
        name=service.name,
        deployments=service.deployments,
        events=service.events,
        tracked_tasks=service.tracked_tasks,
        healthy_seen=service.healthy_seen,
        launch_failures=service.launch_failures,
        next_launch_at=service.next_launch_at,
        inactive=service.status == "INACTIVE",
        observed_generation=service.observed_generation,
        version=service.status_version,
    )


def deployment_id(service: str, generation: int, created_at: float) -> str:
    """A deployment id in ECS's form (``ecs-svc/`` and 19 digits), repeatable for the same inputs:
    the service's name, the spec generation that asked for the deployment and the service's
    creation time (so a service created again under a used name gets new ids).
    """
    digest = hashlib.sha256(repr((service, generation, created_at)).encode()).hexdigest()
    return "ecs-svc/" + str(int(digest, 16))[-19:].rjust(19, "1")


def needs_observing(spec: ServiceSpec, status: ServiceStatus) -> bool:
    """True when ``status`` has not taken in ``spec``'s generation yet."""
    return status.observed_generation < spec.generation and not status.inactive


def observe(spec: ServiceSpec, status: ServiceStatus, holding: Mapping[str, int]) -> ServiceStatus:
    """``status`` having taken in ``spec``: pure, and the same for the same inputs.

    A spec generation not yet observed resets the launch back-off and sets the PRIMARY
    deployment's count to the spec's (0 while DRAINING; a daemon's stays as the scheduler
    counted it). One that asked for a new deployment (``deployment_generation`` past what the
    status observed) opens it, PRIMARY, its id from (name, generation, creation time) and its
    times the spec's write: the older deployments become ACTIVE with the count of tasks they
    hold (``holding``: deployment id → tasks not yet STOPPED), those holding none dropped but
    the last COMPLETED one. The service scheduler commits what this returns; readers see it
    at once (ECS's UpdateService answer shows the new deployment).
    """
    if not needs_observing(spec, status):
        return status
    now = spec.updated_at
    if spec.status == "DRAINING":
        count = 0
    elif spec.scheduling_strategy == "DAEMON":
        count = status.deployments[0].desired_count if status.deployments else 0
    else:
        count = spec.desired_count
    deployments = list(status.deployments)
    if not deployments or (spec.deployment_generation > status.observed_generation and spec.status == "ACTIVE"):
        keep_completed = next((d.id for d in deployments if d.rollout_state == "COMPLETED"), None)
        older = [
            attrs.evolve(d, status="ACTIVE", desired_count=holding.get(d.id, 0), updated_at=now)
            for d in deployments
            if holding.get(d.id) or d.id == keep_completed
        ]
        primary = Deployment(
            deployment_id(spec.name, spec.deployment_generation, spec.created_at),
            spec.task_definition,
            count,
            created_at=now,
            updated_at=now,
        )
        deployments = [primary, *older]
    elif deployments[0].desired_count != count:
        deployments[0] = attrs.evolve(deployments[0], desired_count=count, updated_at=now)
    return attrs.evolve(
        status,
        deployments=tuple(deployments),
        launch_failures=0,
        next_launch_at=0.0,
        observed_generation=spec.generation,
    )
