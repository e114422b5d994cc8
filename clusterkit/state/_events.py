"""Events: what every commit tells its watchers, and bounded subscriptions to them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Union

import attrs

from clusterkit.errors import SubscriptionOverflow, ValidationError
from clusterkit.model import ContainerInstance, Service, Task, TaskDefinition

if TYPE_CHECKING:
    from clusterkit.state._snapshot import Snapshot

__all__ = [
    "ContainerInstanceChanged",
    "Event",
    "ServiceChanged",
    "Subscription",
    "TaskDefinitionChanged",
    "TaskChanged",
]


@attrs.frozen(slots=True)
class TaskChanged:
    """A task was created or changed; ``task`` is its new value (with its new version)."""

    version: int
    task: Task


@attrs.frozen(slots=True)
class ContainerInstanceChanged:
    """A container instance was registered, changed or deregistered."""

    version: int
    instance: ContainerInstance


@attrs.frozen(slots=True)
class TaskDefinitionChanged:
    """A task definition was registered or deregistered."""

    version: int
    task_definition: TaskDefinition


@attrs.frozen(slots=True)
class ServiceChanged:
    """A service was created, updated, or changed by the service scheduler."""

    version: int
    service: Service


Event = Union[TaskChanged, ContainerInstanceChanged, TaskDefinitionChanged, ServiceChanged]


class Subscription:
    """A bounded, ordered stream of events from one ClusterState.

    Events arrive in commit order. When the buffer is full the subscription stops
    buffering and, once the buffered events are read, ``get`` raises
    ``SubscriptionOverflow``; call ``resync`` for a fresh snapshot, after which
    events newer than that snapshot flow again. Nothing is ever lost silently.
    """

    def __init__(
        self, capacity: int, resync: Callable[[Subscription], Snapshot], close: Callable[[Subscription], None]
    ) -> None:
        if type(capacity) is not int or capacity < 1:
            raise ValidationError("capacity", capacity, "must be a positive integer")
        self.capacity = capacity
        self._buffer: deque[Event] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._overflowed = False
        self._cause: str | None = None  # why events were lost, when the buffer did not fill up
        self._last_version = 0
        self._resync = resync
        self._close = close
        self._listener: Callable[[], object] | None = None
        self.closed = False

    def _deliver(self, events: tuple[Event, ...]) -> None:
        """Called by the state, in commit order; events not newer than the last delivered
        (or than the snapshot of a resync) are already known and dropped.
        """
        with self._ready:
            if self._overflowed:
                return
            if events and events[0].version <= self._last_version:
                events = tuple(event for event in events if event.version > self._last_version)
                if not events:
                    return
            if len(self._buffer) + len(events) > self.capacity:
                self._overflowed = True
                self._cause = None
            else:
                self._buffer.extend(events)
                self._last_version = events[-1].version
            self._ready.notify_all()
        self._call_listener()

    def listen(self, listener: Callable[[], object] | None) -> None:
        """Call ``listener()`` whenever events arrive, events are lost or the subscription
        closes (None: stop). It runs in the committing thread, so it must be quick and must
        not commit: setting a ``threading.Event`` that wakes a loop is what it is for.
        """
        self._listener = listener

    def _call_listener(self) -> None:
        listener = self._listener
        if listener is not None:
            listener()

    def _lose(self, cause: str) -> None:
        """Events were lost (the store read everything again, for ``cause``): the reader must resync."""
        with self._ready:
            if not self._overflowed:
                self._cause = cause
            self._overflowed = True
            self._ready.notify_all()
        self._call_listener()

    def _restart(self, version: int) -> None:
        with self._ready:
            self._buffer.clear()
            self._overflowed = False
            self._cause = None
            self._last_version = version

    @property
    def overflowed(self) -> bool:
        """True when events were dropped and a resync is needed."""
        return self._overflowed

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; ``None`` when none came within ``timeout`` seconds.

        Raises SubscriptionOverflow once the buffered events are used up after an overflow.
        """
        with self._ready:
            if not self._buffer and not self._overflowed and not self.closed:
                self._ready.wait(timeout)
            if self._buffer:
                return self._buffer.popleft()
            if self._overflowed:
                raise SubscriptionOverflow(self._last_version, self.capacity, self._cause)
            return None

    def drain(self) -> list[Event]:
        """Every event buffered now, without waiting. O(events).

        After an overflow it raises SubscriptionOverflow (the events buffered before it are
        dropped with it: a resync replaces them).
        """
        with self._ready:
            events = list(self._buffer)
            self._buffer.clear()
            if self._overflowed:
                raise SubscriptionOverflow(self._last_version, self.capacity, self._cause)
            return events

    def __iter__(self) -> Iterator[Event]:
        return iter(self.drain())

    def resync(self) -> Snapshot:
        """A fresh snapshot; events newer than it are delivered from now on."""
        return self._resync(self)

    def close(self) -> None:
        """Stop receiving events and wake any waiting reader."""
        self._close(self)
        with self._ready:
            self.closed = True
            self._ready.notify_all()
        self._call_listener()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
