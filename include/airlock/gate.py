"""The evaluation gate, step by step: the ``model_evaluate`` DAG's task bodies.

stage -> serve -> accuracy -> performance -> record -> check -> decide, with
the staging node stopped at the end whatever happened. Each step takes and
returns the typed payloads of :mod:`airlock.payloads`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from airlock import benchmark, catalog, evaluation, metrics, passes, quality, report
from airlock.config import AirlockConfig, VerdictConfig
from airlock.errors import NotFound
from airlock.materialize import materialize
from airlock.nodes.base import ServingNode
from airlock.nodes.fleet import build_node
from airlock.payloads import (
    AccuracyResult,
    EvaluationRequest,
    EvaluationRun,
    EvaluationTarget,
    PerformanceResult,
    StagedCandidate,
    TaskScore,
    VerdictEvent,
)
from airlock.registry import Registry, manifest_key
from airlock.tracking import runs, versions
from airlock.verdict import Score, Verdict, decide

log = logging.getLogger(__name__)


def staging_node(cfg: AirlockConfig) -> ServingNode:
    """The node candidates are evaluated on: same drivers as the fleet, not behind HAProxy."""
    return build_node(cfg, cfg.evaluation.staging)


def resolve_target(cfg: AirlockConfig, req: EvaluationRequest, registry: Registry | None = None) -> EvaluationTarget:
    """The version to evaluate (an empty digest means the newest of the model) and its suite:
    the form's, else the model's policy's (``models`` in the config), else the default."""
    overrides = {**req.policy, **({"suite": req.suite} if req.suite else {})}
    name, _ = evaluation.suite(cfg, cfg.model_policy(req.model, overrides).suite)
    registry = registry or Registry.from_config(cfg)
    digest = req.digest
    if not digest:
        newest = registry.manifests(req.model)
        if not newest:
            raise NotFound(f"model {req.model!r} has no version in the registry")
        digest = newest[0].digest
    registry.get_manifest(req.model, digest)  # NotFound if absent
    return EvaluationTarget(
        model=req.model,
        digest=digest,
        suite=name,
        manifest_uri=registry.uri(manifest_key(req.model, digest)),
        policy=overrides,  # the form's suite included: the recorded policy names the suite run
    )


def _load_onto(cfg: AirlockConfig, node: ServingNode, model: str, digest: str) -> Path:
    """Materialise a version on a node's disk, verifying every sha256, and make it the node's version."""
    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(model, digest)
    node.stop()  # a leftover from an interrupted run
    model_dir = materialize(registry, manifest, node.version_dir(manifest.digest))
    node.activate(manifest.digest)
    return model_dir


def stage(cfg: AirlockConfig, target: EvaluationTarget) -> StagedCandidate:
    """Materialise the version on the staging node, verifying every sha256."""
    node = staging_node(cfg)
    model_dir = _load_onto(cfg, node, target.model, target.digest)
    return StagedCandidate(**target.model_dump(), model_dir=str(model_dir), base_url=node.base_url)


def serve(cfg: AirlockConfig, staged: StagedCandidate) -> StagedCandidate:
    """Start the staging node on the candidate; a node that cannot start fails with its log tail."""
    node = staging_node(cfg)
    node.activate(staged.digest)
    node.start()
    seconds = node.wait_healthy()
    log.info("staging node up on %s in %.1fs", staged.digest[:12], seconds)
    return staged.model_copy(update={"startup_s": round(seconds, 1)})


def stop_staging(cfg: AirlockConfig) -> None:
    """Stop the staging node and the baseline node, whatever state they were left in."""
    staging_node(cfg).stop()
    build_node(cfg, cfg.evaluation.baseline).stop()


def accuracy(cfg: AirlockConfig, staged: StagedCandidate) -> AccuracyResult:
    scores, raw = evaluation.run_suite(
        cfg, staged.suite, staged.base_url, cfg.serving.served_model_name, Path(staged.model_dir)
    )
    return AccuracyResult(scores=scores, raw=raw)


def rival(cfg: AirlockConfig, model: str, digest: str) -> versions.VersionInfo | None:
    """The champion a version is judged against: none when the version is the champion itself."""
    champ = versions.champion(cfg, model)
    return champ if champ is not None and champ.digest and champ.digest != digest else None


