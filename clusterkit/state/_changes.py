"""Changes: the typed operations a commit applies, and what a commit answers.

Every write to a ClusterState is a sequence of changes given to ``commit``. A change the
current state cannot take is *rejected* with a reason code (data, not an exception); a
change that is malformed raises a ValidationError before anything is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, Union

import attrs

from clusterkit.model import (
    ContainerInstance,
    HealthStatus,
    Service,
    ServiceSpec,
    ServiceStatus,
    StopCode,
    TargetHealth,
    Task,
    TaskDefinition,
    TaskStatus,
)

if TYPE_CHECKING:
    from clusterkit.state._events import Event
    from clusterkit.state._snapshot import Snapshot

__all__ = [
    "REJECTION_REASONS",
    "Change",
    "CommitResult",
    "DeregisterInstance",
    "DeregisterTaskDefinition",
    "PlaceTask",
    "PutService",
    "PutServiceSpec",
    "PutServiceStatus",
    "RegisterInstance",
    "RegisterTaskDefinition",
    "Rejection",
    "StopTask",
    "TaskStateChange",
    "UpdateInstance",
]

REJECTION_REASONS: Final = (
    "RESOURCE:CPU",
    "RESOURCE:MEMORY",
    "RESOURCE:PORTS",
    "AGENT",
    "INACTIVE",
    "MISSING",
    "STALE_VERSION",
    "DUPLICATE",
    "ABORTED",
)
"""Reason codes a rejection may carry. ``RESOURCE:<name>`` also appears for custom scalars."""


@attrs.frozen(slots=True)
class PlaceTask:
    """Put a new task on its instance, charging ``task.charge`` there.

    With ``expected_instance_version`` set the commit also rejects the placement when the
    instance changed at all since the plan's snapshot (Omega's coarse-grained check; the
    version is compared with the instance as it was before this commit, so several
    placements of one plan on one instance all carry the same expected version);
    without it the instance is re-checked for fit, ports and status at its current
    version (fine-grained, as Nomad's plan applier does).
    """

    task: Task
    expected_instance_version: int | None = None


@attrs.frozen(slots=True)
class StopTask:
    """Ask for a task to stop: its desired status becomes STOPPED (ECS StopTask)."""

    task_id: str
    reason: str | None = None
    stop_code: StopCode = "UserInitiated"


@attrs.frozen(slots=True)
class TaskStateChange:
    """A status report for a task, based on the task ``version`` the reporter last saw.

    A report whose version is lower than the stored one is dropped (``STALE_VERSION``).
    ``target_health``, when given, replaces what the load balancers report about the task
    (``clusterkit.balancing`` sends it).
    """

    task_id: str
    version: int
    last_status: TaskStatus | None = None
    health_status: HealthStatus | None = None
    stop_code: StopCode | None = None
    stopped_reason: str | None = None
    target_health: tuple[TargetHealth, ...] | None = None


@attrs.frozen(slots=True)
class RegisterInstance:
    """Add a container instance (or bring back one that was deregistered)."""

    instance: ContainerInstance


@attrs.frozen(slots=True)
class DeregisterInstance:
    """Take an instance out: INACTIVE. ``force`` also stops the tasks still on it."""

    instance_id: str
    force: bool = False


@attrs.frozen(slots=True)
class UpdateInstance:
    """Change an instance's status (ACTIVE/DRAINING), agent fields or attributes.

    ``attributes`` are put (added or replaced); ``remove_attributes`` are deleted. With
    ``heartbeat`` the instance's ``last_heartbeat_at`` becomes the commit's time (the
    state's clock): the agent's way of saying it is alive.
    """

    instance_id: str
    status: Literal["ACTIVE", "DRAINING"] | None = None
    agent_connected: bool | None = None
    agent_version: str | None = None
    attributes: Mapping[str, str | None] = attrs.field(factory=dict)
    remove_attributes: tuple[str, ...] = ()
    expected_version: int | None = None
    heartbeat: bool = False


@attrs.frozen(slots=True)
class RegisterTaskDefinition:
    """Register a task definition; the commit gives it the family's next revision."""

    task_definition: TaskDefinition


@attrs.frozen(slots=True)
class DeregisterTaskDefinition:
    """Mark ``family:revision`` INACTIVE: no new tasks may use it."""

    key: str


@attrs.frozen(slots=True)
class PutServiceSpec:
    """Create or change a service's spec (users, autoscalers), if it is still at ``expected_version``.

    ``expected_version`` 0 creates: the name must be free (no service, or an INACTIVE one),
    and the service gets a new, empty status. Otherwise the stored spec must be at exactly
    that version (``STALE_VERSION`` if not); the service scheduler's status writes never
    move it. The stored spec gets the next version and ``updated_at`` the commit's time,
    whatever the given spec says (``created_at`` too, when creating).
    """

    spec: ServiceSpec
    expected_version: int


@attrs.frozen(slots=True)
class PutServiceStatus:
    """Write a service's status (the service scheduler), if it is still at ``expected_version``.

    The stored status must be at exactly that version (``STALE_VERSION`` if not), which is
    how two service schedulers racing on one service never both act: each commit of a
    decision carries the status it was made from. Users' spec writes never move it. The
    stored status gets the next version whatever ``status.version`` says.
    """

    status: ServiceStatus
    expected_version: int


@attrs.frozen(slots=True)
class PutService:
    """Write a whole service view, spec and status together (tests, tools restoring a record).

    ``expected_version`` is the spec's, as for ``PutServiceSpec`` (0 creates); an existing
    service's status must also still be at ``service.status_version``. Both records get
    their next versions.
    """

    service: Service
    expected_version: int


Change = Union[
    PlaceTask,
    StopTask,
    TaskStateChange,
    RegisterInstance,
    DeregisterInstance,
    UpdateInstance,
    RegisterTaskDefinition,
    DeregisterTaskDefinition,
    PutService,
    PutServiceSpec,
    PutServiceStatus,
]


@attrs.frozen(slots=True)
class Rejection:
    """A change the commit did not apply, with a reason code and a sentence."""

    change: Change
    reason: str
    detail: str = ""


@attrs.frozen(slots=True, init=False)
class CommitResult:
    """What a commit did: the changes ``accepted`` and ``rejected``, the ``events`` it
    emitted and the cluster ``version`` after it.

    ``snapshot`` is a fresh snapshot (at this version or newer) to plan a retry from.
    """

    version: int
    accepted: tuple[Change, ...]
    rejected: tuple[Rejection, ...]
    events: tuple[Event, ...]
    _fresh: object = attrs.field(repr=False, eq=False, alias="fresh")

    def __init__(
        self,
        version: int,
        accepted: tuple[Change, ...],
        rejected: tuple[Rejection, ...],
        events: tuple[Event, ...],
        fresh: object,
    ) -> None:
        # every commit makes one: each slot set through its descriptor, half the cost of attrs' own
        _SET_VERSION(self, version)
        _SET_ACCEPTED(self, accepted)
        _SET_REJECTED(self, rejected)
        _SET_EVENTS(self, events)
        _SET_FRESH(self, fresh)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejected

    @property
    def snapshot(self) -> Snapshot:
        """A snapshot taken now: at least as new as this commit."""
        snapshot: Snapshot = self._fresh()  # type: ignore[operator]
        return snapshot


_SET_VERSION, _SET_ACCEPTED, _SET_REJECTED, _SET_EVENTS, _SET_FRESH = (
    getattr(CommitResult, field).__set__ for field in ("version", "accepted", "rejected", "events", "_fresh")
)
