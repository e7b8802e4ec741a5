"""Knocking on a registry store's doors without credentials (stdlib only: it also runs inside a
probe container on the compose network, ``python -m tests.support.doors '<json>'``).

For each port other than S3 it tries, as an anonymous client: the HTTP requests that would read,
write or delete a stored object (through the filer's paths, a real volume chunk id, and the
master's admin paths), plaintext gRPC, and TLS without a client certificate. A finding is
anything that answered: an HTTP status below 400, an HTTP/2 SETTINGS frame, a TLS session.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import urllib.error
import urllib.request

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")


def request(method: str, url: str, body: bytes | None = None) -> int | str:
    """The HTTP status, or the name of the error when nothing HTTP answered."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=5) as r:  # noqa: S310
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError as exc:
        return type(exc).__name__


def tls_opens(host: str, port: int, ca: str | None, cert: tuple[str, str] | None = None) -> bool:
    """True when a TLS + HTTP/2 session opens (presenting ``cert`` if given)."""
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl._create_unverified_context()  # noqa: S323
    ctx.check_hostname = False
    if not ca:
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    if cert:
        ctx.load_cert_chain(*cert)
    try:
        with socket.create_connection((host, port), timeout=5) as raw, ctx.wrap_socket(raw) as s:
            s.sendall(H2_PREFACE)
            return bool(s.recv(64))
    except (ssl.SSLError, OSError):
        return False


def plain_h2(host: str, port: int) -> bool:
    """True when the port speaks plaintext gRPC (HTTP/2 without TLS)."""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(H2_PREFACE)
            return s.recv(9)[3:4] == b"\x04"  # a SETTINGS frame back
    except OSError:
        return False


def knock(host: str, port: int, bucket: str, key: str, version: str, fid: str, ca: str | None) -> list[str]:
    """Everything that answered an anonymous client on ``host:port`` (empty: the door is shut)."""
    base = f"http://{host}:{port}"
    found = []
    for method, path, body in (
        ("GET", f"/{fid}", None),
        ("DELETE", f"/{fid}", None),
        ("POST", f"/{fid}", b"forged"),
        ("PUT", f"/{fid}", b"forged"),
        ("GET", f"/buckets/{bucket}/{key}", None),
        ("PUT", f"/buckets/{bucket}/{key}", b"forged"),
        ("DELETE", f"/buckets/{bucket}/{key}.versions/v_{version}", None),
        ("DELETE", f"/buckets/{bucket}?recursive=true", None),
        ("GET", "/dir/assign", None),
        ("GET", f"/col/delete?collection={bucket}", None),
        ("GET", "/vol/vacuum?garbageThreshold=0.0001", None),
    ):
        status = request(method, base + path, body)
        if isinstance(status, int) and status < 400:
            found.append(f"{method} {base}{path} answered {status}")
    if plain_h2(host, port):
        found.append(f"{host}:{port} speaks plaintext gRPC")
    if tls_opens(host, port, ca):
        found.append(f"{host}:{port} opens TLS without a client certificate")
    return found


def anonymous_s3_refusals(endpoint: str, bucket: str, key: str, version: str) -> list[str]:
    """What anonymous S3 calls got (each must be AccessDenied): read, overwrite, new key, delete."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    anon = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    codes = []
    for call in (
        lambda: anon.get_object(Bucket=bucket, Key=key),
        lambda: anon.put_object(Bucket=bucket, Key=key, Body=b"forged"),
        lambda: anon.put_object(Bucket=bucket, Key=key + "-new", Body=b"forged"),
        lambda: anon.delete_object(Bucket=bucket, Key=key, VersionId=version),
    ):
        try:
            call()
            codes.append("ANSWERED")
        except ClientError as exc:
            codes.append(str(exc.response["Error"]["Code"]))
    return codes


def chunk_id(weed_shell: list[str], bucket: str, key: str, version: str) -> str:
    """The volume chunk behind an object version, asked through ``weed shell`` (which must hold the
    store's client certificate): what an attacker on the volume port would need."""
    import subprocess

    out = subprocess.run(
        weed_shell,
        input=f"fs.meta.cat /buckets/{bucket}/{key}.versions/v_{version}\n",
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    fid = json.loads(out[out.index("{") : out.rindex("}") + 1])["chunks"][0]["fid"]
    return f"{fid['volumeId']},{int(fid['fileKey']):x}{fid['cookie']:08x}"


if __name__ == "__main__":  # the compose probe: one JSON object in, findings per port out
    args = json.loads(sys.argv[1])
    cert = tuple(args["cert"]) if args.get("cert") else None
    out = {}
    for port in args["ports"]:
        out[str(port)] = {
            "findings": knock(
                args["host"], port, args["bucket"], args["key"], args["version"], args["fid"], args.get("ca")
            ),
            "tls_with_cert": bool(cert) and tls_opens(args["host"], port, args.get("ca"), cert),  # type: ignore[arg-type]
        }
    print(json.dumps(out))
