"""Readers for two public cluster traces, turned into clusterkit workloads.

**Alibaba cluster-trace-v2018** (CSV files without a header, in the trace's own column
order):

- ``machine_meta.csv`` — ``machine_id, time_stamp, failure_domain_1, failure_domain_2,
  cpu_num, mem_size, status``: each machine joins at its first row, with ``cpu_num`` × 1024
  CPU units and ``mem_size`` (normalised, 100 = the largest machine) × ``memory_at_100`` / 100
  MiB, in zone ``fd-<failure_domain_1>``. Later rows of a machine (status changes) are not
  replayed.
- ``container_meta.csv`` — ``container_id, machine_id, time_stamp, app_du, status,
  cpu_request, cpu_limit, mem_size``: every ``app_du`` (deploy unit) becomes a service, created
  at its first row, with one task per distinct container and the shape of its first
  container (``cpu_request``: 100 = one core = 1024 units; ``mem_size`` normalised like the
  machines').
- ``batch_task.csv`` — ``task_name, instance_num, job_name, task_type, status, start_time,
  end_time, plan_cpu, plan_mem``: every ``Terminated`` task with a start before its end
  becomes ``instance_num`` batch tasks arriving at ``start_time`` and running
  ``end_time − start_time`` seconds, needing ``plan_cpu`` (100 = one core) and ``plan_mem``
  (normalised). Rows without a plan are skipped.

**Google clusterdata-2011** (``part-NNNNN-of-NNNNN.csv[.gz]`` files in ``machine_events/``
and ``task_events/``; timestamps in microseconds, 600 s after the trace's start, 0 = before
it):

- ``machine_events`` — ``timestamp, machine ID, event type, platform ID, CPUs, memory``: ADD
  (0) joins the machine (CPUs and memory normalised to the largest machine: 1.0 =
  ``cpu_at_1`` units and ``memory_at_1`` MiB), REMOVE (1) takes it away; UPDATE (2) is not
  replayed.
- ``task_events`` — ``timestamp, missing info, job ID, task index, machine ID, event type,
  user, scheduling class, priority, CPU request, memory request, disk space request,
  different machines restriction``: a task's first SUBMIT (0) is its arrival; it runs from its
  last SCHEDULE (1) to its FINISH (4); tasks that never finish in the files are left out
  (their length is unknown). Resubmissions after an eviction are not replayed.

Shapes are rounded to whole CPU units and MiB, at least 1 MiB. A malformed row raises
:class:`~clusterkit.sim.WorkloadError` naming the file, the row and the column.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

from clusterkit.sim._workload import (
    BatchTask,
    CreateService,
    InstanceJoin,
    InstanceLeave,
    RegisterDefinition,
    WorkloadError,
    WorkloadEvent,
)

__all__ = [
    "ALIBABA_2018_COLUMNS",
    "GOOGLE_2011_COLUMNS",
    "read_alibaba_2018",
    "read_google_2011",
]

ALIBABA_2018_COLUMNS: dict[str, tuple[str, ...]] = {
    "machine_meta": (
        "machine_id", "time_stamp", "failure_domain_1", "failure_domain_2", "cpu_num", "mem_size", "status",
    ),
    "container_meta": (
        "container_id", "machine_id", "time_stamp", "app_du", "status", "cpu_request", "cpu_limit", "mem_size",
    ),
    "batch_task": (
        "task_name", "instance_num", "job_name", "task_type", "status", "start_time", "end_time", "plan_cpu",
        "plan_mem",
    ),
}  # fmt: skip
"""The column order of each Alibaba 2018 table this module reads."""

GOOGLE_2011_COLUMNS: dict[str, tuple[str, ...]] = {
    "machine_events": ("timestamp", "machine ID", "event type", "platform ID", "CPUs", "memory"),
    "task_events": (
        "timestamp", "missing info", "job ID", "task index", "machine ID", "event type", "user", "scheduling class",
        "priority", "CPU request", "memory request", "disk space request", "different machines restriction",
    ),
}  # fmt: skip
"""The column order of each Google 2011 table this module reads."""

_UNITS_PER_CORE = 1024
_GOOGLE_OFFSET_US = 600_000_000


class _Row:
    """One row of a headerless CSV table: its columns by name, and where it came from (for errors)."""

    def __init__(self, path: Path, line: int, columns: tuple[str, ...], values: list[str]) -> None:
        self.path = path
        self.line = line
        self.columns = columns
        self.values = values

    def __call__(self, column: str) -> str:
        """The column's text, stripped."""
        return self.values[self.columns.index(column)].strip()

    def number_or_none(self, column: str) -> float | None:
        """The column as a number; None when it is empty."""
        text = self(column)
        if text == "":
            return None
        try:
            return float(text)
        except ValueError:
            raise WorkloadError(self.line, f"{self.path.name}:{column}", text, "must be a number") from None

    def number(self, column: str) -> float:
        """The column as a number; an empty column is an error."""
        value = self.number_or_none(column)
        if value is None:
            raise WorkloadError(self.line, f"{self.path.name}:{column}", "", "must be a number, not empty")
        return value


def _rows(paths: list[Path], table: str, columns: tuple[str, ...]) -> Iterator[_Row]:
    """The rows of one table, from one file or several part files (plain or gzipped)."""
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            for number, values in enumerate(csv.reader(handle), start=1):
                if not values:
                    continue
                if len(values) != len(columns):
                    problem = f"a {table} row has {len(columns)} columns"
                    raise WorkloadError(number, path.name, len(values), problem)
                yield _Row(path, number, columns, values)


def _units(cores: float) -> int:
    return max(0, round(cores * _UNITS_PER_CORE))


