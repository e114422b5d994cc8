"""A business rule on top of the built-in scheduler: keep GPU instances for GPU tasks,
and cap how many tasks of a licensed image may run per availability zone."""

from __future__ import annotations

import clusterkit
from clusterkit import BaseScheduler, ContainerInstance
from clusterkit.placement import PlacementContext, Rejected

LICENSES_PER_ZONE = 2


class LicensedScheduler(BaseScheduler):
    def check(self, instance: ContainerInstance, context: PlacementContext) -> Rejected | str | None:
        needs_gpu = context.request.task_definition.charge.scalar("GPU") > 0
        if instance.registered.scalar("GPU") and not needs_gpu:
            # GPU instances only take GPU work: a rule on the instance alone, so it lasts for the plan
            return Rejected("GPU_RESERVED", lasting=True)
        if context.request.task_definition.family == "licensed":
            per_zone = context.count_by("attribute:ecs.availability-zone", context.snapshot.instances())
            if per_zone.get(instance.attribute("ecs.availability-zone"), 0) >= LICENSES_PER_ZONE:
                return Rejected("LICENSE_CAP", lasting=True)  # the plan's placements only fill the zone further
        return super().check(instance, context)


state = clusterkit.ClusterState()
for n, zone in enumerate(["zone-a", "zone-a", "zone-b", "zone-b"]):
    gpus = {"GPU": 4} if n == 0 else None
    zones = {"ecs.availability-zone": zone}
    state.register_container_instance(f"i-{n}", cpu=4096, memory=8192, scalars=gpus, attributes=zones)
container = {"name": "app", "image": "vendor/app", "cpu": 256, "memory": 256}
state.register_task_definition({"family": "licensed", "containerDefinitions": [container]})
result = state.run_task("licensed", count=6, scheduler=LicensedScheduler())
print("placed:", sorted(t.container_instance_id for t in result.tasks))
print("failures:", [(f.reason, f.detail) for f in result.failures])
