"""
### registry_gc: registry retention

Removes old versions from the S3 registry. Kept, always:

- the newest `keep_last` versions of each model (default `retention.keep_last`);
- every version an MLflow alias points at (`champion`, `previous`, `challenger`);
- every version the fleet serves, or an unfinished rollout names.

A blob is deleted only when no remaining manifest references it and it is
older than `retention.blob_grace_hours` (a younger one may belong to an ingest
still running). Manifests go first, blobs last, so an interrupted run leaves
only orphan blobs for the next run.

**A dry run by default**: the log and the return value list what would go.
Untick `dry_run` to delete. Runbook: `docs/runbooks/full-disk.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from airlock.payloads import GcRequest, GcResult
from lifecycle.common import cfg, default_args, form, step


@dag(
    dag_id="registry_gc",
    schedule=cfg().retention.schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["airlock", "registry", "schedule"],
    doc_md=__doc__,
    default_args=default_args(timedelta(minutes=1), timeout=timedelta(hours=2)),
    params={
        "dry_run": Param(True, type="boolean", description="Only report what would be deleted."),
        "keep_last": Param(
            cfg().retention.keep_last,
            type="integer",
            minimum=1,
            maximum=1000,
            description="Newest versions kept per model (aliased ones are kept too).",
        ),
        "models": Param(
            [],
            type="array",
            items={"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]{0,63}$"},
            description="Only these models (empty: all).",
        ),
    },
)
def registry_gc():
    @task
    @step
    def collect() -> GcResult:
        from airlock import retention

        req = form(GcRequest)
        return retention.collect(cfg(), dry_run=req.dry_run, keep_last=req.keep_last, models=req.models or None)

    collect()


gc_dag = registry_gc()
