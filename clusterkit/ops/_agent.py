"""``clusterkit agent``: one per host, the ECS agent's part.

``run_agent(config, stop)`` connects to etcd and to the host's Docker engine, registers the
host as a container instance (``Agent.register``: the engine's CPUs and memory less the
reserve; the same ``instance_id`` takes its instance and containers over after a restart),
holds the agent's lease, serves ``/metrics`` and ``/healthz``, and runs the agent until
``stop`` is set. Then, by default, it leaves its tasks running (as the ECS agent does) and
gives up its lease, so monitors mark the instance disconnected until it comes back; with
``drain_on_stop`` it first sets the instance DRAINING and waits, at most ``drain_timeout``
seconds, until none of its tasks is left running (the service scheduler moves service tasks
elsewhere; standalone tasks run until they end or the wait does).
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from clusterkit.agent import Agent
from clusterkit.api import ClusterState
from clusterkit.errors import StoreError
from clusterkit.executor import Executor
from clusterkit.ops._config import AgentConfig
from clusterkit.ops._metrics import Metrics, MetricsServer
from clusterkit.state import EtcdStore

__all__ = ["run_agent"]

log = logging.getLogger("clusterkit.agent")


def run_agent(
    config: AgentConfig,
    stop: threading.Event,
    *,
    executor: Executor | None = None,
    started: threading.Event | None = None,
) -> Agent:
    """Run the agent of ``config`` until ``stop`` is set (see the module); returns it, closed.

    ``executor`` replaces the Docker engine (tests); ``started`` is set once the instance is
    registered and the metrics endpoint answers.
    """
    store = EtcdStore(config.etcd_endpoints, prefix=config.prefix)
    server: MetricsServer | None = None
    agent: Agent | None = None
    try:
        state = ClusterState(config.cluster, store=store, dynamic_ports=config.dynamic_ports)
        if executor is None:
            from clusterkit.executor.docker import DockerExecutor

            executor = DockerExecutor(
                config.docker_host,
                cluster=config.cluster,
                host_ip=config.host_ip,
                pull_policy=config.image_pull_behavior,  # type: ignore[arg-type]  # checked by the config
            )
        agent = Agent.register(
            state,
            executor,
            instance_id=config.instance_id or socket.gethostname(),
            reserved_cpu=config.reserved_cpu,
            reserved_memory=config.reserved_memory,
            attributes=config.attributes,
            liveness_ttl=config.liveness_ttl,
            heartbeat_interval=config.heartbeat_interval,
            cleanup_wait=config.cleanup_wait,
        )
        metrics = Metrics()
        metrics.watch_commits(state)
        metrics.watch_store(store)
        metrics.count_passes(agent, "agent")
        running = agent
        if config.metrics_port:
            server = MetricsServer(
                metrics, config.metrics_host, config.metrics_port, lambda: running.engine_error or running.store_error
            )
        log.info("instance %s registered in cluster %s (%s)", agent.instance_id, config.cluster, store.prefix)
        finished = threading.Event()
        loop = threading.Thread(
            target=agent.run, args=(finished,), kwargs={"interval": config.interval}, name="clusterkit-agent-run"
        )
        loop.start()
        if started is not None:
            started.set()
        stop.wait()
        if config.drain_on_stop:
            _drain(state, agent.instance_id, config.drain_timeout)
        finished.set()
        loop.join()
        log.info(
            "instance %s: agent stopped, its tasks left %s",
            agent.instance_id,
            "drained" if config.drain_on_stop else "running",
        )
        return agent
    finally:
        if agent is not None:
            agent.close()
        if server is not None:
            server.close()
        store.close()


def _drain(state: ClusterState, instance_id: str, timeout: float) -> None:
    """Set the instance DRAINING; wait until none of its tasks runs, or ``timeout`` seconds."""
    log.info("instance %s: draining (at most %.0f s)", instance_id, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            state.update_container_instances_state([instance_id], "DRAINING")
            break
        except StoreError as error:
            if time.monotonic() >= deadline:
                log.warning("instance %s: could not be set DRAINING: %s", instance_id, error)
                return
            time.sleep(1.0)
    while time.monotonic() < deadline:
        if all(task.last_status == "STOPPED" for task in state.snapshot().tasks_on(instance_id)):
            return
        time.sleep(0.2)
    log.warning("instance %s: tasks still running after %.0f s of draining", instance_id, timeout)
