"""clusterkit.server driven by real clients: boto3 (and botocore's paginators, waiters and
exception classes) against a server on a loopback port of this copy of the suite.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from clusterkit.errors import ValidationError
from clusterkit.executor import FakeExecutor, HostInfo
from clusterkit.server import (
    OPERATIONS,
    Clusters,
    Credential,
    EcsApplication,
    cluster_loops,
    load_credentials,
    serve_threaded,
)
from clusterkit.server._app import MAX_BODY  # the limit itself, to claim one byte more
from clusterkit.server._operations import Operation  # the registry's entry type, to plant a failing handler
from clusterkit.services import ReconcileSettings
from clusterkit.state import MemoryStore
from tests.conftest import eventually, loopback, require_service
from tests.serve_scheduler import PackingScheduler

REGION, ACCOUNT = "eu-west-3", "123456789012"
PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
QUICK = ReconcileSettings(healthy_after=0.2)
"""Tasks without a health check count healthy after 0.2 s (ECS: 40 s), so deployments finish quickly."""
FAST = {"Delay": 0.1, "MaxAttempts": 100}
WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1", "memory": 64}]}


def client(
    url: str,
    *,
    region: str = REGION,
    key: str = "test",
    secret: str = "test",
    token: str | None = None,
    retries: int = 1,
) -> Any:
    """A boto3 ECS client for the server at ``url``, making ``retries`` attempts a call."""
    return boto3.client(
        "ecs",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": retries, "mode": "standard"}),
    )


class Served:
    """A running server: its clusters, its address, and boto3 clients for it."""

    def __init__(self, clusters: Clusters, host: str, credentials: dict[str, Credential] | None = None) -> None:
        self.clusters = clusters
        self.host = host
        self.server = serve_threaded(EcsApplication(clusters, credentials=credentials), host, 0)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self, retries: int = 1) -> Any:
        return client(self.url, retries=retries)

    def raw(self, body: bytes, target: str | None, method: str = "POST") -> tuple[int, dict[str, str], Any]:
        """One request by hand: status, headers (lower-case names), decoded JSON body."""
        connection = http.client.HTTPConnection(self.host, self.server.server_port, timeout=10)
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            headers["X-Amz-Target"] = target
        connection.request(method, "/", body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, json.loads(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.clusters.close()


def _fake_hosts(cluster: str) -> list[FakeExecutor]:
    return [FakeExecutor(host=HostInfo(cpus=4, memory_mib=8192)) for _ in range(2)]


@pytest.fixture
def served() -> Iterator[Served]:
    hook = cluster_loops(_fake_hosts, settings=QUICK, interval=0.05)
    running = Served(Clusters(region=REGION, account=ACCOUNT, on_create=hook), loopback(40))
    yield running
    running.close()


@pytest.fixture
def ecs(served: Served) -> Any:
    return served.client()


def target(operation: str) -> str:
    return f"AmazonEC2ContainerServiceV20141113.{operation}"


# -- the wire ----------------------------------------------------------------------------


def test_a_call_answers_json_1_1_with_a_request_id(served: Served) -> None:
    status, headers, body = served.raw(b"{}", target("ListClusters"))
    assert status == 200
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert len(headers["x-amzn-requestid"]) == 36
    assert body == {"clusterArns": [f"{PREFIX}:cluster/default"]}


@pytest.mark.parametrize(
    ("body", "target_header", "method", "code"),
    [
        (b"{not json", target("ListClusters"), "POST", "SerializationException"),
        (b"[1, 2]", target("ListClusters"), "POST", "SerializationException"),
        (b"{}", target("LaunchRockets"), "POST", "UnknownOperationException"),
        (b"{}", "SomethingElse_2020.ListClusters", "POST", "UnknownOperationException"),
        (b"{}", None, "POST", "UnknownOperationException"),
        (b"{}", target("ListClusters"), "PUT", "UnknownOperationException"),
        (b"{}", target("DescribeCapacityProviders"), "POST", "UnknownOperationException"),  # in the model, not served
    ],
)
def test_bad_requests_get_the_right_code_in_body_and_header(
    served: Served, body: bytes, target_header: str | None, method: str, code: str
) -> None:
    status, headers, answer = served.raw(body, target_header, method)
    assert status == 400
    assert answer["__type"] == code == headers["x-amzn-errortype"]
    assert answer["message"]


def test_a_body_past_the_limit_is_refused_unread(served: Served) -> None:
    connection = http.client.HTTPConnection(served.host, served.server.server_port, timeout=10)
    headers = {"X-Amz-Target": target("ListClusters"), "Content-Length": str(MAX_BODY + 1)}
    connection.request("POST", "/", body=b"{}", headers=headers)  # it claims far more than it sends
    answer = connection.getresponse()
    assert (answer.status, json.loads(answer.read())["__type"]) == (400, "SerializationException")
    connection.close()


def _state_versions(served: Served) -> dict[str, Any]:
    """What users wrote, per cluster (the agents' heartbeats move the versions meanwhile)."""
    written: dict[str, Any] = {}
    for name in served.clusters.names():
        snapshot = served.clusters.get(name).snapshot()
        services = sorted((s.name, s.version) for s in snapshot.services())
        written[name] = (services, sorted(t.id for t in snapshot.tasks()))
    written["definitions"] = served.clusters.definitions.version
    return written


@pytest.mark.parametrize(
    ("operation", "body", "named"),
    [
        ("CreateService", {"serviceName": "s", "taskDefinition": "web", "desiredCount": "3"}, "desiredCount"),
        ("CreateService", {"serviceName": "s", "taskDefinition": "web", "desiredCount": True}, "desiredCount"),
        ("CreateService", {"serviceName": "s", "taskDefinition": "web", "desiredCount": 1.0}, "desiredCount"),
        ("CreateService", {"serviceName": 7, "taskDefinition": "web", "desiredCount": 1}, "serviceName"),
        ("CreateService", {"serviceName": "s", "taskDefinition": "web", "desiredCunt": 1}, "desiredCunt"),
        ("CreateService", {"serviceName": "s", "taskDefinition": "web", "launchType": "FARGATE"}, "launchType"),
        ("CreateService", {"serviceName": "s", "taskDefinition": "web", "launchType": "MOON"}, "launchType"),
        ("CreateService", {"taskDefinition": "web", "desiredCount": 1}, "serviceName"),
        ("RunTask", {"taskDefinition": "web", "count": "2"}, "count"),
        ("RunTask", {"taskDefinition": "web", "placementStrategy": {"type": "spread"}}, "placementStrategy"),
        ("RunTask", {"taskDefinition": "web", "tags": [{"key": "a", "value": "b"}]}, "tags"),
        ("RunTask", {"taskDefinition": "web", "enableExecuteCommand": True}, "enableExecuteCommand"),
        ("ListTasks", {"maxResults": 0}, "maxResults"),
        ("ListTasks", {"desiredStatus": "SLEEPING"}, "desiredStatus"),
        ("ListTaskDefinitions", {"sort": "DESC"}, "sort"),
        ("RegisterTaskDefinition", {"family": "web", "containerDefinitions": {}}, "containerDefinitions"),
        ("DescribeTaskDefinition", {"taskDefinition": ["web"]}, "taskDefinition"),
    ],
)
def test_wrong_fields_are_refused_never_coerced_and_change_nothing(
    served: Served, operation: str, body: dict[str, Any], named: str
) -> None:
    served.clusters.register_task_definition(WEB)
    before = _state_versions(served)
    status, headers, answer = served.raw(json.dumps(body).encode(), target(operation))
    assert status == 400
    assert answer["__type"] == headers["x-amzn-errortype"] == "InvalidParameterException"
    assert named in answer["message"]
    assert _state_versions(served) == before


def test_fields_clusterkit_does_not_model_are_taken_at_their_defaults(ecs: Any, served: Served) -> None:
    ecs.register_task_definition(**WEB)
    created = ecs.create_service(
        serviceName="s",
        taskDefinition="web",
        desiredCount=0,
        launchType="EC2",
        propagateTags="NONE",
        enableExecuteCommand=False,
        enableECSManagedTags=False,
        deploymentController={"type": "ECS"},
        serviceRegistries=[],
        tags=[],
    )["service"]
    assert created["serviceName"] == "s"
    ran = ecs.run_task(taskDefinition="web", launchType="EC2", clientToken="retry-1")
    assert len(ran["tasks"]) == 1


def test_a_server_exception_is_500_and_retried_by_botocore(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = OPERATIONS["ListClusters"]

    def flaky(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("the disk is on fire")
        return original.handle(clusters, body)

    monkeypatch.setitem(OPERATIONS, "ListClusters", Operation("ListClusters", flaky, original.modelled))
    status, headers, answer = served.raw(b"{}", target("ListClusters"))
    assert (status, answer["__type"], headers["x-amzn-errortype"]) == (500, "ServerException", "ServerException")
    calls.clear()
    listed = served.client(retries=3).list_clusters()
    assert listed["clusterArns"] == [f"{PREFIX}:cluster/default"]
    assert listed["ResponseMetadata"]["RetryAttempts"] == 2
    calls.clear()
    with pytest.raises(served.client().exceptions.ServerException):
        served.client().list_clusters()


# -- clusters ----------------------------------------------------------------------------


def test_clusters_create_describe_list_update_delete(ecs: Any, served: Served) -> None:
    made = ecs.create_cluster(clusterName="blue")["cluster"]
    assert (made["clusterArn"], made["status"]) == (f"{PREFIX}:cluster/blue", "ACTIVE")
    assert ecs.create_cluster(clusterName="blue")["cluster"]["clusterArn"] == made["clusterArn"]  # idempotent
    assert ecs.list_clusters()["clusterArns"] == [f"{PREFIX}:cluster/blue", f"{PREFIX}:cluster/default"]
    described = ecs.describe_clusters(clusters=["blue", f"{PREFIX}:cluster/default", "nope"])
    assert [c["clusterName"] for c in described["clusters"]] == ["blue", "default"]
    assert described["failures"] == [{"arn": f"{PREFIX}:cluster/nope", "reason": "MISSING"}]
    assert described["clusters"][0]["registeredContainerInstancesCount"] == 2  # the server's fake hosts
    updated = ecs.update_cluster(cluster="blue", settings=[{"name": "containerInsights", "value": "disabled"}])
    assert updated["cluster"]["clusterName"] == "blue"
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="settings"):
        ecs.update_cluster(cluster="blue", settings=[{"name": "containerInsights", "value": "enabled"}])
    gone = ecs.delete_cluster(cluster="blue")["cluster"]
    assert gone["status"] == "INACTIVE"
    assert ecs.describe_clusters(clusters=["blue"])["clusters"][0]["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == [f"{PREFIX}:cluster/default"]
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.list_tasks(cluster="blue")
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.delete_cluster(cluster="blue")


def test_a_cluster_with_services_or_tasks_is_not_deleted(ecs: Any) -> None:
    ecs.create_cluster(clusterName="busy")
    ecs.register_task_definition(**WEB)
    ecs.create_service(cluster="busy", serviceName="s", taskDefinition="web", desiredCount=0)
    with pytest.raises(ecs.exceptions.ClusterContainsServicesException):
        ecs.delete_cluster(cluster="busy")
    ecs.delete_service(cluster="busy", service="s")
    (task,) = ecs.run_task(cluster="busy", taskDefinition="web")["tasks"]
    with pytest.raises(ecs.exceptions.ClusterContainsTasksException):
        ecs.delete_cluster(cluster="busy")
    ecs.stop_task(cluster="busy", task=task["taskArn"])
    ecs.get_waiter("tasks_stopped").wait(cluster="busy", tasks=[task["taskArn"]], WaiterConfig=FAST)
    assert ecs.delete_cluster(cluster="busy")["cluster"]["status"] == "INACTIVE"


@pytest.mark.parametrize(
    "cluster",
    [
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/default",  # another region
        f"arn:aws:ecs:{REGION}:999999999999:cluster/default",  # another account
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:cluster/default",  # another service
        f"{PREFIX}:service/default",  # not a cluster
    ],
)
def test_arns_are_checked_whole(ecs: Any, cluster: str) -> None:
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_tasks(cluster=cluster)


def test_a_task_arn_of_another_cluster_is_refused(ecs: Any) -> None:
    ecs.create_cluster(clusterName="other")
    ecs.register_task_definition(**WEB)
    (task,) = ecs.run_task(cluster="other", taskDefinition="web")["tasks"]
    assert task["taskArn"].startswith(f"{PREFIX}:task/other/")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="belongs to cluster other"):
        ecs.describe_tasks(cluster="default", tasks=[task["taskArn"]])
    assert (
        ecs.describe_tasks(cluster=f"{PREFIX}:cluster/other", tasks=[task["taskArn"]])["tasks"][0]["taskArn"]
        == (task["taskArn"])
    )


# -- task definitions --------------------------------------------------------------------


def test_task_definitions_register_describe_list_deregister(ecs: Any) -> None:
    first = ecs.register_task_definition(**WEB, tags=[{"key": "team", "value": "a"}])
    assert first["taskDefinition"]["taskDefinitionArn"] == f"{PREFIX}:task-definition/web:1"
    assert first["tags"] == [{"key": "team", "value": "a"}]
    assert ecs.register_task_definition(**WEB)["taskDefinition"]["revision"] == 2
    ecs.register_task_definition(family="api", containerDefinitions=WEB["containerDefinitions"])
    described = ecs.describe_task_definition(taskDefinition="web")
    assert described["taskDefinition"]["revision"] == 2
    assert ecs.describe_task_definition(taskDefinition=f"{PREFIX}:task-definition/web:1")["tags"] == [
        {"key": "team", "value": "a"}
    ]
    assert ecs.list_task_definitions(familyPrefix="we")["taskDefinitionArns"] == [
        f"{PREFIX}:task-definition/web:1",
        f"{PREFIX}:task-definition/web:2",
    ]
    assert ecs.list_task_definition_families()["families"] == ["api", "web"]
    gone = ecs.deregister_task_definition(taskDefinition="web:2")["taskDefinition"]
    assert gone["status"] == "INACTIVE"
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [f"{PREFIX}:task-definition/web:2"]
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1


def test_an_unknown_task_definition_is_a_client_exception(ecs: Any, served: Served) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: ecs.describe_task_definition(taskDefinition="nope:1"),
        lambda: ecs.describe_task_definition(taskDefinition="nope"),
        lambda: ecs.run_task(taskDefinition="nope"),
        lambda: ecs.create_service(serviceName="s", taskDefinition="nope:4", desiredCount=1),
        lambda: ecs.deregister_task_definition(taskDefinition="nope:1"),
    ]
    for call in calls:
        with pytest.raises(ecs.exceptions.ClientException) as raised:
            call()
        assert raised.value.response["Error"]["Message"] == "Unable to describe task definition."
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_task_definitions_are_shared_by_every_cluster_even_later_ones(ecs: Any) -> None:
    ecs.register_task_definition(**WEB)
    ecs.register_task_definition(**WEB)
    ecs.deregister_task_definition(taskDefinition="web:2")
    ecs.create_cluster(clusterName="late")
    (task,) = ecs.run_task(cluster="late", taskDefinition="web")["tasks"]
    assert task["taskDefinitionArn"] == f"{PREFIX}:task-definition/web:1"  # web:2 is INACTIVE there too
    ecs.register_task_definition(**WEB)
    (task,) = ecs.run_task(cluster="late", taskDefinition="web:3")["tasks"]
    (again,) = ecs.run_task(cluster="default", taskDefinition="web:3")["tasks"]
    assert task["taskDefinitionArn"] == again["taskDefinitionArn"] == f"{PREFIX}:task-definition/web:3"


# -- services ----------------------------------------------------------------------------


def test_a_service_created_scaled_rolled_and_deleted(ecs: Any) -> None:
    ecs.register_task_definition(**WEB)
    created = ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=3)["service"]
    assert (created["serviceArn"], created["desiredCount"]) == (f"{PREFIX}:service/default/web", 3)
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    (service,) = ecs.describe_services(services=["web"])["services"]
    assert (service["runningCount"], service["pendingCount"], len(service["deployments"])) == (3, 0, 1)
    assert len(ecs.list_tasks(serviceName="web")["taskArns"]) == 3

    ecs.update_service(service="web", desiredCount=1)
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    assert len(ecs.list_tasks(serviceName=f"{PREFIX}:service/default/web")["taskArns"]) == 1

    ecs.register_task_definition(**WEB)
    rolled = ecs.update_service(service=f"{PREFIX}:service/default/web", taskDefinition="web:2")["service"]
    assert rolled["taskDefinition"] == f"{PREFIX}:task-definition/web:2"
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    (task_arn,) = ecs.list_tasks(serviceName="web")["taskArns"]
    (task,) = ecs.describe_tasks(tasks=[task_arn])["tasks"]
    assert task["taskDefinitionArn"] == f"{PREFIX}:task-definition/web:2"

    forced = ecs.update_service(service="web", forceNewDeployment=True)["service"]
    assert [d["status"] for d in forced["deployments"]] == ["PRIMARY", "ACTIVE"]
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    assert ecs.list_tasks(serviceName="web")["taskArns"] != [task_arn]  # replaced

    with pytest.raises(ecs.exceptions.InvalidParameterException, match="desired count"):
        ecs.delete_service(service="web")
    deleted = ecs.delete_service(service="web", force=True)["service"]
    assert deleted["status"] in ("DRAINING", "INACTIVE")
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)
    assert ecs.list_services()["serviceArns"] == []
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(service="web", desiredCount=2)


