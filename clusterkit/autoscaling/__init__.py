"""Autoscaling: services that scale on their load, and a cluster that grows and shrinks.

Application Auto Scaling's semantics (target tracking, step scaling, scheduled actions,
cooldowns) over a service's desired count, and capacity-provider managed scaling over the
cluster's instances. The decisions are pure functions; the loops commit them.
"""

from clusterkit.autoscaling.capacity import (
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
from clusterkit.autoscaling.cluster import ClusterAutoscaler, ScalingActivity, ScalingDecision, scaling_decision
from clusterkit.autoscaling.providers import (
    DockerEngineProvider,
    EngineControl,
    EngineScript,
    InMemoryProvider,
    InstanceProvider,
)

__all__ = [
    "CAPACITY_PROVIDER_ATTRIBUTE",
    "CapacityProvider",
    "ClusterAutoscaler",
    "DockerEngineProvider",
    "EngineControl",
    "EngineScript",
    "InMemoryProvider",
    "InstanceProvider",
    "Reservation",
    "ReservationTracker",
    "SCALE_IN_ATTRIBUTE",
    "ScalingActivity",
    "ScalingDecision",
    "capacity_reservation",
    "desired_instances",
    "pack_new_instances",
    "pending_shapes",
    "reservation",
    "scaling_decision",
]
