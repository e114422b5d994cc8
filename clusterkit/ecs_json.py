"""ECS JSON in and out: task definitions as users keep them on disk, describe output back.

One cattrs converter maps ECS camelCase to the model's snake_case. Loading accepts a dict
or a JSON string, task-level ``"cpu": "256"`` or ``"0.25 vCPU"`` strings, and describe
output (the ``{"taskDefinition": {...}, "tags": [...]}`` wrapper, with its read-only
fields). A JSON ``null`` anywhere means "not set". Every field name is checked against
ECS's API shapes: an unknown one is refused with a did-you-mean, and fields ECS knows but
clusterkit does not use (``logConfiguration``, ``executionRoleArn`` …) are checked and kept
in ``extra`` so they dump back unchanged. Any problem raises a ValidationError whose field
is the JSON path, e.g. ``containerDefinitions[1].portMappings[0].hostPort``.

Dumps are shaped exactly as ECS's describe output: clusterkit-only data (what a task holds
on its instance) is not in them; the save file (``clusterkit.state``) keeps it.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from clusterkit.errors import ValidationError
from clusterkit.model import (
    ECS_SHAPES,
    Arns,
    ContainerDefinition,
    ContainerDependency,
    ContainerInstance,
    Deployment,
    DeploymentCircuitBreaker,
    DeploymentConfiguration,
    HealthCheck,
    KeyValuePair,
    LoadBalancer,
    PlacementConstraint,
    PortBinding,
    PortMapping,
    ResourceRequirement,
    Resources,
    Service,
    ServiceEvent,
    ServiceSpec,
    ServiceStatus,
    Tag,
    Task,
    TaskDefinition,
    compose,
    load_constraints,
    load_strategies,
    split,
)
from clusterkit.model.ecs_schema import clean_members, read_only_members, required_members, unknown_field

__all__ = [
    "converter",
    "dump_container_instance",
    "dump_describe_task_definition",
    "dump_load_balancer",
    "dump_register_task_definition",
    "dump_resources",
    "dump_service",
    "dump_service_record",
    "dump_service_spec",
    "dump_service_status",
    "dump_task",
    "dump_task_definition",
    "load_container_instance",
    "load_deployment_configuration",
    "load_load_balancers",
    "load_resources",
    "load_service",
    "load_service_spec",
    "load_service_status",
    "load_task",
    "load_task_definition",
]

T = TypeVar("T")
_EXTRA_KEY: Final = "\x00extra"
_KEPT_ON_LOAD: Final = frozenset({"revision", "status"})
_READ_ONLY_TASKDEF_FIELDS: Final = read_only_members() - _KEPT_ON_LOAD
"""Fields ECS fills in on registration (``taskDefinitionArn``, ``registeredAt`` …); loading
drops them. ``revision`` and ``status`` are kept on the loaded value; registering sets its own.
"""
_RESPONSE_METADATA: Final = "ResponseMetadata"
"""What an SDK adds to every response it returns; ignored beside ``taskDefinition``."""
_CAMEL_CLASSES: Final = (
    PortMapping,
    HealthCheck,
    KeyValuePair,
    ContainerDependency,
    ResourceRequirement,
    PlacementConstraint,
    Tag,
    ContainerDefinition,
    TaskDefinition,
    PortBinding,
)
"""Every model class the converter maps, leaves first (generated hooks capture their children's)."""


def camel(name: str) -> str:
    """``memory_reservation`` → ``memoryReservation``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _strict_int(value: Any, _: type) -> int:
    """An ECS integer: a JSON number with no fraction. Text such as ``"80"`` is refused, as
    ECS and botocore refuse it, never coerced (task-level cpu and memory, strings in ECS,
    are parsed by the model itself).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        raise ValidationError("", value, "must be an integer, not text")
    raise ValidationError("", value, "must be an integer")


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValidationError("", value, "must be a string")
    return value


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("", value, "must be true or false")
    return value


def _string_tuple(value: Any, _: type) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValidationError("", value, "must be a list of strings")
    return tuple(_strict_str(item, str) for item in value)


def _as_given(value: Any, _: type) -> Any:
    return value


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_func(lambda kind: kind == tuple[str, ...], _string_tuple)
    conv.register_structure_hook(Resources, lambda value, _: load_resources(value))
    conv.register_unstructure_hook(Resources, dump_resources)
    conv.register_unstructure_hook(MappingProxyType, dict)
    for cls in _CAMEL_CLASSES:
        _register_camel(conv, cls)
    return conv


def _init_fields(cls: type) -> list[attrs.Attribute[Any]]:
    return [field for field in attrs.fields(cls) if field.init]


def _register_camel(conv: cattrs.Converter, cls: type) -> None:
    """Hooks for ``cls``: camelCase keys, defaults left out of dumps except the members ECS
    requires, and, for classes with ``extra``, the ECS fields they do not model kept there.
    """
    required = required_members(ECS_SHAPES[cls]) if cls in ECS_SHAPES else frozenset()
    renames = {
        field.name: override(
            rename=_EXTRA_KEY if field.name == "extra" else camel(field.name),
            omit_if_default=False if camel(field.name) in required else None,
        )
        for field in _init_fields(cls)
    }
    keep_extra = "extra" in attrs.fields_dict(cls)
    if cls is TaskDefinition:  # "256", "0.25 vCPU", "1 GB": the model's own converters parse these
        renames["cpu"] = override(rename="cpu", struct_hook=_as_given)
        renames["memory"] = override(rename="memory", struct_hook=_as_given)
    structure: Callable[[Any, type], Any] = make_dict_structure_fn(cls, conv, **renames)  # type: ignore[arg-type]
    unstructure: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls,
        conv,
        _cattrs_omit_if_default=True,
        **renames,  # type: ignore[arg-type]
    )
    known = {camel(field.name) for field in _init_fields(cls) if field.name != "extra"}
    if keep_extra:

        def structure_with_extra(data: Any, target: type) -> Any:
            if not isinstance(data, Mapping):
                raise ValueError(f"expected an object, got {type(data).__name__}")
            fields = {key: value for key, value in data.items() if key in known}
            fields[_EXTRA_KEY] = {key: value for key, value in data.items() if key not in known}
            return structure(fields, target)

        def unstructure_with_extra(value: Any) -> dict[str, Any]:
            data: dict[str, Any] = unstructure(value)
            extra = data.pop(_EXTRA_KEY, None) or {}
            return {**data, **{key: item for key, item in extra.items() if key not in data}}

        conv.register_structure_hook(cls, structure_with_extra)
        conv.register_unstructure_hook(cls, unstructure_with_extra)
    else:
        conv.register_structure_hook(cls, structure)
        conv.register_unstructure_hook(cls, unstructure)


