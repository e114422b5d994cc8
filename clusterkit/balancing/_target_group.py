"""Target groups: where a service's tasks receive traffic, and how their health is checked.

A ``TargetGroup`` is the ELB target group a service's ``loadBalancers`` entry names by its
ARN, mapped onto the load balancer's pool of servers (an HAProxy backend). Its health check
settings and deregistration delay are ELB's, with ELB's defaults.
"""

from __future__ import annotations

from typing import Final

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import check_int, check_text

__all__ = ["DEFAULT_DEREGISTRATION_DELAY", "TargetGroup"]

DEFAULT_DEREGISTRATION_DELAY: Final = 300.0
"""ELB's ``deregistration_delay.timeout_seconds``: how long a draining target may keep its connections."""


def _positive(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise ValidationError(field, value, "must be a number of seconds above 0 and at most 3600")


@attrs.frozen(slots=True)
class TargetGroup:
    """A target group: ``arn`` (as services name it), the ``backend`` it maps to, its health
    check and its deregistration delay.

    ``interval`` is the seconds between health checks; a target becomes healthy after
    ``healthy_threshold`` checks in a row pass and unhealthy after ``unhealthy_threshold``
    fail (a new target stays ``initial`` until one or the other). ``path`` is what the
    check asks for (HAProxy's backend sets it with ``option httpchk``; the runtime API
    cannot change it per server). A draining target is deregistered when it has no
    connections left, or ``deregistration_delay`` seconds after draining began.
    """

    arn: str
    backend: str
    interval: float = 30.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    path: str = "/"
    deregistration_delay: float = DEFAULT_DEREGISTRATION_DELAY

    def __attrs_post_init__(self) -> None:
        check_text("targetGroupArn", self.arn, max_length=1600)
        check_text("backend", self.backend, max_length=255)
        if not all(char.isalnum() or char in "-_.:" for char in self.backend):
            raise ValidationError("backend", self.backend, "may hold only letters, digits and - _ . :")
        _positive("healthCheckIntervalSeconds", self.interval)
        check_int("healthyThresholdCount", self.healthy_threshold, 1, 10)
        check_int("unhealthyThresholdCount", self.unhealthy_threshold, 1, 10)
        check_text("healthCheckPath", self.path, max_length=1024)
        if not self.path.startswith("/"):
            raise ValidationError("healthCheckPath", self.path, "must start with /")
        if isinstance(self.deregistration_delay, bool) or not isinstance(self.deregistration_delay, (int, float)):
            raise ValidationError("deregistrationDelay", self.deregistration_delay, "must be a number of seconds")
        if not 0 <= self.deregistration_delay <= 3600:
            raise ValidationError("deregistrationDelay", self.deregistration_delay, "must be 0 to 3600 seconds")

    @property
    def settle_time(self) -> float:
        """Seconds a new target may take to be found healthy or unhealthy: it is ``initial`` meanwhile."""
        return self.interval * (self.healthy_threshold + self.unhealthy_threshold)
