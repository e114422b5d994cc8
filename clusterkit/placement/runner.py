"""Plan, commit, retry: the optimistic loop that turns a request into started tasks.

Each attempt plans against a fresh snapshot and commits the plan. Placements the commit
rejects (another scheduler took the room first) are planned again from the commit's fresh
snapshot, with a short randomised backoff, up to ``max_attempts``; tasks no instance can
take are not retried. This is Omega's and Nomad's loop; the scheduler stays pure.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model.task import Task
from clusterkit.placement.plan import Unplaced
from clusterkit.placement.request import PlacementRequest
from clusterkit.state.changes import Rejection

if TYPE_CHECKING:
    from clusterkit.placement.scheduler import Scheduler
    from clusterkit.state.cluster import ClusterState

__all__ = ["PlacementOutcome", "place_and_commit"]


@attrs.frozen(slots=True)
class PlacementOutcome:
    """What the loop achieved.

    ``tasks`` committed, ``unplaced`` tasks no instance could take, plans ``attempts``,
    ``commits`` made, and the commit rejections met on the way (``conflicts``).
    """

    tasks: tuple[Task, ...]
    unplaced: tuple[Unplaced, ...]
    attempts: int
    conflicts: tuple[Rejection, ...]
    commits: int


def place_and_commit(
    state: ClusterState,
    scheduler: Scheduler,
    request: PlacementRequest,
    *,
    atomic: bool = False,
    max_attempts: int = 5,
    backoff: float = 0.001,
) -> PlacementOutcome:
    """Place ``request`` with ``scheduler`` and commit it to ``state``, retrying conflicts.

    ``atomic`` commits each attempt all-or-nothing (gang scheduling); otherwise accepted
    placements stay and only the rejected ones are planned again.
    """
    if type(max_attempts) is not int or max_attempts < 1:
        raise ValidationError("maxAttempts", max_attempts, "must be a positive integer")
    placed: list[Task] = []
    conflicts: list[Rejection] = []
    unplaced: tuple[Unplaced, ...] = ()
    snapshot = state.snapshot()
    remaining = request.count
    attempts = commits = 0
    while remaining and attempts < max_attempts:
        attempts += 1
        plan = scheduler.place(snapshot, attrs.evolve(request, count=remaining))
        unplaced = plan.unplaced
        if not plan.placements:
            break
        result = state.commit(plan.changes, atomic=atomic)
        commits += 1
        placed.extend(change.task for change in result.accepted)  # type: ignore[union-attr]
        lost = [rejection for rejection in result.rejected if rejection.reason != "ABORTED"]
        conflicts.extend(lost)
        retry = len(result.rejected)
        remaining = retry
        if not retry:
            break
        snapshot = result.snapshot
        if attempts < max_attempts and backoff > 0:
            time.sleep(random.uniform(0, backoff * 2 ** (attempts - 1)))  # jitter, not security
    if remaining and not unplaced:
        unplaced = tuple(Unplaced({"CONFLICT": 1}) for _ in range(remaining))
    return PlacementOutcome(tuple(placed), unplaced, attempts, tuple(conflicts), commits)
