"""The embedded local stack's settings (``stack.yaml``), apart from the product's.

Why apart: a production deployment reads ``airlock.yaml`` only; ports of a
SeaweedFS, an MLflow and an Airflow started on 127.0.0.1 mean nothing there.
Any key can be overridden by ``AIRLOCK_STACK__<KEY>`` (parsed as YAML), or
point ``AIRLOCK_STACK_CONFIG`` at another file.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from airlock.config import REPO_ROOT, load_model

ENV_PREFIX = "AIRLOCK_STACK__"
CONFIG_ENV = "AIRLOCK_STACK_CONFIG"
DEFAULT_CONFIG = REPO_ROOT / "stack.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeaweedConfig(_Model):
    s3_port: int = 8333
    master_port: int = 9333
    volume_port: int = 8340
    filer_port: int = 8888
    admin_port: int = 23646
    webdav_port: int = 7333


class StackConfig(_Model):
    """The embedded local stack (``make up``); everything binds to 127.0.0.1."""

    dir: Path = Field(Path(".airlock"), description="the stack's data, logs, pids and secrets")
    seaweedfs: SeaweedConfig = SeaweedConfig()
    mlflow_port: int = 5000
    mlflow_workers: int = Field(1, ge=1, le=16, description="server worker processes (each ~250 MB)")
    mlflow_artifact_bucket: str = "airlock-mlflow"
    airflow_port: int = 8080
    airflow_db: str = Field("sqlite", description="'sqlite' or a SQLAlchemy URL")
    airflow_parallelism: int = Field(4, ge=1, le=64, description="LocalExecutor slots; keep small on 2 cores")
    olah_port: int = 8090
    pushgateway_port: int = 9091
    startup_timeout_s: float = Field(240, gt=0)
    root: Path = Field(REPO_ROOT, description="folder relative paths are resolved against")

    @model_validator(mode="after")
    def _resolve_dir(self) -> StackConfig:
        object.__setattr__(self, "dir", self.dir if self.dir.is_absolute() else self.root / self.dir)
        return self


def load_stack_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> StackConfig:
    """Load ``stack.yaml`` (or ``$AIRLOCK_STACK_CONFIG``) with ``AIRLOCK_STACK__*`` overrides."""
    env = dict(os.environ if environ is None else environ)
    return load_model(StackConfig, Path(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG), env, ENV_PREFIX)
