"""MLflow: one experiment per model, runs per gate, model versions with aliases.

Everything goes through ``MlflowClient`` against the tracking server; artifacts
are uploaded through the server's artifact proxy, so pipeline code needs no
credentials for the artifact store.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from airlock.config import AirlockConfig
from airlock.manifest import Manifest


def client(cfg: AirlockConfig):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)


def experiment_name(model: str) -> str:
    return f"airlock/{model}"


def ensure_experiment(c, model: str) -> str:
    exp = c.get_experiment_by_name(experiment_name(model))
    if exp is not None:
        return exp.experiment_id
    try:
        return c.create_experiment(experiment_name(model), tags={"airlock.model": model})
    except Exception:  # noqa: BLE001 - lost a creation race: read it back
        return c.get_experiment_by_name(experiment_name(model)).experiment_id


def find_run(c, model: str, gate: str, digest: str):
    """The run already recorded for (gate, digest), so reruns update, not duplicate."""
    exp_id = ensure_experiment(c, model)
    runs = c.search_runs([exp_id], filter_string=f"tags.`airlock.gate` = '{gate}' and "
                                                 f"tags.`airlock.digest` = '{digest}'", max_results=1)
    return runs[0] if runs else None


def log_json_artifact(c, run_id: str, name: str, obj: Any, artifact_path: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        c.log_artifact(run_id, str(p), artifact_path)


def record_intake(cfg: AirlockConfig, manifest: Manifest, manifest_uri: str, stats: dict[str, Any],
                  airflow_run_url: str | None = None) -> str:
    """Log (or update) the intake run of a version; returns the run id."""
    c = client(cfg)
    run = find_run(c, manifest.name, "intake", manifest.digest)
    if run is None:
        exp_id = ensure_experiment(c, manifest.name)
        run = c.create_run(exp_id, run_name=f"intake {manifest.digest[:12]}", tags={
            "airlock.gate": "intake", "airlock.digest": manifest.digest, "airlock.model": manifest.name,
        })
    rid = run.info.run_id
    params = {"source.kind": manifest.source.get("kind"), "revision": manifest.revision,
              "digest": manifest.digest, "manifest_uri": manifest_uri, "files": len(manifest.files)}
    for key in ("repo_id", "uri", "path"):
        if key in manifest.source:
            params[f"source.{key}"] = manifest.source[key]
    existing = run.data.params if hasattr(run, "data") else {}
    for k, v in params.items():
        if k not in existing:
            c.log_param(rid, k, str(v)[:6000])
    for k in ("total_bytes", "bytes_uploaded", "bytes_skipped", "seconds"):
        if k in stats:
            c.log_metric(rid, f"ingest.{k}", float(stats[k]))
    if airflow_run_url:
        c.set_tag(rid, "airlock.airflow_run", airflow_run_url)
    log_json_artifact(c, rid, "manifest.json", json.loads(manifest.to_json()))
    c.set_terminated(rid, "FINISHED")
    return rid


# --- evaluation runs, model versions, aliases ---------------------------------

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


def start_evaluation(cfg: AirlockConfig, manifest: Manifest, manifest_uri: str, suite: str,
                     params: dict[str, Any], airflow_run_url: str | None) -> str:
    """The candidate's evaluation run (one per digest and Airflow run; reruns reuse it)."""
    c = client(cfg)
    exp_id = ensure_experiment(c, manifest.name)
    key = airflow_run_url or "manual"
    runs = c.search_runs([exp_id], filter_string=f"tags.`airlock.gate` = 'evaluate' and "
                                                 f"tags.`airlock.digest` = '{manifest.digest}' and "
                                                 f"tags.`airlock.airflow_run` = '{key}'", max_results=1)
    if runs:
        return runs[0].info.run_id
    run = c.create_run(exp_id, run_name=f"evaluate {manifest.digest[:12]}", tags={
        "airlock.gate": "evaluate", "airlock.digest": manifest.digest, "airlock.model": manifest.name,
        "airlock.airflow_run": key, "mlflow.note.content":
            f"Evaluation of {manifest.name} version {manifest.digest[:12]} (suite {suite}). "
            "The verdict and its reasons are in report/report.html."})
    rid = run.info.run_id
    base = {"source.kind": manifest.source.get("kind"), "revision": manifest.revision, "digest": manifest.digest,
            "manifest_uri": manifest_uri, "suite": suite}
    for k in ("repo_id", "uri", "path"):
        if k in manifest.source:
            base[f"source.{k}"] = manifest.source[k]
    for k, v in {**base, **params}.items():
        c.log_param(rid, k, str(v)[:6000])
    log_json_artifact(c, rid, "manifest.json", json.loads(manifest.to_json()))
    return rid


