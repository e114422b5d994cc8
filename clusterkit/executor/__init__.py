"""Executors: what runs the containers of the tasks placed on an instance.

``FakeExecutor`` needs nothing; ``DockerExecutor`` lives in ``clusterkit.executor.docker``
and needs the ``docker`` extra (``pip install 'clusterkit[docker]'``).
"""

from clusterkit.executor._base import (
    HOST_ADDRESS_ATTRIBUTE,
    ContainerStatus,
    Executor,
    HostInfo,
    LogLine,
    TaskObservation,
    TaskUsage,
    start_order,
)
from clusterkit.executor._credentials import REGISTRY_AUTH_VARIABLE, RegistryCredentials, registry_of
from clusterkit.executor._fake import FakeExecutor

__all__ = [
    "ContainerStatus",
    "Executor",
    "FakeExecutor",
    "HOST_ADDRESS_ATTRIBUTE",
    "HostInfo",
    "LogLine",
    "REGISTRY_AUTH_VARIABLE",
    "RegistryCredentials",
    "TaskObservation",
    "TaskUsage",
    "registry_of",
    "start_order",
]
