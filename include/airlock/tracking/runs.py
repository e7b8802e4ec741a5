"""MLflow runs: one per intake and one per candidate evaluation, with their evidence.

Reruns update, never duplicate: a run is found again by its gate, digest and
(for evaluations) the Airflow run that wrote it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock.tracking.client import client, mlflow_errors
from airlock.tracking.names import GATE_EVALUATE, GATE_INTAKE, Tag, experiment_name

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.manifest import Manifest
    from airlock.payloads import PerformanceResult, TaskScore


def ensure_experiment(c: Any, model: str) -> str:
    exp = c.get_experiment_by_name(experiment_name(model))
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(c.create_experiment(experiment_name(model), tags={Tag.MODEL: model}))
    except Exception:  # noqa: BLE001 - lost a creation race: read it back
        return str(c.get_experiment_by_name(experiment_name(model)).experiment_id)


def _find(c: Any, model: str, **tags: str) -> Any:
    exp_id = ensure_experiment(c, model)
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = c.search_runs([exp_id], filter_string=where, max_results=1)
    return runs[0] if runs else None


def log_json(c: Any, run_id: str, name: str, obj: Any, artifact_path: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        c.log_artifact(run_id, str(p), artifact_path)


def _source_params(manifest: Manifest, manifest_uri: str) -> dict[str, Any]:
    params = {
        "source.kind": manifest.source.get("kind"),
        "revision": manifest.revision,
        "digest": manifest.digest,
        "manifest_uri": manifest_uri,
    }
    for key in ("repo_id", "uri", "path"):
        if key in manifest.source:
            params[f"source.{key}"] = manifest.source[key]
    return params


def record_intake(
    cfg: AirlockConfig, manifest: Manifest, manifest_uri: str, stats: dict[str, Any], airflow_run_url: str | None = None
) -> str:
    """Log (or update) the intake run of a version; returns the run id."""
    with mlflow_errors(f"recording the intake of {manifest.name}@{manifest.digest[:12]}"):
        c = client(cfg)
        run = _find(c, manifest.name, **{Tag.GATE: GATE_INTAKE, Tag.DIGEST: manifest.digest})
        if run is None:
            run = c.create_run(
                ensure_experiment(c, manifest.name),
                run_name=f"intake {manifest.digest[:12]}",
                tags={Tag.GATE: GATE_INTAKE, Tag.DIGEST: manifest.digest, Tag.MODEL: manifest.name},
            )
        rid: str = run.info.run_id
        params = {**_source_params(manifest, manifest_uri), "files": len(manifest.files)}
        existing = run.data.params if hasattr(run, "data") else {}
        for k, v in params.items():
            if k not in existing:
                c.log_param(rid, k, str(v)[:6000])
        for k in ("total_bytes", "bytes_uploaded", "bytes_skipped", "seconds"):
            if k in stats:
                c.log_metric(rid, f"ingest.{k}", float(stats[k]))
        if airflow_run_url:
            c.set_tag(rid, Tag.AIRFLOW_RUN, airflow_run_url)
        log_json(c, rid, "manifest.json", json.loads(manifest.to_json()))
        c.set_terminated(rid, "FINISHED")
        return rid


def start_evaluation(
    cfg: AirlockConfig,
    manifest: Manifest,
    manifest_uri: str,
    suite: str,
    params: dict[str, Any],
    airflow_run_url: str | None,
) -> str:
    """The candidate's evaluation run (one per digest and Airflow run; reruns reuse it)."""
    key = airflow_run_url or "manual"
    with mlflow_errors(f"opening the evaluation run of {manifest.name}@{manifest.digest[:12]}"):
        c = client(cfg)
        run = _find(c, manifest.name, **{Tag.GATE: GATE_EVALUATE, Tag.DIGEST: manifest.digest, Tag.AIRFLOW_RUN: key})
        if run is not None:
            return str(run.info.run_id)
        run = c.create_run(
            ensure_experiment(c, manifest.name),
            run_name=f"evaluate {manifest.digest[:12]}",
            tags={
                Tag.GATE: GATE_EVALUATE,
                Tag.DIGEST: manifest.digest,
                Tag.MODEL: manifest.name,
                Tag.AIRFLOW_RUN: key,
                Tag.NOTE: f"Evaluation of {manifest.name} version {manifest.digest[:12]} (suite {suite}). "
                "The verdict and its reasons are in report/report.html.",
            },
        )
        rid: str = run.info.run_id
        for k, v in {**_source_params(manifest, manifest_uri), "suite": suite, **params}.items():
            c.log_param(rid, k, str(v)[:6000])
        log_json(c, rid, "manifest.json", json.loads(manifest.to_json()))
        return rid


