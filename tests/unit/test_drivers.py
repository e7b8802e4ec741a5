"""The docker and systemd drivers at their boundary: the calls and commands they issue."""

import subprocess
from pathlib import Path

import pytest

from airlock.config import NodeConfig, ServingConfig
from airlock.errors import NodeFailed
from airlock.nodes.docker import DockerNode
from airlock.nodes.systemd import SystemdNode

DIGEST = "a" * 64


def _stage(d: Path) -> None:
    v = d / "models" / DIGEST
    v.mkdir(parents=True)
    (v / ".airlock-manifest.json").write_text("{}")


class FakeContainer:
    def __init__(self):
        self.calls, self.status = [], "exited"

    def start(self):
        self.calls.append("start")
        self.status = "running"

    def stop(self, timeout):
        self.calls.append(("stop", timeout))
        self.status = "exited"

    def reload(self):
        pass

    def logs(self, tail):
        return b"CUDA error: no kernel image is available\n"


class FakeClient:
    def __init__(self, container):
        self.containers = self
        self.container = container
        self.asked = []

    def get(self, name):
        self.asked.append(name)
        return self.container


def test_docker_driver_switches_version_and_restarts_the_named_container(tmp_path, monkeypatch):
    c = FakeContainer()
    client = FakeClient(c)
    node = DockerNode(NodeConfig(name="gpu1", driver="docker", port=1), ServingConfig(), tmp_path, client=client)
    _stage(tmp_path)
    node.activate(DIGEST)
    assert (tmp_path / "current").resolve() == (tmp_path / "models" / DIGEST).resolve()
    monkeypatch.setattr("airlock.nodes.base.wait_http_health", lambda *a, **k: 0.0)
    node.stop()
    node.start()
    node.wait_healthy()
    assert client.asked[0] == "gpu1" and c.calls == [("stop", 30), "start"]
    assert node.current_version() == DIGEST
    node.stop()
    assert c.calls[-1] == ("stop", 30) and node.current_version() is None


def test_docker_driver_failure_carries_the_container_log(tmp_path):
    c = FakeContainer()
    node = DockerNode(NodeConfig(name="gpu1", driver="docker", port=1), ServingConfig(), tmp_path, client=FakeClient(c))
    with pytest.raises(NodeFailed, match="CUDA error: no kernel image"):
        node.wait_healthy(timeout=0.1)


def test_systemd_driver_writes_the_environment_file_and_runs_systemctl_over_ssh(tmp_path, monkeypatch):
    ran = []

    def runner(argv):
        ran.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")

    node = SystemdNode(
        NodeConfig(name="gpu2", driver="systemd", host="10.9.8.7", port=8000), ServingConfig(), tmp_path, runner=runner
    )
    _stage(tmp_path)
    node.activate(DIGEST)
    env = (tmp_path / "node.env").read_text()
    assert f"AIRLOCK_MODEL_DIR={tmp_path / 'models' / DIGEST}" in env and "AIRLOCK_PORT=8000" in env
    monkeypatch.setattr("airlock.nodes.base.wait_http_health", lambda *a, **k: 0.0)
    node.stop()
    node.start()
    node.wait_healthy()
    assert ran[0] == ["ssh", "-o", "BatchMode=yes", "10.9.8.7", "systemctl stop airlock-vllm@gpu2.service"]
    assert ran[1][-1] == "systemctl start airlock-vllm@gpu2.service"


def test_systemd_driver_local_and_failure(tmp_path):
    def runner(argv):
        return subprocess.CompletedProcess(argv, 1, "", "Unit not found.")

    node = SystemdNode(NodeConfig(name="n", driver="systemd", port=1), ServingConfig(), tmp_path, runner=runner)
    assert node.ssh is None
    with pytest.raises(NodeFailed, match="systemctl stop airlock-vllm@n.service failed: Unit not found"):
        node.stop()
