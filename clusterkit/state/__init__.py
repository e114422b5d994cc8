"""The state core: versioned records, snapshots, commits, events and stores.

It knows nothing of queries, placement or services; ``clusterkit.api.ClusterState`` puts
the ECS calls on top of it.
"""

from clusterkit.state._apply import Pending
from clusterkit.state._changes import CommitResult, Rejection
from clusterkit.state._core import ChangeSource, StateCore
from clusterkit.state._derived import amount_class
from clusterkit.state._loops import run_loop, step_every
from clusterkit.state._overlay import propose
from clusterkit.state._retry import Batches, Retry, RetryOutcome, commit_with_retry, is_conflict, is_stale, jittered
from clusterkit.state._snapshot import Described, Failure, InstanceFilter, Page, Roots, Snapshot
from clusterkit.state._store import MemoryStore, Store

__all__ = [
    "Batches",
    "ChangeSource",
    "CommitResult",
    "Described",
    "Failure",
    "InstanceFilter",
    "MemoryStore",
    "Page",
    "Pending",
    "Rejection",
    "Retry",
    "RetryOutcome",
    "Roots",
    "Snapshot",
    "StateCore",
    "Store",
    "amount_class",
    "commit_with_retry",
    "is_conflict",
    "is_stale",
    "jittered",
    "propose",
    "run_loop",
    "step_every",
]
