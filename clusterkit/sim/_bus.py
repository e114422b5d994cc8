"""The run's one way into the state and back out: commits, counted, and their events.

The stages never reach into each other: what one does reaches the others as a commit to
the ``ClusterState`` and, after it, as the events ``observe`` hands to every listener in
turn. The hosts' reports are queued for the moment (``report``) and committed together
(``flush``); a scheduler's plan is committed with ``commit``; the real code's own loops
(the service scheduler, the autoscalers) run with ``step``. Each of them first commits the
reports queued so far and ends by observing, so a listener sees every commit in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from clusterkit.api import ClusterState
from clusterkit.model import Task
from clusterkit.state import Change, CommitResult, Event, TaskStateChange

__all__ = ["Bus", "Listener"]

Listener = Callable[[list[Event]], None]
"""Called with the events of the commits since the last call, in commit order."""


class Bus:
    """Commits to ``state`` for the run's stages, and the events back to its listeners.

    ``commits`` counts the commits made through it; ``scheduled_at`` is the version of the
    newest commit a scheduler made (a batch scheduler's plan, or a service scheduler's pass
    that changed something), 0 before any.
    """

    __slots__ = ("_due", "_events", "_listeners", "commits", "scheduled_at", "state")

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self._events = state.subscribe(capacity=1 << 30)
        self._listeners: list[Listener] = []
        self._due: dict[str, TaskStateChange] = {}
        self.commits = 0
        self.scheduled_at = 0

    def listen(self, listener: Listener) -> None:
        """Hand ``listener`` the events of every later commit (after the listeners before it)."""
        self._listeners.append(listener)

    def report(self, task: Task, **fields: Any) -> None:
        """Queue an agent's report on ``task`` for this moment's commit."""
        if task.id in self._due:
            self.flush()
            task = self.state.snapshot().task(task.id)
        self._due[task.id] = TaskStateChange(task.id, task.version, **fields)

    def flush(self) -> None:
        """Commit the reports queued for this moment, if any, and observe that commit.

        Every way into the state observes once it is done (``replay`` writes are observed by
        the run right after them), so with nothing queued there is nothing new to observe.
        """
        if self._due:
            changes: list[Change] = list(self._due.values())
            self._due.clear()
            self.state.commit(changes)
            self.commits += 1
            self.observe()

    def observe(self) -> None:
        """Hand the events of every commit since the last call to the listeners."""
        events = self._events.drain()
        if events:
            for listener in self._listeners:
                listener(events)

    def commit(self, changes: Iterable[Change]) -> CommitResult:
        """A scheduler's plan: the reports queued first, then ``changes``, then observe."""
        self.flush()
        result = self.state.commit(changes)
        self.commits += 1
        if result.accepted:
            self.scheduled_at = result.version
        self.observe()
        return result

    def step(self, action: Callable[[], object], *, schedules: bool = False) -> None:
        """Run one pass of the real code's own loop; ``schedules``: it is a scheduler's."""
        self.flush()
        before = self.state.snapshot().version if schedules else 0
        action()
        if schedules:
            after = self.state.snapshot().version
            if after != before:
                self.scheduled_at = after
        self.observe()

    def close(self) -> None:
        """Stop receiving events."""
        self._events.close()
