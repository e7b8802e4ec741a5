"""
### model_evaluate: accuracy and serving performance, judged against the champion

Runs when `model_intake` emits `airlock_candidate`, or by hand (Params: model,
digest — empty means the newest version — and suite).

1. **stage** — materialises the version onto the staging node, checking every
   sha256 *before* anything is served (a corrupted blob stops here).
2. **serve** — starts the staging vLLM node and waits for `/health`; a node that
   cannot start fails with the tail of its log.
3. **accuracy** — lm-eval against the node (`local-completions`); per task the
   metric, its stderr and per-sample scores (no text is logged).
4. **performance** — vLLM's serve benchmark swept over the configured
   concurrencies: throughput, TTFT/TPOT/ITL/E2E (mean, p50, p99), goodput.
5. **record** — one MLflow run per candidate with params, metrics, raw results.
6. **check** — Great Expectations gates on the results; a failure names the
   expectation and no verdict is given.
7. **decide** — the verdict against the `champion` alias (or absolute floors),
   the one-page report, the model version (tagged with digest and verdict,
   alias `challenger` on pass).
8. **signal** — on pass, emits `airlock_verdict` for promotion; on fail it is
   skipped and the champion is untouched.

The staging node is stopped by a teardown task whatever happens.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from lifecycle.common import CANDIDATE, VERDICT, airflow_run_url, cfg


def _target() -> dict:
    """Params when triggered by hand; the Asset event's extra when scheduled."""
    ctx = get_current_context()
    params = ctx["params"]
    model, digest = params["model"], params["digest"]
    events = ctx.get("triggering_asset_events") or {}
    for evs in events.values():
        if evs:
            model, digest = evs[-1].extra.get("model", model), evs[-1].extra.get("digest", digest)
    from airlock import gate

    return gate.resolve_target(cfg(), model, digest, params["suite"] or None)


@dag(
    dag_id="model_evaluate",
    schedule=[CANDIDATE],
    catchup=False,
    max_active_runs=1,  # one staging node
    tags=["airlock", "evaluate"],
    doc_md=__doc__,
    default_args={"owner": "airlock", "retries": 1, "retry_delay": timedelta(seconds=20)},
    params={
        "model": Param("airlock-demo", type="string", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        "digest": Param("", type="string", pattern=r"^([0-9a-f]{64})?$",
                        description="Manifest digest; empty: the newest version of the model."),
        "suite": Param("", type="string", description="Suite from airlock.yaml; empty: the default suite."),
    },
)
def model_evaluate():
    from airlock import gate

    @task(retries=0)
    def stage() -> dict:
        return gate.stage(cfg(), _target())

    @task(retries=0)
    def serve(staged: dict) -> dict:
        return gate.serve(cfg(), staged)

    @task
    def accuracy(staged: dict) -> dict:
        return gate.accuracy(cfg(), staged)

    @task
    def performance(staged: dict) -> dict:
        return gate.performance(cfg(), staged)

    @task(trigger_rule="all_done")
    def stop_staging() -> None:
        gate.stop_staging(cfg())

    @task
    def record(staged: dict, acc: dict, perf: dict) -> str:
        return gate.record(cfg(), staged, acc, perf, airflow_run_url(get_current_context()))

    @task(retries=0)
    def check(staged: dict, acc: dict, perf: dict, mlflow_run: str) -> str:
        gate.check(cfg(), staged, acc, perf, mlflow_run)
        return mlflow_run

    @task
    def decide(staged: dict, acc: dict, perf: dict, mlflow_run: str) -> dict:
        return gate.decide_and_report(cfg(), staged, acc, perf, mlflow_run, airflow_run_url(get_current_context()))

    @task(outlets=[VERDICT])
    def signal(verdict: dict, *, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        if not verdict["passed"]:
            raise AirflowSkipException(f"verdict: fail — {'; '.join(verdict['reasons'])}")
        outlet_events[VERDICT].extra = verdict
        return verdict

    staged = stage()
    served = serve(staged)
    acc = accuracy(served)
    perf = performance(served)
    acc >> perf  # never measure throughput while lm-eval loads the node
    teardown = stop_staging()
    served >> teardown
    perf >> teardown
    mlflow_run = record(served, acc, perf)
    checked = check(served, acc, perf, mlflow_run)
    signal(decide(served, acc, perf, checked))


evaluate_dag = model_evaluate()

if __name__ == "__main__":
    evaluate_dag.test()
