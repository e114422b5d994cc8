"""lb_sync: how soon HAProxy sends traffic to a task that became RUNNING, and stops sending to one being stopped.

On a real engine and the real HAProxy that ``scripts/services.sh`` starts (backend ``bench``,
frontend 127.0.0.1:18083), a replica service of busybox httpd tasks runs under
``ServiceScheduler.run``, ``Agent.run`` and ``LoadBalancerController.run`` in threads. Each
container serves its own hostname, which the benchmark maps to its task. The service scales
from 0 to ``--batch`` tasks and back, ``--rounds`` times (50 tasks by default). For each task:

* **traffic**: from the commit that made it RUNNING (seen by a subscriber of the state) to
  the first request through HAProxy that it answers (a client thread sends one every 10 ms;
  with roundrobin each server is hit within a few of them once it is UP);
* **drain**: from the commit that decided its stop (the service scheduler's, which moves it
  to DEACTIVATING) to HAProxy no longer sending it new requests (its server in DRAIN or gone,
  as ``show stat`` says, polled every 10 ms).

The target group checks every ``INTERVAL`` seconds and needs 2 passes: the first passing
check, one interval after the add, is the least any registration takes. ``value`` is the p99
of *traffic*; target <= 1 s + the interval. ``baseline``, measured in the same run: the p99
of HAProxy alone, ``add server`` (the same runtime API calls) of an already serving container
to its first request answered. ``ratio`` = value ÷ baseline.
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Final

import docker

from benchmarks import _report
from benchmarks._docker import IMAGE, engine_ready
from clusterkit import Agent, ClusterState
from clusterkit.balancing import (
    HAProxyRuntime,
    HealthCheckSettings,
    LoadBalancerController,
    LoadBalancerError,
    TargetGroup,
)
from clusterkit.executor.docker import LABEL_CLUSTER, LABEL_TASK, DockerExecutor
from clusterkit.services import ServiceScheduler
from clusterkit.state import TaskChanged

NAME: Final = "lb_sync"
INTERVAL: Final = 0.25  # the target group's health check interval, seconds
DESCRIPTION: Final = (
    "task RUNNING -> HAProxy sends it traffic, and stop decision -> HAProxy drains it, via LoadBalancerController: "
    f"p99 (target <= 1 s + the {INTERVAL} s check interval)"
)
TARGET: Final = f"<= {1 + INTERVAL}"
BACKEND: Final = "bench"
PORT: Final = 18083
ARN: Final = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/bench/0000000000000001"
SERVE: Final = "mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"
WAIT: Final = 60.0


class Probe:
    """A client through HAProxy (every 10 ms) and a ``show stat`` poller (every 10 ms), timestamping firsts."""

    def __init__(self, runtime: HAProxyRuntime) -> None:
        self.runtime = runtime
        self.first_answer: dict[str, float] = {}  # hostname -> first answer
        self.not_sending: dict[str, float] = {}  # server -> first seen DRAIN or gone
        self.added: dict[str, float] = {}  # server -> first seen in show stat
        self.up: dict[str, float] = {}  # server -> first seen UP
        self.watch: set[str] = set()  # servers whose draining is awaited
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._client, self._poller)]
        for thread in self._threads:
            thread.start()

    def _client(self) -> None:
        while not self._stop.wait(0.01):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=2) as response:
                    body = response.read().decode().strip()
            except Exception:  # 503 while the backend is empty, between rounds
                continue
            with self._lock:
                self.first_answer.setdefault(body, time.perf_counter())

    def _poller(self) -> None:
        while not self._stop.wait(0.01):
            try:
                servers = self.runtime.servers(BACKEND)
            except LoadBalancerError:
                continue
            now = time.perf_counter()
            with self._lock:
                for name, listed in servers.items():
                    self.added.setdefault(name, now)
                    if listed.up:
                        self.up.setdefault(name, now)
                for name in list(self.watch):
                    server = servers.get(name)
                    if server is None or server.admin != "ready":
                        self.not_sending.setdefault(name, now)
                        self.watch.discard(name)

    def await_drain(self, name: str) -> None:
        with self._lock:
            if name not in self.not_sending:
                self.watch.add(name)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


def baseline_sample(api: docker.APIClient, runtime: HAProxyRuntime, probe: Probe, host_ip: str, number: int) -> float:
    """HAProxy alone: ``add server`` of a serving container to its first answer through HAProxy."""
    container = api.create_container(
        IMAGE,
        entrypoint=["sh", "-c"],
        command=[SERVE],
        labels={"clusterkit.benchmark-baseline": "lb_sync"},
        ports=[80],
        host_config=api.create_host_config(port_bindings={80: (host_ip, None)}, mem_limit="32m"),
    )
    try:
        api.start(container["Id"])
        port = int(api.port(container["Id"], 80)[0]["HostPort"])
        hostname = api.inspect_container(container["Id"])["Config"]["Hostname"]
        deadline = time.monotonic() + 10
        while True:  # serving before it is added: only HAProxy's part is timed
            try:
                urllib.request.urlopen(f"http://{host_ip}:{port}/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{NAME}: the baseline container never answered") from None
                time.sleep(0.02)
        name = f"baseline-{number}"
        began = time.perf_counter()
        runtime.add(BACKEND, name, host_ip, port, HealthCheckSettings(INTERVAL, 2, 2))
        deadline = time.monotonic() + WAIT
        while hostname not in probe.first_answer:
            if time.monotonic() > deadline:
                raise SystemExit(f"{NAME}: HAProxy never sent the baseline server traffic")
            time.sleep(0.002)
        elapsed = probe.first_answer[hostname] - began
        runtime.delete(BACKEND, name)
        return elapsed
    finally:
        api.remove_container(container["Id"], force=True, v=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks {NAME}", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="one round of 4 tasks (smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="scale-out/in rounds (default 5)")
    parser.add_argument("--batch", type=int, default=10, help="tasks per round (default 10)")
    parser.add_argument("--engine", default="unix:///var/run/docker.sock", help="the Docker engine to use")
    parser.add_argument("--host-ip", default="127.0.0.24", help="the loopback address ports are published on")
    parser.add_argument(
        "--socket", default="/run/clusterkit-services/haproxy.sock", help="HAProxy's admin runtime API socket"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    batch = 4 if args.quick else args.batch
    if not engine_ready(NAME, args.engine):
        return 2
    runtime = HAProxyRuntime(args.socket)
    try:
        for name in runtime.servers(BACKEND):
            runtime.delete(BACKEND, name)
    except LoadBalancerError as error:
        print(f"{NAME}: HAProxy is not ready (scripts/services.sh start): {error}", flush=True)
        return 2

    cluster = f"bench-{uuid.uuid4().hex[:8]}"
    api = docker.APIClient(base_url=args.engine, version="1.41", timeout=60)
    state = ClusterState(cluster)
    executor = DockerExecutor(args.engine, cluster=cluster, host_ip=args.host_ip, pull_policy="prefer-cached")
    agent = Agent.register(state, executor)
    group = TargetGroup(
        ARN, BACKEND, interval=INTERVAL, healthy_threshold=2, unhealthy_threshold=2, deregistration_delay=5
    )
    controller = LoadBalancerController(state, runtime, [group], poll_interval=0.25)
    scheduler = ServiceScheduler(state)
    stop = threading.Event()
    threads = [
        threading.Thread(target=scheduler.run, args=(stop,), kwargs={"interval": 0.5}, daemon=True),
        threading.Thread(target=agent.run, kwargs={"interval": 1.0}, daemon=True),
        threading.Thread(target=controller.run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    events = state.subscribe()
    probe = Probe(runtime)
    running_at: dict[str, float] = {}
    deciding_at: dict[str, float] = {}
    hostnames: dict[str, str] = {}  # task id -> its container's hostname
    print(f"{NAME}: {rounds} rounds of 0 -> {batch} -> 0 tasks on {args.engine}, HAProxy backend {BACKEND}")
    baseline: list[float] = []

    def follow(until: float, done: Callable[[], bool]) -> None:
        while time.monotonic() < until:
            event = events.get(timeout=0.05)
            if isinstance(event, TaskChanged) and event.task.service_name == "web":
                task, now = event.task, time.perf_counter()
                if task.last_status == "RUNNING":
                    running_at.setdefault(task.id, now)
                elif task.last_status == "DEACTIVATING":
                    deciding_at.setdefault(task.id, now)
                    probe.await_drain(task.id)
            if done():
                return
        raise SystemExit(f"{NAME}: a round did not finish within {WAIT:g}s")

    def all_answering(before: set[str]) -> bool:
        fresh = set(running_at) - before
        for task_id in fresh - hostnames.keys():
            labels = [f"{LABEL_CLUSTER}={cluster}", f"{LABEL_TASK}={task_id}"]
            for container in api.containers(filters={"label": labels}):
                hostnames[task_id] = api.inspect_container(container["Id"])["Config"]["Hostname"]
        return len(fresh) == batch and all(hostnames.get(t) in probe.first_answer for t in fresh)

    def all_gone() -> bool:
        snapshot = state.snapshot()
        return not list(snapshot.service_tasks_holding(snapshot.service("web")))

    try:
        state.register_task_definition(
            {
                "family": "web",
                "containerDefinitions": [
                    {
                        "name": "web",
                        "image": IMAGE,
                        "memory": 32,
                        "entryPoint": ["sh", "-c"],
                        "command": [SERVE],
                        "portMappings": [{"containerPort": 80}],
                        "stopTimeout": 2,
                    }
                ],
            }
        )
        state.create_service(
            "web",
            "web:1",
            desired_count=0,
            load_balancers=[{"targetGroupArn": ARN, "containerName": "web", "containerPort": 80}],
        )
        for number in range(rounds):
            before = set(running_at)
            state.update_service("web", desired_count=batch)
            follow(time.monotonic() + WAIT, functools.partial(all_answering, before))
            state.update_service("web", desired_count=0)
            follow(time.monotonic() + WAIT, all_gone)
            print(f"  round {number + 1}: {batch} tasks up, answering, drained and stopped", flush=True)
        stop.set()  # the controller owns the backend: it would delete the baseline's servers
        agent.close()
        for thread in threads:
            thread.join(10)
        for number in range(max(5, rounds * 2)):
            baseline.append(baseline_sample(api, runtime, probe, args.host_ip, number))
    finally:
        stop.set()
        agent.close()
        for thread in threads:
            thread.join(10)
        probe.close()
        events.close()
        executor.close()
        for label in (LABEL_CLUSTER, "clusterkit.benchmark-baseline"):
            for container in api.containers(
                all=True, filters={"label": f"{label}={cluster if label == LABEL_CLUSTER else 'lb_sync'}"}
            ):
                api.remove_container(container["Id"], force=True, v=True)
        for name in runtime.servers(BACKEND):
            runtime.delete(BACKEND, name)

    traffic = [
        probe.first_answer[hostnames[t]] - running_at[t] for t in running_at if hostnames.get(t) in probe.first_answer
    ]
    drain = [probe.not_sending[t] - deciding_at[t] for t in deciding_at if t in probe.not_sending]
    _report.heading(f"task RUNNING (committed) -> first request through HAProxy answered by it ({len(traffic)} tasks)")
    for label, marks in (("server added (show stat)", probe.added), ("server UP (checks passed)", probe.up)):
        part = [marks[t] - running_at[t] for t in running_at if t in marks]
        note = f"p99 {_report.percentile(part, 99):.2f} s"
        _report.line(f"RUNNING -> {label}, p50", _report.percentile(part, 50), "s", note)
    _report.line("p50", _report.percentile(traffic, 50), "s")
    _report.line("p99 (value)", _report.percentile(traffic, 99), "s")
    _report.heading(f"stop decided (DEACTIVATING committed) -> HAProxy sends it nothing new ({len(drain)} tasks)")
    _report.line("p50", _report.percentile(drain, 50) * 1000, "ms", "show stat polled every 10 ms")
    _report.line("p99", _report.percentile(drain, 99) * 1000, "ms")
    _report.heading(f"HAProxy alone: add server -> first request answered ({len(baseline)} samples)")
    _report.line("p50", _report.percentile(baseline, 50), "s")
    _report.line("p99 (baseline)", _report.percentile(baseline, 99), "s")
    value = _report.percentile(traffic, 99)
    floor = _report.percentile(baseline, 99)
    _report.finish(NAME, value, "s", TARGET, baseline=floor, ratio=value / floor if floor > 0 else None)
    return 0