def _error_path(exc: BaseException, path: str, value: Any, kind: Any = None) -> ValidationError:
    """One ValidationError naming the JSON path and the offending JSON value.

    Walks cattrs' nested error groups; ``value`` is the data at ``path`` and ``kind`` the
    type the model has there.
    """
    if isinstance(exc, ValidationError):
        return exc.within(path) if path else exc
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        for inner in exc.exceptions:
            step, inner_value, inner_kind = "", None, None
            for note in getattr(inner, "__notes__", []):
                if isinstance(note, cattrs.AttributeValidationNote):
                    key = camel(note.name)
                    step = f".{key}" if path else key
                    inner_value = value.get(key) if isinstance(value, Mapping) else None
                    inner_kind = note.type
                elif isinstance(note, cattrs.IterableValidationNote):
                    step = f"[{note.index}]"
                    index = note.index
                    inner_value = value[index] if isinstance(value, list) and isinstance(index, int) else None
                    inner_kind = note.type
            return _error_path(inner, path + step, inner_value, inner_kind)
        return ValidationError(path or "data", value, str(exc))
    if isinstance(exc, KeyError):
        return ValidationError(path or "data", None, "is required")
    if typing.get_origin(kind) is Literal:
        return ValidationError(
            path or "data", value, "must be one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
        )
    return ValidationError(path or "data", value, str(exc))


