"""The wall-clock loop of the components that step on a timer: step, wait, again, until stopped.

A step the store cannot take (``StoreError``: etcd without quorum) does not end the loop;
the next step tries again. The liveness monitor, the service autoscaler and the cluster
autoscaler run on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from clusterkit.errors import ClusterkitError, StoreError

__all__ = ["step_every"]


def step_every(
    step: Callable[[], object],
    stop: threading.Event,
    interval: float,
    *,
    survive: tuple[type[ClusterkitError], ...] = (StoreError,),
    report: Callable[[str | None], None] | None = None,
) -> None:
    """Call ``step`` every ``interval`` seconds (start to start) until ``stop`` is set.

    A step that raises one of ``survive`` is tried again on the next one; ``report`` hears
    each step's error (None when it went through).
    """
    while not stop.is_set():
        started = time.monotonic()
        error: str | None = None
        try:
            step()
        except survive as failure:
            error = str(failure)
        if report is not None:
            report(error)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
