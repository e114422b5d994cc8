"""Executors: what runs the containers of the tasks placed on an instance.

``FakeExecutor`` needs nothing; ``DockerExecutor`` lives in ``clusterkit.executor.docker``
and needs the ``docker`` extra (``pip install 'clusterkit[docker]'``).
"""

from clusterkit.executor._base import (
    ContainerStatus,
    Executor,
    HostInfo,
    LogLine,
    TaskObservation,
    TaskUsage,
    start_order,
)
from clusterkit.executor._fake import FakeExecutor

__all__ = [
    "ContainerStatus",
    "Executor",
    "FakeExecutor",
    "HostInfo",
    "LogLine",
    "TaskObservation",
    "TaskUsage",
    "start_order",
]
