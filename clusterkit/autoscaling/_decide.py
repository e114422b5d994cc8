"""The pure decision of service autoscaling: from the metrics and the cooldowns to a desired count.

``decide`` takes a scalable target, its policies, the datapoints each policy's alarms look
at, the cooldowns remembered from earlier decisions, the current desired count, whether a
deployment is in progress and the time, and answers with the new desired count, the
activities that explain it and the new cooldown memory. It does no I/O.

The rules (Application Auto Scaling's):

* Due scheduled actions set the bounds first; a count below the new minimum scales out to
  it, one above the new maximum scales in to it.
* Each policy votes. Target tracking: its high alarm in ALARM asks for
  ``⌈current · metric / target⌉`` (out); its low alarm in ALARM asks for the same (in),
  which removes whole tasks only while the rest stay at or under the target; no data holds.
  Step scaling: its alarm in ALARM asks for what the matching step gives.
* Out if any policy asks out, the largest capacity winning. In only if every policy with a
  say asks in (a step policy whose alarm is not in ALARM, or a target-tracking policy with
  scale-in disabled, has none), again the largest capacity winning — so the smallest
  reduction; never while a deployment is in progress.
* Cooldowns: after a scale-out no scale-out for its ``scale_out_cooldown`` — unless a policy
  asks for more than the capacity already reached, measured from the capacity the
  cooldown started at (capacity added within it counts toward the next scale-out). After a
  scale-out no scale-in either until that cooldown ends; after a scale-in no scale-in for
  ``scale_in_cooldown``; a scale-out cancels a scale-in cooldown.
* The result always lies within the target's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import attrs

from clusterkit.autoscaling._policies import (
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    TargetTrackingPolicy,
)

__all__ = ["PolicyData", "ScalerMemory", "ScalingDecision", "Vote", "VoteKind", "decide", "vote"]

VoteKind = Literal["out", "in", "hold", "none"]
"""A policy's say: scale out, scale in, hold the count, or no say on scale-in at all."""

_EPSILON = 1e-9  # 4 tasks at exactly 75 % of a 75 % target are 4 tasks, not 5


@attrs.frozen(slots=True)
class PolicyData:
    """What a policy's alarms look at: its metric's datapoints, oldest first (None: no sample).

    ``points`` are in the alarm's statistic (Average for target tracking); ``latest`` is the
    newest datapoint in a step policy's ``metric_aggregation`` (None: use ``points``).
    """

    points: tuple[float | None, ...] = ()
    latest: float | None = None


@attrs.frozen(slots=True)
class ScalerMemory:
    """The cooldowns of one scalable target, carried from one decision to the next.

    ``out_until``: the scale-out cooldown runs until then, and it started at capacity
    ``out_base``; ``in_until``: the scale-in cooldown; ``done``: the scheduled actions applied.
    """

    out_until: float = -math.inf
    out_base: int = 0
    in_until: float = -math.inf
    done: frozenset[str] = frozenset()


@attrs.frozen(slots=True)
class Vote:
    """One policy's say: ``out``/``in`` with the capacity it wants, ``hold``, or ``none`` (no say on scale-in)."""

    policy: str
    kind: VoteKind
    capacity: int = 0
    cause: str = ""
    cooldown: int = 0


@attrs.frozen(slots=True)
class ScalingDecision:
    """The new desired count, the target's bounds after scheduled actions, the activities and the memory."""

    desired: int
    target: ScalableTarget
    memory: ScalerMemory
    activities: tuple[ScalingActivity, ...] = ()
    votes: tuple[Vote, ...] = ()


def _ceil(value: float) -> int:
    return math.ceil(value - _EPSILON)


def _newest(points: Sequence[float | None], count: int) -> float | None:
    return next((value for value in reversed(points[-count:]) if value is not None), None)


def _alarm_cause(alarm: str, policy: str) -> str:
    return f"monitor alarm {alarm} in state ALARM triggered policy {policy}"


