"""Container instances: the hosts tasks are placed on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final, Literal

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model._resources import Resources
from clusterkit.model._validate import check_choice, check_int, check_text

__all__ = ["DEFAULT_RESERVED_PORTS", "INSTANCE_STATUSES", "ContainerInstance", "InstanceStatus"]

InstanceStatus = Literal["ACTIVE", "DRAINING", "INACTIVE"]
INSTANCE_STATUSES: Final = ("ACTIVE", "DRAINING", "INACTIVE")
DEFAULT_RESERVED_PORTS: Final = frozenset({22, 2375, 2376, 51678, 51679})
"""Ports ECS reserves on every instance: ssh, the Docker daemon and the agent's own."""
_ATTRIBUTE_NAME_LENGTH: Final = 128
_ATTRIBUTE_VALUE_LENGTH: Final = 128


def _attribute_tuple(
    value: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
) -> tuple[tuple[str, str | None], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted(items))


@attrs.frozen(slots=True)
class ContainerInstance:
    """A host that runs tasks, with what it registered and what it has left.

    ``registered`` is fixed at registration (its ports are the reserved ones);
    ``remaining`` is kept by the ClusterState: registered less the charge of every task on
    the instance that is not STOPPED. ``version`` increases on every change.
    Attributes are name → value pairs (value may be None), such as
    ``ecs.availability-zone``. ``last_heartbeat_at`` is when its agent last said it was
    alive (seconds, the state's clock; None before the first heartbeat): ECS does not show
    it, so describe output leaves it out and the saved record keeps it beside.
    """

    id: str
    registered: Resources
    remaining: Resources
    attributes: tuple[tuple[str, str | None], ...] = attrs.field(default=(), converter=_attribute_tuple)
    status: InstanceStatus = "ACTIVE"
    agent_connected: bool = True
    agent_version: str = "1.0.0"
    registered_at: float = 0.0
    ec2_instance_id: str | None = None
    running_tasks_count: int = 0
    pending_tasks_count: int = 0
    version: int = 1
    last_heartbeat_at: float | None = None

    def __attrs_post_init__(self) -> None:
        check_text("containerInstanceId", self.id, max_length=255)
        if "/" in self.id:
            raise ValidationError("containerInstanceId", self.id, "must not contain '/'")
        check_choice("status", self.status, INSTANCE_STATUSES)
        if not isinstance(self.agent_connected, bool):
            raise ValidationError("agentConnected", self.agent_connected, "must be true or false")
        check_text("agentVersion", self.agent_version, max_length=64)
        if self.ec2_instance_id is not None:
            check_text("ec2InstanceId", self.ec2_instance_id, max_length=255)
        check_int("version", self.version, 1)
        heard = self.last_heartbeat_at
        if heard is not None and (
            isinstance(heard, bool) or not isinstance(heard, (int, float)) or not math.isfinite(heard) or heard < 0
        ):
            raise ValidationError("lastHeartbeatAt", heard, "must be None or a time in seconds (a number >= 0)")
        for name, value in self.attributes:
            check_attribute(name, value)

    @property
    def attribute_map(self) -> dict[str, str | None]:
        """The attributes as a new dict."""
        return dict(self.attributes)

    def attribute(self, name: str) -> str | None:
        """The value of attribute ``name`` (None when it is absent or has no value)."""
        for key, value in self.attributes:
            if key == name:
                return value
        return None

    def has_attribute(self, name: str) -> bool:
        """True when attribute ``name`` is set, with or without a value."""
        return any(key == name for key, _ in self.attributes)

    @property
    def accepts_tasks(self) -> bool:
        """ACTIVE with its agent connected: the only instances new tasks may go to."""
        return self.status == "ACTIVE" and self.agent_connected


def check_attribute(name: object, value: object) -> None:
    """ECS attribute rules: a name of 1..128 characters and an optional value of at most 128."""
    if not isinstance(name, str) or not 1 <= len(name) <= _ATTRIBUTE_NAME_LENGTH:
        raise ValidationError("attributes.name", name, f"must be a string of 1..{_ATTRIBUTE_NAME_LENGTH} characters")
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= _ATTRIBUTE_VALUE_LENGTH):
        raise ValidationError(
            f"attributes[{name!r}].value", value, f"must be None or a string of 1..{_ATTRIBUTE_VALUE_LENGTH} characters"
        )
