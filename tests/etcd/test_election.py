"""EtcdElection on the real etcd cluster: one leader at a time, hand-over on resign, and a
leader cut off from etcd that stops acting before its lease ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from clusterkit.errors import StoreError
from clusterkit.state import EtcdElection
from tests.conftest import delete_prefix, eventually

TTL = 3


@pytest.fixture
def election_prefix(prefix: str) -> Iterator[str]:
    name = prefix + ".election/test/"
    yield name
    delete_prefix(name)


class Candidates:
    """Candidates campaigning from threads, and a sampler that checks two never lead at once."""

    def __init__(self, endpoints: tuple[str, ...], prefix: str) -> None:
        self.endpoints = endpoints
        self.prefix = prefix
        self.running: list[tuple[EtcdElection, threading.Event, threading.Thread]] = []
        self.overlaps = 0
        self.samples = 0
        self.first_led: dict[str, float] = {}
        self.last_led: dict[str, float] = {}
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def start(self, identity: str) -> EtcdElection:
        election = EtcdElection(self.endpoints, self.prefix, ttl=TTL, identity=identity)
        stop = threading.Event()
        thread = threading.Thread(target=election.run, args=(stop,), daemon=True)
        thread.start()
        self.running.append((election, stop, thread))
        return election

    def stop(self, election: EtcdElection) -> None:
        for held, stop, thread in self.running:
            if held is election:
                stop.set()
                thread.join(timeout=10)

    def leaders(self) -> list[str]:
        return [election.identity for election, _, _ in self.running if election.leading()]

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            now = time.monotonic()
            leading = self.leaders()
            self.samples += 1
            self.overlaps += len(leading) > 1
            for identity in leading:
                self.first_led.setdefault(identity, now)
                self.last_led[identity] = now

    def close(self) -> None:
        self._done.set()
        self._sampler.join(timeout=5)
        for _, stop, _ in self.running:
            stop.set()
        for _, _, thread in self.running:
            thread.join(timeout=10)


@pytest.fixture
def candidates(etcd: tuple[str, ...], election_prefix: str) -> Iterator[Candidates]:
    held = Candidates(etcd, election_prefix)
    yield held
    held.close()


def test_the_first_candidate_leads_alone_and_resigning_hands_over_at_once(candidates: Candidates) -> None:
    a = candidates.start("a")
    assert eventually(a.leading, seconds=5)
    b = candidates.start("b")
    assert eventually(lambda: b.key is not None, seconds=5)  # b has campaigned (its key is in) ...
    c = candidates.start("c")  # ... before c does: b is next in line
    time.sleep(TTL + 0.5)  # renewed meanwhile: still a, and only a
    assert candidates.leaders() == ["a"] and a.leader() == "a" and a.terms == 1
    resigned = time.monotonic()
    candidates.stop(a)
    assert not a.leading()
    assert eventually(lambda: b.leading() or c.leading(), seconds=1.0)
    assert time.monotonic() - resigned < 1.0  # at once, not after the TTL
    assert candidates.leaders() == ["b"]  # the next in line: b campaigned before c
    assert b.leader() == "b"
    assert candidates.overlaps == 0 and candidates.samples > 100


def test_a_leader_cut_off_from_etcd_stops_acting_before_its_lease_ends_then_the_next_leads(
    candidates: Candidates,
) -> None:
    a = candidates.start("a")
    assert eventually(a.leading, seconds=5)
    b = candidates.start("b")
    time.sleep(1.0)

    def partitioned(path: str, body: dict[str, object]) -> dict[str, object]:
        raise StoreError(f"partitioned: {path}")

    cut = time.monotonic()
    a._endpoints.post = partitioned  # type: ignore[method-assign]  # etcd hears nothing from a any more
    deadline = a.deadline()
    assert deadline <= cut + TTL  # measured from before the last renewal was sent
    assert eventually(b.leading, seconds=TTL + 1.0), "the standby did not lead within TTL + 1 s"
    assert eventually(lambda: "b" in candidates.first_led, seconds=5)  # the sampler's thread may lag under load
    took_over = candidates.first_led["b"]
    assert took_over - cut <= TTL + 1.0
    # A renewal sent before the cut may still land after it and move the deadline on (to at most
    # cut + TTL, since it was sent before the cut): a stopped acting a margin before that bound.
    assert candidates.last_led["a"] < cut + TTL - a.margin + 0.05  # stopped acting before its lease ended ...
    assert candidates.last_led["a"] < took_over  # ... and before the standby began
    assert candidates.overlaps == 0
    assert not a.leading() and a.errors > 0


def test_bad_settings_are_refused_by_name(etcd: tuple[str, ...]) -> None:
    with pytest.raises(StoreError, match="ttl=0"):
        EtcdElection(etcd, "/x/", ttl=0)
    with pytest.raises(StoreError, match="prefix='x'"):
        EtcdElection(etcd, "x")
    with pytest.raises(StoreError, match="endpoints"):
        EtcdElection((), "/x/")