def test_describe_services_reports_unknown_ones_as_missing(ecs: Any) -> None:
    ecs.register_task_definition(**WEB)
    ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0)
    answer = ecs.describe_services(services=["a", "b", f"{PREFIX}:service/default/c"])
    assert [s["serviceName"] for s in answer["services"]] == ["a"]
    assert answer["failures"] == [
        {"arn": f"{PREFIX}:service/default/b", "reason": "MISSING"},
        {"arn": f"{PREFIX}:service/default/c", "reason": "MISSING"},
    ]


def test_unknown_services_and_clusters_raise_their_own_exceptions(ecs: Any) -> None:
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(service="ghost", desiredCount=1)
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.delete_service(service="ghost")
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.list_tasks(serviceName="ghost")
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.describe_services(cluster="ghost", services=["a"])
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.run_task(cluster="ghost", taskDefinition="web")
    ecs.register_task_definition(**WEB)
    ecs.create_service(serviceName="twice", taskDefinition="web", desiredCount=0)
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.create_service(serviceName="twice", taskDefinition="web", desiredCount=0)


# -- tasks -------------------------------------------------------------------------------


def test_tasks_run_start_list_describe_stop(ecs: Any, served: Served) -> None:
    ecs.register_task_definition(**WEB)
    ran = ecs.run_task(taskDefinition="web", count=2, startedBy="ci", group="batch")
    arns = [task["taskArn"] for task in ran["tasks"]]
    assert ran["failures"] == [] and len(arns) == 2
    ecs.get_waiter("tasks_running").wait(tasks=arns, WaiterConfig=FAST)
    described = ecs.describe_tasks(tasks=[*arns, "feedbeef"])
    assert {t["lastStatus"] for t in described["tasks"]} == {"RUNNING"}
    assert {t["startedBy"] for t in described["tasks"]} == {"ci"}
    assert described["failures"] == [{"arn": f"{PREFIX}:task/default/feedbeef", "reason": "MISSING"}]

    instance = sorted(i.id for i in served.clusters.get("default").snapshot().instances())[0]
    started = ecs.start_task(
        taskDefinition="web:1", containerInstances=[f"{PREFIX}:container-instance/default/{instance}", "i-nope"]
    )
    assert started["tasks"][0]["containerInstanceArn"] == f"{PREFIX}:container-instance/default/{instance}"
    assert started["failures"] == [{"arn": f"{PREFIX}:container-instance/default/i-nope", "reason": "MISSING"}]

    assert sorted(ecs.list_tasks(startedBy="ci")["taskArns"]) == sorted(arns)
    assert len(ecs.list_tasks(family="web")["taskArns"]) == 3
    assert (
        ecs.list_tasks(containerInstance=instance)["taskArns"]
        == ecs.list_tasks(containerInstance=f"{PREFIX}:container-instance/default/{instance}")["taskArns"]
    )

    stopped = ecs.stop_task(task=arns[0], reason="done")["task"]
    assert (stopped["desiredStatus"], stopped["stoppedReason"]) == ("STOPPED", "done")
    ecs.get_waiter("tasks_stopped").wait(tasks=[arns[0]], WaiterConfig=FAST)
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == [arns[0]]
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.stop_task(task="feedbeef")