def vote(
    service: str, policy: ScalingPolicy, data: PolicyData, *, current: int, memory: ScalerMemory, now: float
) -> Vote:
    """What one policy asks for now (before the bounds, the other policies and the scale-in rules)."""
    cooling = now < memory.out_until
    base = memory.out_base if cooling else current
    if isinstance(policy, TargetTrackingPolicy):
        high, low = policy.high_alarm(service), policy.low_alarm(service)
        points = list(data.points)
        if high.state(points) == "ALARM":
            value = _newest(points, policy.scale_out_periods)
            assert value is not None  # an alarm in ALARM has a datapoint
            wanted = _ceil(base * value / policy.target_value) if base else 1
            cause = _alarm_cause(high.name, policy.name)
            return Vote(policy.name, "out", wanted, cause, policy.scale_out_cooldown)
        if policy.disable_scale_in:
            return Vote(policy.name, "none")
        state = low.state(points)
        if state == "INSUFFICIENT_DATA":
            return Vote(policy.name, "hold", cause="no data")
        if state == "ALARM":
            value = _newest(points, policy.scale_in_periods)
            assert value is not None
            wanted = _ceil(current * value / policy.target_value)
            if wanted < current:
                return Vote(policy.name, "in", wanted, _alarm_cause(low.name, policy.name), policy.scale_in_cooldown)
        return Vote(policy.name, "hold")
    if policy.alarm.state(list(data.points)) != "ALARM":
        return Vote(policy.name, "none")
    value = data.latest if data.latest is not None else _newest(data.points, policy.alarm.evaluation_periods)
    step = None if value is None else policy.step_for(value)
    if step is None:
        return Vote(policy.name, "hold")
    cause = _alarm_cause(policy.alarm.name, policy.name)
    wanted = policy.capacity(current, step)
    if wanted > current:
        # Within a scale-out cooldown the step counts from the capacity the cooldown began at.
        wanted = policy.capacity(base, step)
        return Vote(policy.name, "out", wanted, cause, policy.cooldown)
    if wanted < current:
        return Vote(policy.name, "in", wanted, cause, policy.cooldown)
    return Vote(policy.name, "hold")


def decide(
    target: ScalableTarget,
    policies: Sequence[ScalingPolicy],
    data: Mapping[str, PolicyData],
    memory: ScalerMemory,
    *,
    current: int,
    now: float,
    deploying: bool = False,
    actions: Sequence[ScheduledAction] = (),
) -> ScalingDecision:
    """The desired count for ``target`` now; see the module's docstring for the rules.

    ``data`` maps a policy name to its datapoints (a policy without any has no data).
    """
    service = target.service
    activities: list[ScalingActivity] = []
    desired = current
    for action in sorted(actions, key=lambda a: (a.at, a.name)):
        if action.at > now or action.name in memory.done:
            continue
        target = action.apply(target)
        memory = attrs.evolve(memory, done=memory.done | {action.name})
        bounded = target.clamp(desired)
        if bounded != desired:
            cause = (
                f"scheduled action name {action.name} set min capacity to {target.min_capacity}"
                f" and max capacity to {target.max_capacity}"
            )
            activities.append(ScalingActivity(now, service, desired, bounded, cause))
            desired = bounded
    bounded = target.clamp(desired)
    if bounded != desired:
        cause = f"the scalable target's bounds are {target.min_capacity}..{target.max_capacity}"
        activities.append(ScalingActivity(now, service, desired, bounded, cause))
        desired = bounded

    votes = tuple(
        vote(service, policy, data.get(policy.name, PolicyData()), current=desired, memory=memory, now=now)
        for policy in policies
    )
    outs = [v for v in votes if v.kind == "out" and target.clamp(v.capacity) > desired]
    says = [v for v in votes if v.kind != "none"]
    if outs:
        chosen = max(outs, key=lambda v: v.capacity)
        new = target.clamp(chosen.capacity)
        if now >= memory.out_until:
            memory = attrs.evolve(memory, out_until=now + chosen.cooldown, out_base=desired)
        memory = attrs.evolve(memory, in_until=-math.inf)
        activities.append(ScalingActivity(now, service, desired, new, chosen.cause))
        desired = new
    elif (
        says
        and all(v.kind == "in" for v in says)
        and not deploying
        and now >= memory.in_until
        and now >= memory.out_until
    ):
        chosen = max(says, key=lambda v: v.capacity)
        new = target.clamp(chosen.capacity)
        if new < desired:
            memory = attrs.evolve(memory, in_until=now + chosen.cooldown)
            activities.append(ScalingActivity(now, service, desired, new, chosen.cause))
            desired = new
    return ScalingDecision(desired, target, memory, tuple(activities), votes)
