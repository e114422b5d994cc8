"""The state core: versioned records, snapshots, commits, events and stores.

It knows nothing of queries, placement or services; ``clusterkit.api.ClusterState`` puts
the ECS calls on top of it.
"""

from clusterkit.state._apply import (
    Pending,
)
from clusterkit.state._changes import (
    REJECTION_REASONS,
    Change,
    CommitResult,
    DeregisterInstance,
    DeregisterTaskDefinition,
    PlaceTask,
    PutService,
    PutServiceSpec,
    PutServiceStatus,
    RegisterInstance,
    RegisterTaskDefinition,
    Rejection,
    StopTask,
    TaskStateChange,
    UpdateInstance,
)
from clusterkit.state._clock import (
    SimulatedClock,
)
from clusterkit.state._core import (
    ChangeSource,
    StateCore,
)
from clusterkit.state._derived import (
    amount_class,
)
from clusterkit.state._election import EtcdElection
from clusterkit.state._etcd import (
    EtcdLease,
    EtcdStore,
)
from clusterkit.state._events import (
    ContainerInstanceChanged,
    Event,
    ServiceChanged,
    Subscription,
    TaskChanged,
    TaskDefinitionChanged,
)
from clusterkit.state._ids import (
    new_id,
    repeatable_ids,
)
from clusterkit.state._invariants import (
    Violation,
    invariant_violations,
    state_violations,
)
from clusterkit.state._loops import (
    run_loop,
    step_every,
)
from clusterkit.state._overlay import (
    propose,
)
from clusterkit.state._persist import (
    load_roots,
    save_snapshot,
)
from clusterkit.state._records import (
    CHARGE_KEY,
    HEARTBEAT_KEY,
    TARGET_HEALTH_KEY,
    decode_instance,
    decode_service,
    decode_service_spec,
    decode_service_status,
    decode_task,
    decode_task_definition,
    encode_instance,
    encode_service_spec,
    encode_service_status,
    encode_task,
    encode_task_definition,
)
from clusterkit.state._retry import (
    Batches,
    Planned,
    Retry,
    RetryOutcome,
    commit_with_retry,
    is_conflict,
    is_stale,
    jittered,
)
from clusterkit.state._snapshot import (
    MAX_DESCRIBE,
    MAX_PAGE,
    Described,
    Failure,
    InstanceFilter,
    Page,
    Roots,
    Snapshot,
)
from clusterkit.state._store import (
    AgentLease,
    CompactingStore,
    Deliver,
    HoldableStore,
    LeaseStore,
    MemoryStore,
    ResolvingStore,
    SharedStore,
    Store,
    TransactionLimitedStore,
    empty_roots,
)
from clusterkit.state._tokens import (
    CLIENT_TOKEN_TTL,
    ClientToken,
    TokenClaim,
    fingerprint,
    token_holder,
)

__all__ = [
    "AgentLease",
    "Batches",
    "CHARGE_KEY",
    "CLIENT_TOKEN_TTL",
    "Change",
    "ChangeSource",
    "ClientToken",
    "CommitResult",
    "CompactingStore",
    "ContainerInstanceChanged",
    "Deliver",
    "DeregisterInstance",
    "DeregisterTaskDefinition",
    "Described",
    "EtcdElection",
    "EtcdLease",
    "EtcdStore",
    "Event",
    "Failure",
    "HEARTBEAT_KEY",
    "HoldableStore",
    "InstanceFilter",
    "LeaseStore",
    "MAX_DESCRIBE",
    "MAX_PAGE",
    "MemoryStore",
    "Page",
    "Pending",
    "PlaceTask",
    "Planned",
    "PutService",
    "PutServiceSpec",
    "PutServiceStatus",
    "REJECTION_REASONS",
    "RegisterInstance",
    "RegisterTaskDefinition",
    "Rejection",
    "ResolvingStore",
    "Retry",
    "RetryOutcome",
    "Roots",
    "ServiceChanged",
    "SharedStore",
    "SimulatedClock",
    "Snapshot",
    "StateCore",
    "StopTask",
    "Store",
    "Subscription",
    "TARGET_HEALTH_KEY",
    "TaskChanged",
    "TaskDefinitionChanged",
    "TaskStateChange",
    "TokenClaim",
    "TransactionLimitedStore",
    "UpdateInstance",
    "Violation",
    "amount_class",
    "commit_with_retry",
    "decode_instance",
    "decode_service",
    "decode_service_spec",
    "decode_service_status",
    "decode_task",
    "decode_task_definition",
    "empty_roots",
    "encode_instance",
    "encode_service_spec",
    "encode_service_status",
    "encode_task",
    "encode_task_definition",
    "fingerprint",
    "invariant_violations",
    "is_conflict",
    "is_stale",
    "jittered",
    "load_roots",
    "new_id",
    "propose",
    "repeatable_ids",
    "run_loop",
    "save_snapshot",
    "state_violations",
    "step_every",
    "token_holder",
]
