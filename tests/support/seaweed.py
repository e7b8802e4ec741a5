"""A SeaweedFS (the real registry store) on free ports in a folder, for tests and benches."""

from __future__ import annotations

from pathlib import Path


def start_seaweedfs(d: Path, free_port):
    """Start ``weed mini`` under ``d``; returns (process, endpoint URL, credentials)."""
    from airlock_dev.config import SeaweedConfig
    from airlock_dev.stack import secrets
    from airlock_dev.stack.services import seaweedfs

    creds = secrets.load_or_create(d / "secrets.env", environ={})
    ports = SeaweedConfig(
        s3_port=free_port(),
        master_port=free_port(),
        volume_port=free_port(),
        filer_port=free_port(),
        admin_port=free_port(),
        webdav_port=free_port(),
    )
    proc = seaweedfs(d / "data", d / "seaweedfs.log", d / "seaweedfs.pid", ports, creds)
    proc.start()
    proc.wait_healthy(60)
    return proc, f"http://127.0.0.1:{ports.s3_port}", creds
