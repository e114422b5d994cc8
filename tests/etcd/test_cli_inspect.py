"""``clusterkit inspect --etcd``: a cluster's tables read from the real etcd cluster."""

from __future__ import annotations

from collections.abc import Callable

from clusterkit.api import ClusterState
from tests.test_cli import clusterkit


def test_inspect_reads_a_cluster_from_etcd(
    etcd: tuple[str, ...], prefix: str, open_state: Callable[..., ClusterState]
) -> None:
    state = open_state()
    state.register_container_instance("etcd-host", cpu=1024, memory=2048)
    container = {"name": "a", "image": "b", "memory": 128}
    state.register_task_definition({"family": "job", "containerDefinitions": [container]})
    state.run_task("job:1", count=2)
    endpoints = [arg for url in etcd for arg in ("--etcd", url)]
    result = clusterkit("inspect", *endpoints, "--prefix", prefix, "--cluster", "shared")
    assert result.returncode == 0, result.stderr
    assert "etcd-host" in result.stdout and "1792/2048" in result.stdout
    assert result.stdout.count("job:1") == 2
    down = clusterkit("inspect", "--etcd", "http://127.0.0.1:9", "--cluster", "shared")
    assert down.returncode == 1 and "Traceback" not in down.stderr


def test_inspect_of_a_prefix_that_holds_no_cluster_is_a_clear_error(etcd: tuple[str, ...], prefix: str) -> None:
    endpoints = [arg for url in etcd for arg in ("--etcd", url)]
    empty = f"{prefix}-nothing-here"
    result = clusterkit("inspect", *endpoints, "--prefix", empty, "--cluster", "shared")
    assert result.returncode == 2
    assert f"etcd prefix {empty} holds no cluster" in result.stderr and "Traceback" not in result.stderr
