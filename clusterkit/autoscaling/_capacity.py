"""Cluster capacity: the CapacityProviderReservation metric, from a snapshot or kept incrementally.

``CapacityProviderReservation = M / N · 100``, as ECS's capacity providers define it:

* **N** is the number of the provider's instances that are registered (ACTIVE or DRAINING,
  not INACTIVE). An instance belongs to a provider when its attribute
  ``clusterkit.capacity-provider`` (``CAPACITY_PROVIDER_ATTRIBUTE``) names it; the provider
  sets it when it registers the instance.
* **Waiting tasks** ("provisioning" in ECS): clusterkit places a task at once or not at all,
  so what waits for capacity is a service's shortfall. For every ACTIVE REPLICA service
  with a deployment (whose PRIMARY deployment the circuit breaker has not FAILED),
  ``desiredCount`` less its tasks that are not STOPPED and not being stopped (desired
  status RUNNING) wait, each with the charge of the PRIMARY deployment's task definition.
  DAEMON services add nothing (a daemon follows the instances), and neither do standalone
  tasks (``run_task`` fails a task it cannot place at once).
* **M**: with tasks waiting, ``N`` plus the number of new instances a first-fit-decreasing
  bin-pack of the waiting shapes onto the provider's instance shape needs (a shape that
  does not fit an empty instance is ignored: it stays waiting and asks for nothing); with
  none waiting, the number of the provider's instances running at least one non-daemon
  task (a task not STOPPED whose service is not a DAEMON service; an instance running
  only daemon tasks counts as empty).
* The metric is ``M/N·100``; ``N = 0`` gives 200 when ``M > 0`` and 100 when ``M = 0``.
  When tasks wait and all of them are too big for the instance shape, it is the provider's
  ``targetCapacity``: the provider neither scales out for them nor in under them.

``capacity_reservation(snapshot, provider)`` recomputes all of that from a snapshot
(O(tasks + instances + services)); ``ReservationTracker`` keeps the counts from the
state's commit events, so one evaluation costs O(services short of tasks + the bin-pack
of what waits), whatever the size of the cluster.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from clusterkit.errors import SubscriptionOverflow, ValidationError
from clusterkit.model import DEFAULT_RESERVED_PORTS, ContainerInstance, Resources, Service, Task, is_daemon_task
from clusterkit.state import (
    ContainerInstanceChanged,
    Event,
    ServiceChanged,
    Snapshot,
    StateCore,
    TaskChanged,
    TaskDefinitionChanged,
)

__all__ = [
    "CAPACITY_PROVIDER_ATTRIBUTE",
    "SCALE_IN_ATTRIBUTE",
    "CapacityProvider",
    "Reservation",
    "ReservationTracker",
    "capacity_reservation",
    "desired_instances",
    "pack_new_instances",
    "pending_shapes",
    "reservation",
]

CAPACITY_PROVIDER_ATTRIBUTE: Final = "clusterkit.capacity-provider"
"""The instance attribute naming the capacity provider an instance belongs to."""
SCALE_IN_ATTRIBUTE: Final = "clusterkit.scale-in"
"""Set (to the time, in seconds) on an instance the cluster autoscaler drains to terminate it."""


def _check_whole(field: str, value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(field, value, f"must be a whole number in {low}..{high}")
    return value


@attrs.frozen(slots=True)
class CapacityProvider:
    """A capacity provider with managed scaling: the instances it adds all have ``instance_shape``.

    ``instance_shape`` is what one new instance registers (cpu units, memory MiB, the ports
    it reserves, scalars). ``target_capacity`` (1..100, ECS's ``targetCapacity``) is the
    CapacityProviderReservation managed scaling aims at: below 100 keeps spare instances.
    A scale-out or scale-in step is clamped to ``[minimum_scaling_step_size,
    maximum_scaling_step_size]`` (1 and 10,000 as in ECS; a scale-in never goes beyond the
    empty instances or below ``minimum_size``). ``instance_warmup_period`` seconds after a
    scale-out no other scaling happens. With ``managed_termination_protection`` an instance
    to remove is set DRAINING first and terminated only once it holds no non-daemon task;
    without it an empty instance is terminated at once. Either way only instances without
    non-daemon tasks are ever removed. ``minimum_size`` and ``maximum_size`` bound N, as
    the Auto Scaling group's bounds do.
    """

    name: str
    instance_shape: Resources
    target_capacity: int = 100
    minimum_scaling_step_size: int = 1
    maximum_scaling_step_size: int = 10_000
    instance_warmup_period: int = 300
    managed_termination_protection: bool = True
    minimum_size: int = 0
    maximum_size: int = 10_000

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 128:
            raise ValidationError("name", self.name, "must be a string of 1..128 characters")
        if not isinstance(self.instance_shape, Resources):
            raise ValidationError("instanceShape", self.instance_shape, "must be a Resources value")
        if self.instance_shape.cpu <= 0 and self.instance_shape.memory <= 0:
            raise ValidationError("instanceShape", self.instance_shape, "must offer some cpu or memory")
        _check_whole("targetCapacity", self.target_capacity, 1, 100)
        _check_whole("minimumScalingStepSize", self.minimum_scaling_step_size, 1, 10_000)
        _check_whole("maximumScalingStepSize", self.maximum_scaling_step_size, 1, 10_000)
        if self.minimum_scaling_step_size > self.maximum_scaling_step_size:
            raise ValidationError(
                "minimumScalingStepSize",
                self.minimum_scaling_step_size,
                f"must not exceed maximumScalingStepSize ({self.maximum_scaling_step_size})",
            )
        _check_whole("instanceWarmupPeriod", self.instance_warmup_period, 0, 10_000)
        if not isinstance(self.managed_termination_protection, bool):
            raise ValidationError(
                "managedTerminationProtection", self.managed_termination_protection, "must be true or false"
            )
        _check_whole("minimumSize", self.minimum_size, 0, 10_000)
        _check_whole("maximumSize", self.maximum_size, 0, 10_000)
        if self.minimum_size > self.maximum_size:
            raise ValidationError(
                "minimumSize", self.minimum_size, f"must not exceed maximumSize ({self.maximum_size})"
            )

    @classmethod
    def of(
        cls,
        name: str,
        *,
        cpu: int,
        memory: int,
        reserved_ports: Iterable[int] = DEFAULT_RESERVED_PORTS,
        **options: object,
    ) -> CapacityProvider:
        """A provider whose instances offer ``cpu`` units and ``memory`` MiB and reserve ``reserved_ports``."""
        return cls(name, Resources(cpu, memory, frozenset(reserved_ports)), **options)  # type: ignore[arg-type]

    def owns(self, instance: ContainerInstance) -> bool:
        """True when ``instance`` is one of this provider's (its attribute names the provider)."""
        return instance.attribute(CAPACITY_PROVIDER_ATTRIBUTE) == self.name


@attrs.frozen(slots=True)
class Reservation:
    """One evaluation: ``needed`` (M), ``running`` (N), ``metric`` (M/N·100) and what it came from.

    ``waiting`` counts the waiting tasks that fit an instance; ``too_big`` those ignored
    because they fit no instance of the provider's shape; ``busy`` the provider's instances
    running a non-daemon task.
    """

    needed: int
    running: int
    metric: float
    waiting: int = 0
    too_big: int = 0
    busy: int = 0


def _how_many(charge: Resources, room: Resources, limit: int) -> int:
    """How many of ``charge`` (up to ``limit``) fit in ``room`` together."""
    if charge.shortfall(room) is not None:
        return 0
    if charge.ports or charge.ports_udp:
        return 1  # the same host port twice never fits one instance
    most = limit
    if charge.cpu:
        most = min(most, room.cpu // charge.cpu)
    if charge.memory:
        most = min(most, room.memory // charge.memory)
    for name, amount in charge.scalars:
        if amount:
            most = min(most, int(room.scalar(name) // amount))
    return max(1, most)


def _take(room: Resources, charge: Resources, count: int) -> Resources:
    """``room`` with ``count`` of ``charge`` placed in it (known to fit)."""
    if count == 1:
        return room.allocate(charge)
    scalars = room.scalar_map
    for name, amount in charge.scalars:
        scalars[name] = scalars.get(name, 0.0) - amount * count
    return Resources(
        room.cpu - charge.cpu * count,
        room.memory - charge.memory * count,
        room.ports | charge.ports,
        room.ports_udp | charge.ports_udp,
        {name: max(0.0, amount) for name, amount in scalars.items()},
    )


def _size_key(shape: Resources, instance: Resources) -> tuple[object, ...]:
    """Biggest first: by the larger share of the instance's cpu or memory, then a total order."""
    share = max(
        shape.cpu / instance.cpu if instance.cpu else 0.0,
        shape.memory / instance.memory if instance.memory else 0.0,
    )
    return (-share, -shape.cpu, -shape.memory, sorted(shape.ports), sorted(shape.ports_udp), shape.scalars)


def pack_new_instances(shapes: Mapping[Resources, int], instance_shape: Resources) -> tuple[int, int]:
    """``(instances, ignored)``: how many new instances of ``instance_shape`` a first-fit-decreasing
    bin-pack of ``shapes`` (task charge → how many) needs, and how many tasks were ignored
    because they do not fit even an empty instance.

    Biggest shapes first; each task goes to the first instance with room. Tasks of one shape
    are packed together (equivalent to one by one, as first fit puts identical tasks), so the
    cost is O(shapes × instances opened), not O(tasks × instances).
    """
    ignored = 0
    bins: list[Resources] = []
    for shape in sorted(shapes, key=lambda s: _size_key(s, instance_shape)):
        count = shapes[shape]
        if count <= 0:
            continue
        if shape.shortfall(instance_shape) is not None:
            ignored += count
            continue
        for index, room in enumerate(bins):
            if not count:
                break
            fits = _how_many(shape, room, count)
            if fits:
                bins[index] = _take(room, shape, fits)
                count -= fits
        per_instance = _how_many(shape, instance_shape, count) if count else 0
        while count:
            fits = min(per_instance, count)
            bins.append(_take(instance_shape, shape, fits))
            count -= fits
    return len(bins), ignored


def reservation(
    *,
    running: int,
    busy: int,
    waiting: Mapping[Resources, int],
    instance_shape: Resources,
    target_capacity: int = 100,
) -> Reservation:
    """The metric from the counts: ``running`` (N) instances, ``busy`` of them with non-daemon
    tasks, and the ``waiting`` task shapes. Pure.

    When tasks wait and every one of them is too big for ``instance_shape``, the metric is
    ``target_capacity``: no instance of this provider would start them, so it neither scales
    out for them nor in under them (ECS's managed scaling does the same).
    """
    new, ignored = pack_new_instances(waiting, instance_shape)
    fitting = sum(count for count in waiting.values() if count > 0) - ignored
    needed = running + new if new else busy
    if ignored and not fitting:
        metric = float(target_capacity)
    else:
        metric = (200.0 if needed > 0 else 100.0) if running == 0 else needed * 100.0 / running
    return Reservation(needed, running, metric, fitting, ignored, busy)


def _short_by(service: Service, live: int) -> int:
    """How many tasks ``service`` waits for, given ``live`` tasks not STOPPED and desired RUNNING."""
    if service.status != "ACTIVE" or service.scheduling_strategy != "REPLICA" or not service.deployments:
        return 0
    if service.deployments[0].rollout_state == "FAILED":
        return 0  # the circuit breaker stopped its launches: room would not start them
    return max(0, service.desired_count - live)


def pending_shapes(snapshot: Snapshot) -> Counter[Resources]:
    """The task shapes waiting for capacity in ``snapshot`` (see the module's text). O(services' tasks)."""
    shapes: Counter[Resources] = Counter()
    definitions = snapshot.task_definitions_by_key
    for service in snapshot.services():
        if _short_by(service, 0) == 0:
            continue
        live = sum(1 for task in snapshot.service_tasks(service.name, "RUNNING") if not task.is_stopped)
        short = _short_by(service, live)
        primary = service.primary
        definition = definitions.get(primary.task_definition) if primary is not None else None
        if short and definition is not None:
            shapes[definition.charge] += short
    return shapes


def capacity_reservation(snapshot: Snapshot, provider: CapacityProvider) -> Reservation:
    """The provider's CapacityProviderReservation recomputed from ``snapshot``: a full scan.

    The reference the incremental ``ReservationTracker`` is checked against, and fine for
    small clusters. O(instances + tasks + services).
    """
    services = snapshot.services_by_name
    mine = {
        instance.id for instance in snapshot.instances() if instance.status != "INACTIVE" and provider.owns(instance)
    }
    busy: set[str] = set()
    for task in snapshot.tasks():
        if task.container_instance_id in mine and not task.is_stopped and not is_daemon_task(task, services):
            busy.add(task.container_instance_id)
    return reservation(
        running=len(mine),
        busy=len(busy),
        waiting=pending_shapes(snapshot),
        instance_shape=provider.instance_shape,
        target_capacity=provider.target_capacity,
    )


@attrs.define(slots=True)
class _ServiceView:
    daemon: bool
    short_if_none: int  # desired count when the service can wait for tasks, else 0
    task_definition: str | None  # the primary deployment's
    live: int = 0  # tasks of the service not STOPPED and desired RUNNING


class ReservationTracker:
    """The provider's CapacityProviderReservation, kept up to date from the state's commits.

    It subscribes to ``state`` and keeps, per instance of the provider, how many non-daemon
    tasks hold resources there; per service, how many of its tasks are live; and the set of
    services short of tasks. ``refresh()`` folds in the events committed since (O(events));
    ``reservation()`` refreshes and evaluates in O(services short of tasks + the bin-pack of
    what waits), never scanning the instances or the tasks. A subscription that overflows is
    answered by a resync: one full rebuild from a fresh snapshot. ``close()`` unsubscribes.

    ``also_waiting()``, when given, names task shapes waiting outside the state — a batch
    queue of your own, as ECS keeps ``run_task``'s tasks PROVISIONING until capacity comes —
    and they count with the services' own.
    """

    def __init__(
        self,
        state: StateCore,
        provider: CapacityProvider,
        *,
        capacity: int = 1_000_000,
        also_waiting: Callable[[], Mapping[Resources, int]] | None = None,
    ) -> None:
        self.provider = provider
        self.also_waiting = also_waiting
        self._subscription = state.subscribe(capacity)
        self._rebuild(state.snapshot())

    # -- the counts ------------------------------------------------------------------------

    def _rebuild(self, snapshot: Snapshot) -> None:
        self.version = snapshot.version
        self._instances: set[str] = set()  # the provider's, not INACTIVE
        self._tasks: dict[str, Task] = {}  # tasks holding resources (not STOPPED)
        self._non_daemon: Counter[str] = Counter()  # instance → non-daemon tasks holding there
        self._busy = 0  # the provider's instances with a non-daemon task
        self._services: dict[str, _ServiceView] = {}
        self._service_tasks: dict[str, set[str]] = {}  # service name → its holding task ids
        self._short: set[str] = set()
        self._charges: dict[str, Resources] = {d.key: d.charge for d in snapshot.task_definitions()}
        for service in snapshot.services():
            self._put_service(service)
        for instance in snapshot.instances():
            self._put_instance(instance)
        for task in snapshot.tasks():
            self._put_task(task)

    def _daemon(self, task: Task) -> bool:
        view = self._services.get(task.service_name or "")
        return view is not None and view.daemon

    def _count(self, instance_id: str, delta: int) -> None:
        before = self._non_daemon[instance_id]
        after = before + delta
        if after:
            self._non_daemon[instance_id] = after
        else:
            del self._non_daemon[instance_id]
        if instance_id in self._instances and (before == 0) != (after == 0):
            self._busy += 1 if after else -1

    def _mark_short(self, name: str) -> None:
        view = self._services.get(name)
        if view is not None and view.short_if_none > view.live:
            self._short.add(name)
        else:
            self._short.discard(name)

    def _put_instance(self, instance: ContainerInstance) -> None:
        mine = instance.status != "INACTIVE" and self.provider.owns(instance)
        was = instance.id in self._instances
        if mine == was:
            return
        busy = self._non_daemon.get(instance.id, 0) > 0
        if mine:
            self._instances.add(instance.id)
            self._busy += busy
        else:
            self._instances.discard(instance.id)
            self._busy -= busy

    def _put_task(self, task: Task) -> None:
        old = self._tasks.pop(task.id, None)
        name = task.service_name
        if old is not None:
            if not self._daemon(old):
                self._count(old.container_instance_id, -1)
            if name is not None:
                self._service_tasks.get(name, set()).discard(task.id)
                if old.desired_status == "RUNNING" and name in self._services:
                    self._services[name].live -= 1
        if task.is_stopped:
            if name is not None:
                self._mark_short(name)
            return
        self._tasks[task.id] = task
        if not self._daemon(task):
            self._count(task.container_instance_id, 1)
        if name is not None:
            self._service_tasks.setdefault(name, set()).add(task.id)
            if task.desired_status == "RUNNING" and name in self._services:
                self._services[name].live += 1
            self._mark_short(name)

    def _put_service(self, service: Service) -> None:
        name = service.name
        old = self._services.get(name)
        daemon = service.scheduling_strategy == "DAEMON"
        holding = [self._tasks[task_id] for task_id in self._service_tasks.get(name, ())]
        if (old is not None and old.daemon != daemon) or (old is None and holding):
            # which of its tasks count as daemon tasks changes: take them out and put them back
            for task in holding:
                if old is None or not old.daemon:
                    self._count(task.container_instance_id, -1)
                if not daemon:
                    self._count(task.container_instance_id, 1)
        primary = service.primary
        live = old.live if old is not None else sum(task.desired_status == "RUNNING" for task in holding)
        self._services[name] = _ServiceView(
            daemon, _short_by(service, 0), primary.task_definition if primary is not None else None, live
        )
        self._mark_short(name)

    def apply(self, events: Iterable[Event]) -> None:
        """Fold committed events in (in commit order)."""
        for event in events:
            if isinstance(event, TaskChanged):
                self._put_task(event.task)
            elif isinstance(event, ContainerInstanceChanged):
                self._put_instance(event.instance)
            elif isinstance(event, ServiceChanged):
                self._put_service(event.service)
            elif isinstance(event, TaskDefinitionChanged):
                definition = event.task_definition
                self._charges[definition.key] = definition.charge
            self.version = max(self.version, event.version)

    def refresh(self) -> None:
        """Fold in every event committed since the last refresh; resync after an overflow."""
        try:
            self.apply(self._subscription.drain())
        except SubscriptionOverflow:
            self._rebuild(self._subscription.resync())

    # -- answers ---------------------------------------------------------------------------

    @property
    def instances(self) -> frozenset[str]:
        """The provider's instances (not INACTIVE), as of the last refresh."""
        return frozenset(self._instances)

    def non_daemon_tasks(self, instance_id: str) -> int:
        """Non-daemon tasks holding resources on ``instance_id``, as of the last refresh."""
        return self._non_daemon.get(instance_id, 0)

    def waiting(self) -> Counter[Resources]:
        """The waiting task shapes, as of the last refresh (and ``also_waiting`` now). O(services short of tasks)."""
        shapes: Counter[Resources] = Counter(self.also_waiting() if self.also_waiting is not None else {})
        for name in self._short:
            view = self._services[name]
            charge = self._charges.get(view.task_definition or "")
            if charge is not None:
                shapes[charge] += view.short_if_none - view.live
        return shapes

    def reservation(self) -> Reservation:
        """Refresh, then evaluate the metric."""
        self.refresh()
        return reservation(
            running=len(self._instances),
            busy=self._busy,
            waiting=self.waiting(),
            instance_shape=self.provider.instance_shape,
            target_capacity=self.provider.target_capacity,
        )

    def close(self) -> None:
        """Stop receiving the state's events."""
        self._subscription.close()

    def __enter__(self) -> ReservationTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def desired_instances(needed: int, target_capacity: int) -> int:
    """``⌈M · 100 / targetCapacity⌉``: the instances that bring the metric to the target."""
    return math.ceil(needed * 100 / target_capacity)
