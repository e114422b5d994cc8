"""The state core: versioned records, snapshots, commits, events and stores.

It knows nothing of queries, placement or services; ``clusterkit.api.ClusterState`` puts
the ECS calls on top of it.
"""

from clusterkit.state.changes import CommitResult, Rejection
from clusterkit.state.core import ChangeSource, StateCore
from clusterkit.state.snapshot import Described, Failure, InstanceFilter, Page, Snapshot
from clusterkit.state.store import MemoryStore, Store

__all__ = [
    "ChangeSource",
    "CommitResult",
    "Described",
    "Failure",
    "InstanceFilter",
    "MemoryStore",
    "Page",
    "Rejection",
    "Snapshot",
    "StateCore",
    "Store",
]
