"""Executors: what runs the containers of the tasks placed on an instance."""

from clusterkit.executor.base import ContainerStatus, Executor, LogLine, TaskObservation, start_order
from clusterkit.executor.fake import FakeExecutor

__all__ = ["ContainerStatus", "Executor", "FakeExecutor", "LogLine", "TaskObservation", "start_order"]
