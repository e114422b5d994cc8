"""Plans: what a scheduler decided, as data, ready to commit.

A plan holds the placements (task → instance, host ports, charge) and, for every task it
could not place, why: how many instances were rejected for each reason. Committing a plan
goes through ``ClusterState.commit``, which re-checks every touched instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from clusterkit.model import Task
from clusterkit.placement._request import PlacementRequest
from clusterkit.state import PlaceTask

__all__ = ["Placement", "Plan", "Unplaced"]


def _frozen_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen(slots=True)
class Placement:
    """One task bound to an instance, planned against the instance at ``instance_version``."""

    task: Task
    instance_version: int


@attrs.frozen(slots=True)
class Unplaced:
    """A task that could not be placed: instances rejected per reason.

    Reasons are ECS's (``RESOURCE:CPU``, ``RESOURCE:MEMORY``, ``RESOURCE:PORTS``,
    ``RESOURCE:<scalar>``, ``ATTRIBUTE``, ``AGENT``, ``INACTIVE``) and clusterkit's
    (``DISTINCT_INSTANCE``, or the reason a custom filter returned). For each instance's
    own reason, ask the scheduler to ``explain`` the request.
    """

    reasons: Mapping[str, int] = attrs.field(converter=_frozen_counts, hash=False)

    @property
    def reason(self) -> str:
        """The most common reason (``"NO_INSTANCES"`` for an empty cluster)."""
        if not self.reasons:
            return "NO_INSTANCES"
        return max(sorted(self.reasons), key=lambda reason: self.reasons[reason])


@attrs.frozen(slots=True)
class Plan:
    """A scheduler's decision for one request, made against ``snapshot_version``.

    ``changes`` are the PlaceTask changes to commit. With ``strict_versions`` they carry
    each instance's planned version, so the commit rejects a placement whose instance
    changed at all (Omega's coarse check) instead of re-checking its fit.
    """

    request: PlacementRequest
    snapshot_version: int
    placements: tuple[Placement, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
    strict_versions: bool = False

    @property
    def changes(self) -> tuple[PlaceTask, ...]:
        """The changes to commit, one PlaceTask per placement."""
        if not self.strict_versions:
            return tuple(PlaceTask(p.task) for p in self.placements)
        return tuple(PlaceTask(p.task, p.instance_version) for p in self.placements)

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks placed."""
        return tuple(placement.task for placement in self.placements)

    def summary(self) -> dict[str, Any]:
        """A short dict for logs: placed count and unplaced reasons."""
        return {
            "placed": len(self.placements),
            "unplaced": len(self.unplaced),
            "reasons": sorted({u.reason for u in self.unplaced}),
        }
