"""The MLflow server: runs, metrics, artifacts and registry aliases."""

import pytest

pytestmark = pytest.mark.integration


def test_run_metric_artifact_and_model_version_alias(mlflow_url, tmp_path):
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    exp = c.create_experiment("it-mlflow")
    run = c.create_run(exp)
    c.log_metric(run.info.run_id, "acc", 0.75)
    (tmp_path / "a.json").write_text("{}")
    c.log_artifact(run.info.run_id, str(tmp_path / "a.json"))
    c.set_terminated(run.info.run_id)
    assert c.get_run(run.info.run_id).data.metrics["acc"] == 0.75
    assert [a.path for a in c.list_artifacts(run.info.run_id)] == ["a.json"]

    c.create_registered_model("it-model")
    mv = c.create_model_version(
        "it-model",
        source="s3://airlock-registry/manifests/it-model/abc.json",
        run_id=run.info.run_id,
        tags={"airlock.digest": "abc"},
    )
    assert mv.status == "READY"
    c.set_registered_model_alias("it-model", "champion", mv.version)
    got = c.get_model_version_by_alias("it-model", "champion")
    assert got.version == mv.version and got.tags["airlock.digest"] == "abc"
