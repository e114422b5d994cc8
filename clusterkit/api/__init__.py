"""The ECS-named facade: ``ClusterState`` composes the state core, the query language and placement."""

from clusterkit.api.cluster import ClusterState
from clusterkit.api.tasks import RunResult

__all__ = ["ClusterState", "RunResult"]
