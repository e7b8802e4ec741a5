"""model_intake through a real scheduler on Postgres, as a UI trigger runs it."""

import pytest

pytestmark = pytest.mark.e2e


def test_intake_dag_ingests_from_the_hub_mirror(airflow, registry, factory, hub, mlflow_url):
    from mlflow import MlflowClient

    from airlock.factory.upstream import publish_git

    sha = publish_git(factory("good"), hub["mirrors"], "airlock-e2e/good")
    airflow.wait_dag("model_intake")
    run_id = airflow.trigger("model_intake", {"model_name": "e2e-good", "source_kind": "hub",
                                              "location": "airlock-e2e/good", "revision": "main",
                                              "full_verify": True})
    state = airflow.wait_run("model_intake", run_id, timeout=300)
    states = {t["task_id"]: t["state"] for t in airflow.task_instances("model_intake", run_id)}
    assert state == "success", states
    rec = airflow.xcom("model_intake", run_id, "record")
    m = registry.get_manifest("e2e-good", rec["digest"])
    assert m.revision == sha and registry.verify(m, full=True).ok
    run = MlflowClient(mlflow_url).get_run(rec["mlflow_run_id"])
    assert run.data.params["digest"] == m.digest and run.data.tags["airlock.gate"] == "intake"


def test_bad_params_are_refused_before_a_run_exists(airflow):
    from airlock.stack.airflow_client import AirflowError

    airflow.wait_dag("model_intake")
    with pytest.raises(AirflowError, match="HTTP 400"):
        airflow.trigger("model_intake", {"model_name": "x", "source_kind": "ftp", "location": "a/b"})
