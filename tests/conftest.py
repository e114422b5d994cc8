"""Shared test settings.

Hypothesis profiles: ``default`` for laptops, ``ci`` (chosen when CI=true) derandomized so a
CI run is repeatable, ``long`` for soak runs (``pytest --hypothesis-profile long``).

Tests that need a real service (Docker, the registry, etcd, HAProxy) skip on a laptop that
lacks it, but under CI=true a missing service is a failure: use ``require_service``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "default"))


def require_service(available: bool, what: str) -> None:
    """Skip when ``what`` is not available — but fail under CI=true, where it must be."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true requires it", pytrace=False)
    pytest.skip(f"{what} is not available")


ETCD_ENDPOINTS = tuple(
    os.environ.get(
        "CLUSTERKIT_ETCD_ENDPOINTS", "http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379"
    ).split(",")
)
"""The etcd cluster scripts/services.sh starts (members m1..m3 on loopback)."""


def delete_prefix(prefix: str) -> None:
    """Remove every key under ``prefix`` (directly over etcd's JSON gateway)."""
    import base64
    import json
    import urllib.request

    raw = prefix.encode()
    body = {
        "key": base64.b64encode(raw).decode(),
        "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode(),
    }
    for endpoint in ETCD_ENDPOINTS:
        request = urllib.request.Request(f"{endpoint}/v3/kv/deleterange", data=json.dumps(body).encode(), method="POST")
        try:
            urllib.request.urlopen(request, timeout=5).read()
            return
        except OSError:
            continue


_ETCD_LOCK = "/tmp/clusterkit-test-etcd-cluster.lock"


@contextlib.contextmanager
def claimed_etcd(*, alone: bool = False) -> Iterator[None]:
    """Hold the shared etcd cluster for a test: shared with other copies of the suite, or
    ``alone`` — for a test that stops members or counts etcd's revisions, which any other
    writer moves. Under ``CLUSTERKIT_TEST_STORE=etcd`` (a suite run by a test that holds the
    cluster alone) it takes nothing: its parent holds it.
    """
    if os.environ.get("CLUSTERKIT_TEST_STORE") == "etcd":
        yield
        return
    with open(_ETCD_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def etcd_available() -> bool:
    """True when some member of ``ETCD_ENDPOINTS`` answers its health check."""
    import urllib.request

    for endpoint in ETCD_ENDPOINTS:
        try:
            with urllib.request.urlopen(f"{endpoint}/health", timeout=1) as answer:
                if b'"health":"true"' in answer.read():
                    return True
        except OSError:
            continue
    return False


@pytest.fixture(autouse=os.environ.get("CLUSTERKIT_TEST_STORE") == "etcd")
def _every_state_on_etcd(monkeypatch: pytest.MonkeyPatch) -> object:
    """With CLUSTERKIT_TEST_STORE=etcd, every state a test makes without a store lives in etcd.

    Each under a fresh key prefix, closed and deleted after the test; ``tests/etcd`` runs the
    state and placement suites this way.
    """
    import uuid

    from clusterkit.state import EtcdStore, StateCore

    stores: list[EtcdStore] = []
    original = StateCore.__init__

    def on_etcd(self: StateCore, *args: object, **kwargs: object) -> None:
        if kwargs.get("store") is None:
            store = EtcdStore(ETCD_ENDPOINTS, prefix=f"/clusterkit-tests/{uuid.uuid4().hex}")
            stores.append(store)
            kwargs["store"] = store
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StateCore, "__init__", on_etcd)
    yield
    for store in stores:
        store.close()
        delete_prefix(store.prefix)


def _claim_slot() -> int:
    """A number 0..9 no other running copy of this suite holds, for the whole session.

    Loopback addresses and extra engine numbers are machine-wide: two copies of the suite
    running at once (CI beside a developer's run, two sessions) would both publish ports on
    127.0.0.2 or start engine 5. Each copy takes a slot with an exclusive lock it keeps until
    it exits, and derives its addresses and engine numbers from it (slot 0: the addresses of old).
    """
    for slot in range(10):
        holder = open(f"/tmp/clusterkit-test-slot-{slot}.lock", "a")  # noqa: SIM115 (kept open: the lock lives with it)
        try:
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder.close()
            continue
        _SLOT_HOLDERS.append(holder)
        return slot
    raise RuntimeError("ten copies of the test suite already run on this machine")


_SLOT_HOLDERS: list[Any] = []
TEST_SLOT = _claim_slot()
"""This copy of the suite's slot (see ``_claim_slot``)."""


def loopback(host: int) -> str:
    """Loopback address number ``host`` (2..254) of this copy of the suite: ``127.SLOT.0.host``.

    Give each simulated host its own, so its published ports never meet another host's, nor
    those of another copy of the suite.
    """
    return f"127.{TEST_SLOT}.0.{host}"


def engine_numbers(first: int, count: int) -> range:
    """``count`` extra-engine numbers (``scripts/services.sh engine-start N``) of this copy's own."""
    start = first + 20 * TEST_SLOT
    return range(start, start + count)


HAPROXY_SOCKET = os.environ.get("CLUSTERKIT_HAPROXY_SOCKET", "/run/clusterkit-services/haproxy.sock")
"""The admin-level runtime API socket of the HAProxy scripts/services.sh starts."""
HAPROXY_FRONTENDS = {"tests": 18080, "tests2": 18081, "example": 18082, "bench": 18083}
"""Each backend of that HAProxy and the loopback port of the frontend in front of it."""


@contextlib.contextmanager
def claimed_backend(backend: str) -> Iterator[Any]:
    """A ``HAProxyRuntime`` on the real HAProxy with ``backend`` emptied and this process's
    alone until the block ends (skips without HAProxy, fails under CI=true).

    HAProxy's backends are fixed in its configuration and shared by every process on the
    machine, so a test (or a second copy of the suite) that wants one waits here, on an
    exclusive lock of the backend's own, until the holder is done; it is emptied before and after.
    """
    from clusterkit.balancing import HAProxyRuntime, LoadBalancerError

    runtime = HAProxyRuntime(HAPROXY_SOCKET, timeout=5.0)
    try:
        runtime.servers(backend)
        available = True
    except LoadBalancerError:
        available = False
    require_service(available, f"HAProxy runtime API at {HAPROXY_SOCKET}, backend {backend} (scripts/services.sh)")
    with open(f"/tmp/clusterkit-haproxy-backend-{backend}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            empty_backend(runtime, backend)
            yield runtime
            empty_backend(runtime, backend)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def empty_backend(runtime: Any, backend: str) -> None:
    """Delete every server of ``backend``."""
    for name in list(runtime.servers(backend)):
        runtime.delete(backend, name)


@pytest.fixture
def haproxy() -> Iterator[Any]:
    """The real HAProxy's runtime API, its ``tests`` backend (frontend 127.0.0.1:18080) empty
    and this test's alone (see ``claimed_backend``).
    """
    with claimed_backend("tests") as runtime:
        yield runtime


def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()
