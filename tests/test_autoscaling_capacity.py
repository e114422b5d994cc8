"""CapacityProviderReservation: the metric's rules, the bin-pack, and the incremental tracker.

The reference here is a brute force written from the rules alone: every task one by one,
first fit into the new instances in biggest-first order, M and N counted from every task and
instance of a snapshot. Hypothesis builds random clusters (instances of the provider and
others, daemon and replica services short of tasks or not, standalone tasks, tasks too big
for the instance shape) and random commit sequences.
"""

from __future__ import annotations

import itertools
from collections import Counter

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterkit import ClusterState, PlaceTask, Resources, StopTask, Task, TaskStateChange
from clusterkit.autoscaling import (
    CAPACITY_PROVIDER_ATTRIBUTE,
    CapacityProvider,
    ReservationTracker,
    capacity_reservation,
    pack_new_instances,
    pending_shapes,
    reservation,
)
from clusterkit.errors import ValidationError
from clusterkit.model import DEFAULT_RESERVED_PORTS
from clusterkit.state import PutService

SHAPE = Resources(1024, 1024, DEFAULT_RESERVED_PORTS)
PROVIDER = CapacityProvider("cp", SHAPE)
FAMILIES = {  # family → (cpu, memory, host port or None); "huge" fits no instance of SHAPE
    "small": (128, 128, None),
    "half": (512, 256, None),
    "wide": (256, 768, None),
    "port": (128, 128, 8080),
    "huge": (2048, 128, None),
}


def _definition(family: str) -> dict[str, object]:
    cpu, memory, port = FAMILIES[family]
    container: dict[str, object] = {"name": "app", "image": "app:1", "cpu": cpu, "memory": memory}
    if port is not None:
        container["portMappings"] = [{"containerPort": port, "hostPort": port}]
    return {"family": family, "containerDefinitions": [container]}


# -- the reference -----------------------------------------------------------------------------


def _order(shape: Resources) -> tuple[object, ...]:
    share = max(shape.cpu / SHAPE.cpu, shape.memory / SHAPE.memory)
    return (-share, -shape.cpu, -shape.memory, sorted(shape.ports), sorted(shape.ports_udp), shape.scalars)


def brute_pack(shapes: Counter[Resources], instance: Resources) -> tuple[int, int]:
    """One task at a time, first fit, opening a new instance when none has room."""
    tasks = [shape for shape in sorted(shapes, key=_order) for _ in range(shapes[shape])]
    bins: list[Resources] = []
    ignored = 0
    for task in tasks:
        if not task.fits(instance):
            ignored += 1
            continue
        for index, room in enumerate(bins):
            if task.fits(room):
                bins[index] = room.allocate(task)
                break
        else:
            bins.append(instance.allocate(task))
    return len(bins), ignored


def brute_force(state: ClusterState, provider: CapacityProvider = PROVIDER) -> tuple[int, int, float]:
    """(M, N, metric) from every instance, task and service of a snapshot, by the rules."""
    snapshot = state.snapshot()
    services = {service.name: service for service in snapshot.services()}
    mine = [
        instance.id
        for instance in snapshot.instances()
        if instance.status != "INACTIVE" and instance.attribute(CAPACITY_PROVIDER_ATTRIBUTE) == provider.name
    ]
    busy = set()
    live: Counter[str] = Counter()
    for task in snapshot.tasks():
        if task.last_status == "STOPPED":
            continue
        owner = services.get(task.group[8:]) if task.group.startswith("service:") else None
        if owner is not None and task.desired_status == "RUNNING":
            live[owner.name] += 1
        if task.container_instance_id in mine and (owner is None or owner.scheduling_strategy != "DAEMON"):
            busy.add(task.container_instance_id)
    waiting: Counter[Resources] = Counter()
    for service in services.values():
        primary = service.deployments[0] if service.deployments else None
        if service.status == "ACTIVE" and service.scheduling_strategy == "REPLICA" and primary is not None:
            if primary.rollout_state == "FAILED":
                continue
            short = service.desired_count - live[service.name]
            if short > 0:
                waiting[snapshot.task_definition(primary.task_definition).charge] += short
    new, ignored = brute_pack(waiting, provider.instance_shape)
    n = len(mine)
    m = n + new if new else len(busy)
    metric = (200.0 if m else 100.0) if n == 0 else m * 100 / n
    if ignored and ignored == sum(waiting.values()):  # only tasks no instance could run wait
        metric = float(provider.target_capacity)
    return m, n, metric


