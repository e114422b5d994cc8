"""ClusterState: versioned state, snapshots, commits, events and stores."""

from clusterkit.state.api import RunResult
from clusterkit.state.changes import CommitResult, Rejection
from clusterkit.state.cluster import ClusterState
from clusterkit.state.snapshot import Described, Failure, Page, Snapshot
from clusterkit.state.store import MemoryStore, Store

__all__ = [
    "ClusterState",
    "CommitResult",
    "Described",
    "Failure",
    "MemoryStore",
    "Page",
    "Rejection",
    "RunResult",
    "Snapshot",
    "Store",
]
