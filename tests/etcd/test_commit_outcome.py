"""Commits whose answer was lost: commit markers, CommitOutcomeUnknown, resolve, client tokens
on etcd; and a watch that outlives a member's restart.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clusterkit import ClusterState, CommitOutcomeUnknown, StoreError, SubscriptionOverflow
from clusterkit.state import EtcdStore, ResolvingStore
from clusterkit.testing import check_state
from tests.conftest import etcd_available, eventually
from tests.etcd._http import EtcdProxy, proxy_to
from tests.etcd.conftest import member

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 256}]}


def seeded(state: ClusterState) -> ClusterState:
    for n in range(3):
        state.register_container_instance(f"i-{n}", cpu=4096, memory=4096)
    state.register_task_definition(WEB)
    return state


@contextlib.contextmanager
def through_proxy(etcd: tuple[str, ...], prefix: str, *more: str) -> Iterator[tuple[EtcdProxy, ClusterState]]:
    """A seeded state whose store talks to etcd through an ``EtcdProxy`` (then to ``more``), 0.5 s a request."""
    with proxy_to(etcd[0]) as proxy:
        store = EtcdStore([proxy.url, *more], prefix=prefix, timeout=0.5)
        try:
            yield proxy, seeded(ClusterState("proxied", store=store))
        finally:
            store.close()


def _post(endpoint: str, path: str, body: dict[str, object]) -> dict[str, Any]:
    """etcd's answer to one JSON gateway call, made directly."""
    request = urllib.request.Request(f"{endpoint}/v3/{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        document: dict[str, Any] = json.loads(answer.read())
    return document


def _kvs(endpoint: str, prefix: str) -> list[dict[str, Any]]:
    """The keys etcd holds under ``prefix`` (without values), read directly."""
    raw = prefix.encode()
    body = {
        "key": base64.b64encode(raw).decode(),
        "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode(),
        "keys_only": True,
    }
    kvs: list[dict[str, Any]] = _post(endpoint, "kv/range", body).get("kvs", [])
    return kvs


def _keys(endpoint: str, prefix: str) -> list[str]:
    """The keys etcd holds under ``prefix``."""
    return [base64.b64decode(kv["key"]).decode() for kv in _kvs(endpoint, prefix)]


def test_every_commit_writes_its_marker_in_its_transaction(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    state = seeded(open_state())
    store = state.store
    assert isinstance(store, EtcdStore) and isinstance(store, ResolvingStore)
    assert len(_keys(etcd[0], f"{prefix}/commits/")) == store.transactions == 4
    fresh = open_state()  # markers are no records: a fresh replica reads the same state
    assert sorted(map(repr, fresh.snapshot().instances())) == sorted(map(repr, state.snapshot().instances()))


def test_a_commit_etcd_wrote_without_answering_is_resolved_as_written_and_its_token_replays(
    etcd: tuple[str, ...], prefix: str
) -> None:
    with through_proxy(etcd, prefix) as (proxy, state):
        store = state.store
        assert isinstance(store, EtcdStore)
        proxy.mode = "swallow"  # etcd writes it; the answer never comes back
        with pytest.raises(CommitOutcomeUnknown) as caught:
            state.run_task("web", count=3, client_token="retry-me")
        assert isinstance(caught.value, StoreError) and "timed out after 0.5s" in str(caught.value)
        proxy.mode = "pass"
        version = state.resolve(caught.value.commit_id)
        assert version is not None and state.version >= version
        assert state.snapshot().task_count == 3  # written, once
        record = state.snapshot().client_token("retry-me")
        assert record is not None and len(record.tasks) == 3
        transactions = store.transactions
        again = state.run_task("web", count=3, client_token="retry-me")
        assert sorted(t.id for t in again.tasks) == sorted(record.tasks)
        assert store.transactions == transactions and state.snapshot().task_count == 3  # a no-op
        assert state.resolve(caught.value.commit_id) == version  # the answer stays


def test_a_commit_not_yet_written_is_resolved_as_never_and_cannot_land_later(
    etcd: tuple[str, ...], prefix: str
) -> None:
    with through_proxy(etcd, prefix) as (proxy, state):
        proxy.mode = "hold"  # the transaction waits in the network, unanswered
        with pytest.raises(CommitOutcomeUnknown) as caught:
            state.run_task("web", count=2, client_token="held")
        proxy.mode = "pass"
        assert state.resolve(caught.value.commit_id) is None  # not written, and now never
        proxy.release()  # the held transaction reaches etcd after all
        assert eventually(lambda: len(proxy.late) == 1)
        late = json.loads(proxy.late[0])
        assert "header" in late and not late.get("succeeded")  # refused: its marker was fenced
        assert state.snapshot().task_count == 0 and state.snapshot().client_token("held") is None
        placed = state.run_task("web", count=2, client_token="held")  # the caller's retry places now
        again = state.run_task("web", count=2, client_token="held")  # and only once
        assert len(placed.tasks) == 2 and [t.id for t in again.tasks] == [t.id for t in placed.tasks]
        assert state.snapshot().task_count == 2
        fresh = EtcdStore(etcd, prefix=prefix)
        try:
            read = ClusterState("fresh", store=fresh).snapshot()
            assert {t.id for t in read.tasks()} == {t.id for t in state.snapshot().tasks()}
        finally:
            fresh.close()


def test_a_member_that_wrote_without_answering_is_resolved_by_the_next_one(etcd: tuple[str, ...], prefix: str) -> None:
    # the first endpoint forwards the transaction and never answers: the store sends it to
    # the next member, which refuses it (its marker exists) — so it was written, once
    with through_proxy(etcd, prefix, *etcd) as (proxy, state):
        store = state.store
        assert isinstance(store, EtcdStore)
        proxy.mode = "swallow"
        placed = state.run_task("web", count=4)
        assert len(placed.tasks) == 4 and state.snapshot().task_count == 4
        assert store.refused == 0
        assert check_state(state.snapshot()) == []


def test_a_token_claimed_by_another_process_is_honoured_through_etcd(open_state: Callable[..., ClusterState]) -> None:
    a, b = seeded(open_state()), open_state()
    assert eventually(lambda: b.version >= a.version)
    held = b.store
    assert isinstance(held, EtcdStore)
    held.hold()  # b does not see a's claim: only etcd's compare of the token's key stops it
    first = a.run_task("web", count=2, client_token="shared")
    threading.Timer(0.3, held.release).start()
    second = b.run_task("web", count=2, client_token="shared")
    assert sorted(t.id for t in second.tasks) == sorted(t.id for t in first.tasks)
    assert eventually(lambda: b.version >= a.version)
    assert b.snapshot().task_count == 2 and a.snapshot().task_count == 2
    with pytest.raises(__import__("clusterkit").ValidationError, match="clientToken"):
        b.run_task("web", count=3, client_token="shared")


def test_markers_and_tokens_go_with_their_lease(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    state = seeded(open_state(marker_ttl=2, token_ttl=2))
    watching = state.subscribe()
    state.run_task("web", count=1, client_token="brief")
    assert _keys(etcd[0], f"{prefix}/commits/") and _keys(etcd[0], f"{prefix}/tokens/")
    assert eventually(lambda: not _keys(etcd[0], f"{prefix}/commits/"), seconds=15)
    assert eventually(lambda: state.snapshot().client_token("brief") is None)  # the watch saw it go
    store = state.store
    assert isinstance(store, EtcdStore) and store.resyncs == 0
    watching.drain()  # no resync was asked for
    state.run_task("web", count=1, client_token="brief")  # expired with its key: a new call
    assert state.snapshot().task_count == 2


def test_a_markers_lease_lost_behind_the_stores_back_is_taken_again(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    state = seeded(open_state())
    state.run_task("web", count=1, client_token="before-revoke")
    leases = {kv["lease"] for kv in _kvs(etcd[0], f"{prefix}/commits/") + _kvs(etcd[0], f"{prefix}/tokens/")}
    assert len(leases) == 2  # the markers' and the tokens'
    for lease in leases:
        _post(etcd[0], "lease/revoke", {"ID": lease})  # their keys go with them
    assert _keys(etcd[0], f"{prefix}/commits/") == [] == _keys(etcd[0], f"{prefix}/tokens/")
    placed = state.run_task("web", count=2, client_token="after-revoke")  # a token's key rides the lease too
    assert len(placed.tasks) == 2
    record = state.snapshot().client_token("after-revoke")
    assert record is not None and sorted(record.tasks) == sorted(t.id for t in placed.tasks)
    assert len(_keys(etcd[0], f"{prefix}/commits/")) == 1 and len(_keys(etcd[0], f"{prefix}/tokens/")) == 1


def test_a_resync_after_compaction_names_the_compaction(open_state: Callable[..., ClusterState]) -> None:
    writer, slow = seeded(open_state()), open_state()
    assert eventually(lambda: slow.version >= writer.version)
    watching = slow.subscribe(capacity=1_000_000)
    held = slow.store
    assert isinstance(held, EtcdStore)
    held.hold()
    for _ in range(3):
        writer.run_task("web", count=1)
    compacting = writer.store
    assert isinstance(compacting, EtcdStore)
    compacting.compact()
    held.release()
    assert eventually(lambda: held.resyncs >= 1)
    with pytest.raises(SubscriptionOverflow) as caught:
        watching.get(timeout=5)
    assert "compacted its history" in str(caught.value) and "capacity" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.etcd_alone  # it stops a member: no other copy of the suite may use etcd meanwhile
def test_a_watch_resumes_from_its_revision_when_its_member_restarts(
    etcd: tuple[str, ...], open_state: Callable[..., ClusterState]
) -> None:
    reader = open_state(etcd)  # its watch is on the first member
    writer = seeded(open_state(etcd[1:]))
    store = reader.store
    assert isinstance(store, EtcdStore)
    assert eventually(lambda: reader.version >= writer.version)
    watching = reader.subscribe()
    try:
        member("stop", 1)
        for _ in range(3):
            writer.run_task("web", count=1)
        member("start", 1)
        writer.run_task("web", count=1)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            member("start", 1)
    assert eventually(lambda: reader.version >= writer.version, seconds=20)
    events = watching.drain()  # every event, and no resync
    assert len({e.task.id for e in events if hasattr(e, "task")}) == 4
    assert store.resyncs == 0
    assert check_state(reader.snapshot()) == []


@pytest.mark.slow
@pytest.mark.etcd_alone  # it stops two members: no other copy of the suite may use etcd meanwhile
def test_a_commit_cut_off_by_lost_quorum_is_resolved_after_the_restart_and_its_retry_places_once(
    open_state: Callable[..., ClusterState],
) -> None:
    state = seeded(open_state(timeout=2.0))
    state.run_task("web", count=1, client_token="earlier")  # the store holds its leases already
    error: StoreError | None = None
    try:
        member("stop", 1)
        member("stop", 2)
        with pytest.raises(StoreError) as caught:  # the survivor may take it into its log: unknown
            state.run_task("web", count=3, client_token="quorum")
        error = caught.value
    finally:  # both, even if starting one fails: a member left down breaks every later etcd test
        for number in (1, 2):
            with contextlib.suppress(subprocess.CalledProcessError):
                member("start", number)
    assert etcd_available(), "the members stopped by this test did not come back"
    assert isinstance(error, CommitOutcomeUnknown), str(error)
    said = str(error)  # each endpoint and why: the stopped ones refused, the survivor left it unknown
    assert "refused the connection" in said, said
    assert any(word in said for word in ("no quorum", "timed out", "etcd failed", "connection failed")), said
    unknown: CommitOutcomeUnknown = error

    def resolved() -> int | bool | None:
        try:
            return state.resolve(unknown.commit_id)
        except CommitOutcomeUnknown:
            return False

    assert eventually(lambda: resolved() is not False, seconds=30)
    outcome = resolved()  # asked again: the same answer
    written = state.snapshot().task_count
    assert written == (4 if outcome is not None else 1)
    first = state.run_task("web", count=3, client_token="quorum")
    again = state.run_task("web", count=3, client_token="quorum")
    assert sorted(t.id for t in again.tasks) == sorted(t.id for t in first.tasks)
    assert state.snapshot().task_count == 4  # placed once, whatever happened to the first attempt
    fresh = open_state()
    assert fresh.snapshot().task_count == 4 and check_state(fresh.snapshot()) == []
