"""Client tokens: a caller's retry of a call never does its work twice.

ECS's ``RunTask`` and ``CreateService`` take a ``clientToken``: the same call made again with
the same token returns the first call's result instead of starting more tasks. clusterkit
keeps each token as a small record of the state (``Roots.tokens``), written in the same
commit as the work it guards, so the guard holds wherever the state lives: in memory, the
commit lock orders two calls with one token; in etcd, the token's key is compared like any
record's, so of two processes claiming one token only one transaction is accepted, and a
transaction whose outcome was unknown can never be applied after a retry claimed the token.

A call that gives a token makes a ``TokenClaim`` (the token, a fingerprint of the call's
arguments, and an id of the call) and commits with it. Its first commit that writes anything
claims the token; its later commits (a retry of a conflict, the second half of a split
commit) extend the record with the tasks and services they create. A commit of another call
that finds the token claimed and not expired writes nothing (the facade then answers with the
first call's result), or raises ValidationError when its arguments differ.

A token is honoured for ``CLIENT_TOKEN_TTL`` seconds (one hour) from its claim, by the
state's clock; after that the same token starts a new call. Expired tokens are dropped: in
memory by the commits that claim new ones (all the expired ones, each time the number of
tokens has doubled since the last sweep), in etcd by a lease that deletes their keys
between one and two TTLs after they were written. A saved file (``ClusterState.save``) does
not keep them: a restored state starts with none.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import attrs

from clusterkit.errors import ValidationError
from clusterkit.state._ids import new_id

__all__ = [
    "CLIENT_TOKEN_TTL",
    "ClientToken",
    "TokenClaim",
    "check_client_token",
    "decode_client_token",
    "encode_client_token",
    "fingerprint",
    "token_holder",
]

CLIENT_TOKEN_TTL: Final = 3600.0
"""Seconds a client token is honoured after its first call claimed it."""

_MAX_TOKEN: Final = 64  # ECS: up to 64 ASCII characters


def check_client_token(token: object) -> str:
    """``token`` if it is a client token (1..64 printable ASCII characters, no '/'), else ValidationError."""
    if (
        not isinstance(token, str)
        or not 1 <= len(token) <= _MAX_TOKEN
        or not token.isascii()
        or not token.isprintable()
        or "/" in token
    ):
        raise ValidationError("clientToken", token, f"must be 1..{_MAX_TOKEN} printable ASCII characters without '/'")
    return token


def fingerprint(*arguments: object) -> str:
    """A short digest of a call's arguments (their ``repr``), to tell a retry from another call."""
    return hashlib.sha256(repr(arguments).encode()).hexdigest()[:32]


@attrs.frozen(slots=True)
class ClientToken:
    """A claimed client token: which call claimed it, with what arguments, and what it created.

    ``fingerprint`` digests the call's arguments; ``call`` is the id of the call that claimed
    it; ``created_at`` when (the state's clock); ``tasks`` and ``services`` the ids and names
    of the tasks and services its commits created, in order.
    """

    token: str
    fingerprint: str
    call: str
    created_at: float
    tasks: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    def expired(self, now: float) -> bool:
        """True once ``CLIENT_TOKEN_TTL`` seconds have passed since the claim."""
        return now - self.created_at >= CLIENT_TOKEN_TTL


@attrs.frozen(slots=True)
class TokenClaim:
    """What a call with a client token commits with: the token, its arguments' fingerprint and
    an id of its own (made up when not given), shared by all of the call's commits.
    """

    token: str = attrs.field(converter=check_client_token)
    fingerprint: str
    call: str = attrs.field(factory=new_id)


def token_holder(held: ClientToken | None, claim: TokenClaim, now: float) -> ClientToken | None:
    """``held`` (the record of ``claim``'s token, if any) when it is another call's and not
    expired at ``now``; None when the token is free or ``claim``'s own. ValidationError when
    that call was made with other arguments.
    """
    if held is None or held.call == claim.call or held.expired(now):
        return None
    if held.fingerprint != claim.fingerprint:
        raise ValidationError(
            "clientToken", claim.token, "was already used by a call with other arguments (a token names one call)"
        )
    return held


def encode_client_token(record: ClientToken) -> dict[str, Any]:
    """A token's document (as etcd keeps it)."""
    return {
        "clientToken": record.token,
        "fingerprint": record.fingerprint,
        "call": record.call,
        "createdAt": record.created_at,
        "tasks": list(record.tasks),
        "services": list(record.services),
    }


def decode_client_token(document: dict[str, Any]) -> ClientToken:
    """The token a document written by ``encode_client_token`` holds."""
    return ClientToken(
        document["clientToken"],
        document["fingerprint"],
        document["call"],
        float(document["createdAt"]),
        tuple(document.get("tasks", ())),
        tuple(document.get("services", ())),
    )
