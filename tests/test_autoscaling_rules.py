"""Application Auto Scaling's rules (design notes §7), example by example, on the pure ``decide``.

Each test names the rule it holds ``decide`` to. Datapoints are given oldest first, one
per period; ``T`` is a time well past any cooldown.
"""

from __future__ import annotations

import math

import pytest

from clusterkit.autoscaling import (
    CPU_UTILIZATION,
    MEMORY_UTILIZATION,
    Alarm,
    PolicyData,
    ScalableTarget,
    ScalerMemory,
    ScheduledAction,
    StepAdjustment,
    StepScalingPolicy,
    TargetTrackingPolicy,
    decide,
)
from clusterkit.errors import ValidationError

T = 1_000_000.0
TARGET = ScalableTarget("web", 1, 20)
CPU = TargetTrackingPolicy("cpu50", CPU_UTILIZATION, 50.0)
MEM = TargetTrackingPolicy("mem50", MEMORY_UTILIZATION, 50.0)
FRESH = ScalerMemory()


def points(*values: float | None) -> PolicyData:
    return PolicyData(tuple(values))


def low(value: float, count: int = 15) -> PolicyData:
    return PolicyData((value,) * count)


def run(
    policies: list[TargetTrackingPolicy | StepScalingPolicy],
    data: dict[str, PolicyData],
    current: int,
    *,
    memory: ScalerMemory = FRESH,
    now: float = T,
    deploying: bool = False,
    target: ScalableTarget = TARGET,
) -> int:
    return decide(target, policies, data, memory, current=current, now=now, deploying=deploying).desired


# -- target tracking --------------------------------------------------------------------------


def test_scale_out_takes_three_of_three_datapoints_above_the_target() -> None:
    assert run([CPU], {"cpu50": points(80, 80, 80)}, 2) == 4  # ⌈2 · 80 / 50⌉ = ⌈3.2⌉
    assert run([CPU], {"cpu50": points(80, 80, 40)}, 2) == 2  # two of three: no alarm
    assert run([CPU], {"cpu50": points(80, None, 80)}, 2) == 2  # a missing datapoint does not breach
    assert run([CPU], {"cpu50": points(50, 50, 50)}, 2) == 2  # at the target is not above it


def test_scale_out_rounds_up() -> None:
    assert run([CPU], {"cpu50": points(51, 51, 51)}, 2) == 3  # ⌈2.04⌉
    assert run([CPU], {"cpu50": points(75, 75, 75)}, 4) == 6  # exactly 6: no extra task from float error


def test_scale_in_takes_fifteen_of_fifteen_datapoints_ten_percent_below() -> None:
    assert run([CPU], {"cpu50": low(30)}, 10) == 6  # ⌈10 · 30 / 50⌉
    assert run([CPU], {"cpu50": low(46)}, 10) == 10  # less than 10 % below 50: no alarm
    assert run([CPU], {"cpu50": low(44, 14)}, 10) == 10  # fourteen datapoints are not fifteen
    assert run([CPU], {"cpu50": PolicyData((44.0,) * 14 + (None,))}, 10) == 10


def test_scale_in_removes_whole_tasks_only_while_the_rest_stay_under_the_target() -> None:
    # ⌈10 · 44 / 50⌉ = ⌈8.8⌉ = 9: remove one task (1.2 rounded down), not two.
    assert run([CPU], {"cpu50": low(44)}, 10) == 9
    # ⌈3 · 40 / 50⌉ = ⌈2.4⌉ = 3: removing a task would put the others above the target.
    assert run([CPU], {"cpu50": low(40)}, 3) == 3


def test_several_policies_scale_out_if_any_asks() -> None:
    data = {"cpu50": points(80, 80, 80), "mem50": low(10)}
    assert run([CPU, MEM], data, 2) == 4


def test_several_policies_scale_in_only_if_all_ask() -> None:
    assert run([CPU, MEM], {"cpu50": low(10), "mem50": low(48)}, 10) == 10
    assert run([CPU, MEM], {"cpu50": low(10), "mem50": low(40)}, 10) == 8  # the largest of 2 and 8