def _mib(fraction: float, scale: int) -> int:
    return max(1, round(fraction * scale))


def _definition(family: str, cpu: int, memory: int) -> dict[str, object]:
    container = {"name": "app", "image": f"{family}:trace", "cpu": cpu, "memory": memory, "essential": True}
    return {"family": family, "containerDefinitions": [container]}


def _table(folder: Path, name: str) -> list[Path]:
    for candidate in (folder / f"{name}.csv", folder / f"{name}.csv.gz"):
        if candidate.exists():
            return [candidate]
    parts = sorted((folder / name).glob("part-*.csv*")) if (folder / name).is_dir() else []
    if not parts:
        raise WorkloadError(0, name, str(folder), f"no {name}.csv, {name}.csv.gz or {name}/part-*.csv[.gz] here")
    return parts


def read_alibaba_2018(folder: str | Path, *, memory_at_100: int = 524_288) -> list[WorkloadEvent]:
    """The workload in an Alibaba 2018 trace folder (see the module docstring), sorted by time.

    ``memory_at_100`` is the MiB a normalised memory size of 100 stands for (512 GiB by
    default, a large machine of the trace's kind).
    """
    root = Path(folder)
    events: list[WorkloadEvent] = []
    joined: set[str] = set()
    columns = ALIBABA_2018_COLUMNS
    for get in _rows(_table(root, "machine_meta"), "machine_meta", columns["machine_meta"]):
        machine = get("machine_id")
        if machine in joined:
            continue
        joined.add(machine)
        cpu = _units(get.number("cpu_num"))
        memory = _mib(get.number("mem_size") / 100, memory_at_100)
        at = max(0.0, get.number("time_stamp"))
        events.append(InstanceJoin(at, machine, cpu, memory, zone=f"fd-{get('failure_domain_1')}"))
    units: dict[str, tuple[float, int, int, set[str]]] = {}
    if any(root.glob("container_meta*")):
        for get in _rows(_table(root, "container_meta"), "container_meta", columns["container_meta"]):
            app = get("app_du")
            at = max(0.0, get.number("time_stamp"))
            cpu = _units(get.number("cpu_request") / 100)
            memory = _mib(get.number("mem_size") / 100, memory_at_100)
            first = units.setdefault(app, (at, cpu, memory, set()))
            first[3].add(get("container_id"))
            if at < first[0]:
                units[app] = (at, first[1], first[2], first[3])
    for app, (at, cpu, memory, containers) in units.items():
        events.append(RegisterDefinition(at, _definition(app, cpu, memory)))
        events.append(CreateService(at, app, app, len(containers)))
    for get in _rows(_table(root, "batch_task"), "batch_task", columns["batch_task"]):
        if get("status") != "Terminated":
            continue
        plan_cpu, plan_mem = get.number_or_none("plan_cpu"), get.number_or_none("plan_mem")
        start, end = get.number("start_time"), get.number("end_time")
        if plan_cpu is None or plan_mem is None or not 0 < start < end:
            continue
        count = int(get.number("instance_num"))
        if count < 1:
            continue
        cpu, memory = _units(plan_cpu / 100), _mib(plan_mem / 100, memory_at_100)
        events.append(BatchTask(start, cpu, memory, end - start, count=count, job=get("job_name")))
    events.sort(key=lambda event: event.at)
    return events


def read_google_2011(folder: str | Path, *, cpu_at_1: int = 32_768, memory_at_1: int = 131_072) -> list[WorkloadEvent]:
    """The workload in a Google 2011 trace folder (see the module docstring), sorted by time.

    ``cpu_at_1`` and ``memory_at_1`` are the CPU units and MiB a normalised 1.0 stands for
    (32 cores and 128 GiB by default).
    """
    root = Path(folder)
    events: list[WorkloadEvent] = []

    def seconds(get: _Row) -> float:
        return max(0.0, (get.number("timestamp") - _GOOGLE_OFFSET_US) / 1e6)

    columns = GOOGLE_2011_COLUMNS
    for get in _rows(_table(root, "machine_events"), "machine_events", columns["machine_events"]):
        kind = int(get.number("event type"))
        machine = f"m-{get('machine ID')}"
        if kind == 0:
            cpus, memory = get.number_or_none("CPUs"), get.number_or_none("memory")
            if cpus is None or memory is None:
                continue
            events.append(
                InstanceJoin(seconds(get), machine, max(1, round(cpus * cpu_at_1)), _mib(memory, memory_at_1))
            )
        elif kind == 1:
            events.append(InstanceLeave(seconds(get), machine))
    submitted: dict[tuple[str, str], tuple[float, int, int]] = {}
    scheduled: dict[tuple[str, str], float] = {}
    finished: dict[tuple[str, str], float] = {}
    for get in _rows(_table(root, "task_events"), "task_events", columns["task_events"]):
        key = (get("job ID"), get("task index"))
        kind = int(get.number("event type"))
        if kind == 0 and key not in submitted:
            cpu, memory = get.number_or_none("CPU request"), get.number_or_none("memory request")
            if cpu is not None and memory is not None:
                submitted[key] = (seconds(get), round(cpu * cpu_at_1), _mib(memory, memory_at_1))
        elif kind == 1:
            scheduled[key] = seconds(get)
        elif kind == 4 and key in scheduled:
            finished[key] = seconds(get)
    for key, (at, cpu, memory) in submitted.items():
        if key in finished and finished[key] > scheduled[key]:
            events.append(BatchTask(at, cpu, memory, finished[key] - scheduled[key], job=key[0]))
    events.sort(key=lambda event: event.at)
    return events
