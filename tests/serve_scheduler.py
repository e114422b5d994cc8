"""A user's scheduler for ``clusterkit serve --scheduler tests.serve_scheduler:PackingScheduler``.

It packs every task onto as few instances as it can (binpack on memory, whatever the request
asked), so a test can tell it, not the built-in spread, placed a RunTask's or a service's tasks.
"""

from __future__ import annotations

import attrs

from clusterkit.model import binpack
from clusterkit.placement import BaseScheduler, PlacementRequest, Plan
from clusterkit.state import Snapshot


class PackingScheduler(BaseScheduler):
    """BaseScheduler with binpack on memory for every request."""

    def place(self, snapshot: Snapshot, request: PlacementRequest) -> Plan:
        """Place as BaseScheduler does, packing."""
        return super().place(snapshot, attrs.evolve(request, strategies=(binpack("memory"),)))
