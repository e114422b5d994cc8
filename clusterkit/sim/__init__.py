"""The simulator: run clusterkit's real schedulers on a workload in simulated time.

Workloads are timed events in clusterkit's own JSON Lines format (``clusterkit.sim``),
drawn by a seeded generator (``clusterkit.sim``) or read from public cluster traces
(``clusterkit.sim``).
"""

from clusterkit.sim._generate import Shape, WorkloadSpec, generate_workload
from clusterkit.sim._workload import (
    BatchTask,
    Crash,
    CreateService,
    DeleteService,
    Event,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterTaskDefinition,
    Unhealthy,
    UpdateService,
    WorkloadError,
    read_workload,
    workload_schema,
    write_workload,
)

__all__ = [
    "BatchTask",
    "Crash",
    "CreateService",
    "DeleteService",
    "Event",
    "InstanceJoin",
    "InstanceLeave",
    "Load",
    "RegisterTaskDefinition",
    "Shape",
    "Unhealthy",
    "UpdateService",
    "WorkloadError",
    "WorkloadSpec",
    "generate_workload",
    "read_workload",
    "workload_schema",
    "write_workload",
]
