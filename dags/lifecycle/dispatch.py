"""The dispatchers: one evaluation per candidate event, one promotion per passed verdict.

Airflow folds Asset events that arrive close together (or while a DAG is at
max_active_runs) into one asset-triggered run and can attach some to no run at
all, so the lifecycle DAGs that do the work are not scheduled on the Assets;
these fast dispatchers are, read the events themselves and trigger one run per
event (:mod:`airlock.dispatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, Param, dag, task

from airlock.dispatch import (
    DispatchPlan,
    DispatchRequest,
    Event,
    RunTrigger,
    plan_candidates,
    plan_verdicts,
    refuse,
    window_start,
)
from lifecycle.common import CANDIDATE, VERDICT, cfg, default_args, form, step

FLOW = """
Each run reads the Asset's events **itself**, from the oldest event that
triggered it up to now (Airflow attaches only some events to a run, and events
that arrive while its queue entry waits to no run at all), so no event is
dropped however many arrive together.

1. **list_events** — validates each event's extra (`from_rest_api`, which the
   UI and REST API add, is dropped first) and plans one run per version.
2. **trigger_{target}** — one mapped task per version: triggers
   `{dag}` with run id `{prefix}__<model>__<digest>` and the event's
   `model` and `digest` as conf. A run id that exists already is *skipped*, not
   failed: an event read twice, or a version announced twice, runs once. To
   run a version again, clear its `{dag}` run or trigger `{dag}` by hand.
   The runs queue under `{dag}`'s `max_active_runs`.
3. **refuse_invalid** — an event with an unknown, missing or bad key fails the
   run, naming the event and the key; the valid events around it were
   dispatched all the same.

A manual run re-reads the events since its `since` Param (ISO 8601 with a UTC
offset), or of the last 24 hours when it is empty: use it to re-dispatch after
an outage. Runs overlap freely and take seconds.
"""

CANDIDATE_DOC = """
### candidate_dispatch: one `model_evaluate` run per `airlock_candidate` event

Scheduled on `airlock_candidate` (emitted by `model_intake`, or made in the
UI with the extra model, digest, manifest_uri, revision, mlflow_run_id).
""" + FLOW.format(target="evaluate", dag="model_evaluate", prefix="candidate")

VERDICT_DOC = """
### verdict_dispatch: one `model_promote` run per passed `airlock_verdict` event

Scheduled on `airlock_verdict` (a pass from `model_evaluate`) when
`promotion.auto_promote` is true; otherwise it is not scheduled, and a manual
run promotes nothing. Verdicts that are not a pass are logged and ignored.
""" + FLOW.format(target="promote", dag="model_promote", prefix="verdict")


def asset_events(asset: Asset) -> list[Event]:
    """The events of ``asset`` this dispatcher run must consider, oldest first: read from the
    Asset itself (the task's ``inlets``), from :func:`airlock.dispatch.window_start` up to now,
    not only the events Airflow attached to the run (it attaches some to no run at all)."""
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    req: DispatchRequest = form(DispatchRequest)
    triggered = [ev.timestamp for evs in (ctx.get("triggering_asset_events") or {}).values() for ev in evs]
    start = window_start(triggered, ctx["dag_run"].run_after, req.since)
    found = ctx["inlet_events"][asset].after(start.isoformat())
    return [
        Event(
            id=ev.id,
            timestamp=ev.timestamp,
            extra=dict(ev.extra or {}),
            source="/".join(x for x in (ev.source_dag_id, ev.source_run_id, ev.source_task_id) if x),
        )
        for ev in found
    ]


def dispatcher(
    dag_id: str, asset: Asset, target: str, doc: str, scheduled: bool, plan: Callable[[list[Event]], DispatchPlan]
):
    # No max_active_runs=1: runs take seconds and are idempotent, so none waits behind another.
    @dag(
        dag_id=dag_id,
        schedule=[asset] if scheduled else None,
        catchup=False,
        is_paused_upon_creation=False,  # it replaces the lifecycle DAGs' own Asset schedules: never parked
        tags=["airlock", "dispatch"],
        doc_md=doc,
        default_args=default_args(timedelta(seconds=10), timeout=timedelta(minutes=10), retries=2),
        params={
            "since": Param(
                "",
                type="string",
                description="Manual runs: re-read every event since this time (ISO 8601 with a UTC offset); "
                "empty: the last 24 hours. Versions that already have a run are skipped.",
            )
        },
    )
    def dispatch_dag():
        @task(inlets=[asset])
        @step
        def list_events(*, ti=None) -> list[RunTrigger]:
            result = plan(asset_events(asset))
            ti.xcom_push(key="invalid", value=result.invalid)  # for refuse_invalid
            ti.xcom_push(key="ignored", value=result.ignored)  # shown in the UI beside the triggers
            return result.triggers

        @task
        @step
        def refuse_invalid(invalid: list[str]) -> None:
            refuse(invalid)

        planned = list_events()
        TriggerDagRunOperator.partial(
            task_id=f"trigger_{target.removeprefix('model_')}",
            trigger_dag_id=target,
            logical_date=None,  # runs without a logical date, as the UI's trigger: no clash between two
            skip_when_already_exists=True,
            wait_for_completion=False,
            map_index_template="{{ task.trigger_run_id }}",
        ).expand_kwargs(planned)
        refuse_invalid(planned["invalid"])

    return dispatch_dag()


candidate_dag = dispatcher("candidate_dispatch", CANDIDATE, "model_evaluate", CANDIDATE_DOC, True, plan_candidates)
verdict_dag = dispatcher(
    "verdict_dispatch",
    VERDICT,
    "model_promote",
    VERDICT_DOC,
    cfg().promotion.auto_promote,
    lambda events: plan_verdicts(events, cfg().promotion.auto_promote),  # read again when the run starts
)
