"""FakeCluster and FakeExecutor: the failures a test injects hold on every host, now and later."""

from __future__ import annotations

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
