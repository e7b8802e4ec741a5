"""The evaluation gate, step by step: the ``model_evaluate`` DAG's task bodies.

stage -> serve -> accuracy -> performance -> record -> check -> decide, with
the staging node stopped at the end whatever happened. Every step takes and
returns JSON-safe dicts, so each is an Airflow task and a plain function.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import re
import tempfile
from pathlib import Path
from typing import Any

from airlock import benchmark, evaluation, metrics, quality, report, tracking
from airlock.config import AirlockConfig
from airlock.manifest import validate_name
from airlock.nodes.base import ServingNode
from airlock.nodes.fleet import build_node
from airlock.registry import Registry, manifest_key
from airlock.verdict import Perf, Score, decide

log = logging.getLogger(__name__)
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


class GateRequestError(ValueError):
    """The evaluation request names no valid model, version or suite."""


def staging_node(cfg: AirlockConfig) -> ServingNode:
    """The node candidates are evaluated on: same drivers as the fleet, not behind HAProxy."""
    return build_node(cfg, cfg.evaluation.staging)


def resolve_target(cfg: AirlockConfig, model: str, digest: str, suite: str | None,
                   registry: Registry | None = None) -> dict[str, Any]:
    """Validate the request; an empty digest means the newest version of ``model``."""
    try:
        validate_name(model)
    except ValueError as exc:
        raise GateRequestError(str(exc)) from None
    if suite and suite not in cfg.evaluation.suites:
        raise GateRequestError(f"unknown suite {suite!r}; configured: {', '.join(sorted(cfg.evaluation.suites))}")
    registry = registry or Registry.from_config(cfg)
    if not digest:
        versions = registry.manifests(model)
        if not versions:
            raise GateRequestError(f"model {model!r} has no version in the registry")
        digest = versions[0].digest
    if not DIGEST_RE.match(digest):
        raise GateRequestError(f"digest {digest!r} is not a sha256 hex string")
    registry.get_manifest(model, digest)  # raises if absent
    return {"model": model, "digest": digest, "suite": suite or cfg.evaluation.default_suite,
            "manifest_uri": registry.uri(manifest_key(model, digest))}


def stage(cfg: AirlockConfig, target: dict[str, Any]) -> dict[str, Any]:
    """Materialise the version on the staging node, verifying every sha256."""
    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(target["model"], target["digest"])
    node = staging_node(cfg)
    node.stop()  # a leftover from an interrupted run
    model_dir = registry.materialize(manifest, node.version_dir(manifest.digest))
    node.activate(manifest.digest)
    return {**target, "model_dir": str(model_dir), "base_url": node.base_url}


def serve(cfg: AirlockConfig, staged: dict[str, Any]) -> dict[str, Any]:
    """Start the staging node on the candidate; NodeError carries its log tail."""
    node = staging_node(cfg)
    node.activate(staged["digest"])
    node.start()
    seconds = node.wait_healthy()
    log.info("staging node up on %s in %.1fs", staged["digest"][:12], seconds)
    return {**staged, "startup_s": round(seconds, 1)}


def stop_staging(cfg: AirlockConfig) -> None:
    staging_node(cfg).stop()


def accuracy(cfg: AirlockConfig, staged: dict[str, Any]) -> dict[str, Any]:
    scores, raw = evaluation.run_suite(cfg, staged["suite"], staged["base_url"], cfg.serving.served_model_name,
                                       Path(staged["model_dir"]))
    return {"scores": [{**s.summary(), "samples": s.samples} for s in scores], "raw": raw}


def performance(cfg: AirlockConfig, staged: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as d:
        points, raws = benchmark.run_sweep(cfg, staged["base_url"], cfg.serving.served_model_name,
                                           Path(staged["model_dir"]), Path(d))
    return {"points": [p.as_dict() for p in points], "raws": raws}


def _scores(acc: dict[str, Any]) -> list[evaluation.TaskScore]:
    return [evaluation.TaskScore(**s) for s in acc["scores"]]


def _points(perf: dict[str, Any]) -> list[benchmark.SweepPoint]:
    return [benchmark.SweepPoint(**p) for p in perf["points"]]


def record(cfg: AirlockConfig, staged: dict[str, Any], acc: dict[str, Any], perf: dict[str, Any],
           airflow_run_url: str | None) -> str:
    """Open the candidate's MLflow run and log every raw result; returns the run id."""
    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(staged["model"], staged["digest"])
    params = {"serving.dtype": cfg.serving.dtype, "serving.max_model_len": cfg.serving.max_model_len,
              "serving.extra_args": " ".join(cfg.serving.extra_args), "serving.driver": cfg.evaluation.staging.driver,
              "bench.concurrencies": cfg.benchmark.concurrencies, "bench.num_prompts": cfg.benchmark.num_prompts,
              "bench.input_len": cfg.benchmark.input_len, "bench.output_len": cfg.benchmark.output_len,
              "hardware.machine": platform.machine(), "hardware.processor": platform.processor() or "unknown",
              "hardware.cpus": os.cpu_count() or 0,
              "hardware.accelerator": "nvidia" if shutil.which("nvidia-smi") else "none (CPU)",
              "startup_s": staged.get("startup_s")}
    run_id = tracking.start_evaluation(cfg, manifest, staged["manifest_uri"], staged["suite"], params, airflow_run_url)
    tracking.log_accuracy(cfg, run_id, _scores(acc), acc["raw"])
    tracking.log_benchmark(cfg, run_id, _points(perf), perf["raws"])
    return run_id