def test_run_task_failures_come_back_as_data(ecs: Any) -> None:
    huge = {"family": "huge", "containerDefinitions": [{"name": "app", "image": "x", "memory": 100_000}]}
    ecs.register_task_definition(**huge)
    answer = ecs.run_task(taskDefinition="huge")
    assert answer["tasks"] == []
    assert answer["failures"][0]["reason"] == "RESOURCE:MEMORY"


def test_a_users_scheduler_places_run_task_and_services() -> None:
    packing = PackingScheduler()
    hook = cluster_loops(_fake_hosts, placement=packing, settings=QUICK, interval=0.05)
    served = Served(Clusters(region=REGION, account=ACCOUNT, on_create=hook, scheduler=packing), loopback(41))
    try:
        ecs = served.client()
        ecs.register_task_definition(**WEB)
        ran = ecs.run_task(taskDefinition="web", count=4)["tasks"]
        assert len({task["containerInstanceArn"] for task in ran}) == 1  # the built-in default spreads
        ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=4)
        ecs.get_waiter("services_stable").wait(services=["s"], WaiterConfig=FAST)
        tasks = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="s")["taskArns"])["tasks"]
        assert len({task["containerInstanceArn"] for task in tasks}) == 1
    finally:
        served.close()


# -- pagination ----------------------------------------------------------------------------


