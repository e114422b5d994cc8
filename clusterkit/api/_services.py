"""ECS's service calls: create, update, delete, list and describe services.

These calls write only a service's spec (``PutServiceSpec``, with a check of the spec's
version, made again only when another user's write got there first); the service
scheduler's writes go to the service's status and never move the spec's version, so they
never make a call retry. The ``ServiceScheduler`` (``clusterkit.services``) observes the new
spec (opening a deployment, scaling the primary one) and starts and stops the tasks; what
these calls return already shows what it will observe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from clusterkit.api._calls import Calls
from clusterkit.ecs_json import load_deployment_configuration, load_load_balancers
from clusterkit.errors import ConflictError, StaleVersionError, ValidationError
from clusterkit.model import (
    DEFAULT_SERVICE_STRATEGY,
    Arns,
    DeploymentConfiguration,
    LoadBalancer,
    PlacementConstraint,
    PlacementStrategy,
    Service,
    ServiceSpec,
    check_int,
    check_load_balancers,
    load_constraints,
    load_strategies,
)
from clusterkit.state import (
    Change,
    Described,
    Page,
    PutServiceSpec,
    PutServiceStatus,
    RetryOutcome,
    Snapshot,
    TokenClaim,
    commit_with_retry,
    fingerprint,
    is_stale,
)

__all__ = ["ServiceCalls", "spec_update", "spec_written"]

_DAEMON_CONFIGURATION: Final = DeploymentConfiguration(maximum_percent=100, minimum_healthy_percent=0)
_USER_RACES: Final = 20
"""How many times a call is made again when other users' writes moved the spec meanwhile."""
_DAEMON_MAXIMUM: Final = (
    "The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration."
)


def _configuration(
    value: DeploymentConfiguration | Mapping[str, Any] | None, base: DeploymentConfiguration
) -> DeploymentConfiguration:
    if value is None:
        return base
    if isinstance(value, DeploymentConfiguration):
        return value
    return load_deployment_configuration(value, base)


def _check_daemon_configuration(strategy: str, configuration: DeploymentConfiguration) -> None:
    """ECS's rule: a DAEMON service never runs more than one task per instance, even while deploying."""
    if strategy == "DAEMON" and configuration.maximum_percent > 100:
        raise ValidationError("deploymentConfiguration.maximumPercent", configuration.maximum_percent, _DAEMON_MAXIMUM)


def _live(snapshot: Snapshot, name: str, *, draining: bool = False) -> Service:
    """The service, ACTIVE (or DRAINING when ``draining`` is allowed), else ValidationError."""
    service = snapshot.service(Arns.last_part(name))
    if service.status == "INACTIVE" or (service.status == "DRAINING" and not draining):
        raise ValidationError("service", name, f"is {service.status} (deleted): it cannot be changed")
    return service


