"""Side doors into the registry store, tried on a real SeaweedFS without credentials.

S3 is the only door that checks credentials by itself, and S3 is where the
object lock lives. Every other port ``weed`` listens on is tried as an
anonymous client would: the filer's and the master's HTTP APIs, the volume
server's (with a real chunk id, found with the store's own certificate), and
every gRPC port (mutual TLS). The object must come through unchanged.
"""

from __future__ import annotations

import hashlib
import re
import time

import psutil
import pytest
from botocore.exceptions import ClientError

from airlock.errors import ConfigError
from airlock.registry import Registry
from tests.support import doors

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(seaweed_factory):
    proc, s3 = seaweed_factory("doors")
    reg = Registry(s3.client(), "locked", lock_days=1)
    reg.ensure_bucket()
    data = b"weights " * 20_000
    version = s3.client().put_object(Bucket="locked", Key="blobs/sha256/x", Body=data)["VersionId"]
    return proc, s3, reg, data, version


def _listening(pid: int) -> set[int]:
    ports = set()
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for c in p.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN:
                assert c.laddr.ip == "127.0.0.1", f"weed listens on {c.laddr.ip}:{c.laddr.port}, not loopback"
                ports.add(c.laddr.port)
    return ports


def _ports(proc) -> dict[str, int]:
    flags = dict(re.findall(r"-([a-z0-9.]+)=(\d+)$", "\n".join(proc.argv), re.M))
    return {k: int(v) for k, v in flags.items() if k.endswith(".port") or k.endswith(".port.grpc")}


def test_only_the_s3_port_answers_without_the_stores_secrets(store):
    proc, s3, reg, data, version = store
    ports = _ports(proc)
    http = {ports[k] for k in ("master.port", "volume.port", "filer.port", "admin.port")}
    grpc = {p for k, p in ports.items() if k.endswith(".grpc")}
    s3_port = ports["s3.port"]
    listening = _listening(proc.pid())
    assert listening - http - grpc - {s3_port} == set(), "weed listens on ports nobody tried"

    # S3 itself, anonymously: nothing read, written or deleted
    assert doors.anonymous_s3_refusals(s3.endpoint, "locked", "blobs/sha256/x", version) == ["AccessDenied"] * 4

    # every other port, with the requests that would read, write or delete the object
    sec = next(a.split("=", 1)[1] for a in proc.argv if a.startswith("-config_dir="))
    shell = [
        proc.argv[0],
        f"-config_dir={sec}",
        "shell",
        f"-master=127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}",
        f"-filer=127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}",
    ]
    fid = doors.chunk_id(shell, "locked", "blobs/sha256/x", version)
    volume = f"http://127.0.0.1:{ports['volume.port']}"
    assert doors.request("GET", f"{volume}/{fid}") == 401  # a real chunk, unreadable without the JWT
    ca, cert = f"{sec}/ca.crt", (f"{sec}/store.crt", f"{sec}/store.key")
    for port in sorted(listening - {s3_port}):
        assert doors.knock("127.0.0.1", port, "locked", "blobs/sha256/x", version, fid, ca) == []
    for port in grpc:  # control: the same probe opens a session with the store's own certificate
        assert doors.tls_opens("127.0.0.1", port, ca, cert), f"gRPC port {port} is not gRPC"

    # and the object came through all of it unchanged
    time.sleep(1)
    got = s3.client().get_object(Bucket="locked", Key="blobs/sha256/x", VersionId=version)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_locked_versions_outlive_the_pipelines_own_deletes_and_overwrites(store):
    _, s3, reg, data, version = store
    c = s3.client()  # the pipeline's identity: Admin, Write
    assert reg.lock()["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 1}
    with pytest.raises(ClientError) as e:
        c.delete_object(Bucket="locked", Key="blobs/sha256/x", VersionId=version)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        c.put_object_retention(
            Bucket="locked",
            Key="blobs/sha256/x",
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": "2000-01-01T00:00:00Z"},
        )
    c.put_object(Bucket="locked", Key="blobs/sha256/x", Body=b"overwritten")  # a new version, nothing lost
    c.delete_object(Bucket="locked", Key="blobs/sha256/x")  # a delete marker, nothing lost
    assert c.get_object(Bucket="locked", Key="blobs/sha256/x", VersionId=version)["Body"].read() == data
    c.put_object(Bucket="locked", Key="blobs/sha256/x", Body=data)  # current again, for the other test


def test_a_weakened_default_retention_is_put_back_and_an_unlocked_bucket_refused(store):
    _, s3, reg, _, _ = store
    c = s3.client()
    c.put_object_lock_configuration(
        Bucket="locked",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    reg.ensure_bucket()
    assert reg.lock()["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 1}
    c.create_bucket(Bucket="unlocked")
    with pytest.raises(ConfigError, match="bucket unlocked was created without S3 object lock"):
        Registry(c, "unlocked", lock_days=1).ensure_bucket()
