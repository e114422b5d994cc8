"""``python -m clusterkit.cli``: the ``clusterkit`` command, for an environment without its script."""

from clusterkit.cli import main

main()
