"""ClusterState: the state core with ECS's control-plane calls on top, in snake_case.

Writes build changes and commit them; reads answer from a fresh snapshot. Where ECS
returns failures as data (StartTask, DescribeTasks …) so does this; where ECS raises a
client error (an unknown task definition, a bad argument) this raises a ClusterkitError
and the state is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from clusterkit.api._calls import from_snapshot
from clusterkit.api._instances import InstanceCalls
from clusterkit.api._services import ServiceCalls
from clusterkit.api._tasks import TaskCalls, TaskDefinitionCalls
from clusterkit.api._waiters import Waiter, paginate
from clusterkit.errors import ValidationError
from clusterkit.model import TaskDefinition
from clusterkit.placement import DEFAULT_DYNAMIC_PORTS, PortRange
from clusterkit.query import Expression, parse_expression
from clusterkit.state import MAX_PAGE, Described, Page, Snapshot, Store

__all__ = ["ClusterState"]


class ClusterState(InstanceCalls, TaskDefinitionCalls, TaskCalls, ServiceCalls):
    """The state of one cluster, with the ECS calls you know (``run_task``, ``describe_tasks`` …).

    A ``StateCore`` (``snapshot``, ``commit``, ``subscribe``, ``save``, ``restore``) plus the
    ECS-named calls, which build changes and commit them for you. One result shape: every
    describe call answers a ``Described``, every list call a ``Page``, ``run_task`` and
    ``start_task`` a ``RunResult``; each has ``to_ecs()``, the response boto3 would give.
    ``paginate`` and ``wait`` are boto3's paginators and waiters. ``clock`` gives
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
    describe_tasks = from_snapshot(Snapshot.describe_tasks)
    list_task_definition_families = from_snapshot(Snapshot.list_task_definition_families)
    list_task_definitions = from_snapshot(Snapshot.list_task_definitions)
    list_tasks = from_snapshot(Snapshot.list_tasks)

    def describe_task_definition(self, task_definition: str) -> TaskDefinition:
        """A task definition by ``family`` (its latest ACTIVE revision), ``family:revision`` or ARN
        (ECS DescribeTaskDefinition); NotFoundError when there is none, as ECS raises a client
        error. ``clusterkit.ecs_json.dump_describe_task_definition`` gives ECS's JSON.
        """
        return self.snapshot().task_definition(task_definition)

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

    # -- boto3's paginators and waiters ----------------------------------------------------

    def paginate(self, operation: str, /, **kwargs: Any) -> Iterator[str]:
        """Every item of a list operation across its pages, as a boto3 paginator gives them.

        ``operation`` is ``list_tasks``, ``list_services``, ``list_container_instances``,
        ``list_task_definitions`` or ``list_task_definition_families``; ``kwargs`` are its
        filters (``max_results`` is the page size). Each page is read from the newest
        snapshot when the one before is used up, so a long walk sees commits made meanwhile
        as ECS's would. ValidationError naming any other operation.
        """
        return paginate(self, operation, kwargs)

    def waiter(self, name: str) -> Waiter:
        """boto3's ECS waiter ``name``: ``services_stable``, ``services_inactive``,
        ``tasks_running`` or ``tasks_stopped`` (see ``Waiter.wait``).
        """
        return Waiter(self, name)

    def wait(self, name: str, /, **kwargs: Any) -> Described[Any]:
        """Wait with the waiter ``name`` (``state.wait("services_stable", services=["web"])``);
        returns the successful describe answer, raises WaiterError otherwise (``Waiter.wait``).
        """
        return self.waiter(name).wait(**kwargs)
