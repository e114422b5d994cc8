"""The clusters one server holds: a ``ClusterState`` each, and the task definitions they share.

In ECS task definitions belong to the account and region, not to a cluster; clusterkit keeps
them in each ``ClusterState``. ``Clusters`` keeps one registry state of its own and writes every
registration and deregistration there and to every cluster, under one lock, so revisions are
the same everywhere; a new cluster is given the registry's definitions, in order, when it is
created. ARNs are checked whole: partition, service, region, account and, inside a cluster's
resources, the cluster's name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from clusterkit.api import ClusterState
from clusterkit.errors import NotFoundError, StoreError, ValidationError
from clusterkit.model import Arns, TaskDefinition
from clusterkit.placement import Scheduler
from clusterkit.server._wire import ApiError
from clusterkit.state import Snapshot, Store

__all__ = ["ClusterHook", "Clusters"]

ClusterHook = Callable[[ClusterState], Callable[[], None] | None]
"""Called with each cluster as it is created; returns what to call when it is deleted (or None)."""

_REGISTRY_NAME: Final = "task-definitions"
_STILL_HOLDS: Final = "The Cluster cannot be deleted while {} are active."
_CONTAINER_INSIGHTS: Final = {"name": "containerInsights", "value": "disabled"}


class Clusters:
    """Several clusters by name, for one account and region, with shared task definitions.

    ``on_create`` runs for every cluster created (the server starts its service scheduler
    and agents there); ``scheduler`` places RunTask's tasks (the built-in one when None).
    The clusters in ``initial`` (``default`` unless told otherwise) exist from the start.

    ``store`` says where the data lives: it is called with ``"registry"`` (the shared task
    definitions) and with ``"clusters/NAME"`` for each cluster, and returns its ``Store``
    (an ``EtcdStore`` on a prefix of its own, say); in memory when None. A cluster opened on
    a store that holds it already keeps what it holds, and is given the definitions it
    missed. ``DeleteCluster`` closes the cluster's store and leaves its data where it is.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        account: str = "000000000000",
        initial: Sequence[str] = ("default",),
        on_create: ClusterHook | None = None,
        scheduler: Scheduler | None = None,
        clock: Callable[[], float] = time.time,
        store: Callable[[str], Store] | None = None,
    ) -> None:
        self.arns = Arns(_REGISTRY_NAME, region=region, account=account)
        self.region = region
        self.account = account
        self.scheduler = scheduler
        self.clock = clock
        self._on_create = on_create
        self._store = store
        self._lock = threading.RLock()
        self._registry = self._open(_REGISTRY_NAME, "registry")
        self._active: dict[str, ClusterState] = {}
        self._closers: dict[str, Callable[[], None]] = {}
        self._deleted: dict[str, dict[str, Any]] = {}
        for name in initial:
            self.create(name)

    # -- ARNs ------------------------------------------------------------------------------

    def resource(self, field: str, reference: str, kind: str, cluster: str | None = None) -> str:
        """The part of ``reference`` after ``kind/`` when it is an ARN of this server (its
        cluster part, if any, ``cluster``), or ``reference`` itself; ValidationError otherwise.
        """
        if not reference.startswith("arn:"):
            return reference
        parts = reference.split(":", 5)
        expected = ("arn", self.arns.partition, "ecs", self.region, self.account)
        if len(parts) != 6 or tuple(parts[:5]) != expected or not parts[5].startswith(f"{kind}/"):
            prefix = ":".join(expected)
            raise ValidationError(field, reference, f"is not an ARN of this server ({prefix}:{kind}/...)")
        rest = parts[5][len(kind) + 1 :]
        if cluster is not None and "/" in rest:
            owner, rest = rest.split("/", 1)
            if owner != cluster:
                raise ValidationError(field, reference, f"belongs to cluster {owner}, not {cluster}")
        if not rest:
            raise ValidationError(field, reference, "names nothing")
        return rest

    def cluster_arn(self, name: str) -> str:
        """The ARN cluster ``name`` has (or would have) on this server."""
        return f"arn:{self.arns.partition}:ecs:{self.region}:{self.account}:cluster/{name}"

    # -- clusters --------------------------------------------------------------------------

    def create(self, name: str) -> ClusterState:
        """The ACTIVE cluster ``name``, created (with the shared task definitions) if need be."""
        with self._lock:
            found = self._active.get(name)
            if found is not None:
                return found
            state = self._open(name, f"clusters/{name}")
            self._catch_up(state)
            closer = self._on_create(state) if self._on_create is not None else None
            if closer is not None:
                self._closers[name] = closer
            self._active[name] = state
            self._deleted.pop(name, None)
            return state

    def _open(self, name: str, key: str) -> ClusterState:
        store = self._store(key) if self._store is not None else None
        return ClusterState(name, region=self.region, account=self.account, clock=self.clock, store=store)

    def _catch_up(self, state: ClusterState) -> None:
        """Give ``state`` the shared definitions it lacks, in revision order, and their statuses."""
        held = state.snapshot().task_definitions_by_key
        for definition in sorted(self._registry.snapshot().task_definitions(), key=lambda d: d.revision):
            found = held.get(definition.key)
            if found is None and state.register_task_definition(definition).key != definition.key:
                raise StoreError(
                    f"cluster {state.arns.cluster}: its task definitions are out of step with the server's"
                )
            if definition.status == "INACTIVE" and (found is None or found.status == "ACTIVE"):
                state.deregister_task_definition(definition.key)

    @staticmethod
    def _close_store(state: ClusterState) -> None:
        close = getattr(state.store, "close", None)
        if close is not None:
            close()

    def get(self, reference: str | None) -> ClusterState:
        """The ACTIVE cluster by name or ARN (``default`` when None); NotFoundError (cluster) otherwise."""
        name = self.resource("cluster", reference or "default", "cluster")
        found = self._active.get(name)
        if found is None:
            raise NotFoundError("cluster", reference)
        return found

    def names(self) -> list[str]:
        """The ACTIVE clusters' names, sorted."""
        return sorted(self._active)

    def describe(self, reference: str) -> dict[str, Any] | None:
        """ECS's Cluster JSON for a cluster, ACTIVE or deleted (INACTIVE); None when unknown."""
        name = self.resource("clusters", reference, "cluster")
        state = self._active.get(name)
        if state is None:
            return self._deleted.get(name)
        return self._dump(state.snapshot(), "ACTIVE")

    def delete(self, reference: str) -> dict[str, Any]:
        """Delete a cluster without services or tasks; its server-run instances go with it.

        Returns the cluster INACTIVE; ApiError ``ClusterContainsServicesException`` or
        ``ClusterContainsTasksException`` while it still holds them.
        """
        with self._lock:
            state = self.get(reference)
            snapshot = state.snapshot()
            if any(service.status != "INACTIVE" for service in snapshot.services()):
                raise ApiError("ClusterContainsServicesException", _STILL_HOLDS.format("Services"))
            if any(not task.is_stopped for task in snapshot.tasks()):
                raise ApiError("ClusterContainsTasksException", _STILL_HOLDS.format("Tasks"))
            closer = self._closers.pop(state.arns.cluster, None)
            if closer is not None:
                closer()
            del self._active[state.arns.cluster]
            self._close_store(state)
            gone = self._dump(None, "INACTIVE", state.arns)
            self._deleted[state.arns.cluster] = gone
            return gone

    def close(self) -> None:
        """Stop what ``on_create`` started in every cluster, then close the stores."""
        with self._lock:
            closers, self._closers = list(self._closers.values()), {}
        for closer in closers:
            closer()
        for state in [*self._active.values(), self._registry]:
            self._close_store(state)

    def _dump(self, snapshot: Snapshot | None, status: str, arns: Arns | None = None) -> dict[str, Any]:
        arns = snapshot.arns if snapshot is not None else arns
        assert arns is not None
        instances = [i for i in snapshot.instances() if i.status != "INACTIVE"] if snapshot is not None else []
        services = [s for s in snapshot.services() if s.status == "ACTIVE"] if snapshot is not None else []
        return {
            "clusterArn": arns.cluster_arn,
            "clusterName": arns.cluster,
            "status": status,
            "registeredContainerInstancesCount": len(instances),
            "runningTasksCount": sum(i.running_tasks_count for i in instances),
            "pendingTasksCount": sum(i.pending_tasks_count for i in instances),
            "activeServicesCount": len(services),
            "statistics": [],
            "tags": [],
            "settings": [dict(_CONTAINER_INSIGHTS)],
            "capacityProviders": [],
            "defaultCapacityProviderStrategy": [],
        }

    # -- task definitions, shared by every cluster -----------------------------------------

    @property
    def definitions(self) -> Snapshot:
        """A snapshot of the task definitions every cluster shares."""
        return self._registry.snapshot()

    def register_task_definition(self, body: Mapping[str, Any]) -> TaskDefinition:
        """Register ECS RegisterTaskDefinition input: the family's next revision, in every cluster."""
        with self._lock:
            definition = self._registry.register_task_definition(body)
            for state in self._active.values():
                state.register_task_definition(definition)
            return definition

    def deregister_task_definition(self, reference: str) -> TaskDefinition:
        """Mark ``family:revision`` (or its ARN) INACTIVE everywhere."""
        key = self.resource("taskDefinition", reference, "task-definition")
        with self._lock:
            definition = self._registry.deregister_task_definition(key)
            for state in self._active.values():
                state.deregister_task_definition(key)
            return definition
