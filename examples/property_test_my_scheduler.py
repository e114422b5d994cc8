"""Property-test a scheduler of your own with clusterkit.testing (pip install 'clusterkit[testing]').

The machine lets this scheduler and the built-in one race on one cluster: instances join,
drain and leave, plans are committed fresh and stale, tasks run and stop, and every plan
and every state is checked. A broken rule raises InvariantViolated with a minimal program.
"""

from __future__ import annotations

from collections.abc import Sequence

from clusterkit import BaseScheduler, ContainerInstance, Scheduler
from clusterkit.placement import PlacementContext, Rejected
from clusterkit.testing import SchedulerMachine, run_machine


class KeepGpusFree(BaseScheduler):
    """Tasks that need no GPU stay off GPU instances."""

    def check(self, instance: ContainerInstance, context: PlacementContext) -> Rejected | str | None:
        if instance.registered.scalar("GPU") and not context.request.task_definition.charge.scalar("GPU"):
            return "GPU_RESERVED"
        return super().check(instance, context)


class MySchedulerMachine(SchedulerMachine):
    def make_schedulers(self) -> Sequence[Scheduler]:
        return [KeepGpusFree(), KeepGpusFree(seed=1), BaseScheduler()]


if __name__ == "__main__":
    report = run_machine(MySchedulerMachine, examples=40, steps=40, derandomize=True)
    print(f"{report.steps} steps, {report.plans} plans checked, {report.stale_commits} stale commits: no violation")
