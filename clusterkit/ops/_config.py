"""The processes' configuration: a TOML file, ``CLUSTERKIT_*`` variables and flags, in that order.

Each process has one typed record (``AgentConfig``, ``ControllerConfig``). Every field is a
setting: ``name`` in the TOML file, ``CLUSTERKIT_NAME`` in the environment and ``--name``
(underscores as hyphens) on the command line; a later source wins over an earlier one, and a
setting given nowhere keeps its default. Lists are TOML arrays or comma-separated text;
attributes are a TOML table or ``KEY=VALUE`` pairs separated by commas. A value that does not
fit raises ``ConfigError`` naming where it came from (the file's key, the variable or the
flag) and the value; an unknown key in the file is refused the same way.

``config_table(cls)`` renders the fields as the Markdown table the docs show.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from clusterkit.errors import ValidationError
from clusterkit.placement import PortRange

__all__ = ["AgentConfig", "ConfigError", "ControllerConfig", "config_table", "load_config"]

ENV_PREFIX: Final = "CLUSTERKIT_"


class ConfigError(ValidationError):
    """A setting that does not fit; ``field`` names where it was given (the TOML key with its
    file, the environment variable, or the flag) and ``value`` what was given.
    """


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _optional_text(value: object) -> str | None:
    return _text(value) or None


def _whole(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not value.lstrip("-").isdigit():
            raise ValueError("must be a whole number")
    if not isinstance(value, (int, str)):
        raise ValueError("must be a whole number")
    return int(value)


def _positive(value: object) -> int:
    number = _whole(value)
    if number < 1:
        raise ValueError("must be a whole number >= 1")
    return number


def _natural(value: object) -> int:
    number = _whole(value)
    if number < 0:
        raise ValueError("must be a whole number >= 0")
    return number


def _port(value: object) -> int:
    number = _whole(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be a port number 0..65535 (0: no endpoint)")
    return number


def _seconds(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds >= 0")
    try:
        number = float(value) if isinstance(value, (int, float, str)) else float("nan")
    except ValueError:
        number = float("nan")
    if not number >= 0:
        raise ValueError("must be a number of seconds >= 0")
    return number


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _urls(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError("must be a list of URLs (comma-separated in text)")
    urls = tuple(item.strip() for item in items if item.strip())
    if not urls or not all(url.startswith(("http://", "https://")) for url in urls):
        raise ValueError("must be one or more http(s)://HOST:PORT URLs")
    return urls


def _pairs(value: object) -> dict[str, str]:
    if isinstance(value, str):
        pairs: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, equals, text = item.partition("=")
            if not equals or not key:
                raise ValueError("must be KEY=VALUE pairs separated by commas")
            pairs[key.strip()] = text.strip()
        value = pairs
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("must be a table of text values (KEY=VALUE,... in text)")
    return {str(key): str(text) for key, text in value.items()}


PULL_BEHAVIORS: Final = ("default", "always", "once", "prefer-cached")
"""``DockerExecutor``'s pull policies (ECS_IMAGE_PULL_BEHAVIOR's values), without importing docker here."""


def _pull_behavior(value: object) -> str:
    if value not in PULL_BEHAVIORS:
        raise ValueError(f"must be one of {list(PULL_BEHAVIORS)}")
    return str(value)


def _ports(value: object) -> PortRange:
    if isinstance(value, PortRange):
        return value
    first, dash, last = _text(value).partition("-")
    if not dash:
        raise ValueError("must be FIRST-LAST, such as 49153-65535")
    try:
        return PortRange(_whole(first), _whole(last))
    except ValidationError as error:
        raise ValueError(error.problem) from None


def _setting(default: object, parse: Callable[[object], object], help: str, shown: str | None = None) -> Any:
    """An attrs field that is a setting: how text or a TOML value becomes it, and what it does."""
    return attrs.field(default=default, metadata={"parse": parse, "help": help, "shown": shown})


@attrs.frozen(kw_only=True)
class _Common:
    cluster: str = _setting("default", _text, "The cluster's name.")
    etcd_endpoints: tuple[str, ...] = _setting(
        ("http://127.0.0.1:2379",), _urls, "The etcd members' client URLs.", "http://127.0.0.1:2379"
    )
    etcd_prefix: str | None = _setting(None, _optional_text, "The cluster's etcd key prefix.", "/clusterkit/CLUSTER")
    metrics_host: str = _setting("127.0.0.1", _text, "Address `/metrics` and `/healthz` listen on.")
    metrics_port: int = _setting(0, _port, "Their port (0: none).")
    interval: float = _setting(1.0, _seconds, "Seconds between two passes when nothing changes.")

    @property
    def prefix(self) -> str:
        """The etcd key prefix, ``/clusterkit/CLUSTER`` unless given."""
        return self.etcd_prefix or f"/clusterkit/{self.cluster}"


@attrs.frozen(kw_only=True)
class AgentConfig(_Common):
    """``clusterkit agent``'s settings (see the module, and the table in docs/operating.md)."""

    docker_host: str | None = _setting(None, _optional_text, "The Docker engine's URL.", "DOCKER_HOST's")
    host_ip: str = _setting("0.0.0.0", _text, "The address tasks' host ports are published on.")
    image_pull_behavior: str = _setting(
        "default", _pull_behavior, "When images are pulled: default, always, once or prefer-cached."
    )
    instance_id: str | None = _setting(
        None, _optional_text, "The container instance's id: keep it across restarts.", "the host name"
    )
    attributes: dict[str, str] = _setting(  # noqa: RUF009 (an attrs field, its default a factory)
        attrs.Factory(dict), _pairs, "Custom attributes of the instance (KEY=VALUE,...).", "none"
    )
    reserved_cpu: int = _setting(0, _natural, "CPU units kept for the host (of CPUs × 1024 measured).")
    reserved_memory: int = _setting(0, _natural, "MiB kept for the host (of the memory measured).")
    dynamic_ports: PortRange = _setting(  # noqa: RUF009 (an attrs field; PortRange is frozen)
        PortRange(), _ports, "Host ports handed out dynamically.", "49153-65535"
    )
    cleanup_wait: float = _setting(3 * 3600.0, _seconds, "Seconds a stopped task's containers stay.")
    liveness_ttl: int = _setting(10, _positive, "The agent's etcd lease TTL in seconds.")
    heartbeat_interval: float = _setting(10.0, _seconds, "Seconds between heartbeats.")
    drain_on_stop: bool = _setting(False, _flag, "On SIGTERM, drain the instance before stopping.")
    drain_timeout: float = _setting(300.0, _seconds, "The longest wait for a drain.")


