"""``clusterkit controller``: the cluster's singletons in one process, acting only while leader.

Run two or three for high availability. Each campaigns in an ``EtcdElection`` under
``PREFIX.election/controller/`` (beside the cluster's prefix, not in it). While it leads,
a *term* runs the components its configuration switches on — the service scheduler, the
liveness monitor, and the service autoscaler, the cluster autoscaler and the load balancer
controller built by the ``module:function`` factories named — each built afresh for the
term and run by its own ``run(term_stop, interval=...)`` loop in a thread. When leadership
ends (the lease not renewed in time, or etcd lost), ``term_stop`` is set and the term's
threads are joined; a new term builds new components.

**Fenced commits.** Every commit of the process's state first checks that the election
still leads (``NotLeadingError``, a ``StoreError`` the components' loops survive, when it
does not): a controller continued after a SIGSTOP longer than its lease, or cut off from
etcd, commits nothing once its local lease deadline has passed, even in the middle of a pass.

A graceful stop ends the term, then resigns (revokes the lease): a standby leads at once.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from queue import Queue
from typing import Any, Protocol

from clusterkit.api import ClusterState
from clusterkit.liveness import LivenessMonitor
from clusterkit.ops._config import ConfigError, ControllerConfig, flag_name
from clusterkit.ops._metrics import Metrics, MetricsServer, NotLeadingError
from clusterkit.services import ServiceScheduler
from clusterkit.state import EtcdElection, EtcdStore

__all__ = ["Controller"]

log = logging.getLogger("clusterkit.controller")


class Runnable(Protocol):
    """A component a controller runs: ``step()`` one pass, ``run(stop, interval=...)`` its loop."""

    def step(self) -> object:
        """One pass."""

    def run(self, stop: threading.Event, *, interval: float) -> None:
        """Step until ``stop`` is set."""


Factory = Callable[[ClusterState], Runnable]


def _factory(setting: str, text: str) -> Factory:
    """The ``module:function`` a setting names (ConfigError when it cannot be imported)."""
    module_name, _, attribute = text.partition(":")
    if not module_name or not attribute:
        raise ConfigError(flag_name(setting), text, "give module:function (called with the ClusterState)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ConfigError(flag_name(setting), text, f"cannot be imported: {error}") from None
    if not callable(found):
        raise ConfigError(flag_name(setting), text, "is not callable")
    factory: Factory = found
    return factory


class Controller:
    """The controller process of ``config``; :meth:`run` until its ``stop`` is set.

    ``metrics`` and ``election`` are there from construction; ``terms`` counts the terms run
    and ``components`` names what the current term runs (empty while not leading).
    """

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.factories: dict[str, Factory] = {}
        if config.service_scheduler:
            self.factories["service_scheduler"] = ServiceScheduler
        if config.liveness_monitor:
            timeout = config.liveness_timeout
            self.factories["liveness_monitor"] = lambda state: LivenessMonitor(state, timeout=timeout)
        for setting in ("service_autoscaler", "cluster_autoscaler", "load_balancer_controller"):
            named = getattr(config, setting)
            if named:
                self.factories[setting] = _factory(setting, named)
        self.metrics = Metrics()
        self.election = EtcdElection(
            config.etcd_endpoints,
            config.prefix.rstrip("/") + ".election/controller/",
            ttl=config.lease_ttl,
            identity=config.identity,
        )
        self.terms = 0
        self.components: list[str] = []

    def _guard(self) -> None:
        if not self.election.leading():
            raise NotLeadingError(f"controller {self.election.identity} does not lead: commit refused")

    def run(self, stop: threading.Event, *, started: threading.Event | None = None) -> None:
        """Campaign and run terms until ``stop`` is set; then end the term and resign.
        ``started`` is set once the store is read and the metrics endpoint answers.
        """
        config = self.config
        store = EtcdStore(config.etcd_endpoints, prefix=config.prefix)
        server: MetricsServer | None = None
        changes: Queue[bool | None] = Queue()
        electing = threading.Event()
        election = threading.Thread(
            target=self.election.run, args=(electing, changes.put), name="clusterkit-election", daemon=True
        )
        try:
            state = ClusterState(config.cluster, store=store)
            self.metrics.watch_commits(state, guard=self._guard)
            self.metrics.watch_store(store)
            self.metrics.watch_services(state)
            self.metrics.leader.set(0)
            if config.metrics_port:
                alive = election.is_alive
                server = MetricsServer(
                    self.metrics,
                    config.metrics_host,
                    config.metrics_port,
                    lambda: None if alive() else "the election stopped",
                )
            election.start()
            if started is not None:
                started.set()

            def stopping() -> None:
                stop.wait()
                changes.put(None)

            threading.Thread(target=stopping, name="clusterkit-controller-stop", daemon=True).start()
            term: tuple[threading.Event, list[threading.Thread]] | None = None
            while True:
                leading = changes.get()
                if leading and term is None:
                    term = self._start_term(state)
                elif not leading and term is not None:
                    self._end_term(term, "stopping" if leading is None else "lease not renewed in time")
                    term = None
                if leading is None:
                    break
        finally:
            electing.set()  # after the term ended: resign, and a standby leads at once
            if election.is_alive():
                election.join(timeout=10)
            if server is not None:
                server.close()
            store.close()

    def _start_term(self, state: ClusterState) -> tuple[threading.Event, list[threading.Thread]]:
        self.terms += 1
        self.metrics.lead(True)
        term_stop = threading.Event()
        threads = []
        for name, factory in self.factories.items():
            component = factory(state)
            self.metrics.count_passes(component, name)
            thread = threading.Thread(
                target=component.run,
                args=(term_stop,),
                kwargs={"interval": self.config.interval},
                name=f"clusterkit-{name}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        self.components = list(self.factories)
        log.info("controller %s: leading (term %d): %s", self.election.identity, self.terms, ", ".join(self.components))
        return term_stop, threads

    def _end_term(self, term: tuple[threading.Event, list[threading.Thread]], why: str) -> None:
        term_stop, threads = term
        term_stop.set()
        for thread in threads:
            thread.join(timeout=30)
        self.components = []
        self.metrics.lead(False)
        log.info("controller %s: stopped leading (%s)", self.election.identity, why)
