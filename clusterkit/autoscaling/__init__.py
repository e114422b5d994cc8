"""Autoscaling: services that scale on their load, and a cluster that grows and shrinks.

Application Auto Scaling's semantics (target tracking, step scaling, scheduled actions,
cooldowns) over a service's desired count, and capacity-provider managed scaling over the
cluster's instances. The decisions are pure functions; the loops commit them.

Service side: values in ``policies``, the pure decision in ``decide``, metric sources in
``sources`` and the ``ServiceAutoscaler`` loop in ``service``; ``metrics`` and ``alarms``
are the shared foundation (metric series by period, M-of-N alarms).
"""

from clusterkit.autoscaling.alarms import Alarm, AlarmState, Comparison
from clusterkit.autoscaling.decide import PolicyData, ScalerMemory, ScalingDecision, Vote, VoteKind, decide, vote
from clusterkit.autoscaling.metrics import MetricSeries, Statistic
from clusterkit.autoscaling.policies import (
    ALB_REQUEST_COUNT_PER_TARGET,
    CPU_UTILIZATION,
    MEMORY_UTILIZATION,
    PREDEFINED_METRICS,
    AdjustmentType,
    Policy,
    ScalableTarget,
    ScalingActivity,
    ScheduledAction,
    StepAdjustment,
    StepScalingPolicy,
    TargetTrackingPolicy,
)
from clusterkit.autoscaling.service import ServiceAutoscaler
from clusterkit.autoscaling.sources import (
    DockerStatsSource,
    ExecutorStatsSource,
    FedMetrics,
    MetricSource,
    SimulatedLoad,
    running_tasks,
    utilization,
)

__all__ = [
    "ALB_REQUEST_COUNT_PER_TARGET",
    "AdjustmentType",
    "Alarm",
    "AlarmState",
    "CPU_UTILIZATION",
    "Comparison",
    "DockerStatsSource",
    "ExecutorStatsSource",
    "FedMetrics",
    "MEMORY_UTILIZATION",
    "MetricSeries",
    "MetricSource",
    "PREDEFINED_METRICS",
    "Policy",
    "PolicyData",
    "ScalableTarget",
    "ScalerMemory",
    "ScalingActivity",
    "ScalingDecision",
    "ScheduledAction",
    "ServiceAutoscaler",
    "SimulatedLoad",
    "Statistic",
    "StepAdjustment",
    "StepScalingPolicy",
    "TargetTrackingPolicy",
    "Vote",
    "VoteKind",
    "decide",
    "running_tasks",
    "utilization",
    "vote",
]