def _structure(data: Any, cls: type[T]) -> T:
    try:
        result: T = converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise _error_path(exc, "", data) from exc
    return result


def _json_object(data: Mapping[str, Any] | str | bytes, field: str) -> dict[str, Any]:
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ValidationError(field, str(exc), "is not valid JSON") from exc
    if not isinstance(data, Mapping):
        raise ValidationError(field, data, "must be a JSON object")
    return dict(data)


def load_task_definition(data: Mapping[str, Any] | str | bytes) -> TaskDefinition:
    """A TaskDefinition from ECS JSON (a dict, or text), as ``register-task-definition`` takes it.

    Also accepts describe output: ``{"taskDefinition": {...}, "tags": [...]}`` or the inner
    object. ``null`` means "not set" at every level. ECS's read-only fields
    (``taskDefinitionArn``, ``registeredAt`` …) are dropped, ``revision`` and ``status`` are
    kept (registering sets its own). Tags may sit beside ``taskDefinition`` or at the top of
    the definition, as RegisterTaskDefinition takes them. A field ECS does not know raises a
    ValidationError naming its path, with the ECS field it was probably meant to be; fields
    ECS knows and clusterkit does not model are kept in ``extra``.
    """
    raw = _json_object(data, "taskDefinition")
    raw, beside = _unwrap_described(raw)
    fields = clean_members(raw, "TaskDefinition", also={"tags": "Tags"})
    for key in _READ_ONLY_TASKDEF_FIELDS:
        fields.pop(key, None)
    if beside is not None:
        if fields.get("tags", beside) != beside:
            raise ValidationError("tags", fields["tags"], "differs from the tags beside taskDefinition")
        fields["tags"] = beside
    return _structure(fields, TaskDefinition)


