"""A service behind a real HAProxy that scales on its CPU, read from the Docker engine's stats.

Each task serves a page with busybox httpd and, for its first ``BURN`` seconds, spins a busy
loop: far above the 50 % CPU target, so the autoscaler scales the service out (to its maximum
of 3); once the loops end the CPU falls to nothing and it scales back in to 1. Throughout, a
client sends about 20 requests a second through HAProxy (frontend 127.0.0.1:18082): new tasks
take traffic only once HAProxy's checks pass, and tasks scaled in are drained before their
containers stop, so no request fails. The service scheduler, the agent, the load balancer
controller and the autoscaler run in threads, as in a deployment. Needs a Docker engine with
``clusterkit/busybox:latest`` and the HAProxy that ``scripts/services.sh start`` runs, and
``pip install 'clusterkit[docker]'``.
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from clusterkit import Agent, ClusterState
from clusterkit.autoscaling import CPU_UTILIZATION, DockerStatsSource, ServiceAutoscaler, TargetTrackingPolicy
from clusterkit.balancing import HAProxyRuntime, LoadBalancerController, TargetGroup
from clusterkit.executor.docker import LABEL_CLUSTER, DockerExecutor
from clusterkit.services import ServiceScheduler
from clusterkit.state import Snapshot

CLUSTER = "autoscaling-example"
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/example/0123456789abcdef"
FRONTEND = "http://127.0.0.1:18082/"
BURN = 25  # seconds of busy loop at the start of each task

WEB = {
    "family": "web",
    "containerDefinitions": [
        {
            "name": "httpd",
            "image": "clusterkit/busybox:latest",
            "cpu": 256,
            "memory": 32,
            "entryPoint": ["sh", "-c"],
            "command": [
                f"hostname > /www/index.html && httpd -p 80 -h /www && "
                f"timeout {BURN} sh -c 'while :; do :; done'; exec sleep 2147483647"
            ],
            "portMappings": [{"containerPort": 80}],  # a dynamic host port
            "stopTimeout": 1,
        }
    ],
}

state = ClusterState(CLUSTER)
executor = DockerExecutor(cluster=CLUSTER, host_ip="127.0.0.1", pull_policy="prefer-cached")
agent = Agent.register(state, executor, reserved_memory=256)
haproxy = HAProxyRuntime("/run/clusterkit-services/haproxy.sock")
controller = LoadBalancerController(
    state, haproxy, [TargetGroup(ARN, "example", interval=0.5, healthy_threshold=2, deregistration_delay=5)],
    poll_interval=0.5,
)  # fmt: skip
scaler = ServiceAutoscaler(state, DockerStatsSource({agent.instance_id: executor}), sample_interval=1.0)
haproxy.servers("example")  # fails at once, clearly, when HAProxy is not running
stop = threading.Event()
results: collections.Counter[str] = collections.Counter()


def client() -> None:
    """About 20 requests a second through HAProxy until the example ends; counts answers and failures."""
    while not stop.is_set():
        try:
            results[urllib.request.urlopen(FRONTEND, timeout=5).read().decode().strip()] += 1
        except (urllib.error.URLError, OSError) as error:
            results[f"FAILED: {error}"] += 1
        time.sleep(0.05)


def wait_until(what: str, condition: Callable[[Snapshot], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition(state.snapshot()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(0.25)


def serving(count: int) -> Callable[[Snapshot], bool]:
    """``count`` tasks, all RUNNING with healthy targets, at a desired count of ``count``."""

    def check(snapshot: Snapshot) -> bool:
        tasks = list(snapshot.service_tasks_holding(snapshot.service("web")))
        healthy = [t for t in tasks if t.last_status == "RUNNING" and [h.state for h in t.target_health] == ["healthy"]]
        return snapshot.service("web").desired_count == count and len(tasks) == len(healthy) == count

    return check


loops = [
    threading.Thread(target=ServiceScheduler(state).run, args=(stop,)),
    threading.Thread(target=agent.run),
    threading.Thread(target=controller.run, args=(stop,)),
    threading.Thread(target=scaler.run, args=(stop,)),
]
for loop in loops:
    loop.start()
started = time.time()
try:
    state.register_task_definition(WEB)
    state.create_service(
        "web", "web:1", desired_count=1,
        load_balancers=[{"targetGroupArn": ARN, "containerName": "httpd", "containerPort": 80}],
    )  # fmt: skip
    scaler.register_scalable_target("web", min_capacity=1, max_capacity=3)
    scaler.put_scaling_policy(
        "web",
        TargetTrackingPolicy(
            "cpu50", CPU_UTILIZATION, 50.0, period=5.0, scale_out_periods=2, scale_in_periods=3,
            scale_out_cooldown=10, scale_in_cooldown=10,
        ),
    )  # fmt: skip
    wait_until("one task serving", serving(1))
    requests = threading.Thread(target=client)
    requests.start()
    wait_until("scaled out to 3 on CPU", serving(3))
    print(f"scaled out: 3 tasks serving after {time.time() - started:.0f} s")
    wait_until("scaled back in to 1 once the busy loops ended", serving(1), timeout=180)
    print(f"scaled in:  1 task serving after {time.time() - started:.0f} s")
    stop.set()
    requests.join()
    print("\nscaling activities:")
    for activity in reversed(scaler.describe_scaling_activities("web")):  # oldest first
        print(f"  +{activity.time - started:3.0f} s  {activity.old} -> "
              f"{activity.new}  {activity.status}: {activity.cause}")  # fmt: skip
    failed = sum(count for answer, count in results.items() if answer.startswith("FAILED"))
    print(f"\nrequests through HAProxy: {sum(results.values())} sent, {failed} failed, "
          f"answered by {sum(1 for answer in results if not answer.startswith('FAILED'))} tasks")  # fmt: skip
    if failed:
        raise SystemExit(f"{failed} requests failed: {dict(results)}")
finally:
    stop.set()
    agent.close()
    scaler.close()
    for loop in loops:
        loop.join()
    for leftover in executor.api.containers(all=True, filters={"label": f"{LABEL_CLUSTER}={CLUSTER}"}):
        executor.api.remove_container(leftover["Id"], force=True)
    for name in haproxy.servers("example"):
        haproxy.delete("example", name)
    executor.close()