def _pages(ecs: Any, operation: str, key: str, page_size: int, **arguments: Any) -> list[list[str]]:
    pages = ecs.get_paginator(operation).paginate(PaginationConfig={"PageSize": page_size}, **arguments)
    return [page[key] for page in pages]


def test_paginators_walk_every_list_once(ecs: Any) -> None:
    ecs.register_task_definition(**WEB)
    ecs.run_task(taskDefinition="web", count=130)
    pages = _pages(ecs, "list_tasks", "taskArns", 100)
    assert [len(page) for page in pages] == [100, 30]
    assert len({arn for page in pages for arn in page}) == 130
    for name in range(12):
        ecs.create_service(serviceName=f"s{name:02}", taskDefinition="web", desiredCount=0)
    assert len(ecs.list_services()["serviceArns"]) == 10  # ECS's default page
    assert [len(p) for p in _pages(ecs, "list_services", "serviceArns", 5)] == [5, 5, 2]
    for family in ("a", "b", "c"):
        ecs.register_task_definition(family=family, containerDefinitions=WEB["containerDefinitions"])
    assert _pages(ecs, "list_task_definition_families", "families", 2) == [["a", "b"], ["c", "web"]]
    assert [len(p) for p in _pages(ecs, "list_task_definitions", "taskDefinitionArns", 3)] == [3, 1]
    for cluster in ("x", "y"):
        ecs.create_cluster(clusterName=cluster)
    assert [len(p) for p in _pages(ecs, "list_clusters", "clusterArns", 2)] == [2, 1]
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="nextToken"):
        ecs.list_tasks(nextToken="not-a-token")
    forged = base64.urlsafe_b64encode(json.dumps({"listing": "clusters", "after": 7}).encode()).decode()
    for token in ("not-a-token", forged, base64.urlsafe_b64encode(b"[1]").decode()):
        with pytest.raises(ecs.exceptions.InvalidParameterException, match="nextToken"):
            ecs.list_clusters(nextToken=token)


