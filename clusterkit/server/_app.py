"""The WSGI application: one dispatch on ``X-Amz-Target``, and the threaded standard-library server.

Every answer is ``application/x-amz-json-1.1`` with an ``x-amzn-RequestId``. An error is HTTP
400 (500 for ``ServerException``) with ``{"__type": CODE, "message": ...}`` and the code in
``X-Amzn-ErrorType`` too (botocore reads the body, the Go SDK the header first).
"""

from __future__ import annotations

import datetime
import json
import logging
import socketserver
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from clusterkit.errors import ClusterkitError
from clusterkit.server._clusters import Clusters
from clusterkit.server._operations import OPERATIONS, unmodelled
from clusterkit.server._sigv4 import Credential, verify_sigv4
from clusterkit.server._wire import TARGET_PREFIX, ApiError, check_input, error_for, service_model, shape_output

__all__ = ["EcsApplication", "ThreadingWSGIServer", "serve_threaded"]

_CONTENT_TYPE = "application/x-amz-json-1.1"
_LOG = logging.getLogger("clusterkit.server")
MAX_BODY = 8 * 1024 * 1024
"""The largest request body taken, in bytes (a task definition is at most 64 KiB in ECS)."""
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class EcsApplication:
    """The ECS API (AWS JSON 1.1) over ``clusters``, as a WSGI application.

    Host it on any WSGI server (gunicorn, waitress, ``serve_threaded``); it keeps no state
    of its own beyond ``clusters``, and every call is safe from several threads at once.
    With ``credentials`` (access key → ``Credential``, see ``load_credentials``) every request
    must carry a valid SigV4 signature for this region and service ``ecs``, its ``X-Amz-Date``
    within 15 minutes of ``clock``; without, any signature (or none) is taken.
    """

    def __init__(
        self,
        clusters: Clusters,
        *,
        credentials: Mapping[str, Credential] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clusters = clusters
        self.credentials = credentials
        self.clock = clock
        service_model()  # load botocore's model now: fail at start, not at the first call

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request."""
        request_id = str(uuid.uuid4())
        status, payload = 200, b""
        error: ApiError | None = None
        try:
            payload = json.dumps(self.answer(environ)).encode()
        except ApiError as refused:
            error = refused
        except Exception:  # a bug or a failure behind the facade: ECS's ServerException
            _LOG.exception("request %s failed", request_id)
            error = ApiError("ServerException", "the server failed; see its log for request " + request_id, 500)
        headers = [("Content-Type", _CONTENT_TYPE), ("x-amzn-RequestId", request_id)]
        if error is not None:
            status = error.status
            payload = json.dumps({"__type": error.code, "message": error.message}).encode()
            headers.append(("X-Amzn-ErrorType", error.code))
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [payload]

    def answer(self, environ: dict[str, Any]) -> dict[str, Any]:
        """The response body of one request, or ApiError."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ApiError("SerializationException", "Content-Length is not a number") from None
        if not 0 <= length <= MAX_BODY:
            raise ApiError("SerializationException", f"Content-Length must be 0..{MAX_BODY} bytes")
        raw = environ["wsgi.input"].read(length)
        if self.credentials is not None:
            now = datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)
            verify_sigv4(environ, raw, self.credentials, self.clusters.region, now)
        prefix, _, name = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        served = OPERATIONS.get(name) if prefix == TARGET_PREFIX else None
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO", "/") not in ("", "/"):
            raise ApiError("UnknownOperationException", "ECS takes POST / with an X-Amz-Target header")
        if served is None:
            known = name in service_model().operation_names
            reason = "clusterkit does not serve it yet" if known else "no such operation"
            raise ApiError("UnknownOperationException", f"{environ.get('HTTP_X_AMZ_TARGET', '')!r}: {reason}")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError("SerializationException", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError("SerializationException", "the body is not a JSON object")
        checked = check_input(name, body)
        unmodelled(served, checked)
        try:
            result = served.handle(self.clusters, checked)
        except ApiError:
            raise
        except ClusterkitError as failed:
            raise error_for(name, failed) from failed
        shaped: dict[str, Any] = shape_output(result, service_model().operation_model(name).output_shape)
        return shaped


class _QuietHandler(WSGIRequestHandler):
    """wsgiref's handler, logging through ``logging`` (debug) instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("%s - " + format, self.address_string(), *args)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server answering each connection in a thread of its own."""

    daemon_threads = True


def serve_threaded(app: EcsApplication, host: str = "127.0.0.1", port: int = 0) -> ThreadingWSGIServer:
    """A threaded standard-library server for ``app`` bound to ``host:port`` (0: a free port;
    ``server.server_port`` tells which). Call ``serve_forever()`` and, to stop, ``shutdown()``
    then ``server_close()``.
    """
    server: ThreadingWSGIServer = make_server(
        host, port, app, server_class=ThreadingWSGIServer, handler_class=_QuietHandler
    )
    return server
