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

Importing ``clusterkit`` never imports this package, nor hypothesis. The checks,
``FakeCluster`` and the service checks work without hypothesis; the strategies, the
state machines and the invalid inputs need it (the ``testing`` extra) and are imported
when first used.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from clusterkit.testing._checks import (
    InvariantViolated,
    Violation,
    assert_valid_plan,
    assert_valid_state,
    check_plan,
    check_state,
    is_plain_base_scheduler,
)
from clusterkit.testing._fake_cluster import FakeCluster, SimulatedClock
from clusterkit.testing._oracle import View, failing_reasons, field_value, oracle_key, oracle_views
from clusterkit.testing._service_checks import (
    Commit,
    CommitLog,
    ServiceInvariants,
    SettledReport,
    check_services_settled,
    decided_count,
)

if _TYPE_CHECKING:  # the names below need hypothesis: imported when first used (see __getattr__)
    from clusterkit.testing._expressions import (
        BAD_EXPRESSIONS,
        comparisons,
        expression_texts,
        expressions,
        invalid_expressions,
    )
    from clusterkit.testing._invalid import (
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
    from clusterkit.testing._machine import MachineReport, SchedulerMachine, run_machine
    from clusterkit.testing._service_machine import ServiceMachine, ServiceMachineReport, run_service_machine
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

_NEEDS_HYPOTHESIS: dict[str, str] = {
    "BAD_EXPRESSIONS": "clusterkit.testing._expressions",
    "BAD_INSTANCES": "clusterkit.testing._invalid",
    "BAD_REQUESTS": "clusterkit.testing._invalid",
    "BAD_RESOURCES": "clusterkit.testing._invalid",
    "BAD_TASK_DEFINITIONS": "clusterkit.testing._invalid",
    "BadInput": "clusterkit.testing._invalid",
    "FAMILIES": "clusterkit.testing.strategies",
    "MachineReport": "clusterkit.testing._machine",
    "SchedulerMachine": "clusterkit.testing._machine",
    "ServiceMachine": "clusterkit.testing._service_machine",
    "ServiceMachineReport": "clusterkit.testing._service_machine",
    "ZONE": "clusterkit.testing.strategies",
    "ZONES": "clusterkit.testing.strategies",
    "cluster_text": "clusterkit.testing.strategies",
    "clusters": "clusterkit.testing.strategies",
    "comparisons": "clusterkit.testing._expressions",
    "container_instances": "clusterkit.testing.strategies",
    "expression_texts": "clusterkit.testing._expressions",
    "expressions": "clusterkit.testing._expressions",
    "invalid_expressions": "clusterkit.testing._expressions",
    "invalid_instances": "clusterkit.testing._invalid",
    "invalid_requests": "clusterkit.testing._invalid",
    "invalid_resources": "clusterkit.testing._invalid",
    "invalid_status_reports": "clusterkit.testing._invalid",
    "invalid_task_definitions": "clusterkit.testing._invalid",
    "placement_constraints": "clusterkit.testing.strategies",
    "placement_requests": "clusterkit.testing.strategies",
    "placement_strategies": "clusterkit.testing.strategies",
    "port_mappings": "clusterkit.testing.strategies",
    "resources": "clusterkit.testing.strategies",
    "run_machine": "clusterkit.testing._machine",
    "run_service_machine": "clusterkit.testing._service_machine",
    "snapshots": "clusterkit.testing.strategies",
    "strategy_chains": "clusterkit.testing.strategies",
    "task_definition_json": "clusterkit.testing.strategies",
    "task_definitions": "clusterkit.testing.strategies",
}
"""The names whose modules import hypothesis, and those modules: imported on first use."""


def __getattr__(name: str) -> _Any:
    """A name that needs hypothesis, imported now; a clear error without the testing extra."""
    module = _NEEDS_HYPOTHESIS.get(name)
    if module is None:
        raise AttributeError(f"module 'clusterkit.testing' has no attribute {name!r}")
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise ImportError(
            f"clusterkit.testing.{name} needs hypothesis, the testing extra: pip install 'clusterkit[testing]'"
        ) from None
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "View",
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
    "decided_count",
    "expression_texts",
    "expressions",
    "failing_reasons",
    "field_value",
    "invalid_expressions",
    "invalid_instances",
    "invalid_requests",
    "invalid_resources",
    "invalid_status_reports",
    "invalid_task_definitions",
    "is_plain_base_scheduler",
    "oracle_key",
    "oracle_views",
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