def spec_update(
    snapshot: Snapshot,
    service: str,
    *,
    desired_count: int | None = None,
    task_definition: str | None = None,
    deployment_configuration: DeploymentConfiguration | Mapping[str, Any] | None = None,
    placement_constraints: Iterable[PlacementConstraint | Mapping[str, Any]] | None = None,
    placement_strategy: Iterable[PlacementStrategy | Mapping[str, Any]] | None = None,
    health_check_grace_period_seconds: int | None = None,
    force_new_deployment: bool = False,
    load_balancers: Iterable[LoadBalancer | Mapping[str, Any]] | None = None,
    expected_version: int | None = None,
) -> PutServiceSpec:
    """The write ECS UpdateService makes on ``snapshot`` (pure: ``update_service`` commits it,
    and so may an autoscaler deciding from its own snapshot): the service's spec with what is
    given changed, at the spec's version read there.

    A new task definition (other than the one the PRIMARY deployment runs) or
    ``force_new_deployment`` asks for a new deployment: a ``deployment_generation`` past the
    spec's. NotFoundError for an unknown service; StaleVersionError when ``expected_version``
    is not the spec's version; ValidationError for a deleted service or a bad value.
    """
    if not isinstance(force_new_deployment, bool):
        raise ValidationError("forceNewDeployment", force_new_deployment, "must be true or false")
    if desired_count is not None:
        check_int("desiredCount", desired_count, 0)
    if expected_version is not None:
        check_int("expectedVersion", expected_version, 1)
    current = _live(snapshot, service)
    if expected_version is not None and current.version != expected_version:
        raise StaleVersionError("expectedVersion", expected_version, current.version)
    if current.scheduling_strategy == "DAEMON" and desired_count is not None:
        raise ValidationError("desiredCount", desired_count, "a DAEMON service has no desired count")
    spec = snapshot.service_spec(current.name)
    key = current.task_definition
    if task_definition is not None:
        definition = snapshot.task_definition(task_definition)
        if definition.status != "ACTIVE":
            raise ValidationError("taskDefinition", task_definition, "is INACTIVE")
        key = definition.key
    balancers = spec.load_balancers if load_balancers is None else load_load_balancers(load_balancers)
    if balancers and (load_balancers is not None or key != current.task_definition):
        check_load_balancers(balancers, snapshot.task_definition(key))
    configuration = _configuration(deployment_configuration, spec.deployment_configuration)
    if deployment_configuration is not None:
        _check_daemon_configuration(spec.scheduling_strategy, configuration)
    fields: dict[str, Any] = {
        "desired_count": spec.desired_count if desired_count is None else desired_count,
        "task_definition": key,
        "deployment_configuration": configuration,
    }
    if key != current.task_definition or force_new_deployment:
        fields["deployment_generation"] = spec.generation + 1
        fields["generation"] = spec.generation + 1
    if placement_constraints is not None:
        fields["placement_constraints"] = load_constraints(placement_constraints)
    if placement_strategy is not None:
        fields["placement_strategy"] = load_strategies(placement_strategy)
    if health_check_grace_period_seconds is not None:
        fields["health_check_grace_period_seconds"] = health_check_grace_period_seconds
    if load_balancers is not None:
        fields["load_balancers"] = balancers
    return PutServiceSpec(attrs.evolve(spec, **fields), spec.version)  # evolve validates, as building one does


def spec_written(outcome: RetryOutcome, service: str) -> Snapshot | None:
    """The snapshot a retried write of ``service`` (``commit_with_retry`` with ``conflict=is_stale``)
    left, or None when it wrote nothing: its last plan found nothing to write, or other writers
    kept winning (``outcome.gave_up``). ValidationError for a refusal that was no race.
    """
    result = outcome.result
    if result is None or outcome.gave_up or outcome.attempts > outcome.commits:  # the last plan: nothing
        return None
    if not result.ok:
        refused = next((r for r in result.rejected if r.reason != "ABORTED"), result.rejected[0])
        raise ValidationError("service", service, refused.detail)
    return result.snapshot


