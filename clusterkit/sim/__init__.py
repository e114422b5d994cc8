"""The simulator: run clusterkit's real schedulers on a workload in simulated time.

Workloads are timed events in clusterkit's own JSON Lines format (``clusterkit.sim``),
drawn by a seeded generator (``clusterkit.sim``) or read from public cluster traces
(``clusterkit.sim``).
"""

from clusterkit.sim._generate import Shape, WorkloadSpec, generate_workload
from clusterkit.sim._metrics import RunMetrics, Sample, percentile, time_mean
from clusterkit.sim._report import PLOTS, compare, summary_table, write_report
from clusterkit.sim._run import EPOCH, SampleHook, SchedulingPolicy, ServiceScaling, simulate
from clusterkit.sim._traces import ALIBABA_2018_COLUMNS, GOOGLE_2011_COLUMNS, read_alibaba_2018, read_google_2011
from clusterkit.sim._workload import (
    BatchTask,
    Crash,
    CreateService,
    DeleteService,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterDefinition,
    Unhealthy,
    UpdateService,
    WorkloadError,
    WorkloadEvent,
    dump_event,
    parse_event,
    read_workload,
    workload_schema,
    write_workload,
)

__all__ = [
    "ALIBABA_2018_COLUMNS",
    "BatchTask",
    "Crash",
    "CreateService",
    "DeleteService",
    "EPOCH",
    "GOOGLE_2011_COLUMNS",
    "InstanceJoin",
    "InstanceLeave",
    "Load",
    "PLOTS",
    "RegisterDefinition",
    "RunMetrics",
    "Sample",
    "SampleHook",
    "SchedulingPolicy",
    "ServiceScaling",
    "Shape",
    "Unhealthy",
    "UpdateService",
    "WorkloadError",
    "WorkloadEvent",
    "WorkloadSpec",
    "compare",
    "dump_event",
    "generate_workload",
    "parse_event",
    "percentile",
    "read_alibaba_2018",
    "read_google_2011",
    "read_workload",
    "simulate",
    "summary_table",
    "time_mean",
    "workload_schema",
    "write_report",
    "write_workload",
]