@given(count=st.integers(0, 40), page=st.integers(1, 12))
def test_pages_hold_every_task_once_with_no_token_on_the_last(count: int, page: int) -> None:
    clusters = Clusters(region=REGION, account=ACCOUNT)
    app = EcsApplication(clusters)
    state = clusters.get("default")
    state.register_container_instance("i-1", cpu=100_000, memory=100_000)
    clusters.register_task_definition(
        {"family": "t", "containerDefinitions": [{"name": "c", "image": "i", "memory": 6}]}
    )
    if count:
        state.run_task("t", count=count)
    seen: list[str] = []
    tokens: list[str] = []
    body: dict[str, Any] = {"maxResults": page}
    while True:
        answer = _call(app, "ListTasks", body)
        assert 0 < len(answer["taskArns"]) <= page or (count == 0 and answer["taskArns"] == [])
        seen += answer["taskArns"]
        if "nextToken" not in answer:
            break
        assert answer["nextToken"] not in tokens
        tokens.append(answer["nextToken"])
        body = {"maxResults": page, "nextToken": answer["nextToken"]}
    assert len(seen) == len(set(seen)) == count


def _call(app: EcsApplication, operation: str, body: Any) -> Any:
    """One call straight into the WSGI application; the decoded answer (errors too)."""
    import io

    raw = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(len(raw)),
        "HTTP_X_AMZ_TARGET": target(operation),
        "wsgi.input": io.BytesIO(raw),
    }
    statuses: list[str] = []
    (payload,) = app(environ, lambda status, headers: statuses.append(status))
    answer = json.loads(payload)
    if not statuses[0].startswith("200"):
        answer["status"] = int(statuses[0].split()[0])
    return answer


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@given(
    operation=st.sampled_from(["CreateService", "RunTask", "UpdateService", "ListTasks", "DescribeTasks"]),
    field=st.sampled_from(["desiredCount", "count", "taskDefinition", "serviceName", "service", "tasks", "maxResults"]),
    value=_JSON,
)
def test_any_value_in_any_field_is_answered_with_a_model_error_or_taken(operation: str, field: str, value: Any) -> None:
    clusters = Clusters(region=REGION, account=ACCOUNT)
    app = EcsApplication(clusters)
    clusters.get("default").register_container_instance("i-1", cpu=4096, memory=8192)
    clusters.register_task_definition(WEB)
    clusters.get("default").create_service("svc", "web", desired_count=0)
    before = clusters.get("default").snapshot().version
    body = {"serviceName": "new", "service": "svc", "taskDefinition": "web", "desiredCount": 1, "tasks": ["x"]}
    body = {key: item for key, item in body.items() if key in _members(operation)}
    body[field] = value
    answer = _call(app, operation, body)
    if "status" in answer:
        assert answer["status"] == 400
        assert answer["__type"] in {"InvalidParameterException", "ClientException", "ServiceNotFoundException"}
        assert clusters.get("default").snapshot().version == before


def _members(operation: str) -> set[str]:
    from clusterkit.server._wire import service_model  # the same model the server reads

    return set(service_model().operation_model(operation).input_shape.members)


