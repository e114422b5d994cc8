"""Registry credentials for private images, read from the environment and never shown.

The variable ``CLUSTERKIT_REGISTRY_AUTH`` holds a JSON map of registry address to
credentials::

    CLUSTERKIT_REGISTRY_AUTH='{"registry.example:5000": {"username": "ci", "password": "..."}}'

Docker Hub images are looked up under ``docker.io``. The password lives only inside a
:class:`RegistryCredentials` object: its ``repr`` lists the registries and nothing else,
errors about a malformed variable name the variable and never its text, and
:meth:`RegistryCredentials.redact` masks the secrets in any text an engine sends back,
before it can reach a log, an event or the cluster state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final

from clusterkit.errors import ValidationError

__all__ = ["REGISTRY_AUTH_VARIABLE", "RegistryCredentials", "registry_of"]

#: The environment variable :meth:`RegistryCredentials.from_env` reads.
REGISTRY_AUTH_VARIABLE: Final = "CLUSTERKIT_REGISTRY_AUTH"

_HIDDEN: Final = "<hidden>"
_DOCKER_HUB: Final = "docker.io"


def registry_of(image: str) -> str:
    """The registry an image reference is pulled from (``docker.io`` when it names none).

    As Docker decides: the first path component is a registry when it contains a dot or
    a colon, or is ``localhost``.
    """
    head, slash, _ = image.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        return head
    return _DOCKER_HUB


class RegistryCredentials:
    """Usernames and passwords per registry; the passwords never leave this object but to the engine."""

    __slots__ = ("_auth",)

    def __init__(self, registries: Mapping[str, Mapping[str, str]] | None = None) -> None:
        auth: dict[str, tuple[str, str]] = {}
        for registry, entry in (registries or {}).items():
            where = f"{REGISTRY_AUTH_VARIABLE}[{registry!r}]"
            if not isinstance(registry, str) or not registry:
                raise ValidationError(REGISTRY_AUTH_VARIABLE, _HIDDEN, "registry names must be non-empty strings")
            if not isinstance(entry, Mapping):
                raise ValidationError(where, _HIDDEN, "must be an object with username and password")
            username, password = entry.get("username"), entry.get("password")
            if not isinstance(username, str) or not username:
                raise ValidationError(f"{where}.username", _HIDDEN, "must be a non-empty string")
            if not isinstance(password, str) or not password:
                raise ValidationError(f"{where}.password", _HIDDEN, "must be a non-empty string")
            auth[registry] = (username, password)
        self._auth = auth

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RegistryCredentials:
        """Read ``CLUSTERKIT_REGISTRY_AUTH`` (no credentials when it is unset or empty).

        A variable that is not a JSON object of objects raises ValidationError naming the
        variable, never quoting its text.
        """
        text = (os.environ if environ is None else environ).get(REGISTRY_AUTH_VARIABLE, "")
        if not text.strip():
            return cls()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            raise ValidationError(REGISTRY_AUTH_VARIABLE, _HIDDEN, "is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise ValidationError(REGISTRY_AUTH_VARIABLE, _HIDDEN, "must be a JSON object of registry to credentials")
        return cls(parsed)

    @property
    def registries(self) -> tuple[str, ...]:
        """The registries there are credentials for."""
        return tuple(sorted(self._auth))

    def auth_config(self, image: str) -> dict[str, str] | None:
        """The docker-py ``auth_config`` for pulling ``image``, or None if its registry has no entry."""
        entry = self._auth.get(registry_of(image))
        if entry is None:
            return None
        return {"username": entry[0], "password": entry[1]}

    def redact(self, text: str) -> str:
        """``text`` with every password replaced by ``<hidden>``."""
        for _, password in self._auth.values():
            text = text.replace(password, _HIDDEN)
        return text

    def __repr__(self) -> str:
        return f"RegistryCredentials(registries={list(self.registries)!r})"

    def __reduce__(self) -> Any:
        raise TypeError("RegistryCredentials cannot be pickled: it holds secrets")
