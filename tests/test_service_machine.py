"""The service scheduler under the testing kit's ServiceMachine, and the machine against broken ones.

One service scheduler, then two racing each other, run through ``ServiceMachine``: services
created, deployed, scaled and deleted; tasks crashing and failing health checks; images
that never pull and containers that exit at once; hosts drained, relabelled, disconnected,
removed and added; capacity taken and given back; the clock moving by 1 s to 15 min; and
``settle`` steps after which every service must have what it wants. Every commit is
checked (``ServiceInvariants``), not just every step.

Under CI=true the ``ci`` hypothesis profile is derandomized, so the run is the same every
time; each suite makes at least 8,000 steps there. ``pytest --hypothesis-profile long``
runs 25 times as many. The figures are printed (``pytest -s``) and recorded as junit
properties.

The second half breaks the scheduler on purpose, one rule at a time, and checks that the
machine names the broken rule.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import settings

from clusterkit.model import Service
from clusterkit.services import Decision, ServiceScheduler
from clusterkit.state import Change, ChangeSource, CommitResult, Snapshot, StateCore, TokenClaim
from clusterkit.testing import InvariantViolated, ServiceMachine, ServiceMachineReport, run_service_machine

STEPS_PER_PROGRAM = 100
reconcile_module = importlib.import_module("clusterkit.services._reconcile")  # the package names a function so
CI_STEPS = 8_000


class RacingServiceMachine(ServiceMachine):
    """Two service schedulers on one cluster; on racing ticks the second one acts between the
    first one's decision and its commit.
    """

    racing = True


def _run_and_report(machine: type[ServiceMachine], record_property: Callable[[str, object], None]) -> None:
    profile = settings.default
    assert profile is not None  # hypothesis always has a loaded profile
    report = run_service_machine(
        machine, examples=profile.max_examples, steps=STEPS_PER_PROGRAM, derandomize=profile.derandomize
    )
    _print(machine, report, profile.max_examples)
    for name in ("steps", "commits", "races", "settles", "converged", "trips", "rollbacks", "violations"):
        record_property(name, getattr(report, name))
    for kind, count in report.failures.items():
        record_property(f"failures_{kind}", count)
    if profile.max_examples >= 200:  # the ci and long profiles
        assert report.steps >= CI_STEPS, report
        assert report.commits > report.steps
        assert report.converged > report.settles // 2
        assert report.trips > 0 and report.rollbacks > 0
        assert set(report.failures) >= {"crash", "health_check", "never_pulls", "exits_at_once", "drain"}
    assert report.violations == 0


def _print(machine: type[ServiceMachine], report: ServiceMachineReport, programs: int) -> None:
    failures = ", ".join(f"{kind} {count}" for kind, count in sorted(report.failures.items()))
    print(
        f"\n{machine.__name__}: {report.steps} steps in {programs} programs, {report.commits} commits checked one "
        f"by one, {report.races} commits refused as stale (races), {report.settles} settles "
        f"({report.converged} services converged, {report.stuck} deployments stuck by their bounds and saying so, "
        f"{report.tripped} left FAILED, {report.no_capacity} short of capacity; the slowest took "
        f"{report.slowest_settle} s of simulated time), {report.trips} circuit breakers "
        f"tripped ({report.rollbacks} rolled back); failures injected: {failures}; {report.violations} violations"
    )


@pytest.mark.slow
def test_one_service_scheduler_keeps_every_rule_at_every_commit(
    record_property: Callable[[str, object], None],
) -> None:
    _run_and_report(ServiceMachine, record_property)


@pytest.mark.slow
def test_two_racing_service_schedulers_never_act_twice_on_one_need(
    record_property: Callable[[str, object], None],
) -> None:
    _run_and_report(RacingServiceMachine, record_property)
    assert RacingServiceMachine.report().races > 0


# -- broken on purpose: the machine must name the rule ------------------------------------


def _evolve_config(service: Service, **changes: Any) -> Service:
    return attrs.evolve(service, deployment_configuration=attrs.evolve(service.deployment_configuration, **changes))


class _Decides(ServiceScheduler):
    """A scheduler deciding for a service with another deployment configuration, recording the real one."""

    changes: ClassVar[dict[str, int]] = {}

    def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
        decision = super().decide(snapshot, _evolve_config(service, **self.changes), now)
        real = service.deployment_configuration
        return attrs.evolve(decision, service=attrs.evolve(decision.service, deployment_configuration=real))


class IgnoresMinimumHealthy(_Decides):
    changes: ClassVar[dict[str, int]] = {"minimum_healthy_percent": 0}


class IgnoresMaximum(_Decides):
    changes: ClassVar[dict[str, int]] = {"maximum_percent": 10_000}


class LaunchesOneMore(ServiceScheduler):
    def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
        decision = super().decide(snapshot, service, now)
        launches = tuple(
            attrs.evolve(launch, count=launch.count + 1) if launch.instance_id is None else launch
            for launch in decision.launches
        )
        return attrs.evolve(decision, launches=launches)


class NeverReplaces(ServiceScheduler):
    """Starts a deployment's tasks once, never again."""

    def decide(self, snapshot: Snapshot, service: Service, now: float) -> Decision:
        decision = super().decide(snapshot, service, now)
        if service.tracked_tasks:
            return attrs.evolve(decision, launches=())
        return decision


