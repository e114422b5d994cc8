"""Workloads: timed events in clusterkit's own JSON Lines format.

A workload file has one JSON object per line (blank lines are skipped), each an event with
``at`` (seconds from the start of the workload, never going back from one line to the next)
and ``type``::

    {"at": 0, "type": "instance_join", "instance": "i-1", "cpu": 4096, "memory": 16384, "zone": "a"}
    {"at": 5, "type": "batch_task", "cpu": 512, "memory": 1024, "duration": 120, "count": 3}
    {"at": 9, "type": "create_service", "service": "web", "taskDefinition": "web:1", "desiredCount": 4}

The fields of every event type are declared once, on the event classes below; the reader,
the writer and the JSON Schema (:func:`workload_schema`, shipped as
``docs/workload.schema.json``) all come from those declarations. A bad line raises
:class:`WorkloadError` naming the line number and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, TypeAlias

import attrs

from clusterkit.ecs_json import load_task_definition
from clusterkit.errors import ValidationError

__all__ = [
    "BatchTask",
    "Crash",
    "CreateService",
    "DeleteService",
    "InstanceJoin",
    "InstanceLeave",
    "Load",
    "RegisterDefinition",
    "Unhealthy",
    "UpdateService",
    "WorkloadError",
    "WorkloadEvent",
    "dump_event",
    "parse_event",
    "read_workload",
    "workload_schema",
    "write_workload",
]

Kind = Literal["string", "integer", "number", "object", "string_map"]


class WorkloadError(ValidationError):
    """A workload line that is not a valid event; ``line`` is its 1-based number (0 when unknown)."""

    def __init__(self, line: int, field: str, value: object, problem: str) -> None:
        self.line = line
        super().__init__(field, value, problem)
        self.args = (f"workload line {line}, field {field!r}: {problem} (got {_short(value)})",)

    def __str__(self) -> str:
        return str(self.args[0])


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def spec(
    json_name: str,
    kind: Kind,
    doc: str,
    *,
    minimum: float | None = None,
    exclusive: bool = False,
    choices: tuple[str, ...] = (),
    default: Any = attrs.NOTHING,
) -> Any:
    """An event field: its JSON name, JSON kind, bounds and meaning (also the schema's description)."""
    metadata: dict[str, Any] = {"json": json_name, "kind": kind, "doc": doc, "minimum": minimum}
    metadata |= {"exclusive": exclusive, "choices": choices}
    if default is attrs.NOTHING:
        return attrs.field(metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


_AT = "Seconds from the start of the workload; never less than the line before."


@attrs.frozen
class InstanceJoin:
    """A container instance joins the cluster with ``cpu`` units and ``memory`` MiB."""

    TYPE: ClassVar[str] = "instance_join"
    at: float = spec("at", "number", _AT, minimum=0)
    instance: str = spec("instance", "string", "The instance's id, unique among the instances present.")
    cpu: int = spec("cpu", "integer", "CPU units it registers (1024 per core).", minimum=1)
    memory: int = spec("memory", "integer", "Memory it registers, MiB.", minimum=1)
    zone: str | None = spec("zone", "string", "Its ecs.availability-zone attribute.", default=None)
    attributes: Mapping[str, str] = spec(
        "attributes", "string_map", "More attributes, name to value.", default=attrs.Factory(dict)
    )


@attrs.frozen
class InstanceLeave:
    """A container instance leaves: its tasks are lost with it."""

    TYPE: ClassVar[str] = "instance_leave"
    at: float = spec("at", "number", _AT, minimum=0)
    instance: str = spec("instance", "string", "The id an instance_join gave it.")


@attrs.frozen
class RegisterDefinition:
    """A task definition is registered (ECS registerTaskDefinition JSON, checked on reading)."""

    TYPE: ClassVar[str] = "register_task_definition"
    at: float = spec("at", "number", _AT, minimum=0)
    definition: Mapping[str, Any] = spec("definition", "object", "The task definition, as ECS takes it.")


@attrs.frozen
class BatchTask:
    """``count`` tasks arrive needing ``cpu`` and ``memory``; each runs ``duration`` seconds once placed."""

    TYPE: ClassVar[str] = "batch_task"
    at: float = spec("at", "number", _AT, minimum=0)
    cpu: int = spec("cpu", "integer", "CPU units each task reserves.", minimum=0)
    memory: int = spec("memory", "integer", "Memory each task reserves, MiB.", minimum=1)
    duration: float = spec("duration", "number", "Seconds each task runs once placed.", minimum=0, exclusive=True)
    count: int = spec("count", "integer", "How many identical tasks arrive.", minimum=1, default=1)
    job: str | None = spec("job", "string", "The job the tasks belong to (their startedBy).", default=None)
    family: str | None = spec(
        "family",
        "string",
        "The task definition family they run as (batch-CPU-MEMORY when absent): placement rules tied to a"
        " family apply to them.",
        default=None,
    )


@attrs.frozen
class CreateService:
    """A service is created (desired count, task definition, ECS scheduling strategy)."""

    TYPE: ClassVar[str] = "create_service"
    at: float = spec("at", "number", _AT, minimum=0)
    service: str = spec("service", "string", "The service's name.")
    task_definition: str = spec("taskDefinition", "string", "family or family:revision, registered earlier.")
    desired_count: int = spec("desiredCount", "integer", "Tasks it keeps running (REPLICA).", minimum=0, default=1)
    scheduling_strategy: str = spec(
        "schedulingStrategy", "string", "REPLICA or DAEMON.", choices=("REPLICA", "DAEMON"), default="REPLICA"
    )


@attrs.frozen
class UpdateService:
    """A service's desired count or task definition changes (a new deployment for the latter)."""

    TYPE: ClassVar[str] = "update_service"
    at: float = spec("at", "number", _AT, minimum=0)
    service: str = spec("service", "string", "The service's name.")
    desired_count: int | None = spec("desiredCount", "integer", "The new desired count.", minimum=0, default=None)
    task_definition: str | None = spec("taskDefinition", "string", "The new task definition.", default=None)


@attrs.frozen
class DeleteService:
    """A service is deleted (scaled to zero and removed)."""

    TYPE: ClassVar[str] = "delete_service"
    at: float = spec("at", "number", _AT, minimum=0)
    service: str = spec("service", "string", "The service's name.")


@attrs.frozen
class Load:
    """A service's offered load changes: the CPU units of work it needs, spread over its tasks."""

    TYPE: ClassVar[str] = "load"
    at: float = spec("at", "number", _AT, minimum=0)
    service: str = spec("service", "string", "The service's name.")
    demand: float = spec("demand", "number", "CPU units of work, in total over the service's tasks.", minimum=0)


@attrs.frozen
class Crash:
    """``count`` of a service's running tasks crash (their essential container exits)."""

    TYPE: ClassVar[str] = "crash"
    at: float = spec("at", "number", _AT, minimum=0)
    service: str = spec("service", "string", "The service's name.")
    count: int = spec("count", "integer", "How many of its running tasks crash.", minimum=1, default=1)


@attrs.frozen
class Unhealthy:
    """``count`` of a service's running tasks fail their health check for ``duration`` seconds."""

    TYPE: ClassVar[str] = "unhealthy"
    at: float = spec("at", "number", _AT, minimum=0)
    service: str = spec("service", "string", "The service's name.")
    duration: float = spec("duration", "number", "Seconds the spell lasts.", minimum=0, exclusive=True)
    count: int = spec("count", "integer", "How many of its running tasks turn unhealthy.", minimum=1, default=1)


WorkloadEvent: TypeAlias = (
    InstanceJoin
    | InstanceLeave
    | RegisterDefinition
    | BatchTask
    | CreateService
    | UpdateService
    | DeleteService
    | Load
    | Crash
    | Unhealthy
)
"""One workload event."""

EVENT_TYPES: dict[str, type[WorkloadEvent]] = {
    cls.TYPE: cls
    for cls in (
        InstanceJoin,
        InstanceLeave,
        RegisterDefinition,
        BatchTask,
        CreateService,
        UpdateService,
        DeleteService,
        Load,
        Crash,
        Unhealthy,
    )
}


def _check_value(line: int, field: attrs.Attribute[Any], value: Any) -> Any:
    meta = field.metadata
    name, kind = meta["json"], meta["kind"]
    if kind == "string":
        if not isinstance(value, str) or not value:
            raise WorkloadError(line, name, value, "must be a non-empty string")
        if meta["choices"] and value not in meta["choices"]:
            raise WorkloadError(line, name, value, f"must be one of {list(meta['choices'])}")
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise WorkloadError(line, name, value, "must be a JSON object")
        return value
    if kind == "string_map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise WorkloadError(line, name, value, "must be an object of string values")
        return dict(value)
    integer = kind == "integer"
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise WorkloadError(line, name, value, "must be a whole number" if integer else "must be a number")
    if not math.isfinite(value):
        raise WorkloadError(line, name, value, "must be finite")
    low = meta["minimum"]
    if low is not None and (value <= low if meta["exclusive"] else value < low):
        raise WorkloadError(line, name, value, f"must be {'>' if meta['exclusive'] else '>='} {low:g}")
    return value if integer else float(value)


def parse_event(raw: Any, *, line: int = 0) -> WorkloadEvent:
    """One event from its decoded JSON object; ``line`` names it in errors."""
    if not isinstance(raw, dict):
        raise WorkloadError(line, "", raw, "must be a JSON object")
    kind = raw.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise WorkloadError(line, "type", kind, f"must be one of {sorted(EVENT_TYPES)}")
    fields = attrs.fields(cls)
    known = {field.metadata["json"] for field in fields} | {"type"}
    for key in raw:
        if key not in known:
            raise WorkloadError(line, key, raw[key], f"is not a field of {kind} (fields: {sorted(known - {'type'})})")
    values: dict[str, Any] = {}
    for field in fields:
        name = field.metadata["json"]
        if name not in raw or raw[name] is None:
            if field.default is attrs.NOTHING:
                raise WorkloadError(line, name, None, f"is required for {kind}")
            continue
        values[field.name] = _check_value(line, field, raw[name])
    if cls is RegisterDefinition:
        try:
            load_task_definition(values["definition"])
        except ValidationError as error:
            raise WorkloadError(line, f"definition.{error.field}", error.value, error.problem) from None
    if cls is UpdateService and "desired_count" not in values and "task_definition" not in values:
        raise WorkloadError(line, "desiredCount", None, "update_service needs desiredCount or taskDefinition")
    return cls(**values)


def dump_event(event: WorkloadEvent) -> dict[str, Any]:
    """The event's JSON object, fields left at their defaults omitted."""
    out: dict[str, Any] = {"at": event.at, "type": event.TYPE}
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        if field.name == "at" or (field.default is not attrs.NOTHING and _is_default(field, value)):
            continue
        out[field.metadata["json"]] = dict(value) if isinstance(value, Mapping) else value
    return out


def _is_default(field: attrs.Attribute[Any], value: Any) -> bool:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return bool(value == default.factory())
    return bool(value == default)


def read_workload(source: str | Path | IO[str] | Iterable[str]) -> Iterator[WorkloadEvent]:
    """The events of a workload file (a path, an open text file or lines), checked line by line."""
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8") as handle:
            yield from read_workload(handle)
        return
    last = 0.0
    for number, text in enumerate(source, start=1):
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise WorkloadError(number, "", text.strip(), f"is not JSON ({error.msg})") from None
        event = parse_event(raw, line=number)
        if event.at < last:
            raise WorkloadError(number, "at", event.at, f"goes back in time (the line before is at {last:g})")
        last = event.at
        yield event


def write_workload(events: Iterable[WorkloadEvent], target: str | Path | IO[str]) -> int:
    """Write ``events`` as JSON Lines; returns how many were written."""
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8") as handle:
            return write_workload(events, handle)
    count = 0
    for event in events:
        target.write(json.dumps(dump_event(event), separators=(",", ":")) + "\n")
        count += 1
    return count


_SCHEMA_KIND = {"string": "string", "integer": "integer", "number": "number", "object": "object"}


def _field_schema(field: attrs.Attribute[Any]) -> dict[str, Any]:
    meta = field.metadata
    if meta["kind"] == "string_map":
        schema: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
    else:
        schema = {"type": _SCHEMA_KIND[meta["kind"]]}
    if meta["kind"] == "string":
        schema["minLength"] = 1
    if meta["choices"]:
        schema["enum"] = list(meta["choices"])
    if meta["minimum"] is not None:
        schema["exclusiveMinimum" if meta["exclusive"] else "minimum"] = meta["minimum"]
    schema["description"] = meta["doc"]
    return schema


def workload_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one workload line, built from the event declarations."""
    variants = []
    for name, cls in EVENT_TYPES.items():
        fields = attrs.fields(cls)
        properties = {"type": {"const": name}} | {f.metadata["json"]: _field_schema(f) for f in fields}
        required = ["type"] + [f.metadata["json"] for f in fields if f.default is attrs.NOTHING]
        variant = {
            "title": name,
            "description": (cls.__doc__ or "").strip(),
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        if cls is UpdateService:
            variant["anyOf"] = [{"required": ["desiredCount"]}, {"required": ["taskDefinition"]}]
        variants.append(variant)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "clusterkit-workload-line",
        "title": "One line of a clusterkit workload (JSON Lines)",
        "oneOf": variants,
    }
