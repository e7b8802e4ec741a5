"""The compose stack's registry store and MLflow, tried as an outsider would (issue #13).

From the host (published loopback ports) and from another container on the compose network:
only SeaweedFS's S3 port answers without the store's own secrets, the registry bucket is under
object lock, MLflow refuses anonymous calls and reviewers' writes, and no service reports home.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from airlock.registry import Registry
from airlock.store import s3_client
from airlock.tracking import users
from tests.compose.conftest import compose, container
from tests.support import doors

pytestmark = pytest.mark.compose

S3 = "http://127.0.0.1:8333"
MLFLOW = "http://127.0.0.1:5000"


def _listening(cid: str) -> set[int]:
    """TCP ports in LISTEN inside a container, from its /proc/net (no tools needed in the image)."""
    out = subprocess.run(
        ["docker", "exec", cid, "cat", "/proc/net/tcp", "/proc/net/tcp6"], capture_output=True, text=True, check=True
    ).stdout
    return {int(f[1].rsplit(":", 1)[1], 16) for f in (ln.split() for ln in out.splitlines()[1:]) if f[3:4] == ["0A"]}


def test_only_s3_answers_without_the_stores_secrets_inside_the_compose_network(store_and_tracking):
    d, env = store_and_tracking
    pipeline = s3_client(S3, access_key=env["AIRLOCK_S3_ACCESS_KEY_ID"], secret_key=env["AIRLOCK_S3_SECRET_ACCESS_KEY"])
    reg = Registry(pipeline, "airlock-registry", lock_days=30)
    reg.ensure_bucket()
    assert reg.lock()["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 30}
    version = pipeline.put_object(Bucket="airlock-registry", Key="blobs/sha256/x", Body=b"w" * 50_000)["VersionId"]
    with pytest.raises(ClientError) as e:  # the lock holds against the pipeline's own identity
        pipeline.delete_object(Bucket="airlock-registry", Key="blobs/sha256/x", VersionId=version)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert doors.anonymous_s3_refusals(S3, "airlock-registry", "blobs/sha256/x", version) == ["AccessDenied"] * 4

    sw = container(d, "seaweedfs")
    ports = sorted(_listening(sw))
    assert 8333 in ports and len(ports) >= 8, ports  # S3, master, volume, filer and their gRPC ports
    # the chunk behind the object, found by the store itself (it holds the client certificate)
    fid = doors.chunk_id(
        ["docker", "exec", "-i", sw, "weed", "shell", "-master=localhost:9333"],
        "airlock-registry",
        "blobs/sha256/x",
        version,
    )
    probe = {
        "host": "seaweedfs",
        "ports": [p for p in ports if p != 8333],
        "bucket": "airlock-registry",
        "key": "blobs/sha256/x",
        "version": version,
        "fid": fid,
        "ca": "/secrets/ca.crt",
        "cert": ["/secrets/store.crt", "/secrets/store.key"],
    }
    network = json.loads(subprocess.run(["docker", "inspect", sw], capture_output=True, check=True).stdout)[0][
        "NetworkSettings"
    ]["Networks"]
    out = subprocess.run(
        [
            "docker", "run", "--rm", "--user", "0", "--network", next(iter(network)),
            "-v", f"{d / 'tests'}:/src/tests:ro", "-v", f"{d / 'deploy' / 'secrets' / 'seaweedfs'}:/secrets:ro",
            "-w", "/src", "--entrypoint", "python", "airlock/mlflow:3.17.2",
            "-m", "tests.support.doors", json.dumps(probe),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert {p: r["findings"] for p, r in result.items() if r["findings"]} == {}
    grpc = [p for p, r in result.items() if r["tls_with_cert"]]
    assert len(grpc) >= 4, f"the store's own certificate opened only {grpc}: the probe is not reaching gRPC"
    assert pipeline.get_object(Bucket="airlock-registry", Key="blobs/sha256/x", VersionId=version)["Body"].read() == (
        b"w" * 50_000
    )


def test_mlflow_refuses_anonymous_calls_and_reviewers_writes(store_and_tracking):
    from mlflow.utils.rest_utils import MlflowHostCreds, http_request

    d, env = store_and_tracking
    users.ensure_users(  # what the mlflow-init service runs
        MLFLOW,
        env["MLFLOW_ADMIN_PASSWORD"],
        {users.PIPELINE: env["MLFLOW_PIPELINE_PASSWORD"], users.REVIEWER: env["MLFLOW_REVIEWER_PASSWORD"]},
    )

    def call(method, endpoint, body, who=None):
        creds = MlflowHostCreds(MLFLOW, username=who[0] if who else None, password=who[1] if who else None)
        kw = {"json": body} if method != "GET" else {"params": body}
        return http_request(creds, endpoint, method, max_retries=0, **kw).status_code

    pipeline = (users.PIPELINE, env["MLFLOW_PIPELINE_PASSWORD"])
    reviewer = (users.REVIEWER, env["MLFLOW_REVIEWER_PASSWORD"])
    assert call("POST", "/api/2.0/mlflow/registered-models/create", {"name": "compose-model"}, pipeline) == 200
    set_tag = ("POST", "/api/2.0/mlflow/registered-models/set-tag", {"name": "compose-model", "key": "k", "value": "v"})
    read = ("GET", "/api/2.0/mlflow/registered-models/get", {"name": "compose-model"})
    assert call(*set_tag) == 401 and call(*read) == 401
    assert call(*set_tag, reviewer) == 403 and call(*read, reviewer) == 200
    assert call(*set_tag, pipeline) == 200

    ml = container(d, "mlflow")
    user = subprocess.run(["docker", "exec", ml, "id", "-un"], capture_output=True, text=True, check=True).stdout
    assert user.strip() == "mlflow"
    environ = json.loads(subprocess.run(["docker", "inspect", ml], capture_output=True, check=True).stdout)[0][
        "Config"
    ]["Env"]
    assert "MLFLOW_ENABLE_TELEMETRY=false" in environ and "DO_NOT_TRACK=1" in environ
    logs = compose(d, "logs", "--no-color", "mlflow", "seaweedfs")
    for secret in (env["MLFLOW_ADMIN_PASSWORD"], env["MLFLOW_PIPELINE_PASSWORD"], env["AIRLOCK_S3_SECRET_ACCESS_KEY"]):
        assert secret not in logs.stdout + logs.stderr
