"""Services: a task definition kept running at a desired count (the service scheduler comes later)."""

from __future__ import annotations

from typing import Literal

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._validate import check_choice, check_int, check_name, check_text
from clusterkit.model.taskdef import PlacementConstraint

__all__ = ["DeploymentConfiguration", "Service"]


@attrs.frozen(slots=True)
class DeploymentConfiguration:
    """How far a deployment may go above and below the desired count, in percent.

    RUNNING + PENDING tasks stay at or below ``⌊desired · maximum_percent / 100⌋``;
    healthy tasks stay at or above ``⌈desired · minimum_healthy_percent / 100⌉``.
    """

    maximum_percent: int = 200
    minimum_healthy_percent: int = 100

    def __attrs_post_init__(self) -> None:
        check_int("maximumPercent", self.maximum_percent, 100, 10_000)
        check_int("minimumHealthyPercent", self.minimum_healthy_percent, 0, 100)


@attrs.frozen(slots=True)
class Service:
    """A long-running service: REPLICA keeps ``desired_count`` tasks, DAEMON one per instance."""

    name: str
    task_definition: str
    desired_count: int = 0
    scheduling_strategy: Literal["REPLICA", "DAEMON"] = "REPLICA"
    deployment_configuration: DeploymentConfiguration = DeploymentConfiguration()
    placement_constraints: tuple[PlacementConstraint, ...] = attrs.field(default=(), converter=tuple)
    health_check_grace_period_seconds: int = 0
    status: Literal["ACTIVE", "DRAINING", "INACTIVE"] = "ACTIVE"

    def __attrs_post_init__(self) -> None:
        check_name("serviceName", self.name)
        check_text("taskDefinition", self.task_definition, max_length=512)
        check_int("desiredCount", self.desired_count, 0)
        check_choice("schedulingStrategy", self.scheduling_strategy, ("REPLICA", "DAEMON"))
        check_int("healthCheckGracePeriodSeconds", self.health_check_grace_period_seconds, 0, 2_147_483_647)
        check_choice("status", self.status, ("ACTIVE", "DRAINING", "INACTIVE"))
        if self.scheduling_strategy == "DAEMON" and self.desired_count:
            raise ValidationError("desiredCount", self.desired_count, "a DAEMON service has no desired count")
