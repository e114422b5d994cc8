"""Saving a snapshot to a JSON file and restoring it (embedded durability).

The file holds ECS's describe output for every object, plus what clusterkit keeps that ECS
does not show, each beside the ECS JSON it belongs to:

- ``taskDefinitions``: ``describe-task-definition`` output (``{"taskDefinition", "tags"}``);
- ``containerInstances``: ``{"containerInstance": <describe-container-instances output>,
  "lastHeartbeatAt": ...}``, the second being when the instance's agent last said it was
  alive (seconds, or null);
- ``tasks``: ``{"task": <describe-tasks output>, "chargedResources": [...]}``, the second
  being what the task holds on its instance (static and dynamic host ports, custom
  scalars), in ECS's resource-list form;
- ``services``: ``{"spec": <spec document>, "status": <status document>}``, a service's two
  records, each versioned on its own (``clusterkit.state``): the spec is
  ``{"service": <describe-services output of its fields>, "spec": {"generation",
  "deploymentGeneration", "updatedAt", "version"}}``, the status ``{"serviceName",
  "deployments", "events", "scheduler": {...}}``, the last being the service scheduler's
  bookkeeping (tracked tasks, launch back-off, ``inactive``, the observed generation, the
  version);
- ``version`` (the cluster's), ``familyRevisions`` (each family's last revision) and
  ``cluster`` (name, region, account).

Format versions 1 (where a task's ``chargedResources`` sat inside the task and a task
definition was the bare definition), 2 (where an instance was its bare describe output) and
3 (where a service was one record, ``{"service": <describe-services output>, "scheduler":
{...}}``, read as a spec and a status at its version, generation 1 observed) are still read.
Writes go to a temporary file that is synced and renamed over the target, so a crash leaves
either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from clusterkit.errors import ValidationError
from clusterkit.model import Arns, check_int
from clusterkit.state._apply import Pending, write
from clusterkit.state._invariants import state_violations
from clusterkit.state._ptree import Owner
from clusterkit.state._records import (
    decode_instance,
    decode_service,
    decode_service_spec,
    decode_service_status,
    decode_task,
    decode_task_definition,
    encode_instance,
    encode_service_spec,
    encode_service_status,
    encode_task,
    encode_task_definition,
)
from clusterkit.state._snapshot import Roots, Snapshot
from clusterkit.state._store import empty_roots

__all__ = ["load_roots", "save_snapshot"]

FORMAT: Final = "clusterkit-state"
FORMAT_VERSION: Final = 4
READABLE_VERSIONS: Final = (1, 2, 3, 4)


def save_snapshot(snapshot: Snapshot, path: str | os.PathLike[str]) -> None:
    """Write ``snapshot`` to ``path`` atomically."""
    arns = snapshot.arns
    data: dict[str, Any] = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "cluster": {"name": arns.cluster, "region": arns.region, "account": arns.account},
        "version": snapshot.version,
        "familyRevisions": dict(snapshot._roots.family_revisions.items()),
        "taskDefinitions": [encode_task_definition(d) for d in snapshot.task_definitions()],
        "containerInstances": [encode_instance(i, arns) for i in snapshot.instances()],
        "tasks": [encode_task(t, arns) for t in snapshot.tasks()],
        "services": [
            {
                "spec": encode_service_spec(snapshot.service_spec(name), arns),
                "status": encode_service_status(snapshot.service_status(name), arns),
            }
            for name in sorted(snapshot._roots.service_specs)
        ],
    }
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, separators=(",", ":"))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_roots(path: str | os.PathLike[str]) -> tuple[Roots, Arns]:
    """The roots and ARN settings saved at ``path``; ValidationError when the file is not
    a clusterkit state or is inconsistent.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValidationError("path", str(path), f"is not JSON: {exc}") from exc
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or type(data.get("formatVersion")) is not int
        or data["formatVersion"] not in READABLE_VERSIONS
    ):
        raise ValidationError(
            "format",
            data.get("format") if isinstance(data, dict) else data,
            f"is not {FORMAT} v{' or v'.join(map(str, READABLE_VERSIONS))}",
        )
    format_version: int = data["formatVersion"]
    cluster = data.get("cluster", {})
    for field in ("cluster", "familyRevisions"):
        if not isinstance(data.get(field, {}), dict):
            raise ValidationError(field, data.get(field), "must be a JSON object")
    for field in ("taskDefinitions", "containerInstances", "tasks", "services"):
        if not isinstance(data.get(field, []), list):
            raise ValidationError(field, data.get(field), "must be a JSON list")
    arns = Arns(cluster.get("name", "default"), cluster.get("region", "local"), cluster.get("account", "000000000000"))
    version = check_int("version", data.get("version"), 0)
    pending = Pending(empty_roots(), 0.0)
    pending.version = version
    for item in data.get("taskDefinitions", []):
        definition = decode_task_definition(item)
        pending.task_definitions[definition.key] = definition
    for family, revision in data.get("familyRevisions", {}).items():
        pending.family_revisions[family] = check_int(f"familyRevisions[{family!r}]", revision, 1)
    for definition in pending.task_definitions.values():  # never hand out a stored revision again
        family = definition.family
        pending.family_revisions[family] = max(pending.family_revisions.get(family, 0), definition.revision)
    for item in data.get("containerInstances", []):
        instance = decode_instance(item)
        pending.instances[instance.id] = instance
    for item in data.get("tasks", []):
        task = decode_task(item, charge_inside=format_version == 1)
        pending.tasks[task.id] = task
    for item in data.get("services", []):
        if format_version < 4:
            spec, status = decode_service(item)
        elif not isinstance(item, dict) or "spec" not in item or "status" not in item:
            raise ValidationError("services", item, 'each service is {"spec": ..., "status": ...}')
        else:
            spec, status = decode_service_spec(item["spec"]), decode_service_status(item["status"])
            if status.name != spec.name:
                raise ValidationError("services", status.name, f"is the status of another service than {spec.name}")
        pending.service_specs[spec.name] = spec
        pending.service_statuses[spec.name] = status
    roots = write(empty_roots(), pending, Owner())
    problems = state_violations(Snapshot(roots, arns))
    if problems:
        raise ValidationError("path", str(path), "is inconsistent: " + "; ".join(problems[:5]))
    return roots, arns
