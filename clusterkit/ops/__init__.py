"""Running clusterkit as a system: the agent and controller processes, their configuration and metrics.

``clusterkit agent`` (``run_agent``) and ``clusterkit controller`` (``Controller``) read an
``AgentConfig`` or a ``ControllerConfig`` from a TOML file, ``CLUSTERKIT_*`` variables and
flags (``load_config``; ``config_table`` renders the settings), serve ``/metrics`` and
``/healthz`` (``Metrics``, ``MetricsServer``), and the controller runs the cluster's
singletons only while it leads an ``EtcdElection`` (see ``clusterkit.state``).
"""

from clusterkit.ops._agent import run_agent
from clusterkit.ops._config import AgentConfig, ConfigError, ControllerConfig, config_table, load_config
from clusterkit.ops._controller import Controller
from clusterkit.ops._metrics import Metrics, MetricsServer, NotLeadingError

__all__ = [
    "AgentConfig",
    "ConfigError",
    "Controller",
    "ControllerConfig",
    "Metrics",
    "MetricsServer",
    "NotLeadingError",
    "config_table",
    "load_config",
    "run_agent",
]
