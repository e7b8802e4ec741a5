"""The ``systemd`` driver: a vLLM unit on a (GPU) host, locally or over SSH.

The unit (see ``docs/gpu-server.md``) reads ``EnvironmentFile=<node dir>/node.env``,
which names the model directory, and runs
``vllm serve $AIRLOCK_MODEL_DIR --served-model-name ... --port ...``.
Activating a version rewrites that file (and the ``current`` link);
``systemctl stop`` and ``start`` then run the server on it.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from airlock.config import NodeConfig, ServingConfig
from airlock.errors import NodeFailed
from airlock.nodes.base import ServiceNode

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120)


class SystemdNode(ServiceNode):
    def __init__(
        self, node: NodeConfig, serving: ServingConfig, node_dir: Path, runner: Runner = _run, ssh: str | None = None
    ) -> None:
        super().__init__(node, serving, node_dir)
        self.unit = f"airlock-vllm@{node.name}.service"
        self.ssh = ssh if ssh is not None else (None if node.host in ("127.0.0.1", "localhost") else node.host)
        self.runner = runner

    def _on_host(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        if self.ssh:
            argv = ["ssh", "-o", "BatchMode=yes", self.ssh, shlex.join(argv)]
        return self.runner(argv)

    def _systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = self._on_host(["systemctl", *args, self.unit])
        if check and res.returncode != 0:
            raise NodeFailed(f"{self.name}: systemctl {' '.join(args)} {self.unit} failed: {res.stderr.strip()[-500:]}")
        return res

    def _activated(self, digest: str) -> None:
        env = self.dir / "node.env"
        tmp = env.with_suffix(".tmp")
        tmp.write_text(
            f"AIRLOCK_MODEL_DIR={self.version_dir(digest)}\nAIRLOCK_PORT={self.cfg.port}\n"
            f"AIRLOCK_SERVED_NAME={self.serving.served_model_name}\n"
        )
        tmp.replace(env)

    def running(self) -> bool:
        return self._systemctl("is-active", "--quiet", check=False).returncode == 0

    def _start_service(self) -> None:
        self._systemctl("start")

    def _stop_service(self) -> None:
        self._systemctl("stop")

    def _log_tail(self) -> str:
        return self._on_host(["journalctl", "-u", self.unit, "-n", "40", "--no-pager"]).stdout
