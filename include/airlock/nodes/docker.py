"""The ``docker`` driver: a vLLM container (the official ``vllm/vllm-openai``
image on a GPU host), managed through the Docker Engine API (docker SDK).

The container is created by compose (``docker-compose.yml``) with the node's
model directory mounted read-only at ``/models`` and the command
``--model /models/current``. Switching versions is: stage into
``models/<digest>`` on the host, flip ``current``, stop and start the container.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airlock.config import NodeConfig, ServingConfig
from airlock.errors import NodeUnavailable
from airlock.nodes.base import ServiceNode


class DockerNode(ServiceNode):
    def __init__(self, node: NodeConfig, serving: ServingConfig, node_dir: Path, client: Any = None) -> None:
        super().__init__(node, serving, node_dir)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            self._client = docker.from_env()
        return self._client

    def _container(self) -> Any:
        import docker.errors

        try:
            return self.client.containers.get(self.name)
        except docker.errors.NotFound:
            raise NodeUnavailable(f"{self.name}: no container named {self.name!r} (is the compose stack up?)") from None

    def running(self) -> bool:
        c = self._container()
        c.reload()
        return bool(c.status == "running")

    def _start_service(self) -> None:
        self._container().start()

    def _stop_service(self) -> None:
        self._container().stop(timeout=30)

    def _log_tail(self) -> str:
        logs: bytes = self._container().logs(tail=40)
        return logs.decode("utf-8", "replace")
