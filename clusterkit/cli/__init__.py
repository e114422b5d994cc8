"""The ``clusterkit`` command (``clusterkit.cli:main``): simulate policies, make workloads, inspect a cluster,
run the agent and the controller (``clusterkit agent``, ``clusterkit controller``; see ``clusterkit.ops``).

The command and its exit codes are documented in its private module; this face exports
what a program may use: the built-in policies by name, the policy and workload loaders,
the exit-2 exception and the click group itself.
"""

from clusterkit.cli._main import BUILT_IN_POLICIES, BadInputExit, load_policy, load_workload, main

__all__ = ["BUILT_IN_POLICIES", "BadInputExit", "load_policy", "load_workload", "main"]
