"""StateCore: versioned cluster state with optimistic commits, immutable snapshots and events.

The bottom of the stack that schedulers share: it knows records, versions, commits and
stores, and nothing of queries, placement or services. ``clusterkit.ClusterState`` is this
core with the ECS-named calls on top (``clusterkit.api``).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, Self, runtime_checkable

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import Arns
from clusterkit.state._apply import Pending, write
from clusterkit.state._changes import Change, CommitResult, Rejection
from clusterkit.state._events import Event, Subscription
from clusterkit.state._invariants import state_violations
from clusterkit.state._persist import load_roots, save_snapshot
from clusterkit.state._ptree import Owner
from clusterkit.state._snapshot import Roots, Snapshot
from clusterkit.state._store import MemoryStore, ResolvingStore, SharedStore, Store, TransactionLimitedStore
from clusterkit.state._tokens import ClientToken, TokenClaim, token_holder

_TOKEN_SWEEP = 1024  # in memory, expired tokens are swept at this many tokens (or twice the count the last sweep left)

__all__ = ["ChangeSource", "StateCore"]


@runtime_checkable
class ChangeSource(Protocol):
    """Anything that carries changes to commit, such as a scheduler's plan."""

    @property
    def changes(self) -> Sequence[Change]:
        """The changes, in the order they are to be applied."""
        ...


