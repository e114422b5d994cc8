"""Service autoscaling on the real engine: a busy loop's CPU, read from Docker's stats, scales the service out.

Each task is a busybox ``sh`` spinning in ``while :; do :; done`` with 256 CPU units
reserved. Docker's CPU shares are relative, so the loop takes a whole core: about 400 % of
its reservation, far above the 50 % target. A target-tracking policy with 5-second periods
(2 of 2 datapoints) asks for ⌈1 · 400 / 50⌉ = 8 tasks, capped at the maximum of 3; the
service scheduler and the agent start them on the engine.
"""

from __future__ import annotations

import time

import pytest

from clusterkit import Agent, ClusterState
from clusterkit.autoscaling import (
    CPU_UTILIZATION,
    DockerStatsSource,
    ServiceAutoscaler,
    TargetTrackingPolicy,
    running_tasks,
)
from clusterkit.services import ServiceScheduler
from tests.conftest import loopback
from tests.docker.conftest import ENGINE1, container_definition, executor_for

BUSY = ["while :; do :; done"]


@pytest.mark.slow
def test_a_busy_loop_scales_the_service_out_from_docker_stats(state: ClusterState, cluster: str) -> None:
    agent = Agent.register(state, executor_for(cluster, ENGINE1, host_ip=loopback(14)))
    scheduler = ServiceScheduler(state, resync_interval=2.0)
    events = state.subscribe()
    source = DockerStatsSource({agent.instance_id: agent.executor})
    try:
        app = container_definition(cpu=256, entryPoint=["sh", "-c"], command=BUSY, stopTimeout=1)
        state.register_task_definition({"family": "busy", "containerDefinitions": [app]})
        state.create_service("busy", "busy", desired_count=1)
        scaler = ServiceAutoscaler(state, source, sample_interval=1.0)
        scaler.register_scalable_target("busy", min_capacity=1, max_capacity=3)
        policy = TargetTrackingPolicy("cpu50", CPU_UTILIZATION, 50.0, period=5.0, scale_out_periods=2)
        scaler.put_scaling_policy("busy", policy)
        deadline = time.monotonic() + 60
        while True:
            scheduler.notice(events.drain())
            scheduler.step()
            agent.step()
            scaler.step()
            snapshot = state.snapshot()
            if snapshot.service("busy").desired_count == 3 and len(running_tasks(snapshot, "busy")) == 3:
                break
            if time.monotonic() > deadline:
                series = scaler.series("busy", CPU_UTILIZATION, 5.0)
                points = None if series is None else series.datapoints("Average", count=6, now=time.time())
                pytest.fail(f"no scale-out in 60 s: desired {snapshot.service('busy').desired_count}, CPU {points}")
            time.sleep(0.2)
        (activity,) = scaler.describe_scaling_activities("busy")
        assert (activity.old, activity.new, activity.status) == (1, 3, "Successful")
        assert activity.cause == (
            "monitor alarm TargetTracking-service/busy-AlarmHigh-cpu50 in state ALARM triggered policy cpu50"
        )
        series = scaler.series("busy", CPU_UTILIZATION, 5.0)
        assert series is not None
        measured = [p for p in series.datapoints("Maximum", count=20, now=activity.time) if p is not None]
        assert measured and max(measured) > 150  # a spinning shell used well over its 256 units
    finally:
        events.close()
        source.close()
        agent.close()
        agent.executor.close()  # type: ignore[attr-defined]
