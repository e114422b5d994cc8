"""What makes a served cluster's tasks real: its service scheduler and agents, in threads.

``cluster_loops`` is a ``ClusterHook`` for ``Clusters(on_create=...)``: each cluster created
gets a ``ServiceScheduler`` (placing with the given scheduler) and one ``Agent`` per executor
that ``executors`` makes for it, each running its ``run`` loop in a thread; deleting the
cluster (or ``Clusters.close``) stops them, closes the executors and joins the threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from clusterkit.agent import Agent
from clusterkit.api import ClusterState
from clusterkit.executor import Executor
from clusterkit.placement import Scheduler
from clusterkit.server._clusters import ClusterHook
from clusterkit.services import DEFAULT_SETTINGS, ReconcileSettings, ServiceScheduler

__all__ = ["cluster_loops"]


def cluster_loops(
    executors: Callable[[str], Sequence[Executor]],
    *,
    placement: Scheduler | None = None,
    settings: ReconcileSettings = DEFAULT_SETTINGS,
    interval: float = 1.0,
    reserved_memory: int = 0,
) -> ClusterHook:
    """A hook starting, in each new cluster, a service scheduler and an agent per executor
    ``executors(cluster_name)`` makes; ``settings`` are the service scheduler's timings
    (``healthy_after``: how long a task without a health check runs before its deployment
    counts it healthy, 40 s as in ECS); ``interval`` is how often the loops look again when
    nothing woke them.
    """

    def start(state: ClusterState) -> Callable[[], None]:
        stop = threading.Event()
        scheduler = ServiceScheduler(state, placement=placement, settings=settings)
        made = list(executors(state.arns.cluster))
        agents = [Agent.register(state, executor, reserved_memory=reserved_memory) for executor in made]
        threads = [threading.Thread(target=scheduler.run, args=(stop,), kwargs={"interval": interval}, daemon=True)]
        threads += [
            threading.Thread(target=agent.run, args=(stop,), kwargs={"interval": interval}, daemon=True)
            for agent in agents
        ]
        for thread in threads:
            thread.start()

        def close() -> None:
            stop.set()
            scheduler.close()
            for agent in agents:
                agent.close()
            for thread in threads:
                thread.join(timeout=10)
            for executor in made:
                closer = getattr(executor, "close", None)
                if closer is not None:
                    closer()

        return close

    return start