class _Blind(StateCore):
    """Commits a scheduler's changes one by one: a stale service record no longer stops its launches."""

    def __init__(self, state: StateCore) -> None:
        self._state = state
        self.arns = state.arns
        self.clock = state.clock

    def snapshot(self) -> Snapshot:
        return self._state.snapshot()

    def commit(
        self, changes: Iterable[Change] | ChangeSource, *, atomic: bool = False, client_token: TokenClaim | None = None
    ) -> CommitResult:
        return self._state.commit(changes, atomic=False, client_token=client_token)


def machine_with(
    scheduler: type[ServiceScheduler], *, racing: bool = False, blind: bool = False
) -> type[ServiceMachine]:
    class Broken(ServiceMachine):
        def make_scheduler(self, state: StateCore) -> ServiceScheduler:
            return scheduler(_Blind(state) if blind else state, resync_interval=float("inf"))

    Broken.racing = racing
    Broken.__name__ = f"{scheduler.__name__}{'Racing' if racing else ''}{'Blind' if blind else ''}Machine"
    return Broken


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (machine_with(IgnoresMinimumHealthy), {"SERVICE_MIN"}),
        (machine_with(IgnoresMaximum), {"SERVICE_MAX"}),
        (machine_with(LaunchesOneMore), {"SERVICE_OVERSHOOT", "SERVICE_MAX"}),
        (machine_with(NeverReplaces), {"SERVICE_LIVENESS"}),
        (
            machine_with(ServiceScheduler, racing=True, blind=True),
            {"SERVICE_OVERSHOOT", "SERVICE_MAX", "DAEMON_DUPLICATE"},
        ),
    ],
    ids=["ignores-minimum-healthy", "ignores-maximum", "launches-one-more", "never-replaces", "commits-blind-racing"],
)
def test_the_machine_names_the_broken_rule(machine: type[ServiceMachine], expected: set[str]) -> None:
    with pytest.raises(InvariantViolated) as caught:
        run_service_machine(machine, examples=300, derandomize=True, shrink=False)
    assert caught.value.codes & expected, caught.value


@pytest.mark.parametrize("off_by", [1, -1], ids=["one-failure-late", "one-failure-early"])
def test_the_machine_catches_a_circuit_breaker_off_by_one(monkeypatch: pytest.MonkeyPatch, off_by: int) -> None:
    threshold = reconcile_module.circuit_breaker_threshold
    monkeypatch.setattr(reconcile_module, "circuit_breaker_threshold", lambda desired: threshold(desired) + off_by)
    with pytest.raises(InvariantViolated) as caught:
        run_service_machine(machine_with(ServiceScheduler), examples=300, derandomize=True, shrink=False)
    assert "CIRCUIT_BREAKER" in caught.value.codes, caught.value


def test_the_machine_passes_the_service_scheduler_and_counts_what_it_did() -> None:
    report = run_service_machine(examples=5, steps=20, derandomize=True)
    assert report.steps > 20 and report.commits > 0 and report.settles > 0 and report.violations == 0
