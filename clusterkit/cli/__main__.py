"""``python -m clusterkit.cli``: the ``clusterkit`` command, from this checkout's package."""

from clusterkit.cli import main

main()
