"""What the etcd benchmarks share: the endpoints, a check that etcd answers, and prefixes of their own.

The endpoints are ``CLUSTERKIT_ETCD_ENDPOINTS`` (comma-separated) or the 3-member cluster
``scripts/services.sh start`` runs on loopback. Each benchmark writes under prefixes of
its own (``/clusterkit-bench/...``) and deletes them when it is done.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any, Final

import clusterkit
from clusterkit.state import EtcdStore

__all__ = ["ENDPOINTS", "defragment", "delete_prefix", "etcd_post", "fresh_prefix", "open_state", "require_etcd"]

ENDPOINTS: Final = tuple(
    os.environ.get(
        "CLUSTERKIT_ETCD_ENDPOINTS", "http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379"
    ).split(",")
)


def etcd_post(path: str, body: dict[str, Any], endpoints: Sequence[str] = ENDPOINTS) -> dict[str, Any]:
    """POST to etcd's JSON gateway (``/v3`` + ``path``) at the first member that answers."""
    problems = []
    for endpoint in endpoints:
        request = urllib.request.Request(f"{endpoint}/v3{path}", data=json.dumps(body).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                result: dict[str, Any] = json.loads(answer.read())
                return result
        except OSError as error:
            problems.append(f"{endpoint}: {error}")
    raise OSError("; ".join(problems))


def require_etcd(name: str, endpoints: Sequence[str] = ENDPOINTS) -> None:
    """Exit with a clear message (status 2) unless some member of ``endpoints`` is healthy."""
    for endpoint in endpoints:
        try:
            with urllib.request.urlopen(f"{endpoint}/health", timeout=2) as answer:
                if b'"health":"true"' in answer.read():
                    return
        except OSError:
            continue
    print(
        f"{name}: no healthy etcd member at {', '.join(endpoints)}; this benchmark needs an etcd cluster "
        "(bash scripts/services.sh start, or set CLUSTERKIT_ETCD_ENDPOINTS)",
        file=sys.stderr,
    )
    raise SystemExit(2)


def fresh_prefix(label: str) -> str:
    """A key prefix no one else uses."""
    return f"/clusterkit-bench/{label}-{uuid.uuid4().hex[:12]}"


def open_state(prefix: str, endpoints: Sequence[str] = ENDPOINTS, **options: Any) -> clusterkit.ClusterState:
    """A ClusterState on its own EtcdStore under ``prefix`` (close it with ``state.store.close()``)."""
    return clusterkit.ClusterState("bench", store=EtcdStore(endpoints, prefix=prefix, **options))


def delete_prefix(prefix: str, endpoints: Sequence[str] = ENDPOINTS, *, compact: bool = False) -> None:
    """Delete every key under ``prefix``; with ``compact``, compact etcd's history up to now too,
    so the space the benchmark's revisions took is reused rather than kept.
    """
    raw = (prefix.rstrip("/") + "/").encode()
    body = {
        "key": base64.b64encode(raw).decode(),
        "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode(),
    }
    answer = etcd_post("/kv/deleterange", body, endpoints)
    if compact:
        revision = int(answer["header"]["revision"])
        etcd_post("/kv/compaction", {"revision": str(revision), "physical": True}, endpoints)


def defragment(endpoints: Sequence[str] = ENDPOINTS) -> list[str]:
    """Defragment each member in turn, returning ``"URL: before → after MiB"`` lines.

    etcd's space quota (2 GiB by default) counts its database file, which compaction does
    not shrink: only defragmentation gives the space back. A member serves nothing while
    it defragments (about a second per GiB here); one at a time, the others keep quorum.
    """
    report = []
    for endpoint in endpoints:
        before = int(etcd_post("/maintenance/status", {}, [endpoint])["dbSize"]) >> 20
        etcd_post("/maintenance/defragment", {}, [endpoint])
        after = int(etcd_post("/maintenance/status", {}, [endpoint])["dbSize"]) >> 20
        report.append(f"{endpoint}: {before:,} → {after:,} MiB")
    return report
