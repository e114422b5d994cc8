"""A whole cluster in memory on a simulated clock: state, agents on FakeExecutors, a service scheduler.

For tests of service policies (and anything else that needs time to pass) without Docker
and without sleeping: ``tick`` lets the service scheduler act, lets every agent start, stop
and report its tasks, then moves the clock on. Failures are injected on the executors
(``crash``, ``set_health``, ``fail_pull``, ``exit_on_start``) and on the instances
(``drain``, ``remove``, ``disconnect``).
Deterministic for a given sequence of calls, except the random task ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from clusterkit.agent import Agent
from clusterkit.api import ClusterState
from clusterkit.executor import FakeExecutor, HostInfo
from clusterkit.model import HealthStatus, Task
from clusterkit.placement import Scheduler
from clusterkit.services import DEFAULT_SETTINGS, ReconcileSettings, ServiceOutcome, ServiceScheduler
from clusterkit.state import SimulatedClock, Store, UpdateInstance

__all__ = ["FakeCluster", "SimulatedClock"]

_ZONE: Final = "ecs.availability-zone"


class FakeCluster:
    """A ClusterState with ``instances`` hosts spread over ``zones``, each run by an Agent.

    Every host offers ``cpus`` × 1024 CPU units and ``memory`` MiB. ``schedulers`` service
    schedulers (more than one to race them) share the state, each with ``placement``;
    ``store`` holds the state's data (a fresh ``MemoryStore`` by default: pass a wrapper of
    one to watch every commit).
    """

    def __init__(
        self,
        name: str = "sim",
        *,
        instances: int = 3,
        zones: Iterable[str] = ("zone-a", "zone-b", "zone-c"),
        cpus: int = 2,
        memory: int = 4096,
        schedulers: int = 1,
        placement: Scheduler | None = None,
        settings: ReconcileSettings = DEFAULT_SETTINGS,
        clock: SimulatedClock | None = None,
        store: Store | None = None,
    ) -> None:
        self.clock = clock if clock is not None else SimulatedClock()
        self.state = ClusterState(name, clock=self.clock, store=store)
        self.zones = tuple(zones)
        self.cpus = cpus
        self.memory = memory
        self.agents: dict[str, Agent] = {}
        self.executors: dict[str, FakeExecutor] = {}
        self._pull_failures: set[str] = set()
        self._hosts_added = 0
        self._exits_on_start: set[str] = set()
        self.schedulers = [
            ServiceScheduler(self.state, placement=placement, settings=settings, resync_interval=float("inf"))
            for _ in range(schedulers)
        ]
        self._subscriptions = [self.state.subscribe(capacity=1_000_000) for _ in self.schedulers]
        for _ in range(instances):
            self.add_instance()

    # -- hosts ----------------------------------------------------------------------------

    def add_instance(
        self,
        instance_id: str | None = None,
        *,
        zone: str | None = None,
        attributes: Mapping[str, str | None] | None = None,
    ) -> str:
        """Register a new host (with its agent); returns its instance id."""
        number = self._hosts_added
        self._hosts_added += 1
        instance_id = instance_id or f"i-{number:04d}"
        executor = FakeExecutor(clock=self.clock, host=HostInfo(cpus=self.cpus, memory_mib=self.memory))
        for image in sorted(self._pull_failures):
            executor.fail_pull(image)
        for image in sorted(self._exits_on_start):
            executor.exit_on_start(image)
        chosen = zone if zone is not None else self.zones[number % len(self.zones)]
        agent = Agent.register(
            self.state,
            executor,
            instance_id=instance_id,
            attributes={_ZONE: chosen, **(attributes or {})},
            workers=1,
        )
        self.agents[agent.instance_id] = agent
        self.executors[agent.instance_id] = executor
        return agent.instance_id

    def drain(self, instance_id: str) -> None:
        """Set an instance DRAINING."""
        self.state.update_container_instances_state([instance_id], "DRAINING")

    def activate(self, instance_id: str) -> None:
        """Set an instance ACTIVE again."""
        self.state.update_container_instances_state([instance_id], "ACTIVE")

    def remove(self, instance_id: str) -> None:
        """The host is gone: its instance is deregistered with force (its tasks stop) and its agent with it."""
        self.state.deregister_container_instance(instance_id, force=True)
        self.agents.pop(instance_id).close()
        self.executors.pop(instance_id)

    def disconnect(self, instance_id: str) -> None:
        """The agent loses its engine: the instance takes no new tasks until ``reconnect``."""
        self.executors[instance_id].fail_engine()
        self.state.commit([UpdateInstance(instance_id, agent_connected=False)])

    def reconnect(self, instance_id: str) -> None:
        """The engine answers again."""
        self.executors[instance_id].restore_engine()

    # -- tasks ----------------------------------------------------------------------------

    def executor_of(self, task: Task | str) -> FakeExecutor:
        """The executor running a task."""
        found = task if isinstance(task, Task) else self.state.snapshot().task(task)
        return self.executors[found.container_instance_id]

    def crash(self, task: Task | str, exit_code: int = 1) -> None:
        """Every container of the task exits with ``exit_code`` (its essential ones stop the task)."""
        found = task if isinstance(task, Task) else self.state.snapshot().task(task)
        executor = self.executor_of(found)
        definition = self.state.snapshot().task_definition(found.task_definition)
        for container in definition.container_definitions:
            executor.exit(found.id, container.name, exit_code)

    def set_health(self, task: Task | str, health: HealthStatus) -> None:
        """Every container of the task with a health check reports ``health``."""
        found = task if isinstance(task, Task) else self.state.snapshot().task(task)
        executor = self.executor_of(found)
        definition = self.state.snapshot().task_definition(found.task_definition)
        for container in definition.container_definitions:
            if container.health_check is not None:
                executor.set_health(found.id, container.name, health)

    def fail_pull(self, image: str) -> None:
        """Every host fails to pull ``image`` from now on, hosts added later too."""
        self._pull_failures.add(image)
        for executor in self.executors.values():
            executor.fail_pull(image)

    def exit_on_start(self, image: str) -> None:
        """On every host, now and later, containers of ``image`` exit (code 1) as soon as they start."""
        self._exits_on_start.add(image)
        for executor in self.executors.values():
            executor.exit_on_start(image)

    def service_tasks(self, service: str) -> list[Task]:
        """The service's tasks that have not reached STOPPED."""
        snapshot = self.state.snapshot()
        return list(snapshot.service_tasks_holding(snapshot.service(service)))

    # -- time -----------------------------------------------------------------------------

    def tick(self, seconds: float = 1.0) -> list[ServiceOutcome]:
        """The service schedulers act, every agent acts, then the clock moves on by ``seconds``."""
        outcomes: list[ServiceOutcome] = []
        for scheduler, subscription in zip(self.schedulers, self._subscriptions, strict=True):
            scheduler.notice(subscription.drain())
            outcomes.extend(scheduler.step())
        for agent in list(self.agents.values()):
            agent.step()
        self.clock.advance(seconds)
        return outcomes

    def run(self, seconds: float, step: float = 1.0) -> list[ServiceOutcome]:
        """``tick`` every ``step`` seconds for ``seconds``."""
        outcomes: list[ServiceOutcome] = []
        end = self.clock.now + seconds
        while self.clock.now < end:
            outcomes.extend(self.tick(step))
        return outcomes

    def close(self) -> None:
        """Stop the agents' worker threads and the subscriptions."""
        for subscription in self._subscriptions:
            subscription.close()
        for agent in self.agents.values():
            agent.close()
