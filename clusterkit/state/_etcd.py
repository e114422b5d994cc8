"""EtcdStore: the cluster state in etcd, shared by scheduler and agent processes on many machines.

``ClusterState(name, store=EtcdStore([...endpoints], prefix="/clusterkit/NAME"))`` behaves as
the in-memory state does; several processes with such a state share one cluster.

**Records as keys.** Under the prefix, one key per record, holding the document the save
file keeps (``clusterkit.state``): ``instances/ID``, ``tasks/ID``,
``taskdefs/FAMILY:REVISION``, ``services/NAME`` (a service's spec: what users and autoscalers
write), ``service-status/NAME`` (its status: what the service scheduler writes), and
``families/FAMILY`` (the family's last revision, so two processes never hand out one revision
twice) and ``tokens/TOKEN`` (a client token's record, ``clusterkit.state._tokens``). A
service's spec and status are separate keys, so a user's write and the scheduler's never
compare each other's revision (never conflict), and etcd's RBAC can grant writing each
prefix to a different role.

**A commit is one etcd transaction.** It compares the ``mod_revision`` of every key it
writes with the revision the process checked the change against (``create_revision == 0``
for a new key), then puts the new documents. Schedulers writing to different instances
never conflict (Omega's fine-grained check); a commit whose keys moved is refused as a
whole and re-checked by ``ClusterState.commit``, as in memory. The transaction also creates
the commit's marker, ``commits/ID`` (a fresh id, compared absent; not a record), on a lease
of ``marker_ttl`` seconds shared by the commits of the next ``marker_ttl / 2`` seconds, so
a marker lives between half of that and all of it (and etcd, by default, gives every lease
its full TTL again when a new leader is elected, so an outage does not eat into it). Client
tokens' keys go on a lease of their own, of ``token_ttl`` seconds, the same way.

**A local replica per process.** The store reads the prefix once, then follows an etcd
watch from the revision it holds, applying each revision's records to persistent roots, so
snapshots stay immutable, O(1) to take and lock-free to read, and lists and describes are
served locally from the same indexes as in memory. The cluster's version is etcd's revision.
Every change, this process's and others', reaches the state's subscribers through the
watch, in revision order, as the same typed events; a commit returns once the replica holds
it, so a process sees its own write at once. A watch whose stream breaks (a member
restarted, a connection cut) opens a new one, on whichever member answers, from the
revision the replica holds: nothing is read again and subscribers miss nothing. Only a watch
that falls behind etcd's compaction (or that etcd cancels) reads the prefix again, and then
subscribers are told to resynchronise, with that cause.

**Agents' liveness.** ``keep_alive(name, ttl)`` grants an etcd lease with that TTL, puts
``liveness/NAME`` under the prefix attached to it, and renews the lease from a thread every
third of the TTL (granting a new one, and putting the key again, if it was lost). When the
agent's process dies the renewals stop, etcd deletes the key once the TTL has passed, and
every process's watch sees it go: ``live_agents()`` is the set of names whose keys are
there. Liveness keys are not records: they change no record and carry no event.

**Faults.** An endpoint that does not answer is skipped for the next; when none answers the
call raises ``StoreError`` naming each endpoint and why (refused the connection, timed out,
no quorum, not etcd). A refused connection or an endpoint that is not etcd never received
the request; a timeout, or etcd's own "request timed out", may have left a transaction in a
member's log, to be written once a quorum is back (etcd documents such an outcome as
unknown). So a commit that a member may have received raises ``CommitOutcomeUnknown``
with its commit id, and ``resolve(commit_id)`` later answers: the marker is there (written,
at that revision), or it is not — and ``resolve`` then creates the marker as abandoned, so
the transaction, which requires it absent, can never be applied after. A commit sent again
to the next member after a timeout is refused if the first attempt was written (its marker
exists), and is then taken as written. Commits that raise a plain ``StoreError`` wrote
nothing. A commit touching more keys than one transaction may hold (``max_txn_ops``, etcd's
``--max-txn-ops``, 128 by default, one of them the marker) is refused with ``StoreError``
when atomic; incremental commits are split by ``ClusterState.commit`` into transactions that
fit.

The client is ``etcd3gw`` (etcd's JSON gateway, pure Python): its client for reads,
transactions and leases; the watch stream is read here, response by response, so that a
revision's changes are applied together and a compaction is noticed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import immutables

from clusterkit.errors import CommitOutcomeUnknown, StoreError, ValidationError
from clusterkit.model import Arns, ContainerInstance, ServiceSpec, ServiceStatus, Task, TaskDefinition
from clusterkit.state._apply import Pending, write
from clusterkit.state._ids import new_id
from clusterkit.state._ptree import Owner
from clusterkit.state._records import (
    decode_instance,
    decode_service_spec,
    decode_service_status,
    decode_task,
    decode_task_definition,
    encode_instance,
    encode_service_spec,
    encode_service_status,
    encode_task,
    encode_task_definition,
)
from clusterkit.state._snapshot import Roots
from clusterkit.state._store import Deliver, empty_roots
from clusterkit.state._tokens import CLIENT_TOKEN_TTL, ClientToken, decode_client_token, encode_client_token

try:
    import requests
    from etcd3gw.client import Etcd3Client
    from etcd3gw.exceptions import ConnectionTimeoutError, Etcd3Exception, InternalServerError
except ImportError as missing:  # pragma: no cover - the etcd extra is not installed
    raise ImportError("EtcdStore needs the etcd extra: pip install 'clusterkit[etcd]'") from missing

__all__ = ["EtcdLease", "EtcdStore"]


_KINDS: Final = ("instances", "tasks", "taskdefs", "services", "service-status", "families", "tokens")
_LIVENESS: Final = "liveness"
_COMMITS: Final = "commits"  # commit markers: COMMIT_ID -> {"commit"} (or {"abandoned": true}, by resolve)
_PAGE: Final = 1000
_HISTORY: Final = 512
_CHUNK: Final = 1 << 16  # watch stream reads: a revision of many records is one long line


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _range_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return _b64(bytes(raw))


def _lost_watch(url: str, start: int, result: dict[str, Any], compacted: bool) -> str:
    """Why a watch from revision ``start`` at ``url`` could not go on, in words."""
    if compacted:
        return (
            f"etcd at {url} compacted its history up to revision {result['compact_revision']}, past revision "
            f"{start} the watch needed, so the prefix was read again"
        )
    reason = result.get("cancel_reason") or "no reason given"
    return f"etcd at {url} cancelled the watch from revision {start} ({reason}), so the prefix was read again"


def _marker_revision(answer: dict[str, Any]) -> int | None:
    """The revision a refused transaction's commit marker (its last read) was written at, when
    the marker is there and not abandoned: an earlier attempt of the same transaction was written.
    """
    responses = answer.get("responses", [])
    kvs = responses[-1].get("response_range", {}).get("kvs", []) if responses else []
    if not kvs or json.loads(_unb64(kvs[0].get("value", ""))).get("abandoned"):
        return None
    return int(kvs[0]["mod_revision"])


def _moved_to(answer: dict[str, Any], existing: int) -> int:
    """The revision the replica needs after a refused transaction: the newest mod revision
    among the keys it read back, or etcd's newest when some of the ``existing`` keys it
    compared are gone (deleted behind the store's back: the watch reloads on that).
    """
    newest = found = 0
    for response in answer.get("responses", []):
        for kv in response.get("response_range", {}).get("kvs", []):
            newest = max(newest, int(kv.get("mod_revision", 0)))
            found += 1
    if found < existing:
        return int(answer.get("header", {}).get("revision", 0))
    return newest


_NO_QUORUM: Final = ("no leader", "request timed out", "context deadline exceeded", "leader changed", "timed out")


class _Unanswered(StoreError):
    """No endpoint answered; ``uncertain`` when a request may have reached etcd all the same
    (a timeout, a connection cut after sending, etcd's own timeout): a write's outcome is
    then unknown. Refused connections and endpoints that are not etcd never received it.
    """

    def __init__(self, message: str, uncertain: bool) -> None:
        super().__init__(message)
        self.uncertain = uncertain


def _etcd_message(text: str | None) -> str | None:
    """The message etcd gave in an HTTP body (``{"error", "message", "code"}``), or None."""
    try:
        document = json.loads(text or "")
    except ValueError:
        return None
    if isinstance(document, dict) and "code" in document and ("message" in document or "error" in document):
        return str(document.get("message") or document.get("error"))
    return None


def _problem(error: Exception, timeout: float) -> tuple[str, bool]:
    """Why a request to one endpoint failed, in words, and whether it may have reached etcd."""
    detail = getattr(error, "detail_text", None)
    if isinstance(error, Etcd3Exception) and error.args:  # etcd3gw: an HTTP answer other than 200 (its reason)
        message = _etcd_message(detail)
        if message is None:
            return f"not etcd: answered HTTP {error.args[0]} with {(detail or '')[:80]!r}", False
        if any(sign in message for sign in _NO_QUORUM):
            return f"no quorum: etcd answered {message!r}", True
        if isinstance(error, InternalServerError):
            return f"etcd failed: {message!r}", True
        return f"etcd refused the request: {message!r}", False
    text = detail or str(error)  # etcd3gw keeps the connection error's text as its detail
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"not etcd: answered HTTP {error.response.status_code} {error.response.reason}", False
    if "Connection refused" in text:
        return "refused the connection (no etcd listening)", False
    if "ConnectTimeout" in text or "connect timeout" in text.lower():
        return f"timed out connecting ({timeout:g}s)", False
    if "Read timed out" in text or isinstance(error, (ConnectionTimeoutError, requests.Timeout)):
        return f"timed out after {timeout:g}s without an answer (no quorum, or overloaded)", True
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "unknown host", False
    if isinstance(error, ValueError):  # the body was not JSON
        return "not etcd: answered with a body that is not JSON", False
    return f"connection failed ({type(error).__name__}: {text[:160]})", True


class _Endpoints:
    """The etcd members to talk to, tried in turn until one answers."""

    def __init__(self, endpoints: Sequence[str], timeout: float) -> None:
        if isinstance(endpoints, str) or not endpoints:
            raise StoreError(f"endpoints={endpoints!r}: give a list of etcd URLs such as http://127.0.0.1:2379")
        self.urls = tuple(endpoints)
        self.timeout = timeout
        self.clients = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise StoreError(f"endpoints={url!r}: an etcd URL is http(s)://HOST:PORT")
            self.clients.append(
                Etcd3Client(parts.hostname, parts.port or 2379, parts.scheme, timeout=timeout, api_path="/v3/")
            )
        self.current = 0

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the first member that answers; ``_Unanswered`` (a StoreError) naming each
        endpoint and why it did not answer when none does.
        """
        problems = []
        uncertain = False
        for step in range(len(self.clients)):
            index = (self.current + step) % len(self.clients)
            client = self.clients[index]
            try:
                answer = client.post(client.get_url(path), json=body)
            except (Etcd3Exception, requests.RequestException, ValueError) as error:
                problem, maybe = _problem(error, self.timeout)
                uncertain = uncertain or maybe
                problems.append(f"{self.urls[index]}: {problem}")
                continue
            if not isinstance(answer, dict) or not ("header" in answer or "result" in answer):
                problems.append(
                    f"{self.urls[index]}: not etcd: answered JSON without etcd's header: {str(answer)[:80]}"
                )
                continue
            self.current = index
            return answer
        raise _Unanswered(f"etcd did not answer {path} at any endpoint: " + "; ".join(problems), uncertain)

    def stream(self, body: dict[str, Any]) -> tuple[str, requests.Response]:
        """Open a watch stream on the first member that accepts one."""
        problems = []
        for step in range(len(self.clients)):
            index = (self.current + step) % len(self.clients)
            client = self.clients[index]
            try:
                response = client.session.post(client.get_url("/watch"), json=body, stream=True, timeout=(5, None))
                response.raise_for_status()
            except requests.RequestException as error:
                problems.append(f"{self.urls[index]}: {_problem(error, 5)[0]}")
                continue
            self.current = index
            return self.urls[index], response
        raise StoreError("etcd did not accept a watch at any endpoint: " + "; ".join(problems))


class EtcdStore:
    """A ``Store`` in etcd; see the module docstring. ``close()`` stops its watch.

    Besides ``Store`` it is a ``SharedStore``, a ``TransactionLimitedStore``, a
    ``ResolvingStore``, a ``LeaseStore``, a ``CompactingStore`` and a ``HoldableStore``.

    ``endpoints`` are the members' client URLs; ``prefix`` is the cluster's key prefix (one
    per cluster); ``timeout`` bounds each request; ``max_txn_ops`` is etcd's
    ``--max-txn-ops``; ``commit_wait`` bounds how long a commit waits for the watch to bring
    its own write into the replica before reading the prefix again; ``marker_ttl`` is the
    TTL of the leases holding commit markers (each lives between half of it and all of it:
    ``resolve`` a commit within half of it) and ``token_ttl`` that of client tokens' keys
    (at least twice ``CLIENT_TOKEN_TTL``, so they outlive the time they are honoured).
    """

    def __init__(
        self,
        endpoints: Sequence[str] = ("http://127.0.0.1:2379",),
        *,
        prefix: str = "/clusterkit/default",
        timeout: float = 5.0,
        max_txn_ops: int = 128,
        commit_wait: float = 10.0,
        marker_ttl: int = 600,
        token_ttl: int = 2 * int(CLIENT_TOKEN_TTL),
    ) -> None:
        if not isinstance(prefix, str) or not prefix.startswith("/") or len(prefix) < 2:
            raise StoreError(f"prefix={prefix!r}: a key prefix starts with '/' and names the cluster")
        for name, ttl in (("marker_ttl", marker_ttl), ("token_ttl", token_ttl)):
            if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 2:
                raise StoreError(f"{name}={ttl!r}: a whole number of seconds >= 2")
        self.prefix = prefix.rstrip("/") + "/"
        self.max_txn_ops = max_txn_ops
        self.reserved_ops = 1
        """Operations of each commit transaction that are not records: its commit marker."""
        self.commit_wait = commit_wait
        self.marker_ttl = marker_ttl
        self.token_ttl = token_ttl
        self._bookkeeping: dict[int, tuple[int, float]] = {}  # TTL -> (lease id, monotonic time granted)
        self._endpoints = _Endpoints(endpoints, timeout)
        self._lock = threading.Condition(threading.RLock())
        self._arns = Arns("default")
        self._deliver: Deliver | None = None
        self._roots = empty_roots()
        self._mods: immutables.Map[str, int] = immutables.Map()
        self._history: OrderedDict[int, immutables.Map[str, int]] = OrderedDict()
        self._closed = threading.Event()
        self._following = threading.Event()  # cleared: the watch is held (``hold``)
        self._following.set()
        self._stream: requests.Response | None = None
        self._live: frozenset[str] = frozenset()
        self._leases: list[EtcdLease] = []
        self._sent: dict[str, tuple[str, object]] = {}  # key → (document, record) of the commit in flight
        self.resyncs = 0
        """How many times the replica was read again from scratch (a compacted watch, a gap)."""
        self.transactions = 0
        """How many commit transactions this store sent to etcd."""
        self.refused = 0
        """How many of them etcd refused because a key had moved."""
        self._reload("the first read")
        self._watcher = threading.Thread(target=self._follow, name="clusterkit-etcd-watch", daemon=True)
        self._watcher.start()

    def __repr__(self) -> str:
        return f"<EtcdStore {self.prefix} at revision {self._roots.version} via {list(self._endpoints.urls)}>"

    # -- the Store protocol ----------------------------------------------------------------

    def attach(self, arns: Arns, deliver: Deliver) -> None:
        """Called by the state that uses this store: its ARNs (for documents) and its delivery."""
        self._arns = arns
        self._deliver = deliver

    def current(self) -> Roots:
        """The replica's newest roots (their version is etcd's revision)."""
        return self._roots

    def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
        """Write ``pending`` in one transaction if none of its keys moved since ``base``.

        Returns the replica's roots holding the write, or None when a key moved (the replica
        has then caught up with the write that moved it). ``pending.version`` becomes the
        revision the write got, so its events carry it. The transaction also creates the
        commit's marker, ``commits/ID``: should no member answer whether it was written,
        ``CommitOutcomeUnknown`` carries that id for ``resolve``.
        """
        with self._lock:
            mods = self._history.get(base.version)
        if mods is None:
            return None  # base is older than the history kept: plan again from the newest
        compares: list[dict[str, Any]] = []
        puts: list[dict[str, Any]] = []
        reads: list[dict[str, Any]] = []
        keys: list[str] = []
        sent: dict[str, tuple[str, object]] = {}
        for key, document, record in self._documents(pending):
            keys.append(key)
            modified = mods.get(key)
            if modified is None:
                compares.append({"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"})
            else:
                compares.append({"key": _b64(key), "result": "EQUAL", "target": "MOD", "mod_revision": str(modified)})
            value = _b64(json.dumps(document, separators=(",", ":")))
            put: dict[str, Any] = {"key": _b64(key), "value": value}
            if isinstance(record, ClientToken):
                put["lease"] = ""  # the markers' lease, set when the transaction is sent
            puts.append({"request_put": put})
            reads.append({"request_range": {"key": _b64(key), "keys_only": True}})
            sent[key] = (value, record)
        if len(puts) + self.reserved_ops > self.max_txn_ops:
            raise StoreError(
                f"commit touches {len(puts)} records; one etcd transaction holds at most {self.max_txn_ops} "
                f"(--max-txn-ops), {self.reserved_ops} of them the commit's marker: commit fewer changes at once, "
                "or incrementally so they are split"
            )
        commit_id = new_id()
        marker = _b64(f"{self.prefix}{_COMMITS}/{commit_id}")
        compares.append({"key": marker, "result": "EQUAL", "target": "CREATE", "create_revision": "0"})
        reads.append({"request_range": {"key": marker}})  # refused: was an attempt a member kept quiet on written?
        self._sent = sent  # the watch takes these records as they are rather than decoding them again
        try:
            self.transactions += 1
            answer = self._marked_txn(compares, puts, reads, marker, {"commit": commit_id}, commit_id)
            if not answer.get("succeeded"):
                revision = _marker_revision(answer)
                if revision is None:
                    # etcd answers a refusal with the keys' mod revisions: the replica needs to reach
                    # those, not etcd's newest revision, which other prefixes' writes may have moved.
                    self.refused += 1
                    self._wait_for(_moved_to(answer, sum(key in mods for key in keys)))
                    return None
            else:
                revision = int(answer["header"]["revision"])
            self._wait_for(revision)
        finally:
            self._sent = {}
        pending.version = revision
        return self._roots

    def _marked_txn(
        self,
        compares: list[dict[str, Any]],
        success: list[dict[str, Any]],
        failure: list[dict[str, Any]],
        marker: str,
        value: dict[str, Any],
        commit_id: str,
    ) -> dict[str, Any]:
        """Send a transaction that also puts ``marker`` (on the markers' lease, taken again once
        if etcd lost it); CommitOutcomeUnknown when no member said whether it was written.
        """
        for attempt in (1, 2):
            tokens = self._lease(self.token_ttl) if any("lease" in op["request_put"] for op in success) else ""
            for operation in success:
                if "lease" in operation["request_put"]:
                    operation["request_put"]["lease"] = tokens
            put = {"key": marker, "value": _b64(json.dumps(value)), "lease": self._lease(self.marker_ttl)}
            body = {"compare": compares, "success": [*success, {"request_put": put}], "failure": failure}
            try:
                return self._endpoints.post("/kv/txn", body)
            except _Unanswered as error:
                if error.uncertain:
                    raise CommitOutcomeUnknown(commit_id, str(error)) from None
                if attempt == 1 and "lease not found" in str(error):
                    self._bookkeeping.clear()  # expired while etcd was away (or revoked): take new ones
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _lease(self, ttl: int) -> str:
        """The lease commit markers (or client tokens) are put with now: granted for ``ttl``
        seconds and replaced once half of that has passed, so each key lives at least half.
        """
        held = self._bookkeeping.get(ttl)
        now = time.monotonic()
        if held is None or now - held[1] > ttl / 2:
            answer = self._endpoints.post("/lease/grant", {"TTL": ttl})
            held = self._bookkeeping[ttl] = (int(answer["ID"]), now)
        return str(held[0])

    def resolve(self, commit_id: str) -> int | None:
        """What became of the commit ``commit_id`` (a ``CommitOutcomeUnknown``'s): the revision it
        was written at, once the replica holds it, or None when it was not written — and now
        never will be: this creates its marker as abandoned, which the commit's transaction
        requires to be absent. CommitOutcomeUnknown again while etcd does not answer.

        Answer within ``marker_ttl / 2`` seconds of the commit: its marker lives that long at least.
        """
        if not isinstance(commit_id, str) or not commit_id or "/" in commit_id:
            raise ValidationError("commitId", commit_id, "give the commit_id of a CommitOutcomeUnknown")
        marker = _b64(f"{self.prefix}{_COMMITS}/{commit_id}")
        compare = [{"key": marker, "result": "EQUAL", "target": "CREATE", "create_revision": "0"}]
        try:
            answer = self._marked_txn(
                compare, [], [{"request_range": {"key": marker}}], marker, {"abandoned": True}, commit_id
            )
        except _Unanswered as error:  # the markers' lease could not be had
            raise CommitOutcomeUnknown(commit_id, str(error)) from None
        if answer.get("succeeded"):
            return None  # fenced: the commit's transaction can no longer succeed
        revision = _marker_revision(answer)
        if revision is not None:
            self._wait_for(revision)
        return revision

    def _documents(self, pending: Pending) -> Iterator[tuple[str, dict[str, Any], object]]:
        """Each record ``pending`` writes: its key, its document and the record itself."""
        arns = self._arns
        for task in pending.tasks.values():
            yield f"{self.prefix}tasks/{task.id}", encode_task(task, arns), task
        for instance in pending.instances.values():
            yield f"{self.prefix}instances/{instance.id}", encode_instance(instance, arns), instance
        for definition in pending.task_definitions.values():
            yield f"{self.prefix}taskdefs/{definition.key}", encode_task_definition(definition), definition
        for family, revision in pending.family_revisions.items():
            yield f"{self.prefix}families/{family}", {"lastRevision": revision}, revision
        for spec in pending.service_specs.values():
            yield f"{self.prefix}services/{spec.name}", encode_service_spec(spec, arns), spec
        for status in pending.service_statuses.values():
            yield f"{self.prefix}service-status/{status.name}", encode_service_status(status, arns), status
        for token, record in pending.tokens.items():
            if record is not None:  # (the state drops no tokens on a shared store: their lease does)
                yield f"{self.prefix}tokens/{token}", encode_client_token(record), record

    def _wait_for(self, revision: int) -> None:
        """Until the replica holds ``revision``; read the prefix again if the watch is late."""
        deadline = time.monotonic() + self.commit_wait
        with self._lock:
            while self._roots.version < revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._reload(
                        f"the watch did not bring revision {revision} within commit_wait={self.commit_wait:g}s, "
                        "so the prefix was read again"
                    )
                    return
                self._lock.wait(left)

    # -- the replica -------------------------------------------------------------------------

    def _reload(self, cause: str) -> None:
        """Read every record under the prefix at one revision and rebuild the replica; the
        subscribers (but at the first read) are told to resynchronise, for ``cause``.
        """
        revision = 0
        pending = Pending(empty_roots(), 0.0)
        mods: dict[str, int] = {}
        live: set[str] = set()
        start = _b64(self.prefix)
        while True:
            body: dict[str, Any] = {"key": start, "range_end": _range_end(self.prefix), "limit": _PAGE}
            if revision:
                body["revision"] = revision
            answer = self._endpoints.post("/kv/range", body)
            revision = revision or int(answer["header"]["revision"])
            kvs = answer.get("kvs", [])
            for kv in kvs:
                key = _unb64(kv["key"]).decode()
                agent = self._agent_of(key)
                if agent is not None:
                    live.add(agent)
                    continue
                if self._take(pending, key, kv.get("value", "")):
                    mods[key] = int(kv["mod_revision"])
            if not answer.get("more"):
                break
            start = _b64(_unb64(kvs[-1]["key"]) + b"\0")
        pending.version = revision
        roots = write(empty_roots(), pending, Owner())
        with self._lock:
            if revision <= self._roots.version and self._history:
                return  # the watch got further meanwhile
            first = not self._history
            self._roots = roots
            self._live = frozenset(live)
            self._mods = immutables.Map(mods)
            self._history.clear()
            self._history[revision] = self._mods
            self._lock.notify_all()
            deliver = self._deliver
        if not first:
            self.resyncs += 1
            if deliver is not None:
                deliver(roots, None, cause)

    def _agent_of(self, key: str) -> str | None:
        """The agent a liveness key belongs to (None: not a liveness key)."""
        kind, _, name = key[len(self.prefix) :].partition("/")
        return name if kind == _LIVENESS and name else None

    def _take(self, pending: Pending, key: str, value: str) -> bool:
        """Put one key's record (``value``: its document, base64 as etcd's gateway gives it)
        into ``pending``, its events too. A document this process just sent, byte for byte,
        is not decoded: the record it was encoded from is taken (the codec is exact). False
        when the key holds no record (a commit marker, another program's key).
        """
        kind, _, name = key[len(self.prefix) :].partition("/")
        if kind not in _KINDS or not name:
            return False  # not a record of ours
        sent = self._sent.get(key)
        if sent is not None and sent[0] == value:
            record = sent[1]
        else:
            document = json.loads(_unb64(value))
            if kind == "tasks":
                record = decode_task(document)
            elif kind == "instances":
                record = decode_instance(document)
            elif kind == "taskdefs":
                record = decode_task_definition(document)
            elif kind == "services":
                record = decode_service_spec(document)
            elif kind == "service-status":
                record = decode_service_status(document)
            elif kind == "tokens":
                record = decode_client_token(document)
            else:
                record = int(document["lastRevision"])
        if isinstance(record, Task):
            pending._put_task(record)
        elif isinstance(record, ContainerInstance):
            pending._put_instance(record)
        elif isinstance(record, TaskDefinition):
            pending._put_task_definition(record)
        elif isinstance(record, ServiceSpec):
            pending._put_service_spec(record)
        elif isinstance(record, ServiceStatus):
            pending._put_service_status(record)
        elif isinstance(record, ClientToken):
            pending.tokens[name] = record
        else:
            pending.family_revisions[name] = int(record)  # type: ignore[call-overload]
        return True

    def _follow(self) -> None:
        """The watch loop: apply each revision's records in order. A broken stream (a member
        restarted, a connection cut) reconnects and resumes from the revision the replica
        holds; only a compaction past it, or etcd cancelling the watch, reads everything again.
        """
        pause = 0.05
        while not self._closed.is_set():
            self._following.wait()
            start = self._roots.version + 1
            body = {
                "create_request": {
                    "key": _b64(self.prefix),
                    "range_end": _range_end(self.prefix),
                    "start_revision": str(start),
                }
            }
            try:
                url, response = self._endpoints.stream(body)
                self._stream = response
                for line in response.iter_lines(chunk_size=_CHUNK):
                    if self._closed.is_set():
                        return
                    if not self._following.is_set():
                        break
                    if not line:
                        continue
                    result = json.loads(line).get("result", {})
                    compacted = result.get("compact_revision") not in (None, "0", 0)
                    if compacted or result.get("canceled"):
                        self._reload(_lost_watch(url, start, result, compacted))
                        break
                    if result.get("events"):
                        self._apply(result["events"])
                    pause = 0.05
            except (StoreError, requests.RequestException, ValueError, OSError):
                pass
            if self._closed.is_set():
                return
            if not self._following.is_set():
                continue  # held: pick up from the same revision once let go
            time.sleep(pause)  # then resume from the revision held: etcd keeps the history since
            pause = min(pause * 2, 2.0)

    def _apply(self, events: list[dict[str, Any]]) -> None:
        """Apply one watch response: each revision's changes as one new version."""
        by_revision: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        for event in events:
            by_revision.setdefault(int(event["kv"]["mod_revision"]), []).append(event)
        for revision in sorted(by_revision):
            if revision <= self._roots.version:
                continue  # already held (read by a reload)
            group = by_revision[revision]
            came: set[str] = set()
            went: set[str] = set()
            records = []
            dropped = []  # tokens whose lease expired
            for event in group:
                key = _unb64(event["kv"]["key"]).decode()
                agent = self._agent_of(key)
                deleted = event.get("type") == "DELETE"
                kind, _, name = key[len(self.prefix) :].partition("/")
                if agent is not None:
                    (went if deleted else came).add(agent)
                elif kind == _COMMITS:
                    continue  # a commit marker: no record
                elif deleted and kind == "tokens":
                    dropped.append((key, name))
                elif deleted:  # records are never deleted by clusterkit: take the store as it is
                    self._reload(f"the record {key} was deleted in etcd at revision {revision}")
                    return
                else:
                    records.append((key, event))
            with self._lock:
                pending = Pending(self._roots, 0.0)
                pending.version = revision
                keys = []
                for key, event in records:
                    if self._take(pending, key, event["kv"].get("value", "")):
                        keys.append(key)
                for _, name in dropped:
                    pending.tokens[name] = None
                if came or went:
                    self._live = (self._live - went) | came
                roots = write(self._roots, pending, Owner())
                mutation = self._mods.mutate()
                for key in keys:
                    mutation[key] = revision
                for key, _ in dropped:
                    mutation.pop(key, None)
                self._mods = mutation.finish()
                self._roots = roots
                self._history[revision] = self._mods
                while len(self._history) > _HISTORY:
                    self._history.popitem(last=False)
                if self._deliver is not None and pending.events:  # a key that is not a record carries none
                    self._deliver(roots, tuple(pending.events))
                self._lock.notify_all()

    # -- agents' liveness -------------------------------------------------------------------

    def keep_alive(self, name: str, ttl: int = 10) -> EtcdLease:
        """Take a lease of ``ttl`` seconds for agent ``name``, holding its liveness key, and
        keep renewing it from a thread until the lease's ``close()`` (or the store's).
        """
        lease = EtcdLease(self, name, ttl)
        with self._lock:
            self._leases = [held for held in self._leases if not held.closed]
            self._leases.append(lease)
        return lease

    def live_agents(self) -> frozenset[str]:
        """The agents whose liveness keys the replica holds (their leases have not expired)."""
        return self._live

    # -- the rest ---------------------------------------------------------------------------

    def compact(self) -> int:
        """Compact etcd's history up to the newest revision (for tests and housekeeping)."""
        answer = self._endpoints.post("/kv/range", {"key": _b64(self.prefix), "limit": 1})
        revision = int(answer["header"]["revision"])
        self._endpoints.post("/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def hold(self) -> None:
        """Stop following etcd for now: the replica stays at its revision (a slow reader, in tests)."""
        self._following.clear()
        self._cut_stream()

    def release(self) -> None:
        """Follow etcd again from the revision the replica holds (reading everything again if
        etcd compacted past it meanwhile).
        """
        self._following.set()

    def close(self) -> None:
        """Stop following etcd, and give up the leases taken through this store."""
        with self._lock:
            leases, self._leases = self._leases, []
        for lease in leases:
            lease.close()
        self._closed.set()
        self._following.set()
        self._cut_stream()
        self._watcher.join(timeout=5)

    def _cut_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            try:
                raw = stream.raw._fp.fp.raw._sock  # type: ignore[union-attr]
                raw.shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):
                stream.close()


class EtcdLease:
    """An agent's etcd lease, holding ``liveness/NAME`` under the store's prefix; renewed
    from a thread every third of ``ttl`` until :meth:`close`.

    etcd rounds a TTL up to its minimum (2 s with default election settings). A renewal
    that finds the lease gone (it expired while etcd could not be reached, or was revoked)
    grants a new one and puts the key again. ``renewals`` and ``grants`` count what it did.
    """

    def __init__(self, store: EtcdStore, name: str, ttl: int = 10) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise StoreError(f"name={name!r}: an agent's name is a non-empty string without '/'")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise StoreError(f"ttl={ttl!r}: a lease's TTL is a whole number of seconds >= 1")
        self.name = name
        self.ttl = ttl
        self.key = f"{store.prefix}{_LIVENESS}/{name}"
        self.renewals = 0
        self.grants = 0
        self._endpoints = store._endpoints
        self._closed = threading.Event()
        self.id = self._grant()
        self._renewer = threading.Thread(target=self._renew, name=f"clusterkit-lease-{name}", daemon=True)
        self._renewer.start()

    def __repr__(self) -> str:
        return f"<EtcdLease {self.key} ttl={self.ttl}s id={self.id}>"

    def _grant(self) -> int:
        """A new lease, and the liveness key put with it; returns the lease's id."""
        answer = self._endpoints.post("/lease/grant", {"TTL": self.ttl})
        lease = int(answer["ID"])
        value = json.dumps({"agent": self.name, "ttl": self.ttl, "host": socket.gethostname(), "pid": os.getpid()})
        self._endpoints.post("/kv/put", {"key": _b64(self.key), "value": _b64(value), "lease": str(lease)})
        self.grants += 1
        return lease

    def _renew(self) -> None:
        while not self._closed.wait(self.ttl / 3):
            try:
                answer = self._endpoints.post("/lease/keepalive", {"ID": str(self.id)})
                if int(answer.get("result", {}).get("TTL", 0)) > 0:
                    self.renewals += 1
                else:  # expired or revoked meanwhile: the key is gone, so take a new lease
                    self.id = self._grant()
            except (StoreError, KeyError, ValueError):
                continue  # etcd is away: try again; should the lease expire meanwhile, the next answer says so

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed.is_set()

    def close(self) -> None:
        """Stop renewing and revoke the lease: etcd deletes the liveness key at once."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._renewer.join(timeout=5)
        with contextlib.suppress(StoreError):  # unreachable, or already gone: the key goes with the TTL
            self._endpoints.post("/lease/revoke", {"ID": str(self.id)})
