"""The ECS API over HTTP: boto3, the AWS CLI and Terraform drive clusterkit clusters.

``EcsApplication`` is a framework-free WSGI application speaking ECS's AWS JSON 1.1 protocol
(``POST /`` with ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>``), checked
and shaped by botocore's own ECS model (``pip install 'clusterkit[server]'``). It serves
``Clusters``: several ``ClusterState`` s by name, for one account and region, sharing their
task definitions as ECS's account does. ``serve_threaded`` hosts it on the standard
library's threaded WSGI server; ``clusterkit serve`` does that with a service scheduler and
agents in every cluster.
"""

from clusterkit.server._app import EcsApplication, ThreadingWSGIServer, serve_threaded
from clusterkit.server._clusters import ClusterHook, Clusters
from clusterkit.server._loops import cluster_loops
from clusterkit.server._operations import OPERATIONS
from clusterkit.server._sigv4 import Credential, load_credentials
from clusterkit.server._wire import ApiError

__all__ = [
    "ApiError",
    "ClusterHook",
    "Clusters",
    "Credential",
    "EcsApplication",
    "OPERATIONS",
    "ThreadingWSGIServer",
    "cluster_loops",
    "load_credentials",
    "serve_threaded",
]
