"""Shared workload of the placement benchmarks: zoned instances, mixed task shapes, run_task batches.

The cluster: instances of 16384 CPU units and 65536 MiB (``_cluster.INSTANCE_CPU`` /
``INSTANCE_MEMORY``), each with the attribute ``ecs.availability-zone`` set to one of three
zones in turn, registered by commits of 1,000 ``RegisterInstance``. The tasks: 16 shapes
(one single-container bridge task definition per shape, no host ports), CPU 128–1024
units (multiples of 64) and memory 256–2048 MiB (multiples of 128), each drawn
log-uniformly from a seeded RNG — small tasks more often than large ones, as in practice;
a uniform draw (mean 576 units) would make 150,000 tasks need more CPU than 5,000
instances have. With the default seed the 150,000-task stream fills 87% of the CPU of
5,000 instances (and 45% of their memory): CPU is the binding dimension.
The stream of work is a list of batches, each naming one shape (drawn from a seeded RNG)
and a count; every batch is one ``state.run_task(family, count=..., placement_strategy=...)``
call, so every task goes through the scheduler and a commit.
"""

from __future__ import annotations

import cProfile
import math
import pstats
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

import clusterkit
from benchmarks._cluster import INSTANCE_CPU, INSTANCE_MEMORY, instance_ids
from benchmarks._report import GcTimer
from clusterkit import ContainerInstance, RegisterInstance, Resources, TaskDefinition
from clusterkit.placement import PlacementStrategy

__all__ = [
    "BATCH",
    "SEED",
    "SHAPES",
    "ZONES",
    "ZONE_ATTRIBUTE",
    "Batch",
    "Run",
    "Shape",
    "batches",
    "instances_used",
    "lower_bound",
    "measure",
    "new_cluster",
    "progress_printer",
    "profile_top",
    "run_batches",
    "shapes",
    "strategy_text",
]

ZONE_ATTRIBUTE: Final = "ecs.availability-zone"
ZONES: Final = ("zone-a", "zone-b", "zone-c")
SHAPES: Final = 16
BATCH: Final = 500
SEED: Final = 20240601
REGISTER_BATCH: Final = 1000


@attrs.frozen(slots=True)
class Shape:
    """One task shape: CPU units and memory MiB of its single container, and its family."""

    family: str
    cpu: int
    memory: int


@attrs.frozen(slots=True)
class Batch:
    """``count`` tasks of ``shape``: one run_task call."""

    shape: Shape
    count: int


def _log_uniform(rng: random.Random, low: int, high: int, step: int) -> int:
    drawn = math.exp(rng.uniform(math.log(low), math.log(high)))
    return min(high, max(low, round(drawn / step) * step))


def shapes(count: int = SHAPES, seed: int = SEED) -> list[Shape]:
    """``count`` shapes, CPU 128..1024 (step 64) and memory 256..2048 MiB (step 128), log-uniform, seeded."""
    rng = random.Random(seed)
    return [
        Shape(f"shape-{index:02d}", _log_uniform(rng, 128, 1024, 64), _log_uniform(rng, 256, 2048, 128))
        for index in range(count)
    ]


def definition(shape: Shape) -> TaskDefinition:
    """The one-container bridge definition of ``shape`` (ECS JSON, no port mappings)."""
    container = {"name": "app", "image": "registry.local/app:1", "cpu": shape.cpu, "memory": shape.memory}
    return clusterkit.load_task_definition(
        {"family": shape.family, "networkMode": "bridge", "containerDefinitions": [container]}
    )


