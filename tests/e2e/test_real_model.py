"""A real instruct model through the whole lifecycle, on the default configuration.

SmolLM2-135M-Instruct (from a PyPI wheel, float32, three shards and an index) is published
to the hub mirror, taken in by model_intake, evaluated by model_evaluate on the shipped
``standard`` suite (arc_easy and hellaswag through /v1/completions, gsm8k_cot_llama through
/v1/chat/completions with the model's chat template and 8-shot turns; the datasets are
stand-ins under the upstream repo ids, served by the same mirror) with no champion, promoted
onto an emptied fleet pool, and then a degraded copy (noise on every block weight) is rejected
against it with an accuracy reason.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from airlock.intake import ingest_local
from airlock.tracking import versions

pytestmark = pytest.mark.e2e
MODEL = "smollm2"
REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def mlflow(mlflow_url):
    from mlflow import MlflowClient

    return MlflowClient(mlflow_url, registry_uri=mlflow_url)


def _tasks(airflow, dag: str, run_id: str) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in airflow.task_instances(dag, run_id)}


@pytest.mark.timeout(2400)
def test_real_instruct_model_passes_is_promoted_and_a_degraded_copy_is_rejected(
    airflow, config, registry, hub, smollm2, fleet, mlflow
):
    from airlock_dev.factory.upstream import publish_git

    src = smollm2("instruct")
    assert (src / "model.safetensors.index.json").is_file() and len(list(src.glob("*.safetensors"))) == 3
    assert config.model_policy(MODEL).suite == "standard"  # no entry under models: the shipped default
    sha = publish_git(src, hub["mirrors"], REPO_ID)

    # intake from the hub mirror; its candidate event starts model_evaluate
    airflow.wait_dag("model_intake")
    airflow.wait_dag("model_evaluate")
    before = airflow.run_ids("model_evaluate")
    run_id = airflow.trigger(
        "model_intake", {"model_name": MODEL, "source_kind": "hub", "location": REPO_ID, "revision": "main"}
    )
    assert airflow.wait_run("model_intake", run_id, timeout=600) == "success", _tasks(airflow, "model_intake", run_id)
    digest = airflow.xcom("model_intake", run_id, "record")["digest"]
    assert registry.get_manifest(MODEL, digest).revision == sha
    ev = airflow.wait_new_run("model_evaluate", before, timeout=300)
    state = airflow.wait_run("model_evaluate", ev, timeout=1500)
    assert state == "success" and _tasks(airflow, "model_evaluate", ev)["signal"] == "success", _tasks(
        airflow, "model_evaluate", ev
    )

    mv = mlflow.get_model_version_by_alias(MODEL, "challenger")
    assert mv.tags["airlock.digest"] == digest and mv.tags["airlock.verdict"] == "pass"
    run = mlflow.get_run(mv.tags["airlock.evaluation_run"])
    scores = {t: run.data.metrics[f"acc/{t}"] for t in ("arc_easy", "hellaswag", "gsm8k_cot_llama")}
    floors = config.model_policy(MODEL).verdict.floors
    assert all(scores[t] >= floors[t] for t in scores), scores
    template = (src / "chat_template.jinja").read_text()
    assert run.data.params["eval.chat_template_sha256"] == hashlib.sha256(template.encode()).hexdigest()
    assert run.data.params["eval.chat_tasks"] == "gsm8k_cot_llama"
    print(f"\nSmolLM2 on the standard suite (stand-in data): {scores}")
    raw = json.loads(Path(mlflow.download_artifacts(run.info.run_id, "raw/lm_eval_results.json")).read_text())
    assert raw["generation"]["gsm8k_cot_llama"]["max_gen_toks"] == 192
    assert raw["n-samples"]["arc_easy"]["effective"] == 60  # the stand-in's test split, whole

    # promote onto an emptied pool (the shared test fleet served another model until now)
    for n in fleet.nodes:
        fleet.retire(n)
    airflow.wait_dag("model_promote")
    promo = airflow.trigger("model_promote", {"model": MODEL, "digest": digest})
    assert airflow.wait_run("model_promote", promo, timeout=1200) == "success", _tasks(airflow, "model_promote", promo)
    assert set(fleet.versions().values()) == {digest}
    assert versions.champion(config, MODEL).digest == digest
    answer = requests.post(
        f"http://127.0.0.1:{config.balancer.frontend_port}/v1/chat/completions",
        json={
            "model": config.serving.served_model_name,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 16,
            "temperature": 0,
        },
        timeout=60,
    ).json()["choices"][0]["message"]["content"]
    assert "Paris" in answer

    # a degraded copy of the same model, judged against the champion
    bad = ingest_local(config, registry, MODEL, smollm2("degraded")).manifest
    run_id = airflow.trigger("model_evaluate", {"model": MODEL, "digest": bad.digest, "suite": ""})
    assert airflow.wait_run("model_evaluate", run_id, timeout=1500) == "success"
    tasks = _tasks(airflow, "model_evaluate", run_id)
    assert tasks["decide"] == "success" and tasks["signal"] == "skipped", tasks
    rej = mlflow.search_model_versions(f"name = '{MODEL}' and tags.`airlock.digest` = '{bad.digest}'")[0]
    assert rej.tags["airlock.verdict"] == "rejected"
    reasons = rej.tags["airlock.verdict_reasons"]
    assert "regression" in reasons and any(t in reasons for t in ("arc_easy", "hellaswag", "gsm8k_cot_llama"))
    rej_run = mlflow.get_run(rej.tags["airlock.evaluation_run"])
    assert rej_run.data.params["bench.baseline"] == f"champion v{mv.version}"  # interleaved with the champion
    ratios = {m.step: m.value for m in mlflow.get_metric_history(rej_run.info.run_id, "bench/output_throughput_ratio")}
    print(f"degraded / champion output throughput per concurrency: {ratios}")
    assert sorted(ratios) == config.benchmark.concurrencies
    assert versions.champion(config, MODEL).digest == digest
    assert set(fleet.versions().values()) == {digest}