class ServiceCalls(Calls):
    """CreateService, UpdateService, DeleteService, ListServices and DescribeServices."""

    def create_service(
        self,
        service_name: str,
        task_definition: str,
        *,
        desired_count: int | None = None,
        scheduling_strategy: Literal["REPLICA", "DAEMON"] = "REPLICA",
        deployment_configuration: DeploymentConfiguration | Mapping[str, Any] | None = None,
        placement_constraints: Iterable[PlacementConstraint | Mapping[str, Any]] | None = None,
        placement_strategy: Iterable[PlacementStrategy | Mapping[str, Any]] | None = None,
        health_check_grace_period_seconds: int = 0,
        load_balancers: Iterable[LoadBalancer | Mapping[str, Any]] | None = None,
        client_token: str | None = None,
    ) -> Service:
        """Create a service (ECS CreateService); the service scheduler then starts its tasks.

        A REPLICA service needs ``desired_count``; it spreads over availability zones, then
        over instances, unless given a ``placement_strategy``. A DAEMON service runs one task
        on every ACTIVE instance meeting its constraints; its deployment configuration
        defaults to maximumPercent 100 and minimumHealthyPercent 0. Options take clusterkit
        objects or ECS JSON. ``load_balancers`` (``[{"targetGroupArn", "containerName",
        "containerPort"}]``) must name a container of the task definition mapping that port;
        ``clusterkit.balancing`` registers the RUNNING tasks there.

        ``client_token`` (ECS's ``clientToken``) makes the call idempotent for
        ``CLIENT_TOKEN_TTL`` (an hour): made again with the same token and arguments it
        returns the service the first call created, as it is now; with other arguments it
        raises ValidationError.
        """
        claim = None
        if client_token is not None:
            arguments = (service_name, task_definition, desired_count, scheduling_strategy, deployment_configuration)
            options = (placement_constraints, placement_strategy, health_check_grace_period_seconds, load_balancers)
            claim = TokenClaim(client_token, fingerprint("create_service", *arguments, *options))
            first = self._first_call(claim)
            if first is not None:
                return self.snapshot().service(first.services[0] if first.services else service_name)
        if scheduling_strategy not in ("REPLICA", "DAEMON"):
            raise ValidationError("schedulingStrategy", scheduling_strategy, "must be REPLICA or DAEMON")
        daemon = scheduling_strategy == "DAEMON"
        if daemon and desired_count is not None:
            raise ValidationError("desiredCount", desired_count, "a DAEMON service has no desired count")
        if not daemon and desired_count is None:
            raise ValidationError("desiredCount", None, "a REPLICA service needs a desired count")
        if desired_count is not None:
            check_int("desiredCount", desired_count, 0)
        snapshot = self.snapshot()
        definition = snapshot.task_definition(task_definition)
        if definition.status != "ACTIVE":
            raise ValidationError("taskDefinition", task_definition, "is INACTIVE")
        balancers = load_load_balancers(load_balancers)
        check_load_balancers(balancers, definition)
        strategies = load_strategies(placement_strategy) if placement_strategy is not None else ()
        configuration = _configuration(
            deployment_configuration, _DAEMON_CONFIGURATION if daemon else DeploymentConfiguration()
        )
        _check_daemon_configuration(scheduling_strategy, configuration)
        spec = ServiceSpec(
            name=service_name,
            task_definition=definition.key,
            desired_count=desired_count or 0,
            scheduling_strategy=scheduling_strategy,
            deployment_configuration=configuration,
            placement_constraints=load_constraints(placement_constraints),
            placement_strategy=strategies if daemon or placement_strategy is not None else DEFAULT_SERVICE_STRATEGY,
            health_check_grace_period_seconds=health_check_grace_period_seconds,
            load_balancers=balancers,
        )
        result = self._commit_one(PutServiceSpec(spec, 0), "service", service_name, claim)
        return result.snapshot.service(service_name)

    def update_service(
        self,
        service: str,
        *,
        desired_count: int | None = None,
        task_definition: str | None = None,
        deployment_configuration: DeploymentConfiguration | Mapping[str, Any] | None = None,
        placement_constraints: Iterable[PlacementConstraint | Mapping[str, Any]] | None = None,
        placement_strategy: Iterable[PlacementStrategy | Mapping[str, Any]] | None = None,
        health_check_grace_period_seconds: int | None = None,
        force_new_deployment: bool = False,
        load_balancers: Iterable[LoadBalancer | Mapping[str, Any]] | None = None,
        expected_version: int | None = None,
    ) -> Service:
        """Change a service (ECS UpdateService); what is not given stays as it is.

        A new task definition, or ``force_new_deployment``, starts a deployment: a new
        PRIMARY one, the old ones ACTIVE until their tasks are replaced. Any update resets
        the launch back-off. ``load_balancers`` replaces the service's target groups; they
        (new or kept) must fit the task definition the service runs after the update.

        Without ``expected_version`` an update that loses a race to another user's write is
        made again on the newer spec (the service scheduler's writes never race it: they go
        to the service's status). With it, the update is a compare-and-swap on the spec: it
        applies only to the spec at that version (``Service.version``), else raises
        StaleVersionError and changes nothing (for a decision made from that spec, such as
        an autoscaler's). ``spec_update`` builds the write, pure, on a snapshot.
        """

        def plan(snapshot: Snapshot) -> list[Change]:
            write = spec_update(
                snapshot,
                service,
                desired_count=desired_count,
                task_definition=task_definition,
                deployment_configuration=deployment_configuration,
                placement_constraints=placement_constraints,
                placement_strategy=placement_strategy,
                health_check_grace_period_seconds=health_check_grace_period_seconds,
                force_new_deployment=force_new_deployment,
                load_balancers=load_balancers,
                expected_version=expected_version,
            )
            return [write]

        outcome = commit_with_retry(self, plan, conflict=is_stale, max_attempts=_USER_RACES)
        if outcome.gave_up:
            raise ConflictError(f"service={service!r}: other users kept changing it under the update; try again")
        written = spec_written(outcome, service)
        assert written is not None  # a plan always writes
        return written.service(service)

    def delete_service(self, service: str, *, force: bool = False) -> Service:
        """Delete a service (ECS DeleteService): DRAINING while its tasks stop, then INACTIVE.

        A REPLICA service must first be scaled to 0 unless ``force``.
        """
        if not isinstance(force, bool):
            raise ValidationError("force", force, "must be true or false")
        draining: Service | None = None  # found DRAINING: being deleted already

        def plan(snapshot: Snapshot) -> list[Change] | None:
            nonlocal draining
            current = _live(snapshot, service, draining=True)
            if current.status == "DRAINING":
                draining = current
                return None
            if current.scheduling_strategy == "REPLICA" and current.desired_count and not force:
                raise ValidationError(
                    "force",
                    force,
                    f"service {current.name} has a desired count of {current.desired_count}; "
                    "scale it to 0 first or force",
                )
            spec = snapshot.service_spec(current.name)
            changes: list[Change] = [
                PutServiceSpec(attrs.evolve(spec, desired_count=0, status="DRAINING"), spec.version)
            ]
            if not any(True for _ in snapshot.service_tasks_holding(current)):  # nothing to stop: INACTIVE at once
                status = snapshot.observed_status(current.name)
                primary = attrs.evolve(status.deployments[0], desired_count=0)
                retired = attrs.evolve(status, inactive=True, deployments=(primary, *status.deployments[1:]))
                changes.append(PutServiceStatus(retired, snapshot.service_status(current.name).version))
            return changes

        outcome = commit_with_retry(self, plan, atomic=True, conflict=is_stale, max_attempts=_USER_RACES)
        if outcome.gave_up:
            raise ConflictError(f"service={service!r}: kept changing under the delete; try again")
        written = spec_written(outcome, service)
        if written is None:
            assert draining is not None  # the only plan that writes nothing
            return draining
        return written.service(service)

    def list_services(
        self,
        *,
        scheduling_strategy: str | None = None,
        max_results: int = 10,
        next_token: str | None = None,
    ) -> Page:
        """Service ARNs of the cluster, by name (ECS ListServices); see ``Snapshot.list_services``."""
        return self.snapshot().list_services(
            scheduling_strategy=scheduling_strategy, max_results=max_results, next_token=next_token
        )

    def describe_services(self, services: Sequence[str]) -> Described[Service]:
        """Up to 10 services by name or ARN (ECS DescribeServices); unknown ones are failures ``MISSING``.

        ``to_ecs()`` gives ECS's JSON, ``{"services": [...], "failures": [{"arn", "reason"}]}``,
        where each service carries its running and pending counts, per deployment too.
        """
        return self.snapshot().describe_services(services)
