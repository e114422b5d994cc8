"""FakeCluster and FakeExecutor: the failures a test injects hold on every host, now and later."""

from __future__ import annotations

from collections.abc import Callable

from clusterkit.state import MemoryStore, Pending, Roots
from clusterkit.testing import FakeCluster

WEB = {"family": "web", "containerDefinitions": [{"name": "web", "image": "web:1", "cpu": 256, "memory": 512}]}


def test_an_image_that_fails_to_pull_fails_on_hosts_added_later_too() -> None:
    cluster = FakeCluster(instances=1)
    cluster.fail_pull("web:1")
    added = cluster.add_instance()
    cluster.state.register_task_definition(WEB)
    task = cluster.state.start_task("web", [added]).tasks[0]
    cluster.tick()
    stopped = cluster.state.snapshot().task(task.id)
    assert stopped.last_status == "STOPPED" and stopped.stop_code == "TaskFailedToStart"
    assert "CannotPullContainerError" in (stopped.stopped_reason or "")
    cluster.close()


def test_a_container_that_exits_on_start_never_reaches_running() -> None:
    cluster = FakeCluster(instances=1)
    cluster.exit_on_start("web:1")
    added = cluster.add_instance()
    cluster.state.register_task_definition(WEB)
    tasks = cluster.state.start_task("web", sorted(cluster.agents)).tasks
    cluster.tick()
    for task in tasks:
        stopped = cluster.state.snapshot().task(task.id)
        assert stopped.last_status == "STOPPED" and stopped.started_at is None
        assert stopped.stop_code == "EssentialContainerExited"
        assert stopped.stopped_reason == "Essential container in task exited: web (exit code 1)"
    assert added in {task.container_instance_id for task in tasks}
    cluster.close()


def test_a_store_given_to_the_cluster_sees_every_commit() -> None:
    class Counting(MemoryStore):
        swaps = 0

        def swap(self, base: Roots, pending: Pending, build: Callable[[], Roots]) -> Roots | None:
            Counting.swaps += 1
            return super().swap(base, pending, build)

    store = Counting()
    cluster = FakeCluster(instances=2, store=store)
    assert cluster.state.version == Counting.swaps == 2
    cluster.close()


def test_a_host_added_after_one_was_removed_gets_a_new_id() -> None:
    cluster = FakeCluster(instances=2)
    cluster.state.register_task_definition(WEB)
    task = cluster.state.start_task("web", ["i-0001"]).tasks[0]
    cluster.tick()
    cluster.remove("i-0000")
    added = cluster.add_instance()
    assert added == "i-0002"
    cluster.set_health(task.id, "HEALTHY")  # i-0001's executor still holds its task
    assert cluster.executor_of(task.id).inspect(task.id).last_status == "RUNNING"
    assert len(cluster.state.snapshot().instance("i-0002").attributes) > 0
    cluster.close()
