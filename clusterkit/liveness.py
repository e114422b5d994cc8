"""Agent liveness: mark the instances whose agents went silent ``agentConnected: false``.

An ``Agent`` says it is alive by stamping its instance's ``last_heartbeat_at`` (a commit at
most every ``heartbeat_interval`` seconds). A ``LivenessMonitor`` — a small control loop,
usually run beside a scheduler — marks every connected instance whose agent has been silent
longer than ``timeout`` disconnected; schedulers place nothing there from then on, as they
skip every disconnected instance. The agent marks its instance connected again on its next
heartbeat, should it come back.

The time an instance was last heard of is its last heartbeat, or its registration before
the first one, both in the state's clock: the monitor and the agents must share a clock
(one process, or machines kept in step by NTP; a simulated clock in tests).

On a store that keeps leases (``EtcdStore``: each agent holds an etcd lease with a TTL
that it keeps alive, attached to a liveness key), the lease decides instead: a connected
instance whose agent holds no live lease is silent, however recent its last heartbeat, and
``timeout`` is not used; etcd's clock alone measures the TTL, so no two machines' clocks
need agree. An agent takes its lease before it registers its instance, so an instance that
never had an agent holding one (registered by hand) is disconnected by such a monitor.

Several monitors may run at once (one per scheduler process): each disconnect is committed
with the instance's version, so a heartbeat that lands first wins and a second monitor's
commit of the same disconnect is refused as stale, changing nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from clusterkit.api import ClusterState
from clusterkit.errors import ValidationError
from clusterkit.model import ContainerInstance
from clusterkit.state import LeaseStore, Snapshot, UpdateInstance, run_loop

__all__ = ["LivenessMonitor"]


class LivenessMonitor:
    """Marks instances whose agents have been silent longer than ``timeout`` seconds disconnected.

    ``clock`` defaults to the state's. ``step()`` does one pass; ``run()`` steps every
    ``interval`` seconds until ``stop`` is set or :meth:`close` is called.
    """

    def __init__(self, state: ClusterState, *, timeout: float = 30.0, clock: Callable[[], float] | None = None) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValidationError("timeout", timeout, "must be a number of seconds > 0")
        self.state = state
        self.timeout = float(timeout)
        self.clock = clock if clock is not None else state.clock
        self._stop = threading.Event()
        #: Why the last step of :meth:`run` failed in the store (etcd away); None once one succeeds.
        self.store_error: str | None = None

    def silent(self, snapshot: Snapshot) -> Iterator[ContainerInstance]:
        """The connected, registered instances of ``snapshot`` whose agents went silent."""
        store = self.state.store
        live = store.live_agents() if isinstance(store, LeaseStore) else None
        now = self.clock()
        for instance in snapshot.instances():
            if instance.status == "INACTIVE" or not instance.agent_connected:
                continue
            if live is not None:
                if instance.id not in live:
                    yield instance
                continue
            heard = instance.last_heartbeat_at if instance.last_heartbeat_at is not None else instance.registered_at
            if now - heard > self.timeout:
                yield instance

    def step(self) -> list[str]:
        """Mark the silent instances disconnected; returns the ids this call marked, sorted."""
        changes = [
            UpdateInstance(instance.id, agent_connected=False, expected_version=instance.version)
            for instance in sorted(self.silent(self.state.snapshot()), key=lambda instance: instance.id)
        ]
        if not changes:
            return []
        result = self.state.commit(changes)  # a heartbeat or another monitor first: refused as stale
        return [change.instance_id for change in result.accepted if isinstance(change, UpdateInstance)]

    def run(self, stop: threading.Event | None = None, *, interval: float = 1.0) -> None:
        """Step every ``interval`` seconds until ``stop`` is set (by default the monitor's
        own event, which :meth:`close` sets). A step the store cannot take (``StoreError``:
        etcd without quorum) is tried again on the next one; ``store_error`` holds its reason
        meanwhile.
        """
        run_loop(stop if stop is not None else self._stop, self.step, interval=interval, report=self._report)

    def _report(self, error: BaseException | None) -> None:
        self.store_error = None if error is None else str(error)

    def close(self) -> None:
        """Ask :meth:`run` (without a ``stop`` of its own) to return."""
        self._stop.set()
