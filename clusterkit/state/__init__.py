"""The state core: versioned records, snapshots, commits, events and stores.

It knows nothing of queries, placement or services; ``clusterkit.api.ClusterState`` puts
the ECS calls on top of it.
"""

from clusterkit.state._apply import Pending
from clusterkit.state._derived import amount_class
from clusterkit.state.changes import CommitResult, Rejection
from clusterkit.state.core import ChangeSource, StateCore
from clusterkit.state.overlay import propose
from clusterkit.state.snapshot import Described, Failure, InstanceFilter, Page, Roots, Snapshot
from clusterkit.state.store import MemoryStore, Store

__all__ = [
    "ChangeSource",
    "CommitResult",
    "Described",
    "Failure",
    "InstanceFilter",
    "MemoryStore",
    "Page",
    "Pending",
    "Rejection",
    "Roots",
    "Snapshot",
    "StateCore",
    "Store",
    "amount_class",
    "propose",
]
