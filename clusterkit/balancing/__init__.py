"""Load balancing: target groups kept in step with a service's tasks and their dynamic host ports.

A service's ``loadBalancers`` name target groups; the ``LoadBalancerController`` registers
each RUNNING task's (host address, host port) as a target, drains and deregisters the
targets of tasks being stopped (DEACTIVATING) before the agent stops them, and records the
load balancer's view of each target on the task (``Task.target_health``), which the service
scheduler counts in the task's health. ``plan_balancing`` decides, purely; the controller
calls a ``LoadBalancerRuntime`` (``HAProxyRuntime`` on a real HAProxy, ``InMemoryLoadBalancer`` in
tests) and commits. ``RequestCountSource`` turns the load balancer's request counters into
``ALBRequestCountPerTarget`` for the service autoscaler.
"""

from clusterkit.balancing._balancer import (
    AdminState,
    CheckState,
    HealthCheckSettings,
    InMemoryLoadBalancer,
    LoadBalancerError,
    LoadBalancerRuntime,
    Server,
)
from clusterkit.balancing._controller import ControllerOutcome, LoadBalancerController
from clusterkit.balancing._haproxy import HAProxyRuntime, parse_show_stat
from clusterkit.balancing._planner import (
    Action,
    BalancingPlan,
    TaskPlan,
    plan_balancing,
    service_messages,
    target_state,
)
from clusterkit.balancing._requests import RequestCountSource
from clusterkit.balancing._target_group import DEFAULT_DEREGISTRATION_DELAY, TargetGroup

__all__ = [
    "Action",
    "AdminState",
    "BalancingPlan",
    "CheckState",
    "ControllerOutcome",
    "DEFAULT_DEREGISTRATION_DELAY",
    "HAProxyRuntime",
    "HealthCheckSettings",
    "InMemoryLoadBalancer",
    "LoadBalancerController",
    "LoadBalancerError",
    "LoadBalancerRuntime",
    "RequestCountSource",
    "Server",
    "TargetGroup",
    "TaskPlan",
    "parse_show_stat",
    "plan_balancing",
    "service_messages",
    "target_state",
]
