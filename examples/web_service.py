"""A replica service on the local Docker engine: 2 httpd tasks, a rolling update, a killed container healed.

The service scheduler and the agent run in threads, as they would in a deployment; the
script only calls the ECS-shaped API and watches the state. Each task publishes port 80 on
a dynamic host port and has a health check, so "healthy" means "serving". Needs a Docker
engine and the image ``clusterkit/busybox:latest`` (``scripts/services.sh start``), and
``pip install 'clusterkit[docker]'``.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable

from clusterkit import Agent, ClusterState
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_TASK, DockerExecutor
from clusterkit.services import ServiceScheduler
from clusterkit.state import Snapshot


def web(body: str) -> dict[str, object]:
    """A task definition: httpd serving ``body``, healthy once it answers its own health check."""
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
                "healthCheck": {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/"], "interval": 5},
                "stopTimeout": 1,
            }
        ],
    }


state = ClusterState("web-service")
executor = DockerExecutor(cluster="web-service", host_ip="127.0.0.1", pull_policy="prefer-cached")
agent = Agent.register(state, executor, reserved_memory=256)
scheduler = ServiceScheduler(state)
stop = threading.Event()
loops = [threading.Thread(target=scheduler.run, args=(stop,)), threading.Thread(target=agent.run)]
for loop in loops:
    loop.start()


def wait_until(what: str, condition: Callable[[Snapshot], bool], timeout: float = 40) -> Snapshot:
    deadline = time.monotonic() + timeout
    while not condition(snapshot := state.snapshot()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(0.2)
    return snapshot


def serving(definition: str) -> Callable[[Snapshot], bool]:
    """2 tasks, all of ``definition``, RUNNING and HEALTHY, and nothing else left."""

    def check(snapshot: Snapshot) -> bool:
        tasks = list(snapshot.service_tasks_holding(snapshot.service("web")))
        return len(tasks) == 2 and all(
            (t.task_definition, t.last_status, t.health_status) == (definition, "RUNNING", "HEALTHY") for t in tasks
        )

    return check


def pages(snapshot: Snapshot) -> list[str]:
    urls = [f"http://127.0.0.1:{t.host_ports[0].host_port}/" for t in snapshot.service_tasks("web")]
    return [f"{url} -> {urllib.request.urlopen(url, timeout=2).read().decode().strip()}" for url in urls]


try:
    state.register_task_definition(web("hello from v1"))
    state.create_service("web", "web:1", desired_count=2)
    print("created:", pages(wait_until("2 tasks of web:1 serving", serving("web:1"))))

    state.register_task_definition(web("hello from v2"))
    state.update_service("web", task_definition="web:2")  # new tasks first, old ones stop once they are healthy
    print("updated:", pages(wait_until("rolled to web:2", serving("web:2"))))

    victim = next(state.snapshot().service_tasks("web"))
    (container,) = executor.api.containers(filters={"label": f"{LABEL_TASK}={victim.id}"})
    executor.api.kill(container["Id"])  # behind clusterkit's back
    healed = wait_until("healed", lambda s: s.task(victim.id).is_stopped and serving("web:2")(s))
    print("healed: ", pages(healed), "after", healed.task(victim.id).stopped_reason)

    state.update_service("web", desired_count=0)
    state.delete_service("web")
    wait_until("deleted", lambda s: s.service("web").status == "INACTIVE")
    print("\nservice events, oldest first:")
    for event in reversed(state.describe_services(["web"]).to_ecs()["services"][0]["events"]):
        print(" ", event["message"])
finally:
    stop.set()
    agent.close()
    for loop in loops:
        loop.join()
    for leftover in executor.api.containers(all=True, filters={"label": f"{LABEL_CLUSTER}=web-service"}):
        executor.api.remove_container(leftover["Id"], force=True)
    executor.close()
