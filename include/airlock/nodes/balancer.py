"""HAProxy in front of the fleet: its config, and its runtime API for drain/ready.

Why the runtime API: draining a server and waiting for its sessions to reach
zero is the only way to restart an LLM server without cutting streamed
responses; no retry setting can replay them safely.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from airlock.errors import ConfigError, NodeUnavailable


class BalancerError(NodeUnavailable):
    """HAProxy did not reach the wanted state in time (or could not be asked)."""


@dataclass(frozen=True)
class Backend:
    name: str
    host: str
    port: int


def render_config(
    socket_path: Path,
    frontend_port: int,
    stats_port: int,
    backend: str,
    servers: list[Backend],
    bind: str = "127.0.0.1",
) -> str:
    """An HAProxy config measured to lose no request during rolling restarts
    (see docs/architecture.md): leastconn, L7 health checks, retries+redispatch
    for connection failures only, and an admin-level runtime socket."""
    lines = [
        "global",
        f"    stats socket {socket_path} mode 600 level admin",
        "    maxconn 2048",
        "",
        "defaults",
        "    mode http",
        "    retries 3",
        "    option redispatch",
        "    timeout connect 2s",
        "    timeout client 300s",
        "    timeout server 300s",
        "    timeout queue 60s",
        "",
        "frontend stats",
        f"    bind {bind}:{stats_port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        "",
        "frontend airlock_clients",
        f"    bind {bind}:{frontend_port}",
        f"    default_backend {backend}",
        "",
        f"backend {backend}",
        "    balance leastconn",
        "    option httpchk GET /health",
        "    http-check expect status 200",
        "    default-server inter 500ms fall 2 rise 2",
    ]
    lines += [f"    server {s.name} {s.host}:{s.port} check" for s in servers]
    return "\n".join(lines) + "\n"


class Balancer:
    """A client of HAProxy's runtime API over its unix socket."""

    def __init__(self, socket_path: Path, backend: str) -> None:
        self.socket_path, self.backend = Path(socket_path), backend

    def command(self, cmd: str, timeout: float = 5.0) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.socket_path))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while data := s.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """Per-server stats of the backend (status, scur, qcur, check_status ...)."""
        raw = self.command(f"show stat {self.backend} 4 -1").lstrip("# ")
        rows = csv.DictReader(io.StringIO(raw))
        return {r["svname"]: r for r in rows if r.get("svname") not in (None, "BACKEND", "FRONTEND")}

    def set_state(self, server: str, state: str) -> None:
        if state not in ("ready", "drain", "maint"):
            raise ValueError(f"unknown server state {state!r}")
        out = self.command(f"set server {self.backend}/{server} state {state}").strip()
        if out:
            raise ConfigError(f"haproxy refused 'set server {self.backend}/{server} state {state}': {out}")

    def drain(self, server: str, timeout: float = 120.0) -> float:
        """Stop new traffic to ``server`` and wait until it holds no session."""
        self.set_state(server, "drain")
        t0 = time.monotonic()
        while True:
            st = self.servers()[server]
            if int(st["scur"] or 0) == 0 and int(st["qcur"] or 0) == 0:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise BalancerError(f"{server}: still {st['scur']} sessions after {timeout:.0f}s of draining")
            time.sleep(0.1)

    def wait_up(self, server: str, timeout: float = 60.0) -> float:
        """Wait until HAProxy's *own* health check passes (L7OK) for ``server``."""
        t0 = time.monotonic()
        while True:
            st = self.servers().get(server, {})
            if st.get("check_status") == "L7OK" and st.get("status", "").startswith(("UP", "DRAIN")):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise BalancerError(
                    f"{server}: haproxy check not passing after {timeout:.0f}s "
                    f"(status {st.get('status')}, check {st.get('check_status')})"
                )
            time.sleep(0.2)