def _unwrap_described(raw: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The definition inside describe output and the tags beside it (None when unwrapped)."""
    if "taskDefinition" not in raw:
        return raw, None
    outer = {key: value for key, value in raw.items() if key != _RESPONSE_METADATA}
    wrapper = clean_members(outer, "DescribeTaskDefinitionResponse", skip=("taskDefinition",))
    inner = wrapper.get("taskDefinition")
    if not isinstance(inner, Mapping):
        problem = "is required" if inner is None else "must be a JSON object"
        raise ValidationError("taskDefinition", inner, problem)
    return dict(inner), wrapper.get("tags")


def dump_task_definition(definition: TaskDefinition, arns: Arns | None = None) -> dict[str, Any]:
    """ECS JSON for a task definition, shaped as ECS's ``TaskDefinition`` (with its ARN
    when ``arns`` is given).

    Tags are not part of it: ECS returns them beside the definition
    (``dump_describe_task_definition``) and takes them as a separate registration parameter
    (``dump_register_task_definition``).
    """
    data: dict[str, Any] = converter.unstructure(definition)
    data.pop("tags", None)
    for field in ("cpu", "memory"):
        if field in data:
            data[field] = str(data[field])
    data["revision"] = definition.revision
    data["status"] = definition.status
    data.setdefault("networkMode", definition.network_mode)
    if arns is not None:
        data = {"taskDefinitionArn": arns.task_definition(definition.key), **data}
    return data


def dump_describe_task_definition(definition: TaskDefinition, arns: Arns | None = None) -> dict[str, Any]:
    """ECS ``describe-task-definition`` output: ``{"taskDefinition": {...}, "tags": [...]}``."""
    return {
        "taskDefinition": dump_task_definition(definition, arns),
        "tags": [converter.unstructure(tag) for tag in definition.tags],
    }


def dump_register_task_definition(definition: TaskDefinition) -> dict[str, Any]:
    """The input of ECS ``register-task-definition`` (``--cli-input-json``) for ``definition``:
    its fields without what ECS sets (``revision``, ``status``), and its tags, if any.
    """
    data = {key: value for key, value in dump_task_definition(definition).items() if key not in _KEPT_ON_LOAD}
    if definition.tags:
        data["tags"] = [converter.unstructure(tag) for tag in definition.tags]
    return data


def _resource(name: str, amount: float) -> dict[str, Any]:
    if isinstance(amount, int):
        return {"name": name, "type": "INTEGER", "integerValue": amount}
    return {"name": name, "type": "DOUBLE", "doubleValue": amount}


def dump_resources(resources: Resources, scalar_names: Iterable[str] = ()) -> list[dict[str, Any]]:
    """ECS's resource list: CPU, MEMORY, PORTS, PORTS_UDP and each custom scalar.

    ``scalar_names`` are listed even at 0 (an instance's remaining GPUs, say).
    """
    items = [_resource("CPU", resources.cpu), _resource("MEMORY", resources.memory)]
    items.append({"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in sorted(resources.ports)]})
    items.append(
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [str(p) for p in sorted(resources.ports_udp)]}
    )
    amounts: dict[str, float] = dict.fromkeys(scalar_names, 0)
    amounts.update(resources.scalars)
    items.extend(_resource(name, amount) for name, amount in sorted(amounts.items()))
    return items


def load_resources(items: Any) -> Resources:
    """Resources from ECS's resource list (the inverse of ``dump_resources``)."""
    if not isinstance(items, list):
        raise ValidationError("resources", items, "must be a list of ECS resources")
    amounts: dict[str, Any] = {"cpu": 0, "memory": 0, "ports": (), "ports_udp": ()}
    scalars: dict[str, float] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ValidationError(f"resources[{index}]", item, "must be an object with a name")
        name, kind = item["name"], item.get("type", "INTEGER")
        if kind == "STRINGSET":
            try:
                ports = tuple(int(port) for port in item.get("stringSetValue", []))
            except (TypeError, ValueError):
                raise ValidationError(
                    f"resources[{index}].stringSetValue", item.get("stringSetValue"), "must list port numbers"
                ) from None
            key = {"PORTS": "ports", "PORTS_UDP": "ports_udp"}.get(name)
            if key is None:
                raise ValidationError(f"resources[{index}].name", name, "only PORTS and PORTS_UDP are string sets")
            amounts[key] = ports
            continue
        value = item.get({"INTEGER": "integerValue", "LONG": "longValue", "DOUBLE": "doubleValue"}.get(kind, ""))
        if kind not in ("INTEGER", "DOUBLE", "LONG") or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"resources[{index}]", item, "needs a numeric integerValue, longValue or doubleValue")
        if name in ("CPU", "MEMORY"):
            amounts[name.lower()] = value
        else:
            scalars[name] = value
    return Resources(scalars=scalars, **amounts)


def dump_container_instance(instance: ContainerInstance, arns: Arns) -> dict[str, Any]:
    """ECS ``describe-container-instances`` JSON for one instance."""
    data: dict[str, Any] = {
        "containerInstanceArn": arns.container_instance(instance.id),
        "version": instance.version,
        "versionInfo": {"agentVersion": instance.agent_version},
        "status": instance.status,
        "agentConnected": instance.agent_connected,
        "runningTasksCount": instance.running_tasks_count,
        "pendingTasksCount": instance.pending_tasks_count,
        "registeredResources": dump_resources(instance.registered),
        "remainingResources": dump_resources(instance.remaining, instance.registered.scalar_map),
        "attributes": [
            {"name": name} if value is None else {"name": name, "value": value} for name, value in instance.attributes
        ],
        "registeredAt": instance.registered_at,
    }
    if instance.ec2_instance_id is not None:
        data["ec2InstanceId"] = instance.ec2_instance_id
    return data


