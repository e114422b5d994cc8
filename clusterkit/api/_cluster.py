"""ClusterState: the state core with ECS's control-plane calls on top, in snake_case.

Writes build changes and commit them; reads answer from a fresh snapshot. Where ECS
returns failures as data (StartTask, DescribeTasks …) so does this; where ECS raises a
client error (an unknown task definition, a bad argument) this raises a ClusterkitError
and the state is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from clusterkit.api._calls import from_snapshot
from clusterkit.api._instances import InstanceCalls
from clusterkit.api._services import ServiceCalls
from clusterkit.api._tasks import TaskCalls, TaskDefinitionCalls
from clusterkit.errors import ValidationError
from clusterkit.placement import DEFAULT_DYNAMIC_PORTS, PortRange
from clusterkit.query import Expression, parse_expression
from clusterkit.state import MAX_PAGE, Page, Snapshot, Store

__all__ = ["ClusterState"]


class ClusterState(InstanceCalls, TaskDefinitionCalls, TaskCalls, ServiceCalls):
    """The state of one cluster, with the ECS calls you know (``run_task``, ``describe_tasks`` …).

    A ``StateCore`` (``snapshot``, ``commit``, ``subscribe``, ``save``, ``restore``) plus the
    ECS-named calls, which build changes and commit them for you. ``clock`` gives
    timestamps (seconds since the epoch); ``store`` holds the data (in memory by default);
    ``dynamic_ports`` is the range bridge-mode tasks get host ports from.
    """

    def __init__(
        self,
        cluster_name: str = "default",
        *,
        region: str = "local",
        account: str = "000000000000",
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
        dynamic_ports: PortRange = DEFAULT_DYNAMIC_PORTS,
    ) -> None:
        super().__init__(cluster_name, region=region, account=account, clock=clock, store=store)
        if not isinstance(dynamic_ports, PortRange):
            raise ValidationError("dynamicPorts", dynamic_ports, "must be a PortRange")
        self.dynamic_ports = dynamic_ports

    # -- reads: each answers from a fresh snapshot ------------------------------------

    describe_container_instances = from_snapshot(Snapshot.describe_container_instances)
    describe_task_definition = from_snapshot(Snapshot.task_definition)
    describe_tasks = from_snapshot(Snapshot.describe_tasks)
    list_task_definition_families = from_snapshot(Snapshot.list_task_definition_families)
    list_task_definitions = from_snapshot(Snapshot.list_task_definitions)
    list_tasks = from_snapshot(Snapshot.list_tasks)

    def list_container_instances(
        self,
        *,
        status: str | None = None,
        filter: str | Expression | None = None,  # the ECS parameter's name
        max_results: int = MAX_PAGE,
        next_token: str | None = None,
    ) -> Page:
        """Container instance ARNs, by id order; ``status`` filters (default: ACTIVE and DRAINING).

        ``filter`` is a cluster query language expression, as text or parsed, as in ECS
        ListContainerInstances (``"attribute:ecs.availability-zone == zone-a"``); pages then
        scan the index for matches, so a selective filter costs more than a page.
        """
        expression = parse_expression(filter) if isinstance(filter, str) else filter
        return self.snapshot().list_container_instances(
            status=status, filter=expression, max_results=max_results, next_token=next_token
        )
