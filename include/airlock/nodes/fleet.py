"""Build the serving fleet (drivers and the load balancer) from the config."""

from __future__ import annotations

from airlock.config import AirlockConfig, NodeConfig
from airlock.nodes.balancer import Balancer
from airlock.nodes.base import NodeError, ServingNode


def node_dir(cfg: AirlockConfig, n: NodeConfig):
    return cfg.path(n.model_dir) if n.model_dir else cfg.state_dir / "nodes" / n.name


def build_node(cfg: AirlockConfig, n: NodeConfig) -> ServingNode:
    if n.driver == "process":
        from airlock.nodes.process import ProcessNode

        return ProcessNode(n, cfg.serving, node_dir(cfg, n), cfg.path(cfg.serving.python),
                           cfg.state_dir / "vllm-cache")
    if n.driver == "docker":
        from airlock.nodes.docker import DockerNode

        return DockerNode(n, cfg.serving, node_dir(cfg, n))
    if n.driver == "systemd":
        from airlock.nodes.systemd import SystemdNode

        return SystemdNode(n, cfg.serving, node_dir(cfg, n))
    raise NodeError(f"{n.name}: unknown driver {n.driver!r}")


def fleet(cfg: AirlockConfig) -> list[ServingNode]:
    """The fleet's nodes in rollout order: the first one is the canary."""
    return [build_node(cfg, n) for n in cfg.fleet.resolved_nodes()]


def server_name(cfg: AirlockConfig, name: str) -> str:
    for n in cfg.fleet.resolved_nodes():
        if n.name == name:
            return n.haproxy_server or n.name
    raise NodeError(f"no node {name!r} in the fleet")


def balancer(cfg: AirlockConfig) -> Balancer:
    return Balancer(cfg.haproxy_socket, cfg.fleet.backend)
