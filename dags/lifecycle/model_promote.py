"""
### model_promote: roll a passing version onto the serving fleet

Runs once per passing `airlock_verdict` event (a pass from `model_evaluate`)
unless `promotion.auto_promote` is false: `verdict_dispatch` reads every event
and triggers this DAG with run id `verdict__<model>__<digest>` and the
verdict's model and digest as conf, so each pass is considered once and none
is dropped; the runs queue here, one at a time. Triggerable by hand for a
given model and digest (the version must carry a `pass` verdict).

1. **resolve** — the model version to promote and the current champion.
2. **approval** — a Human-in-the-loop *Approve / Reject* step when the policy
   asks for it (`promotion.require_approval`, `promotion.approval_models`)
   or the `require_approval` Param is set. A rejection ends the run with the
   fleet and the champion untouched.
3. **rollout** — one node at a time, the first as canary: stage and verify the
   weights, drain in HAProxy, restart on the new version, health, smoke
   prompt, ready. The canary is baked (error rate, TTFT p95 against the rest
   of the fleet) before the others move. Any failure puts every touched node
   back on the previous version from its local cache. One rollout at a time
   across `model_promote` and `model_rollback`; a second is refused.
4. **finalize** — only now: `previous` gets the old champion, `champion` the
   new version, and the rollout history is recorded on the model version.

Runbooks: `docs/runbooks/failed-promotion.md`, `docs/runbooks/stuck-rollout.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, task

from airlock.payloads import Finalized, PromotionRequest, RolloutPlan, RolloutResult
from lifecycle.common import cfg, default_args, form, step


@dag(
    dag_id="model_promote",
    schedule=None,  # triggered per passed airlock_verdict event by verdict_dispatch (dags/lifecycle/dispatch.py)
    catchup=False,
    max_active_runs=1,  # one rollout at a time: the dispatched runs queue
    tags=["airlock", "promote"],
    doc_md=__doc__,
    default_args=default_args(timeout=timedelta(hours=6)),  # a rollout restarts every node in turn
    params={
        "model": Param("airlock-demo", type="string", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        "digest": Param(
            "",
            type="string",
            pattern=r"^([0-9a-f]{64})?$",
            description="Digest of a version with a pass verdict (given by verdict_dispatch when dispatched).",
        ),
        "require_approval": Param(False, type="boolean", description="Ask a human before touching the fleet."),
    },
)
def model_promote():
    from airlock import promotion

    @task
    @step
    def resolve() -> RolloutPlan:
        return promotion.resolve_promotion(cfg(), form(PromotionRequest))

    @task.branch
    @step
    def approval_needed(plan: RolloutPlan) -> str:
        ask = promotion.needs_approval(cfg(), plan.model, form(PromotionRequest).require_approval)
        return "approve" if ask else "no_approval_needed"

    approve = ApprovalOperator(
        task_id="approve",
        subject="Promote {{ ti.xcom_pull(task_ids='resolve')['model'] }} "
        "v{{ ti.xcom_pull(task_ids='resolve')['version'] }} to the fleet?",
        body="Candidate digest `{{ ti.xcom_pull(task_ids='resolve')['digest'] }}` passed evaluation. "
        "Its report is on the MLflow model version. Approve to start the rolling restart.",
        ignore_downstream_trigger_rules=True,
        response_timeout=timedelta(days=2),
        retries=0,
    )
    skip = EmptyOperator(task_id="no_approval_needed")

    @task(retries=0, trigger_rule="none_failed_min_one_success")
    @step
    def rollout(plan: RolloutPlan) -> RolloutResult:
        return promotion.execute(cfg(), plan, "promote")

    @task
    @step
    def finalize(plan: RolloutPlan, result: RolloutResult) -> Finalized:
        return promotion.finalize(cfg(), plan, result)

    plan = resolve()
    approval_needed(plan) >> [approve, skip]
    result = rollout(plan)
    [approve, skip] >> result
    finalize(plan, result)


promote_dag = model_promote()

if __name__ == "__main__":
    promote_dag.test()
