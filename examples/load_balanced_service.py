"""A service behind a real HAProxy: targets registered, drained and deregistered as the service rolls.

The service scheduler, the agent and the load balancer controller run in threads, as they
would in a deployment. Each task publishes port 80 on a dynamic host port; the controller
keeps HAProxy's backend ``example`` (frontend 127.0.0.1:18082) in step through HAProxy's
runtime API, so clients only ever talk to HAProxy. Needs a Docker engine with the image
``clusterkit/busybox:latest`` and the HAProxy that ``scripts/services.sh start`` runs, and
``pip install 'clusterkit[docker]'``.
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.request
from collections.abc import Callable

from clusterkit import Agent, ClusterState
from clusterkit.balancing import HAProxyRuntime, LoadBalancerController, TargetGroup
from clusterkit.executor.docker import LABEL_CLUSTER, DockerExecutor
from clusterkit.services import ServiceScheduler
from clusterkit.state import Snapshot

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/example/0123456789abcdef"
FRONTEND = "http://127.0.0.1:18082/"


def web(body: str) -> dict[str, object]:
    """A task definition: busybox httpd serving ``body``."""
    return {
        "family": "web",
        "containerDefinitions": [
            {
                "name": "httpd",
                "image": "clusterkit/busybox:latest",
                "memory": 32,
                "entryPoint": ["sh", "-c"],
                "command": ['echo "$BODY" > /www/index.html && exec httpd -f -p 80 -h /www'],
                "environment": [{"name": "BODY", "value": body}],
                "portMappings": [{"containerPort": 80}],  # no hostPort: a dynamic one
                "stopTimeout": 1,
            }
        ],
    }


state = ClusterState("lb-example")
executor = DockerExecutor(cluster="lb-example", host_ip="127.0.0.1", pull_policy="prefer-cached")
agent = Agent.register(state, executor, reserved_memory=256)  # registers clusterkit.host-address=127.0.0.1
haproxy = HAProxyRuntime("/run/clusterkit-services/haproxy.sock")
group = TargetGroup(ARN, "example", interval=0.5, healthy_threshold=2, deregistration_delay=5)
controller = LoadBalancerController(state, haproxy, [group], poll_interval=0.5)
scheduler = ServiceScheduler(state)
stop = threading.Event()
loops = [
    threading.Thread(target=scheduler.run, args=(stop,)),
    threading.Thread(target=agent.run),
    threading.Thread(target=controller.run, args=(stop,)),
]
for loop in loops:
    loop.start()


def wait_until(what: str, condition: Callable[[Snapshot], bool], timeout: float = 60) -> Snapshot:
    deadline = time.monotonic() + timeout
    while not condition(snapshot := state.snapshot()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(0.2)
    return snapshot


def healthy_targets(definition: str) -> Callable[[Snapshot], bool]:
    """2 tasks, all of ``definition``, RUNNING, their targets healthy, and nothing else left."""

    def check(snapshot: Snapshot) -> bool:
        tasks = list(snapshot.service_tasks_holding(snapshot.service("web")))
        return len(tasks) == 2 and all(
            t.task_definition == definition
            and t.last_status == "RUNNING"
            and [h.state for h in t.target_health] == ["healthy"]
            for t in tasks
        )

    return check


def through_haproxy(count: int = 10) -> dict[str, int]:
    answers: collections.Counter[str] = collections.Counter()
    for _ in range(count):
        answers[urllib.request.urlopen(FRONTEND, timeout=2).read().decode().strip()] += 1
    return dict(answers)


try:
    state.register_task_definition(web("hello from v1"))
    state.create_service(
        "web",
        "web:1",
        desired_count=2,
        load_balancers=[{"targetGroupArn": ARN, "containerName": "httpd", "containerPort": 80}],
    )
    wait_until("2 healthy targets of web:1", healthy_targets("web:1"))
    print("created: ", through_haproxy(), "servers", len(haproxy.servers("example")))

    state.register_task_definition(web("hello from v2"))
    state.update_service("web", task_definition="web:2")  # new targets first; old ones drained, then stopped
    wait_until("rolled to web:2", healthy_targets("web:2"))
    print("updated: ", through_haproxy(), "servers", len(haproxy.servers("example")))

    state.update_service("web", desired_count=0)
    state.delete_service("web")
    wait_until("deleted", lambda s: s.service("web").status == "INACTIVE")
    print("deleted:  servers", len(haproxy.servers("example")))
    print("\nservice events, oldest first:")
    for event in reversed(state.describe_services(["web"]).to_ecs()["services"][0]["events"]):
        print(" ", event["message"])
finally:
    stop.set()
    agent.close()
    for loop in loops:
        loop.join()
    for leftover in executor.api.containers(all=True, filters={"label": f"{LABEL_CLUSTER}=lb-example"}):
        executor.api.remove_container(leftover["Id"], force=True)
    for name in haproxy.servers("example"):
        haproxy.delete("example", name)
    executor.close()