# -- random clusters ---------------------------------------------------------------------------


class World:
    """A ClusterState changed by random operations (each keeps the state valid)."""

    def __init__(self) -> None:
        self.state = ClusterState("capacity")
        for family in FAMILIES:
            self.state.register_task_definition(_definition(family))
        self.counter = itertools.count()

    def instance(self, provider: bool) -> None:
        attributes = {CAPACITY_PROVIDER_ATTRIBUTE: "cp" if provider else "other"}
        self.state.register_container_instance(
            f"i-{next(self.counter)}", cpu=SHAPE.cpu, memory=SHAPE.memory, attributes=attributes
        )

    def live_instances(self) -> list[str]:
        return sorted(i.id for i in self.state.snapshot().instances() if i.status != "INACTIVE")

    def service(self, daemon: bool, family: str, desired: int) -> None:
        name = f"s{next(self.counter)}"
        if daemon:
            self.state.create_service(name, family, scheduling_strategy="DAEMON")
        else:
            self.state.create_service(name, family, desired_count=desired)

    def place(self, instance: str, owner: str | None, family: str | None) -> None:
        """A task of service ``owner`` (its primary's definition) or standalone of ``family``."""
        snapshot = self.state.snapshot()
        if owner is not None:
            service = snapshot.service(owner)
            key = service.deployments[0].task_definition if service.deployments else service.task_definition
            group = service.group
        else:
            key, group = f"{family}:1", "family:x"
        definition = snapshot.task_definition(key)
        task = Task(f"t{next(self.counter)}", key, instance, definition.charge, group=group)
        self.state.commit([PlaceTask(task)])  # rejected when it does not fit: fine

    def stop(self, task_id: str, finish: bool) -> None:
        self.state.commit([StopTask(task_id)])
        if finish:
            task = self.state.snapshot().task(task_id)
            self.state.commit([TaskStateChange(task_id, task.version, last_status="STOPPED")])


@st.composite
def operations(draw: st.DrawFn, world: World) -> None:
    """Apply one random operation to ``world``."""
    snapshot = world.state.snapshot()
    services = [s.name for s in snapshot.services() if s.status == "ACTIVE"]
    instances = world.live_instances()
    holding = sorted(t.id for t in snapshot.tasks() if not t.is_stopped)
    kind = draw(
        st.sampled_from(
            [
                "instance",
                "instance",
                "service",
                "place",
                "place",
                "place",
                "stop",
                "desired",
                "drain",
                "deregister",
                "delete",
            ]
        )
    )
    if kind == "instance" or not instances:
        world.instance(draw(st.booleans()))
    elif kind == "service":
        world.service(draw(st.booleans()), draw(st.sampled_from(sorted(FAMILIES))), draw(st.integers(0, 6)))
    elif kind == "place":
        owner = draw(st.sampled_from([None, *services]))
        world.place(draw(st.sampled_from(instances)), owner, draw(st.sampled_from(sorted(FAMILIES))))
    elif kind == "stop" and holding:
        world.stop(draw(st.sampled_from(holding)), draw(st.booleans()))
    elif kind == "desired" and services:
        name = draw(st.sampled_from(services))
        if snapshot.service(name).scheduling_strategy == "REPLICA":
            world.state.update_service(name, desired_count=draw(st.integers(0, 8)))
    elif kind == "drain":
        world.state.update_container_instances_state([draw(st.sampled_from(instances))], "DRAINING")
    elif kind == "deregister":
        world.state.deregister_container_instance(draw(st.sampled_from(instances)), force=True)
    elif kind == "delete" and services:
        world.state.delete_service(draw(st.sampled_from(services)), force=True)


