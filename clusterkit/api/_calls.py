"""What every group of ECS calls shares: committing one change with ECS's errors, id lists,
and one answer for a call given arguments its signature does not take.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from clusterkit.errors import ArgumentError, NotFoundError, StaleVersionError, ValidationError
from clusterkit.model import Arns
from clusterkit.state import (
    MAX_DESCRIBE,
    Change,
    ClientToken,
    CommitResult,
    Snapshot,
    StateCore,
    TokenClaim,
    token_holder,
)

__all__ = ["Calls", "explain_arguments", "from_snapshot", "id_list", "port_list"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def from_snapshot(read: Callable[Concatenate[Snapshot, _P], _R]) -> Callable[Concatenate[StateCore, _P], _R]:
    """A facade method that answers ``read`` from a fresh snapshot (same signature and docs)."""

    @functools.wraps(read)
    def answer(self: StateCore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return read(self.snapshot(), *args, **kwargs)

    return answer


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MISSING = re.compile(r"missing a required argument: '(\w+)'")


def _argument_error(
    name: str, signature: inspect.Signature, kwargs: Mapping[str, Any], mismatch: TypeError
) -> ArgumentError:
    """What to say of a call to ``name`` whose arguments do not bind to ``signature``."""
    accepted = [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and parameter.name != "self"
    ]
    for keyword, value in kwargs.items():
        if keyword in accepted:
            continue
        snake = _CAMEL_BOUNDARY.sub("_", keyword).lower()
        if snake != keyword and snake in accepted:
            return ArgumentError(keyword, value, f"{name}() takes ECS's parameters in snake_case: use {snake}=")
        close = difflib.get_close_matches(snake, accepted, n=1)
        hint = f"did you mean {close[0]}=?" if close else "it takes " + ", ".join(f"{a}=" for a in accepted)
        return ArgumentError(keyword, value, f"{name}() has no such parameter; {hint}")
    missing = _MISSING.search(str(mismatch))
    if missing is not None:
        return ArgumentError(missing.group(1), None, f"{name}() needs it")
    return ArgumentError(f"{name}()", dict(kwargs), str(mismatch))


def explain_arguments(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """``method``, raising ArgumentError (a ValidationError and a TypeError) rather than Python's
    bare TypeError when its arguments do not fit its signature: a boto3-style ``taskDefinition=``
    is told ``use task_definition=``, any other unknown keyword gets a did-you-mean.

    A call that does not bind never ran, so the state is unchanged. Costs nothing until a
    TypeError is raised.
    """
    signature = inspect.signature(method)
    name = method.__qualname__.split(".")[-2] if method.__name__ == "__init__" else method.__name__

    @functools.wraps(method)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except TypeError:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as mismatch:
                raise _argument_error(name, signature, kwargs, mismatch) from None
            raise

    return call


class Calls(StateCore):
    """A StateCore with the helpers the ECS calls share (the base of each group of calls).

    Every public method a subclass defines (and its ``__init__``) answers arguments that do
    not fit its signature with ArgumentError (``explain_arguments``).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if inspect.isfunction(value) and (name == "__init__" or not name.startswith("_")):
                setattr(cls, name, explain_arguments(value))

    def _commit_one(
        self, change: Change, field: str, value: object, client_token: TokenClaim | None = None
    ) -> CommitResult:
        result = self.commit([change], client_token=client_token)
        for rejection in result.rejected:
            if rejection.reason == "MISSING":
                raise NotFoundError(field, value)
            if rejection.reason == "STALE_VERSION":
                current = getattr(rejection.change, "version", 0)
                raise StaleVersionError(field, value, current) from None
            raise ValidationError(field, value, rejection.detail)
        return result

    def _first_call(self, claim: TokenClaim | None) -> ClientToken | None:
        """The record of the earlier call that holds ``claim``'s client token (its result is the
        answer), or None; ValidationError when that call had other arguments.
        """
        if claim is None:
            return None
        return token_holder(self.snapshot().client_token(claim.token), claim, self.clock())


def port_list(field: str, ports: Iterable[int]) -> frozenset[int]:
    if isinstance(ports, (str, bytes)) or not isinstance(ports, Iterable):
        raise ValidationError(field, ports, "must be a list of port numbers")
    return frozenset(ports)


def id_list(field: str, values: Sequence[str], limit: int = MAX_DESCRIBE) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not 1 <= len(values) <= limit:
        raise ValidationError(field, values, f"give a list of 1..{limit} ids or ARNs")
    ids = []
    for value in values:
        if not isinstance(value, str) or not value:
            raise ValidationError(field, value, "an id or ARN is a non-empty string")
        ids.append(Arns.last_part(value))
    return ids
