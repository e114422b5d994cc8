"""Small loopback HTTP servers for the fault tests: a proxy to etcd that can lose a
transaction's answer (or hold the transaction back), and endpoints that are not etcd.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TXN = "/v3/kv/txn"


class EtcdProxy:
    """Forwards every request to ``target`` (watch streams too), except transactions while
    ``mode`` says otherwise: ``"swallow"`` forwards a transaction to etcd and never answers
    the client; ``"hold"`` keeps it back, unanswered, until ``release()``, then forwards it.
    ``late`` collects etcd's answers to the transactions forwarded that way.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.mode = "pass"
        self.late: list[bytes] = []
        self._released = threading.Event()
        self._closed = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked answers: a watch's responses pass on one by one

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = proxy.mode if self.path == _TXN else "pass"
                if mode == "hold":
                    proxy._released.wait(30)
                if mode != "pass":
                    proxy.late.append(proxy._forward(self.path, body).read())
                    if mode == "swallow":
                        proxy._closed.wait(30)
                    return  # the client gave up long ago: it never hears
                try:
                    answer = proxy._forward(self.path, body)
                except urllib.error.HTTPError as error:
                    answer = error
                self.send_response(answer.status or 500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while chunk := answer.read1(1 << 16):  # a watch streams: pass on what came, as it comes
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _forward(self, path: str, body: bytes) -> Any:
        request = urllib.request.Request(self.target + path, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        return urllib.request.urlopen(request, timeout=30)

    def release(self) -> None:
        """Let a held transaction go on to etcd."""
        self._released.set()

    def close(self) -> None:
        """Stop serving (and end the requests left unanswered)."""
        self._closed.set()
        self._released.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def proxy_to(target: str) -> Iterator[EtcdProxy]:
    """An ``EtcdProxy`` to ``target`` for the block."""
    proxy = EtcdProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def answering(status: int, body: bytes) -> Iterator[str]:
    """An HTTP endpoint that answers every POST with ``status`` and ``body``: not etcd."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent() -> Iterator[str]:
    """An endpoint that takes connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def refused() -> str:
    """An endpoint where nothing listens (the connection is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
