"""The committed deployment files agree with the code that generates them."""

from pathlib import Path

from airlock.config import load_config
from airlock.nodes.balancer import Backend, render_config

REPO = Path(__file__).resolve().parents[2]


def test_compose_config_validates_and_uses_real_drivers():
    cfg = load_config(REPO / "deploy" / "airlock.compose.yaml", environ={})
    assert {n.driver for n in cfg.fleet.resolved_nodes()} == {"docker"}
    assert cfg.haproxy_socket == Path("/run/haproxy/admin.sock")


def test_committed_haproxy_cfg_matches_the_renderer():
    cfg = load_config(REPO / "deploy" / "airlock.compose.yaml", environ={})
    servers = [Backend(n.haproxy_server or n.name, n.host, n.port) for n in cfg.fleet.resolved_nodes()]
    expected = render_config(cfg.haproxy_socket, cfg.balancer.frontend_port, cfg.balancer.stats_port,
                             cfg.fleet.backend, servers, bind="*")
    committed = (REPO / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    assert committed.split("\n", 2)[2] == expected
