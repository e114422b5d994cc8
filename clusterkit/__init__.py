"""clusterkit: build your own container scheduler on a versioned, ECS-shaped cluster state.

The top level is a small core: ``ClusterState`` and its ``Snapshot``, the model's value
types, the errors, the changes a scheduler commits and the events it hears, and the
schedulers, agent and executors that run a cluster. Everything else lives in a namespace,
one per part of the package, each a public face over private modules — so
``clusterkit.placement.binpack``, ``clusterkit.autoscaling.TargetTrackingPolicy``,
``clusterkit.state.EtcdStore``: import the namespace, or the name from it.

The parts are layers that import only their own layer and those below it (``LAYERS`` in
``tests/test_layers.py`` is the list, and a test keeps this one in step with it), from the
bottom up:

``clusterkit.errors`` → ``clusterkit.model`` (values) → ``clusterkit.ecs_json`` →
``clusterkit.state`` (the versioned core) → ``clusterkit.query`` (the cluster query
language) → ``clusterkit.placement`` → ``clusterkit.services`` (the service scheduler) →
``clusterkit.api`` (``ClusterState``, the ECS calls) → ``clusterkit.executor`` and
``clusterkit.logs`` → ``clusterkit.agent`` and ``clusterkit.liveness`` →
``clusterkit.autoscaling`` and ``clusterkit.balancing`` → ``clusterkit.ops`` (the agent
and controller processes: configuration, leadership, metrics) → ``clusterkit.testing``,
``clusterkit.sim``, ``clusterkit.cli`` and ``clusterkit.server``.

``__version__`` below is the one place the version is written: ``pyproject.toml`` reads it.
"""

from clusterkit.agent import Agent
from clusterkit.api import ClusterState, RunResult, Waiter
from clusterkit.ecs_json import load_task_definition
from clusterkit.errors import (
    ArgumentError,
    ClusterkitError,
    CommitOutcomeUnknown,
    ConflictError,
    ExecutorError,
    IllegalTransitionError,
    NotFoundError,
    QuerySyntaxError,
    StaleVersionError,
    StoreError,
    SubscriptionOverflow,
    ValidationError,
    WaiterError,
)
from clusterkit.executor import Executor, FakeExecutor
from clusterkit.model import (
    ContainerDefinition,
    ContainerDependency,
    ContainerInstance,
    DeploymentConfiguration,
    HealthCheck,
    KeyValuePair,
    LoadBalancer,
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
from clusterkit.placement import BaseScheduler, PlacementRequest, Plan, Scheduler
from clusterkit.services import ServiceScheduler
from clusterkit.state import (
    Change,
    ChangeSource,
    CommitResult,
    ContainerInstanceChanged,
    DeregisterInstance,
    DeregisterTaskDefinition,
    Described,
    Event,
    Failure,
    MemoryStore,
    Page,
    PlaceTask,
    PutService,
    PutServiceSpec,
    PutServiceStatus,
    RegisterInstance,
    RegisterTaskDefinition,
    Rejection,
    ServiceChanged,
    Snapshot,
    StateCore,
    StopTask,
    Store,
    Subscription,
    TaskChanged,
    TaskDefinitionChanged,
    TaskStateChange,
    UpdateInstance,
)

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "ArgumentError",
    "BaseScheduler",
    "Change",
    "ChangeSource",
    "ClusterState",
    "ClusterkitError",
    "CommitOutcomeUnknown",
    "CommitResult",
    "ConflictError",
    "ContainerDefinition",
    "ContainerDependency",
    "ContainerInstance",
    "ContainerInstanceChanged",
    "DeploymentConfiguration",
    "DeregisterInstance",
    "DeregisterTaskDefinition",
    "Described",
    "Event",
    "Executor",
    "ExecutorError",
    "Failure",
    "FakeExecutor",
    "HealthCheck",
    "IllegalTransitionError",
    "KeyValuePair",
    "LoadBalancer",
    "MemoryStore",
    "NotFoundError",
    "Page",
    "PlaceTask",
    "PlacementConstraint",
    "PlacementRequest",
    "Plan",
    "PortBinding",
    "PortMapping",
    "PutService",
    "PutServiceSpec",
    "PutServiceStatus",
    "QuerySyntaxError",
    "RegisterInstance",
    "RegisterTaskDefinition",
    "Rejection",
    "ResourceRequirement",
    "Resources",
    "RunResult",
    "Scheduler",
    "Service",
    "ServiceChanged",
    "ServiceScheduler",
    "Snapshot",
    "StaleVersionError",
    "StateCore",
    "StopTask",
    "Store",
    "StoreError",
    "Subscription",
    "SubscriptionOverflow",
    "Tag",
    "Task",
    "TaskChanged",
    "TaskDefinition",
    "TaskDefinitionChanged",
    "TaskStateChange",
    "UpdateInstance",
    "ValidationError",
    "Waiter",
    "WaiterError",
    "load_task_definition",
]
