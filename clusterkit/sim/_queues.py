"""The batch queues and the schedulers that serve them, the way Omega's schedulers work.

Batch tasks are handed to the schedulers' queues in turn. A scheduler wakes, takes what
waits in its queue as one request per task definition (of at most ``batch_size`` tasks),
plans each on a snapshot with the policy's real ``Scheduler`` and commits the plan
``decision_time`` seconds later: meanwhile other writers may have taken the room, and the
placements the state rejects are planned again at once, up to ``max_attempts`` times a
pass (they are *conflicts* when another scheduler committed in between). A task no
instance could take waits, set aside, until the cluster's capacity changes (an instance
comes or goes, or a task stops): the queues learn that from the state's events.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator

import attrs

from clusterkit.api import ClusterState
from clusterkit.model import PlacementStrategy, Resources
from clusterkit.placement import PlacementRequest, Plan, Scheduler
from clusterkit.sim._bus import Bus
from clusterkit.sim._clock import Timeline
from clusterkit.state import Change, CommitResult, ContainerInstanceChanged, Event, Retry, Snapshot, TaskChanged

__all__ = ["Queues"]


@attrs.define
class _Waiting:
    """A batch task waiting for a scheduler."""

    definition: str
    arrival: float
    duration: float
    epoch: int = -1  # the capacity epoch of its last failed try (-1: not tried)


@attrs.define
class _Request:
    """Batch tasks of one definition planned together, and the retry loop placing them."""

    items: list[_Waiting]
    retry: Retry = attrs.field(init=False)
    plan: Plan | None = None  # the last plan made
    result: CommitResult | None = None  # the last commit's result


class Queues:
    """``schedulers`` batch queues, each served by a scheduler of its own.

    The counts are the run's figures for batch tasks (see ``RunMetrics``): ``submitted``,
    ``placed``, ``transactions``, ``conflicted``, ``conflicts``, ``retries``, ``failures``
    (per reason) and ``waits`` (seconds from arrival to placement, of each placed task;
    ``waits_at`` adds those still waiting).
    """

    def __init__(
        self,
        state: ClusterState,
        time: Timeline,
        bus: Bus,
        placed: Callable[[str, float], None],
        *,
        scheduler: Scheduler,
        strategies: tuple[PlacementStrategy, ...],
        schedulers: int,
        decision_time: float,
        batch_size: int,
        max_attempts: int,
    ) -> None:
        self._state = state
        self._time = time
        self._bus = bus
        self._placed = placed
        self._scheduler = scheduler
        self._strategies = strategies
        self._decision_time = decision_time
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._queues: list[deque[_Waiting]] = [deque() for _ in range(schedulers)]
        self._deferred: list[list[_Waiting]] = [[] for _ in range(schedulers)]
        self._busy = [False] * schedulers
        self._next_queue = 0
        self._epoch = 0  # counts the changes of capacity: instances changed, tasks stopped
        self.submitted = 0
        self.placed = 0
        self.transactions = 0
        self.conflicted = 0
        self.conflicts = 0
        self.retries = 0
        self.failures: Counter[str] = Counter()
        self.waits: list[float] = []

    # -- what waits ------------------------------------------------------------------------

    def submit(self, definition: str, count: int, duration: float) -> None:
        """``count`` tasks of ``definition`` arrive now, each to run ``duration`` s: to the next queue."""
        queue = self._queues[self._next_queue]
        self._next_queue = (self._next_queue + 1) % len(self._queues)
        arrival = self._time.now
        queue.extend(_Waiting(definition, arrival, duration) for _ in range(count))
        self.submitted += count

    def waiting(self) -> Iterator[_Waiting]:
        """Every batch task waiting for a scheduler: in the queues, and set aside until room comes."""
        for items in (*self._queues, *self._deferred):
            yield from items

    def pending(self) -> int:
        """How many batch tasks wait."""
        return sum(1 for _ in self.waiting())

    def waiting_shapes(self) -> Counter[Resources]:
        """The shapes of the batch tasks waiting for a scheduler: they wait for capacity too."""
        snapshot = self._state.snapshot()
        by_definition = Counter(item.definition for item in self.waiting())
        shapes: Counter[Resources] = Counter()
        for definition, count in by_definition.items():
            shapes[snapshot.task_definition(definition).charge] += count
        return shapes

    def waits_at(self, end: float) -> list[float]:
        """Every batch task's wait, sorted: to its placement, or to ``end`` for those still waiting."""
        return sorted([*self.waits, *(end - item.arrival for item in self.waiting())])

    def can_move(self) -> bool:
        """True while a scheduler is busy or some task waits with a chance to fit."""
        return any(self._busy) or any(item.epoch != self._epoch for item in self.waiting())

    def notice(self, events: list[Event]) -> None:
        """Count the changes of capacity among the commits' events."""
        for event in events:
            if isinstance(event, ContainerInstanceChanged) or (
                isinstance(event, TaskChanged) and event.task.is_stopped
            ):
                self._epoch += 1

    # -- a scheduler's pass ------------------------------------------------------------------

    def wake(self, index: int) -> None:
        """Scheduler ``index`` takes what waits in its queue, one request per shape (unless busy).

        Tasks that failed to fit against the cluster as it still is wait for a change.
        """
        if self._busy[index]:
            return
        waiting = [*self._deferred[index], *self._queues[index]]
        self._deferred[index] = []
        self._queues[index].clear()
        groups: dict[str, list[_Waiting]] = {}
        for item in waiting:
            if item.epoch == self._epoch:
                self._deferred[index].append(item)
            else:
                groups.setdefault(item.definition, []).append(item)
        size = self._batch_size
        requests = deque(
            self._request(group[at : at + size]) for group in groups.values() for at in range(0, len(group), size)
        )
        self._serve(index, requests)

    # A request's plan, commit, plan-again-on-rejection loop is the state's own ``Retry``,
    # driven a step at a time so the clock can move between a plan and its commit.

    def _serve(self, index: int, requests: deque[_Request]) -> None:
        """Plan and commit ``requests`` in turn; rejected placements are planned again at once, a few times."""
        while requests:
            request = requests[0]
            groups = request.retry.plan()
            snapshot = request.retry.snapshot
            assert snapshot is not None  # a plan was just made from it
            if self._decision_time > 0:
                self._busy[index] = True

                def commit(groups: list[list[Change]] = groups, version: int = snapshot.version) -> None:
                    self._busy[index] = False
                    self._commit(index, requests, groups, version)
                    self._serve(index, requests)

                self._time.after(self._decision_time, commit)
                return
            self._commit(index, requests, groups, snapshot.version)

    def _request(self, items: list[_Waiting]) -> _Request:
        """A request for ``items`` (one definition), its retry loop committing through the bus."""
        request = _Request(items)

        def plan(snapshot: Snapshot, _rejected: tuple[Change, ...] = ()) -> Plan:
            definition = snapshot.task_definition(request.items[0].definition)
            placement = PlacementRequest(definition, len(request.items), strategies=self._strategies)
            request.plan = self._scheduler.place(snapshot, placement)
            return request.plan

        def commit(changes: list[Change]) -> CommitResult:
            request.result = self._bus.commit(changes)
            return request.result

        request.retry = Retry(self._state, plan, replan=plan, max_attempts=self._max_attempts, committer=commit)
        return request

    def _commit(self, index: int, requests: deque[_Request], groups: list[list[Change]], version: int) -> None:
        """Commit the first request's plan, made on the snapshot at ``version``: its placed items
        leave it, its rejected ones stay for the next attempt (back in the queue once the attempts
        run out), and those no instance could take wait for the capacity to change. Rejections are
        conflicts when another scheduler committed since that snapshot.
        """
        request = requests[0]
        items = request.items
        placed = rejected = 0
        if groups:
            contested = self._bus.scheduled_at > version
            request.retry.commit(groups)
            result = request.result
            assert result is not None  # the retry committed through the request's committer
            self.transactions += 1
            rejected = len(result.rejected)
            rejections = sum(1 for rejection in result.rejected if rejection.reason != "ABORTED")
            self.retries += rejections
            if rejections and contested:
                self.conflicted += 1
                self.conflicts += rejections
            now = self._time.now
            for change, item in zip(result.accepted, items, strict=False):
                self._placed(change.task.id, item.duration)  # type: ignore[union-attr]
                self.waits.append(now - item.arrival)
            placed = len(result.accepted)
        self.placed += placed
        failed = items[placed + rejected :]
        assert request.plan is not None  # planned before every commit
        for unplaced, item in zip(request.plan.unplaced, failed, strict=False):
            self.failures[unplaced.reason] += 1
            item.epoch = self._epoch
        self._deferred[index].extend(failed)
        request.items = items[placed : placed + rejected]
        if request.retry.done:
            requests.popleft()
            self._queues[index].extendleft(reversed(request.items))  # rejected every time: a later pass
