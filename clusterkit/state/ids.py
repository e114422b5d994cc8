"""Ids for tasks and instances: 32 hex digits that sort in creation order.

The first 14 digits are microseconds since the epoch, the next 4 a per-process counter and
the last 14 random, so ids from one process sort by creation and ids from many processes
do not collide. Sorting by id is how list calls page in creation order.
"""

from __future__ import annotations

import random
import threading
import time

__all__ = ["new_id"]

_lock = threading.Lock()
_last = [0, 0]  # microseconds and sequence of the newest id
_random = random.Random()


def new_id() -> str:
    """A new id: 32 lowercase hex digits, larger than every id this process made before."""
    with _lock:
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