def new_cluster(instances: int, shapes_: Sequence[Shape]) -> clusterkit.ClusterState:
    """A ClusterState with ``instances`` zoned instances and one definition per shape."""
    state = clusterkit.ClusterState("bench")
    registered = Resources(INSTANCE_CPU, INSTANCE_MEMORY, clusterkit.model.DEFAULT_RESERVED_PORTS)
    ids = instance_ids(instances)
    for start in range(0, instances, REGISTER_BATCH):
        changes = [
            RegisterInstance(
                ContainerInstance(
                    id=instance_id,
                    registered=registered,
                    remaining=registered,
                    attributes={"ecs.os-type": "linux", ZONE_ATTRIBUTE: ZONES[(start + offset) % len(ZONES)]},
                )
            )
            for offset, instance_id in enumerate(ids[start : start + REGISTER_BATCH])
        ]
        result = state.commit(changes)
        assert result.ok, result.rejected[:3]
    for shape in shapes_:
        state.register_task_definition(definition(shape))
    return state


def batches(total: int, shapes_: Sequence[Shape], *, batch: int = BATCH, seed: int = SEED) -> list[Batch]:
    """``total`` tasks as run_task calls of ``batch`` tasks (the last may be smaller), shape drawn per call."""
    rng = random.Random(seed)
    return [Batch(shapes_[rng.randrange(len(shapes_))], min(batch, total - start)) for start in range(0, total, batch)]


def strategy_text(strategies: Sequence[PlacementStrategy]) -> str:
    """``spread(attribute:ecs.availability-zone)+binpack(memory)``."""
    return "+".join(f"{s.type}({s.field})" if s.field else s.type for s in strategies)


@attrs.define
class Run:
    """What a stream of run_task calls achieved, and how long it took."""

    planned: int
    placed: int = 0
    failed: int = 0
    calls: int = 0
    seconds: float = 0.0
    cpu: int = 0
    memory: int = 0
    call_seconds: list[float] = attrs.field(factory=list)
    stopped_early: bool = False

    @property
    def rate(self) -> float:
        """Tasks placed per second of wall time."""
        return self.placed / self.seconds if self.seconds else 0.0

    @property
    def micros(self) -> float:
        """Wall-clock µs per placed task."""
        return 1e6 * self.seconds / self.placed if self.placed else math.inf


def run_batches(
    state: clusterkit.ClusterState,
    work: Sequence[Batch],
    strategies: Sequence[PlacementStrategy],
    *,
    constraints: Sequence[Mapping[str, str]] | None = None,
    budget: float | None = None,
    progress: Callable[[Run], None] | None = None,
    scheduler: clusterkit.BaseScheduler | None = None,
) -> Run:
    """Each batch as one ``state.run_task``; stops early (``stopped_early``) once ``budget`` seconds are spent.

    Only the run_task calls are timed. Failures (tasks no instance could take) are counted, not raised.
    """
    run = Run(sum(b.count for b in work))
    clock = time.perf_counter
    run_task = state.run_task
    strategy_list = list(strategies)
    constraint_list = list(constraints) if constraints is not None else None
    for index, item in enumerate(work):
        start = clock()
        result = run_task(
            item.shape.family,
            count=item.count,
            placement_strategy=strategy_list,
            placement_constraints=constraint_list,
            scheduler=scheduler,
        )
        elapsed = clock() - start
        run.seconds += elapsed
        run.call_seconds.append(elapsed)
        run.calls += 1
        placed = len(result.tasks)
        run.placed += placed
        run.failed += len(result.failures)
        run.cpu += placed * item.shape.cpu
        run.memory += placed * item.shape.memory
        if progress is not None:
            progress(run)
        if budget is not None and run.seconds > budget and index + 1 < len(work):
            run.stopped_early = True
            break
    return run


def progress_printer(label: str, every: int) -> Callable[[Run], None]:
    """A progress callback printing a line each ``every`` tasks placed."""
    marks = [every]

    def show(run: Run) -> None:
        if run.placed >= marks[0]:
            print(f"    {label}: {run.placed:,} placed, {run.rate:,.0f}/s so far", flush=True)
            marks[0] += every

    return show


