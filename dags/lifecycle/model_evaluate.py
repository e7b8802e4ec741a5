"""
### model_evaluate: accuracy and serving performance, judged against the champion

Runs once per `airlock_candidate` event (emitted by `model_intake`, or made
in the UI with the extra model, digest, manifest_uri, revision,
mlflow_run_id): `candidate_dispatch` reads every event and triggers this DAG
with run id `candidate__<model>__<digest>` and the event's model and digest as
conf, so each version is evaluated once and no event is dropped; the runs
queue here, one at a time. Or by hand (Params: model, digest — empty means the
newest version — suite, and policy overrides for this run).

Each model is judged by its own policy (`models.<name>` in airlock.yaml: suite,
floors, minimum effect, SLOs; absent keys take the global defaults); the
`policy` Param overrides it for one run, and the MLflow run records both.

1. **stage** — materialises the version onto the staging node, checking every
   sha256 *before* anything is served (a corrupted blob stops here).
2. **serve** — starts the staging vLLM node and waits for `/health`; a node that
   cannot start fails with the tail of its log.
3. **accuracy** — lm-eval against the node: log-likelihood tasks through
   `/v1/completions`, the suite's chat tasks through `/v1/chat/completions` with
   the model's chat template (its sha256 is recorded); per task the metric, its
   stderr and per-sample scores (no text is logged).
4. **performance** — vLLM's serve benchmark at each configured concurrency, in
   rounds interleaved with a baseline: the champion, served on the baseline
   node, or with no champion the candidate's own re-runs. Each figure (output
   throughput, goodput under the model's SLOs, median TTFT) gets a ratio with
   its 90% interval; a point stops once every interval is decided. A
   regression is only an interval wholly beyond the allowed change.
5. **record** — one MLflow run per candidate with params, metrics, raw results.
6. **check** — Great Expectations gates on the results; a failure names the
   expectation and no verdict is given.
7. **decide** — the verdict against the `champion` alias (or absolute floors),
   the one-page report, the model version (tagged with digest and verdict,
   alias `challenger` on pass).
8. **sign** — on pass only: the pipeline signs the version's files and an
   attestation of the verdict (OpenSSF model-signing, key from the
   `airlock_signing` connection) into the registry, write-once. This signed
   pass is the only thing promotion, rollback and the nodes accept.
9. **signal** — on pass, emits `airlock_verdict` for promotion; on fail it is
   skipped and the champion is untouched.

The staging and baseline nodes are stopped by a teardown task whatever happens. A bad
request, a node that cannot load the candidate or a failed result gate fails
its task at once; an unreachable node, store or MLflow is retried with backoff.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from airlock.payloads import (
    AccuracyResult,
    EvaluationRequest,
    EvaluationRun,
    EvaluationTarget,
    PerformanceResult,
    StagedCandidate,
    VerdictEvent,
)
from lifecycle.common import VERDICT, airflow_run_url, cfg, default_args, form, signing_key, step


@dag(
    dag_id="model_evaluate",
    schedule=None,  # triggered per airlock_candidate event by candidate_dispatch (dags/lifecycle/dispatch.py)
    catchup=False,
    max_active_runs=1,  # one staging node: the dispatched runs queue
    tags=["airlock", "evaluate"],
    doc_md=__doc__,
    default_args=default_args(),
    params={
        "model": Param("airlock-demo", type="string", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        "digest": Param(
            "",
            type="string",
            pattern=r"^([0-9a-f]{64})?$",
            description="Manifest digest; empty: the newest version of the model.",
        ),
        "suite": Param("", type="string", description="Suite from airlock.yaml; empty: the model's (models.<name>)."),
        "policy": Param(
            {},
            type="object",
            description="Overrides of the model's policy for this run, e.g. "
            '{"verdict": {"floors": {"arc_easy": 0.4}, "min_effect": 0.05}, "slo_ttft_ms": 500}. '
            "Recorded in the MLflow run.",
        ),
    },
)
def model_evaluate():
    from airlock import gate

    @task(retries=0)
    @step
    def stage() -> StagedCandidate:
        target: EvaluationTarget = gate.resolve_target(cfg(), form(EvaluationRequest))
        return gate.stage(cfg(), target)

    @task(retries=0)
    @step
    def serve(staged: StagedCandidate) -> StagedCandidate:
        return gate.serve(cfg(), staged)

    @task
    @step
    def accuracy(staged: StagedCandidate) -> AccuracyResult:
        return gate.accuracy(cfg(), staged)

    @task
    @step
    def performance(staged: StagedCandidate) -> PerformanceResult:
        return gate.performance(cfg(), staged)

    @task(trigger_rule="all_done")
    @step
    def stop_staging() -> None:
        gate.stop_staging(cfg())

    @task
    @step
    def record(staged: StagedCandidate, acc: AccuracyResult, perf: PerformanceResult) -> EvaluationRun:
        return gate.record(cfg(), staged, acc, perf, airflow_run_url())

    @task(retries=0)
    @step
    def check(
        staged: StagedCandidate, acc: AccuracyResult, perf: PerformanceResult, run: EvaluationRun
    ) -> EvaluationRun:
        return gate.check(cfg(), staged, acc, perf, run)

    @task
    @step
    def decide(
        staged: StagedCandidate, acc: AccuracyResult, perf: PerformanceResult, run: EvaluationRun
    ) -> VerdictEvent:
        return gate.decide_and_report(cfg(), staged, acc, perf, run, airflow_run_url())

    @task
    @step
    def sign(staged: StagedCandidate, verdict: VerdictEvent) -> VerdictEvent:
        return gate.sign(cfg(), staged, verdict, signing_key())

    @task(outlets=[VERDICT])
    @step
    def signal(verdict: VerdictEvent, *, outlet_events=None) -> VerdictEvent:
        from airflow.sdk.exceptions import AirflowSkipException

        if not verdict.passed:
            raise AirflowSkipException(f"verdict: fail — {'; '.join(verdict.reasons)}")
        outlet_events[VERDICT].extra = verdict.model_dump(mode="json")
        return verdict

    staged = stage()
    served = serve(staged)
    acc = accuracy(served)
    perf = performance(served)
    acc >> perf  # never measure throughput while lm-eval loads the node
    teardown = stop_staging()
    served >> teardown
    perf >> teardown
    run = record(served, acc, perf)
    checked = check(served, acc, perf, run)
    signal(sign(served, decide(served, acc, perf, checked)))


evaluate_dag = model_evaluate()

if __name__ == "__main__":
    evaluate_dag.test()
