"""A real Airflow (api-server, scheduler, dag-processor, LocalExecutor) on a
fresh PostgreSQL database, wired to the session's SeaweedFS, MLflow and hub.

The embedded stack and ``make demo`` use SQLite; these tests make sure the
same DAGs run on Postgres, as production does.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.conftest import REPO, VENV_BIN, free_port


@pytest.fixture(scope="session")
def postgres_db():
    import psycopg2

    name = f"airlock_e2e_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def hf_token() -> str:
    return f"hf_e2e{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def clean_airflow_environ():
    """Hide the in-process DagBag tests' ``AIRFLOW*`` settings (unit-test mode,
    a throwaway home) from the real Airflow: in unit-test mode every component
    signs its own JWT, and each task dies with "Invalid auth token"."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
            mp.delenv(key)
        yield


@pytest.fixture(scope="session")
def airflow(clean_airflow_environ, workdir, postgres_db, config_path, s3_env, hub, pushgateway, hf_token):
    """Airflow on Postgres; yields an :class:`AirflowClient` logged in as admin."""
    from airlock_dev.stack.airflow_client import AirflowClient
    from airlock_dev.stack.services import airflow_components, airflow_env

    home = workdir / "airflow"
    port = free_port()
    pipeline = {
        "AIRLOCK_CONFIG": str(config_path),
        "AWS_ACCESS_KEY_ID": s3_env.creds["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": s3_env.creds["AWS_SECRET_ACCESS_KEY"],
        "HF_ENDPOINT": hub["url"],
        "HF_HUB_OFFLINE": "0",
        "HF_TOKEN": hf_token,  # sent to the hub stand-in; the hygiene test looks for it in every log
        "AIRLOCK__METRICS__PUSHGATEWAY_URL": pushgateway,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    env = airflow_env(home, port, postgres_db, 2, REPO, pipeline)
    full_env = {**os.environ, **env}
    subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"],
        env=full_env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    procs = airflow_components(home, home / "logs", home / "run", env, port)  # triggerer: HITL approval
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.wait_healthy(180)
        subprocess.run(
            [str(VENV_BIN / "airflow"), "dags", "reserialize"],
            env=full_env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        client = AirflowClient(f"http://127.0.0.1:{port}", "admin", password)
        client.home = home
        yield client
    finally:
        for p in reversed(procs):
            p.stop()
        # Task processes start nodes in their own sessions: stop what runs still.
        from airlock.config import load_config
        from airlock.gate import stop_staging
        from airlock.nodes.fleet import fleet

        cfg = load_config(config_path, environ={})
        stop_staging(cfg)
        for n in fleet(cfg):
            n.stop()
