"""Build the serving fleet (drivers and the load balancer) from the config."""

from __future__ import annotations

from pathlib import Path

from airlock import extensions
from airlock.config import AirlockConfig, NodeConfig
from airlock.errors import ConfigError
from airlock.nodes import DRIVERS
from airlock.nodes.balancer import Balancer
from airlock.nodes.base import ServingNode


def node_dir(cfg: AirlockConfig, n: NodeConfig) -> Path:
    return cfg.path(n.model_dir) if n.model_dir else cfg.state_dir / "nodes" / n.name


def build_node(cfg: AirlockConfig, n: NodeConfig) -> ServingNode:
    """The node for ``n``, through the driver its config names."""
    node: ServingNode = extensions.load("node driver", n.driver, DRIVERS).from_config(cfg, n, node_dir(cfg, n))
    return node


def fleet(cfg: AirlockConfig) -> list[ServingNode]:
    """The fleet's nodes in rollout order: the first one is the canary."""
    return [build_node(cfg, n) for n in cfg.fleet.resolved_nodes()]


def server_name(cfg: AirlockConfig, name: str) -> str:
    for n in cfg.fleet.resolved_nodes():
        if n.name == name:
            return n.haproxy_server or n.name
    raise ConfigError(f"no node {name!r} in the fleet")


def balancer(cfg: AirlockConfig) -> Balancer:
    return Balancer(cfg.haproxy_socket, cfg.fleet.backend)
