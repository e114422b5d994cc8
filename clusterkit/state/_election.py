"""EtcdElection: one leader among processes, by etcd's election recipe.

Each candidate grants a lease of ``ttl`` seconds and creates a key of its own under the
election's prefix with that lease (``PREFIX/LEASE-ID``, holding the candidate's identity).
The key with the lowest ``create_revision`` leads; every other candidate watches the key
just before its own and looks again when that key goes. The leader renews its lease every
third of the TTL; when its process dies, etcd deletes its key once the TTL has passed and
the next candidate leads.

**A leader that cannot renew stops acting before its lease ends.** The election keeps the
lease's deadline locally: the time *before* the last successful renewal was sent, plus the
TTL etcd granted — never later than etcd's own expiry. :meth:`leading` is true only while
the key was found first and ``now < deadline - margin`` (a quarter of the TTL by default),
so a leader cut off from etcd (partitioned, or stopped with SIGSTOP and continued) stops
acting before any other candidate can lead; a callback hears each change of
:meth:`leading` within ``poll`` seconds. :meth:`resign` revokes the lease: the key goes at
once and the next candidate leads without waiting for the TTL.

Keep the election's prefix outside a store's prefix (the controller uses
``STORE_PREFIX.election/NAME/``): a store reads every key under its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

from clusterkit.errors import StoreError
from clusterkit.state._etcd import _b64, _Endpoints, _range_end, _unb64

try:
    import requests
except ImportError as missing:  # pragma: no cover - the etcd extra is not installed
    raise ImportError("EtcdElection needs the etcd extra: pip install 'clusterkit[etcd]'") from missing

__all__ = ["EtcdElection"]

Listener = Callable[[bool], object]


class EtcdElection:
    """Campaign for leadership under ``prefix`` on the etcd members at ``endpoints``.

    ``ttl`` is the lease's TTL in whole seconds (etcd rounds it up to its minimum);
    ``identity`` names this candidate in its key's value (default ``HOST-PID``);
    ``margin`` is how long before the lease's local deadline the leader stops acting
    (default a quarter of the TTL); ``timeout`` bounds each request to etcd (default a third
    of the TTL, so a partition cannot hold a renewal past the deadline); ``poll`` is how often
    the listener's thread looks at :meth:`leading`.

    :meth:`run` campaigns until its ``stop`` is set, then resigns. ``terms`` counts the terms
    won, ``errors`` the requests etcd did not answer.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        prefix: str,
        *,
        ttl: int = 10,
        identity: str | None = None,
        margin: float | None = None,
        timeout: float | None = None,
        poll: float = 0.05,
    ) -> None:
        if not isinstance(prefix, str) or not prefix.startswith("/") or len(prefix) < 2:
            raise StoreError(f"prefix={prefix!r}: an election's key prefix starts with '/'")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise StoreError(f"ttl={ttl!r}: a lease's TTL is a whole number of seconds >= 1")
        self.prefix = prefix.rstrip("/") + "/"
        self.ttl = ttl
        self.identity = identity if identity is not None else f"{socket.gethostname()}-{os.getpid()}"
        self.margin = ttl / 4 if margin is None else float(margin)
        self.poll = poll
        self._endpoints = _Endpoints(endpoints, ttl / 3 if timeout is None else timeout)
        self.key: str | None = None
        """This candidate's key while it campaigns."""
        self.lease: int | None = None
        """Its lease's id while it campaigns."""
        self.terms = 0
        self.errors = 0
        self._first = False  # the key was found first (with its lease alive) at the last look
        self._deadline = 0.0  # monotonic: the lease's end, as this process knows it
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<EtcdElection {self.prefix} {self.identity} leading={self.leading()}>"

    # -- what others read -------------------------------------------------------------------

    def leading(self) -> bool:
        """True while this candidate leads and its lease is surely alive (see the module)."""
        with self._lock:
            return self._first and time.monotonic() < self._deadline - self.margin

    def deadline(self) -> float:
        """When the lease ends, as far as this process knows (``time.monotonic()``; 0: none)."""
        return self._deadline

    def leader(self) -> str | None:
        """The identity of the candidate that leads now, read from etcd (None: no candidate)."""
        candidates = self._candidates()
        return json.loads(_unb64(candidates[0][2]))["identity"] if candidates else None

    # -- campaigning -----------------------------------------------------------------------

    def run(self, stop: threading.Event, on_change: Listener | None = None) -> None:
        """Campaign, lead while the lease holds, campaign again when it is lost — until
        ``stop`` is set; then resign. ``on_change(leading)`` hears every change of
        :meth:`leading` (from a thread of its own, within ``poll`` seconds).
        """
        finished = threading.Event()
        notifier = threading.Thread(
            target=self._notify, args=(finished, on_change), name="clusterkit-election-notify", daemon=True
        )
        notifier.start()
        try:
            while not stop.is_set():
                try:
                    self._campaign(stop)
                except (StoreError, KeyError, ValueError):
                    self.errors += 1
                    self.resign()  # best effort: a lease left behind would hold a key before ours
                    stop.wait(self.ttl / 6)
        finally:
            self.resign()
            finished.set()
            notifier.join(timeout=5)

    def resign(self) -> None:
        """Stop leading at once and revoke the lease: the key goes and the next candidate leads."""
        lease = self._lose()
        if lease is not None:
            with contextlib.suppress(StoreError):  # unreachable: the key goes with the TTL
                self._endpoints.post("/lease/revoke", {"ID": str(lease)})

    def _lose(self) -> int | None:
        """Forget the key and lease (leading ends); returns the lease that was held."""
        with self._lock:
            self._first = False
            self._deadline = 0.0
            lease, self.lease, self.key = self.lease, None, None
        return lease

    def _campaign(self, stop: threading.Event) -> None:
        """One candidacy: grant a lease, create the key, then renew and look until it is lost."""
        sent = time.monotonic()
        granted = self._endpoints.post("/lease/grant", {"TTL": self.ttl})
        lease = int(granted["ID"])
        key = f"{self.prefix}{lease:016x}"
        value = json.dumps({"identity": self.identity, "host": socket.gethostname(), "pid": os.getpid()})
        with self._lock:
            self.lease, self.key = lease, key
            self._deadline = sent + int(granted["TTL"])
        created = self._endpoints.post(
            "/kv/txn",
            {
                "compare": [{"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
                "success": [{"request_put": {"key": _b64(key), "value": _b64(value), "lease": str(lease)}}],
            },
        )
        if not created.get("succeeded"):
            raise StoreError(f"election key {key} exists already")
        renew_at = time.monotonic() + self.ttl / 3
        while not stop.is_set():
            if time.monotonic() >= renew_at:
                renewed = self._renew(lease)
                if renewed is False or time.monotonic() >= self._deadline:
                    self._lose()
                    return  # the lease is gone: campaign anew
                renew_at = time.monotonic() + (self.ttl / 3 if renewed else self.ttl / 12)
            try:
                candidates = self._candidates()
            except StoreError:
                self.errors += 1
                if time.monotonic() >= self._deadline:
                    raise
                stop.wait(min(self.ttl / 6, max(0.0, renew_at - time.monotonic())))
                continue
            keys = [candidate[0] for candidate in candidates]
            if key not in keys:
                self._lose()
                return  # the key went with an expired lease
            position = keys.index(key)
            with self._lock:
                if position == 0 and not self._first:
                    self.terms += 1
                self._first = position == 0
            wait = max(0.0, renew_at - time.monotonic())
            if position == 0:
                stop.wait(wait)
            else:
                self._wait_for_delete(keys[position - 1], candidates[position - 1][1], wait, stop)

    def _renew(self, lease: int) -> bool | None:
        """Renew the lease: True done, False gone (etcd says so), None etcd did not answer.
        The deadline moves only on success.
        """
        sent = time.monotonic()
        try:
            answer = self._endpoints.post("/lease/keepalive", {"ID": str(lease)})
        except StoreError:
            self.errors += 1
            return None  # etcd away: try again soon, until the lease ends
        ttl = int(answer.get("result", {}).get("TTL", 0))
        if ttl <= 0:
            return False
        with self._lock:
            if self.lease == lease:
                self._deadline = sent + ttl
        return True

    def _candidates(self) -> list[tuple[str, int, str]]:
        """Every candidate's (key, revision read at, value), lowest create_revision first."""
        answer = self._endpoints.post(
            "/kv/range",
            {
                "key": _b64(self.prefix),
                "range_end": _range_end(self.prefix),
                "sort_order": "ASCEND",
                "sort_target": "CREATE",
            },
        )
        revision = int(answer["header"]["revision"])
        return [(_unb64(kv["key"]).decode(), revision, kv.get("value", "")) for kv in answer.get("kvs", [])]

    def _wait_for_delete(self, key: str, revision: int, timeout: float, stop: threading.Event) -> None:
        """Until ``key`` is deleted after ``revision``, ``timeout`` passes or ``stop`` is set."""
        if timeout <= 0:
            return
        body = {"create_request": {"key": _b64(key), "start_revision": str(revision + 1), "filters": ["NOPUT"]}}
        deadline = time.monotonic() + timeout
        for client in self._endpoints.clients:
            try:
                with client.session.post(
                    client.get_url("/watch"), json=body, stream=True, timeout=(self.ttl / 3, timeout)
                ) as response:
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if stop.is_set() or time.monotonic() >= deadline:
                            return
                        if line and json.loads(line).get("result", {}).get("events"):
                            return  # the key before ours went: look again
            except (requests.RequestException, ValueError, OSError):
                if time.monotonic() >= deadline:
                    return
                continue
            return
        stop.wait(max(0.0, deadline - time.monotonic()))

    def _notify(self, finished: threading.Event, on_change: Listener | None) -> None:
        """Tell ``on_change`` each change of :meth:`leading`, until ``finished``."""
        last = False
        while not finished.wait(self.poll):
            now = self.leading()
            if now != last and on_change is not None:
                on_change(now)
            last = now
        if last and on_change is not None:
            on_change(False)