def test_several_policies_the_largest_capacity_wins() -> None:
    data = {"cpu50": points(80, 80, 80), "mem50": points(100, 100, 100)}
    assert run([CPU, MEM], data, 2) == 4  # ⌈2 · 100 / 50⌉ = 4 beats ⌈3.2⌉ = 4
    data = {"cpu50": points(60, 60, 60), "mem50": points(100, 100, 100)}
    assert run([CPU, MEM], data, 3) == 6  # 6 beats ⌈3.6⌉ = 4


def test_no_data_never_scales_in() -> None:
    assert run([CPU], {}, 10) == 10
    assert run([CPU, MEM], {"cpu50": low(10)}, 10) == 10  # memory has no data: it holds
    assert run([CPU], {"cpu50": PolicyData((None,) * 15)}, 10) == 10


def test_disable_scale_in_leaves_the_scale_in_to_the_other_policies() -> None:
    quiet = TargetTrackingPolicy("mem50", MEMORY_UTILIZATION, 50.0, disable_scale_in=True)
    assert run([quiet], {"mem50": low(10)}, 10) == 10
    assert run([CPU, quiet], {"cpu50": low(10), "mem50": low(10)}, 10) == 2
    assert run([quiet], {"mem50": points(100, 100, 100)}, 2) == 4  # it still scales out


def test_the_result_stays_within_the_bounds() -> None:
    target = ScalableTarget("web", 3, 5)
    assert run([CPU], {"cpu50": points(500, 500, 500)}, 4, target=target) == 5
    assert run([CPU], {"cpu50": low(1)}, 5, target=target) == 3
    assert run([CPU], {}, 9, target=target) == 5  # registered above its maximum: brought in


def test_alarm_shapes_and_margin_are_settings() -> None:
    quick = TargetTrackingPolicy(
        "q", CPU_UTILIZATION, 50.0, period=5.0, scale_out_periods=2, scale_in_periods=4, scale_in_margin=0.2
    )
    assert run([quick], {"q": points(90, 90)}, 1) == 2
    assert run([quick], {"q": PolicyData((39.0,) * 4)}, 10) == 8
    assert run([quick], {"q": PolicyData((41.0,) * 4)}, 10) == 10  # within 20 % of 50


def test_no_scale_in_during_a_deployment_but_scale_out_goes_on() -> None:
    assert run([CPU], {"cpu50": low(10)}, 10, deploying=True) == 10
    assert run([CPU], {"cpu50": points(80, 80, 80)}, 2, deploying=True) == 4


# -- cooldowns --------------------------------------------------------------------------------


def test_capacity_added_within_a_scale_out_cooldown_counts_toward_the_next_one() -> None:
    first = decide(TARGET, [CPU], {"cpu50": points(100, 100, 100)}, ScalerMemory(), current=2, now=T)
    assert first.desired == 4
    assert first.memory.out_until == T + 300 and first.memory.out_base == 2
    # A minute later the (lagging) datapoints still say 100: measured from 2, not 4, no more tasks.
    again = decide(TARGET, [CPU], {"cpu50": points(100, 100, 100)}, first.memory, current=4, now=T + 60)
    assert again.desired == 4
    # Load grew: ⌈2 · 150 / 50⌉ = 6 — two more, not ⌈4 · 150 / 50⌉ = 12.
    more = decide(TARGET, [CPU], {"cpu50": points(150, 150, 150)}, first.memory, current=4, now=T + 120)
    assert more.desired == 6
    # After the cooldown the current capacity is the base again.
    later = decide(TARGET, [CPU], {"cpu50": points(100, 100, 100)}, first.memory, current=4, now=T + 300)
    assert later.desired == 8


def test_no_scale_in_within_the_cooldown_after_a_scale_out() -> None:
    first = decide(TARGET, [CPU], {"cpu50": points(100, 100, 100)}, ScalerMemory(), current=2, now=T)
    assert run([CPU], {"cpu50": low(10)}, 4, memory=first.memory, now=T + 299) == 4
    assert run([CPU], {"cpu50": low(10)}, 4, memory=first.memory, now=T + 300) == 1


