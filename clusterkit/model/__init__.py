"""The cluster model: frozen, validated value types with no I/O.

``replace`` and ``replacer`` (fast copies of a validated value) and the ``check_*`` validators are public
for the layers above and for users' own value types; their modules are private.
"""

from clusterkit.model._instance import DEFAULT_RESERVED_PORTS, ContainerInstance
from clusterkit.model._replace import replace, replacer
from clusterkit.model._resources import Resources
from clusterkit.model._service import DeploymentConfiguration, LoadBalancer, Service, ServiceSpec, ServiceStatus
from clusterkit.model._task import PortBinding, TargetHealth, Task
from clusterkit.model._taskdef import (
    ContainerDefinition,
    ContainerDependency,
    HealthCheck,
    KeyValuePair,
    PlacementConstraint,
    PortMapping,
    ResourceRequirement,
    Tag,
    TaskDefinition,
)
from clusterkit.model._validate import check_choice, check_int, check_name, check_text

__all__ = [
    "DEFAULT_RESERVED_PORTS",
    "ContainerDefinition",
    "ContainerDependency",
    "ContainerInstance",
    "DeploymentConfiguration",
    "HealthCheck",
    "KeyValuePair",
    "LoadBalancer",
    "PlacementConstraint",
    "PortBinding",
    "PortMapping",
    "ResourceRequirement",
    "Resources",
    "Service",
    "ServiceSpec",
    "ServiceStatus",
    "Tag",
    "TargetHealth",
    "Task",
    "TaskDefinition",
    "check_choice",
    "check_int",
    "check_name",
    "check_text",
    "replace",
    "replacer",
]
