"""``clusterkit serve --etcd``: clusters, task definitions and services outlive the server.

The fake hosts do not: a restarted server runs new ones, and the old instances stay
registered with their tasks (no liveness monitor retires them), so this checks the data.
"""

from __future__ import annotations

from tests.test_server import WEB, client, serve_command

FAST = {"Delay": 0.1, "MaxAttempts": 200}


def test_a_served_cluster_on_etcd_comes_back_after_a_restart(etcd: tuple[str, ...], prefix: str) -> None:
    options = ("--etcd", etcd[0], "--etcd", etcd[1], "--prefix", prefix, "--interval", "0.05", "--healthy-after", "0.2")
    with serve_command(*options) as url:
        ecs = client(url, region="us-east-1")
        ecs.register_task_definition(**WEB)
        ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2)
        ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
        ecs.create_cluster(clusterName="second")
    with serve_command(*options, "--cluster", "default", "--cluster", "second") as url:
        ecs = client(url, region="us-east-1")
        (service,) = ecs.describe_services(services=["web"])["services"]
        assert (service["status"], service["desiredCount"]) == ("ACTIVE", 2)
        assert ecs.list_task_definitions()["taskDefinitionArns"] == [
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"
        ]
        registered = ecs.register_task_definition(**WEB)["taskDefinition"]
        assert registered["revision"] == 2  # the registry's revisions go on
        (task,) = ecs.run_task(cluster="second", taskDefinition="web:2")["tasks"]
        assert task["taskDefinitionArn"].endswith("task-definition/web:2")
        updated = ecs.update_service(service="web", taskDefinition="web:2")["service"]
        assert updated["taskDefinition"].endswith("task-definition/web:2")
