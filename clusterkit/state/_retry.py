"""Plan on a snapshot, commit, plan again on conflict: the optimistic loop every writer shares.

A writer decides from a snapshot (a pure ``plan(snapshot)``), commits the decision, and —
if the commit found the state moved on — decides again from the fresh snapshot the commit
hands back, a bounded number of times. ``commit_with_retry`` runs that loop to the end;
``Retry`` runs it a step at a time, for callers that must do something between planning and
committing (a simulator moving its clock for the time a decision takes).

**What counts as a conflict.** A plan is trusted to fit the snapshot it was made from, so a
change the commit rejects was rejected because the state moved meanwhile: another writer
took the room (``RESOURCE:*``), bumped the record (``STALE_VERSION``), disconnected the agent
(``AGENT``), drained or removed the instance (``INACTIVE``, ``MISSING``)… Every rejection
but ``ABORTED`` (the innocent bystanders of an atomic commit) is a conflict by default
(``is_conflict``). A caller whose rejections can also mean "your request is wrong" narrows
it: ``conflict=is_stale`` counts only ``STALE_VERSION`` (a compare-and-swap on a record);
a rejection that is not a conflict ends the loop, and the caller reads it in
``outcome.result.rejected``. A commit that raises ``ConflictError`` is a conflict too.

**Atomic and incremental.** With ``atomic=True`` a conflict rejects the whole commit and
the next attempt plans everything again. With ``atomic=False`` the accepted changes stay
committed; the next attempt plans from a snapshot that holds them. A level-triggered
``plan`` (one that decides "what is still missing" from the snapshot) needs nothing more.
A plan of *counted* work (place 10 tasks) gives ``replan(snapshot, rejected_changes)``,
which plans only the rejected remainder.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Union

import attrs

from clusterkit.errors import ConflictError, ValidationError
from clusterkit.state._changes import Change, CommitResult, Rejection
from clusterkit.state._core import ChangeSource
from clusterkit.state._tokens import TokenClaim

if TYPE_CHECKING:
    from clusterkit.state._core import StateCore
    from clusterkit.state._snapshot import Snapshot

__all__ = [
    "Batches",
    "Planned",
    "Retry",
    "RetryOutcome",
    "commit_with_retry",
    "is_conflict",
    "is_stale",
    "jittered",
]


def _tuples(groups: Iterable[Iterable[Change]]) -> tuple[tuple[Change, ...], ...]:
    return tuple(tuple(group) for group in groups)


@attrs.frozen(slots=True)
class Batches:
    """Several commits decided on one snapshot, each made on its own (each atomic with
    ``atomic=True``): one service's changes must not wait on another's. A conflict in any
    of them plans the attempt again (the batches committed stay committed).
    """

    groups: tuple[tuple[Change, ...], ...] = attrs.field(converter=_tuples)


Planned = Union[Iterable[Change], ChangeSource, Batches, None]
"""What a plan returns: changes, something carrying them (a placement ``Plan``), ``Batches``,
or ``None`` (as an empty list) when there is nothing to do."""


def is_conflict(rejection: Rejection) -> bool:
    """The default: every rejection but ``ABORTED`` means the state moved since the plan."""
    return rejection.reason != "ABORTED"


def is_stale(rejection: Rejection) -> bool:
    """Only a lost compare-and-swap (``STALE_VERSION``) is a conflict; other rejections are final."""
    return rejection.reason == "STALE_VERSION"


def jittered(base: float) -> Callable[[int], float]:
    """A backoff: before attempt ``n + 1``, a random wait in ``[0, base · 2ⁿ⁻¹]`` seconds."""
    if isinstance(base, bool) or not isinstance(base, (int, float)) or base < 0:
        raise ValidationError("backoff", base, "must be a number of seconds >= 0")

    def delay(attempt: int) -> float:
        return random.uniform(0, base * 2 ** (attempt - 1)) if base else 0.0  # jitter, not security

    return delay


@attrs.frozen(slots=True)
class RetryOutcome:
    """What a retry loop did.

    ``results`` are its commits' results in order (``result`` the last, None when nothing
    was committed); ``attempts`` the plans made; ``accepted`` every change committed across
    the attempts; ``conflicts`` every rejection counted as a conflict; ``conflicted`` the
    attempts a conflict sent back to planning; ``gave_up`` True when the last attempt still
    met a conflict. ``unresolved`` are then the rejections of that attempt left undone
    (``ABORTED`` ones included).
    """

    results: tuple[CommitResult, ...]
    attempts: int
    accepted: tuple[Change, ...]
    conflicts: tuple[Rejection, ...]
    conflicted: int
    gave_up: bool
    unresolved: tuple[Rejection, ...] = ()

    @property
    def result(self) -> CommitResult | None:
        """The last commit's result, or None when no commit was made."""
        return self.results[-1] if self.results else None

    @property
    def commits(self) -> int:
        """How many commits were made."""
        return len(self.results)


