"""``clusterkit agent`` and ``clusterkit controller``: the long-running processes.

::

    clusterkit agent --config /etc/clusterkit/agent.toml --instance-id host-c --drain-on-stop
    clusterkit controller --etcd-endpoints http://10.0.0.1:2379,http://10.0.0.2:2379 --cluster prod

Every setting of ``AgentConfig`` / ``ControllerConfig`` is a flag here (made from the record's
fields), a ``CLUSTERKIT_*`` variable and a key of the ``--config`` TOML file; flags win over
variables, variables over the file. Both run until SIGTERM or SIGINT, then stop gracefully
(the agent leaves its tasks running unless ``--drain-on-stop``; the controller ends its term
and resigns). Exit codes: 0 stopped; 1 etcd or the engine could not be reached at start;
2 a bad setting, named with its value.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from clusterkit.errors import ClusterkitError, StoreError
from clusterkit.ops import AgentConfig, Controller, ControllerConfig, load_config, run_agent

__all__ = ["agent", "controller"]

Config = TypeVar("Config", AgentConfig, ControllerConfig)


def _settings(cls: type[AgentConfig] | type[ControllerConfig]) -> Callable[[Any], Any]:
    """Decorate a command with ``--config`` and one flag per setting of ``cls``."""

    def decorate(command: Any) -> Any:
        for field in reversed(attrs.fields(cls)):
            flag = "--" + field.name.replace("_", "-")
            variable = "CLUSTERKIT_" + field.name.upper()
            help = f"{field.metadata['help']} [{variable}]"
            if field.metadata["parse"].__name__ == "_flag":
                command = click.option(f"{flag}/--no-{flag[2:]}", field.name, default=None, help=help)(command)
            else:
                command = click.option(flag, field.name, default=None, help=help)(command)
        return click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="CLUSTERKIT_CONFIG",
            help="A TOML file of settings [CLUSTERKIT_CONFIG].",
        )(command)

    return decorate


def _serve(cls: type[Config], config_file: Path | None, flags: dict[str, Any]) -> tuple[Config, threading.Event]:
    """The config, logging set up and a stop event set by SIGTERM/SIGINT."""
    try:
        config = load_config(cls, file=config_file, flags=flags)
    except ClusterkitError as error:
        raise click.UsageError(str(error)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    return config, stop


def _run(body: Callable[[], object]) -> None:
    """Run ``body``: exit 1 when etcd does not answer, 2 on a bad setting (a usage error)."""
    try:
        body()
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except ClusterkitError as error:
        raise click.UsageError(str(error)) from None


@click.command()
@_settings(AgentConfig)
def agent(config_file: Path | None, **flags: Any) -> None:
    """Run the agent of this host: register it, run the tasks placed on it (until SIGTERM)."""
    config, stop = _serve(AgentConfig, config_file, flags)
    _run(lambda: run_agent(config, stop))


@click.command()
@_settings(ControllerConfig)
def controller(config_file: Path | None, **flags: Any) -> None:
    """Run the controller: the service scheduler and the other singletons, while it leads (until SIGTERM)."""
    config, stop = _serve(ControllerConfig, config_file, flags)
    _run(lambda: Controller(config).run(stop))