def test_scale_in_cooldown_blocks_scale_in_and_a_scale_out_cancels_it() -> None:
    first = decide(TARGET, [CPU], {"cpu50": low(20)}, ScalerMemory(), current=10, now=T)
    assert first.desired == 4 and first.memory.in_until == T + 300
    assert run([CPU], {"cpu50": low(10)}, 4, memory=first.memory, now=T + 100) == 4
    out = decide(TARGET, [CPU], {"cpu50": points(100, 100, 100)}, first.memory, current=4, now=T + 100)
    assert out.desired == 8 and out.memory.in_until == -math.inf
    assert out.memory.out_until == T + 400  # ... and starts its own scale-out cooldown


def test_cooldowns_are_the_policys() -> None:
    short = TargetTrackingPolicy("cpu50", CPU_UTILIZATION, 50.0, scale_out_cooldown=60, scale_in_cooldown=30)
    first = decide(TARGET, [short], {"cpu50": points(100, 100, 100)}, ScalerMemory(), current=2, now=T)
    assert first.memory.out_until == T + 60
    assert run([short], {"cpu50": points(100, 100, 100)}, 4, memory=first.memory, now=T + 60) == 8


# -- step scaling -----------------------------------------------------------------------------

HIGH = Alarm("cpu-high", 60.0, "GreaterThanOrEqualToThreshold", evaluation_periods=1)
LOW = Alarm("cpu-low", 30.0, "LessThanOrEqualToThreshold", evaluation_periods=1)
UP_STEPS = (StepAdjustment(1, 0.0, 10.0), StepAdjustment(2, 10.0, 20.0), StepAdjustment(3, 20.0, None))
DOWN_STEPS = (StepAdjustment(-1, -10.0, 0.0), StepAdjustment(-2, None, -10.0))


