"""Agents' liveness on etcd: leases that hold liveness keys, and monitors that disconnect the dead."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest

from clusterkit import Agent, ClusterState, FakeExecutor
from clusterkit.liveness import LivenessMonitor
from clusterkit.state import EtcdStore
from tests.conftest import eventually
from tests.etcd import _workers
from tests.etcd.test_etcd_store import WEB

TTL = 2


def store_of(state: ClusterState) -> EtcdStore:
    store = state.store
    assert isinstance(store, EtcdStore)
    return store


def revoke(endpoint: str, lease: int) -> None:
    """Revoke a lease behind its holder's back (as an expiry would)."""
    body = json.dumps({"ID": str(lease)}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/v3/lease/revoke", data=body, method="POST"), timeout=5)


def test_a_lease_holds_a_liveness_key_every_process_sees_and_close_removes_it(
    open_state: Callable[..., ClusterState],
) -> None:
    holder, watcher = open_state(), open_state()
    watcher.register_container_instance("i-1", cpu=1024, memory=1024)
    assert eventually(lambda: holder.version >= watcher.version)
    records = watcher.snapshot()
    lease = store_of(holder).keep_alive("i-1", TTL)
    try:
        assert eventually(lambda: "i-1" in store_of(watcher).live_agents())
        assert eventually(lambda: "i-1" in store_of(holder).live_agents())  # its own watch may lag a little
        time.sleep(TTL + 0.5)  # renewed, so still there after the TTL
        assert "i-1" in store_of(watcher).live_agents() and lease.renewals >= 2
    finally:
        lease.close()
    assert eventually(lambda: "i-1" not in store_of(watcher).live_agents(), seconds=1.0)
    # liveness keys are not records: no record changed, nothing was read again
    assert list(watcher.snapshot().instances()) == list(records.instances())
    assert store_of(watcher).resyncs == 0 and store_of(holder).resyncs == 0


def test_a_lease_lost_while_its_holder_lives_is_taken_again(
    etcd: tuple[str, ...], open_state: Callable[..., ClusterState]
) -> None:
    state = open_state()
    lease = store_of(state).keep_alive("i-1", TTL)
    try:
        assert eventually(lambda: "i-1" in store_of(state).live_agents())
        revoke(etcd[0], lease.id)
        assert eventually(lambda: "i-1" not in store_of(state).live_agents())
        assert eventually(lambda: "i-1" in store_of(state).live_agents(), seconds=TTL + 2)
        assert lease.grants == 2
    finally:
        lease.close()


def test_an_agent_that_closes_is_disconnected_and_one_that_steps_again_reconnects(
    open_state: Callable[..., ClusterState],
) -> None:
    scheduler = open_state()
    monitor = LivenessMonitor(scheduler)
    agent = Agent.register(open_state(), FakeExecutor(), instance_id="i-a", liveness_ttl=TTL)
    agent.step()
    assert eventually(lambda: "i-a" in store_of(scheduler).live_agents())
    assert monitor.step() == []
    agent.close()
    assert eventually(lambda: "i-a" not in store_of(scheduler).live_agents(), seconds=1.0)
    assert monitor.step() == ["i-a"]
    assert scheduler.snapshot().instance("i-a").agent_connected is False
    agent.step()  # a new lease, and the heartbeat reconnects the instance
    assert eventually(lambda: scheduler.snapshot().instance("i-a").agent_connected)
    assert monitor.step() == []
    agent.close()


def test_an_instance_no_agent_holds_a_lease_for_is_disconnected_by_a_monitor_on_etcd(
    open_state: Callable[..., ClusterState],
) -> None:
    state = open_state()
    state.register_container_instance("by-hand", cpu=1024, memory=1024)  # fresh heartbeat or not: no lease
    assert LivenessMonitor(state, timeout=3600).step() == ["by-hand"]


@pytest.mark.slow
def test_a_killed_agent_process_is_disconnected_within_its_lease_ttl_and_a_second(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    scheduler, other = open_state(), open_state()  # two scheduler processes' states, each with a monitor
    scheduler.register_task_definition(WEB)
    stop = threading.Event()
    monitors = [
        threading.Thread(target=LivenessMonitor(s).run, args=(stop,), kwargs={"interval": 0.05})
        for s in (scheduler, other)
    ]
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    worker = context.Process(target=_workers.agent_forever, args=(etcd, prefix, "i-agent", TTL, ready))
    worker.start()
    try:
        assert ready.wait(60)
        for monitor in monitors:
            monitor.start()
        assert eventually(
            lambda: "i-agent" in scheduler.snapshot().instances_by_id and "i-agent" in store_of(scheduler).live_agents()
        )
        placed = scheduler.run_task("web", count=2).tasks
        assert {task.container_instance_id for task in placed} == {"i-agent"}
        assert eventually(lambda: all(t.last_status == "RUNNING" for t in scheduler.snapshot().tasks()), seconds=10)
        time.sleep(0.5)
        version = scheduler.snapshot().instance("i-agent").version
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        assert eventually(lambda: not scheduler.snapshot().instance("i-agent").agent_connected, seconds=TTL + 5)
        took = time.monotonic() - killed
        print(f"\nagent SIGKILLed: its instance was marked disconnected {took:.2f}s later (lease TTL {TTL}s)")
        assert took <= TTL + 1
        assert eventually(lambda: other.version >= scheduler.version)
        for state in (scheduler, other):  # both monitors raced for it: one commit, once
            instance = state.snapshot().instance("i-agent")
            assert (instance.agent_connected, instance.version) == (False, version + 1)
        assert scheduler.run_task("web").tasks == ()  # nothing is placed on it any more
    finally:
        stop.set()
        for monitor in monitors:
            if monitor.is_alive():
                monitor.join(timeout=5)
        if worker.is_alive():
            worker.kill()
        worker.join(timeout=10)
