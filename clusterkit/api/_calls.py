"""What every group of ECS calls shares: committing one change with ECS's errors, id lists."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from clusterkit.errors import NotFoundError, StaleVersionError, ValidationError
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

__all__ = ["Calls", "from_snapshot", "id_list", "port_list"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def from_snapshot(read: Callable[Concatenate[Snapshot, _P], _R]) -> Callable[Concatenate[StateCore, _P], _R]:
    """A facade method that answers ``read`` from a fresh snapshot (same signature and docs)."""

    @functools.wraps(read)
    def answer(self: StateCore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return read(self.snapshot(), *args, **kwargs)

    return answer


class Calls(StateCore):
    """A StateCore with the helpers the ECS calls share (the base of each group of calls)."""

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
