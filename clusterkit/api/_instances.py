"""ECS's container-instance calls: register, deregister, drain, attributes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from clusterkit.api._calls import Calls, id_list, port_list
from clusterkit.errors import ValidationError
from clusterkit.model import DEFAULT_RESERVED_PORTS, Arns, ContainerInstance, Resources
from clusterkit.state import DeregisterInstance, Described, Failure, RegisterInstance, UpdateInstance, new_id

__all__ = ["InstanceCalls"]


class InstanceCalls(Calls):
    """RegisterContainerInstance, DeregisterContainerInstance, UpdateContainerInstancesState,
    PutAttributes and DeleteAttributes.
    """

    def register_container_instance(
        self,
        instance_id: str | None = None,
        *,
        cpu: int,
        memory: int,
        scalars: Mapping[str, float] | None = None,
        attributes: Mapping[str, str | None] | None = None,
        reserved_ports: Iterable[int] = DEFAULT_RESERVED_PORTS,
        reserved_udp_ports: Iterable[int] = (),
        ec2_instance_id: str | None = None,
        agent_version: str = "1.0.0",
    ) -> ContainerInstance:
        """Register an instance with ``cpu`` units and ``memory`` MiB (ECS RegisterContainerInstance).

        The reserved ports (ECS's 22, 2375, 2376, 51678, 51679 by default) are taken
        from the start. ``ecs.os-type`` defaults to ``linux``.
        """
        for field, value in (("scalars", scalars), ("attributes", attributes)):
            if value is not None and not isinstance(value, Mapping):
                raise ValidationError(field, value, "must be a mapping of name to value")
        ports = port_list("reservedPorts", reserved_ports)
        ports_udp = port_list("reservedUdpPorts", reserved_udp_ports)
        registered = Resources(cpu, memory, ports, ports_udp, scalars or {})
        merged: dict[str, str | None] = {"ecs.os-type": "linux"}
        merged.update(attributes or {})
        instance = ContainerInstance(
            id=instance_id if instance_id is not None else new_id(),
            registered=registered,
            remaining=registered,
            attributes=merged,
            agent_version=agent_version,
            ec2_instance_id=ec2_instance_id,
        )
        result = self._commit_one(RegisterInstance(instance), "containerInstanceId", instance.id)
        return result.snapshot.instance(instance.id)

    def deregister_container_instance(self, container_instance: str, *, force: bool = False) -> ContainerInstance:
        """Make an instance INACTIVE; with ``force`` its remaining tasks are stopped."""
        if not isinstance(force, bool):
            raise ValidationError("force", force, "must be true or false")
        instance_id = Arns.last_part(container_instance)
        result = self._commit_one(DeregisterInstance(instance_id, force), "containerInstance", container_instance)
        return result.snapshot.instance(instance_id)

    def update_container_instances_state(
        self, container_instances: Sequence[str], status: Literal["ACTIVE", "DRAINING"]
    ) -> Described[ContainerInstance]:
        """Set instances ACTIVE or DRAINING (no new tasks go to a DRAINING instance)."""
        ids = id_list("containerInstances", container_instances)
        if status not in ("ACTIVE", "DRAINING"):
            raise ValidationError("status", status, "must be ACTIVE or DRAINING")
        result = self.commit([UpdateInstance(instance_id, status=status) for instance_id in ids])
        missing = {rejection.change.instance_id for rejection in result.rejected}  # type: ignore[union-attr]
        snapshot = result.snapshot
        return Described(
            tuple(snapshot.instance(i) for i in ids if i not in missing),
            tuple(Failure(snapshot.arns.container_instance(i)) for i in ids if i in missing),
            key="containerInstances",
            dump=snapshot.dump_instance,
        )

    def put_attributes(self, container_instance: str, attributes: Mapping[str, str | None]) -> ContainerInstance:
        """Add or replace custom attributes on an instance (ECS PutAttributes)."""
        if not isinstance(attributes, Mapping):
            raise ValidationError("attributes", attributes, "must be a mapping of name to value")
        instance_id = Arns.last_part(container_instance)
        result = self._commit_one(
            UpdateInstance(instance_id, attributes=dict(attributes)), "containerInstance", container_instance
        )
        return result.snapshot.instance(instance_id)

    def delete_attributes(self, container_instance: str, names: Iterable[str]) -> ContainerInstance:
        """Remove attributes from an instance (ECS DeleteAttributes)."""
        if isinstance(names, (str, bytes)) or not all(isinstance(name, str) for name in names):
            raise ValidationError("attributes", names, "must be a list of attribute names")
        instance_id = Arns.last_part(container_instance)
        change = UpdateInstance(instance_id, remove_attributes=tuple(names))
        result = self._commit_one(change, "containerInstance", container_instance)
        return result.snapshot.instance(instance_id)
