"""The store behind a ClusterState, and its compare-and-swap contract.

A ClusterState keeps its decisions (which change is accepted) separate from where the
state lives. It reads the newest ``Roots`` from the store, checks a commit's changes
against them, then asks the store to swap: the store applies the commit only if nothing
else was committed since those roots were read, and says so. On a refusal the ClusterState
re-reads and re-checks. That is the contract an etcd backend keeps with a transaction that
compares each touched key's version (``mod_revision``) before putting the new values;
``MemoryStore``, the default, keeps the roots in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import immutables

from clusterkit.model import Arns, ContainerInstance, Task
from clusterkit.state._derived import ListLog, PlacementLog
from clusterkit.state._ptree import Owner, PSortedSet
from clusterkit.state._snapshot import Roots

if TYPE_CHECKING:
    from clusterkit.state._apply import Pending
    from clusterkit.state._events import Event

__all__ = [
    "AgentLease",
    "CompactingStore",
    "Deliver",
    "HoldableStore",
    "LeaseStore",
    "MemoryStore",
    "ResolvingStore",
    "SharedStore",
    "Store",
    "TransactionLimitedStore",
    "empty_roots",
]


class Deliver(Protocol):
    """How a shared store hands the state new roots and their events.

    ``events`` None asks the subscribers to resynchronise, and ``cause`` says why (their
    ``SubscriptionOverflow`` carries it).
    """

    def __call__(self, roots: Roots, events: tuple[Event, ...] | None, cause: str = ...) -> None:
        """Hand over ``roots`` and the events that made them (None: resynchronise, for ``cause``)."""
        ...


def empty_roots() -> Roots:
    """The roots of a cluster with nothing in it, at version 0."""
    tasks: immutables.Map[str, Task] = immutables.Map()
    instances: immutables.Map[str, ContainerInstance] = immutables.Map()
    return Roots(
        version=0,
        tasks=tasks,
        instances=instances,
        task_definitions=immutables.Map(),
        family_revisions=immutables.Map(),
        instance_index=immutables.Map(),
        task_definition_index=PSortedSet(),
        list_log=ListLog.build(0, (tasks, instances), Owner()),
        placement_log=PlacementLog.build(0, (tasks, instances), Owner()),
        service_specs=immutables.Map(),
        service_statuses=immutables.Map(),
        services=immutables.Map(),
        service_names=PSortedSet(),
    )


@runtime_checkable
class Store(Protocol):
    """Where a ClusterState's data lives: the newest roots and an optimistic swap.

    That is all a store must do. A store may have optional powers, each its own protocol that
    the state checks with ``isinstance``: ``SharedStore`` (it hands over every commit, other
    processes' too), ``TransactionLimitedStore`` (one write holds at most ``max_txn_ops``
    records), ``ResolvingStore`` (a write's unknown outcome can be learnt), ``LeaseStore``
    (agents' liveness by leases), ``CompactingStore`` and ``HoldableStore`` (housekeeping and
    a held watch, for tests).
    """

    def current(self) -> Roots:
        """The newest committed roots."""
        ...

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        """Commit ``pending`` if ``base`` is still the newest state; return the new roots.

        ``pending`` lists every record the commit changes (its tasks, instances, task
        definitions), and ``base`` holds the versions they were checked at: a shared store
        compares those versions and writes the new records in one transaction. ``build``
        makes the new in-memory roots once the write succeeded; call it, if at all, only then
        and install its result at once (snapshots wait from the build until ``swap`` returns,
        so no I/O may come between). Returns ``None``, having written nothing, when another
        writer committed first.
        """
        ...


class MemoryStore:
    """The default store: the roots of one process's ClusterState, swapped by identity."""

    def __init__(self, roots: Roots | None = None) -> None:
        self._roots = roots if roots is not None else empty_roots()

    def current(self) -> Roots:
        """The newest committed roots."""
        return self._roots

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        """Install the new roots if ``base`` is still current (see ``Store``)."""
        if self._roots is not base:
            return None
        self._roots = build()
        return self._roots


class AgentLease(Protocol):
    """An agent's hold on its liveness in a store; see ``LeaseStore``."""

    def close(self) -> None:
        """Give the lease up: the agent is no longer live."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    """A store that tells which agents are live by leases that expire unless kept alive.

    ``EtcdStore`` is one: an agent's lease (etcd's, with a TTL) holds a liveness key, which
    etcd deletes when the agent stops renewing it. ``Agent`` holds a lease on such a store,
    and ``LivenessMonitor`` reads ``live_agents`` instead of heartbeat times.
    """

    def keep_alive(self, name: str, ttl: int) -> AgentLease:
        """Take a lease for agent ``name`` with a TTL of ``ttl`` seconds and keep renewing it."""
        ...

    def live_agents(self) -> frozenset[str]:
        """The names of the agents whose leases are live, as this process last heard."""
        ...


@runtime_checkable
class SharedStore(Protocol):
    """A store other processes write too, which hands the state every commit, theirs and its own.

    The state attaches to it once, and from then on delivers to its subscribers only the
    events the store hands over (``deliver(roots, None)`` asks them to resynchronise).
    ``EtcdStore`` is one.
    """

    def attach(self, arns: Arns, deliver: Deliver) -> None:
        """Called once by the state that uses this store: its ARNs and its delivery."""
        ...


@runtime_checkable
class TransactionLimitedStore(Protocol):
    """A store whose one write holds at most ``max_txn_ops`` records (etcd's ``--max-txn-ops``).

    An incremental commit that touches more is committed in halves, each its own version.
    A store that writes something of its own in every write (etcd's commit marker) says how
    many operations that takes in an optional ``reserved_ops`` attribute; the state then
    puts at most ``max_txn_ops - reserved_ops`` records in one write.
    """

    max_txn_ops: int
    """The most operations one write may hold."""


@runtime_checkable
class ResolvingStore(Protocol):
    """A store whose write may end without an answer (``CommitOutcomeUnknown``), and which can
    later tell what became of it. ``EtcdStore`` is one.
    """

    def resolve(self, commit_id: str) -> int | None:
        """The version commit ``commit_id`` was written at, or None when it was not and never
        will be; ``CommitOutcomeUnknown`` while the store still cannot tell.
        """
        ...


@runtime_checkable
class CompactingStore(Protocol):
    """A store that can drop its history up to now (etcd's compaction)."""

    def compact(self) -> int:
        """Drop the history up to the newest revision; return that revision."""
        ...


@runtime_checkable
class HoldableStore(Protocol):
    """A shared store whose watch of the other writers can be held and released (a slow reader, in tests)."""

    def hold(self) -> None:
        """Stop following the other writers for now: the local replica stays where it is."""
        ...

    def release(self) -> None:
        """Follow the other writers again from where the replica was held."""
        ...
