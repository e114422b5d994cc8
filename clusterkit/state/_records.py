"""One record as a JSON document: the form the save file and the shared stores keep.

Each record is ECS's describe output, plus what clusterkit keeps that ECS does not show,
beside it:

- a task definition: ``describe-task-definition`` output (``{"taskDefinition", "tags"}``);
- a container instance: ``{"containerInstance": <describe-container-instances output>,
  "lastHeartbeatAt": ...}``, the second being when its agent last said it was alive;
- a task: ``{"task": <describe-tasks output>, "chargedResources": [...]}``, the second being
  what the task holds on its instance (static and dynamic host ports, custom scalars), and
  ``"targetHealth": [{"targetGroupArn", "state"}, ...]`` when load balancers report on it;
- a service, as two records each versioned on its own: its spec (what users asked),
  ``{"service": <describe-services output, the spec's fields>, "spec": {"generation",
  "deploymentGeneration", "updatedAt", "version"}}``, and its status (what the service
  scheduler made of it), ``{"serviceName", "deployments", "events", "scheduler": {...}}``,
  the last being its bookkeeping (tracked tasks, launch back-off, ``inactive``,
  ``observedGeneration``, the version). Format 3 and older kept one record,
  ``{"service": <describe-services output>, "scheduler": {...}}``: ``decode_service`` reads it.

``encode`` and ``decode`` turn each kind of record into its document and back, exactly.
"""

from __future__ import annotations

from typing import Any, Final

from clusterkit.ecs_json import (
    dump_container_instance,
    dump_describe_task_definition,
    dump_resources,
    dump_service_spec,
    dump_service_status,
    dump_task,
    load_container_instance,
    load_resources,
    load_service,
    load_service_spec,
    load_service_status,
    load_task,
    load_task_definition,
)
from clusterkit.errors import ValidationError
from clusterkit.model import (
    Arns,
    ContainerInstance,
    ServiceSpec,
    ServiceStatus,
    TargetHealth,
    Task,
    TaskDefinition,
    check_int,
    check_target_health,
    replace,
    split,
)

__all__ = [
    "CHARGE_KEY",
    "HEARTBEAT_KEY",
    "TARGET_HEALTH_KEY",
    "decode_instance",
    "decode_service",
    "decode_service_spec",
    "decode_service_status",
    "decode_task",
    "decode_task_definition",
    "encode_instance",
    "encode_service_spec",
    "encode_service_status",
    "encode_task",
    "encode_task_definition",
]

CHARGE_KEY: Final = "chargedResources"
HEARTBEAT_KEY: Final = "lastHeartbeatAt"
TARGET_HEALTH_KEY: Final = "targetHealth"


def encode_task_definition(definition: TaskDefinition) -> dict[str, Any]:
    """A task definition's document: its describe output."""
    return dump_describe_task_definition(definition)


def decode_task_definition(item: Any) -> TaskDefinition:
    """A task definition from its document (or, as format 1 saved it, the bare definition)."""
    definition = load_task_definition(item)
    described = item.get("taskDefinition", item) if isinstance(item, dict) else item
    return replace(definition, revision=check_int("revision", described.get("revision"), 1))


def encode_instance(instance: ContainerInstance, arns: Arns) -> dict[str, Any]:
    """A container instance's document: describe output, and its last heartbeat beside it."""
    return {
        "containerInstance": dump_container_instance(instance, arns),
        HEARTBEAT_KEY: instance.last_heartbeat_at,
    }


def decode_instance(item: Any) -> ContainerInstance:
    """A container instance from its document (or, as formats 1 and 2 saved it, the bare
    describe output, with no heartbeat).
    """
    if not isinstance(item, dict) or "containerInstance" not in item:
        return load_container_instance(item)
    instance = load_container_instance(item["containerInstance"])
    heard = item.get(HEARTBEAT_KEY)
    if heard is None:
        return instance
    if isinstance(heard, bool) or not isinstance(heard, (int, float)):
        raise ValidationError(HEARTBEAT_KEY, heard, "must be a time in seconds or null")
    return replace(instance, last_heartbeat_at=float(heard))


def encode_task(task: Task, arns: Arns) -> dict[str, Any]:
    """A task's document: describe output, and what it holds beside it (and its target health)."""
    document: dict[str, Any] = {"task": dump_task(task, arns), CHARGE_KEY: dump_resources(task.charge)}
    if task.target_health:
        document[TARGET_HEALTH_KEY] = [
            {"targetGroupArn": entry.target_group_arn, "state": entry.state} for entry in task.target_health
        ]
    return document


def decode_task(item: Any, *, charge_inside: bool = False) -> Task:
    """A task from its document (``charge_inside``: format 1, the charge inside the task)."""
    if not isinstance(item, dict):
        raise ValidationError("task", item, "must be a JSON object")
    described = item if charge_inside else item.get("task")
    if CHARGE_KEY not in item or not isinstance(described, dict):
        missing = CHARGE_KEY if CHARGE_KEY not in item else "task"
        raise ValidationError("task", missing, "is malformed or incomplete")
    ecs_only = {key: value for key, value in described.items() if key != CHARGE_KEY}
    task = load_task(ecs_only, load_resources(item[CHARGE_KEY]))
    entries = item.get(TARGET_HEALTH_KEY)
    if not entries:
        return task
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValidationError(TARGET_HEALTH_KEY, entries, "must be a list of {targetGroupArn, state}")
    try:
        health = tuple(TargetHealth(entry["targetGroupArn"], entry["state"]) for entry in entries)
    except KeyError as exc:
        raise ValidationError(TARGET_HEALTH_KEY, entries, f"an entry lacks {exc.args[0]}") from None
    check_target_health(health)
    return replace(task, target_health=health)


def encode_service_spec(spec: ServiceSpec, arns: Arns) -> dict[str, Any]:
    """A service spec's document: describe output of its fields, and its generations and version."""
    return dump_service_spec(spec, arns)


def decode_service_spec(item: Any) -> ServiceSpec:
    """A service spec from its document."""
    return load_service_spec(item)


def encode_service_status(status: ServiceStatus, arns: Arns) -> dict[str, Any]:
    """A service status's document: its deployments and events as ECS shows them, and the
    scheduler's bookkeeping.
    """
    return dump_service_status(status, arns)


def decode_service_status(item: Any) -> ServiceStatus:
    """A service status from its document."""
    return load_service_status(item)


def decode_service(item: Any) -> tuple[ServiceSpec, ServiceStatus]:
    """A service's spec and status from its one record of format 3 and older: generation 1,
    observed; both parts at the record's version.
    """
    service = load_service(item)
    spec, status = split(service)
    return spec, replace(status, version=service.version)
