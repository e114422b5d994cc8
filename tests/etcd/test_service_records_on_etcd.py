"""A service's spec and status are two etcd keys: a user's write and the scheduler's never conflict."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable

from clusterkit import ClusterState
from clusterkit.services import ServiceScheduler
from clusterkit.state import EtcdStore, PutServiceStatus
from tests.conftest import ETCD_ENDPOINTS, eventually

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "cpu": 128, "memory": 128}]}


def test_a_spec_write_and_a_status_write_on_one_service_do_not_conflict(
    open_state: Callable[..., ClusterState], prefix: str
) -> None:
    user, scheduler = open_state(), open_state()
    user.register_container_instance("i-1", cpu=4096, memory=4096)
    user.register_task_definition(WEB)
    user.create_service("web", "web", desired_count=1)
    assert eventually(lambda: scheduler.version >= user.version)
    decided_from = scheduler.snapshot()  # the scheduler reads, decides ...
    status = decided_from.observed_status("web")
    user.update_service("web", desired_count=3)  # ... a user writes the spec meanwhile ...
    assert eventually(lambda: scheduler.version >= user.version)
    store = scheduler.store
    assert isinstance(store, EtcdStore)
    refused = store.refused
    result = scheduler.commit([PutServiceStatus(status, decided_from.service_status("web").version)], atomic=True)
    assert result.ok  # ... and the scheduler's status commit, made from the older snapshot, goes through
    assert store.refused == refused  # etcd compared only the status key: no transaction refused
    assert eventually(lambda: user.version >= scheduler.version)
    for state in (user, scheduler):
        snapshot = state.snapshot()
        assert snapshot.service_spec("web").desired_count == 3  # the user's write is not lost
        assert snapshot.service_status("web").observed_generation == 1
        assert snapshot.service("web").deployments[0].desired_count == 3  # readers see it observed
    keys = _keys(prefix)
    assert f"{prefix}/services/web" in keys and f"{prefix}/service-status/web" in keys
    spec_doc = json.loads(keys[f"{prefix}/services/web"])
    assert "deployments" not in spec_doc["service"] and spec_doc["spec"]["generation"] == 2
    assert "deployments" in json.loads(keys[f"{prefix}/service-status/web"])


def test_a_service_scheduler_and_a_user_on_two_replicas_never_retry(open_state: Callable[..., ClusterState]) -> None:
    user, other = open_state(), open_state()
    user.register_container_instance("i-1", cpu=4096, memory=4096)
    user.register_task_definition(WEB)
    user.create_service("web", "web", desired_count=1)
    assert eventually(lambda: other.version >= user.version)
    scheduler = ServiceScheduler(other)
    for count in range(2, 6):
        scheduler.reconcile_service("web")
        snapshot = user.snapshot()
        spec = snapshot.service_spec("web")
        done = user.update_service("web", desired_count=count, expected_version=spec.version)  # a CAS: no retry
        assert done.desired_count == count
        assert eventually(lambda: other.version >= user.version)
    assert other.snapshot().service_spec("web").desired_count == 5


def _keys(prefix: str) -> dict[str, str]:
    """The two service keys under ``prefix`` and their values, read straight from etcd's JSON gateway."""
    found: dict[str, str] = {}
    for key in ("services/web", "service-status/web"):
        body = json.dumps({"key": _b64(f"{prefix}/{key}")}).encode()
        request = urllib.request.Request(f"{ETCD_ENDPOINTS[0]}/v3/kv/range", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            for kv in json.loads(answer.read()).get("kvs", []):
                found[f"{prefix}/{key}"] = base64.b64decode(kv["value"]).decode()
    return found


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
