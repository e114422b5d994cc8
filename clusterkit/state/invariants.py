"""The invariants every snapshot keeps, as a list of violations (empty when all hold)."""

from __future__ import annotations

from clusterkit.model.task import PENDING_STATUSES, Task
from clusterkit.state.snapshot import Snapshot, capacity_key, task_index_keys

__all__ = ["state_violations"]


def state_violations(snapshot: Snapshot) -> list[str]:
    """Every broken invariant of ``snapshot``, as sentences.

    - each task is on an instance that exists, and a deregistered instance holds none;
    - per instance: remaining = registered − Σ charge of its non-STOPPED tasks, nothing
      overcommitted, no port charged twice, pending/running counts match its tasks;
    - every list index holds exactly the tasks it should. O(n log n).
    """
    problems: list[str] = []
    roots = snapshot._roots
    holding: dict[str, list[Task]] = {}
    for task in snapshot.tasks():
        if task.container_instance_id not in roots.instances:
            problems.append(f"task {task.id} is on missing instance {task.container_instance_id}")
        elif not task.is_stopped:
            holding.setdefault(task.container_instance_id, []).append(task)
    for instance in snapshot.instances():
        tasks = holding.get(instance.id, [])
        if instance.status == "INACTIVE":
            if tasks:
                problems.append(f"deregistered instance {instance.id} still holds {len(tasks)} tasks")
            continue
        remaining = instance.registered
        for task in tasks:
            shortfall = task.charge.shortfall(remaining)
            if shortfall is not None:
                problems.append(f"instance {instance.id} is overcommitted on {shortfall} by task {task.id}")
                break
            remaining = remaining.allocate(task.charge)
        else:
            if remaining != instance.remaining:
                problems.append(
                    f"instance {instance.id} remaining {instance.remaining!r}, its tasks leave {remaining!r}"
                )
        pending = sum(1 for task in tasks if task.last_status in PENDING_STATUSES)
        running = sum(1 for task in tasks if task.last_status == "RUNNING")
        if (pending, running) != (instance.pending_tasks_count, instance.running_tasks_count):
            problems.append(
                f"instance {instance.id} counts pending={instance.pending_tasks_count} running="
                f"{instance.running_tasks_count}, its tasks are {pending} and {running}"
            )
    expected: dict[tuple[str, str, str], list[str]] = {}
    for task in snapshot.tasks():
        for key in task_index_keys(task):
            expected.setdefault(key, []).append(task.id)
    actual = {key: list(bucket) for key, bucket in roots.task_index.items()}
    if actual != {key: sorted(ids) for key, ids in expected.items()}:
        problems.append("the task list indexes are out of step with the tasks")
    groups: dict[str, dict[str, int]] = {}
    for task in snapshot.tasks():
        if not task.is_stopped:
            per_instance = groups.setdefault(task.group, {})
            per_instance[task.container_instance_id] = per_instance.get(task.container_instance_id, 0) + 1
    if {group: dict(counts.items()) for group, counts in roots.group_counts.items()} != groups:
        problems.append("the per-group task counts are out of step with the tasks")
    expected_capacity = sorted(filter(None, map(capacity_key, snapshot.instances())))
    if list(roots.capacity) != expected_capacity:
        problems.append("the capacity index is out of step with the instances")
    for status, bucket in roots.instance_index.items():
        ids = list(bucket)
        if any(roots.instances[i].status != status for i in ids):
            problems.append(f"the instance index for {status} is out of step")
    return problems
