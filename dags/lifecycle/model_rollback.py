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

from airflow.sdk import Param, dag, task

from airlock.payloads import Finalized, RollbackRequest, RolloutPlan, RolloutResult
from lifecycle.common import cfg, default_args, form, known_versions, step


@dag(
    dag_id="model_rollback",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["airlock", "rollback"],
    doc_md=__doc__,
    default_args=default_args(timeout=timedelta(hours=6)),
    params={
        "model": Param("airlock-demo", type="string", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        "version": Param(
            "previous",
            type="string",
            examples=["previous", *known_versions()],
            pattern=r"^(previous|champion|[0-9]{1,9}|[0-9a-f]{64})$",
            description="'previous', a model version number, or a digest.",
        ),
    },
)
def model_rollback():
    from airlock import promotion

    @task
    @step
    def resolve() -> RolloutPlan:
        return promotion.resolve_rollback(cfg(), form(RollbackRequest))

    @task(retries=0)
    @step
    def rollout(plan: RolloutPlan) -> RolloutResult:
        return promotion.execute(cfg(), plan, "rollback")

    @task
    @step
    def finalize(plan: RolloutPlan, result: RolloutResult) -> Finalized:
        return promotion.finalize(cfg(), plan, result)

    plan = resolve()
    finalize(plan, rollout(plan))


rollback_dag = model_rollback()

if __name__ == "__main__":
    rollback_dag.test()
