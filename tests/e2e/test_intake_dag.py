"""model_intake through a real scheduler on Postgres, as a UI trigger runs it."""

import pytest

pytestmark = pytest.mark.e2e


def test_intake_dag_ingests_from_the_hub_mirror(airflow, registry, factory, hub, mlflow_url):
    from mlflow import MlflowClient

    from airlock_dev.factory.upstream import publish_git

    sha = publish_git(factory("good"), hub["mirrors"], "airlock-e2e/good")
    airflow.wait_dag("model_intake")
    run_id = airflow.trigger(
        "model_intake",
        {
            "model_name": "e2e-good",
            "source_kind": "hub",
            "location": "airlock-e2e/good",
            "revision": "main",
            "full_verify": True,
        },
    )
    state = airflow.wait_run("model_intake", run_id, timeout=300)
    states = {t["task_id"]: t["state"] for t in airflow.task_instances("model_intake", run_id)}
    assert state == "success", states
    rec = airflow.xcom("model_intake", run_id, "record")
    m = registry.get_manifest("e2e-good", rec["digest"])
    assert m.revision == sha and registry.verify(m, full=True).ok
    run = MlflowClient(mlflow_url).get_run(rec["mlflow_run_id"])
    assert run.data.params["digest"] == m.digest and run.data.tags["airlock.gate"] == "intake"


def test_bad_params_are_refused_before_a_run_exists(airflow):
    from airlock_dev.stack.airflow_client import AirflowError

    airflow.wait_dag("model_intake")
    with pytest.raises(AirflowError, match="HTTP 400"):
        airflow.trigger("model_intake", {"model_name": "x", "source_kind": "ftp", "location": "a/b"})


def test_watch_triggers_intake_once_per_new_commit(airflow, registry, factory, hub, workdir):
    """The watcher follows airlock-e2e/good (test config), which the test above ingested."""
    from airlock_dev.factory.upstream import publish_git
    from tests.conftest import variant_copy

    airflow.wait_dag("model_watch")
    quiet = airflow.trigger("model_watch")
    assert airflow.wait_run("model_watch", quiet, timeout=300) == "success"
    assert {t["task_id"]: t["state"] for t in airflow.task_instances("model_watch", quiet)}[
        "trigger_intake"
    ] == "skipped"

    sha = publish_git(variant_copy(factory, workdir, "good", "watch"), hub["mirrors"], "airlock-e2e/good")
    before = airflow.run_ids("model_intake")
    runs = [airflow.trigger("model_watch") for _ in range(2)]  # the second overlaps or follows the first
    assert [airflow.wait_run("model_watch", r, timeout=300) for r in runs] == ["success", "success"]
    new = airflow.run_ids("model_intake") - before
    assert new == {f"watch__e2e-good__{sha}"}, new
    assert airflow.wait_run("model_intake", new.pop(), timeout=300) == "success"
    assert sha in {m.revision for m in registry.manifests("e2e-good")}

    after = airflow.trigger("model_watch")
    assert airflow.wait_run("model_watch", after, timeout=300) == "success"
    assert airflow.run_ids("model_intake") - before == {f"watch__e2e-good__{sha}"}
    # every intake here scheduled an evaluation through the Asset: let them end before the fleet tests
    for run_id in airflow.run_ids("model_evaluate"):
        airflow.wait_run("model_evaluate", run_id, timeout=900)