def load_container_instance(data: Mapping[str, Any]) -> ContainerInstance:
    """A ContainerInstance from ``dump_container_instance`` output."""
    raw = _json_object(data, "containerInstance")
    try:
        attributes = [(item["name"], item.get("value")) for item in raw.get("attributes", [])]
        fields: dict[str, Any] = {
            "id": Arns.last_part(raw["containerInstanceArn"]),
            "registered": load_resources(raw["registeredResources"]),
            "remaining": load_resources(raw["remainingResources"]),
            "attributes": attributes,
            "agent_version": raw.get("versionInfo", {}).get("agentVersion", "1.0.0"),
            "ec2_instance_id": raw.get("ec2InstanceId"),
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(
            "containerInstance", exc.args[0] if exc.args else None, "is malformed or incomplete"
        ) from exc
    for key in ("status", "agentConnected", "runningTasksCount", "pendingTasksCount", "version", "registeredAt"):
        if key in raw:
            fields[_snake(key)] = raw[key]
    return ContainerInstance(**fields)


def _snake(name: str) -> str:
    return "".join("_" + char.lower() if char.isupper() else char for char in name)


def dump_task(task: Task, arns: Arns) -> dict[str, Any]:
    """ECS ``describe-tasks`` JSON for one task.

    What the task holds on its instance (``task.charge``) has no place in ECS's Task: the
    save file keeps it beside this JSON.
    """
    containers: dict[str, list[dict[str, Any]]] = {}  # in binding order, so a restore keeps it
    for binding in task.host_ports:
        containers.setdefault(binding.container_name, []).append(
            {
                "bindIP": "0.0.0.0",
                "containerPort": binding.container_port,
                "hostPort": binding.host_port,
                "protocol": binding.protocol,
            }
        )
    data: dict[str, Any] = {
        "taskArn": arns.task(task.id),
        "clusterArn": arns.cluster_arn,
        "taskDefinitionArn": arns.task_definition(task.task_definition),
        "containerInstanceArn": arns.container_instance(task.container_instance_id),
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "healthStatus": task.health_status,
        "group": task.group,
        "version": task.version,
        "createdAt": task.created_at,
        "cpu": str(task.charge.cpu),
        "memory": str(task.charge.memory),
        "containers": [{"name": name, "networkBindings": bindings} for name, bindings in containers.items()],
    }
    optional = {
        "startedBy": task.started_by,
        "stopCode": task.stop_code,
        "stoppedReason": task.stopped_reason,
        "startedAt": task.started_at,
        "stoppingAt": task.stopping_at,
        "stoppedAt": task.stopped_at,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def load_task(data: Mapping[str, Any], charge: Resources) -> Task:
    """A Task from ``dump_task`` output; ``charge`` is what it holds on its instance (which
    describe output does not say: the save file keeps it beside the task).
    """
    raw = _json_object(data, "task")
    try:
        bindings = [
            PortBinding(
                container["name"], binding["containerPort"], binding["hostPort"], binding.get("protocol", "tcp")
            )
            for container in raw.get("containers", [])
            for binding in container.get("networkBindings", [])
        ]
        fields: dict[str, Any] = {
            "id": Arns.last_part(raw["taskArn"]),
            "task_definition": raw["taskDefinitionArn"].rsplit("/", 1)[-1],
            "container_instance_id": Arns.last_part(raw["containerInstanceArn"]),
            "charge": charge,
            "host_ports": tuple(bindings),
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError("task", exc.args[0] if exc.args else None, "is malformed or incomplete") from exc
    for key in (
        "lastStatus",
        "desiredStatus",
        "healthStatus",
        "group",
        "startedBy",
        "stopCode",
        "stoppedReason",
        "version",
        "createdAt",
        "startedAt",
        "stoppingAt",
        "stoppedAt",
    ):
        if key in raw:
            fields[_snake(key)] = raw[key]
    return Task(**fields)


def dump_service(service: Service, arns: Arns, counts: Mapping[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """ECS ``describe-services`` JSON for one service.

    ``counts`` maps a deployment id to its (running, pending) tasks, as
    ``Snapshot.service_counts`` gives them; the service's counts are their sums.
    """
    counts = counts or {}
    config = service.deployment_configuration
    breaker = config.deployment_circuit_breaker
    return {
        "serviceArn": arns.service(service.name),
        "serviceName": service.name,
        "clusterArn": arns.cluster_arn,
        "status": service.status,
        "desiredCount": service.desired_count,
        "runningCount": sum(running for running, _ in counts.values()),
        "pendingCount": sum(pending for _, pending in counts.values()),
        "launchType": "EC2",
        "taskDefinition": arns.task_definition(service.task_definition),
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": breaker.enable, "rollback": breaker.rollback},
            "maximumPercent": config.maximum_percent,
            "minimumHealthyPercent": config.minimum_healthy_percent,
        },
        "deployments": _dump_deployments(service.deployments, arns, counts),
        "events": [
            {"id": event.id, "createdAt": event.created_at, "message": event.message} for event in service.events
        ],
        "createdAt": service.created_at,
        "placementConstraints": [
            {"type": item.type, "expression": item.expression} if item.expression else {"type": item.type}
            for item in service.placement_constraints
        ],
        "placementStrategy": [strategy.to_ecs() for strategy in service.placement_strategy],
        "healthCheckGracePeriodSeconds": service.health_check_grace_period_seconds,
        "loadBalancers": [dump_load_balancer(balancer) for balancer in service.load_balancers],
        "schedulingStrategy": service.scheduling_strategy,
        "deploymentController": {"type": "ECS"},
    }


def _dump_deployments(
    deployments: Iterable[Deployment], arns: Arns, counts: Mapping[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    return [
        {
            "id": deployment.id,
            "status": deployment.status,
            "taskDefinition": arns.task_definition(deployment.task_definition),
            "desiredCount": deployment.desired_count,
            "pendingCount": counts.get(deployment.id, (0, 0))[1],
            "runningCount": counts.get(deployment.id, (0, 0))[0],
            "failedTasks": deployment.failed_tasks,
            "createdAt": deployment.created_at,
            "updatedAt": deployment.updated_at,
            "launchType": "EC2",
            "rolloutState": deployment.rollout_state,
            "rolloutStateReason": deployment.rollout_state_reason,
        }
        for deployment in deployments
    ]


SCHEDULER_KEY: Final = "scheduler"
"""The save file's key for a service's scheduler bookkeeping, beside its describe JSON."""


def dump_service_record(service: Service, arns: Arns) -> dict[str, Any]:
    """A service as the save file keeps it: ``{"service": <describe JSON>, "scheduler": {...}}``.

    ``scheduler`` holds what ECS does not show: the tasks the service scheduler tracks, those
    it has seen healthy, the launch back-off, and the record's version.
    """
    return {
        "service": dump_service(service, arns),
        SCHEDULER_KEY: {
            "trackedTasks": sorted(service.tracked_tasks),
            "healthySeen": sorted(service.healthy_seen),
            "launchFailures": service.launch_failures,
            "nextLaunchAt": service.next_launch_at,
            "version": service.version,
        },
    }


def load_deployment_configuration(
    data: Mapping[str, Any], base: DeploymentConfiguration | None = None
) -> DeploymentConfiguration:
    """A DeploymentConfiguration from ECS JSON; keys not given keep ``base``'s values.

    ``{"maximumPercent": 150, "deploymentCircuitBreaker": {"enable": true, "rollback": true}}``.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("deploymentConfiguration", data, "must be a JSON object")
    known = ("maximumPercent", "minimumHealthyPercent", "deploymentCircuitBreaker", "alarms")
    for key in sorted(set(data) - set(known)):
        raise unknown_field(f"deploymentConfiguration.{key}", key, data[key], "DeploymentConfiguration", known)
    breaker = data.get("deploymentCircuitBreaker", {})
    if not isinstance(breaker, Mapping):
        raise ValidationError(
            "deploymentConfiguration.deploymentCircuitBreaker", breaker, 'must be {"enable": ..., "rollback": ...}'
        )
    for key in sorted(set(breaker) - {"enable", "rollback"}):
        field = f"deploymentConfiguration.deploymentCircuitBreaker.{key}"
        raise unknown_field(field, key, breaker[key], "DeploymentCircuitBreaker", ("enable", "rollback"))
    base = base if base is not None else DeploymentConfiguration()
    current = base.deployment_circuit_breaker
    try:
        return DeploymentConfiguration(
            data.get("maximumPercent", base.maximum_percent),
            data.get("minimumHealthyPercent", base.minimum_healthy_percent),
            DeploymentCircuitBreaker(breaker.get("enable", current.enable), breaker.get("rollback", current.rollback)),
        )
    except ValidationError as error:
        raise error.within("deploymentConfiguration") from None


def dump_load_balancer(balancer: LoadBalancer) -> dict[str, Any]:
    """ECS JSON for one entry of a service's ``loadBalancers``."""
    return {
        "targetGroupArn": balancer.target_group_arn,
        "containerName": balancer.container_name,
        "containerPort": balancer.container_port,
    }


def load_load_balancers(items: Any) -> tuple[LoadBalancer, ...]:
    """A service's ``loadBalancers`` from ECS JSON (or LoadBalancer values, passed through).

    ``[{"targetGroupArn": "arn:...:targetgroup/web/...", "containerName": "web", "containerPort": 80}]``;
    ``loadBalancerName`` (a Classic Load Balancer) is refused.
    """
    if items is None:
        return ()
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ValidationError("loadBalancers", items, "must be a list")
    balancers: list[LoadBalancer] = []
    for index, item in enumerate(items):
        if isinstance(item, LoadBalancer):
            balancers.append(item)
            continue
        field = f"loadBalancers[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(field, item, "must be a JSON object")
        unknown = set(item) - {"targetGroupArn", "containerName", "containerPort"}
        if unknown:
            raise ValidationError(f"{field}.{sorted(unknown)[0]}", item, "is not supported (target groups only)")
        for key in ("targetGroupArn", "containerName", "containerPort"):
            if key not in item:
                raise ValidationError(f"{field}.{key}", None, "is required")
        try:
            balancers.append(LoadBalancer(item["targetGroupArn"], item["containerName"], item["containerPort"]))
        except ValidationError as error:
            raise ValidationError(error.field.replace("loadBalancers", field, 1), error.value, error.problem) from None
    return tuple(balancers)


SPEC_KEY: Final = "spec"
"""A service spec document's key for what ECS does not show (generations, version), beside its describe JSON."""
_SPEC_FIELDS: Final = (
    "serviceArn",
    "serviceName",
    "clusterArn",
    "status",
    "desiredCount",
    "launchType",
    "taskDefinition",
    "deploymentConfiguration",
    "createdAt",
    "placementConstraints",
    "placementStrategy",
    "healthCheckGracePeriodSeconds",
    "loadBalancers",
    "schedulingStrategy",
    "deploymentController",
)


def dump_service_spec(spec: ServiceSpec, arns: Arns) -> dict[str, Any]:
    """A service spec's document: ``{"service": <describe JSON of the spec's fields>, "spec": {...}}``,
    the second holding its generations, when it was last written and its version.
    """
    described = dump_service(compose(spec, ServiceStatus(spec.name)), arns)
    return {
        "service": {key: described[key] for key in _SPEC_FIELDS},
        SPEC_KEY: {
            "generation": spec.generation,
            "deploymentGeneration": spec.deployment_generation,
            "updatedAt": spec.updated_at,
            "version": spec.version,
        },
    }


def load_service_spec(data: Mapping[str, Any]) -> ServiceSpec:
    """A ServiceSpec from ``dump_service_spec`` output."""
    outer = _json_object(data, "service")
    extra = outer.get(SPEC_KEY)
    if not isinstance(extra, Mapping):
        raise ValidationError("service", SPEC_KEY, "is malformed or incomplete")
    spec, _ = split(load_service({"service": outer.get("service")}))
    try:
        return attrs.evolve(
            spec,
            generation=extra["generation"],
            deployment_generation=extra["deploymentGeneration"],
            updated_at=extra.get("updatedAt", 0.0),
            version=extra["version"],
        )
    except KeyError as exc:
        raise ValidationError("service", exc.args[0], "is malformed or incomplete") from exc


def dump_service_status(status: ServiceStatus, arns: Arns) -> dict[str, Any]:
    """A service status's document: ``{"serviceName", "deployments", "events"}`` as ECS shows
    them, and ``"scheduler"``: the tasks tracked and seen healthy, the launch back-off,
    ``inactive``, the spec generation observed and the status's version.
    """
    return {
        "serviceName": status.name,
        "deployments": _dump_deployments(status.deployments, arns, {}),
        "events": [{"id": e.id, "createdAt": e.created_at, "message": e.message} for e in status.events],
        SCHEDULER_KEY: {
            "trackedTasks": sorted(status.tracked_tasks),
            "healthySeen": sorted(status.healthy_seen),
            "launchFailures": status.launch_failures,
            "nextLaunchAt": status.next_launch_at,
            "inactive": status.inactive,
            "observedGeneration": status.observed_generation,
            "version": status.version,
        },
    }


def load_service_status(data: Mapping[str, Any]) -> ServiceStatus:
    """A ServiceStatus from ``dump_service_status`` output."""
    raw = _json_object(data, "serviceStatus")
    record: Any = raw.get(SCHEDULER_KEY)
    try:
        return ServiceStatus(
            name=raw["serviceName"],
            deployments=_load_deployments(raw),
            events=_load_events(raw),
            tracked_tasks=frozenset(record["trackedTasks"]),
            healthy_seen=frozenset(record["healthySeen"]),
            launch_failures=record["launchFailures"],
            next_launch_at=record["nextLaunchAt"],
            inactive=record["inactive"],
            observed_generation=record["observedGeneration"],
            version=record["version"],
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError("serviceStatus", exc.args[0] if exc.args else None, "is malformed or incomplete") from exc


def _load_deployments(raw: Mapping[str, Any]) -> tuple[Deployment, ...]:
    return tuple(
        Deployment(
            id=item["id"],
            task_definition=item["taskDefinition"].rsplit("/", 1)[-1],
            desired_count=item["desiredCount"],
            status=item["status"],
            rollout_state=item.get("rolloutState", "COMPLETED"),
            rollout_state_reason=item.get("rolloutStateReason", ""),
            failed_tasks=item.get("failedTasks", 0),
            created_at=item.get("createdAt", 0.0),
            updated_at=item.get("updatedAt", 0.0),
        )
        for item in raw.get("deployments", [])
    )


def _load_events(raw: Mapping[str, Any]) -> tuple[ServiceEvent, ...]:
    return tuple(ServiceEvent(item["id"], item["createdAt"], item["message"]) for item in raw.get("events", []))


def load_service(data: Mapping[str, Any]) -> Service:
    """A Service from ``dump_service_record`` output (or plain ``dump_service`` output):
    the save file's format 3 and older, one record per service.
    """
    outer = _json_object(data, "service")
    raw = outer["service"] if isinstance(outer.get("service"), Mapping) else outer
    record = outer.get(SCHEDULER_KEY, {})
    try:
        config = raw.get("deploymentConfiguration", {})
        deployments = _load_deployments(raw)
        events = _load_events(raw)
        return Service(
            name=raw["serviceName"],
            task_definition=raw["taskDefinition"].rsplit("/", 1)[-1],
            desired_count=raw.get("desiredCount", 0),
            scheduling_strategy=raw.get("schedulingStrategy", "REPLICA"),
            deployment_configuration=load_deployment_configuration(config),
            placement_constraints=load_constraints(raw.get("placementConstraints", [])),
            placement_strategy=load_strategies(raw.get("placementStrategy", [])),
            health_check_grace_period_seconds=raw.get("healthCheckGracePeriodSeconds", 0),
            load_balancers=load_load_balancers(raw.get("loadBalancers", [])),
            status=raw.get("status", "ACTIVE"),
            deployments=deployments,
            events=events,
            tracked_tasks=frozenset(record.get("trackedTasks", ())),
            healthy_seen=frozenset(record.get("healthySeen", ())),
            launch_failures=record.get("launchFailures", 0),
            next_launch_at=record.get("nextLaunchAt", 0.0),
            created_at=raw.get("createdAt", 0.0),
            version=record.get("version", 1),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError("service", exc.args[0] if exc.args else None, "is malformed or incomplete") from exc


def structure(data: Any, cls: type[T]) -> T:
    """Structure ECS JSON into any model class, raising ValidationError with the JSON path."""
    return _structure(data, cls)


def unstructure(value: Any) -> Any:
    """ECS JSON for any model value the converter knows."""
    return converter.unstructure(value)


converter: Final = _build_converter()
Unstructurer = Callable[[Any], Any]
