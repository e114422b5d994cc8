"""What filters and scorers see while a plan is being made: the ``PlacementContext``.

The context is the plan so far: resources left and tasks of the group per instance, this
plan's placements included. It is the one piece of a plan's state that user code reads; the
scheduler updates it as it places each task.
"""

from __future__ import annotations

from collections.abc import Iterable

from clusterkit.model import ContainerInstance, Resources, Task
from clusterkit.placement._plan import Placement
from clusterkit.placement._request import PlacementRequest
from clusterkit.state import Snapshot

__all__ = ["PlacementContext", "field_value"]


class PlacementContext:
    """What filters and scorers see while a plan is being made.

    It answers for the plan so far: resources left on an instance and how many tasks
    of the request's group an instance holds both include the tasks already placed in
    this plan.
    """

    def __init__(self, snapshot: Snapshot, request: PlacementRequest) -> None:
        self.snapshot = snapshot
        self.request = request
        self.group = request.task_group
        self._remaining: dict[str, Resources] = {}
        self._group_counts: dict[str, int] = dict(snapshot.group_counts(self.group).items())
        self._family_counts: dict[tuple[str, str], int] = {}  # (instance, family) → in the snapshot
        self._placed_on: dict[str, int] = {}  # instance → this plan's placements on it
        self.placed: list[Placement] = []

    def remaining(self, instance: ContainerInstance) -> Resources:
        """What ``instance`` has left, after this plan's placements."""
        return self._remaining.get(instance.id, instance.remaining)

    def group_count(self, instance_id: str) -> int:
        """Tasks of the request's group on ``instance_id``, this plan's included.

        The group is the request's ``task_group``: ``service:NAME`` for a service's tasks,
        ``family:NAME`` for ``run_task`` unless it names a group. To count a family whatever
        group its tasks belong to (every service running it, and run_task), use
        :meth:`family_count`.
        """
        return self._group_counts.get(instance_id, 0)

    def family_count(self, instance_id: str, family: str | None = None) -> int:
        """Tasks of ``family`` (default: the request's) on ``instance_id`` that hold resources,
        whatever their group, this plan's placements included. O(tasks on the instance).
        """
        wanted = self.request.task_definition.family if family is None else family
        counted = self._family_counts.get((instance_id, wanted))
        if counted is None:
            counted = sum(
                1 for task in self.snapshot.tasks_on(instance_id) if task.task_definition.partition(":")[0] == wanted
            )
            self._family_counts[(instance_id, wanted)] = counted
        if wanted != self.request.task_definition.family:
            return counted
        return counted + self._placed_on.get(instance_id, 0)

    def count_by(self, field: str, instances: Iterable[ContainerInstance]) -> dict[str | None, int]:
        """Tasks of the group per value of ``field`` (instanceId, host or attribute:NAME)."""
        counts: dict[str | None, int] = {}
        for instance in instances:
            value = field_value(instance, field)
            counts[value] = counts.get(value, 0) + self.group_count(instance.id)
        return counts

    def _take(self, instance: ContainerInstance, charge: Resources, task: Task) -> None:
        self._remaining[instance.id] = self.remaining(instance)._take(charge)
        self._group_counts[instance.id] = self.group_count(instance.id) + 1
        self._placed_on[instance.id] = self._placed_on.get(instance.id, 0) + 1
        self.placed.append(Placement(task, instance.version))


def field_value(instance: ContainerInstance, field: str) -> str | None:
    """The value a spread field takes on an instance (None when the attribute is absent)."""
    if field == "instanceId":
        return instance.id
    if field == "host":
        return instance.ec2_instance_id or instance.id
    return instance.attribute(field[10:])
