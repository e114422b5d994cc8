"""Properties of ``decide`` over generated targets, policies, datapoints and histories."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clusterkit.autoscaling import (
    CPU_UTILIZATION,
    AdjustmentType,
    Alarm,
    PolicyData,
    ScalableTarget,
    ScalerMemory,
    ScalingPolicy,
    StepAdjustment,
    StepScalingPolicy,
    TargetTrackingPolicy,
    decide,
)

METRICS = st.sampled_from(["a", "b", CPU_UTILIZATION])
VALUES = st.one_of(st.none(), st.floats(min_value=0, max_value=1000, allow_nan=False))


@st.composite
def targets(draw: st.DrawFn) -> ScalableTarget:
    low = draw(st.integers(0, 20))
    return ScalableTarget("web", low, draw(st.integers(low, 40)))


@st.composite
def tracking(draw: st.DrawFn, name: str) -> TargetTrackingPolicy:
    return TargetTrackingPolicy(
        name,
        draw(METRICS),
        draw(st.floats(min_value=1, max_value=100)),
        scale_out_cooldown=draw(st.integers(0, 600)),
        scale_in_cooldown=draw(st.integers(0, 600)),
        disable_scale_in=draw(st.booleans()),
        scale_out_periods=draw(st.integers(1, 3)),
        scale_in_periods=draw(st.integers(1, 5)),
    )


@st.composite
def stepping(draw: st.DrawFn, name: str) -> StepScalingPolicy:
    up = draw(st.booleans())
    threshold = draw(st.floats(min_value=0, max_value=100))
    kind: AdjustmentType = draw(st.sampled_from(["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]))
    size = draw(st.integers(0, 50)) if kind == "ExactCapacity" else draw(st.integers(1, 60)) * (1 if up else -1)
    if up:
        alarm = Alarm(name, threshold, "GreaterThanThreshold")
        steps: tuple[StepAdjustment, ...] = (
            StepAdjustment(size, 0.0, 10.0),
            StepAdjustment(size * 2 if kind != "ExactCapacity" else size, 10.0),
        )
    else:
        alarm = Alarm(name, threshold, "LessThanThreshold")
        steps = (StepAdjustment(size, None, 0.0),)
    magnitude = draw(st.none() | st.integers(1, 5)) if kind == "PercentChangeInCapacity" else None
    return StepScalingPolicy(
        name,
        draw(METRICS),
        alarm,
        kind,
        steps,
        min_adjustment_magnitude=magnitude,
        cooldown=draw(st.integers(0, 600)),
    )


@st.composite
def policy_sets(draw: st.DrawFn) -> list[ScalingPolicy]:
    count = draw(st.integers(0, 3))
    return [draw(st.one_of(tracking(f"p{i}"), stepping(f"p{i}"))) for i in range(count)]


def data_for(draw: Callable[[st.SearchStrategy[Any]], Any], policies: list[ScalingPolicy]) -> dict[str, PolicyData]:
    return {p.name: PolicyData(tuple(draw(st.lists(VALUES, max_size=6))), draw(VALUES)) for p in policies}


@given(st.data())
def test_the_desired_count_stays_within_the_bounds(data: st.DataObject) -> None:
    target, policies = data.draw(targets()), data.draw(policy_sets())
    readings = data_for(data.draw, policies)
    memory = ScalerMemory(
        out_until=data.draw(st.floats(0, 2000)),
        out_base=data.draw(st.integers(0, 60)),
        in_until=data.draw(st.floats(0, 2000)),
    )
    current = data.draw(st.integers(0, 60))
    decision = decide(
        target, policies, readings, memory, current=current, now=1000.0, deploying=data.draw(st.booleans())
    )
    assert target.min_capacity <= decision.desired <= target.max_capacity
    for activity in decision.activities:
        assert target.min_capacity <= activity.new <= target.max_capacity
    if decision.activities:
        assert decision.activities[0].old == current and decision.activities[-1].new == decision.desired


@given(st.data())
def test_no_scale_in_within_the_cooldown_after_a_scale_out(data: st.DataObject) -> None:
    target, policies = data.draw(targets()), data.draw(policy_sets())
    memory, current, now = ScalerMemory(), data.draw(st.integers(0, 40)), 0.0
    scale_outs: list[tuple[float, int]] = []  # (time, cooldown of the policy that scaled out)
    cooldowns = {p.name: p.scale_out_cooldown if isinstance(p, TargetTrackingPolicy) else p.cooldown for p in policies}
    for _ in range(data.draw(st.integers(1, 25))):
        now += data.draw(st.sampled_from([1.0, 30.0, 60.0, 200.0]))
        decision = decide(target, policies, data_for(data.draw, policies), memory, current=current, now=now)
        chosen = {v.cause: v.policy for v in decision.votes}
        for activity in decision.activities:
            if activity.cause not in chosen:
                continue  # brought within the bounds, not a policy's scaling
            if activity.new > activity.old:
                if not scale_outs or now >= scale_outs[-1][0] + scale_outs[-1][1]:
                    scale_outs.append((now, cooldowns[chosen[activity.cause]]))
            elif activity.new < activity.old:
                assert all(now >= at + cooldown for at, cooldown in scale_outs), (now, scale_outs)
        memory, current = decision.memory, decision.desired


@given(
    load=st.floats(min_value=0.3, max_value=25),
    goal=st.floats(min_value=20, max_value=90),
    start=st.integers(1, 30),
)
def test_target_tracking_converges_on_a_steady_load_without_oscillating(load: float, goal: float, start: int) -> None:
    """A load of ``load`` tasks' worth, measured every minute as 100·load/tasks: after a few
    decisions the count stops moving, the tasks sit at or under the target, and scaling in
    one more task would put them over it. The count changes direction at most once.
    """
    target = ScalableTarget("web", 1, 200)
    policy = TargetTrackingPolicy("cpu", CPU_UTILIZATION, goal)
    window: list[float | None] = [None] * 15
    memory, current = ScalerMemory(), start
    history = [current]
    for minute in range(240):
        window = [*window[1:], 100 * load / current]
        decision = decide(
            target, [policy], {"cpu": PolicyData(tuple(window))}, memory, current=current, now=60.0 * minute
        )
        memory, current = decision.memory, decision.desired
        history.append(current)
    moves = [b - a for a, b in itertools.pairwise(history) if b != a]
    assert sum(1 for x, y in itertools.pairwise(moves) if (x > 0) != (y > 0)) <= 1, history
    assert history[-60:] == [current] * 60, history  # settled for the last hour
    utilisation = 100 * load / current
    assert utilisation <= goal + 1e-6
    assert current == 1 or utilisation >= goal * 0.9 - 1e-6 or math.ceil(current * utilisation / goal - 1e-9) == current
