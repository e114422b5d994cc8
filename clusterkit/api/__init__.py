"""The ECS-named facade: ``ClusterState`` composes the state core, the query language and placement."""

from clusterkit.api._cluster import ClusterState
from clusterkit.api._services import spec_update, spec_written
from clusterkit.api._tasks import RunResult

__all__ = ["ClusterState", "RunResult", "spec_update", "spec_written"]
