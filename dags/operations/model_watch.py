"""
### model_watch: scheduled update runs

Follows the hub repos and branches listed under `watch.repos` in
`airlock.yaml`, on the `watch.schedule` cron. For each branch it resolves the
current commit; a commit that is not yet in the registry triggers one
`model_intake` run **pinned to that commit sha**.

Each intake run's id is `watch__<model>__<sha>`: Airflow refuses a second run
with the same id, so a commit is never ingested twice, however often the
watcher runs or overlaps. A run that finds nothing new ends after
`find_new` and says so in its log; the trigger task is then skipped.

An unreachable repo is logged and skipped; if all of them fail, the run fails.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from airlock.payloads import IntakeTrigger
from lifecycle.common import cfg, default_args, hf_token, step


@dag(
    dag_id="model_watch",
    schedule=cfg().watch.schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["airlock", "intake", "schedule"],
    doc_md=__doc__,
    default_args=default_args(timedelta(minutes=2), timeout=timedelta(minutes=30)),
)
def model_watch():
    @task
    @step
    def find_new() -> list[IntakeTrigger]:
        from airlock import watch

        return watch.task_find_new(cfg(), hf_token())

    TriggerDagRunOperator.partial(
        task_id="trigger_intake",
        trigger_dag_id="model_intake",
        skip_when_already_exists=True,
        wait_for_completion=False,
    ).expand_kwargs(find_new())


watch_dag = model_watch()
