"""The reliability suite: clusterkit's own schedulers under the testing kit.

Five schedulers share one cluster (plain, seeded with strict versions, sampled, balanced,
and one with a filter) through ``SchedulerMachine``: instances join, drain, lose their agent
and leave; task definitions are revised; requests are planned on fresh and on stale
snapshots and committed; agents report and tasks stop. Every plan and every state is checked.

Under CI=true the ``ci`` hypothesis profile is derandomized, so the run is the same every
time; it makes at least 10,000 steps. ``pytest --hypothesis-profile long`` runs 25 times
as many. The figures are printed (``pytest -s``) and recorded as junit properties.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import settings

from clusterkit import BaseScheduler, ContainerInstance, Scheduler
from clusterkit.placement import PlacementContext
from clusterkit.testing import SchedulerMachine, run_machine

STEPS_PER_PROGRAM = 75
CI_STEPS = 10_000


def at_most_three_of_a_group(instance: ContainerInstance, context: PlacementContext) -> str | None:
    """A filter: no more than three tasks of one group per instance."""
    return "GROUP_CAP" if context.group_count(instance.id) >= 3 else None


class ReliabilityMachine(SchedulerMachine):
    """clusterkit's schedulers, racing each other on one cluster of up to ten instances."""

    max_instances = 10

    def make_schedulers(self) -> Sequence[Scheduler]:
        return (
            BaseScheduler(),
            BaseScheduler(seed=11, strict_versions=True),
            BaseScheduler(sample=2, seed=5),
            BaseScheduler(balance=0.2),
            BaseScheduler(filters=[at_most_three_of_a_group]),
        )


@pytest.mark.slow
def test_five_schedulers_share_a_cluster_for_ten_thousand_steps_without_a_violation(
    record_property: Callable[[str, object], None],
) -> None:
    profile = settings.default
    assert profile is not None  # hypothesis always has a loaded profile
    report = run_machine(
        ReliabilityMachine,
        examples=profile.max_examples,
        steps=STEPS_PER_PROGRAM,
        derandomize=profile.derandomize,
    )
    schedulers = len(ReliabilityMachine().schedulers)
    print(
        f"\nreliability: {report.steps} steps in {profile.max_examples} programs, {schedulers} schedulers, "
        f"{report.plans} plans checked, {report.stale_commits} stale commits, 0 violations"
    )
    for name, value in (("steps", report.steps), ("schedulers", schedulers), ("plans", report.plans)):
        record_property(name, value)
    assert schedulers >= 3
    if profile.max_examples >= 200:  # the ci and long profiles
        assert report.steps >= CI_STEPS, report
    assert report.stale_commits > 0 and report.plans > report.steps // 4