# -- clusterkit serve, and the AWS CLI ----------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def serve_command(*options: str) -> Iterator[str]:
    """``clusterkit serve`` in a subprocess on a loopback port of this copy; yields its URL and
    checks it exits 0 on SIGTERM.
    """
    command = [sys.executable, "-m", "clusterkit.cli", "serve", "--host", loopback(42), "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://\S+", line)
        assert found, (line, process.stderr.read() if process.stderr else "")
        yield found.group(0)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def _aws(url: str, *arguments: str) -> Any:
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    command = ["aws", "--endpoint-url", url, "--output", "json", "ecs", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_the_aws_cli_drives_clusterkit_serve(tmp_path: Path) -> None:
    require_service(shutil.which("aws") is not None, "the AWS CLI (aws; Debian's awscli package)")
    definition = tmp_path / "web.json"
    definition.write_text(json.dumps(WEB))
    options = ("--interval", "0.05", "--healthy-after", "0.2", "--scheduler", "tests.serve_scheduler:PackingScheduler")
    with serve_command(*options) as url:
        registered = _aws(url, "register-task-definition", "--cli-input-json", f"file://{definition}")
        assert registered["taskDefinition"]["taskDefinitionArn"].endswith(":task-definition/web:1")
        _aws(url, "create-service", "--service-name", "web", "--task-definition", "web", "--desired-count", "3")
        _aws(url, "wait", "services-stable", "--services", "web")
        (service,) = _aws(url, "describe-services", "--services", "web")["services"]
        assert (service["runningCount"], service["desiredCount"], service["status"]) == (3, 3, "ACTIVE")
        forced = _aws(url, "update-service", "--service", "web", "--force-new-deployment")["service"]
        assert [d["status"] for d in forced["deployments"]] == ["PRIMARY", "ACTIVE"]
        _aws(url, "wait", "services-stable", "--services", "web")

        boto = client(url, region="us-east-1")
        ran = boto.run_task(taskDefinition="web", count=120, startedBy="bulk")["tasks"]
        assert len({task["containerInstanceArn"] for task in ran}) == 1  # --scheduler packs
        listed = _aws(url, "list-tasks", "--started-by", "bulk", "--page-size", "50")["taskArns"]
        assert sorted(listed) == sorted(task["taskArn"] for task in ran)
        stopped = _aws(url, "stop-task", "--task", listed[0], "--reason", "enough")["task"]
        assert stopped["desiredStatus"] == "STOPPED"
        _aws(url, "wait", "tasks-stopped", "--tasks", listed[0])


def test_serve_refuses_a_scheduler_it_cannot_import() -> None:
    command = [sys.executable, "-m", "clusterkit.cli", "serve", "--port", "0", "--scheduler", "no_such_module:X"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "no_such_module:X" in done.stderr


# -- container instances ------------------------------------------------------------------


def test_container_instances_listed_described_drained_labelled_and_deregistered(ecs: Any) -> None:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    assert len(arns) == 2 and all(arn.startswith(f"{PREFIX}:container-instance/default/") for arn in arns)
    described = ecs.describe_container_instances(containerInstances=[*arns, "i-nope"])
    assert [i["containerInstanceArn"] for i in described["containerInstances"]] == arns
    assert described["failures"] == [{"arn": f"{PREFIX}:container-instance/default/i-nope", "reason": "MISSING"}]
    assert {r["name"]: r.get("integerValue") for r in described["containerInstances"][0]["registeredResources"]}[
        "MEMORY"
    ] == 8192

    drained = ecs.update_container_instances_state(containerInstances=[arns[0]], status="DRAINING")
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == [arns[0]]
    ecs.register_task_definition(**WEB)
    ran = ecs.run_task(taskDefinition="web", count=3)["tasks"]
    assert {task["containerInstanceArn"] for task in ran} == {arns[1]}  # nothing new on a draining one

    ecs.put_attributes(attributes=[{"name": "tier", "value": "gold", "targetId": arns[1]}])
    assert ecs.list_container_instances(filter="attribute:tier == gold")["containerInstanceArns"] == [arns[1]]
    (task,) = ecs.run_task(
        taskDefinition="web", placementConstraints=[{"type": "memberOf", "expression": "attribute:tier == gold"}]
    )["tasks"]
    assert task["containerInstanceArn"] == arns[1]
    ecs.delete_attributes(attributes=[{"name": "tier", "targetId": arns[1]}])
    assert ecs.list_container_instances(filter="attribute:tier == gold")["containerInstanceArns"] == []
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.put_attributes(attributes=[{"name": "tier", "value": "x", "targetId": "i-nope"}])

    gone = ecs.deregister_container_instance(containerInstance=arns[0])["containerInstance"]
    assert gone["status"] == "INACTIVE"
    assert ecs.list_container_instances()["containerInstanceArns"] == [arns[1]]


def test_an_instance_registers_through_the_api(ecs: Any) -> None:
    registered = ecs.register_container_instance(
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
            {"name": "GPU", "type": "INTEGER", "integerValue": 2},
        ],
        attributes=[{"name": "ecs.availability-zone", "value": "zone-z"}],
        versionInfo={"agentVersion": "1.80.0"},
    )["containerInstance"]
    assert registered["status"] == "ACTIVE"
    assert registered["versionInfo"]["agentVersion"] == "1.80.0"
    assert {"name": "GPU", "type": "INTEGER", "integerValue": 2} in registered["registeredResources"]
    listed = ecs.list_container_instances(filter="attribute:ecs.availability-zone == zone-z")
    assert listed["containerInstanceArns"] == [registered["containerInstanceArn"]]


# -- SigV4 ---------------------------------------------------------------------------------

KEYS = {
    "AKIDEXAMPLE": Credential("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    "ASIATEMPORARY": Credential("temporary-secret", session_token="the-session-token"),
}


@pytest.fixture
def signed_server() -> Iterator[Served]:
    clusters = Clusters(region=REGION, account=ACCOUNT)
    running = Served(clusters, loopback(43), credentials=KEYS)
    yield running
    running.close()


def _signed_client(served: Served, key: str, secret: str, token: str | None = None) -> Any:
    return client(served.url, key=key, secret=secret, token=token)


def _code(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


def test_signed_calls_pass_and_wrong_keys_are_refused(signed_server: Served) -> None:
    good = _signed_client(signed_server, "AKIDEXAMPLE", KEYS["AKIDEXAMPLE"].secret_key)
    assert good.list_clusters()["clusterArns"] == [f"{PREFIX}:cluster/default"]
    temporary = _signed_client(signed_server, "ASIATEMPORARY", "temporary-secret", "the-session-token")
    assert temporary.list_clusters()["clusterArns"]
    wrong_secret = _signed_client(signed_server, "AKIDEXAMPLE", "not-the-secret")
    assert _code(wrong_secret.list_clusters) == (403, "InvalidSignatureException")
    unknown = _signed_client(signed_server, "AKIDNOBODY", "whatever")
    assert _code(unknown.list_clusters) == (403, "UnrecognizedClientException")
    no_token = _signed_client(signed_server, "ASIATEMPORARY", "temporary-secret")
    assert _code(no_token.list_clusters) == (403, "UnrecognizedClientException")
    other_token = _signed_client(signed_server, "ASIATEMPORARY", "temporary-secret", "another-token")
    assert _code(other_token.list_clusters) == (403, "UnrecognizedClientException")
    elsewhere = client(signed_server.url, region="us-east-1", key="AKIDEXAMPLE", secret=KEYS["AKIDEXAMPLE"].secret_key)
    assert _code(elsewhere.list_clusters) == (403, "InvalidSignatureException")  # scoped to another region
    status, headers, answer = signed_server.raw(b"{}", target("ListClusters"))  # no signature at all
    assert (status, answer["__type"]) == (403, "MissingAuthenticationTokenException")
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def _signed_request(
    served: Served, body: bytes, when: datetime.datetime, *, secret: str | None = None, sign_date: bool = True
) -> AWSRequest:
    """A ListClusters request signed with botocore's signer as of ``when``."""
    request = AWSRequest(
        method="POST",
        url=f"{served.url}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target("RegisterTaskDefinition"),
            "Host": f"{served.host}:{served.server.server_port}",
        },
    )
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = stamp
    if sign_date:
        request.headers["X-Amz-Date"] = stamp
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", secret or KEYS["AKIDEXAMPLE"].secret_key), "ecs", REGION)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    scope = f"AKIDEXAMPLE/{stamp[:8]}/{REGION}/ecs/aws4_request"
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed}, Signature={signature}"
    )
    request.headers["X-Amz-Date"] = stamp
    return request