@attrs.frozen(kw_only=True)
class ControllerConfig(_Common):
    """``clusterkit controller``'s settings (see the module, and the table in docs/operating.md)."""

    identity: str | None = _setting(None, _optional_text, "This controller's name in the election.", "HOST-PID")
    lease_ttl: int = _setting(10, _positive, "The leader's etcd lease TTL in seconds.")
    service_scheduler: bool = _setting(True, _flag, "Run the service scheduler.")
    liveness_monitor: bool = _setting(True, _flag, "Run the liveness monitor.")
    liveness_timeout: float = _setting(30.0, _seconds, "Heartbeat timeout on stores without leases.")
    service_autoscaler: str | None = _setting(
        None, _optional_text, "`module:function` building the service autoscaler from the state.", "off"
    )
    cluster_autoscaler: str | None = _setting(
        None, _optional_text, "`module:function` building the cluster autoscaler from the state.", "off"
    )
    load_balancer_controller: str | None = _setting(
        None, _optional_text, "`module:function` building the load balancer controller from the state.", "off"
    )


Config = TypeVar("Config", AgentConfig, ControllerConfig)


def env_name(name: str) -> str:
    """The environment variable of setting ``name``."""
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    """The command-line flag of setting ``name``."""
    return "--" + name.replace("_", "-")


def load_config(
    cls: type[Config],
    *,
    file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> Config:
    """``cls`` from the TOML ``file`` (if any), then ``environ`` (default ``os.environ``), then
    ``flags`` (setting name → value; None: not given). ConfigError on any value that does not fit.
    """
    fields = {field.name: field for field in attrs.fields(cls)}
    given: dict[str, object] = {}

    def take(name: str, value: object, where: str) -> None:
        try:
            given[name] = fields[name].metadata["parse"](value)
        except ValueError as error:
            raise ConfigError(where, value, str(error)) from None

    if file is not None:
        try:
            document = tomllib.loads(Path(file).read_text())
        except OSError as error:
            raise ConfigError("config file", str(file), f"cannot be read: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError("config file", str(file), f"is not TOML: {error}") from None
        for name, value in document.items():
            if name not in fields:
                raise ConfigError(f"{name} (in {file})", value, f"is not a setting of {cls.__name__}")
            take(name, value, f"{name} (in {file})")
    environ = os.environ if environ is None else environ
    for name in fields:
        variable = env_name(name)
        if variable in environ:
            take(name, environ[variable], variable)
    for name, value in (flags or {}).items():
        if name not in fields:
            raise ConfigError(flag_name(name), value, f"is not a setting of {cls.__name__}")
        if value is not None:
            take(name, value, flag_name(name))
    return cls(**given)  # type: ignore[arg-type]


def config_table(cls: type[AgentConfig] | type[ControllerConfig]) -> str:
    """The Markdown table of ``cls``'s settings: TOML key, variable, flag, default, what."""
    lines = ["| TOML key | environment | flag | default | what |", "|---|---|---|---|---|"]
    for field in attrs.fields(cls):
        shown = field.metadata["shown"]
        if shown is None:
            shown = str(field.default).lower() if isinstance(field.default, bool) else field.default
        lines.append(
            f"| `{field.name}` | `{env_name(field.name)}` | `{flag_name(field.name)}` | `{shown}` "
            f"| {field.metadata['help']} |"
        )
    return "\n".join(lines)
