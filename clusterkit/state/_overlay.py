"""Proposed changes laid over a snapshot: what a plan would leave, before it is committed.

A scheduler that makes several placements in one decision plans each on what the ones
before it would leave (Nomad's ``ProposedAllocs``). ``propose`` applies changes with the
commit engine's own checks to a snapshot's roots, in memory, without a state or a store:
the result is an ordinary immutable ``Snapshot``, sharing everything
the changes do not touch, so every read the placement code makes sees the proposal.
"""

from __future__ import annotations

from collections.abc import Iterable

from clusterkit.state._apply import Pending, write
from clusterkit.state._changes import Change, Rejection
from clusterkit.state._ptree import Owner
from clusterkit.state._snapshot import Snapshot

__all__ = ["propose"]


def propose(snapshot: Snapshot, changes: Iterable[Change], now: float) -> tuple[Snapshot, tuple[Rejection, ...]]:
    """``snapshot`` with ``changes`` applied as an incremental commit at time ``now`` would
    apply them, and the changes it would reject. O(changes · log n); ``snapshot`` is unchanged.

    The proposal reads as the next version (the snapshot's + 1), as a commit would leave
    it; it is a view to plan on, never a state to commit from (commit the changes themselves).
    """
    roots = snapshot._roots
    pending = Pending(roots, now)
    rejected = tuple(rejection for change in changes if (rejection := pending.apply(change)) is not None)
    if not pending.events:
        return snapshot, rejected
    return Snapshot(write(roots, pending, Owner()), snapshot.arns), rejected
