"""Shared DAG wiring: the Assets that chain the lifecycle, and two helpers.

Not a DAG file (listed in .airflowignore). Kept tiny on purpose.
"""

from __future__ import annotations

from airflow.sdk import Asset

CANDIDATE = Asset(name="airlock_candidate", uri="airlock://registry/candidates")
VERDICT = Asset(name="airlock_verdict", uri="airlock://verdicts/pass")


def cfg():
    """The validated airlock.yaml (plus AIRLOCK__* overrides) of this worker."""
    from airlock.config import load_config

    return load_config()


def hf_token() -> str | None:
    """The hub token from the ``hf_hub`` connection; None falls back to HF_TOKEN."""
    from airflow.sdk import Connection

    try:
        return Connection.get("hf_hub").password or None
    except Exception:  # noqa: BLE001 - no connection configured: fall back to HF_TOKEN
        return None


def airflow_run_url(ctx) -> str:
    """Link to this DAG run in the Airflow UI, recorded in MLflow and reports."""
    from urllib.parse import quote

    from airflow.sdk import conf

    base = conf.get("api", "base_url", fallback="http://127.0.0.1:8080").rstrip("/")
    return f"{base}/dags/{ctx['dag'].dag_id}/runs/{quote(ctx['run_id'], safe='')}"


def known_versions(limit: int = 20) -> list[str]:
    """Passing version numbers recorded by the pipeline, for the rollback form.

    Read from a small local file that ``model_evaluate`` keeps up to date, so
    parsing the DAG never calls MLflow or S3.
    """
    import json

    try:
        rows = json.loads((cfg().state_dir / "versions.json").read_text())
    except (OSError, ValueError):
        return []
    return [str(r["version"]) for r in rows if r.get("verdict") == "pass"][-limit:]