def _send(served: Served, request: AWSRequest, body: bytes | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(served.host, served.server.server_port, timeout=10)
    connection.request("POST", "/", body=request.body if body is None else body, headers=dict(request.headers.items()))
    answer = connection.getresponse()
    data = json.loads(answer.read())
    connection.close()
    return answer.status, data


def test_tampered_expired_and_half_signed_requests_are_refused_and_change_nothing(signed_server: Served) -> None:
    body = json.dumps(WEB).encode()
    now = datetime.datetime.now(datetime.UTC)
    status, answer = _send(signed_server, _signed_request(signed_server, body, now))
    assert (status, answer["taskDefinition"]["revision"]) == (200, 1)  # the same request, untouched, passes
    before = signed_server.clusters.definitions.version
    tampered = body.replace(b"web:1", b"evil:1")
    assert _send(signed_server, _signed_request(signed_server, body, now), tampered)[1]["__type"] == (
        "InvalidSignatureException"
    )
    expired = _signed_request(signed_server, body, now - datetime.timedelta(minutes=16))
    status, answer = _send(signed_server, expired)
    assert (status, answer["__type"]) == (403, "InvalidSignatureException")
    assert "expired" in answer["message"]
    early = _signed_request(signed_server, body, now + datetime.timedelta(minutes=16))
    assert _send(signed_server, early)[1]["__type"] == "InvalidSignatureException"
    unsigned_date = _signed_request(signed_server, body, now, sign_date=False)
    status, answer = _send(signed_server, unsigned_date)
    assert (status, answer["__type"]) == (403, "IncompleteSignatureException")
    wrong = _signed_request(signed_server, body, now, secret="guess")
    assert _send(signed_server, wrong)[1]["__type"] == "InvalidSignatureException"
    assert signed_server.clusters.definitions.version == before


def test_the_signature_botocore_computes_is_pinned() -> None:
    # The server checks signatures with botocore's SigV4Auth: a botocore that signed differently
    # would refuse every client. This is AWS's own get-vanilla example (SigV4 test suite).
    request = AWSRequest(method="GET", url="https://example.amazonaws.com/", headers={"Host": "example.amazonaws.com"})
    request.headers["X-Amz-Date"] = request.context["timestamp"] = "20150830T123600Z"
    request.data = b""
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "service", "us-east-1")
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_serve_reads_an_aws_credentials_file(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = ci-secret\n")
    assert load_credentials(credentials) == {"AKIDCI": Credential("ci-secret")}
    with serve_command("--credentials", str(credentials)) as url:
        good = client(url, region="us-east-1", key="AKIDCI", secret="ci-secret")
        assert good.list_clusters()["clusterArns"] == ["arn:aws:ecs:us-east-1:000000000000:cluster/default"]
        bad = client(url, region="us-east-1", key="AKIDCI", secret="nope")
        assert _code(bad.list_clusters) == (403, "InvalidSignatureException")
    broken = tmp_path / "broken"
    broken.write_text("[ci]\naws_access_key_id = AKIDCI\n")
    with pytest.raises(ValidationError, match="aws_secret_access_key"):
        load_credentials(broken)


def test_list_attributes_filters_by_name_and_value_a_page_at_a_time(ecs: Any) -> None:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    ecs.put_attributes(
        attributes=[
            {"name": "tier", "value": "gold", "targetId": arns[0]},
            {"name": "tier", "value": "std", "targetId": arns[1]},
            {"name": "gpu", "targetId": arns[1]},
        ]
    )
    tiers = ecs.list_attributes(targetType="container-instance", attributeName="tier")["attributes"]
    assert sorted((a["targetId"], a["value"]) for a in tiers) == sorted([(arns[0], "gold"), (arns[1], "std")])
    gold = ecs.list_attributes(targetType="container-instance", attributeName="tier", attributeValue="gold")
    assert [a["targetId"] for a in gold["attributes"]] == [arns[0]]
    pages = ecs.get_paginator("list_attributes").paginate(
        targetType="container-instance", PaginationConfig={"PageSize": 3}
    )
    everything = [a for page in pages for a in page["attributes"]]
    assert len(everything) == len({(a["targetId"], a["name"]) for a in everything})
    assert {"name": "gpu", "targetType": "container-instance", "targetId": arns[1]} in everything
    ecs.create_cluster(clusterName="second")
    other_listing = ecs.list_clusters(maxResults=1)["nextToken"]
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="nextToken"):
        ecs.list_attributes(targetType="container-instance", nextToken=other_listing)


