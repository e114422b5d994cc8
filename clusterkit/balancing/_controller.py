"""The load balancer controller: a loop that keeps a load balancer in step with the state.

Each pass reads a snapshot and the load balancer's servers, plans with the pure
``plan_balancing``, calls the load balancer, and commits what it did: the tasks' target
health (and DEACTIVATING tasks moving on to STOPPING) with the service events, one atomic
commit per service carrying the service record's version. A commit refused because the
state moved is planned again from a fresh snapshot; the load balancer calls already made
are seen then as done. Nothing is remembered between passes: after the load balancer or the
controller restarts, the next pass rebuilds the server list from the state alone.

``step`` runs one pass (tests drive it with a simulated clock); ``run`` passes on every
commit, every ``poll_interval`` seconds (the health checks move without commits) and when a
deregistration delay ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from clusterkit.balancing._balancer import LoadBalancerError, LoadBalancerRuntime, Server
from clusterkit.balancing._planner import Action, BalancingPlan, TaskPlan, plan_balancing, service_messages
from clusterkit.balancing._target_group import TargetGroup
from clusterkit.errors import ValidationError
from clusterkit.model import status_of
from clusterkit.services import add_events
from clusterkit.state import (
    Batches,
    Change,
    PutServiceStatus,
    Snapshot,
    StateCore,
    TaskStateChange,
    commit_with_retry,
    run_loop,
)

__all__ = ["ControllerOutcome", "LoadBalancerController"]

_MAX_ATTEMPTS: Final = 8
_log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class ControllerOutcome:
    """What one ``step`` did: load balancer ``calls`` made, ``failed`` calls (their errors),
    ``committed`` task changes, ``conflicts`` (commits refused because the state moved),
    and ``wake_at``, when the clock alone may call for another pass.
    """

    calls: tuple[Action, ...] = ()
    failed: tuple[str, ...] = ()
    committed: int = 0
    conflicts: int = 0
    wake_at: float | None = None


class LoadBalancerController:
    """Keeps ``balancer`` in step with the services of ``state`` for ``target_groups``.

    A backend of a target group belongs to the controller: a server there that no task
    accounts for is deleted. Instances without the ``clusterkit.host-address`` attribute
    are reached at ``default_address``.
    """

    def __init__(
        self,
        state: StateCore,
        balancer: LoadBalancerRuntime,
        target_groups: Iterable[TargetGroup],
        *,
        default_address: str = "127.0.0.1",
        poll_interval: float = 1.0,
    ) -> None:
        self.state = state
        self.balancer = balancer
        self.target_groups: tuple[TargetGroup, ...] = tuple(target_groups)
        backends = [group.backend for group in self.target_groups]
        arns = [group.arn for group in self.target_groups]
        if len(set(backends)) != len(backends) or len(set(arns)) != len(arns):
            raise ValidationError("targetGroups", self.target_groups, "each target group needs its own ARN and backend")
        if not poll_interval > 0:
            raise ValidationError("pollInterval", poll_interval, "must be above 0 seconds")
        self.default_address = default_address
        self.poll_interval = poll_interval
        self.next_wake: float | None = None
        self._stop = threading.Event()
        #: The load balancer's errors in the last pass (empty once it answers again).
        self.errors: tuple[str, ...] = ()

    def _servers(self, errors: list[str]) -> dict[str, Mapping[str, Server] | None]:
        listed: dict[str, Mapping[str, Server] | None] = {}
        for group in self.target_groups:
            try:
                listed[group.backend] = self.balancer.servers(group.backend)
            except LoadBalancerError as error:
                errors.append(str(error))
                listed[group.backend] = None  # nothing is decided about it this pass
        return listed

    def _call(self, action: Action) -> None:
        balancer = self.balancer
        if action.verb == "register":
            assert action.check is not None
            balancer.add(action.backend, action.server, action.address, action.port, action.check)
        elif action.verb == "enable":
            balancer.enable(action.backend, action.server)
        elif action.verb == "drain":
            balancer.drain(action.backend, action.server)
        else:
            balancer.delete(action.backend, action.server)

    def _execute(self, plan: BalancingPlan, calls: list[Action], errors: list[str]) -> list[TaskPlan]:
        """Make the plan's calls; the task plans whose calls all succeeded, to commit."""
        for action in plan.orphans:
            try:
                self._call(action)
                calls.append(action)
            except LoadBalancerError as error:
                errors.append(str(error))
        done: list[TaskPlan] = []
        for task_plan in plan.tasks:
            try:
                for action in task_plan.actions:
                    self._call(action)
                    calls.append(action)
            except LoadBalancerError as error:
                errors.append(str(error))
                continue  # recorded as it is: the next pass sees the load balancer again
            done.append(task_plan)
        return done

    def step(self) -> ControllerOutcome:
        """One pass: plan, call the load balancer, commit; planned again on conflicts."""
        calls: list[Action] = []
        errors: list[str] = []
        wake_at: float | None = None

        def decide(snapshot: Snapshot) -> Batches | None:
            nonlocal wake_at
            now = self.state.clock()
            plan = plan_balancing(
                snapshot, self.target_groups, self._servers(errors), now, default_address=self.default_address
            )
            wake_at = plan.wake_at
            if plan.is_empty:
                return None
            by_service: dict[str, list[TaskPlan]] = {}
            for task_plan in self._execute(plan, calls, errors):
                if task_plan.change is not None:
                    by_service.setdefault(task_plan.service, []).append(task_plan)
            commits: list[list[Change]] = []
            for name, plans in sorted(by_service.items()):
                service = snapshot.services_by_name.get(name)
                if service is None:
                    continue
                changes: list[Change] = [p.change for p in plans if p.change is not None]
                texts = service_messages(name, plans)
                if texts:
                    record = status_of(add_events(service, texts, now))
                    changes.append(PutServiceStatus(record, service.status_version))
                commits.append(changes)
            return Batches(commits)  # one atomic commit per service, with its status record's version

        outcome = commit_with_retry(self.state, decide, atomic=True, max_attempts=_MAX_ATTEMPTS)
        committed = sum(
            sum(1 for change in result.accepted if isinstance(change, TaskStateChange))
            for result in outcome.results
            if result.ok
        )
        conflicts = outcome.conflicted
        self.next_wake = wake_at
        if tuple(errors) != self.errors:  # said once when it starts failing or fails differently, not every pass
            for error in errors:
                _log.warning("load balancer: %s", error)
            if not errors:
                _log.warning("load balancer: answering again")
        self.errors = tuple(errors)
        return ControllerOutcome(tuple(calls), tuple(errors), committed, conflicts, wake_at)

    def run(self, stop: threading.Event | None = None, *, interval: float | None = None) -> None:
        """Pass on every commit, every ``interval`` seconds (default ``poll_interval``) and at
        wake-ups, until ``stop`` is set (by default the controller's own, which :meth:`close` sets).

        A pass that fails (the store away, or anything else: the next pass starts from the
        state again) is logged and followed, ``interval`` seconds later, by another.
        """
        run_loop(
            stop if stop is not None else self._stop,
            self.step,
            interval=self.poll_interval if interval is None else interval,
            state=self.state,
            next_wake=lambda: self.next_wake,
            survive=(Exception,),
            report=_report,
        )

    def close(self) -> None:
        """Ask :meth:`run` (without a ``stop`` of its own) to return."""
        self._stop.set()


def _report(error: BaseException | None) -> None:
    if error is not None:
        _log.error("load balancer controller pass failed", exc_info=error)
