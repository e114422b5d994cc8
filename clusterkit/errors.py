"""The clusterkit error tree.

Every error clusterkit raises on purpose derives from ``ClusterkitError``, and each
also inherits the builtin that fits it, so ``except ValueError`` keeps working for callers
who do not know clusterkit. The tree:

    ClusterkitError
    ├── ValidationError (ValueError)          bad input: names the field and the value
    │   ├── QuerySyntaxError                  a cluster-query expression does not parse
    │   ├── ArgumentError (TypeError)         a call given an argument it does not take (``taskDefinition=``)
    │   └── IllegalTransitionError            a lifecycle move the state machine forbids
    ├── NotFoundError (LookupError)           an id, ARN or family that is not there
    ├── ConflictError                         an optimistic commit lost a race
    │   └── StaleVersionError                 a write based on an older version
    ├── SubscriptionOverflow                  an event subscriber fell behind its buffer
    ├── StoreError                            the store behind ClusterState failed, and why
    │   └── CommitOutcomeUnknown              a commit may or may not have been written
    ├── WaiterError                           a waiter gave up or met a failure state
    └── ExecutorError                         an executor could not start, stop or inspect a task

Errors never change state: a call that raises leaves the ClusterState exactly as it was.
Messages name the field and the offending value (``repr`` of it, truncated when long).
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ClusterkitError",
    "CommitOutcomeUnknown",
    "ConflictError",
    "ExecutorError",
    "IllegalTransitionError",
    "NotFoundError",
    "QuerySyntaxError",
    "StaleVersionError",
    "StoreError",
    "SubscriptionOverflow",
    "ValidationError",
    "WaiterError",
]

_MAX_VALUE_REPR = 120


def _show(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return text


class ClusterkitError(Exception):
    """Root of every error clusterkit raises on purpose."""


class ValidationError(ClusterkitError, ValueError):
    """Input that breaks a rule; ``field`` and ``value`` say which and what.

    ``field`` is a dotted path such as ``containerDefinitions[0].memory``.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}={_show(value)}: {problem}")

    def within(self, prefix: str) -> ValidationError:
        """Return the same error with ``prefix`` put in front of its field path."""
        if not self.field:
            joined = prefix
        elif self.field.startswith("["):
            joined = prefix + self.field
        else:
            joined = f"{prefix}.{self.field}"
        clone = type(self).__new__(type(self))
        ValidationError.__init__(clone, joined, self.value, self.problem)
        return clone


class QuerySyntaxError(ValidationError):
    """A cluster-query expression that does not parse; ``position`` is the 0-based offset."""

    def __init__(self, expression: str, position: int, expected: str) -> None:
        self.position = position
        self.expected = expected
        super().__init__("expression", expression, f"at position {position}: expected {expected}")


class ArgumentError(ValidationError, TypeError):
    """A call given an argument its signature does not take: ``field`` is the keyword (or the
    call's name), ``problem`` says what to pass instead (``use task_definition=``).

    Also a ``TypeError``, as Python's own complaint about the call would be.
    """


class IllegalTransitionError(ValidationError):
    """A status change the task or instance lifecycle does not allow."""


class NotFoundError(ClusterkitError, LookupError):
    """Something asked for by id, ARN or name is not in the state."""

    def __init__(self, field: str, value: object) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}={_show(value)}: not found")


class ConflictError(ClusterkitError):
    """An optimistic commit could not be applied because the state moved on."""


class StaleVersionError(ConflictError):
    """A write carried a version older than the one stored."""

    def __init__(self, field: str, value: object, current: int) -> None:
        self.field = field
        self.value = value
        self.current = current
        super().__init__(f"{field}={_show(value)}: stale, the stored version is {current}")


class SubscriptionOverflow(ClusterkitError):
    """An event subscriber missed the events after ``last_version``.

    ``reason`` says why: ``None`` when its buffer of ``capacity`` events filled up, else
    the store's own cause (a shared store that read everything again after etcd compacted
    the history its watch needed, say). Take a fresh snapshot to resynchronise, then keep
    reading: the subscription resumes with events newer than that snapshot.
    """

    def __init__(self, last_version: int, capacity: int, reason: str | None = None) -> None:
        self.last_version = last_version
        self.capacity = capacity
        self.reason = reason
        if reason is None:
            message = f"capacity={capacity}: subscriber fell behind after version {last_version}"
        else:
            message = f"events after version {last_version} were not delivered: {reason}"
        super().__init__(message + "; resynchronise from a snapshot")


class StoreError(ClusterkitError):
    """The store behind a ClusterState failed to read or write; the message says why
    (for etcd: each endpoint and what it did — timed out, refused the connection, had no
    quorum, is not etcd).
    """


class CommitOutcomeUnknown(StoreError):
    """A commit was sent but no answer says whether it was written (etcd timed out, or lost
    its quorum, while the transaction may have reached a member's log).

    ``commit_id`` names the commit: ``ClusterState.resolve(commit_id)`` tells, once the store
    answers again, whether it was written (its version) or never will be (``None``). A call
    made with a client token can instead simply be made again with the same token: it
    places nothing twice.
    """

    def __init__(self, commit_id: str, reason: str) -> None:
        self.commit_id = commit_id
        self.reason = reason
        super().__init__(
            f"commit_id={commit_id!r}: the store did not say whether this commit was written ({reason}); "
            f"resolve({commit_id!r}) once it answers, or retry with the same client token"
        )


class WaiterError(ClusterkitError):
    """A waiter (``ClusterState.wait``) stopped without success: it met a failure state, or its
    attempts ran out. ``name`` is the waiter's, ``attempts`` how many it made, ``reason`` which
    way it ended, ``seen`` the last state seen in words and ``response`` the last response
    (ECS JSON).
    """

    def __init__(self, name: str, attempts: int, reason: str, seen: str, response: object = None) -> None:
        self.name = name
        self.attempts = attempts
        self.reason = reason
        self.seen = seen
        self.response = response
        super().__init__(f"waiter={name!r}: {reason} after {attempts} attempt(s); last seen: {seen}")


class ExecutorError(ClusterkitError):
    """An executor could not do what was asked; ``reason`` is safe to store.

    ``task_id`` names the task, or is ``None`` when the call was about the engine itself
    (listing its tasks, reading its resources).

    Executors build the reason themselves and never put credentials in it.
    """

    def __init__(self, task_id: str | None, reason: str) -> None:
        self.task_id = task_id
        self.reason = reason
        super().__init__(reason if task_id is None else f"task={task_id!r}: {reason}")
