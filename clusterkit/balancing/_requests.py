"""ALBRequestCountPerTarget from the load balancer's own counters: a metric source for autoscaling.

``RequestCountSource`` answers for ``ALBRequestCountPerTarget``: the requests a service's
target group was sent per minute, over its targets in service. It reads each server's
request counter (HAProxy's ``req_tot``) on every sample and turns the growth since the
previous sample into a rate, so its first sample of a backend has no data. Give it to the
``ServiceAutoscaler`` for that metric, beside another source for CPU and memory::

    ServiceAutoscaler(state, DockerStatsSource(executors),
                      sources={ALB_REQUEST_COUNT_PER_TARGET: RequestCountSource(haproxy, groups)})
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from clusterkit.autoscaling import ALB_REQUEST_COUNT_PER_TARGET
from clusterkit.balancing._balancer import LoadBalancerError, LoadBalancerRuntime
from clusterkit.balancing._target_group import TargetGroup
from clusterkit.errors import NotFoundError
from clusterkit.state import Snapshot

__all__ = ["RequestCountSource"]


class RequestCountSource:
    """Requests per minute per target in service, from ``balancer``'s counters (a MetricSource).

    The service's first load balancer names the target group; its backend's servers are read.
    A server that left since the previous sample, or whose counter went back (a restarted
    load balancer), counts from zero. No data (None) on a backend's first sample, with no
    target in service, or when the load balancer does not answer.
    """

    def __init__(self, balancer: LoadBalancerRuntime, target_groups: Iterable[TargetGroup]) -> None:
        self.balancer = balancer
        self.groups = {group.arn: group for group in target_groups}
        self._last: dict[str, tuple[float, dict[str, int]]] = {}  # backend → (time, counter by server)
        self._lock = threading.Lock()

    def sample(self, snapshot: Snapshot, service: str, metric: str, now: float) -> float | None:
        """The requests per minute per target in service since the previous sample."""
        if metric != ALB_REQUEST_COUNT_PER_TARGET:
            return None
        try:
            balancers = snapshot.service(service).load_balancers
        except NotFoundError:
            return None
        group = self.groups.get(balancers[0].target_group_arn) if balancers else None
        if group is None:
            return None
        try:
            servers = self.balancer.servers(group.backend)
        except LoadBalancerError:
            return None
        counters = {name: server.requests for name, server in servers.items()}
        with self._lock:
            previous = self._last.get(group.backend)
            self._last[group.backend] = (now, counters)
        in_service = sum(1 for server in servers.values() if server.up and server.admin == "ready")
        if previous is None or now <= previous[0] or not in_service:
            return None
        then, before = previous
        sent = 0
        for name, count in counters.items():
            earlier = before.get(name, 0)
            sent += count - earlier if count >= earlier else count
        return sent * 60.0 / (now - then) / in_service
