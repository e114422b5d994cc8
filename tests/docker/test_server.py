"""``clusterkit serve --executor docker``: a service of busybox httpd tasks, created and scaled
over the ECS API with boto3, reaches steady state on the real engine and answers.
"""

from __future__ import annotations

import docker

from tests.conftest import loopback
from tests.docker.conftest import container_definition, fetch
from tests.test_server import client, serve_command

HTTPD = ['echo "hello from $HOSTNAME" > /www/index.html && exec httpd -f -p 80 -h /www']


def test_a_served_service_of_httpd_tasks_reaches_steady_state_and_answers(
    cluster: str, engine1: docker.APIClient
) -> None:
    options = ("--executor", "docker", "--cluster", cluster, "--host-ip", loopback(44))
    with serve_command(*options, "--interval", "0.2", "--healthy-after", "1") as url:
        ecs = client(url, region="us-east-1")
        httpd = container_definition(
            "httpd", entryPoint=["sh", "-c"], command=HTTPD, portMappings=[{"containerPort": 80}]
        )
        ecs.register_task_definition(family=cluster, containerDefinitions=[httpd])
        ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=cluster, desiredCount=2)
        stable = {"Delay": 0.5, "MaxAttempts": 120}
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=["web"], WaiterConfig=stable)
        arns = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
        assert [task["lastStatus"] for task in tasks] == ["RUNNING", "RUNNING"]
        ports = [b["hostPort"] for task in tasks for c in task["containers"] for b in c["networkBindings"]]
        assert len(ports) == 2
        assert all(fetch(loopback(44), port).startswith("hello from ") for port in ports)

        ecs.update_service(cluster=cluster, service="web", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="web")
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["web"], WaiterConfig=stable)
        ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=arns, WaiterConfig=stable)