class StateCore:
    """The state of one cluster: instances, task definitions and tasks, at a version.

    Read it through ``snapshot`` (immutable, lock-free to read); change it only
    through ``commit``. Commits are serialised: each one re-checks its changes against the
    newest state, so two writers racing for the last slot of an instance cannot both win.
    The cluster ``version`` and every task's and instance's ``version`` only increase.

    ``clock`` gives timestamps (seconds since the epoch); ``store`` holds the data
    (in memory by default).
    """

    def __init__(
        self,
        cluster_name: str = "default",
        *,
        region: str = "local",
        account: str = "000000000000",
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
    ) -> None:
        self.arns = Arns(cluster_name, region, account)
        self.clock = clock
        self._store: Store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()  # commits, one at a time (held through a shared store's network write)
        self._seal = threading.Lock()  # building new roots in place vs sealing them for a snapshot: never I/O
        self._building = False  # a commit holds _seal from its build until its store installs the roots
        self._deliveries = threading.Lock()  # the subscribers and what they are handed
        self._owner = Owner()
        self._snapshot: Snapshot | None = None
        self._subscribers: list[Subscription] = []
        self._store_delivers = isinstance(self._store, SharedStore)
        # the store's transaction limit in records, read once: a runtime-checkable isinstance costs
        # microseconds a commit (less what the store writes of its own in each: etcd's commit marker)
        self._txn_limit: int | None = (
            self._store.max_txn_ops - int(getattr(self._store, "reserved_ops", 0))
            if isinstance(self._store, TransactionLimitedStore)
            else None
        )
        self._token_sweep = _TOKEN_SWEEP
        if isinstance(self._store, SharedStore):  # it hands over every commit, this process's and others'
            self._store.attach(self.arns, self._from_store)

    @property
    def cluster_name(self) -> str:
        """The cluster's name."""
        return self.arns.cluster

    @property
    def store(self) -> Store:
        """Where the state's data lives: a ``MemoryStore`` by default, an ``EtcdStore`` to share it."""
        return self._store

    @property
    def version(self) -> int:
        """The newest committed cluster version."""
        return self._store.current().version

    def snapshot(self) -> Snapshot:
        """An immutable view of the newest state. O(1); later commits never change it.

        It never waits for a commit in flight (an etcd transaction on the network): only,
        at most, for the in-memory build of new roots that ends one.
        """
        with self._seal:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> Snapshot:
        """The snapshot of the newest roots; call with ``_seal`` held."""
        roots = self._store.current()
        snapshot = self._snapshot
        if snapshot is None or snapshot._roots is not roots:
            snapshot = self._snapshot = Snapshot(roots, self.arns)
            self._owner = Owner()  # seal: nothing the snapshot reaches is changed in place again
        return snapshot

    def commit(
        self,
        changes: Iterable[Change] | ChangeSource,
        *,
        atomic: bool = False,
        client_token: TokenClaim | None = None,
    ) -> CommitResult:
        """Apply ``changes`` to the newest state, in order, as one new version.

        Each change is checked against the state as the changes before it left it:
        a change that no longer fits (resources, ports, instance status, a stale version)
        is *rejected* with a reason and the rest still apply — an incremental commit. With
        ``atomic=True`` one rejection rejects them all (the others as ``ABORTED``) and
        nothing changes. A malformed change raises ValidationError and nothing changes.

        With ``client_token`` (see ``TokenClaim``) the commit also claims that token, or
        extends the record of the call that claimed it with the tasks and services it
        creates, in the same write. When another call holds the token (not expired), the
        commit writes nothing and returns a result with nothing accepted or rejected (read
        ``snapshot.client_token``), or raises ValidationError if that call's arguments
        differ. A store that cannot tell whether the write happened raises
        ``CommitOutcomeUnknown``: see ``resolve``.
        """
        items: list[Change] = changes if type(changes) is list else list(getattr(changes, "changes", changes))  # type: ignore[arg-type]
        result = self._commit_once(items, atomic, client_token)
        if result is not None:
            return result
        # too many records for one write of the store: commit the halves in turn
        half = len(items) // 2
        if client_token is None:  # (a subclass's commit may not take a token)
            first, second = self.commit(items[:half]), self.commit(items[half:])
        else:
            first = self.commit(items[:half], client_token=client_token)
            second = self.commit(items[half:], client_token=client_token)
        return CommitResult(
            second.version,
            first.accepted + second.accepted,
            first.rejected + second.rejected,
            first.events + second.events,
            fresh=self.snapshot,
        )

    def _commit_once(self, items: list[Change], atomic: bool, claim: TokenClaim | None) -> CommitResult | None:
        """One commit of ``items``; None when an incremental commit is too large for one write."""
        limit = self._txn_limit
        with self._lock:
            while True:
                base = self._store.current()
                pending = Pending(base, self.clock())
                if claim is not None and token_holder(base.tokens.get(claim.token), claim, pending.now) is not None:
                    return self._result(base.version, (), (), ())
                accepted: list[Change] = []
                rejected: list[Rejection] = []
                for change in items:
                    rejection = pending.apply(change)
                    if rejection is None:
                        accepted.append(change)
                    else:
                        rejected.append(rejection)
                if rejected and atomic:
                    aborted = [
                        Rejection(change, "ABORTED", "another change of this atomic commit was rejected")
                        for change in accepted
                    ]
                    return self._result(base.version, (), tuple(rejected + aborted), ())
                if not pending.events:
                    return self._result(base.version, tuple(accepted), tuple(rejected), ())
                if claim is not None:
                    self._claim(base, pending, claim)
                if limit is not None and not atomic and len(items) > 1 and _keys_of(pending) > limit:
                    return None
                written_as = pending.version
                try:
                    new_roots = self._store.swap(base, pending, functools.partial(self._build, base, pending))
                finally:
                    if self._building:  # the store installed what build made: snapshots may see it now
                        self._building = False
                        self._seal.release()
                if new_roots is not None:
                    break
                self._owner = Owner()  # another writer won: re-read and re-check everything
            events = tuple(pending.events)
            if pending.version != written_as:  # the store numbered the write (etcd's revision)
                events = tuple(attrs.evolve(event, version=pending.version) for event in events)
            if not self._store_delivers:
                with self._deliveries:
                    for subscriber in self._subscribers:
                        subscriber._deliver(events)
        return self._result(pending.version, tuple(accepted), tuple(rejected), events)

    def _claim(self, base: Roots, pending: Pending, claim: TokenClaim) -> None:
        """Write ``claim``'s token with ``pending``: claimed now, or extended with what this commit creates."""
        held = base.tokens.get(claim.token)
        if held is None or held.call != claim.call:  # new, or an expired claim of another call
            held = ClientToken(claim.token, claim.fingerprint, claim.call, pending.now)
            if not self._store_delivers and len(base.tokens) >= self._token_sweep:
                # a shared store bounds its tokens itself (etcd: a lease); here, sweep the expired ones
                expired = [token for token, record in base.tokens.items() if record.expired(pending.now)]
                pending.tokens.update(dict.fromkeys(expired))
                self._token_sweep = max(_TOKEN_SWEEP, 2 * (len(base.tokens) - len(expired)))
        pending.tokens[claim.token] = ClientToken(
            held.token,
            held.fingerprint,
            held.call,
            held.created_at,
            held.tasks + tuple(task for task in pending.tasks if task not in base.tasks),
            held.services + tuple(name for name in pending.service_specs if name not in base.service_specs),
        )

    def resolve(self, commit_id: str) -> int | None:
        """What became of a commit that raised ``CommitOutcomeUnknown`` (its ``commit_id``): the
        version it was written at (the state holds it once this returns), or None when it was
        not written and never will be (the store makes sure of that). Raises
        ``CommitOutcomeUnknown`` again while the store still cannot tell, and ValidationError
        for a store that never leaves an outcome unknown (the in-memory one).
        """
        store = self._store
        if not isinstance(store, ResolvingStore):
            never = f"{type(store).__name__} never leaves a commit's outcome unknown"
            raise ValidationError("commitId", commit_id, never)
        return store.resolve(commit_id)

    def _build(self, base: Roots, pending: Pending) -> Roots:
        """New roots for ``pending``, changing in place only nodes no snapshot has reached.

        Takes ``_seal`` and keeps it until the store has installed the roots (``_commit_once``
        lets go once ``swap`` returns): a snapshot taken between the build and the install
        would read the old roots with nodes the build changed in place.
        """
        self._seal.acquire()
        self._building = True
        return write(base, pending, self._owner)

    def _from_store(
        self, roots: Roots, events: tuple[Event, ...] | None, cause: str = "the store read everything again"
    ) -> None:
        """A shared store's new roots: hand their events to the subscribers (None: they resync, for ``cause``)."""
        with self._deliveries:
            for subscriber in self._subscribers:
                if events is None:
                    subscriber._lose(cause)
                else:
                    subscriber._deliver(events)

    def _result(
        self, version: int, accepted: tuple[Change, ...], rejected: tuple[Rejection, ...], events: tuple[Event, ...]
    ) -> CommitResult:
        return CommitResult(version, accepted, rejected, events, fresh=self.snapshot)

    def subscribe(self, capacity: int = 10_000) -> Subscription:
        """Events of every later commit, in commit order, buffered up to ``capacity``.

        See ``Subscription`` for what happens when a subscriber falls behind.
        """
        subscription = Subscription(capacity, self._resync, self._unsubscribe)
        with self._lock, self._deliveries:
            subscription._restart(self._store.current().version)
            self._subscribers.append(subscription)
        return subscription

    def _resync(self, subscription: Subscription) -> Snapshot:
        with self._lock, self._deliveries, self._seal:
            snapshot = self._snapshot_locked()
            subscription._restart(snapshot.version)
            return snapshot

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._deliveries:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def _roots(self) -> Roots:
        return self._store.current()

    def _check(self) -> None:
        """Verify every internal invariant (for tests); AssertionError lists any breach."""
        problems = state_violations(self.snapshot())
        assert not problems, "; ".join(problems)

    def save(self, path: str | os.PathLike[str]) -> Snapshot:
        """Write the newest state to a JSON file atomically; returns the snapshot saved."""
        snapshot = self.snapshot()
        save_snapshot(snapshot, path)
        return snapshot

    @classmethod
    def restore(cls, path: str | os.PathLike[str], **options: Any) -> Self:
        """A state holding what ``save`` wrote, at the saved version.

        The cluster name, region and account come from the file; ``options`` are the
        constructor's other keywords (``clock``, and those a subclass adds).
        """
        roots, arns = load_roots(path)
        return cls(arns.cluster, region=arns.region, account=arns.account, store=MemoryStore(roots), **options)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.cluster_name} version={self.version}>"


def _keys_of(pending: Pending) -> int:
    """How many records a commit of ``pending`` writes."""
    return (
        len(pending.tasks)
        + len(pending.instances)
        + len(pending.task_definitions)
        + len(pending.family_revisions)
        + len(pending.service_specs)
        + len(pending.service_statuses)
        + len(pending.tokens)
    )
