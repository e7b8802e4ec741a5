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


def _call(url: str, method: str, endpoint: str, body: dict, user: str | None = None, password: str | None = None):
    """One REST call through MLflow's own HTTP layer, as ``user`` (anonymous when None): the status."""
    from mlflow.utils.rest_utils import MlflowHostCreds, http_request

    creds = MlflowHostCreds(url, username=user, password=password)
    kw = {"json": body} if method != "GET" else {"params": body}
    return http_request(creds, endpoint, method, max_retries=0, **kw).status_code


def test_anonymous_calls_are_refused_and_reviewers_only_read(mlflow_url, s3, config):
    """MLflow's auth app: 401 without credentials, 403 for a reviewer's writes, the pipeline writes."""
    from mlflow import MlflowClient

    from airlock.tracking.users import REVIEWER as MLFLOW_REVIEWER

    c = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)  # the pipeline
    c.create_registered_model("auth-model")
    mv = c.create_model_version("auth-model", source="s3://airlock-registry/manifests/auth-model/d.json")
    reviewer = (MLFLOW_REVIEWER, s3.creds["MLFLOW_REVIEWER_PASSWORD"])
    writes = [
        ("POST", "/api/2.0/mlflow/registered-models/set-tag", {"name": "auth-model", "key": "k", "value": "v"}),
        (
            "POST",
            "/api/2.0/mlflow/model-versions/set-tag",
            {"name": "auth-model", "version": mv.version, "key": "airlock.verdict", "value": "pass"},
        ),
        (
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": "auth-model", "alias": "champion", "version": "1"},
        ),
        ("POST", "/api/2.0/mlflow/model-versions/create", {"name": "auth-model", "source": "s3://x/y"}),
        ("DELETE", "/api/2.0/mlflow/registered-models/delete", {"name": "auth-model"}),
    ]
    read = ("GET", "/api/2.0/mlflow/registered-models/get", {"name": "auth-model"})
    for method, endpoint, body in [*writes, read]:
        assert _call(mlflow_url, method, endpoint, body) == 401, f"anonymous {method} {endpoint}"
    for method, endpoint, body in writes:
        assert _call(mlflow_url, method, endpoint, body, *reviewer) == 403, f"reviewer {method} {endpoint}"
    assert _call(mlflow_url, *read, *reviewer) == 200
    assert _call(mlflow_url, *read, reviewer[0], "wrong-password") == 401
    assert "airlock.verdict" not in c.get_model_version("auth-model", mv.version).tags
    assert c.get_registered_model("auth-model").aliases == {}
    c.set_registered_model_alias("auth-model", "champion", mv.version)  # the pipeline may
    assert c.get_model_version_by_alias("auth-model", "champion").version == mv.version
    # the auth app answers 403, not 404, for an alias of a model that does not exist
    from airlock.tracking import versions

    assert versions.champion(config, "auth-never-registered") is None