def _observed(state: ClusterState) -> tuple[int, int, float]:
    found = capacity_reservation(state.snapshot(), PROVIDER)
    return found.needed, found.running, found.metric


@given(st.data())
def test_the_metric_equals_the_brute_force_on_random_clusters(data: st.DataObject) -> None:
    world = World()
    for _ in range(data.draw(st.integers(0, 40), label="operations")):
        data.draw(operations(world))
    assert _observed(world.state) == pytest.approx(brute_force(world.state))


@given(st.data())
def test_the_tracker_equals_the_brute_force_after_every_commit(data: st.DataObject) -> None:
    world = World()
    for _ in range(data.draw(st.integers(0, 5), label="before the tracker")):
        data.draw(operations(world))
    with ReservationTracker(world.state, PROVIDER) as tracker:
        for _ in range(data.draw(st.integers(1, 30), label="operations")):
            data.draw(operations(world))
            found = tracker.reservation()
            assert (found.needed, found.running, found.metric) == pytest.approx(brute_force(world.state))
            assert tracker.waiting() == pending_shapes(world.state.snapshot())


def test_the_tracker_resyncs_after_its_subscription_overflows() -> None:
    world = World()
    tracker = ReservationTracker(world.state, PROVIDER, capacity=2)
    for _ in range(3):
        world.instance(True)
    world.service(False, "half", 5)
    assert tracker._subscription.overflowed
    found = tracker.reservation()
    assert (found.needed, found.running, found.metric) == brute_force(world.state) == (6, 3, 200.0)  # 3 + 3 new
    tracker.close()


shape_counts = st.dictionaries(
    st.builds(
        Resources,
        cpu=st.integers(0, 1500),
        memory=st.integers(0, 1500),
        ports=st.sampled_from([frozenset(), frozenset({80}), frozenset({22})]),
    ),
    st.integers(0, 12),
    max_size=5,
)


@given(shape_counts)
def test_packing_shapes_together_equals_packing_tasks_one_by_one(shapes: dict[Resources, int]) -> None:
    assert pack_new_instances(shapes, SHAPE) == brute_pack(Counter(shapes), SHAPE)


