"""The protocol every serving-node driver implements, and what drivers share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from airlock.errors import NodeFailed, NodeUnavailable
from airlock.manifest import MANIFEST_FILE

if TYPE_CHECKING:
    from airlock.config import AirlockConfig, NodeConfig, ServingConfig


@runtime_checkable
class ServingNode(Protocol):
    """One vLLM server. Versions are staged into a local cache keyed by manifest
    digest, so switching back to a previous version needs no download."""

    name: str

    @classmethod
    def from_config(cls, cfg: AirlockConfig, node: NodeConfig, node_dir: Path) -> ServingNode:
        """Build the node from the config; what :func:`airlock.nodes.fleet.build_node` calls."""
        ...

    @property
    def base_url(self) -> str: ...

    def version_dir(self, digest: str) -> Path: ...

    def activate(self, digest: str) -> None:
        """Make ``digest`` (already staged) the version used on next start."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait_healthy(self, timeout: float | None = None) -> float:
        """Block until the started server answers /health; seconds waited."""

    def healthy(self) -> bool: ...

    def current_version(self) -> str | None:
        """The digest the running server was started on, or None if stopped."""


class LocalVersionCache:
    """The part every driver shares: versions cached on the node's disk.

    ``models/<digest>/`` holds verified read-only files; ``current`` is a
    symlink switched atomically; ``running.json`` records what the server was
    last started on.
    """

    name: str
    dir: Path

    def version_dir(self, digest: str) -> Path:
        return self.dir / "models" / digest

    def activate(self, digest: str) -> None:
        import os

        target = self.version_dir(digest)
        if not (target / MANIFEST_FILE).exists():
            raise NodeFailed(f"{self.name}: version {digest[:12]} is not staged on this node")
        link = self.dir / "current"
        tmp = self.dir / f".current-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("models") / digest)
        tmp.replace(link)  # atomic switch
        self._activated(digest)

    def _activated(self, digest: str) -> None:
        """Hook for drivers that also record the version elsewhere."""

    def active_version(self) -> str | None:
        import os

        link = self.dir / "current"
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def _record_running(self, digest: str | None) -> None:
        import json

        p = self.dir / "running.json"
        if digest is None:
            p.unlink(missing_ok=True)
        else:
            p.write_text(json.dumps({"digest": digest}))

    def _recorded_running(self) -> str | None:
        import json

        try:
            return str(json.loads((self.dir / "running.json").read_text())["digest"])
        except (OSError, ValueError, KeyError):
            return None


def wait_http_health(
    name: str, url: str, timeout: float, alive: Callable[[], bool] = lambda: True, interval: float = 1.0
) -> float:
    """Poll ``url`` until 200: NodeFailed if ``alive()`` turns false, NodeUnavailable on timeout."""
    import time
    import urllib.request

    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - node URL from config
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        if not alive():
            raise NodeFailed(f"{name}: server exited during startup")
        if time.monotonic() - t0 > timeout:
            raise NodeUnavailable(f"{name}: not healthy after {timeout:.0f}s")
        time.sleep(interval)


class ServiceNode(LocalVersionCache):
    """A node whose server is a service someone else supervises (a container, a
    systemd unit): drivers supply start/stop of the service, its liveness
    and its log tail; the HTTP health, version bookkeeping and errors are shared."""

    cfg: NodeConfig
    serving: ServingConfig

    def __init__(self, node: NodeConfig, serving: ServingConfig, node_dir: Path) -> None:
        self.cfg, self.serving, self.name, self.dir = node, serving, node.name, node_dir

    @classmethod
    def from_config(cls, cfg: AirlockConfig, node: NodeConfig, node_dir: Path) -> ServiceNode:
        return cls(node, cfg.serving, node_dir)

    @property
    def base_url(self) -> str:
        return f"http://{self.cfg.host}:{self.cfg.port}"

    def running(self) -> bool:
        raise NotImplementedError

    def _start_service(self) -> None:
        raise NotImplementedError

    def _stop_service(self) -> None:
        raise NotImplementedError

    def _log_tail(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        digest = self.active_version()
        if digest is None:
            raise NodeFailed(f"{self.name}: no active version to serve")
        self._start_service()
        self._record_running(digest)

    def stop(self) -> None:
        self._stop_service()
        self._record_running(None)

    def wait_healthy(self, timeout: float | None = None) -> float:
        try:
            return wait_http_health(
                self.name,
                self.base_url + "/health",
                timeout or self.serving.startup_timeout_s,
                alive=self.running,
                interval=2,
            )
        except (NodeFailed, NodeUnavailable) as exc:
            raise type(exc)(
                f"{self.name} failed to start: {exc}\n--- last lines of its log ---\n{self._log_tail()}"
            ) from None

    def healthy(self) -> bool:
        try:
            wait_http_health(self.name, self.base_url + "/health", 0)
            return True
        except (NodeFailed, NodeUnavailable):
            return False

    def current_version(self) -> str | None:
        return self._recorded_running() if self.running() else None
