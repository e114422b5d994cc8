"""Instance providers: what adds and removes a capacity provider's instances.

``InstanceProvider`` is the protocol the cluster autoscaler drives: ``launch(count)``
brings ``count`` new instances up and registers them (with the attribute
``clusterkit.capacity-provider`` naming the provider), ``terminate(instance_id)``
deregisters one and releases its host. Two come with clusterkit:

* ``InMemoryProvider`` registers instances of the provider's shape straight into a
  ClusterState (or through callables of yours, such as ``FakeCluster.add_instance`` and
  ``FakeCluster.remove`` to give each one an agent on a FakeExecutor): for simulations.
* ``DockerEngineProvider`` starts one more Docker engine per instance (``EngineScript``:
  ``scripts/services.sh engine-start N`` by default, each engine with its own bridge and
  loopback address 127.0.0.N) and runs an ``Agent`` for it in a thread; terminating stops
  the agent, deregisters the instance and stops the engine.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from clusterkit.agent import Agent
from clusterkit.api import ClusterState
from clusterkit.autoscaling._capacity import CAPACITY_PROVIDER_ATTRIBUTE, CapacityProvider
from clusterkit.errors import ClusterkitError, ExecutorError, NotFoundError, ValidationError
from clusterkit.state import new_id

__all__ = ["DockerEngineProvider", "EngineControl", "EngineScript", "InMemoryProvider", "InstanceProvider"]

_CPU_UNITS_PER_CORE = 1024


@runtime_checkable
class InstanceProvider(Protocol):
    """Adds and removes a capacity provider's instances."""

    def launch(self, count: int) -> list[str]:
        """Bring ``count`` instances up, registered and tagged with the provider; their ids."""
        ...

    def terminate(self, instance_id: str) -> None:
        """Deregister ``instance_id`` (its remaining tasks stop) and release its host."""
        ...


def _check_count(count: object) -> int:
    if type(count) is not int or count < 1:
        raise ValidationError("count", count, "must be a whole number >= 1")
    return count


class InMemoryProvider:
    """Instances of ``provider.instance_shape`` registered straight into ``state``.

    ``add(instance_id, attributes)`` registers one (default: ``register_container_instance``
    with the shape, no agent); ``remove(instance_id)`` takes one out (default:
    ``deregister_container_instance(force=True)``). With a ``FakeCluster`` of the same host
    size pass ``add=lambda i, a: fake.add_instance(i, attributes=a)`` and ``remove=fake.remove``
    so each instance gets an agent. ``launched`` and ``terminated`` list the ids, in order.
    """

    def __init__(
        self,
        state: ClusterState,
        provider: CapacityProvider,
        *,
        add: Callable[[str, Mapping[str, str | None]], object] | None = None,
        remove: Callable[[str], object] | None = None,
    ) -> None:
        self.state = state
        self.provider = provider
        self._add = add
        self._remove = remove
        self.launched: list[str] = []
        self.terminated: list[str] = []

    def launch(self, count: int) -> list[str]:
        """Register ``count`` new instances; their ids (``<provider>-<n>``)."""
        ids = []
        for _ in range(_check_count(count)):
            instance_id = f"{self.provider.name}-{len(self.launched) + 1:05d}"
            attributes: dict[str, str | None] = {CAPACITY_PROVIDER_ATTRIBUTE: self.provider.name}
            if self._add is not None:
                self._add(instance_id, attributes)
            else:
                shape = self.provider.instance_shape
                self.state.register_container_instance(
                    instance_id,
                    cpu=shape.cpu,
                    memory=shape.memory,
                    scalars=shape.scalar_map,
                    attributes=attributes,
                    reserved_ports=shape.ports,
                    reserved_udp_ports=shape.ports_udp,
                )
            self.launched.append(instance_id)
            ids.append(instance_id)
        return ids

    def terminate(self, instance_id: str) -> None:
        """Take the instance out (its remaining tasks stop)."""
        if self._remove is not None:
            self._remove(instance_id)
        else:
            self.state.deregister_container_instance(instance_id, force=True)
        self.terminated.append(instance_id)


class EngineControl(Protocol):
    """Starts and stops Docker engine number ``n`` (3 and up; 1 and 2 are the fixed ones)."""

    def start(self, n: int) -> str:
        """Start engine ``n`` (with the test image loaded); its Docker URL."""
        ...

    def stop(self, n: int) -> None:
        """Stop engine ``n`` and remove its bridge."""
        ...


