"""Where evaluation learns the task groups on each instance: from a snapshot or a mapping."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from clusterkit.state import Snapshot

__all__ = ["QueryContext", "SnapshotContext", "StaticContext"]


class QueryContext(Protocol):
    """What evaluation needs beyond the instance itself: the task groups on each instance."""

    def groups_on(self, instance_id: str) -> Collection[str]:
        """The groups of the tasks on ``instance_id`` that are not stopped (a set is fastest)."""
        ...


class SnapshotContext:
    """A ``QueryContext`` reading task groups from a ``clusterkit.state.Snapshot``.

    Groups are read once per instance and cached; the snapshot never changes, so neither do
    they. A task with an empty group counts as ``family:FAMILY``, the ECS default group.
    """

    __slots__ = ("_cache", "_snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._cache: dict[str, frozenset[str]] = {}

    def groups_on(self, instance_id: str) -> frozenset[str]:
        """The groups of the non-stopped tasks on ``instance_id``."""
        groups = self._cache.get(instance_id)
        if groups is None:
            groups = frozenset(task.group or f"family:{task.family}" for task in self._snapshot.tasks_on(instance_id))
            self._cache[instance_id] = groups
        return groups


class StaticContext:
    """A ``QueryContext`` from a mapping of instance id to task groups (absent: no tasks)."""

    __slots__ = ("_groups",)

    def __init__(self, groups: Mapping[str, Collection[str]] | None = None) -> None:
        self._groups = {key: frozenset(value) for key, value in (groups or {}).items()}

    def groups_on(self, instance_id: str) -> frozenset[str]:
        """The groups given for ``instance_id``; none when it was not given."""
        return self._groups.get(instance_id, frozenset())
