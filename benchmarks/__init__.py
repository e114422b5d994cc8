"""clusterkit benchmarks: ``python -m benchmarks NAME [--quick]`` (``--list`` names them).

Each benchmark prints a readable report and, as the last line of stdout, one JSON object
with the keys ``name``, ``value``, ``unit``, ``target``, ``baseline`` and ``ratio``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BENCHMARKS"]

#: name -> module (under ``benchmarks``) with ``main(argv) -> int`` and ``DESCRIPTION``.
BENCHMARKS: Final[dict[str, str]] = {
    "commit_throughput": "benchmarks.commit_throughput",
    "describe_latency": "benchmarks.describe_latency",
    "memory_footprint": "benchmarks.memory_footprint",
    "placement_throughput": "benchmarks.placement_throughput",
    "binpack_cpu": "benchmarks.binpack_cpu",
    "placement_scaling": "benchmarks.placement_scaling",
    "packing_quality": "benchmarks.packing_quality",
    "concurrent_schedulers": "benchmarks.concurrent_schedulers",
    "docker_launch": "benchmarks.docker_launch",
    "heal_latency": "benchmarks.heal_latency",
    "lb_sync": "benchmarks.lb_sync",
    "service_reconcile": "benchmarks.service_reconcile",
    "service_update_conflicts": "benchmarks.service_update_conflicts",
    "etcd_placement": "benchmarks.etcd_placement",
    "etcd_concurrent": "benchmarks.etcd_concurrent",
    "etcd_describe": "benchmarks.etcd_describe",
    "autoscale_decisions": "benchmarks.autoscale_decisions",
    "capacity_metric": "benchmarks.capacity_metric",
    "simulate_throughput": "benchmarks.simulate_throughput",
}
