"""boto3's ECS waiters and paginators, on a ClusterState.

A waiter calls a describe operation until an acceptor matches its ECS JSON (``to_ecs()``),
as botocore's ``ecs/2014-11-13/waiters-2.json`` says: the same operations, delays, attempts
and acceptors, tried in order, the first match deciding. A success acceptor ends the wait;
a failure acceptor (a service MISSING, a task STOPPED while waiting for it to run) raises
WaiterError at once; running out of attempts raises it too. Between attempts the waiter
waits ``delay`` seconds on the state's clock: a clock that can be moved (``advance``, as
``SimulatedClock``) is moved, any other is slept through — or ``between(delay)`` is called
instead, for a test that drives a scheduler meanwhile.

A paginator follows a list operation's ``next_token`` for you and yields every item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Literal

import attrs

from clusterkit.errors import ValidationError, WaiterError
from clusterkit.model import check_int
from clusterkit.state import Described, Page, StateCore

__all__ = ["PAGINATED", "WAITERS", "Acceptor", "Waiter", "WaiterModel", "paginate", "path_all", "path_any"]

PAGINATED: Final = (
    "list_container_instances",
    "list_services",
    "list_task_definition_families",
    "list_task_definitions",
    "list_tasks",
)
"""The list operations ``ClusterState.paginate`` follows (boto3's ECS paginators that exist here)."""


@attrs.frozen(slots=True)
class Acceptor:
    """One of a waiter's acceptors: when ``matches`` the response (ECS JSON), the wait ends in
    ``state``; ``says`` is the acceptor as botocore writes it, for the error's message.
    """

    state: Literal["success", "failure"]
    matches: Callable[[Mapping[str, Any]], bool]
    says: str


def path_any(state: Literal["success", "failure"], items: str, field: str, expected: object) -> Acceptor:
    """Botocore's ``pathAny`` on ``items[].field``: some item's field is ``expected`` (none on an empty list)."""
    return Acceptor(
        state,
        lambda response: any(item.get(field) == expected for item in response[items]),
        f"{items}[].{field} has {expected}",
    )


def path_all(state: Literal["success", "failure"], items: str, field: str, expected: object) -> Acceptor:
    """Botocore's ``pathAll`` on ``items[].field``: every item's field is ``expected``, and there is one."""

    def matches(response: Mapping[str, Any]) -> bool:
        values = [item.get(field) for item in response[items]]
        return bool(values) and all(value == expected for value in values)

    return Acceptor(state, matches, f"every {items}[].{field} is {expected}")


def _all_stable(response: Mapping[str, Any]) -> bool:
    """``length(services[?!(length(deployments) == `1` && runningCount == desiredCount)]) == `0```."""
    return all(
        len(service["deployments"]) == 1 and service["runningCount"] == service["desiredCount"]
        for service in response["services"]
    )


def _services_seen(response: Mapping[str, Any]) -> str:
    seen = [
        f"{s['serviceName']} {s['status']}, {len(s['deployments'])} deployment(s), "
        f"running {s['runningCount']}/{s['desiredCount']}"
        for s in response["services"]
    ]
    return "; ".join(seen + [f"{f['arn']} {f['reason']}" for f in response["failures"]])


def _tasks_seen(response: Mapping[str, Any]) -> str:
    seen = [f"{t['taskArn'].rsplit('/', 1)[-1]} {t['lastStatus']}" for t in response["tasks"]]
    return "; ".join(seen + [f"{f['arn']} {f['reason']}" for f in response["failures"]])


@attrs.frozen(slots=True)
class WaiterModel:
    """A waiter as botocore defines it: the ``operation`` it polls (a ClusterState method), the
    ``delay`` between attempts (seconds), ``max_attempts`` and the ``acceptors`` in order;
    ``seen`` sums a response up for WaiterError.
    """

    operation: str
    delay: float
    max_attempts: int
    acceptors: tuple[Acceptor, ...]
    seen: Callable[[Mapping[str, Any]], str]


_MISSING = path_any("failure", "failures", "reason", "MISSING")

WAITERS: Final[Mapping[str, WaiterModel]] = {
    "services_inactive": WaiterModel(
        "describe_services",
        15,
        40,
        (_MISSING, path_any("success", "services", "status", "INACTIVE")),
        _services_seen,
    ),
    "services_stable": WaiterModel(
        "describe_services",
        15,
        120,
        (
            _MISSING,
            path_any("failure", "services", "status", "DRAINING"),
            path_any("failure", "services", "status", "INACTIVE"),
            Acceptor("success", _all_stable, "every service has one deployment and runningCount == desiredCount"),
        ),
        _services_seen,
    ),
    "tasks_running": WaiterModel(
        "describe_tasks",
        6,
        100,
        (
            path_any("failure", "tasks", "lastStatus", "STOPPED"),
            _MISSING,
            path_all("success", "tasks", "lastStatus", "RUNNING"),
        ),
        _tasks_seen,
    ),
    "tasks_stopped": WaiterModel(
        "describe_tasks", 6, 100, (path_all("success", "tasks", "lastStatus", "STOPPED"),), _tasks_seen
    ),
}
"""boto3's ECS waiters by their snake_case names, as botocore's waiters-2.json has them."""


class Waiter:
    """One named waiter on one state (``ClusterState.waiter(name)``); ``wait`` polls."""

    def __init__(self, state: StateCore, name: str) -> None:
        model = WAITERS.get(name)
        if model is None:
            raise ValidationError("waiter", name, f"is no waiter here; one of {sorted(WAITERS)}")
        self.state = state
        self.name = name
        self.model = model

    def wait(
        self,
        *,
        delay: float | None = None,
        max_attempts: int | None = None,
        between: Callable[[float], object] | None = None,
        **request: Any,
    ) -> Described[Any]:
        """Poll the operation with ``request`` (``services=[...]`` or ``tasks=[...]``) until an
        acceptor decides; returns the successful answer (a ``Described``).

        ``delay`` and ``max_attempts`` default to botocore's (boto3's ``WaiterConfig``).
        Between attempts ``between(delay)`` is called when given, else the state's clock is
        moved (``advance``) or slept through. WaiterError on a failure acceptor or when the
        attempts run out; it names the waiter, the attempts and the last state seen.
        """
        model = self.model
        pause = model.delay if delay is None else delay
        if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not pause >= 0:
            raise ValidationError("delay", delay, "must be a number of seconds >= 0")
        attempts = check_int("maxAttempts", model.max_attempts if max_attempts is None else max_attempts, 1)
        if between is not None and not callable(between):
            raise ValidationError("between", between, "must be a callable taking the delay in seconds")
        operation: Callable[..., Described[Any]] = getattr(self.state, model.operation)
        response: Mapping[str, Any] = {}
        for attempt in range(1, attempts + 1):
            answer = operation(**request)
            response = answer.to_ecs()
            for acceptor in model.acceptors:
                if acceptor.matches(response):
                    if acceptor.state == "success":
                        return answer
                    raise WaiterError(
                        self.name, attempt, f"met a failure state ({acceptor.says})", model.seen(response), response
                    )
            if attempt < attempts:
                self._pause(pause, between)
        raise WaiterError(self.name, attempts, "ran out of attempts", model.seen(response), response)

    def _pause(self, seconds: float, between: Callable[[float], object] | None) -> None:
        if between is not None:
            between(seconds)
            return
        advance = getattr(self.state.clock, "advance", None)
        if callable(advance):
            advance(seconds)
        else:
            time.sleep(seconds)

    def __repr__(self) -> str:
        model = self.model
        return f"<Waiter {self.name}: {model.operation} every {model.delay}s, {model.max_attempts} attempts>"


def paginate(state: StateCore, operation: str, kwargs: Mapping[str, Any]) -> Iterator[str]:
    """Every item of ``operation`` (one of ``PAGINATED``) with ``kwargs``, page after page.

    The first page is read now, so a bad argument raises here rather than at the first
    ``next``; each later page is read when the one before is used up.
    """
    if operation not in PAGINATED:
        raise ValidationError("operation", operation, f"has no paginator; paginate one of {list(PAGINATED)}")
    call: Callable[..., Page] = getattr(state, operation)
    first = call(**kwargs)
    return _pages_from(call, first, {key: value for key, value in kwargs.items() if key != "next_token"})


def _pages_from(call: Callable[..., Page], page: Page, kwargs: Mapping[str, Any]) -> Iterator[str]:
    while True:
        yield from page
        if page.next_token is None:
            return
        page = call(**kwargs, next_token=page.next_token)
