"""Side doors into the registry store, tried on a real SeaweedFS without credentials.

S3 is the only door that checks credentials by itself, and S3 is where the
object lock lives. Every other port ``weed`` listens on is tried as an
anonymous client would: the filer's and the master's HTTP APIs, the volume
server's (with a real chunk id, found with the store's own certificate), and
every gRPC port (mutual TLS). The object must come through unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import psutil
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from airlock.errors import ConfigError
from airlock.registry import Registry

pytestmark = pytest.mark.integration

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")


@pytest.fixture(scope="module")
def store(seaweed_factory):
    proc, s3 = seaweed_factory("doors")
    reg = Registry(s3.client(), "locked", lock_days=1)
    reg.ensure_bucket()
    data = b"weights " * 20_000
    version = s3.client().put_object(Bucket="locked", Key="blobs/sha256/x", Body=data)["VersionId"]
    return proc, s3, reg, data, version


def _request(method: str, url: str, body: bytes | None = None) -> int | str:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=5) as r:  # noqa: S310
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError as exc:
        return type(exc).__name__


def _tls(port: int, cert: tuple[Path, Path] | None, ca: Path) -> bool:
    """True when a TLS + HTTP/2 session opens on ``port`` (presenting ``cert`` if given)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["h2"])
    if cert:
        ctx.load_cert_chain(*map(str, cert))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as s:
            s.sendall(H2_PREFACE)
            return bool(s.recv(64))
    except (ssl.SSLError, OSError):
        return False


def _plain_h2(port: int) -> bool:
    """True when ``port`` speaks plaintext gRPC (HTTP/2 without TLS)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(H2_PREFACE)
            return s.recv(9)[3:4] == b"\x04"  # a SETTINGS frame back
    except OSError:
        return False


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


def _chunk_id(proc, version: str) -> str:
    """The volume chunk behind the object, asked with the store's own client certificate."""
    security = next(a.split("=", 1)[1] for a in proc.argv if a.startswith("-config_dir="))
    ports = _ports(proc)
    out = subprocess.run(
        [
            proc.argv[0],
            f"-config_dir={security}",
            "shell",
            f"-master=127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}",
            f"-filer=127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}",
        ],
        input=f"fs.meta.cat /buckets/locked/blobs/sha256/x.versions/v_{version}\n",
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    fid = json.loads(out[out.index("{") : out.rindex("}") + 1])["chunks"][0]["fid"]
    return f"{fid['volumeId']},{int(fid['fileKey']):x}{fid['cookie']:08x}"


def test_only_the_s3_port_answers_without_the_stores_secrets(store):
    proc, s3, reg, data, version = store
    ports = _ports(proc)
    http = {ports[k] for k in ("master.port", "volume.port", "filer.port", "admin.port")}
    grpc = {p for k, p in ports.items() if k.endswith(".grpc")}
    s3_port = ports["s3.port"]
    listening = _listening(proc.pid())
    assert listening - http - grpc - {s3_port} == set(), "weed listens on ports nobody tried"

    # S3 itself, anonymously: nothing read, written or deleted
    anon = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    for call in (
        lambda: anon.get_object(Bucket="locked", Key="blobs/sha256/x"),
        lambda: anon.put_object(Bucket="locked", Key="blobs/sha256/x", Body=b"forged"),
        lambda: anon.put_object(Bucket="locked", Key="blobs/sha256/new", Body=b"forged"),
        lambda: anon.delete_object(Bucket="locked", Key="blobs/sha256/x", VersionId=version),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"

    # every HTTP port, with the paths that would read, write or delete the object
    fid = _chunk_id(proc, version)
    volume = f"http://127.0.0.1:{ports['volume.port']}"
    assert _request("GET", f"{volume}/{fid}") == 401  # a real chunk, unreadable without the JWT
    tried = {}
    for port in http:
        base = f"http://127.0.0.1:{port}"
        for method, path, body in (
            ("GET", f"/{fid}", None),
            ("DELETE", f"/{fid}", None),
            ("POST", f"/{fid}", b"forged"),
            ("PUT", f"/{fid}", b"forged"),
            ("GET", "/buckets/locked/blobs/sha256/x", None),
            ("PUT", "/buckets/locked/blobs/sha256/x", b"forged"),
            ("DELETE", f"/buckets/locked/blobs/sha256/x.versions/v_{version}", None),
            ("DELETE", "/buckets/locked?recursive=true", None),
            ("GET", "/dir/assign", None),
            ("GET", "/col/delete?collection=locked", None),
            ("GET", "/vol/vacuum?garbageThreshold=0.0001", None),
        ):
            tried[(port, method, path)] = status = _request(method, base + path, body)
            assert not (isinstance(status, int) and status < 400), f"{method} {base}{path} answered {status}"
    assert len(tried) == 4 * 11

    # every gRPC port: no plaintext, no TLS without the store's client certificate
    sec = Path(next(a.split("=", 1)[1] for a in proc.argv if a.startswith("-config_dir=")))
    for port in grpc:
        assert not _plain_h2(port), f"gRPC port {port} speaks plaintext"
        assert not _tls(port, None, sec / "ca.crt"), f"gRPC port {port} accepts a client without a certificate"
        assert _tls(port, (sec / "store.crt", sec / "store.key"), sec / "ca.crt"), f"gRPC port {port} is not gRPC"

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