def log_accuracy(cfg: AirlockConfig, run_id: str, scores: list, raw: dict[str, Any]) -> None:
    from mlflow.entities import Metric
    import time

    c = client(cfg)
    now = int(time.time() * 1000)
    metrics = []
    for s in scores:
        metrics.append(Metric(f"acc/{s.task}", s.value, now, 0))
        if s.stderr is not None:
            metrics.append(Metric(f"acc/{s.task}_stderr", s.stderr, now, 0))
        metrics.append(Metric(f"acc/{s.task}_n", float(s.n), now, 0))
    c.log_batch(run_id, metrics=metrics)
    log_json_artifact(c, run_id, "lm_eval_results.json", raw, "raw")
    # Per-sample *scores* (numbers keyed by doc id, no text) for paired comparisons later.
    log_json_artifact(c, run_id, "sample_scores.json", {s.task: s.samples for s in scores}, "raw")
    log_json_artifact(c, run_id, "scores.json", [s.summary() for s in scores])


def log_benchmark(cfg: AirlockConfig, run_id: str, points: list, raws: list[dict[str, Any]]) -> None:
    from mlflow.entities import Metric
    import time

    c = client(cfg)
    now = int(time.time() * 1000)
    metrics = []
    for p in points:
        for k, v in p.as_dict().items():
            if k != "concurrency" and isinstance(v, (int, float)) and v == v:  # skip None and NaN
                metrics.append(Metric(f"bench/{k}", float(v), now, p.concurrency))
    c.log_batch(run_id, metrics=metrics)
    log_json_artifact(c, run_id, "sweep.json", [p.as_dict() for p in points])
    repeated = len(raws) > len({r["airlock_concurrency"] for r in raws})
    for raw in raws:  # every run of every point; sweep.json holds their medians
        name = f"vllm_bench_c{raw['airlock_concurrency']}" + (f"_r{raw['airlock_repeat']}" if repeated else "")
        log_json_artifact(c, run_id, f"{name}.json", raw, "raw")


def champion_version(cfg: AirlockConfig, model: str):
    """The model version behind the ``champion`` alias, or None."""
    c = client(cfg)
    try:
        return c.get_model_version_by_alias(model, CHAMPION)
    except Exception:  # noqa: BLE001 - no registered model or no alias
        return None


def load_run_json(cfg: AirlockConfig, run_id: str, path: str) -> Any:
    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as d:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=d,
                                                    tracking_uri=cfg.mlflow.tracking_uri)
        return json.loads(Path(local).read_text())


def register_candidate(cfg: AirlockConfig, manifest: Manifest, manifest_uri: str, run_id: str,
                       verdict: dict[str, Any]) -> str:
    """Create (or find) the model version for this digest, tag the verdict, and
    point ``challenger`` at it on pass. The ``champion`` alias is never touched."""
    from mlflow.exceptions import MlflowException

    c = client(cfg)
    name = manifest.name
    try:
        c.create_registered_model(name, tags={"airlock.model": name},
                                  description=f"Versions of {name} admitted by Airlock; source = manifest URI.")
    except MlflowException:
        pass  # exists
    found = c.search_model_versions(f"name = '{name}' and tags.`airlock.digest` = '{manifest.digest}'")
    if found:
        mv = found[0]
    else:
        mv = c.create_model_version(name, source=manifest_uri, run_id=run_id, tags={
            "airlock.digest": manifest.digest, "airlock.revision": manifest.revision},
            description=f"{manifest.source.get('kind')} {manifest.source.get('repo_id') or manifest.source.get('uri') or manifest.source.get('path')} @ {manifest.revision}")
    c.set_model_version_tag(name, mv.version, "airlock.verdict", "pass" if verdict["passed"] else "rejected")
    c.set_model_version_tag(name, mv.version, "airlock.verdict_reasons", "; ".join(verdict["reasons"])[:4900])
    c.set_model_version_tag(name, mv.version, "airlock.evaluation_run", run_id)
    if verdict["passed"]:
        c.set_registered_model_alias(name, CHALLENGER, mv.version)
    c.set_tag(run_id, "airlock.verdict", verdict["label"])
    c.set_tag(run_id, "airlock.model_version", str(mv.version))
    return str(mv.version)


def remember_version(cfg: AirlockConfig, model: str, version: str, digest: str, verdict: str) -> None:
    """Append to ``<state>/versions.json``, which the rollback form lists offline."""
    path = cfg.state_dir / "versions.json"
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        rows = []
    rows = [r for r in rows if not (r["model"] == model and r["version"] == version)]
    rows.append({"model": model, "version": version, "digest": digest, "verdict": verdict})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows[-200:], indent=1))
    tmp.replace(path)