def performance(cfg: AirlockConfig, staged: StagedCandidate) -> PerformanceResult:
    """vLLM's serve benchmark, the candidate's runs interleaved with the champion's (served on the
    baseline node) or, with no champion, with its own re-runs; goodput under the model's SLOs."""
    policy = cfg.model_policy(staged.model, staged.policy)
    slo = {"slo_ttft_ms": policy.slo_ttft_ms, "slo_tpot_ms": policy.slo_tpot_ms}
    cfg = cfg.model_copy(update={"benchmark": cfg.benchmark.model_copy(update=slo)})
    champ = rival(cfg, staged.model, staged.digest)
    baseline: ServingNode | None = None
    label = "re-run"
    try:
        if champ is not None and champ.digest:
            baseline = build_node(cfg, cfg.evaluation.baseline)
            _load_onto(cfg, baseline, staged.model, champ.digest)
            baseline.start()
            log.info("baseline node up on champion v%s in %.1fs", champ.version, baseline.wait_healthy())
            label = f"champion v{champ.version}"
        with tempfile.TemporaryDirectory(prefix="airlock-bench-") as d:
            return benchmark.compare(
                cfg,
                staged.base_url,
                baseline.base_url if baseline else None,
                cfg.serving.served_model_name,
                Path(staged.model_dir),
                Path(d),
                benchmark.allowances(policy.verdict),
                label,
            )
    finally:
        if baseline is not None:
            baseline.stop()


def record(
    cfg: AirlockConfig,
    staged: StagedCandidate,
    acc: AccuracyResult,
    perf: PerformanceResult,
    airflow_run_url: str | None,
) -> EvaluationRun:
    """Open the candidate's MLflow run and log every raw result, with the policy it is judged by."""
    manifest = Registry.from_config(cfg).get_manifest(staged.model, staged.digest)
    policy = cfg.model_policy(staged.model, staged.policy)
    params = {
        "serving.dtype": cfg.serving.dtype,
        "serving.max_model_len": cfg.serving.max_model_len or "model's own",
        "serving.extra_args": " ".join(cfg.serving.extra_args),
        "serving.driver": cfg.evaluation.staging.driver,
        "bench.concurrencies": cfg.benchmark.concurrencies,
        "bench.baseline": perf.baseline,
        "bench.num_prompts": cfg.benchmark.num_prompts,
        "bench.input_len": cfg.benchmark.input_len,
        "bench.output_len": cfg.benchmark.output_len,
        "hardware.machine": platform.machine(),
        "hardware.processor": platform.processor() or "unknown",
        "hardware.cpus": os.cpu_count() or 0,
        "hardware.accelerator": "nvidia" if shutil.which("nvidia-smi") else "none (CPU)",
        "startup_s": staged.startup_s,
        "eval.chat_template_sha256": acc.raw.get("chat_template_sha256") or "none",
        "eval.chat_tasks": ",".join(acc.raw.get("chat_tasks", [])) or "none",
        "eval.datasets_endpoint": cfg.evaluation.datasets_endpoint or "local cache",
        "policy": json.dumps(policy.model_dump(mode="json"), sort_keys=True),
        "policy.overrides": json.dumps(staged.policy, sort_keys=True) if staged.policy else "none",
        "bench.slo_ttft_ms": policy.slo_ttft_ms,
        "bench.slo_tpot_ms": policy.slo_tpot_ms,
    }
    run_id = runs.start_evaluation(cfg, manifest, staged.manifest_uri, staged.suite, params, airflow_run_url)
    runs.log_accuracy(cfg, run_id, acc.scores, acc.raw)
    runs.log_benchmark(cfg, run_id, perf)
    return EvaluationRun(run_id=run_id)


def check(
    cfg: AirlockConfig, staged: StagedCandidate, acc: AccuracyResult, perf: PerformanceResult, run: EvaluationRun
) -> EvaluationRun:
    """Great Expectations gates; the validation result is logged either way. GateFailed on a failure."""
    _, s = evaluation.suite(cfg, staged.suite)
    acc_res = quality.eval_gate(acc.scores, s.tasks, s.expected_samples)
    bench_res = quality.bench_gate(perf.points, cfg.benchmark.concurrencies)
    runs.record_result_gate(
        cfg, run.run_id, {"accuracy": acc_res.raw, "benchmark": bench_res.raw}, acc_res.success and bench_res.success
    )
    quality.enforce(acc_res, bench_res)
    return run


