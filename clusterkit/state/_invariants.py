"""The invariants every snapshot keeps, as a list of violations (empty when all hold)."""

from __future__ import annotations

import attrs

from clusterkit.model import PENDING_STATUSES, Task
from clusterkit.state._derived import placement_indexes, task_index_keys
from clusterkit.state._snapshot import Snapshot

__all__ = ["Violation", "invariant_violations", "state_violations"]

_SHORTFALL_FIELDS = {"PORTS": "ports", "PORTS_UDP": "ports_udp", "CPU": "cpu", "MEMORY": "memory"}


@attrs.frozen(slots=True)
class Violation:
    """One broken rule: a ``code`` such as ``OVERCOMMIT`` and a sentence naming what broke it.

    ``instance_id``, ``task_id`` and ``field`` (``cpu``, ``memory``, ``ports``,
    ``ports_udp``, ``scalars['GPU']``, ``version`` …) name the parts involved, when there
    are any, so a test can assert on them without parsing the message.
    """

    code: str
    message: str
    instance_id: str | None = None
    task_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _shortfall_field(shortfall: str) -> str:
    return _SHORTFALL_FIELDS.get(shortfall, f"scalars[{shortfall!r}]")


def invariant_violations(snapshot: Snapshot) -> list[Violation]:
    """Every broken invariant of ``snapshot``, as ``Violation`` values. O(n log n).

    - each task is on an instance that exists (``MISSING_INSTANCE``), and a deregistered
      instance holds none (``INACTIVE_INSTANCE``);
    - per instance: nothing overcommitted (``OVERCOMMIT``), no port charged twice
      (``PORT_CLASH``), remaining = registered − Σ charge of its non-STOPPED tasks
      (``REMAINING``), pending/running counts match its tasks (``TASK_COUNTS``);
    - every index holds exactly what it should (``INDEX``): the list indexes, and the
      lazily folded placement indexes (capacity by memory and by CPU, per-group counts,
      usage totals) both against a rebuild from the records and against a refold of the
      log they were folded from, so a stale or half-folded index shows.
    """
    problems: list[Violation] = []
    roots = snapshot._roots
    holding: dict[str, list[Task]] = {}
    for task in snapshot.tasks():
        if task.container_instance_id not in roots.instances:
            problems.append(
                Violation(
                    "MISSING_INSTANCE",
                    f"task {task.id} is on missing instance {task.container_instance_id}",
                    task.container_instance_id,
                    task.id,
                )
            )
        elif not task.is_stopped:
            holding.setdefault(task.container_instance_id, []).append(task)
    for instance in snapshot.instances():
        tasks = holding.get(instance.id, [])
        if instance.status == "INACTIVE":
            if tasks:
                problems.append(
                    Violation(
                        "INACTIVE_INSTANCE",
                        f"deregistered instance {instance.id} still holds {len(tasks)} tasks",
                        instance.id,
                        tasks[0].id,
                    )
                )
            continue
        remaining = instance.registered
        for task in tasks:
            shortfall = task.charge.shortfall(remaining)
            if shortfall is not None:
                code = "PORT_CLASH" if shortfall in ("PORTS", "PORTS_UDP") else "OVERCOMMIT"
                field = _shortfall_field(shortfall)
                problems.append(
                    Violation(
                        code,
                        f"instance {instance.id} is overcommitted on {shortfall} by task {task.id}",
                        instance.id,
                        task.id,
                        field,
                    )
                )
                break
            remaining = remaining.allocate(task.charge)
        else:
            if remaining != instance.remaining:
                problems.append(
                    Violation(
                        "REMAINING",
                        f"instance {instance.id} remaining {instance.remaining!r}, its tasks leave {remaining!r}",
                        instance.id,
                        field="remaining",
                    )
                )
        pending = sum(1 for task in tasks if task.last_status in PENDING_STATUSES)
        running = sum(1 for task in tasks if task.last_status == "RUNNING")
        if (pending, running) != (instance.pending_tasks_count, instance.running_tasks_count):
            problems.append(
                Violation(
                    "TASK_COUNTS",
                    f"instance {instance.id} counts pending={instance.pending_tasks_count} running="
                    f"{instance.running_tasks_count}, its tasks are {pending} and {running}",
                    instance.id,
                    field="runningTasksCount",
                )
            )
    problems.extend(Violation("INDEX", message) for message in _index_problems(snapshot))
    return problems


def _index_problems(snapshot: Snapshot) -> list[str]:
    """The indexes that are out of step with the records they index."""
    problems: list[str] = []
    roots = snapshot._roots
    expected: dict[tuple[str, str, str], list[str]] = {}
    for task in snapshot.tasks():
        for key in task_index_keys(task):
            expected.setdefault(key, []).append(task.id)
    actual = {key: list(bucket) for key, bucket in roots.task_index.items()}
    if actual != {key: sorted(ids) for key, ids in expected.items()}:
        problems.append("the task list indexes are out of step with the tasks")
    problems.extend(_placement_problems(snapshot))
    for status, bucket in roots.instance_index.items():
        ids = list(bucket)
        if any(roots.instances[i].status != status for i in ids):
            problems.append(f"the instance index for {status} is out of step")
    carried: dict[str, dict[str | None, list[str]]] = {}
    for instance in sorted(snapshot.instances(), key=lambda instance: instance.id):
        if instance.status != "INACTIVE":
            for name, value in instance.attributes:
                carried.setdefault(name, {}).setdefault(value, []).append(instance.id)
    indexed = {
        name: {value: list(ids) for value, ids in values.items()} for name, values in roots.attribute_index.items()
    }
    if indexed != carried:
        problems.append("the attribute index is out of step with the instances' attributes")
    for values in roots.attribute_index.values():
        for bucket in values.values():
            try:
                bucket._check()
            except AssertionError as error:
                problems.append(f"a tree of the attribute index is malformed: {error}")
    return problems


def _placement_problems(snapshot: Snapshot) -> list[str]:
    """The placement indexes that differ from ones rebuilt from the records, or from a refold."""
    roots = snapshot._roots
    folded = roots.placement
    rebuilt = placement_indexes(snapshot.tasks(), snapshot.instances())
    problems = [
        f"{what} out of step with the records"
        for what, mine, expected in (
            ("the capacity index is", list(folded.by_memory), list(rebuilt.by_memory)),
            ("the CPU capacity index is", list(folded.by_cpu), list(rebuilt.by_cpu)),
            ("the per-group task counts are", folded.group_counts, rebuilt.group_counts),
            ("the usage totals are", folded.usage, rebuilt.usage),
        )
        if mine != expected
    ]
    records = (roots.tasks, roots.instances)
    problems.extend(roots.placement_log.problems(roots.version, records))
    problems.extend(roots.list_log.problems(roots.version, records))
    return problems


def state_violations(snapshot: Snapshot) -> list[str]:
    """Every broken invariant of ``snapshot``, as sentences (see ``invariant_violations``).

    - each task is on an instance that exists, and a deregistered instance holds none;
    - per instance: remaining = registered − Σ charge of its non-STOPPED tasks, nothing
      overcommitted, no port charged twice, pending/running counts match its tasks;
    - every list index holds exactly the tasks it should, and the placement indexes equal
      ones rebuilt from the records and a refold of their whole log. O(n log n).
    """
    return [violation.message for violation in invariant_violations(snapshot)]