def check(cfg: AirlockConfig, staged: dict[str, Any], acc: dict[str, Any], perf: dict[str, Any], run_id: str) -> None:
    """Great Expectations gates; the validation result is logged either way."""
    _, s = evaluation.suite(cfg, staged["suite"])
    acc_res = quality.eval_gate(_scores(acc), s.tasks, s.expected_samples)
    bench_res = quality.bench_gate(_points(perf), cfg.benchmark.concurrencies)
    c = tracking.client(cfg)
    tracking.log_json_artifact(c, run_id, "gx_validation.json",
                               {"accuracy": acc_res.raw, "benchmark": bench_res.raw}, "raw")
    ok = acc_res.success and bench_res.success
    c.set_tag(run_id, "airlock.result_gate", "pass" if ok else "fail")
    if not ok:
        c.set_tag(run_id, "airlock.verdict", "invalid")
    quality.enforce(acc_res, bench_res)


def decide_and_report(cfg: AirlockConfig, staged: dict[str, Any], acc: dict[str, Any], perf: dict[str, Any],
                      run_id: str, airflow_run_url: str | None) -> dict[str, Any]:
    """Compare with the champion, write the report, register the version, set aliases."""
    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(staged["model"], staged["digest"])
    cand_scores = {s.task: Score(s.value, s.stderr, s.n, s.samples) for s in _scores(acc)}
    cand_perf = [Perf(p.concurrency, p.output_throughput, p.ttft_p99_ms, p.failed) for p in _points(perf)]
    champ = tracking.champion_version(cfg, manifest.name)
    champ_scores = champ_perf = champ_sweep = None
    label = "floors"
    if champ is not None and champ.tags.get("airlock.digest") != manifest.digest:
        champ_run = champ.tags.get("airlock.evaluation_run") or champ.run_id
        summaries = tracking.load_run_json(cfg, champ_run, "scores.json")
        samples = tracking.load_run_json(cfg, champ_run, "raw/sample_scores.json")
        champ_scores = {s["task"]: Score(s["value"], s["stderr"], s["n"], samples.get(s["task"])) for s in summaries}
        champ_sweep = tracking.load_run_json(cfg, champ_run, "sweep.json")
        champ_perf = [Perf(p["concurrency"], p["output_throughput"], p["ttft_p99_ms"], p["failed"]) for p in champ_sweep]
        label = f"champion v{champ.version}"
    verdict = decide(cand_scores, cand_perf, cfg.verdict, champ_scores, champ_perf, label).as_dict()
    version = tracking.register_candidate(cfg, manifest, staged["manifest_uri"], run_id, verdict)
    tracking.remember_version(cfg, manifest.name, version, manifest.digest, verdict["label"])
    metrics.record(cfg, manifest.name, {"airlock_verdicts": {"pass" if verdict["passed"] else "rejected": 1}})
    c = tracking.client(cfg)
    mlflow_run = f"{cfg.mlflow.tracking_uri}/#/experiments/{c.get_run(run_id).info.experiment_id}/runs/{run_id}"
    with tempfile.TemporaryDirectory() as d:
        html_path, png_path = report.write(
            Path(d), model=manifest.name, digest=manifest.digest, version=version, verdict=verdict,
            candidate_sweep=perf["points"], champion_sweep=champ_sweep,
            links={"Airflow run": airflow_run_url or "", "manifest": staged["manifest_uri"], "MLflow run": mlflow_run})
        c.log_artifact(run_id, str(html_path), "report")
        c.log_artifact(run_id, str(png_path), "report")
    tracking.log_json_artifact(c, run_id, "verdict.json", verdict)
    c.set_terminated(run_id, "FINISHED")
    log.info("verdict for %s@%s: %s (%s)", manifest.name, manifest.digest[:12], verdict["label"],
             "; ".join(verdict["reasons"]))
    return {"model": manifest.name, "digest": manifest.digest, "manifest_uri": staged["manifest_uri"],
            "model_version": version, "verdict": verdict["label"], "passed": verdict["passed"],
            "reasons": verdict["reasons"], "mlflow_run_id": run_id, "mlflow_run_url": mlflow_run,
            "report": f"{mlflow_run}/artifacts/report/report.html"}
