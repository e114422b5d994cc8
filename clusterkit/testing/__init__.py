"""clusterkit.testing: property-test your scheduler (install the ``testing`` extra: hypothesis).

- **Strategies** for hypothesis: ``resources``, ``container_instances``,
  ``task_definitions`` and ``task_definition_json``, ``clusters`` and ``snapshots``,
  ``placement_requests`` with ``placement_strategies`` and ``placement_constraints``,
  query ``expressions``; and invalid inputs (``invalid_task_definitions``,
  ``invalid_expressions``, ``invalid_requests``, ``invalid_instances``,
  ``invalid_resources``, ``invalid_status_reports``, and the fixed corpora ``BAD_*``).
- **Checks**: ``check_state(snapshot, previous=None)`` and ``check_plan(snapshot, request,
  plan)`` return lists of ``Violation``; ``assert_valid_state`` and ``assert_valid_plan``
  raise ``InvariantViolated`` instead.
- **A cluster on a simulated clock**: ``FakeCluster`` (state, agents on FakeExecutors and
  service schedulers; ``tick`` moves time) and its ``SimulatedClock``.
- **A state machine**: subclass ``SchedulerMachine`` with your schedulers and run it with
  ``run_machine`` (or as ``MyMachine.TestCase`` under pytest).
- **Service schedulers**: ``ServiceMachine`` runs service schedulers (one, or two racing)
  on a ``FakeCluster`` through crashes, failing health checks, broken images, drains and
  lost hosts, and holds every commit to the service rules (``ServiceInvariants``, over a
  ``CommitLog`` store) and every settled cluster to what its services want
  (``check_services_settled``); ``run_service_machine`` runs it and counts what it did.

Importing ``clusterkit`` never imports this package, nor hypothesis.
"""

from clusterkit.testing.checks import (
    InvariantViolated,
    Violation,
    assert_valid_plan,
    assert_valid_state,
    check_plan,
    check_state,
    is_plain_base_scheduler,
)
from clusterkit.testing.expressions import (
    BAD_EXPRESSIONS,
    comparisons,
    expression_texts,
    expressions,
    invalid_expressions,
)
from clusterkit.testing.fake_cluster import FakeCluster, SimulatedClock
from clusterkit.testing.invalid import (
    BAD_INSTANCES,
    BAD_REQUESTS,
    BAD_RESOURCES,
    BAD_TASK_DEFINITIONS,
    BadInput,
    invalid_instances,
    invalid_requests,
    invalid_resources,
    invalid_status_reports,
    invalid_task_definitions,
)
from clusterkit.testing.machine import MachineReport, SchedulerMachine, run_machine
from clusterkit.testing.service_checks import (
    Commit,
    CommitLog,
    ServiceInvariants,
    SettledReport,
    check_services_settled,
)
from clusterkit.testing.service_machine import ServiceMachine, ServiceMachineReport, run_service_machine
from clusterkit.testing.strategies import (
    FAMILIES,
    ZONE,
    ZONES,
    cluster_text,
    clusters,
    container_instances,
    placement_constraints,
    placement_requests,
    placement_strategies,
    port_mappings,
    resources,
    snapshots,
    strategy_chains,
    task_definition_json,
    task_definitions,
)

__all__ = [
    "BAD_EXPRESSIONS",
    "BAD_INSTANCES",
    "BAD_REQUESTS",
    "BAD_RESOURCES",
    "BAD_TASK_DEFINITIONS",
    "BadInput",
    "Commit",
    "CommitLog",
    "FAMILIES",
    "FakeCluster",
    "InvariantViolated",
    "MachineReport",
    "SchedulerMachine",
    "ServiceInvariants",
    "ServiceMachine",
    "ServiceMachineReport",
    "SettledReport",
    "SimulatedClock",
    "Violation",
    "ZONE",
    "ZONES",
    "assert_valid_plan",
    "assert_valid_state",
    "check_plan",
    "check_services_settled",
    "check_state",
    "cluster_text",
    "clusters",
    "comparisons",
    "container_instances",
    "expression_texts",
    "expressions",
    "invalid_expressions",
    "invalid_instances",
    "invalid_requests",
    "invalid_resources",
    "invalid_status_reports",
    "invalid_task_definitions",
    "is_plain_base_scheduler",
    "placement_constraints",
    "placement_requests",
    "placement_strategies",
    "port_mappings",
    "resources",
    "run_machine",
    "run_service_machine",
    "snapshots",
    "strategy_chains",
    "task_definition_json",
    "task_definitions",
]