@given(shape_counts)
def test_the_bin_pack_never_overfills_and_opens_no_needless_instance(shapes: dict[Resources, int]) -> None:
    new, ignored = pack_new_instances(shapes, SHAPE)
    fitting = [(s, c) for s, c in shapes.items() if s.fits(SHAPE)]
    assert ignored == sum(c for s, c in shapes.items() if not s.fits(SHAPE))
    cpu = sum(s.cpu * c for s, c in fitting)
    memory = sum(s.memory * c for s, c in fitting)
    assert new >= max(-(-cpu // SHAPE.cpu), -(-memory // SHAPE.memory))  # at least the volume lower bound
    assert new <= sum(c for _, c in fitting)  # never more than one instance per task


# -- the rules, one by one ------------------------------------------------------------------


def test_no_instances_and_tasks_waiting_gives_200() -> None:
    found = reservation(running=0, busy=0, waiting={Resources(128, 128): 1}, instance_shape=SHAPE)
    assert (found.needed, found.running, found.metric) == (1, 0, 200.0)


def test_no_instances_and_nothing_waiting_gives_100() -> None:
    assert reservation(running=0, busy=0, waiting={}, instance_shape=SHAPE).metric == 100.0


def test_waiting_tasks_add_the_instances_their_bin_pack_needs() -> None:
    # 5 tasks of half an instance's cpu: 3 new instances, on top of the 4 running (2 of them busy)
    found = reservation(running=4, busy=2, waiting={Resources(512, 256): 5}, instance_shape=SHAPE)
    assert (found.needed, found.metric, found.waiting) == (7, 175.0, 5)


def test_tasks_too_big_for_the_instance_shape_are_ignored() -> None:
    waiting = {Resources(2048, 128): 3, Resources(512, 256): 1}
    found = reservation(running=2, busy=1, waiting=waiting, instance_shape=SHAPE)
    assert (found.needed, found.metric, found.too_big, found.waiting) == (3, 150.0, 3, 1)


@pytest.mark.parametrize("target", [100, 70])
def test_when_every_waiting_task_is_too_big_the_metric_stays_at_the_target(target: int) -> None:
    """ECS managed scaling: tasks no instance of the provider could run neither scale it out
    nor let it scale in (the metric would read 50 here, below any target).
    """
    found = reservation(
        running=2, busy=1, waiting={Resources(2048, 128): 3}, instance_shape=SHAPE, target_capacity=target
    )
    assert (found.needed, found.metric, found.too_big, found.waiting) == (1, float(target), 3, 0)


def test_an_instance_running_only_daemon_tasks_counts_as_empty() -> None:
    world = World()
    world.instance(True)
    world.instance(True)
    world.service(True, "small", 0)
    daemon = next(s.name for s in world.state.snapshot().services())
    first, second = world.live_instances()
    world.place(first, daemon, None)
    world.place(second, daemon, None)
    world.place(second, None, "small")  # a standalone task: not a daemon's
    found = capacity_reservation(world.state.snapshot(), PROVIDER)
    assert (found.needed, found.running, found.busy, found.metric) == (1, 2, 1, 50.0)


def test_a_replica_services_shortfall_waits_with_its_primary_deployments_shape() -> None:
    world = World()
    world.instance(True)
    world.service(False, "half", 3)
    (instance,) = world.live_instances()
    name = next(s.name for s in world.state.snapshot().services())
    world.place(instance, name, None)
    world.place(instance, name, None)
    assert pending_shapes(world.state.snapshot()) == {Resources(512, 256): 1}
    # a task being stopped no longer counts toward the service
    task = next(t.id for t in world.state.snapshot().tasks())
    world.stop(task, finish=False)
    assert pending_shapes(world.state.snapshot()) == {Resources(512, 256): 2}


def test_a_service_whose_deployment_failed_waits_for_nothing() -> None:
    world = World()
    world.service(False, "half", 3)
    service = next(world.state.snapshot().services())
    assert pending_shapes(world.state.snapshot()) == {Resources(512, 256): 3}
    with ReservationTracker(world.state, PROVIDER) as tracker:
        failed = attrs.evolve(service.deployments[0], rollout_state="FAILED")
        world.state.commit([PutService(attrs.evolve(service, deployments=(failed,)), service.version)])
        assert pending_shapes(world.state.snapshot()) == {}
        tracker.refresh()
        assert tracker.waiting() == {}
        assert tracker.reservation().needed == 0


def test_instances_of_other_providers_and_inactive_ones_are_not_counted() -> None:
    world = World()
    world.instance(True)
    world.instance(False)
    world.instance(True)
    world.state.deregister_container_instance(world.live_instances()[-1])
    assert capacity_reservation(world.state.snapshot(), PROVIDER).running == 1


@pytest.mark.parametrize(
    ("field", "options"),
    [
        ("targetCapacity", {"target_capacity": 0}),
        ("targetCapacity", {"target_capacity": 101}),
        ("minimumScalingStepSize", {"minimum_scaling_step_size": 0}),
        ("minimumScalingStepSize", {"minimum_scaling_step_size": 5, "maximum_scaling_step_size": 4}),
        ("maximumScalingStepSize", {"maximum_scaling_step_size": 10_001}),
        ("instanceWarmupPeriod", {"instance_warmup_period": -1}),
        ("managedTerminationProtection", {"managed_termination_protection": "yes"}),
        ("minimumSize", {"minimum_size": 3, "maximum_size": 2}),
    ],
)
def test_bad_provider_settings_name_the_field(field: str, options: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as raised:
        CapacityProvider("cp", SHAPE, **options)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_a_provider_needs_a_name_and_a_shape() -> None:
    with pytest.raises(ValidationError) as raised:
        CapacityProvider("", SHAPE)
    assert raised.value.field == "name"
    with pytest.raises(ValidationError) as raised:
        CapacityProvider("cp", Resources())
    assert raised.value.field == "instanceShape"
    assert CapacityProvider.of("cp", cpu=1024, memory=512).instance_shape == Resources(
        1024, 512, DEFAULT_RESERVED_PORTS
    )
