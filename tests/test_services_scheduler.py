"""The ServiceScheduler loop: regressions found by the service state machine, each with its scenario."""

from __future__ import annotations

from clusterkit.testing import FakeCluster


def web(image: str, cpu: int = 256) -> dict[str, object]:
    return {"family": "web", "containerDefinitions": [{"name": "web", "image": image, "cpu": cpu, "memory": 512}]}


def test_two_launches_of_one_decision_do_not_count_on_the_same_room() -> None:
    """A rolling deployment's older deployment replaces its crashed task while the new one
    still launches: both launches were planned on the same snapshot, took the one free
    slot twice, and the atomic commit was refused eight times over — nothing moved again.
    """
    cluster = FakeCluster(instances=1, cpus=1, memory=4096)  # room for four tasks of 256 CPU units
    state = cluster.state
    state.register_task_definition(web("web:1"))
    state.register_task_definition(web("web:2"))
    state.start_task("web:1", ["i-0000"])  # a standalone task: three slots left
    state.create_service("web", "web:1", desired_count=2)
    cluster.run(60)
    state.update_service("web", task_definition="web:2")
    cluster.run(3)  # one task of web:2 started, the other has no room
    old = [task for task in cluster.service_tasks("web") if task.task_definition == "web:1"]
    cluster.crash(old[0])
    outcomes = cluster.run(5)
    assert all(outcome.conflicts == 0 for outcome in outcomes), outcomes
    assert sum(len(outcome.started) for outcome in outcomes) == 1  # the one free slot, taken once
    cluster.close()
