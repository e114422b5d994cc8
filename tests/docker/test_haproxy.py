"""HAProxyRuntime on the real HAProxy (scripts/services.sh): servers added with their checks,
forced down until the checks pass, drained, deleted, and listed from ``show stat``.

No Docker here: the servers are Python HTTP servers on loopback. The backend is ``tests2``
(frontend 127.0.0.1:18081), so these run beside the service tests on ``tests``.
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clusterkit.balancing import HAProxyRuntime, HealthCheckSettings, LoadBalancerError, Server
from tests.conftest import HAPROXY_FRONTENDS, claimed_backend

BACKEND = "tests2"
CHECK = HealthCheckSettings(interval=0.2, rise=2, fall=2)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def runtime() -> Iterator[HAProxyRuntime]:
    with claimed_backend(BACKEND) as found:
        yield found


@pytest.fixture
def web() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 answering ``hello``; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    server.body = b"hello"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def wait_for(runtime: HAProxyRuntime, name: str, holds: Callable[[Server], bool], timeout: float = 5.0) -> Server:
    deadline = time.monotonic() + timeout
    while True:
        server = runtime.servers(BACKEND).get(name)
        if server is not None and holds(server):
            return server
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: {server}")
        time.sleep(0.05)


def test_a_new_server_takes_traffic_only_after_its_checks_pass(runtime: HAProxyRuntime, web: int) -> None:
    runtime.add(BACKEND, "t1", "127.0.0.1", web, CHECK)
    first = runtime.servers(BACKEND)["t1"]
    assert (first.address, first.port, first.admin) == ("127.0.0.1", web, "ready")
    assert not first.up and first.check == "init"  # forced down until rise checks pass
    up = wait_for(runtime, "t1", lambda s: s.up)
    assert up.check == "passing"
    with urllib.request.urlopen(f"http://127.0.0.1:{HAPROXY_FRONTENDS[BACKEND]}/", timeout=2) as response:
        assert response.read() == b"hello"
    with pytest.raises(LoadBalancerError, match="Already exists"):
        runtime.add(BACKEND, "t1", "127.0.0.1", web, CHECK)


def test_a_server_whose_port_is_closed_is_found_down(runtime: HAProxyRuntime) -> None:
    runtime.add(BACKEND, "t2", "127.0.0.1", 1, CHECK)  # nothing listens on port 1
    down = wait_for(runtime, "t2", lambda s: s.check == "failing")
    assert not down.up


def test_drain_then_delete(runtime: HAProxyRuntime, web: int) -> None:
    runtime.add(BACKEND, "t3", "127.0.0.1", web, CHECK)
    wait_for(runtime, "t3", lambda s: s.up)
    runtime.drain(BACKEND, "t3")
    drained = runtime.servers(BACKEND)["t3"]
    assert drained.admin == "drain" and drained.sessions == 0
    runtime.enable(BACKEND, "t3")
    assert runtime.servers(BACKEND)["t3"].admin == "ready"
    runtime.maint(BACKEND, "t3")
    assert runtime.servers(BACKEND)["t3"].admin == "maint"
    runtime.delete(BACKEND, "t3")
    assert "t3" not in runtime.servers(BACKEND)
    runtime.delete(BACKEND, "t3")  # a missing server is no error


def test_errors_name_what_failed(runtime: HAProxyRuntime) -> None:
    with pytest.raises(LoadBalancerError, match="no such backend"):
        runtime.servers("nope")
    with pytest.raises(LoadBalancerError):
        runtime.drain(BACKEND, "missing")
    with pytest.raises(LoadBalancerError, match="runtime API"):
        HAProxyRuntime("/nonexistent.sock").servers(BACKEND)


def test_each_server_counts_the_requests_it_was_sent(runtime: HAProxyRuntime, web: int) -> None:
    runtime.add(BACKEND, "counted", "127.0.0.1", web, CHECK)
    wait_for(runtime, "counted", lambda server: server.up)
    assert runtime.servers(BACKEND)["counted"].requests == 0
    for _ in range(7):
        assert urllib.request.urlopen(f"http://127.0.0.1:{HAPROXY_FRONTENDS[BACKEND]}/", timeout=5).read() == b"hello"
    assert runtime.servers(BACKEND)["counted"].requests == 7
