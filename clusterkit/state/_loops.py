"""The run loop of the long-running components: notice, step, wait, again, until stopped.

Every component that keeps something in step with the state — the service scheduler, the
load balancer controller, the agent, the liveness monitor, the autoscalers, and yours — has
a pure-ish ``step()`` that does one pass, and a ``run(stop, *, interval=...)`` that calls
``run_loop``, which

* (optionally) follows the state's commits: before each step it drains the subscription
  and hands the events to ``notice``; a commit wakes the loop at once;
* calls ``step``;
* waits until the next commit, the component's own ``next_wake`` (a time on the state's
  clock: a grace period ending), or ``interval`` seconds after the step began — whichever
  comes first (another ``wake`` event, such as an executor's, may cut the wait short);
* survives a failed step in one way: ``StoreError`` (etcd without quorum; ``survive`` may
  widen it) is handed to ``report`` (which keeps its reason, say in ``store_error``), the
  loop waits ``interval`` and the next step is a full pass (``resync`` is called with a
  fresh snapshot first); a good step reports ``None``;
* survives falling behind the commits (``SubscriptionOverflow``) in one way: it resyncs the
  subscription and hands the fresh snapshot to ``resync``;
* ends promptly when ``stop`` is set, even in the middle of a wait.

``step_every`` is the special case of a component that only steps on a timer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from clusterkit.errors import StoreError, SubscriptionOverflow, ValidationError

if TYPE_CHECKING:
    from clusterkit.state._core import StateCore
    from clusterkit.state._events import Event, Subscription
    from clusterkit.state._snapshot import Snapshot

__all__ = ["run_loop", "step_every"]

_WATCH = 0.5
"""How often the thread that turns ``stop`` into a wake-up checks that its loop still runs."""


def run_loop(
    stop: threading.Event,
    step: Callable[[], object],
    *,
    interval: float,
    state: StateCore | None = None,
    notice: Callable[[Sequence[Event]], object] | None = None,
    resync: Callable[[Snapshot], object] | None = None,
    next_wake: Callable[[], float | None] | None = None,
    survive: tuple[type[BaseException], ...] = (StoreError,),
    report: Callable[[BaseException | None], object] | None = None,
    wake: threading.Event | None = None,
    capacity: int = 10_000,
) -> None:
    """Step until ``stop`` is set: see the module's docstring for the loop.

    ``interval``: the longest wait between the starts of two steps (and the wait after a
    failed one). ``state``: follow its commits (a subscription, closed when the loop ends).
    ``notice(events)``: the events drained before a step. ``resync(snapshot)``: after an
    overflow or a survived failure, before the next step. ``next_wake()``: the component's
    next wake-up on the state's clock, or None. ``survive``: the errors a step may raise
    without ending the loop; ``report(error)`` hears each (and ``None`` after each good step).
    ``wake``: an event others may set to cut a wait short (the loop clears it each pass).
    ``capacity``: the subscription's buffer (a step that lets more commits pile up resyncs).
    Any other error ends the loop and propagates.
    """
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval >= 0:
        raise ValidationError("interval", interval, "must be a number of seconds >= 0")
    if state is None and (notice, resync, next_wake) != (None, None, None):
        raise ValidationError("state", state, "notice, resync and next_wake need the state to follow")
    subscription = state.subscribe(capacity) if state is not None else None
    if subscription is None and wake is None:
        _loop(stop, step, interval, None, None, notice, resync, next_wake, survive, report, stop)
        return
    woken = wake if wake is not None else threading.Event()
    finished = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stop, woken, finished), name="clusterkit-loop-stop", daemon=True)
    watcher.start()
    if subscription is not None:
        subscription.listen(woken.set)
    try:
        _loop(stop, step, interval, state, subscription, notice, resync, next_wake, survive, report, woken)
    finally:
        finished.set()
        if subscription is not None:
            subscription.listen(None)
            subscription.close()


def _watch(stop: threading.Event, wake: threading.Event, finished: threading.Event) -> None:
    """Turn ``stop`` into a wake-up of the loop's wait, until the loop ends."""
    while not finished.is_set():
        if stop.wait(_WATCH):
            wake.set()
            return


def _loop(
    stop: threading.Event,
    step: Callable[[], object],
    interval: float,
    state: StateCore | None,
    subscription: Subscription | None,
    notice: Callable[[Sequence[Event]], object] | None,
    resync: Callable[[Snapshot], object] | None,
    next_wake: Callable[[], float | None] | None,
    survive: tuple[type[BaseException], ...],
    report: Callable[[BaseException | None], object] | None,
    wake: threading.Event,
) -> None:
    full = False  # the next step starts with a resync: events were lost, or a step failed
    while not stop.is_set():
        started = time.monotonic()
        if wake is not stop:
            wake.clear()
            if stop.is_set():  # set before the clear: its wake-up was just cleared
                return
        try:
            events: Sequence[Event] = ()
            if subscription is not None:
                try:
                    events = subscription.drain()
                except SubscriptionOverflow:
                    full = True
            if full:
                if subscription is not None:
                    snapshot: Snapshot | None = subscription.resync()
                else:
                    snapshot = state.snapshot() if state is not None and resync is not None else None
                if resync is not None and snapshot is not None:
                    resync(snapshot)
                full = False
            if events and notice is not None:
                notice(events)
            step()
        except survive as failure:
            if report is not None:
                report(failure)
            full = True
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
            continue
        if report is not None:
            report(None)
        timeout = interval - (time.monotonic() - started)
        if next_wake is not None and state is not None:
            at = next_wake()
            if at is not None:
                timeout = min(timeout, at - state.clock())
        if timeout > 0:
            wake.wait(timeout)


def step_every(
    step: Callable[[], object],
    stop: threading.Event,
    interval: float,
    *,
    survive: tuple[type[BaseException], ...] = (StoreError,),
    report: Callable[[str | None], None] | None = None,
) -> None:
    """Call ``step`` every ``interval`` seconds (start to start) until ``stop`` is set.

    ``run_loop`` without a subscription: a step that raises one of ``survive`` is tried
    again on the next one; ``report`` hears each step's error message (None when it went
    through).
    """

    def heard(error: BaseException | None) -> None:
        if report is not None:
            report(None if error is None else str(error))

    run_loop(stop, step, interval=interval, survive=survive, report=heard)