def _groups(planned: Planned) -> list[list[Change]]:
    if planned is None:
        return []
    if isinstance(planned, Batches):
        return [list(group) for group in planned.groups if group]
    carried: Iterable[Change] | None = getattr(planned, "changes", None)  # a ChangeSource's (no isinstance: slow)
    changes = list(carried if carried is not None else planned)  # type: ignore[arg-type]
    return [changes] if changes else []


class Retry:
    """One plan → commit → plan-again loop, driven a step at a time.

    Call ``plan()`` for the next attempt's commits (an empty list: nothing to do, done),
    then ``commit(groups)``; repeat while ``done`` is False. ``outcome`` tells what
    happened. ``commit_with_retry`` is this loop run at once, with an optional backoff.
    The arguments are ``commit_with_retry``'s, and ``committer``: how one group of changes
    is committed (default: ``state.commit`` in the ``atomic`` mode), for a caller that
    routes its commits through a way of its own (a simulator's bus, which observes each
    commit's events) — it must commit to ``state``.
    """

    def __init__(
        self,
        state: StateCore,
        plan: Callable[[Snapshot], Planned],
        *,
        atomic: bool = False,
        max_attempts: int = 5,
        replan: Callable[[Snapshot, tuple[Change, ...]], Planned] | None = None,
        conflict: Callable[[Rejection], bool] = is_conflict,
        snapshot: Snapshot | None = None,
        committer: Callable[[list[Change]], CommitResult] | None = None,
        client_token: TokenClaim | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("maxAttempts", max_attempts, "must be a positive integer")
        if not isinstance(atomic, bool):
            raise ValidationError("atomic", atomic, "must be true or false")
        self.state = state
        self.atomic = atomic
        self.max_attempts = max_attempts
        self._plan = plan
        self._replan = replan
        self._conflict = conflict
        self._snapshot = snapshot
        self._committer = committer
        self._claim = client_token
        self._again: tuple[Change, ...] | None = None  # the changes a conflict sent back
        self._results: list[CommitResult] = []
        self._accepted: list[Change] = []
        self._conflicts: list[Rejection] = []
        self._unresolved: tuple[Rejection, ...] = ()
        self._planned = False  # a plan waits for its commit
        #: The plans made so far.
        self.attempts = 0
        #: The attempts a conflict sent back to planning.
        self.conflicted = 0
        #: True once no plan or commit is left to make.
        self.done = False
        #: True when the attempts ran out with the last one still meeting a conflict.
        self.gave_up = False

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot the last plan was made from (None before the first)."""
        return self._snapshot

    def plan(self) -> list[list[Change]]:
        """Plan the next attempt on a fresh snapshot; the commits to make ([] when nothing is left)."""
        if self.done or self._planned:
            raise ValidationError("retry", self, "is done, or its last plan is not committed yet")
        self.attempts += 1
        snapshot = self._snapshot = self.state.snapshot() if self._snapshot is None else self._snapshot
        if self._again is not None and self._replan is not None:
            groups = _groups(self._replan(snapshot, self._again))
        else:
            groups = _groups(self._plan(snapshot))
        if not groups:
            self.done = True
        self._planned = not self.done
        return groups

    def commit(self, groups: Sequence[Sequence[Change]]) -> bool:
        """Commit the groups ``plan`` gave; True when the loop is done (no conflict, or no attempt left)."""
        if not self._planned:
            raise ValidationError("retry", self, "has no plan to commit: call plan() first")
        self._planned = False
        again: list[Change] = []
        unresolved: list[Rejection] = []
        moved = False
        for group in groups:
            try:
                if self._committer is not None:
                    result = self._committer(list(group))
                elif self._claim is None:  # (a subclass's commit may not take a token)
                    result = self.state.commit(list(group), atomic=self.atomic)
                else:
                    result = self.state.commit(list(group), atomic=self.atomic, client_token=self._claim)
            except ConflictError:  # a store that lost the race outright: all of it again
                moved = True
                again.extend(group)
                continue
            self._results.append(result)
            self._accepted.extend(result.accepted)
            found = [
                rejection
                for rejection in result.rejected
                if rejection.reason != "ABORTED" and self._conflict(rejection)
            ]
            if found:
                moved = True
                self._conflicts.extend(found)
                retried = [r for r in result.rejected if r.reason == "ABORTED" or self._conflict(r)]
                unresolved.extend(retried)
                again.extend(rejection.change for rejection in retried)
        self._snapshot = None  # the next plan reads the state as it is now, after these commits
        if not moved:
            self.done = True
            return True
        self.conflicted += 1
        self._again = tuple(again)
        self._unresolved = tuple(unresolved)
        if self.attempts >= self.max_attempts:
            self.done = self.gave_up = True
        return self.done

    @property
    def outcome(self) -> RetryOutcome:
        """What the loop did so far."""
        return RetryOutcome(
            tuple(self._results),
            self.attempts,
            tuple(self._accepted),
            tuple(self._conflicts),
            self.conflicted,
            self.gave_up,
            self._unresolved if self.gave_up else (),
        )


def commit_with_retry(
    state: StateCore,
    plan: Callable[[Snapshot], Planned],
    *,
    atomic: bool = False,
    max_attempts: int = 5,
    backoff: Callable[[int], float] | None = None,
    sleep: Callable[[float], object] = time.sleep,
    replan: Callable[[Snapshot, tuple[Change, ...]], Planned] | None = None,
    conflict: Callable[[Rejection], bool] = is_conflict,
    snapshot: Snapshot | None = None,
    client_token: TokenClaim | None = None,
) -> RetryOutcome:
    """Commit what ``plan(snapshot)`` decides, deciding again from a fresh snapshot on a conflict.

    ``plan`` must be free of effects on the state (it may be called ``max_attempts`` times)
    and returns the changes to commit, or ``None``/nothing when there is nothing to do (no
    commit is made). ``atomic`` is the commit mode. After an attempt that met a conflict
    (see ``conflict``, default ``is_conflict``) the loop sleeps ``backoff(attempt)`` seconds
    (none without a backoff: simulated time, or a loop that already paces itself) and plans
    again from a snapshot taken after that commit — never an older one. With ``replan``, an
    attempt after a conflict calls ``replan(snapshot, changes)`` with the changes the
    conflict sent back instead of ``plan``. The first plan uses ``snapshot`` if given.
    ``client_token`` goes with every commit (``StateCore.commit``): a commit that finds the
    token held by another call writes nothing, and the loop ends.

    Errors that ``plan`` or ``commit`` raise (a ValidationError, a StoreError) pass
    through; what was committed before stays committed.
    """
    retry = Retry(
        state,
        plan,
        atomic=atomic,
        max_attempts=max_attempts,
        replan=replan,
        conflict=conflict,
        snapshot=snapshot,
        client_token=client_token,
    )
    while not retry.done:
        groups = retry.plan()
        if not groups:
            break
        if not retry.commit(groups) and backoff is not None:
            delay = backoff(retry.attempts)
            if delay > 0:
                sleep(delay)
    return retry.outcome
