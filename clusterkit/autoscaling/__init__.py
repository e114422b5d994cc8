"""Autoscaling: services that scale on their load, and a cluster that grows and shrinks.

Application Auto Scaling's semantics (target tracking, step scaling, scheduled actions,
cooldowns) over a service's desired count, and capacity-provider managed scaling over the
cluster's instances. The decisions are pure functions; the loops commit them.

Service side: values in ``policies``, the pure decision in ``decide``, metric sources in
``sources`` and the ``ServiceAutoscaler`` loop in ``service``; ``metrics`` and ``alarms``
are the shared foundation (metric series by period, M-of-N alarms).

Cluster side: CapacityProviderReservation from a snapshot or kept incrementally in
``capacity``, the pure managed-scaling step and the ``ClusterAutoscaler`` loop in
``cluster``, and the instance providers (in memory, extra Docker engines) in ``providers``.
"""

from clusterkit.autoscaling._alarms import COMPARISONS, Alarm, AlarmComparison, AlarmState
from clusterkit.autoscaling._capacity import (
    CAPACITY_PROVIDER_ATTRIBUTE,
    SCALE_IN_ATTRIBUTE,
    CapacityProvider,
    Reservation,
    ReservationTracker,
    capacity_reservation,
    desired_instances,
    pack_new_instances,
    pending_shapes,
    reservation,
)
from clusterkit.autoscaling._cluster import CapacityActivity, CapacityDecision, ClusterAutoscaler, scaling_decision
from clusterkit.autoscaling._decide import PolicyData, ScalerMemory, ScalingDecision, Vote, VoteKind, decide, vote
from clusterkit.autoscaling._metrics import STATISTICS, MetricSeries, Statistic
from clusterkit.autoscaling._policies import (
    ADJUSTMENT_TYPES,
    ALB_REQUEST_COUNT_PER_TARGET,
    CPU_UTILIZATION,
    MEMORY_UTILIZATION,
    PREDEFINED_METRICS,
    AdjustmentType,
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    StepAdjustment,
    StepScalingPolicy,
    TargetTrackingPolicy,
)
from clusterkit.autoscaling._providers import (
    DockerEngineProvider,
    EngineControl,
    EngineScript,
    InMemoryProvider,
    InstanceProvider,
)
from clusterkit.autoscaling._service import ServiceAutoscaler
from clusterkit.autoscaling._sources import (
    DockerStatsSource,
    ExecutorStatsSource,
    FedMetrics,
    MetricSource,
    SimulatedLoad,
    running_tasks,
    utilization,
)

__all__ = [
    "ADJUSTMENT_TYPES",
    "ALB_REQUEST_COUNT_PER_TARGET",
    "AdjustmentType",
    "Alarm",
    "AlarmComparison",
    "AlarmState",
    "CAPACITY_PROVIDER_ATTRIBUTE",
    "COMPARISONS",
    "CPU_UTILIZATION",
    "CapacityActivity",
    "CapacityDecision",
    "CapacityProvider",
    "ClusterAutoscaler",
    "DockerEngineProvider",
    "DockerStatsSource",
    "EngineControl",
    "EngineScript",
    "ExecutorStatsSource",
    "FedMetrics",
    "InMemoryProvider",
    "InstanceProvider",
    "MEMORY_UTILIZATION",
    "MetricSeries",
    "MetricSource",
    "PREDEFINED_METRICS",
    "PolicyData",
    "Reservation",
    "ReservationTracker",
    "SCALE_IN_ATTRIBUTE",
    "STATISTICS",
    "ScalableTarget",
    "ScalerMemory",
    "ScalingActivity",
    "ScalingDecision",
    "ScalingPolicy",
    "ScheduledAction",
    "ServiceAutoscaler",
    "SimulatedLoad",
    "Statistic",
    "StepAdjustment",
    "StepScalingPolicy",
    "TargetTrackingPolicy",
    "Vote",
    "VoteKind",
    "capacity_reservation",
    "decide",
    "desired_instances",
    "pack_new_instances",
    "pending_shapes",
    "reservation",
    "running_tasks",
    "scaling_decision",
    "utilization",
    "vote",
]
