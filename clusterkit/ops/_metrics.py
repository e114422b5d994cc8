"""The processes' metrics in Prometheus' format, and the small HTTP server behind ``/metrics``.

``Metrics`` holds one registry of a process's counters, histograms and gauges; the hooks
fill them from what the components already give back, without reaching inside them:

* ``watch_commits(state)`` times each ``state.commit`` and counts its rejections by reason
  (``commit`` is the state's public call: the components all commit through it);
* ``count_passes(component, name)`` counts and times each ``step`` of a component (its
  ``run`` loop calls ``self.step``), the etcd errors it meets (``StoreError``), and reads
  what the step returns: the service scheduler's outcomes (placements, tasks no instance
  could take, conflicts) and the tasks an agent reported (starts and their time, failures);
* ``watch_store(store)`` exports an ``EtcdStore``'s own counts (transactions, refusals,
  resyncs); ``watch_services(state)`` the services below their desired count.

``MetricsServer`` answers ``GET /metrics`` and ``GET /healthz`` (200 ``ok``, or 503 and the
reason ``health()`` gives) from a thread; port 0 takes a free one (``port`` tells which).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from clusterkit.api import ClusterState
from clusterkit.errors import StoreError
from clusterkit.model import Task
from clusterkit.services import ServiceOutcome
from clusterkit.state import CommitResult, EtcdStore

__all__ = ["Metrics", "MetricsServer", "NotLeadingError"]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class NotLeadingError(StoreError):
    """A controller's commit refused because it does not lead (any more): ``watch_commits``'
    guard raises it, the components' loops survive it, and ``clusterkit_commits_fenced`` counts it.
    """


class Metrics:
    """A process's metrics (``registry``); see the module for the hooks that fill them."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        self.placements = Counter("clusterkit_placements", "Tasks placed by the service scheduler.", registry=registry)
        self.placement_failures = Counter(
            "clusterkit_placement_failures",
            "Tasks the service scheduler could not place, by reason (no_room: no instance could take "
            "them; conflict: the state moved under the commit).",
            ["reason"],
            registry=registry,
        )
        self.commits = Counter("clusterkit_commits", "Commits to the cluster state.", registry=registry)
        self.commit_seconds = Histogram(
            "clusterkit_commit_seconds", "Time of a commit.", buckets=_FAST, registry=registry
        )
        self.commits_fenced = Counter(
            "clusterkit_commits_fenced", "Commits refused before etcd: this controller did not lead.", registry=registry
        )
        self.commit_rejections = Counter(
            "clusterkit_commit_rejections", "Changes a commit rejected, by reason.", ["reason"], registry=registry
        )
        self.passes = Counter(
            "clusterkit_reconcile_passes", "Passes (steps) of each component.", ["component"], registry=registry
        )
        self.pass_seconds = Histogram(
            "clusterkit_reconcile_seconds", "Time of a pass.", ["component"], buckets=_FAST, registry=registry
        )
        self.etcd_errors = Counter(
            "clusterkit_etcd_errors",
            "Steps etcd could not take (StoreError), by component.",
            ["component"],
            registry=registry,
        )
        self.task_starts = Counter(
            "clusterkit_agent_task_starts", "Tasks the agent reported RUNNING.", registry=registry
        )
        self.task_start_seconds = Histogram(
            "clusterkit_agent_task_start_seconds",
            "From a task's creation to RUNNING.",
            buckets=_SLOW,
            registry=registry,
        )
        self.task_failures = Counter(
            "clusterkit_agent_task_failures",
            "Tasks the agent reported stopped, by stop code.",
            ["stop_code"],
            registry=registry,
        )
        self.leader = Gauge("clusterkit_leader", "1 while this controller leads, else 0.", registry=registry)
        self.leader_changes = Counter(
            "clusterkit_leader_changes", "Times this controller started or stopped leading.", registry=registry
        )
        self.services_below_desired = Gauge(
            "clusterkit_services_below_desired",
            "ACTIVE replica services running fewer tasks than desired.",
            registry=registry,
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def lead(self, leading: bool) -> None:
        """Record a change of leadership."""
        self.leader.set(1 if leading else 0)
        self.leader_changes.inc()

    # -- hooks -------------------------------------------------------------------------------

    def watch_commits(self, state: ClusterState, guard: Callable[[], None] | None = None) -> None:
        """Time and count every ``state.commit``; ``guard()`` is called before each (it may raise)."""
        commit = state.commit

        @functools.wraps(commit)
        def timed(*args: Any, **kwargs: Any) -> CommitResult:
            if guard is not None:
                try:
                    guard()
                except NotLeadingError:
                    self.commits_fenced.inc()
                    raise
            started = time.perf_counter()
            result = commit(*args, **kwargs)
            self.commit_seconds.observe(time.perf_counter() - started)
            self.commits.inc()
            for rejection in result.rejected:
                self.commit_rejections.labels(rejection.reason).inc()
            return result

        state.commit = timed  # type: ignore[method-assign]

    def count_passes(self, component: object, name: str) -> None:
        """Count and time every ``component.step``, and read what it returns (see the module)."""
        step: Callable[..., Any] = component.step  # type: ignore[attr-defined]
        passes = self.passes.labels(name)
        seconds = self.pass_seconds.labels(name)
        errors = self.etcd_errors.labels(name)

        @functools.wraps(step)
        def counted(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                returned = step(*args, **kwargs)
            except StoreError as error:
                if not isinstance(error, NotLeadingError):
                    errors.inc()
                raise
            finally:
                passes.inc()
                seconds.observe(time.perf_counter() - started)
            if isinstance(returned, list):
                self._read(returned)
            return returned

        component.step = counted  # type: ignore[attr-defined]

    def _read(self, returned: list[object]) -> None:
        for item in returned:
            if isinstance(item, ServiceOutcome):
                self.placements.inc(len(item.started))
                if item.unplaced:
                    self.placement_failures.labels("no_room").inc(item.unplaced)
                if item.conflicts:
                    self.placement_failures.labels("conflict").inc(item.conflicts)
            elif isinstance(item, Task):
                if item.last_status == "RUNNING" and item.started_at is not None:
                    self.task_starts.inc()
                    self.task_start_seconds.observe(max(0.0, item.started_at - item.created_at))
                elif item.last_status == "STOPPED" and item.stop_code is not None:
                    self.task_failures.labels(item.stop_code).inc()

    def watch_store(self, store: EtcdStore) -> None:
        """Export ``store``'s transactions, refused transactions and resyncs."""
        self.registry.register(_StoreCollector(store))

    def watch_services(self, state: ClusterState) -> None:
        """Keep ``clusterkit_services_below_desired`` read from ``state`` at each scrape."""

        def below() -> float:
            snapshot = state.snapshot()
            return float(
                sum(
                    1
                    for service in snapshot.services()
                    if service.status == "ACTIVE"
                    and service.scheduling_strategy == "REPLICA"
                    and sum(running for running, _ in snapshot.service_counts(service).values()) < service.desired_count
                )
            )

        self.services_below_desired.set_function(below)


class _StoreCollector(Collector):
    """An EtcdStore's own counts, read at each scrape."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store

    def collect(self) -> Iterator[CounterMetricFamily]:
        store = self.store
        for name, value, help in (
            ("clusterkit_etcd_transactions", store.transactions, "Commit transactions sent to etcd."),
            ("clusterkit_etcd_refused_transactions", store.refused, "Commit transactions etcd refused (a key moved)."),
            ("clusterkit_etcd_resyncs", store.resyncs, "Times the replica read its prefix again."),
        ):
            yield CounterMetricFamily(name, help, value=value)


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` from a thread, until :meth:`close`.

    ``health()`` returns None when the process is healthy, or why it is not (503).
    """

    def __init__(
        self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0, health: Callable[[], str | None] = lambda: None
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._answer(200, metrics.exposition(), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    problem = health()
                    text = "ok\n" if problem is None else problem + "\n"
                    self._answer(200 if problem is None else 503, text.encode(), "text/plain; charset=utf-8")
                else:
                    self._answer(404, b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

            def _answer(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes are not news

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        """The port listened on (the one given, or the free one taken for 0)."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="clusterkit-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop answering and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
