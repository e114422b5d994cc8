"""Plan, commit, retry: the optimistic loop that turns a request into started tasks.

Each attempt plans against a fresh snapshot and commits the plan. Placements the commit
rejects (another scheduler took the room first) are planned again from a snapshot taken
after that commit, with a short randomised backoff, up to ``max_attempts``; tasks no
instance can take are not retried. This is Omega's and Nomad's loop, run by the state's
shared ``commit_with_retry``; the scheduler stays pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import Task, check_instance
from clusterkit.placement._plan import Plan, Unplaced
from clusterkit.placement._request import PlacementRequest
from clusterkit.state import PlaceTask, Rejection, Snapshot, TokenClaim, commit_with_retry, jittered

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
    client_token: TokenClaim | None = None,
) -> PlacementOutcome:
    """Place ``request`` with ``scheduler`` and commit it to ``state``, retrying conflicts.

    ``atomic`` places the whole request or nothing (gang scheduling): a plan that cannot
    place every task is not committed, and each attempt commits all-or-nothing. Otherwise
    accepted placements stay and only the rejected ones are planned again. Every task of
    the request ends up in ``tasks`` or ``unplaced`` (reason ``CONFLICT`` when the attempts
    ran out, ``GANG_INCOMPLETE`` for a gang's tasks that would have fitted).
    ``client_token`` goes with every commit (see ``StateCore.commit``).
    """
    check_instance("scheduler", scheduler, "place")
    if type(max_attempts) is not int or max_attempts < 1:
        raise ValidationError("maxAttempts", max_attempts, "must be a positive integer")
    unplaced: list[Unplaced] = []  # no instance can take these: final
    gang_broken = False

    def plan(snapshot: Snapshot, count: int) -> Plan | None:
        nonlocal gang_broken
        planned = scheduler.place(snapshot, attrs.evolve(request, count=count))
        unplaced.extend(planned.unplaced)
        if atomic and planned.unplaced:  # all or nothing: a gang that does not fit is not started
            unplaced.extend(Unplaced({"GANG_INCOMPLETE": 1}) for _ in planned.placements)
            gang_broken = True
            return None
        return planned

    outcome = commit_with_retry(
        state,
        lambda snapshot: plan(snapshot, request.count),
        replan=lambda snapshot, lost: plan(snapshot, len(lost)),  # plan only what another writer took
        atomic=atomic,
        max_attempts=max_attempts,
        backoff=jittered(backoff) if backoff > 0 else None,
        client_token=client_token,
    )
    placed = () if gang_broken else tuple(c.task for c in outcome.accepted if isinstance(c, PlaceTask))
    unplaced.extend(Unplaced({"CONFLICT": 1}) for _ in outcome.unresolved)
    return PlacementOutcome(placed, tuple(unplaced), outcome.attempts, outcome.conflicts, outcome.commits)
