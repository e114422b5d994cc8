"""The simulator: deterministic runs on the real code, metrics that agree with a brute-force
recomputation, and the answers known from scheduling research."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit.autoscaling import CapacityProvider
from clusterkit.model import ContainerInstance, binpack, spread
from clusterkit.placement import BaseScheduler, PlacementContext
from clusterkit.sim import (
    EPOCH,
    BatchTask,
    Crash,
    CreateService,
    InstanceJoin,
    InstanceLeave,
    Load,
    RegisterDefinition,
    Sample,
    SchedulingPolicy,
    ServiceScaling,
    Shape,
    UpdateService,
    WorkloadEvent,
    WorkloadSpec,
    generate_workload,
    simulate,
    time_mean,
)
from clusterkit.sim._clock import Timeline
from clusterkit.state import Snapshot

BINPACK = SchedulingPolicy("binpack", strategies=[binpack("memory")])
SPREAD = SchedulingPolicy("spread", strategies=[spread("attribute:ecs.availability-zone"), spread("instanceId")])


def test_the_same_workload_seed_and_policy_give_byte_identical_metrics() -> None:
    spec = WorkloadSpec(seed=5, duration=900, instances=12, arrival_rate=1.5, services=2, crash_rate=2,
                        instance_failure_rate=1, repair_time=120)  # fmt: skip
    events = generate_workload(spec)
    policy = SchedulingPolicy("two", schedulers=2, decision_time=0.5, strategies=[binpack("memory")])
    first = simulate(events, policy, seed=3).to_json()
    assert simulate(events, policy, seed=3).to_json() == first
    assert '"placed"' in first and simulate(events, policy, seed=3).placed > 0


small_workloads = st.builds(
    WorkloadSpec,
    seed=st.integers(0, 1000),
    duration=st.floats(60, 400),
    instances=st.integers(1, 6),
    instance_cpu=st.sampled_from([1024, 2048]),
    instance_memory=st.sampled_from([2048, 4096]),
    arrival_rate=st.floats(0.05, 1.0),
    shapes=st.lists(st.builds(Shape, st.sampled_from([0, 128, 512, 1024, 3000]), st.sampled_from([64, 512, 1500])),
                    min_size=1, max_size=3).map(tuple),
    mean_duration=st.floats(5, 200),
    services=st.integers(0, 1),
    crash_rate=st.floats(0, 5),
    instance_failure_rate=st.floats(0, 3),
    repair_time=st.floats(10, 100),
)  # fmt: skip


def _brute_force(snapshot: Snapshot, waiting: frozenset[tuple[int, int]]) -> dict[str, int]:
    """The sample's figures from the tasks themselves, not the instances' own accounting."""
    held: dict[str, list[int]] = {}
    for task in snapshot.tasks():
        if not task.is_stopped:
            slot = held.setdefault(task.container_instance_id, [0, 0, 0])
            slot[0] += task.charge.cpu
            slot[1] += task.charge.memory
            slot[2] += 1
    figures: Counter[str] = Counter()
    for instance in snapshot.instances():
        if instance.status == "INACTIVE":
            continue
        cpu, memory, count = held.get(instance.id, [0, 0, 0])
        figures["instances"] += 1
        figures["instances_in_use"] += 1 if count else 0
        figures["cpu_registered"] += instance.registered.cpu
        figures["cpu_allocated"] += cpu
        figures["memory_registered"] += instance.registered.memory
        figures["memory_allocated"] += memory
        free_cpu, free_memory = instance.registered.cpu - cpu, instance.registered.memory - memory
        if waiting and instance.status == "ACTIVE" and not any(c <= free_cpu and m <= free_memory for c, m in waiting):
            figures["stranded_cpu"] += free_cpu
            figures["stranded_memory"] += free_memory
    return dict(figures)


@settings(max_examples=25, deadline=None)
@given(small_workloads, st.sampled_from([BINPACK, SPREAD]), st.integers(1, 2))
def test_every_sample_agrees_with_a_brute_force_recount(
    spec: WorkloadSpec, policy: SchedulingPolicy, schedulers: int
) -> None:
    seen: list[tuple[dict[str, int], Sample]] = []

    def check(snapshot: Snapshot, waiting: frozenset[tuple[int, int]], sample: Sample) -> None:
        seen.append((_brute_force(snapshot, waiting), sample))

    policy = SchedulingPolicy(policy.name, strategies=policy.strategies, schedulers=schedulers, sample_interval=20)
    metrics = simulate(generate_workload(spec), policy, seed=spec.seed, on_sample=check)
    assert seen and len(seen) == len(metrics.samples)
    for expected, sample in seen:
        for name, value in expected.items():
            assert getattr(sample, name) == value, (name, sample)
        for name in ("stranded_cpu", "stranded_memory", "instances_in_use"):
            assert getattr(sample, name) == expected.get(name, 0)
    assert metrics.placed + metrics.pending == metrics.submitted
    assert metrics.finished + metrics.lost <= metrics.placed
    assert sorted(metrics.wait_cdf) == list(metrics.wait_cdf)
    assert metrics.conflicts == 0  # with no decision time, nothing commits between a plan and its commit
    assert metrics.wait_max <= metrics.duration and (metrics.wait_cdf != ()) == (metrics.submitted > 0)


def _light_workload() -> list[WorkloadEvent]:
    """12 instances, 36 small tasks arriving over a minute: room for all of them on three."""
    events: list[WorkloadEvent] = [InstanceJoin(0.0, f"i-{n:02d}", 4096, 8192, zone="abc"[n % 3]) for n in range(12)]
    events += [BatchTask(float(n), 256, 512, 600.0) for n in range(36)]
    return events


def test_binpack_uses_fewer_instances_than_spread_on_a_light_workload() -> None:
    packed = simulate(_light_workload(), BINPACK)
    spread_out = simulate(_light_workload(), SPREAD)
    assert packed.placed == spread_out.placed == 36
    assert packed.peak_instances_in_use <= 3  # 36 × 512 MiB fit 2.25 instances of 8192
    assert spread_out.peak_instances_in_use == 12
    assert packed.mean_instances_in_use < spread_out.mean_instances_in_use


def _contended_workload() -> list[WorkloadEvent]:
    events: list[WorkloadEvent] = [InstanceJoin(0.0, f"i-{n:03d}", 16384, 65536, zone="abc"[n % 3]) for n in range(200)]
    events += [BatchTask(n * 0.1, 512, 1024, 3600.0, count=10) for n in range(400)]
    return events


def test_concurrent_full_scan_schedulers_conflict_more_than_sampling_ones() -> None:
    def policy(name: str, sample: int | None) -> SchedulingPolicy:
        return SchedulingPolicy(name, BaseScheduler(seed=1, sample=sample), [binpack("memory")], schedulers=2,
                      decision_time=0.4, batch_size=10)  # fmt: skip

    full = simulate(_contended_workload(), policy("full-scan", None), until=300)
    sampled = simulate(_contended_workload(), policy("sample-2", 2), until=300)
    assert full.placed == sampled.placed == 4000
    assert full.conflict_fraction > 0.3  # both want the same fullest instance
    assert sampled.conflict_fraction < full.conflict_fraction / 2
    assert sampled.retries < full.retries / 4


def test_a_service_that_loses_tasks_to_crashes_is_back_at_desired_count_within_the_reconcile_interval() -> None:
    definition = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web", "memory": 256}]}
    events: list[WorkloadEvent] = [InstanceJoin(0.0, f"i-{n}", 2048, 4096, zone="abc"[n % 3]) for n in range(3)]
    events += [RegisterDefinition(0.0, definition), CreateService(0.0, "web", "web:1", 6)]
    crashes = [Crash(100.0 + 60 * n, "web", count=2) for n in range(10)]
    policy = SchedulingPolicy("spread", strategies=SPREAD.strategies, service_interval=2.0, start_delay=1.0)
    metrics = simulate([*events, *crashes], policy, until=900)
    below = metrics.service_seconds_below_desired["web"]
    # the first launch, then each crash: found at the next pass (2 s), started 1 s later
    assert below <= (1 + len(crashes)) * (policy.service_interval + policy.start_delay + policy.service_interval)
    assert below >= len(crashes) * policy.service_interval  # each crash does show
    assert metrics.samples[-1].running_tasks == 6


def test_an_instance_that_leaves_loses_its_tasks_and_the_third_waits_for_room() -> None:
    events: list[WorkloadEvent] = [InstanceJoin(0.0, "a", 1024, 2048), InstanceJoin(0.0, "b", 1024, 2048)]
    events += [BatchTask(1.0, 1024, 1024, 100.0, count=3), InstanceLeave(50.0, "a")]
    metrics = simulate(events, BINPACK)
    assert (metrics.submitted, metrics.placed, metrics.lost, metrics.finished, metrics.pending) == (3, 3, 1, 2, 0)
    assert set(metrics.placement_failures) == {"RESOURCE:CPU"}  # the third, until b's task is done
    assert metrics.wait_max == pytest.approx(101.0, abs=1.5)  # b's task: placed at 1, RUNNING at 2, done at 102


def test_a_policy_needs_sensible_settings() -> None:
    with pytest.raises(ValueError, match="schedulers"):
        SchedulingPolicy("x", schedulers=0)
    with pytest.raises(ValueError, match="interval"):
        SchedulingPolicy("x", interval=0)


def _web(cpu: int = 256) -> RegisterDefinition:
    container = {"name": "app", "image": "web", "cpu": cpu, "memory": 256}
    return RegisterDefinition(0.0, {"family": "web", "containerDefinitions": [container]})


def test_services_scale_with_the_workloads_load() -> None:
    events: list[WorkloadEvent] = [InstanceJoin(0.0, f"i-{n}", 4096, 8192, zone="abc"[n % 3]) for n in range(6)]
    events += [_web(), CreateService(0.0, "web", "web:1", 2), Load(0.0, "web", 300.0), Load(1200.0, "web", 3000.0)]
    scaling = ServiceScaling(min_capacity=1, max_capacity=30)
    metrics = simulate(
        events, SchedulingPolicy("scaled", strategies=SPREAD.strategies, service_scaling=scaling), until=3600
    )
    # 300 units on 2 tasks is 59%: low, but ⌈2 · 59 / 75⌉ is still 2, so the one activity is the scale-out
    assert metrics.scaling_activities == 1
    # 3,000 units of work at 75% of 256-unit tasks: ⌈3000 / 192⌉ = 16 tasks
    assert metrics.samples[-1].running_tasks == 16
    before = [s for s in metrics.samples if 900 <= s.time < 1200]
    assert before and all(s.running_tasks <= 2 for s in before)


def test_a_capacity_provider_grows_an_empty_cluster_for_a_service_and_shrinks_it_after() -> None:
    provider = CapacityProvider.of("cp", cpu=1024, memory=2048)
    events: list[WorkloadEvent] = [
        _web(cpu=512),
        CreateService(0.0, "web", "web:1", 6),
        UpdateService(1800.0, "web", 0),
    ]
    policy = SchedulingPolicy("grown", strategies=SPREAD.strategies, capacity=provider)
    metrics = simulate(events, policy, until=4800)
    at_peak = max(metrics.samples, key=lambda s: s.instances)
    assert at_peak.instances == 3 and at_peak.running_tasks == 6  # 6 × 512 units on 1024-unit instances
    assert metrics.samples[-1].instances == 0  # drained and removed once the service went to 0
    assert metrics.scaling_activities >= 3
    assert metrics.service_seconds_below_desired["web"] < 600  # first 2 from zero, then the rest after warm-up


def test_a_capacity_provider_launches_instances_for_waiting_batch_tasks_and_removes_them_after() -> None:
    provider = CapacityProvider.of("cp", cpu=2048, memory=4096)
    events: list[WorkloadEvent] = [BatchTask(float(n), 512, 512, 300.0, count=2) for n in range(10)]  # 20 × 512 units
    metrics = simulate(events, SchedulingPolicy("grown", strategies=[binpack("cpu")], capacity=provider), until=3600)
    assert (metrics.placed, metrics.finished, metrics.pending) == (20, 20, 0)
    assert max(s.instances for s in metrics.samples) == 5  # 20 × 512 units on 2048-unit instances
    assert metrics.samples[-1].instances == 0  # empty once the tasks finished: drained and removed
    assert metrics.wait_max < 600  # 2 instances from zero at once, the rest after their warm-up


# -- what the figures mean: conflicts, censored waits, means over time ---------------------------


def test_a_rejection_no_other_scheduler_caused_is_planned_again_but_not_a_conflict() -> None:
    # strict versions: a placement is refused once its instance changed at all, here by the
    # hosts' RUNNING report on the first task, committed just before the second task's plan
    scheduler = BaseScheduler(seed=0, strict_versions=True)
    policy = SchedulingPolicy("strict", scheduler, [binpack("memory")], decision_time=0.5)
    events: list[WorkloadEvent] = [InstanceJoin(0.0, "i-0", 4096, 8192), BatchTask(0.0, 256, 256, 100.0)]
    metrics = simulate([*events, BatchTask(0.8, 256, 256, 100.0)], policy)
    assert (metrics.placed, metrics.transactions, metrics.retries) == (2, 3, 1)  # refused once, then placed
    assert (metrics.conflicts, metrics.conflicted_transactions, metrics.conflict_fraction) == (0, 0, 0.0)


def test_a_placement_the_service_scheduler_beat_is_a_conflict() -> None:
    # the batch scheduler plans at 0 and commits at 0.5; at 0.25 the service's task took the room
    web = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web", "cpu": 1024, "memory": 256}]}
    events: list[WorkloadEvent] = [InstanceJoin(0.0, "i-0", 1024, 8192), RegisterDefinition(0.0, web)]
    events += [CreateService(0.0, "web", "web:1", 1), BatchTask(0.0, 1024, 256, 100.0)]
    policy = SchedulingPolicy("one", strategies=[binpack("memory")], decision_time=0.5, service_interval=0.25)
    metrics = simulate(events, policy, until=50)
    assert (metrics.transactions, metrics.conflicted_transactions, metrics.conflicts, metrics.retries) == (1, 1, 1, 1)
    assert (metrics.placed, metrics.pending) == (0, 1)


def test_tasks_still_waiting_count_in_the_wait_percentiles_censored_at_the_end() -> None:
    # two fit at once; the third, too big for any instance, waits from 10 s to the end at 100 s
    events: list[WorkloadEvent] = [InstanceJoin(0.0, "i-0", 2048, 4096), BatchTask(0.0, 512, 512, 1000.0, count=2)]
    metrics = simulate([*events, BatchTask(10.0, 4096, 512, 1000.0)], BINPACK, until=100)
    assert (metrics.placed, metrics.pending, metrics.duration) == (2, 1, 100.0)
    assert metrics.wait_max == metrics.wait_p99 == 90.0
    assert metrics.wait_p50 == 0.0 and metrics.wait_cdf[0] == 0.0 and metrics.wait_cdf[-1] == 90.0


def test_with_nothing_placed_the_waits_are_those_of_the_tasks_waiting() -> None:
    metrics = simulate([BatchTask(5.0, 512, 512, 10.0, count=3)], BINPACK, until=65)
    assert (metrics.placed, metrics.pending) == (0, 3)
    assert metrics.wait_p50 == metrics.wait_max == 60.0 and len(metrics.wait_cdf) == 101


def _sample(time: float, in_use: int) -> Sample:
    return Sample(time, in_use, in_use, 1024, 0, 2048, 0, 0, 0, 0, 0)


def test_means_over_samples_are_weighted_by_the_time_between_them() -> None:
    # 10 in use for a minute, then 0 for one second: the plain mean would say 5
    samples = [_sample(0.0, 10), _sample(60.0, 10), _sample(61.0, 0)]
    assert time_mean(samples, lambda sample: sample.instances_in_use) == pytest.approx((600 + 5) / 61)
    assert time_mean([_sample(3.0, 4), _sample(3.0, 8)], lambda sample: sample.instances_in_use) == 6.0
    assert time_mean([], lambda sample: sample.instances_in_use) == 0.0


@given(st.lists(st.tuples(st.floats(0, 100), st.integers(0, 50)), min_size=1, max_size=20))
def test_a_mean_over_time_lies_between_the_least_and_the_most_sampled(points: list[tuple[float, int]]) -> None:
    times = sorted(time for time, _ in points)
    samples = [_sample(time, value) for time, (_, value) in zip(times, points, strict=True)]
    values = [sample.instances_in_use for sample in samples]
    mean = time_mean(samples, lambda sample: sample.instances_in_use)
    assert min(values) - 1e-9 <= mean <= max(values) + 1e-9
    if len(set(values)) == 1:
        assert mean == pytest.approx(values[0])


def test_the_timeline_runs_actions_in_time_order_and_those_of_one_moment_in_the_order_set() -> None:
    time = Timeline(EPOCH)
    ran: list[tuple[float, str]] = []

    def note(name: str) -> Callable[[], None]:
        return lambda: ran.append((time.now, name))

    time.at(2.0, note("b"))
    time.at(1.0, note("a"))
    time.at(2.0, lambda: time.after(0.0, note("set at 2 for 2")))
    time.at(2.0, note("c"))
    time.every(1.5, note("tick"))
    while time.next_due() <= 3.0:
        time.advance(time.next_due())
        time.run_due(time.now)
    assert ran == [(0.0, "tick"), (1.0, "a"), (1.5, "tick"), (2.0, "b"), (2.0, "c"), (2.0, "set at 2 for 2"),
                   (3.0, "tick")]  # fmt: skip
    assert time.clock() == EPOCH + 3.0


def test_a_rule_tied_to_a_family_and_an_instance_label_is_exercised_on_a_generated_workload() -> None:
    """Batch tasks of family ``etl`` may run only on ``tier=gold`` instances: the generator makes
    both, and every etl task the run places lands on a gold instance."""
    spec = WorkloadSpec(
        seed=4, duration=600, instances=6, arrival_rate=0.5, instance_attributes=[("tier", ["gold", "std"])],
        shapes=(Shape(256, 512, 1.0, "etl"), Shape(256, 512, 1.0)),
    )  # fmt: skip

    def gold_only(instance: ContainerInstance, context: PlacementContext) -> str | None:
        gold = instance.attribute("tier") == "gold"
        return None if gold or context.request.task_definition.family != "etl" else "NOT_GOLD"

    placed: Counter[tuple[str, str | None]] = Counter()

    def look(snapshot: Snapshot, waiting: object, sample: Sample) -> None:
        for task in snapshot.tasks():
            instance = snapshot.instance(task.container_instance_id)
            placed[(task.task_definition.partition(":")[0], instance.attribute("tier"))] += 1

    policy = SchedulingPolicy("gold", scheduler=BaseScheduler(filters=[gold_only], seed=0), sample_interval=30)
    metrics = simulate(generate_workload(spec), policy, on_sample=look)
    assert placed[("etl", "gold")] > 0 and placed[("etl", "std")] == 0
    assert placed[("batch-256-512", "std")] > 0  # the others go anywhere
    assert metrics.placed > 0
