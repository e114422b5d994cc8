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
from clusterkit.model import Task
from clusterkit.placement._plan import Unplaced
from clusterkit.placement._request import PlacementRequest
from clusterkit.state import Rejection

if TYPE_CHECKING:
    from clusterkit.placement._scheduler import Scheduler
    from clusterkit.state import StateCore

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
    state: StateCore,
    scheduler: Scheduler,
    request: PlacementRequest,
    *,
    atomic: bool = False,
    max_attempts: int = 5,
    backoff: float = 0.001,
) -> PlacementOutcome:
    """Place ``request`` with ``scheduler`` and commit it to ``state``, retrying conflicts.

    ``atomic`` places the whole request or nothing (gang scheduling): a plan that cannot
    place every task is not committed, and each attempt commits all-or-nothing. Otherwise
    accepted placements stay and only the rejected ones are planned again. Every task of
    the request ends up in ``tasks`` or ``unplaced`` (reason ``CONFLICT`` when the attempts
    ran out, ``GANG_INCOMPLETE`` for a gang's tasks that would have fitted).
    """
    if type(max_attempts) is not int or max_attempts < 1:
        raise ValidationError("maxAttempts", max_attempts, "must be a positive integer")
    placed: list[Task] = []
    conflicts: list[Rejection] = []
    unplaced: list[Unplaced] = []
    snapshot = state.snapshot()
    remaining = request.count
    attempts = commits = 0
    while remaining and attempts < max_attempts:
        attempts += 1
        plan = scheduler.place(snapshot, attrs.evolve(request, count=remaining))
        if atomic and plan.unplaced:  # all or nothing: a gang that does not fit is not started
            unplaced.extend(plan.unplaced)
            unplaced.extend(Unplaced({"GANG_INCOMPLETE": 1}) for _ in plan.placements)
            return PlacementOutcome((), tuple(unplaced), attempts, tuple(conflicts), commits)
        unplaced.extend(plan.unplaced)  # no instance can take these: final
        remaining = len(plan.placements)
        if not remaining:
            break
        result = state.commit(plan.changes, atomic=atomic)
        commits += 1
        placed.extend(change.task for change in result.accepted)  # type: ignore[union-attr]
        conflicts.extend(rejection for rejection in result.rejected if rejection.reason != "ABORTED")
        remaining = len(result.rejected)  # lost to another writer: plan them again
        if not remaining:
            break
        snapshot = result.snapshot
        if attempts < max_attempts and backoff > 0:
            time.sleep(random.uniform(0, backoff * 2 ** (attempts - 1)))  # jitter, not security
    unplaced.extend(Unplaced({"CONFLICT": 1}) for _ in range(remaining))
    return PlacementOutcome(tuple(placed), tuple(unplaced), attempts, tuple(conflicts), commits)
