"""Autoscaling: services that scale on their load, and a cluster that grows and shrinks.

Application Auto Scaling's semantics (target tracking, step scaling, scheduled actions,
cooldowns) over a service's desired count, and capacity-provider managed scaling over the
cluster's instances. The decisions are pure functions; the loops commit them.
"""
