"""The ECS-named facade: ``ClusterState`` composes the state core, the query language and placement.

One result shape: describe calls answer ``Described``, list calls ``Page``, ``run_task`` and
``start_task`` ``RunResult``, each with ``to_ecs()``; ``paginate`` and ``wait`` (``Waiter``,
``WAITERS``) are boto3's paginators and waiters.
"""

from clusterkit.api._cluster import ClusterState
from clusterkit.api._services import spec_update, spec_written
from clusterkit.api._tasks import RunResult
from clusterkit.api._waiters import PAGINATED, WAITERS, Acceptor, Waiter, WaiterModel

__all__ = [
    "Acceptor",
    "ClusterState",
    "PAGINATED",
    "RunResult",
    "WAITERS",
    "Waiter",
    "WaiterModel",
    "spec_update",
    "spec_written",
]