def measure(
    label: str,
    instances: int,
    work: Sequence[Batch],
    strategies: Sequence[PlacementStrategy],
    *,
    member_of: str | None = None,
    budget: float | None = None,
) -> Run:
    """One stream of run_task calls into a fresh cluster; prints a progress line now and then."""
    shape_list = sorted({item.shape for item in work}, key=lambda shape: shape.family)
    build_start = time.perf_counter()
    state = new_cluster(instances, shape_list)
    built = time.perf_counter() - build_start
    constraints = [{"type": "memberOf", "expression": member_of}] if member_of else None
    every = max(1, len(work) // 5) * work[0].count
    show = progress_printer(label, every)
    with GcTimer() as gc_time:
        run = run_batches(state, work, strategies, constraints=constraints, budget=budget, progress=show)
    note = f" — stopped after {run.placed:,} of {run.planned:,} (budget {budget:.0f} s)" if run.stopped_early else ""
    print(
        f"  {label}: {run.placed:,} tasks in {run.calls:,} run_task calls, {run.seconds:.1f} s "
        f"({run.rate:,.0f}/s; cluster built in {built:.1f} s; {gc_time.describe()}){note}",
        flush=True,
    )
    if run.failed:
        print(f"    {run.failed:,} tasks could not be placed (failures)")
    return run


def lower_bound(cpu: int, memory: int) -> tuple[int, int, int]:
    """Fewest instances any packing needs: (by CPU, by memory, the larger of the two)."""
    by_cpu = math.ceil(cpu / INSTANCE_CPU)
    by_memory = math.ceil(memory / INSTANCE_MEMORY)
    return by_cpu, by_memory, max(by_cpu, by_memory)


def instances_used(state: clusterkit.ClusterState) -> int:
    """Instances holding at least one task's charge."""
    return sum(
        1
        for instance in state.snapshot().instances()
        if instance.remaining.cpu != instance.registered.cpu or instance.remaining.memory != instance.registered.memory
    )


def profile_top(function: Callable[[], object], top: int = 15) -> str:
    """cProfile of one call of ``function``: own time per source file, then the ``top`` functions.

    Shares are of the profiled total. The cyclic GC's time is measured alongside (gc.callbacks):
    cProfile charges it to whatever function happened to allocate when a collection started.
    """
    profiler = cProfile.Profile()
    with GcTimer() as gc_time:
        profiler.enable()
        function()
        profiler.disable()
    stats = pstats.Stats(profiler).get_stats_profile()
    total = stats.total_tt or 1e-12
    by_file: dict[str, float] = {}
    for row in stats.func_profiles.values():
        where = _where(row.file_name)
        by_file[where] = by_file.get(where, 0.0) + row.tottime
    files = sorted(by_file.items(), key=lambda item: -item[1])[:8]
    lines = [
        f"  profiled {total:.2f} s (cProfile adds overhead), of which cyclic GC {gc_time.total:.2f} s "
        f"({100 * gc_time.total / total:.0f}%, charged to the allocating functions below)",
        "  own time by file: " + ", ".join(f"{name} {100 * seconds / total:.0f}%" for name, seconds in files),
        f"  {'own %':>6} {'own s':>7} {'cum %':>6} {'calls':>11}  function",
    ]
    rows: list[tuple[str, Any]] = sorted(stats.func_profiles.items(), key=lambda item: -item[1].tottime)[:top]
    for name, row in rows:
        where = _where(row.file_name) + (f":{row.line_number}" if row.line_number else "")
        lines.append(
            f"  {100 * row.tottime / total:>5.1f}% {row.tottime:>7.2f} {100 * row.cumtime / total:>5.1f}% "
            f"{row.ncalls:>11}  {name[:70]} ({where})"
        )
    return "\n".join(lines)


def _where(file_name: str) -> str:
    """``scheduler.py`` for a source file, ``built-in`` for C functions; sortedcontainers and attrs named as such."""
    if file_name == "~":
        return "built-in"
    if file_name.startswith("<"):
        return "generated"  # attrs-generated methods (__init__, evolve's copy …)
    parts = file_name.replace("\\", "/").split("/")
    for package in ("sortedcontainers", "immutables", "attr", "attrs"):
        if package in parts:
            return f"{package}/{parts[-1]}"
    return parts[-1]
