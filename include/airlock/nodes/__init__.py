"""Serving nodes (one protocol, several drivers) and the load balancer.

``DRIVERS`` is the one place a driver is registered: a config's
``fleet.nodes[].driver`` names a key, the value is ``"module:Class"`` of a
:class:`~airlock.nodes.base.ServingNode` with a ``from_config`` classmethod.
A new driver is one file plus one line here (docs/extending.md).
"""

DRIVERS: dict[str, str] = {
    "process": "airlock.nodes.process:ProcessNode",
    "docker": "airlock.nodes.docker:DockerNode",
    "systemd": "airlock.nodes.systemd:SystemdNode",
}
