"""clusterkit: build your own container scheduler on a versioned, ECS-shaped cluster state.

The public face: everything a user needs is importable from here; the submodules behind
it are the homes of each concept, in layers that import only their own layer and those
below it (``LAYERS`` in ``tests/test_layers.py`` is the list, and a test keeps this one
in step with it), from the bottom up:

``clusterkit.errors`` → ``clusterkit.model`` (values) → ``clusterkit.ecs_json`` →
``clusterkit.state`` (the versioned core) → ``clusterkit.query`` (the cluster query
language) → ``clusterkit.placement`` → ``clusterkit.services`` (the service scheduler) →
``clusterkit.api`` (``ClusterState``, the ECS calls) → ``clusterkit.executor`` and
``clusterkit.logs`` → ``clusterkit.agent`` and ``clusterkit.liveness`` →
``clusterkit.autoscaling`` and ``clusterkit.balancing`` → ``clusterkit.testing``,
``clusterkit.sim`` and ``clusterkit.cli``.

``__version__`` below is the one place the version is written: ``pyproject.toml`` reads it.
"""

from clusterkit.agent import Agent
from clusterkit.api import ClusterState, RunResult
from clusterkit.autoscaling import CapacityProvider, ClusterAutoscaler, ServiceAutoscaler, TargetTrackingPolicy
from clusterkit.ecs_json import (
    dump_container_instance,
    dump_task,
    dump_task_definition,
    load_task_definition,
)
from clusterkit.errors import (
    ClusterkitError,
    ConflictError,
    ExecutorError,
    IllegalTransitionError,
    NotFoundError,
    QuerySyntaxError,
    StaleVersionError,
    StoreError,
    SubscriptionOverflow,
    ValidationError,
)
from clusterkit.executor import (
    ContainerStatus,
    Executor,
    FakeExecutor,
    HostInfo,
    LogLine,
    TaskObservation,
    TaskUsage,
)
from clusterkit.executor.credentials import RegistryCredentials
from clusterkit.liveness import LivenessMonitor
from clusterkit.logs import LogStore
from clusterkit.model import (
    DEFAULT_RESERVED_PORTS,
    ContainerDefinition,
    ContainerDependency,
    ContainerInstance,
    DeploymentConfiguration,
    HealthCheck,
    KeyValuePair,
    PlacementConstraint,
    PortBinding,
    PortMapping,
    ResourceRequirement,
    Resources,
    Service,
    Tag,
    Task,
    TaskDefinition,
)
from clusterkit.placement import (
    DEFAULT_DYNAMIC_PORTS,
    DEFAULT_STRATEGY,
    BaseScheduler,
    Candidate,
    Explanation,
    Filter,
    Placement,
    PlacementContext,
    PlacementOutcome,
    PlacementRequest,
    PlacementStrategy,
    Plan,
    PortRange,
    Scheduler,
    Scorer,
    Unplaced,
    Weighted,
    assign_host_ports,
    binpack,
    place_and_commit,
    random,
    spread,
)
from clusterkit.query import Expression, QueryContext, SnapshotContext, parse_expression
from clusterkit.state import (
    ChangeSource,
    CommitResult,
    Described,
    Failure,
    InstanceFilter,
    MemoryStore,
    Page,
    Rejection,
    Snapshot,
    StateCore,
    Store,
)
from clusterkit.state.changes import (
    Change,
    DeregisterInstance,
    DeregisterTaskDefinition,
    PlaceTask,
    RegisterInstance,
    RegisterTaskDefinition,
    StopTask,
    TaskStateChange,
    UpdateInstance,
)
from clusterkit.state.events import (
    ContainerInstanceChanged,
    Event,
    Subscription,
    TaskChanged,
    TaskDefinitionChanged,
)
from clusterkit.state.ids import new_id
from clusterkit.state.invariants import state_violations

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "BaseScheduler",
    "Candidate",
    "CapacityProvider",
    "Change",
    "ChangeSource",
    "ClusterAutoscaler",
    "ClusterState",
    "ClusterkitError",
    "CommitResult",
    "ConflictError",
    "ContainerDefinition",
    "ContainerDependency",
    "ContainerInstance",
    "ContainerInstanceChanged",
    "ContainerStatus",
    "DEFAULT_DYNAMIC_PORTS",
    "DEFAULT_RESERVED_PORTS",
    "DEFAULT_STRATEGY",
    "DeploymentConfiguration",
    "DeregisterInstance",
    "DeregisterTaskDefinition",
    "Described",
    "Event",
    "Executor",
    "ExecutorError",
    "Explanation",
    "Expression",
    "Failure",
    "FakeExecutor",
    "Filter",
    "HealthCheck",
    "HostInfo",
    "IllegalTransitionError",
    "InstanceFilter",
    "KeyValuePair",
    "LivenessMonitor",
    "LogLine",
    "LogStore",
    "MemoryStore",
    "NotFoundError",
    "Page",
    "PlaceTask",
    "Placement",
    "PlacementConstraint",
    "PlacementContext",
    "PlacementOutcome",
    "PlacementRequest",
    "PlacementStrategy",
    "Plan",
    "PortBinding",
    "PortMapping",
    "PortRange",
    "QueryContext",
    "QuerySyntaxError",
    "RegisterInstance",
    "RegisterTaskDefinition",
    "RegistryCredentials",
    "Rejection",
    "ResourceRequirement",
    "Resources",
    "RunResult",
    "Scheduler",
    "Scorer",
    "Service",
    "ServiceAutoscaler",
    "Snapshot",
    "SnapshotContext",
    "StaleVersionError",
    "StateCore",
    "StopTask",
    "Store",
    "StoreError",
    "Subscription",
    "SubscriptionOverflow",
    "Tag",
    "TargetTrackingPolicy",
    "Task",
    "TaskChanged",
    "TaskDefinition",
    "TaskDefinitionChanged",
    "TaskObservation",
    "TaskStateChange",
    "TaskUsage",
    "Unplaced",
    "UpdateInstance",
    "ValidationError",
    "Weighted",
    "assign_host_ports",
    "binpack",
    "dump_container_instance",
    "dump_task",
    "dump_task_definition",
    "load_task_definition",
    "new_id",
    "parse_expression",
    "place_and_commit",
    "random",
    "spread",
    "state_violations",
]