def judge(
    scores: list[TaskScore],
    perf: PerformanceResult | None,
    cfg: VerdictConfig,
    champion: tuple[list[dict[str, Any]], dict[str, Any]] | None = None,
    champion_label: str = "champion",
) -> Verdict:
    """Pure: the verdict on a candidate's results, against a champion's recorded scores and
    per-sample scores (as :func:`runs.evidence` returns them) or the floors; performance
    against the baseline its runs were interleaved with."""
    cand = {s.task: Score(s.value, s.stderr, s.n, s.samples) for s in scores}
    if champion is None:
        return decide(cand, perf, cfg)
    summaries, samples = champion
    champ = {s["task"]: Score(s["value"], s["stderr"], s["n"], samples.get(s["task"])) for s in summaries}
    return decide(cand, perf, cfg, champ, champion_label)


def measured(acc: AccuracyResult, policy: dict[str, Any]) -> dict[str, Any]:
    """What the report says about how the scores were measured (no text of any prompt)."""
    chat, gen = set(acc.raw.get("chat_tasks", [])), acc.raw.get("generation", {})
    return {
        "suite": acc.raw.get("suite"),
        "chat_template_sha256": acc.raw.get("chat_template_sha256"),
        "policy": json.dumps(policy, sort_keys=True),
        "tasks": [
            {"task": s.task, "metric": s.metric, "n": s.n, "chat": s.task in chat, "generation": gen.get(s.task)}
            for s in acc.scores
        ],
    }


def decide_and_report(
    cfg: AirlockConfig,
    staged: StagedCandidate,
    acc: AccuracyResult,
    perf: PerformanceResult,
    run: EvaluationRun,
    airflow_run_url: str | None,
) -> VerdictEvent:
    """Compare with the champion, write the report, register the version, set ``challenger`` on pass."""
    manifest = Registry.from_config(cfg).get_manifest(staged.model, staged.digest)
    champ = rival(cfg, manifest.name, manifest.digest)
    evidence, label = None, "floors"
    if champ is not None and champ.evaluation_run:
        evidence, label = runs.evidence(cfg, champ.evaluation_run), f"champion v{champ.version}"
    policy = cfg.model_policy(staged.model, staged.policy)
    verdict = judge(acc.scores, perf, policy.verdict, evidence, label).as_dict()
    version = versions.register_candidate(cfg, manifest, staged.manifest_uri, run.run_id, verdict)
    catalog.remember(cfg.state_dir, manifest.name, version, manifest.digest, verdict["label"])
    metrics.record(cfg, manifest.name, {"airlock_verdicts": {"pass" if verdict["passed"] else "rejected": 1}})
    mlflow_run = runs.run_url(cfg, run.run_id)
    with tempfile.TemporaryDirectory() as d:
        files = report.write(
            Path(d),
            model=manifest.name,
            digest=manifest.digest,
            version=version,
            verdict=verdict,
            perf=perf,
            links={"Airflow run": airflow_run_url or "", "manifest": staged.manifest_uri, "MLflow run": mlflow_run},
            measured=measured(acc, policy.model_dump(mode="json")),
        )
        runs.finish_evaluation(cfg, run.run_id, verdict, list(files), version)
    log.info(
        "verdict for %s@%s: %s (%s)",
        manifest.name,
        manifest.digest[:12],
        verdict["label"],
        "; ".join(verdict["reasons"]),
    )
    return VerdictEvent(
        model=manifest.name,
        digest=manifest.digest,
        manifest_uri=staged.manifest_uri,
        model_version=version,
        verdict=verdict["label"],
        passed=verdict["passed"],
        reasons=verdict["reasons"],
        mlflow_run_id=run.run_id,
        mlflow_run_url=mlflow_run,
        report=f"{mlflow_run}/artifacts/report/report.html",
    )


def sign(cfg: AirlockConfig, staged: StagedCandidate, verdict: VerdictEvent, key: bytes) -> VerdictEvent:
    """On a pass, sign it (files + verdict attestation) into the registry; a fail is returned as it is."""
    if not verdict.passed:
        return verdict
    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(verdict.model, verdict.digest)
    att = passes.issue(cfg, registry, manifest, verdict.model_version, staged.suite, verdict.mlflow_run_id, key)
    where = passes.uri(registry, manifest)
    versions.record_pass(cfg, manifest.name, verdict.model_version, where, att.signed_at)
    return verdict.model_copy(update={"signed_pass": where})
