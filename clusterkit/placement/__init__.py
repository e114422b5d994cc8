"""Placement: schedulers, requests, host ports and the commit loop (strategies re-exported from the model)."""

from clusterkit.model import DEFAULT_STRATEGY, PlacementStrategy, binpack, random, spread
from clusterkit.placement._pinned import pinned_task
from clusterkit.placement._plan import Placement, Plan, Unplaced
from clusterkit.placement._ports import DEFAULT_DYNAMIC_PORTS, PortRange, assign_host_ports
from clusterkit.placement._request import MAX_COUNT, PlacementRequest
from clusterkit.placement._runner import PlacementOutcome, place_and_commit
from clusterkit.placement._scheduler import (
    BaseScheduler,
    Candidate,
    Explanation,
    Filter,
    PlacementContext,
    Scheduler,
    Scorer,
    Weighted,
)
from clusterkit.placement._verdict import Rejected

__all__ = [
    "BaseScheduler",
    "Candidate",
    "DEFAULT_DYNAMIC_PORTS",
    "DEFAULT_STRATEGY",
    "Explanation",
    "Filter",
    "MAX_COUNT",
    "Placement",
    "PlacementContext",
    "PlacementOutcome",
    "PlacementRequest",
    "PlacementStrategy",
    "Plan",
    "PortRange",
    "Rejected",
    "Scheduler",
    "Scorer",
    "Unplaced",
    "Weighted",
    "assign_host_ports",
    "binpack",
    "pinned_task",
    "place_and_commit",
    "random",
    "spread",
]
