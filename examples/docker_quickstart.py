"""Run a busybox httpd task on the local Docker engine, fetch its page, read its logs, stop it.

Needs a Docker engine and the image ``clusterkit/busybox:latest`` (``scripts/services.sh
start`` builds both from Debian packages), and ``pip install 'clusterkit[docker]'``.
"""

from __future__ import annotations

import time
import urllib.request

from clusterkit import Agent, ClusterState
from clusterkit.executor.docker import DockerExecutor
from clusterkit.logs import LogStore

state = ClusterState("docker-quickstart")
logs = LogStore()
executor = DockerExecutor(cluster="docker-quickstart", host_ip="127.0.0.1", pull_policy="prefer-cached")
agent = Agent.register(state, executor, reserved_memory=256, log_store=logs)
state.register_task_definition(
    {
        "family": "web",
        "containerDefinitions": [
            {
                "name": "httpd",
                "image": "clusterkit/busybox:latest",
                "memory": 64,
                "command": ["httpd", "-f", "-v", "-p", "80", "-h", "/www"],
                "portMappings": [{"containerPort": 80}],  # no hostPort: a dynamic port is chosen
                "stopTimeout": 2,
            }
        ],
    }
)
task = state.run_task("web").tasks[0]
port = task.host_ports[0].host_port
print(f"placed {task.id} on {task.container_instance_id}, host port {port}")

agent.step()  # starts the container and reports RUNNING
page = ""
for _ in range(50):  # httpd needs a moment to listen
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode().strip()
        break
    except OSError:
        time.sleep(0.1)
print(f"GET http://127.0.0.1:{port}/ -> {page}")

agent.step()  # collects the access-log line
print("status:", state.snapshot().task(task.id).last_status)
for line in logs.query(task_id=task.id):
    print("log:", line.container, line.text)

state.stop_task(task.id, reason="quickstart done")
agent.step()  # SIGTERM, then SIGKILL after the stopTimeout; reports STOPPED
stopped = state.snapshot().task(task.id)
print("status:", stopped.last_status, stopped.stop_code, stopped.stopped_reason)
executor.remove(task.id)
agent.close()
