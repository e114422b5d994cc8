"""A task on an instance chosen by the caller (ECS StartTask, a daemon's one task per instance)."""

from __future__ import annotations

from clusterkit.model import Resources, Task, TaskDefinition
from clusterkit.placement._ports import PortRange, assign_host_ports
from clusterkit.state import new_id

__all__ = ["pinned_task"]


def pinned_task(
    definition: TaskDefinition,
    instance_id: str,
    remaining: Resources,
    *,
    dynamic_ports: PortRange,
    group: str | None,
    started_by: str | None,
    now: float,
) -> tuple[Task, Resources] | None:
    """A new task of ``definition`` on ``instance_id`` given what is ``remaining`` there.

    Returns the task (host ports assigned) and what remains after it when it fits, what
    remains unchanged when it does not (the commit then rejects it with the reason), or
    None when no host ports are free (``RESOURCE:PORTS``).
    """
    assigned = assign_host_ports(definition, remaining, dynamic_ports)
    if assigned is None:
        return None
    charge, bindings = assigned
    task = Task(
        id=new_id(),
        task_definition=definition.key,
        container_instance_id=instance_id,
        charge=charge,
        last_status="PROVISIONING" if definition.network_mode == "awsvpc" else "PENDING",
        group=group if group is not None else f"family:{definition.family}",
        started_by=started_by,
        host_ports=bindings,
        created_at=now,
    )
    return task, remaining.allocate(charge) if charge.fits(remaining) else remaining
