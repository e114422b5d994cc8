"""A clock for simulated time: the state, the schedulers and the agents read it; tests and the simulator move it."""

from __future__ import annotations

__all__ = ["SimulatedClock"]


class SimulatedClock:
    """A clock that moves only when told: ``clock()`` reads it, ``advance(seconds)`` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The time now, in seconds since the epoch."""
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock on by ``seconds`` (not backwards); returns the new time."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self.now += seconds
        return self.now
