"""The run's time: an event heap of actions, in time order, and the clock the real code reads.

Actions due at the same moment run in the order they were set, so one run replays exactly.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from clusterkit.state import SimulatedClock

__all__ = ["Timeline"]


class Timeline:
    """Simulated seconds since the workload's start (``now``), and what is set to run when.

    ``clock`` is the ``SimulatedClock`` the real code reads: it shows ``epoch + now``.
    """

    __slots__ = ("_sequence", "_timers", "clock", "epoch", "now")

    def __init__(self, epoch: float) -> None:
        self.epoch = epoch
        self.clock = SimulatedClock(epoch)
        self.now = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at ``when`` (after the actions set for that moment before it)."""
        heapq.heappush(self._timers, (when, next(self._sequence), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` seconds from now."""
        heapq.heappush(self._timers, (self.now + delay, next(self._sequence), action))

    def every(self, interval: float, action: Callable[[], None], offset: float = 0.0) -> None:
        """Run ``action`` every ``interval`` seconds from ``offset``."""

        def tick() -> None:
            action()
            self.at(self.now + interval, tick)

        self.at(offset, tick)

    def next_due(self) -> float:
        """When the earliest action is set for (infinity with none)."""
        return self._timers[0][0] if self._timers else float("inf")

    def advance(self, when: float) -> None:
        """Move ``now`` (and the clock) on to ``when``."""
        self.now = when
        self.clock.now = self.epoch + when

    def run_due(self, when: float) -> None:
        """Run every action set for ``when`` or before, in order (those they set for then too)."""
        timers = self._timers
        while timers and timers[0][0] <= when:
            heapq.heappop(timers)[2]()