@attrs.frozen
class EngineScript:
    """``scripts/services.sh engine-start N`` / ``engine-stop N``: engine N on its own socket
    ``/run/clusterkit-engineN.sock``, data root, exec root, pid file and bridge ``ckbrN``.
    """

    script: Path = Path("scripts/services.sh")
    timeout: float = 120.0

    def _run(self, command: str, n: int) -> None:
        done = subprocess.run(
            ["bash", str(self.script), command, str(n)],
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ExecutorError(
                None, f"{self.script} {command} {n} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
            )

    def start(self, n: int) -> str:
        """Run ``engine-start n``; the engine's URL."""
        self._run("engine-start", n)
        return f"unix:///run/clusterkit-engine{n}.sock"

    def stop(self, n: int) -> None:
        """Run ``engine-stop n``."""
        self._run("engine-stop", n)


@attrs.define
class _Engine:
    number: int
    agent: Agent
    thread: threading.Thread


class DockerEngineProvider:
    """One more Docker engine, and an Agent for it, per instance.

    ``launch`` takes the lowest free engine number of ``numbers`` (each engine N binds
    its tasks' published ports to 127.0.0.N), starts the engine through ``engines``, and
    registers an Agent for a ``DockerExecutor`` on it with exactly ``provider.instance_shape``
    (the rest of the host's CPUs and memory is reserved), tagged with the provider and
    ``clusterkit.engine`` = N; the agent runs in a thread every ``agent_interval`` seconds.
    ``terminate`` stops the agent, deregisters the instance (its remaining tasks stop),
    stops and removes the containers left there (``stop_timeout`` seconds each before SIGKILL)
    and stops the engine. ``executor_options`` go to each ``DockerExecutor`` (``cluster`` must
    name the cluster its containers are labelled with). ``close()`` terminates every
    instance it launched: call it when done, also after a failure.
    """

    def __init__(
        self,
        state: ClusterState,
        provider: CapacityProvider,
        *,
        cluster: str,
        engines: EngineControl | None = None,
        numbers: Iterable[int] = range(3, 20),
        agent_interval: float = 0.5,
        stop_timeout: float = 10.0,
        executor_options: Mapping[str, Any] | None = None,
    ) -> None:
        numbers = tuple(numbers)
        for number in numbers:
            if type(number) is not int or not 3 <= number <= 254:
                raise ValidationError("numbers", number, "engine numbers are whole numbers in 3..254")
        self.state = state
        self.provider = provider
        self.cluster = cluster
        self.engines: EngineControl = engines if engines is not None else EngineScript()
        self.numbers = numbers
        self.agent_interval = agent_interval
        self.stop_timeout = stop_timeout
        self.executor_options = dict(executor_options or {})
        self._running: dict[str, _Engine] = {}
        self._lock = threading.Lock()

    def _free_number(self) -> int:
        used = {engine.number for engine in self._running.values()}
        for number in self.numbers:
            if number not in used:
                return number
        raise ValidationError("numbers", self.numbers, "every engine number is in use")

    def launch(self, count: int) -> list[str]:
        """Start ``count`` engines with their agents; the new instances' ids."""
        ids = []
        for _ in range(_check_count(count)):
            with self._lock:
                number = self._free_number()
                ids.append(self._launch_one(number))
        return ids

    def _launch_one(self, number: int) -> str:
        from clusterkit.executor.docker import DockerExecutor  # the docker extra: only when engines start

        url = self.engines.start(number)
        try:
            options = {"pull_policy": "prefer-cached", **self.executor_options}
            executor = DockerExecutor(url, cluster=self.cluster, host_ip=f"127.0.0.{number}", **options)
            host = executor.host()
            shape = self.provider.instance_shape
            reserved_cpu = host.cpus * _CPU_UNITS_PER_CORE - shape.cpu
            reserved_memory = host.memory_mib - shape.memory
            if reserved_cpu < 0 or reserved_memory < 0:
                raise ValidationError(
                    "instanceShape",
                    shape,
                    f"is larger than engine {number}'s host ({host.cpus} CPUs, {host.memory_mib} MiB)",
                )
            agent = Agent.register(
                self.state,
                executor,
                instance_id=f"engine{number}-{new_id()[:12]}",
                reserved_cpu=reserved_cpu,
                reserved_memory=reserved_memory,
                reserved_ports=shape.ports,
                attributes={CAPACITY_PROVIDER_ATTRIBUTE: self.provider.name, "clusterkit.engine": str(number)},
            )
        except BaseException:
            self.engines.stop(number)
            raise
        thread = threading.Thread(
            target=agent.run,
            kwargs={"interval": self.agent_interval},
            name=f"clusterkit-engine{number}-agent",
            daemon=True,
        )
        thread.start()
        self._running[agent.instance_id] = _Engine(number, agent, thread)
        return agent.instance_id

    def engine_of(self, instance_id: str) -> int:
        """The engine number running ``instance_id``."""
        engine = self._running.get(instance_id)
        if engine is None:
            raise NotFoundError("containerInstance", instance_id)
        return engine.number

    def terminate(self, instance_id: str) -> None:
        """Stop the instance's agent, deregister it, stop its engine."""
        with self._lock:
            engine = self._running.pop(instance_id, None)
        if engine is None:
            raise NotFoundError("containerInstance", instance_id)
        engine.agent.close()
        engine.thread.join(timeout=30)
        with contextlib.suppress(ClusterkitError):  # already gone: the engine still has to stop
            self.state.deregister_container_instance(instance_id, force=True)
        executor = engine.agent.executor
        with contextlib.suppress(ClusterkitError):  # leave no container behind for the engine's next start
            for task_id in executor.tasks():
                executor.stop(task_id, timeout=self.stop_timeout)
                executor.remove(task_id)
        self.engines.stop(engine.number)

    @property
    def instances(self) -> dict[str, int]:
        """Instance id → engine number, for every engine running."""
        return {instance_id: engine.number for instance_id, engine in self._running.items()}

    def close(self) -> None:
        """Terminate every instance this provider launched (errors of one do not stop the others)."""
        for instance_id in list(self._running):
            try:
                self.terminate(instance_id)
            except (ClusterkitError, OSError, subprocess.SubprocessError):
                continue
