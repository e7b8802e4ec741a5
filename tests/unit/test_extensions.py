"""Sources and node drivers are registered in one mapping each."""

from __future__ import annotations

import pytest

from airlock.config import AirlockConfig, ConfigError, FleetConfig, NodeConfig
from airlock.nodes import DRIVERS
from airlock.nodes.fleet import build_node
from airlock.nodes.process import ProcessNode
from airlock.sources import SOURCES, source_class
from airlock.sources.hub import HubSource


def test_registered_names_resolve_to_their_classes():
    assert source_class("hub") is HubSource
    assert isinstance(build_node(AirlockConfig(), NodeConfig(name="n", port=1)), ProcessNode)
    assert set(SOURCES) == {"hub", "s3", "local"} and set(DRIVERS) == {"process", "docker", "systemd"}


def test_an_unknown_driver_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown node driver 'k8s'; known: docker, process, systemd"):
        NodeConfig(name="n", port=1, driver="k8s")
    with pytest.raises(ConfigError, match="unknown source kind 'ftp'"):
        source_class("ftp")


def test_a_new_driver_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(DRIVERS, "fake", "tests.unit.test_extensions:FakeDriver")
    cfg = AirlockConfig(state_dir=tmp_path, fleet=FleetConfig(nodes=[NodeConfig(name="n", port=1, driver="fake")]))
    node = build_node(cfg, cfg.fleet.nodes[0])
    assert type(node).__name__ == "FakeDriver" and node.dir == tmp_path / "nodes" / "n"


class FakeDriver:
    def __init__(self, name: str, node_dir) -> None:
        self.name, self.dir = name, node_dir

    @classmethod
    def from_config(cls, cfg, node, node_dir):
        return cls(node.name, node_dir)
