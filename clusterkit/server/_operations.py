"""One handler per ECS operation: the checked request → one facade call → ECS JSON.

Each handler names the request members it reads (``@operation(NAME, *fields)``); any other
member the model has is clusterkit's to refuse unless it is at its default (``unmodelled``).
Lists and describes share one path each: ``_listed`` turns a ``Page`` into the model's
``{arns…, nextToken}`` and ``_described`` a ``Described`` into ``{items…, failures}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from clusterkit.api import ClusterState
from clusterkit.ecs_json import (
    dump_container_instance,
    dump_describe_task_definition,
    dump_service,
    dump_task,
    dump_task_definition,
    load_resources,
)
from clusterkit.errors import ValidationError
from clusterkit.model import Service
from clusterkit.server._clusters import Clusters
from clusterkit.server._wire import ApiError, bad_parameter
from clusterkit.state import MAX_PAGE, Described, Failure, Page, Snapshot

__all__ = ["OPERATIONS", "Operation", "unmodelled"]

Handler = Callable[[Clusters, dict[str, Any]], dict[str, Any]]

_AT_DEFAULT: Final[Mapping[str, Any]] = {
    "launchType": "EC2",
    "propagateTags": "NONE",
    "sort": "ASC",
    "deploymentController": {"type": "ECS"},
    "settings": [{"name": "containerInsights", "value": "disabled"}],
}
"""Members clusterkit does not model whose default is not empty: accepted at these values."""
_IGNORED: Final = frozenset({"clientToken", "include"})
"""Accepted and not acted on: RunTask/CreateService's idempotency token (botocore fills one
in on every call) and describe calls' ``include`` (no tags beyond task definitions' yet)."""


@attrs.frozen
class Operation:
    """An ECS operation clusterkit serves: its handler and the request members it reads."""

    name: str
    handle: Handler
    modelled: frozenset[str]


OPERATIONS: dict[str, Operation] = {}
"""The operations served, by ECS name."""


def operation(name: str, *fields: str) -> Callable[[Handler], Handler]:
    """Serve ``name`` with the decorated handler, which reads the members ``fields``."""

    def register(handle: Handler) -> Handler:
        OPERATIONS[name] = Operation(name, handle, frozenset(fields) | _IGNORED)
        return handle

    return register


def unmodelled(served: Operation, body: Mapping[str, Any]) -> None:
    """Refuse a member clusterkit does not model unless it is at its default (empty, false or
    ``_AT_DEFAULT``'s value): InvalidParameterException naming it.
    """
    for key, value in body.items():
        if key in served.modelled or value in (False, [], {}, "") or _AT_DEFAULT.get(key) == value:
            continue
        raise bad_parameter(served.name, f"{key}={value!r}: clusterkit does not model {key}; leave it at its default")


def _snake(name: str) -> str:
    return "".join("_" + char.lower() if char.isupper() else char for char in name)


def _kwargs(body: Mapping[str, Any], *fields: str) -> dict[str, Any]:
    """The members ``fields`` present in ``body``, as the facade's snake_case keywords."""
    return {_snake(field): body[field] for field in fields if field in body}


_PAGING: Final = ("maxResults", "nextToken")
_INSTANCE: Final = "container-instance"


def _listed(page: Page, render: Callable[[str], Any] = str) -> dict[str, Any]:
    return {page.key: [render(item) for item in page.items], "nextToken": page.next_token}


def _page_of(keys: list[str], body: Mapping[str, Any], listing: str, key: str) -> Page:
    """A page of ``keys`` (sorted, unique: a small list the server holds whole), after the
    request's ``nextToken``; the token names the last key given and the ``listing``. ``key``
    is the list's name in the response.
    """
    limit = body.get("maxResults", MAX_PAGE)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError("maxResults", limit, f"must be an integer in 1..{MAX_PAGE}")
    start = 0
    if "nextToken" in body:
        try:
            token = json.loads(base64.urlsafe_b64decode(body["nextToken"].encode()))
            after = token["after"]
            if token["listing"] != listing or not isinstance(after, str):
                raise ValueError
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise ValidationError("nextToken", body["nextToken"], "is not a token this API issued") from None
        start = sum(1 for key in keys if key <= after)
    chosen = keys[start : start + limit]
    if start + limit >= len(keys):
        return Page(tuple(chosen), key=key)
    after = json.dumps({"listing": listing, "after": chosen[-1]}).encode()
    return Page(tuple(chosen), base64.urlsafe_b64encode(after).decode(), key=key)


def _failure(failure: Failure) -> dict[str, Any]:
    return {"arn": failure.arn, "reason": failure.reason, "detail": failure.detail or None}


def _described(key: str, described: Described[Any], dump: Callable[[Any], Any]) -> dict[str, Any]:
    return {key: [dump(item) for item in described.items], "failures": [_failure(f) for f in described.failures]}


def _ref(clusters: Clusters, state: ClusterState, field: str, reference: str, kind: str) -> str:
    """``reference``, an ARN checked whole (this server's, this cluster's) cut to its id, or an id."""
    return clusters.resource(field, reference, kind, state.arns.cluster).rsplit("/", 1)[-1]


def _refs(clusters: Clusters, state: ClusterState, field: str, references: list[str], kind: str) -> list[str]:
    """``_ref`` of each of ``references``."""
    return [_ref(clusters, state, field, reference, kind) for reference in references]


def _definition(clusters: Clusters, body: Mapping[str, Any]) -> Any:
    reference = body.get("taskDefinition")
    if not isinstance(reference, str):
        return reference
    return clusters.resource("taskDefinition", reference, "task-definition")


def _service_json(snapshot: Snapshot, service: Service) -> dict[str, Any]:
    return dump_service(service, snapshot.arns, snapshot.service_counts(service))


def _one_service(state: ClusterState, service: Service) -> dict[str, Any]:
    return {"service": _service_json(state.snapshot(), service)}


# -- clusters ----------------------------------------------------------------------------


@operation("CreateCluster", "clusterName")
def _create_cluster(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.create(body.get("clusterName", "default"))
    return {"cluster": clusters.describe(state.arns.cluster)}


@operation("DescribeClusters", "clusters")
def _describe_clusters(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    found, failures = [], []
    for reference in body.get("clusters", ["default"]):
        described = clusters.describe(reference)
        if described is None:
            arn = reference if reference.startswith("arn:") else clusters.cluster_arn(reference)
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(described)
    return {"clusters": found, "failures": failures}


@operation("ListClusters", *_PAGING)
def _list_clusters(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    return _listed(_page_of(clusters.names(), body, "clusters", "clusterArns"), clusters.cluster_arn)


@operation("UpdateCluster", "cluster")
def _update_cluster(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body["cluster"])
    return {"cluster": clusters.describe(state.arns.cluster)}


@operation("DeleteCluster", "cluster")
def _delete_cluster(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    return {"cluster": clusters.delete(body["cluster"])}


# -- task definitions ---------------------------------------------------------------------

_REGISTER_FIELDS: Final = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "tags",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)
"""RegisterTaskDefinition's members: ``load_task_definition`` reads (and checks) them all."""


@operation("RegisterTaskDefinition", *_REGISTER_FIELDS)
def _register_task_definition(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    return dump_describe_task_definition(clusters.register_task_definition(body), clusters.arns)


@operation("DescribeTaskDefinition", "taskDefinition")
def _describe_task_definition(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    definition = clusters.definitions.task_definition(_definition(clusters, body))
    return dump_describe_task_definition(definition, clusters.arns)


@operation("DeregisterTaskDefinition", "taskDefinition")
def _deregister_task_definition(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    definition = clusters.deregister_task_definition(body["taskDefinition"])
    return {"taskDefinition": dump_task_definition(definition, clusters.arns)}


@operation("ListTaskDefinitions", "familyPrefix", "status", *_PAGING)
def _list_task_definitions(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    page = clusters.definitions.list_task_definitions(**_kwargs(body, "familyPrefix", "status", *_PAGING))
    return _listed(page)


@operation("ListTaskDefinitionFamilies", "familyPrefix", "status", *_PAGING)
def _list_task_definition_families(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    page = clusters.definitions.list_task_definition_families(**_kwargs(body, "familyPrefix", "status", *_PAGING))
    return _listed(page)


# -- services -----------------------------------------------------------------------------

_SERVICE_OPTIONS: Final = (
    "desiredCount",
    "deploymentConfiguration",
    "placementConstraints",
    "placementStrategy",
    "healthCheckGracePeriodSeconds",
    "loadBalancers",
)


@operation("CreateService", "cluster", "serviceName", "taskDefinition", "schedulingStrategy", *_SERVICE_OPTIONS)
def _create_service(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    if "taskDefinition" not in body:
        raise ValidationError("taskDefinition", None, "is required: clusterkit runs services of task definitions")
    options = _kwargs(body, "schedulingStrategy", *_SERVICE_OPTIONS)
    return _one_service(state, state.create_service(body["serviceName"], _definition(clusters, body), **options))


@operation("UpdateService", "cluster", "service", "taskDefinition", "forceNewDeployment", *_SERVICE_OPTIONS)
def _update_service(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    name = _ref(clusters, state, "service", body["service"], "service")
    if state.snapshot().service(name).status != "ACTIVE":
        raise ApiError("ServiceNotActiveException", "Service was not ACTIVE.")
    options = _kwargs(body, "forceNewDeployment", *_SERVICE_OPTIONS)
    if "taskDefinition" in body:
        options["task_definition"] = _definition(clusters, body)
    return _one_service(state, state.update_service(name, **options))


@operation("DeleteService", "cluster", "service", "force")
def _delete_service(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    name = _ref(clusters, state, "service", body["service"], "service")
    return _one_service(state, state.delete_service(name, **_kwargs(body, "force")))


@operation("DescribeServices", "cluster", "services")
def _describe_services(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    snapshot = state.snapshot()
    names = _refs(clusters, state, "services", body["services"], "service")
    return _described("services", snapshot.describe_services(names), lambda s: _service_json(snapshot, s))


@operation("ListServices", "cluster", "schedulingStrategy", *_PAGING)
def _list_services(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    snapshot = clusters.get(body.get("cluster")).snapshot()
    return _listed(snapshot.list_services(**_kwargs(body, "schedulingStrategy", *_PAGING)))


# -- tasks --------------------------------------------------------------------------------


def _ran(state: ClusterState, result: Any) -> dict[str, Any]:
    return {
        "tasks": [dump_task(task, state.arns) for task in result.tasks],
        "failures": [_failure(failure) for failure in result.failures],
    }


@operation(
    "RunTask", "cluster", "taskDefinition", "count", "group", "startedBy", "placementConstraints", "placementStrategy"
)
def _run_task(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    options = _kwargs(body, "count", "group", "startedBy", "placementConstraints", "placementStrategy")
    return _ran(state, state.run_task(_definition(clusters, body), scheduler=clusters.scheduler, **options))


@operation("StartTask", "cluster", "taskDefinition", "containerInstances", "group", "startedBy")
def _start_task(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    instances = _refs(clusters, state, "containerInstances", body["containerInstances"], _INSTANCE)
    options = _kwargs(body, "group", "startedBy")
    return _ran(state, state.start_task(_definition(clusters, body), instances, **options))


@operation("StopTask", "cluster", "task", "reason")
def _stop_task(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    task = _ref(clusters, state, "task", body["task"], "task")
    return {"task": dump_task(state.stop_task(task, **_kwargs(body, "reason")), state.arns)}


@operation("ListTasks", "cluster", "containerInstance", "family", "serviceName", "startedBy", "desiredStatus", *_PAGING)
def _list_tasks(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    snapshot = state.snapshot()
    if "serviceName" in body:
        body["serviceName"] = _ref(clusters, state, "serviceName", body["serviceName"], "service")
        snapshot.service(body["serviceName"])  # ServiceNotFoundException for an unknown one
    if "containerInstance" in body:
        body["containerInstance"] = _ref(clusters, state, "containerInstance", body["containerInstance"], _INSTANCE)
    filters = _kwargs(body, "containerInstance", "family", "serviceName", "startedBy", "desiredStatus", *_PAGING)
    return _listed(snapshot.list_tasks(**filters))


@operation("DescribeTasks", "cluster", "tasks")
def _describe_tasks(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    tasks = _refs(clusters, state, "tasks", body["tasks"], "task")
    return _described("tasks", state.snapshot().describe_tasks(tasks), lambda task: dump_task(task, state.arns))


# -- container instances ------------------------------------------------------------------


def _instance_json(state: ClusterState, instance: Any) -> dict[str, Any]:
    return {"containerInstance": dump_container_instance(instance, state.arns)}


@operation(
    "RegisterContainerInstance", "cluster", "totalResources", "versionInfo", "containerInstanceArn", "attributes"
)
def _register_container_instance(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    resources = load_resources(body.get("totalResources", []))
    reference = body.get("containerInstanceArn")
    instance_id = None if reference is None else _ref(clusters, state, "containerInstanceArn", reference, _INSTANCE)
    options: dict[str, Any] = {"scalars": resources.scalar_map, "reserved_udp_ports": resources.ports_udp}
    if resources.ports:
        options["reserved_ports"] = resources.ports
    if "agentVersion" in body.get("versionInfo", {}):
        options["agent_version"] = body["versionInfo"]["agentVersion"]
    instance = state.register_container_instance(
        instance_id,
        cpu=resources.cpu,
        memory=resources.memory,
        attributes={item["name"]: item.get("value") for item in body.get("attributes", [])},
        **options,
    )
    return _instance_json(state, instance)


@operation("DeregisterContainerInstance", "cluster", "containerInstance", "force")
def _deregister_container_instance(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    instance = _ref(clusters, state, "containerInstance", body["containerInstance"], _INSTANCE)
    return _instance_json(state, state.deregister_container_instance(instance, **_kwargs(body, "force")))


@operation("ListContainerInstances", "cluster", "filter", "status", *_PAGING)
def _list_container_instances(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    page = state.list_container_instances(**_kwargs(body, "filter", "status", *_PAGING))
    return _listed(page)


@operation("DescribeContainerInstances", "cluster", "containerInstances")
def _describe_container_instances(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    ids = _refs(clusters, state, "containerInstances", body["containerInstances"], _INSTANCE)
    described = state.snapshot().describe_container_instances(ids)
    return _described("containerInstances", described, lambda i: dump_container_instance(i, state.arns))


@operation("UpdateContainerInstancesState", "cluster", "containerInstances", "status")
def _update_container_instances_state(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    ids = _refs(clusters, state, "containerInstances", body["containerInstances"], _INSTANCE)
    described = state.update_container_instances_state(ids, body["status"])
    return _described("containerInstances", described, lambda i: dump_container_instance(i, state.arns))


def _attribute_targets(clusters: Clusters, state: ClusterState, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes by the container instance they go to (every target checked first)."""
    by_target: dict[str, dict[str, Any]] = {}
    snapshot = state.snapshot()
    for index, item in enumerate(attributes):
        if item.get("targetType", _INSTANCE) != "container-instance" or "targetId" not in item:
            raise ValidationError(f"attributes[{index}]", item, "give targetId, a container instance of the cluster")
        target = _ref(clusters, state, f"attributes[{index}].targetId", item["targetId"], _INSTANCE)
        snapshot.instance(target)
        by_target.setdefault(target, {})[item["name"]] = item.get("value")
    return by_target


@operation("PutAttributes", "cluster", "attributes")
def _put_attributes(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    for target, attributes in _attribute_targets(clusters, state, body["attributes"]).items():
        state.put_attributes(target, attributes)
    return {"attributes": body["attributes"]}


@operation("DeleteAttributes", "cluster", "attributes")
def _delete_attributes(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    for target, attributes in _attribute_targets(clusters, state, body["attributes"]).items():
        state.delete_attributes(target, list(attributes))
    return {"attributes": body["attributes"]}


@operation("ListAttributes", "cluster", "targetType", "attributeName", "attributeValue", *_PAGING)
def _list_attributes(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    if "attributeValue" in body and "attributeName" not in body:
        raise ValidationError("attributeValue", body["attributeValue"], "needs attributeName")
    found: dict[str, dict[str, Any]] = {}  # by "instance-id\x00name", sorted when paged
    for instance in state.snapshot().instances():
        for name, value in instance.attributes:
            if body.get("attributeName", name) == name and (
                "attributeValue" not in body or body["attributeValue"] == value
            ):
                target = state.arns.container_instance(instance.id)
                found[f"{instance.id}\x00{name}"] = {
                    "name": name,
                    "value": value,
                    "targetType": body["targetType"],
                    "targetId": target,
                }
    page = _page_of(sorted(found), body, f"attributes:{state.arns.cluster}:{body.get('attributeName')}", "attributes")
    return _listed(page, found.__getitem__)


# -- tags -----------------------------------------------------------------------------------


@operation("ListTagsForResource", "resourceArn")
def _list_tags_for_resource(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    """Task definitions' tags; the other resources have none (clusterkit refuses tags on them)."""
    arn = body["resourceArn"]
    kind = arn.split(":", 5)[-1].partition("/")[0] if arn.startswith("arn:") and arn.count(":") >= 5 else ""
    if kind not in ("cluster", "service", "task", _INSTANCE, "task-definition"):
        raise ValidationError("resourceArn", arn, "is not the ARN of a cluster, service, task, instance or definition")
    rest = clusters.resource("resourceArn", arn, kind)
    if kind == "task-definition":
        return {"tags": dump_describe_task_definition(clusters.definitions.task_definition(rest))["tags"]}
    cluster, _, name = rest.partition("/")
    snapshot = clusters.get(cluster).snapshot()
    if kind != "cluster":
        lookups = {
            "service": snapshot.services_by_name,
            "task": snapshot.tasks_by_id,
            _INSTANCE: snapshot.instances_by_id,
        }
        if not name or name not in lookups[kind]:
            raise ValidationError("resourceArn", arn, "names no resource of this server")
    return {"tags": []}


# -- service deployments --------------------------------------------------------------------

_ROLLOUT_STATUS: Final = {"IN_PROGRESS": "IN_PROGRESS", "COMPLETED": "SUCCESSFUL", "FAILED": "STOPPED"}
"""A deployment's rollout as a service deployment's status (a superseded rollout is STOPPED)."""


def _deployment_arn(clusters: Clusters, state: ClusterState, service: str, kind: str, deployment: str) -> str:
    return clusters.cluster_arn(f"{state.arns.cluster}/{service}/{deployment}").replace(":cluster/", f":{kind}/", 1)


def _service_deployments(clusters: Clusters, state: ClusterState, service: Service) -> list[dict[str, Any]]:
    """ECS's ServiceDeployment for each deployment the service still holds, newest first."""
    snapshot = state.snapshot()
    counts = snapshot.service_counts(service)
    found = []
    for deployment in sorted(service.deployments, key=lambda d: d.created_at, reverse=True):
        status = _ROLLOUT_STATUS[deployment.rollout_state]
        if deployment.status != "PRIMARY" and status == "IN_PROGRESS":
            status = "STOPPED"  # a newer deployment took over before this one finished
        running, pending = counts.get(deployment.id, (0, 0))
        revision = _deployment_arn(clusters, state, service.name, "service-revision", deployment.id)
        found.append(
            {
                "serviceDeploymentArn": _deployment_arn(
                    clusters, state, service.name, "service-deployment", deployment.id
                ),
                "serviceArn": state.arns.service(service.name),
                "clusterArn": state.arns.cluster_arn,
                "createdAt": deployment.created_at,
                "startedAt": deployment.created_at,
                "updatedAt": deployment.updated_at,
                "finishedAt": deployment.updated_at if status != "IN_PROGRESS" else None,
                "status": status,
                "statusReason": deployment.rollout_state_reason or None,
                "targetServiceRevisionArn": revision,
                "targetServiceRevision": {
                    "arn": revision,
                    "requestedTaskCount": deployment.desired_count,
                    "runningTaskCount": running,
                    "pendingTaskCount": pending,
                },
            }
        )
    return found


@operation("ListServiceDeployments", "cluster", "service", "status", "createdAt", *_PAGING)
def _list_service_deployments(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    state = clusters.get(body.get("cluster"))
    service = state.snapshot().service(_ref(clusters, state, "service", body["service"], "service"))
    window = body.get("createdAt", {})
    chosen = {
        deployment["serviceDeploymentArn"]: deployment
        for deployment in _service_deployments(clusters, state, service)
        if deployment["status"] in body.get("status", [deployment["status"]])
        and window.get("after", float("-inf")) <= deployment["createdAt"] <= window.get("before", float("inf"))
    }
    order = list(chosen)  # newest first; the pager wants sorted keys, so number them
    keys = [f"{index:06}" for index in range(len(order))]
    page = _page_of(keys, body, f"deployments:{state.arns.cluster}:{service.name}", "serviceDeployments")
    return _listed(page, lambda key: chosen[order[int(key)]])


@operation("DescribeServiceDeployments", "serviceDeploymentArns")
def _describe_service_deployments(clusters: Clusters, body: dict[str, Any]) -> dict[str, Any]:
    found, failures = [], []
    for arn in body["serviceDeploymentArns"]:
        cluster, _, rest = clusters.resource("serviceDeploymentArns", arn, "service-deployment").partition("/")
        service, _, _ = rest.partition("/")
        deployments: list[dict[str, Any]] = []
        if cluster in clusters.names():
            state = clusters.get(cluster)
            held = state.snapshot().services_by_name.get(service)
            deployments = [] if held is None else _service_deployments(clusters, state, held)
        match = [deployment for deployment in deployments if deployment["serviceDeploymentArn"] == arn]
        found += match
        if not match:
            failures.append({"arn": arn, "reason": "MISSING"})
    return {"serviceDeployments": found, "failures": failures}
