"""Quickstart: an in-memory cluster in three zones, a task definition from ECS JSON, tasks.

Run it with ``python examples/quickstart.py``. It needs nothing but clusterkit.
"""

from __future__ import annotations

import clusterkit

TASK_DEFINITION = """
{
  "family": "web",
  "networkMode": "bridge",
  "containerDefinitions": [
    {
      "name": "app",
      "image": "registry.local/web:1.4",
      "cpu": 256,
      "memory": 512,
      "memoryReservation": 256,
      "essential": true,
      "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
      "healthCheck": {"command": ["CMD-SHELL", "wget -q -O /dev/null localhost:8080"], "interval": 10},
      "logConfiguration": {"logDriver": "json-file"}
    }
  ]
}
"""


def main() -> None:
    state = clusterkit.ClusterState("demo")
    zones = ["zone-a", "zone-b", "zone-c"]
    instances = [
        state.register_container_instance(
            f"i-{index:02d}",
            cpu=2048,
            memory=4096,
            attributes={"ecs.availability-zone": zones[index % 3], "ecs.instance-type": "m5.large"},
        )
        for index in range(6)
    ]
    definition = state.register_task_definition(TASK_DEFINITION)
    print(f"registered {definition.key}: charge per task {definition.charge}")

    started = state.run_task(
        "web",
        count=5,
        started_by="quickstart",
        placement_strategy=[
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "binpack", "field": "memory"},
        ],
    )
    for task in started.tasks:  # play the agent: report each task RUNNING
        state.submit_task_state_change(task.id, version=task.version, status="RUNNING")
    stopped = state.stop_task(started.tasks[0].id, reason="scaling in")
    state.submit_task_state_change(stopped.id, version=stopped.version, status="STOPPED")

    page = state.list_tasks(family="web")
    described = state.describe_tasks([*page, "no-such-task"])  # a Page iterates over its ARNs
    print(f"\n{'task':<34} {'instance':<8} {'zone':<7} {'status':<8} {'host port':>9}")
    for task in described.items:
        zone = state.snapshot().instance(task.container_instance_id).attribute("ecs.availability-zone")
        port = task.host_ports[0].host_port if task.host_ports else "-"
        print(f"{task.id:<34} {task.container_instance_id:<8} {zone:<7} {task.last_status:<8} {port:>9}")
    for failure in described.failures:
        print(f"failure: {failure.arn} {failure.reason}")

    print(f"\n{'instance':<8} {'zone':<7} {'running':>7} {'cpu left':>8} {'mem left':>8}")
    for instance in state.describe_container_instances([i.id for i in instances]).items:
        zone = instance.attribute("ecs.availability-zone") or "-"
        remaining = instance.remaining
        print(f"{instance.id:<8} {zone:<7} {instance.running_tasks_count:>7} {remaining.cpu:>8} {remaining.memory:>8}")
    stopped_page = state.list_tasks(desired_status="STOPPED")
    print(f"\n{len(page)} running, {len(stopped_page)} stopped; cluster version {state.version}")


if __name__ == "__main__":
    main()
