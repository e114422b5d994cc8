"""A real 3-member etcd cluster, as ``scripts/services.sh start`` leaves it on loopback.

Without it these tests skip on a laptop and fail under CI=true. Each test gets key
prefixes of its own, deleted afterwards.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clusterkit import ClusterState
from clusterkit.state import EtcdStore
from tests.conftest import ETCD_ENDPOINTS, claimed_etcd, delete_prefix, etcd_available, require_service

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``etcd`` (select or deselect them with ``-m``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.etcd)


@pytest.fixture
def etcd(request: pytest.FixtureRequest) -> Iterator[tuple[str, ...]]:
    """The endpoints of the running etcd cluster, held for the test (``claimed_etcd``): shared
    with other copies of the suite, or alone for a test marked ``etcd_alone``.
    """
    with claimed_etcd(alone=request.node.get_closest_marker("etcd_alone") is not None):
        # checked once held: a copy holding etcd alone may have members stopped until it lets go
        require_service(etcd_available(), "the etcd cluster (scripts/services.sh start)")
        yield ETCD_ENDPOINTS


@pytest.fixture
def prefix(etcd: tuple[str, ...]) -> Iterator[str]:
    """A key prefix of the test's own, deleted afterwards."""
    name = f"/clusterkit-tests/{uuid.uuid4().hex}"
    yield name
    delete_prefix(name + "/")


@pytest.fixture
def open_state(etcd: tuple[str, ...], prefix: str) -> Iterator[Callable[..., ClusterState]]:
    """Open ClusterStates on the test's prefix (each its own store and replica); closed afterwards."""
    stores: list[EtcdStore] = []

    def opened(endpoints: tuple[str, ...] = etcd, **options: object) -> ClusterState:
        store = EtcdStore(endpoints, prefix=prefix, **options)  # type: ignore[arg-type]
        stores.append(store)
        return ClusterState("shared", store=store)

    yield opened
    for store in stores:
        store.close()


def member(action: str, number: int) -> None:
    """Stop or start one etcd member through scripts/services.sh."""
    subprocess.run(["bash", str(SERVICES), f"etcd-{action}", str(number)], check=True, capture_output=True)
