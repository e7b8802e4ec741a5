"""
### model_rollback: put an earlier version back on the fleet, by hand

The form's `version` defaults to `previous` (the alias set at the last
promotion); it also takes a model version number or a manifest digest. The
versions known to this installation are listed under the field.

The fleet is rolled node by node exactly as in a promotion (drain, restart,
health, smoke prompt, ready), from each node's local cache when the version is
still there, without a canary bake: a rollback is the remedy, not the
experiment. Afterwards `champion` points at the restored version and
`previous` at the one it replaced. It shares the fleet lock with
`model_promote`: while one runs, the other is refused.

Runbook: `docs/runbooks/manual-rollback.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from lifecycle.common import cfg, known_versions


@dag(
    dag_id="model_rollback",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["airlock", "rollback"],
    doc_md=__doc__,
    default_args={"owner": "airlock", "retries": 1, "retry_delay": timedelta(seconds=20)},
    params={
        "model": Param("airlock-demo", type="string", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        "version": Param("previous", type="string", examples=["previous", *known_versions()],
                         pattern=r"^(previous|champion|[0-9]{1,9}|[0-9a-f]{64})$",
                         description="'previous', a model version number, or a digest."),
    },
)
def model_rollback():
    from airlock import promotion

    @task
    def resolve() -> dict:
        p = get_current_context()["params"]
        return promotion.resolve_rollback(cfg(), p["model"], p["version"])

    @task(retries=0)
    def rollout(target: dict) -> dict:
        return promotion.execute(cfg(), target, "rollback")

    @task
    def finalize(target: dict, history: dict) -> dict:
        return promotion.finalize(cfg(), target, history)

    target = resolve()
    finalize(target, rollout(target))


rollback_dag = model_rollback()

if __name__ == "__main__":
    rollback_dag.test()