def test_list_tags_for_resource_answers_for_every_kind_it_knows(ecs: Any) -> None:
    ecs.register_task_definition(**WEB, tags=[{"key": "team", "value": "a"}])
    service = ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=0)["service"]["serviceArn"]
    (task,) = ecs.run_task(taskDefinition="web")["tasks"]
    instance = ecs.list_container_instances()["containerInstanceArns"][0]
    tagged = ecs.list_tags_for_resource(resourceArn=f"{PREFIX}:task-definition/web:1")
    assert tagged["tags"] == [{"key": "team", "value": "a"}]
    for arn in (f"{PREFIX}:cluster/default", service, task["taskArn"], instance):
        assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []
    with pytest.raises(ecs.exceptions.ClientException, match="Unable to describe task definition"):
        ecs.list_tags_for_resource(resourceArn=f"{PREFIX}:task-definition/web:9")
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.list_tags_for_resource(resourceArn=f"{PREFIX}:cluster/nope")
    for arn in (f"{PREFIX}:service/default/nope", f"{PREFIX}:task/default/feed", f"{PREFIX}:capacity-provider/x", "s"):
        with pytest.raises(ecs.exceptions.InvalidParameterException):
            ecs.list_tags_for_resource(resourceArn=arn)
    with pytest.raises(ecs.exceptions.InvalidParameterException):  # another account's
        ecs.list_tags_for_resource(resourceArn=f"arn:aws:ecs:{REGION}:999999999999:cluster/default")


def test_service_deployments_listed_and_described(ecs: Any) -> None:
    ecs.register_task_definition(**WEB)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2)
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    assert eventually(lambda: _deployment_statuses(ecs) == ["SUCCESSFUL"])  # once its tasks count healthy
    (done,) = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert done["serviceDeploymentArn"].startswith(f"{PREFIX}:service-deployment/default/web/")
    ecs.register_task_definition(**WEB)
    ecs.update_service(service="web", taskDefinition="web:2")
    newest, older = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert (newest["status"], older["serviceDeploymentArn"]) == ("IN_PROGRESS", done["serviceDeploymentArn"])
    assert older["status"] == "SUCCESSFUL"
    running = ecs.list_service_deployments(service="web", status=["IN_PROGRESS"])["serviceDeployments"]
    assert [d["serviceDeploymentArn"] for d in running] == [newest["serviceDeploymentArn"]]
    first = ecs.list_service_deployments(service="web", maxResults=1)
    second = ecs.list_service_deployments(service="web", maxResults=1, nextToken=first["nextToken"])
    assert [d["serviceDeploymentArn"] for d in first["serviceDeployments"] + second["serviceDeployments"]] == [
        newest["serviceDeploymentArn"],
        older["serviceDeploymentArn"],
    ]
    assert "nextToken" not in second
    ghost = newest["serviceDeploymentArn"].rsplit("/", 1)[0] + "/nope"
    described = ecs.describe_service_deployments(serviceDeploymentArns=[newest["serviceDeploymentArn"], ghost])
    (deployment,) = described["serviceDeployments"]
    assert deployment["targetServiceRevision"]["requestedTaskCount"] == 2
    assert described["failures"] == [{"arn": ghost, "reason": "MISSING"}]
    assert eventually(lambda: _deployment_statuses(ecs) == ["SUCCESSFUL"])
    (finished,) = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert (finished["serviceDeploymentArn"], finished["status"]) == (newest["serviceDeploymentArn"], "SUCCESSFUL")
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.list_service_deployments(service="ghost")


def _deployment_statuses(ecs: Any) -> list[str]:
    return [d["status"] for d in ecs.list_service_deployments(service="web")["serviceDeployments"]]


def test_clusters_on_stores_of_their_own_reopen_and_catch_up_on_definitions() -> None:
    stores: dict[str, MemoryStore] = {}

    def store(key: str) -> MemoryStore:
        return stores.setdefault(key, MemoryStore())

    first = Clusters(store=store, initial=("default", "second"))
    first.register_task_definition(WEB)
    first.get("default").create_service("web", "web:1", desired_count=0)
    first.close()
    assert sorted(stores) == ["clusters/default", "clusters/second", "registry"]

    again = Clusters(store=store, initial=("default",))  # "second" stays closed a while
    assert again.get("default").snapshot().service("web").task_definition == "web:1"  # kept
    again.register_task_definition(WEB)
    again.register_task_definition(WEB)
    again.deregister_task_definition("web:2")
    second = again.create("second")  # reopened: given web:2 (INACTIVE) and web:3 it missed
    held = {d.key: d.status for d in second.snapshot().task_definitions()}
    assert held == {"web:1": "ACTIVE", "web:2": "INACTIVE", "web:3": "ACTIVE"}
    assert {d.key: d.status for d in again.get("default").snapshot().task_definitions()} == held
