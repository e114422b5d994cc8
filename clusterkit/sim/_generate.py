"""Synthetic workloads: Poisson arrivals, a mixture of task shapes, a daily load curve, failures.

Deterministic for a seed: ``generate_workload(WorkloadSpec(seed=7))`` gives the same events
every time, on every machine.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator

import attrs

from clusterkit.errors import ValidationError
from clusterkit.sim._checks import not_negative, positive
from clusterkit.sim._workload import (
    BatchTask,
    Crash,
    CreateService,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterDefinition,
    WorkloadEvent,
)

__all__ = ["Shape", "WorkloadSpec", "generate_workload"]


@attrs.frozen
class Shape:
    """A task shape (CPU units, memory MiB), its weight in the mixture and, for batch tasks,
    the task definition family they run as (``batch-CPU-MEMORY`` when None).
    """

    cpu: int
    memory: int
    weight: float = attrs.field(default=1.0, validator=positive)
    family: str | None = None

    def __attrs_post_init__(self) -> None:
        if type(self.cpu) is not int or self.cpu < 0:
            raise ValidationError("cpu", self.cpu, "must be a whole number >= 0")
        if type(self.memory) is not int or self.memory < 1:
            raise ValidationError("memory", self.memory, "must be a whole number >= 1")


def _labels(pairs: Iterable[tuple[str, Iterable[str]]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(values)) for name, values in pairs)


@attrs.frozen
class WorkloadSpec:
    """What ``generate_workload`` draws.

    Batch tasks arrive as a Poisson process of ``arrival_rate`` per second, modulated by a
    daily curve ``1 + diurnal_amplitude·sin(2πt/diurnal_period)``; each draws a shape from
    ``shapes`` by weight and runs for an exponential time of mean ``mean_duration``.
    ``services`` long-running services of ``service_shape`` start with ``service_tasks`` tasks
    each and are offered a load that follows the same daily curve around
    ``service_demand`` CPU units (a ``load`` event every ``load_interval`` seconds); their
    tasks crash at ``crash_rate`` per task-hour. Instances fail at ``instance_failure_rate``
    per instance-hour and come back (under a new id) ``repair_time`` seconds later.

    Instance ``i`` is in zone ``zones[i % len(zones)]`` and, for each ``(name, values)`` of
    ``instance_attributes``, has the attribute ``name`` = ``values[i % len(values)]`` (so
    ``(("tier", ("gold", "std", "std")),)`` makes a third of them gold); an instance that comes
    back after a failure keeps its zone and attributes.
    """

    seed: int = 0
    duration: float = attrs.field(default=3600.0, validator=positive)
    instances: int = 10
    instance_cpu: int = 4096
    instance_memory: int = 16384
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    arrival_rate: float = attrs.field(default=0.5, validator=not_negative)
    diurnal_amplitude: float = 0.0
    diurnal_period: float = attrs.field(default=86400.0, validator=positive)
    shapes: tuple[Shape, ...] = (Shape(256, 512, 3.0), Shape(512, 1024, 2.0), Shape(1024, 2048, 1.0))
    mean_duration: float = attrs.field(default=300.0, validator=positive)
    services: int = 0
    service_tasks: int = 3
    service_shape: Shape = Shape(256, 512)
    service_demand: float = attrs.field(default=384.0, validator=not_negative)
    load_interval: float = attrs.field(default=60.0, validator=positive)
    crash_rate: float = attrs.field(default=0.0, validator=not_negative)
    instance_failure_rate: float = attrs.field(default=0.0, validator=not_negative)
    repair_time: float = attrs.field(default=600.0, validator=positive)
    instance_attributes: tuple[tuple[str, tuple[str, ...]], ...] = attrs.field(default=(), converter=_labels)

    def __attrs_post_init__(self) -> None:
        for name in ("instances", "instance_cpu", "instance_memory", "services", "service_tasks"):
            value = getattr(self, name)
            if type(value) is not int or value < (0 if name in ("instances", "services") else 1):
                raise ValidationError(name, value, "must be a whole number (>= 1 for sizes)")
        if not 0 <= self.diurnal_amplitude <= 1:
            raise ValidationError("diurnal_amplitude", self.diurnal_amplitude, "must be in 0..1")
        if not self.shapes:
            raise ValidationError("shapes", self.shapes, "must name at least one shape")
        if not self.zones:
            raise ValidationError("zones", self.zones, "must name at least one zone")
        for name, values in self.instance_attributes:
            if not name or not values or not all(values):
                raise ValidationError(f"instance_attributes[{name!r}]", values, "must give a name and some values")

    def instance(self, index: int) -> tuple[str, dict[str, str]]:
        """The zone and the attributes of instance ``index``."""
        attributes = {name: values[index % len(values)] for name, values in self.instance_attributes}
        return self.zones[index % len(self.zones)], attributes

    def curve(self, at: float) -> float:
        """The daily factor at ``at`` seconds: between 1 − amplitude and 1 + amplitude."""
        return 1.0 + self.diurnal_amplitude * math.sin(2 * math.pi * at / self.diurnal_period)


def _poisson(rng: random.Random, rate: float, spec: WorkloadSpec) -> Iterator[float]:
    """Arrival times of a Poisson process of ``rate``·curve(t), by thinning."""
    peak = rate * (1.0 + spec.diurnal_amplitude)
    if peak <= 0:
        return
    at = 0.0
    while True:
        at += rng.expovariate(peak)
        if at >= spec.duration:
            return
        if rng.random() * peak <= rate * spec.curve(at):
            yield at


def _service_definition(name: str, shape: Shape) -> dict[str, object]:
    container = {"name": "app", "image": "app:latest", "cpu": shape.cpu, "memory": shape.memory, "essential": True}
    return {"family": name, "containerDefinitions": [container]}


def _instance_failures(rng: random.Random, spec: WorkloadSpec) -> Iterator[WorkloadEvent]:
    """Instances that fail (leave) and come back under a new id ``repair_time`` later."""
    steady = attrs.evolve(spec, diurnal_amplitude=0)
    present = {f"i-{index}": index for index in range(spec.instances)}  # instance → its index in the spec
    returning: list[tuple[float, str, int]] = []
    for number, at in enumerate(_poisson(rng, spec.instance_failure_rate * spec.instances / 3600.0, steady)):
        while returning and returning[0][0] <= at:
            _, instance, index = heapq.heappop(returning)
            present[instance] = index
        if not present:
            continue
        victim = rng.choice(sorted(present))
        index = present.pop(victim)
        yield InstanceLeave(round(at, 3), victim)
        back = round(at + spec.repair_time, 3)
        if back < spec.duration:
            instance = f"i-r{number}"
            heapq.heappush(returning, (back, instance, index))
            yield _join(spec, back, instance, index)


def _join(spec: WorkloadSpec, at: float, instance: str, index: int) -> InstanceJoin:
    zone, attributes = spec.instance(index)
    return InstanceJoin(at, instance, spec.instance_cpu, spec.instance_memory, zone=zone, attributes=attributes)


def generate_workload(spec: WorkloadSpec) -> list[WorkloadEvent]:
    """The workload ``spec`` describes, sorted by time (ties keep the order they were drawn in)."""
    rng = random.Random(spec.seed)
    events: list[WorkloadEvent] = []
    events.extend(_join(spec, 0.0, f"i-{index}", index) for index in range(spec.instances))
    for index in range(spec.services):
        name = f"svc-{index}"
        events.append(RegisterDefinition(0.0, _service_definition(name, spec.service_shape)))
        events.append(CreateService(0.0, name, name, spec.service_tasks))
        ticks = math.ceil(spec.duration / spec.load_interval)
        for tick in range(ticks):
            at = tick * spec.load_interval
            events.append(Load(at, name, round(spec.service_demand * spec.curve(at), 3)))
        crashes = _poisson(rng, spec.crash_rate * spec.service_tasks / 3600.0, attrs.evolve(spec, diurnal_amplitude=0))
        events.extend(Crash(round(at, 3), name) for at in crashes)
    weights = [shape.weight for shape in spec.shapes]
    for number, at in enumerate(_poisson(rng, spec.arrival_rate, spec)):
        shape = rng.choices(spec.shapes, weights)[0]
        duration = max(1.0, round(rng.expovariate(1.0 / spec.mean_duration), 3))
        at = round(at, 3)
        events.append(BatchTask(at, shape.cpu, shape.memory, duration, job=f"job-{number}", family=shape.family))
    events.extend(_instance_failures(rng, spec))
    events.sort(key=lambda event: event.at)
    return events
