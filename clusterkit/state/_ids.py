"""Ids for tasks and instances: 32 hex digits that sort in creation order.

The first 14 digits are microseconds since the epoch, the next 4 a per-process counter and
the last 14 random, so ids from one process sort by creation and ids from many processes
do not collide. Sorting by id is how list calls page in creation order.

``repeatable_ids(seed)`` makes the ids of the process repeatable while it is active (a
counter and a seeded random part): the simulator uses it so one seed gives one run.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator

__all__ = ["new_id", "repeatable_ids"]

_lock = threading.Lock()
_last = [0, 0]  # microseconds and sequence of the newest id
_random = random.Random()


_repeatable: list[tuple[list[int], random.Random]] = []  # the active repeatable_ids, innermost last


def new_id() -> str:
    """A new id: 32 lowercase hex digits, larger than every id this process made before."""
    with _lock:
        if _repeatable:
            counter, rng = _repeatable[-1]
            counter[0] += 1
            return f"{counter[0]:018x}{rng.getrandbits(56):014x}"
        now = time.time_ns() // 1000
        micros, sequence = _last
        if now > micros:
            micros, sequence = now, 0
        else:
            sequence += 1
            if sequence > 0xFFFF:
                micros, sequence = micros + 1, 0
        _last[0], _last[1] = micros, sequence
        return f"{micros:014x}{sequence:04x}{_random.getrandbits(56):014x}"


@contextlib.contextmanager
def repeatable_ids(seed: int) -> Iterator[None]:
    """Within the block, ``new_id`` gives the same ids in the same order for the same ``seed``.

    They still sort in creation order (a counter leads them). Meant for one simulation at a
    time: ids made by other threads meanwhile come from the same sequence.
    """
    with _lock:
        _repeatable.append(([0], random.Random(seed)))
    try:
        yield
    finally:
        with _lock:
            _repeatable.pop()
