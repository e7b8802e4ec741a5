"""The private S3 registry: content-addressed blobs, manifests written last.

Layout in the bucket::

    blobs/sha256/<hex>                  file bytes, one object per distinct content
    manifests/<name>/<digest>.json      a version; written last, never overwritten
    revisions/<name>/<key>.json         (source, revision) -> digest, for cheap re-ingest
    staging/<uuid>                      uploads whose hash is learnt on arrival

Why this shape: a blob's key is its hash, so a blob already present is skipped
(dedup across revisions and models) and a blob can be checked by anyone. A
version exists only once its manifest exists, so a failed ingest leaves no
visible version, only unreferenced blobs that retention removes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from airlock.hashing import CHUNK, HashingReader, IntegrityError
from airlock.manifest import FileEntry, Manifest, ManifestError, validate_name
from airlock.sources.base import Source

BLOB_PREFIX = "blobs/sha256/"
MANIFEST_PREFIX = "manifests/"
REVISION_PREFIX = "revisions/"
STAGING_PREFIX = "staging/"
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload


class RegistryError(RuntimeError):
    """The registry refused an operation or holds something unexpected."""


def blob_key(sha256: str) -> str:
    return BLOB_PREFIX + sha256


def manifest_key(name: str, digest: str) -> str:
    return f"{MANIFEST_PREFIX}{name}/{digest}.json"


def s3_client(endpoint_url: str | None, region: str = "us-east-1",
              access_key: str | None = None, secret_key: str | None = None, pool: int = 16):
    """A boto3 client for the registry (path-style, SigV4, checksums when required)."""
    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region,
        aws_access_key_id=access_key or os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        config=BotoConfig(
            signature_version="s3v4", s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=pool, retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5, read_timeout=120,
        ),
    )


@dataclass
class IngestReport:
    """What an ingest did: the version, and how many bytes really moved."""

    manifest: Manifest
    uri: str
    created: bool
    bytes_uploaded: int = 0
    bytes_skipped: int = 0
    files_uploaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.manifest.name, "digest": self.manifest.digest, "uri": self.uri,
            "revision": self.manifest.revision, "created": self.created,
            "files": len(self.manifest.files), "total_bytes": self.manifest.total_size,
            "bytes_uploaded": self.bytes_uploaded, "bytes_skipped": self.bytes_skipped,
        }


@dataclass
class VerifyReport:
    digest: str
    files: int
    bytes: int
    mode: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class Registry:
    """The registry bucket, through one boto3 client."""

    def __init__(self, client, bucket: str, chunk_mb: int = 8, concurrency: int = 4) -> None:
        self.s3, self.bucket = client, bucket
        self.concurrency = concurrency
        self.transfer = TransferConfig(
            multipart_threshold=chunk_mb << 20, multipart_chunksize=chunk_mb << 20,
            max_concurrency=concurrency, use_threads=True,
        )

    def transfer_for(self, size: int) -> TransferConfig:
        """The transfer settings for a blob of ``size`` bytes.

        A stream's size is unknown to boto3, so it cannot grow the part size
        itself: a file bigger than ``MAX_PARTS`` parts gets parts just large
        enough (whole MiB) instead of failing at part 10,001.
        """
        if size <= self.transfer.multipart_chunksize * MAX_PARTS:
            return self.transfer
        chunk = ((-(-size // MAX_PARTS) >> 20) + 1) << 20
        return TransferConfig(multipart_threshold=self.transfer.multipart_threshold, multipart_chunksize=chunk,
                              max_concurrency=self.transfer.max_concurrency, use_threads=True)

    @classmethod
    def from_config(cls, cfg) -> Registry:
        r = cfg.registry
        return cls(s3_client(r.endpoint_url, r.region, pool=max(16, r.max_concurrency * 4)),
                   r.bucket, r.multipart_chunk_mb, r.max_concurrency)

    # --- basic objects -------------------------------------------------------
    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self) -> None:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.s3.create_bucket(Bucket=self.bucket)

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        h = self.head(blob_key(sha256))
        return h is not None and (size is None or h["ContentLength"] == size)

    def put_if_absent(self, key: str, body: bytes) -> bool:
        """Write a small object unless the key exists; True if written.

        Uses a conditional write (``If-None-Match: *``), so two writers racing
        for one key cannot overwrite each other.
        """
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
                ContentType="application/json",
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412",
                                                             "ConditionalRequestConflict"):
                return False
            raise

    # --- blobs ---------------------------------------------------------------
    def upload_blob(self, stream, label: str, sha256: str | None, size: int) -> tuple[str, int]:
        """Stream bytes into ``blobs/sha256/<hex>``, hashing them on the way.

        With a known sha256 the bytes go straight to their final key and a
        mismatch aborts the upload before it completes, so no wrong object
        ever exists there. Without one, they go to ``staging/`` first and are
        copied to their content address once the hash is known. Returns the
        sha256 and the number of bytes uploaded (0 if the blob was present).
        """
        reader = HashingReader(stream, label, sha256, size)
        extra = {"Metadata": {"sha256": sha256 or ""}}
        if sha256 is not None:
            if self.has_blob(sha256, size):
                return sha256, 0
            if size < self.transfer.multipart_threshold:  # single PUT: the server verifies too
                body = reader.read()
                reader.read()  # EOF: raises on mismatch before anything is sent
                self.s3.put_object(
                    Bucket=self.bucket, Key=blob_key(sha256), Body=body,
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
                    Metadata={"sha256": sha256},
                )
            else:
                # No per-part checksum: over http every part is already SigV4
                # payload-signed (sha256), and our reader checks the whole file.
                self.s3.upload_fileobj(reader, self.bucket, blob_key(sha256), ExtraArgs=extra,
                                       Config=self.transfer_for(size))
            return sha256, size
        tmp = f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            self.s3.upload_fileobj(reader, self.bucket, tmp, Config=self.transfer_for(size))
            digest = reader.hexdigest()
            if not self.has_blob(digest, size):
                self.s3.copy({"Bucket": self.bucket, "Key": tmp}, self.bucket, blob_key(digest),
                             ExtraArgs={"Metadata": {"sha256": digest}, "MetadataDirective": "REPLACE"},
                             Config=self.transfer)
            return digest, size
        finally:
            self.s3.delete_object(Bucket=self.bucket, Key=tmp)

    def open_blob(self, sha256: str):
        return self.s3.get_object(Bucket=self.bucket, Key=blob_key(sha256))["Body"]

    # --- manifests -----------------------------------------------------------
    def write_manifest(self, m: Manifest) -> bool:
        """The commit point: write the manifest unless this version exists."""
        return self.put_if_absent(manifest_key(m.name, m.digest), m.to_json())

    def get_manifest(self, name: str, digest: str) -> Manifest:
        validate_name(name)
        try:
            raw = self.s3.get_object(Bucket=self.bucket, Key=manifest_key(name, digest))["Body"].read()
        except ClientError as exc:
            raise RegistryError(f"no version {digest} of model {name!r} in the registry") from exc
        return Manifest.from_json(raw, expect_digest=digest)

    def list_versions(self, name: str) -> list[tuple[str, datetime]]:
        """(digest, written at) of every version of ``name``, newest first."""
        out = []
        for obj in self._iter(f"{MANIFEST_PREFIX}{validate_name(name)}/"):
            if obj["Key"].endswith(".json"):
                out.append((obj["Key"].rsplit("/", 1)[1][:-5], obj["LastModified"]))
        return sorted(out, key=lambda t: t[1], reverse=True)

    def manifests(self, name: str) -> list[Manifest]:
        """Every version of ``name``, newest first by creation time (S3's
        LastModified has one-second resolution; ``created_at`` has microseconds)."""
        ms = [self.get_manifest(name, digest) for digest, _ in self.list_versions(name)]
        return sorted(ms, key=lambda m: datetime.fromisoformat(m.created_at), reverse=True)

    def list_models(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=MANIFEST_PREFIX, Delimiter="/")
        return sorted(p["Prefix"][len(MANIFEST_PREFIX):-1] for page in pages
                      for p in page.get("CommonPrefixes", []))

    def blobs(self) -> Iterator[tuple[str, int, datetime]]:
        """(sha256, size, last modified) of every blob in the registry."""
        for obj in self._iter(BLOB_PREFIX):
            yield obj["Key"][len(BLOB_PREFIX):], obj["Size"], obj["LastModified"]

    def revision_entries(self, name: str) -> Iterator[tuple[str, str]]:
        """(key, digest) of each revisions-index entry of ``name``."""
        for obj in self._iter(f"{REVISION_PREFIX}{validate_name(name)}/"):
            raw = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
            yield obj["Key"], json.loads(raw)["digest"]

    def delete_keys(self, keys: list[str]) -> None:
        """Delete objects in batches of 1000; raise naming the first key S3 refused."""
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            resp = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                       "Quiet": True})
            if resp.get("Errors"):
                e = resp["Errors"][0]
                raise RegistryError(f"could not delete {e['Key']}: {e.get('Code')} {e.get('Message')}"
                                    f" ({len(resp['Errors'])} errors in this batch)")

    def _iter(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    # --- revisions index -----------------------------------------------------
    @staticmethod
    def _revision_key(name: str, source: dict[str, Any], revision: str) -> str:
        ident = json.dumps({"source": source, "revision": revision}, sort_keys=True)
        return f"{REVISION_PREFIX}{name}/{hashlib.sha256(ident.encode()).hexdigest()}.json"

    def find_revision(self, name: str, source: dict[str, Any], revision: str) -> str | None:
        """The digest already ingested for this exact (source, revision), if any."""
        try:
            raw = self.s3.get_object(Bucket=self.bucket,
                                     Key=self._revision_key(name, source, revision))["Body"].read()
        except ClientError:
            return None
        digest = json.loads(raw)["digest"]
        return digest if self.head(manifest_key(name, digest)) else None

    # --- ingest --------------------------------------------------------------
    def ingest(self, name: str, source: Source, revision: str, files: list[FileEntry],
               on_progress: Callable[[str, int], None] | None = None) -> IngestReport:
        """Copy ``files`` of ``source`` at ``revision`` in, then commit the manifest.

        ``files`` must already have passed the admission policy. Blobs are
        uploaded ``concurrency`` files at a time; the manifest is written only
        after every blob is present.
        """
        validate_name(name)
        desc = source.describe()
        known = self.find_revision(name, desc, revision)
        if known:
            m = self.get_manifest(name, known)
            return IngestReport(m, self.uri(manifest_key(name, known)), created=False,
                                bytes_skipped=m.total_size,
                                files_skipped=[f.path for f in m.files])
        report_up: list[tuple[str, int]] = []
        report_skip: list[tuple[str, int]] = []

        def one(f: FileEntry) -> FileEntry:
            if f.sha256 and self.has_blob(f.sha256, f.size):
                report_skip.append((f.path, f.size))
                return f
            with source.open(f.path) as raw:
                digest, sent = self.upload_blob(raw, f.path, f.sha256, f.size)
            (report_up if sent else report_skip).append((f.path, f.size))
            if on_progress:
                on_progress(f.path, sent)
            return FileEntry(f.path, f.size, digest)

        # Small files in parallel first, so an early failure costs little; large
        # files one at a time, each already uploading `concurrency` parts at once.
        small = [f for f in files if f.size < self.transfer.multipart_threshold]
        large = sorted((f for f in files if f.size >= self.transfer.multipart_threshold), key=lambda f: f.size)
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(small) or 1))) as pool:
            done = list(pool.map(one, small))
        done += [one(f) for f in large]
        manifest = Manifest(
            name=name, source=desc, revision=revision, files=tuple(done),
            created_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),  # orders versions
        )
        created = self.write_manifest(manifest)
        if not created:
            manifest = self.get_manifest(name, manifest.digest)  # keep the original record
        self.put_if_absent(self._revision_key(name, desc, revision),
                           json.dumps({"digest": manifest.digest}).encode())
        return IngestReport(
            manifest, self.uri(manifest_key(name, manifest.digest)), created=created,
            bytes_uploaded=sum(s for _, s in report_up), bytes_skipped=sum(s for _, s in report_skip),
            files_uploaded=sorted(p for p, _ in report_up), files_skipped=sorted(p for p, _ in report_skip),
        )

    # --- verify and materialise ----------------------------------------------
    def verify(self, m: Manifest, full: bool = False) -> VerifyReport:
        """Check every blob of ``m``: by stored size and checksum, or by re-hashing."""
        problems: list[str] = []

        def one(f: FileEntry) -> None:
            h = self.head(blob_key(f.sha256))
            if h is None:
                problems.append(f"{f.path}: blob {f.sha256} is missing")
                return
            if h["ContentLength"] != f.size:
                problems.append(f"{f.path}: stored size {h['ContentLength']} != manifest {f.size}")
                return
            stored = h.get("ChecksumSHA256")
            if stored and "-" not in stored and base64.b64decode(stored).hex() != f.sha256:
                problems.append(f"{f.path}: stored checksum does not match the manifest sha256")
                return
            if full:
                body = self.open_blob(f.sha256)
                reader = HashingReader(body, f.path, f.sha256, f.size)
                try:
                    while reader.read(CHUNK):
                        pass
                except IntegrityError as exc:
                    problems.append(str(exc))

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(one, m.files))
        return VerifyReport(m.digest, len(m.files), m.total_size, "full" if full else "quick",
                            sorted(problems))

    def materialize(self, m: Manifest, dest: Path) -> Path:
        """Download ``m`` into ``dest``, verifying every byte; atomic and read-only.

        The files land in a temporary sibling that is renamed into place only
        after every sha256 matched, so ``dest`` is either complete or absent.
        """
        if (dest / ".airlock-manifest.json").exists():
            Manifest.from_json((dest / ".airlock-manifest.json").read_bytes(), expect_digest=m.digest)
            return dest
        tmp = dest.with_name(dest.name + f".partial-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            def one(f: FileEntry) -> None:
                target = tmp / f.path
                if not _safe_rel(f.path):
                    raise ManifestError(f"{f.path}: unsafe path in manifest")
                target.parent.mkdir(parents=True, exist_ok=True)
                reader = HashingReader(self.open_blob(f.sha256), f.path, f.sha256, f.size)
                with target.open("wb") as out:
                    while chunk := reader.read(CHUNK):
                        out.write(chunk)
                target.chmod(0o444)

            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                list(pool.map(one, m.files))
            (tmp / ".airlock-manifest.json").write_bytes(m.to_json())
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest


def _safe_rel(path: str) -> bool:
    p = Path(path)
    return not p.is_absolute() and ".." not in p.parts and path == p.as_posix()