def log_accuracy(cfg: AirlockConfig, run_id: str, scores: list[TaskScore], raw: dict[str, Any]) -> None:
    """Metrics per task, lm-eval's aggregates, and per-sample *scores* (numbers, no text)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for s in scores:
        metrics.append(Metric(f"acc/{s.task}", s.value, now, 0))
        if s.stderr is not None:
            metrics.append(Metric(f"acc/{s.task}_stderr", s.stderr, now, 0))
        metrics.append(Metric(f"acc/{s.task}_n", float(s.n), now, 0))
    with mlflow_errors(f"logging accuracy to run {run_id}"):
        c = client(cfg)
        c.log_batch(run_id, metrics=metrics)
        log_json(c, run_id, "lm_eval_results.json", raw, "raw")
        # Per-sample scores keyed by doc id, for paired comparisons later.
        log_json(c, run_id, "sample_scores.json", {s.task: s.samples for s in scores}, "raw")
        log_json(c, run_id, "scores.json", [s.summary() for s in scores])


def log_benchmark(cfg: AirlockConfig, run_id: str, perf: PerformanceResult) -> None:
    """The candidate's sweep (step = concurrency; medians over rounds), each figure's ratio to the
    baseline with its interval, the baseline's sweep, and every run's raw summary."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for p in perf.points:
        for k, v in p.as_dict().items():
            if k != "concurrency" and isinstance(v, (int, float)) and v == v:  # skip None and NaN
                metrics.append(Metric(f"bench/{k}", float(v), now, p.concurrency))
    for comp in perf.comparisons:
        for f in comp.figures:
            for what, v in (("ratio", f.ratio), ("ratio_low", f.low), ("ratio_high", f.high)):
                metrics.append(Metric(f"bench/{f.figure}_{what}", v, now, comp.concurrency))
        metrics.append(Metric("bench/rounds", comp.rounds, now, comp.concurrency))
    with mlflow_errors(f"logging the benchmark to run {run_id}"):
        c = client(cfg)
        c.log_batch(run_id, metrics=metrics)
        log_json(c, run_id, "sweep.json", [p.as_dict() for p in perf.points])
        log_json(c, run_id, "performance.json", perf.model_dump(mode="json", exclude={"raws", "points"}))
        for raw in perf.raws:  # every run of every point and side; the sweeps hold their medians
            name = f"vllm_bench_c{raw['airlock_concurrency']}_r{raw['airlock_round']}_{raw['airlock_side']}"
            log_json(c, run_id, f"{name}.json", raw, "raw")


def record_result_gate(cfg: AirlockConfig, run_id: str, validation: dict[str, Any], passed: bool) -> None:
    """The Great Expectations results, and the run marked ``invalid`` when they failed."""
    with mlflow_errors(f"recording the result gate on run {run_id}"):
        c = client(cfg)
        log_json(c, run_id, "gx_validation.json", validation, "raw")
        c.set_tag(run_id, Tag.RESULT_GATE, "pass" if passed else "fail")
        if not passed:
            c.set_tag(run_id, Tag.VERDICT, "invalid")


def run_url(cfg: AirlockConfig, run_id: str) -> str:
    """The run's page in the MLflow UI."""
    with mlflow_errors(f"reading run {run_id}"):
        exp = client(cfg).get_run(run_id).info.experiment_id
    return f"{cfg.mlflow.tracking_uri}/#/experiments/{exp}/runs/{run_id}"


def finish_evaluation(
    cfg: AirlockConfig, run_id: str, verdict: dict[str, Any], report_files: list[Path], model_version: str
) -> None:
    """Attach the report and the verdict, and close the run."""
    with mlflow_errors(f"finishing run {run_id}"):
        c = client(cfg)
        for f in report_files:
            c.log_artifact(run_id, str(f), "report")
        log_json(c, run_id, "verdict.json", verdict)
        c.set_tag(run_id, Tag.VERDICT, verdict["label"])
        c.set_tag(run_id, Tag.MODEL_VERSION, model_version)
        c.set_terminated(run_id, "FINISHED")


def load_run_json(cfg: AirlockConfig, run_id: str, path: str) -> Any:
    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as d, mlflow_errors(f"reading {path} of run {run_id}"):
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=d, tracking_uri=cfg.mlflow.tracking_uri
        )
        return json.loads(Path(local).read_text())


def evidence(cfg: AirlockConfig, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A finished evaluation's scores and per-sample scores: what a champion's accuracy is compared on
    (its performance is measured again, interleaved with the candidate's)."""
    return load_run_json(cfg, run_id, "scores.json"), load_run_json(cfg, run_id, "raw/sample_scores.json")