def step_policy(
    adjustment_type: str = "ChangeInCapacity",
    steps: tuple[StepAdjustment, ...] = UP_STEPS,
    alarm: Alarm = HIGH,
    **options: object,
) -> StepScalingPolicy:
    return StepScalingPolicy("step", CPU_UTILIZATION, alarm, adjustment_type, steps, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"), [(59.9, 10), (60, 11), (69.9, 11), (70, 12), (80, 13), (500, 13)])
def test_step_bounds_are_relative_to_the_alarm_threshold(value: float, expected: int) -> None:
    assert run([step_policy()], {"step": points(value)}, 10) == expected


@pytest.mark.parametrize(("value", "expected"), [(30.1, 10), (30, 9), (25, 9), (20.1, 9), (20, 8), (0, 8)])
def test_step_bounds_below_the_threshold_include_their_upper_end(value: float, expected: int) -> None:
    assert run([step_policy(steps=DOWN_STEPS, alarm=LOW)], {"step": points(value)}, 10) == expected


def test_exact_capacity_sets_the_count() -> None:
    policy = step_policy("ExactCapacity", (StepAdjustment(7, 0.0, None),))
    assert run([policy], {"step": points(65)}, 3) == 7


@pytest.mark.parametrize(
    ("current", "percent", "magnitude", "expected"),
    [
        (10, 25, None, 12),  # 2.5 rounds toward zero
        (10, -25, None, 8),  # -2.5 rounds toward zero
        (4, 10, None, 5),  # 0.4 moves at least one task
        (4, -10, None, 3),
        (4, 10, 2, 6),  # MinAdjustmentMagnitude raises a small change
        (10, 50, 2, 15),  # ... and leaves a larger one
        (10, -25, 3, 7),
    ],
)
def test_percent_change_rounds_toward_zero_with_at_least_one(
    current: int, percent: int, magnitude: int | None, expected: int
) -> None:
    alarm, lower, upper = (HIGH, 0.0, None) if percent > 0 else (LOW, None, 0.0)
    policy = step_policy(
        "PercentChangeInCapacity", (StepAdjustment(percent, lower, upper),), alarm, min_adjustment_magnitude=magnitude
    )
    value = 90.0 if percent > 0 else 10.0
    assert run([policy], {"step": points(value)}, current) == expected


def test_step_aggregation_picks_the_step_from_its_statistic() -> None:
    policy = step_policy(metric_aggregation="Maximum")
    # The alarm sees the average (65); the step comes from the period's maximum (85).
    assert run([policy], {"step": PolicyData((65.0,), latest=85.0)}, 10) == 13


def test_a_step_scale_out_within_its_cooldown_counts_what_it_added() -> None:
    first = decide(TARGET, [step_policy()], {"step": points(65)}, ScalerMemory(), current=5, now=T)
    assert first.desired == 6
    # Fired again in the cooldown at +3: only the difference from what the cooldown began at (5 + 3).
    again = decide(TARGET, [step_policy()], {"step": points(85)}, first.memory, current=6, now=T + 60)
    assert again.desired == 8
    same = decide(TARGET, [step_policy()], {"step": points(65)}, first.memory, current=6, now=T + 60)
    assert same.desired == 6


def test_a_step_policy_whose_alarm_is_quiet_has_no_say_on_scale_in() -> None:
    down = StepScalingPolicy("down", CPU_UTILIZATION, LOW, "ChangeInCapacity", DOWN_STEPS)
    assert run([step_policy(), down], {"step": points(40), "down": points(25)}, 10) == 9
    # A target-tracking policy that holds does block it.
    assert run([CPU, down], {"cpu50": low(48), "down": points(25)}, 10) == 10


# -- scheduled actions ------------------------------------------------------------------------


def test_a_scheduled_action_below_the_new_minimum_scales_out_to_it() -> None:
    action = ScheduledAction("morning", T - 1, min_capacity=6, max_capacity=10)
    decision = decide(TARGET, [], {}, ScalerMemory(), current=2, now=T, actions=[action])
    assert decision.desired == 6
    assert (decision.target.min_capacity, decision.target.max_capacity) == (6, 10)
    assert decision.activities[0].cause == "scheduled action name morning set min capacity to 6 and max capacity to 10"
    assert "morning" in decision.memory.done


def test_a_scheduled_action_above_the_new_maximum_scales_in_to_it() -> None:
    action = ScheduledAction("night", T, max_capacity=3)
    assert decide(TARGET, [], {}, ScalerMemory(), current=8, now=T, actions=[action]).desired == 3


def test_a_scheduled_action_waits_for_its_time_and_runs_once() -> None:
    action = ScheduledAction("later", T + 60, min_capacity=6)
    assert decide(TARGET, [], {}, ScalerMemory(), current=2, now=T, actions=[action]).desired == 2
    done = decide(TARGET, [], {}, ScalerMemory(), current=2, now=T + 60, actions=[action])
    again = decide(done.target, [], {}, done.memory, current=6, now=T + 120, actions=[action])
    assert again.activities == ()


def test_a_scheduled_action_within_the_bounds_changes_no_count() -> None:
    action = ScheduledAction("wider", T, min_capacity=1, max_capacity=50)
    decision = decide(TARGET, [], {}, ScalerMemory(), current=4, now=T, actions=[action])
    assert decision.desired == 4 and decision.activities == () and decision.target.max_capacity == 50


# -- activities -------------------------------------------------------------------------------


def test_every_change_is_an_activity_naming_the_alarm_and_policy() -> None:
    decision = decide(TARGET, [CPU], {"cpu50": points(80, 80, 80)}, ScalerMemory(), current=2, now=T)
    (activity,) = decision.activities
    assert (activity.time, activity.service, activity.old, activity.new) == (T, "web", 2, 4)
    assert (
        activity.cause
        == "monitor alarm TargetTracking-service/web-AlarmHigh-cpu50 in state ALARM triggered policy cpu50"
    )
    assert activity.description == "Setting desired count to 4."
    assert decide(TARGET, [CPU], {"cpu50": points(50, 50, 50)}, ScalerMemory(), current=2, now=T).activities == ()


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ScalableTarget("web", -1, 3), "MinCapacity"),
        (lambda: ScalableTarget("web", 4, 3), "MaxCapacity"),
        (lambda: TargetTrackingPolicy("p", CPU_UTILIZATION, 0.0), "TargetValue"),
        (lambda: TargetTrackingPolicy("p", CPU_UTILIZATION, float("nan")), "TargetValue"),
        (lambda: TargetTrackingPolicy("", CPU_UTILIZATION, 50.0), "PolicyName"),
        (lambda: TargetTrackingPolicy("p", CPU_UTILIZATION, 50.0, scale_in_cooldown=-1), "ScaleInCooldown"),
        (lambda: TargetTrackingPolicy("p", CPU_UTILIZATION, 50.0, scale_in_margin=1.0), "ScaleInMargin"),
        (lambda: TargetTrackingPolicy("p", CPU_UTILIZATION, 50.0, scale_out_datapoints=4), "DatapointsToAlarm"),
        (lambda: step_policy("Bogus"), "AdjustmentType"),
        (lambda: step_policy(min_adjustment_magnitude=2), "MinAdjustmentMagnitude"),
        (lambda: step_policy(metric_aggregation="Sum"), "MetricAggregationType"),
        (lambda: step_policy(steps=()), "StepAdjustments"),
        (
            lambda: step_policy(steps=(StepAdjustment(1, 0.0, 10.0), StepAdjustment(2, 5.0, None))),
            "StepAdjustments[1].MetricIntervalLowerBound",
        ),
        (
            lambda: step_policy(steps=(StepAdjustment(1, 0.0, 10.0), StepAdjustment(2, 15.0, None))),
            "StepAdjustments[1].MetricIntervalLowerBound",
        ),
        (lambda: step_policy(steps=(StepAdjustment(1, 10.0, None),)), "StepAdjustments[0].MetricIntervalLowerBound"),
        (lambda: step_policy(steps=(StepAdjustment(1, None, None),)), "StepAdjustments[0].MetricIntervalLowerBound"),
        (lambda: step_policy(steps=(StepAdjustment(1, 5.0, 5.0),)), "StepAdjustments[0].MetricIntervalUpperBound"),
        (
            lambda: step_policy(steps=(StepAdjustment(1, None, 0.0), StepAdjustment(1, None, 5.0))),
            "StepAdjustments[1].MetricIntervalLowerBound",
        ),
        (
            lambda: step_policy("ExactCapacity", (StepAdjustment(-1, 0.0, None),)),
            "StepAdjustments[0].ScalingAdjustment",
        ),
        # AAS: a positive upper bound needs a step with a null upper bound; a negative lower, a null lower
        (lambda: step_policy(steps=(StepAdjustment(1, 0.0, 10.0),)), "StepAdjustments[0].MetricIntervalUpperBound"),
        (
            lambda: step_policy(steps=(StepAdjustment(2, 10.0, 20.0), StepAdjustment(1, 0.0, 10.0))),
            "StepAdjustments[0].MetricIntervalUpperBound",
        ),
        (lambda: step_policy(steps=(StepAdjustment(-1, -10.0, 0.0),)), "StepAdjustments[0].MetricIntervalLowerBound"),
        (
            lambda: step_policy(steps=(StepAdjustment(-1, -10.0, 0.0), StepAdjustment(1, 0.0, None))),
            "StepAdjustments[0].MetricIntervalLowerBound",
        ),
        (lambda: ScheduledAction("a", T), "ScalableTargetAction"),
        (lambda: ScheduledAction("a", T, min_capacity=5, max_capacity=2), "ScalableTargetAction.MaxCapacity"),
    ],
)
def test_bad_input_names_the_field(build: object, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        build()  # type: ignore[operator]
    assert raised.value.field == field


def test_steps_bounded_on_a_side_they_do_not_extend_past_zero_are_accepted() -> None:
    """Only a side the steps reach past the threshold must reach infinity: these are AAS-valid."""
    assert step_policy(steps=(StepAdjustment(-1, -10.0, 0.0), StepAdjustment(-2, None, -10.0))).step_adjustments
    assert step_policy(steps=(StepAdjustment(1, None, 0.0),)).step_adjustments
    assert step_policy(steps=(StepAdjustment(1, 0.0, None),)).step_adjustments
