"""Placement: deciding which instance each task goes to (host ports for now)."""

from clusterkit.placement.ports import DEFAULT_DYNAMIC_PORTS, PortRange, assign_host_ports

__all__ = ["DEFAULT_DYNAMIC_PORTS", "PortRange", "assign_host_ports"]
