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
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from boto3.s3.transfer import TransferConfig

from airlock.errors import NotFound, StoreUnavailable
from airlock.hashing import CHUNK, HashingReader, IntegrityError
from airlock.manifest import FileEntry, Manifest, validate_name
from airlock.store import bucket_lock, ensure_bucket, is_missing, is_precondition_failed, s3_client, s3_errors

if TYPE_CHECKING:
    from airlock.config import AirlockConfig

BLOB_PREFIX = "blobs/sha256/"
MANIFEST_PREFIX = "manifests/"
PASS_PREFIX = "passes/"
REVISION_PREFIX = "revisions/"
STAGING_PREFIX = "staging/"
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload


def blob_key(sha256: str) -> str:
    return BLOB_PREFIX + sha256


def manifest_key(name: str, digest: str) -> str:
    return f"{MANIFEST_PREFIX}{name}/{digest}.json"


def pass_keys(name: str, digest: str) -> tuple[str, str]:
    """Where a version's signed pass lives: (attestation, signature), beside its manifest."""
    from airlock.signing import PASS_FILE, SIGNATURE_FILE

    base = f"{PASS_PREFIX}{name}/{digest}/"
    return base + PASS_FILE, base + SIGNATURE_FILE


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

    def __init__(
        self,
        client: Any,
        bucket: str,
        chunk_mb: int = 8,
        concurrency: int = 4,
        lock_days: int = 0,
        lock_mode: str = "COMPLIANCE",
    ) -> None:
        self.s3, self.bucket = client, bucket
        self.lock_days, self.lock_mode = lock_days, lock_mode
        self.concurrency = concurrency
        self.transfer = TransferConfig(
            multipart_threshold=chunk_mb << 20,
            multipart_chunksize=chunk_mb << 20,
            max_concurrency=concurrency,
            use_threads=True,
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
        return TransferConfig(
            multipart_threshold=self.transfer.multipart_threshold,
            multipart_chunksize=chunk,
            max_concurrency=self.concurrency,
            use_threads=True,
        )

    @classmethod
    def from_config(cls, cfg: AirlockConfig) -> Registry:
        r = cfg.registry
        return cls(
            s3_client(r.endpoint_url, r.region, pool=max(16, r.max_concurrency * 4)),
            r.bucket,
            r.multipart_chunk_mb,
            r.max_concurrency,
            r.object_lock_days,
            r.object_lock_mode,
        )

    # --- basic objects -------------------------------------------------------
    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self) -> None:
        """Create the bucket if missing: with ``lock_days``, under S3 object lock (``store.ensure_bucket``)."""
        ensure_bucket(self.s3, self.bucket, self.lock_days, self.lock_mode)

    def lock(self) -> dict[str, Any]:
        """The bucket's object-lock configuration as S3 reports it ({} when unlocked)."""
        return bucket_lock(self.s3, self.bucket)

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata, or None if it does not exist."""
        from botocore.exceptions import ClientError

        with s3_errors(self.uri(key)):
            try:
                out: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
                return out
            except ClientError as exc:
                if is_missing(exc):
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
        from botocore.exceptions import ClientError

        with s3_errors(self.uri(key)):
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    IfNoneMatch="*",
                    ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
                    ContentType="application/json",
                )
                return True
            except ClientError as exc:
                if is_precondition_failed(exc):
                    return False
                raise

    # --- blobs ---------------------------------------------------------------
    def upload_blob(self, stream: BinaryIO, label: str, sha256: str | None, size: int) -> tuple[str, int]:
        """Stream bytes into ``blobs/sha256/<hex>``, hashing them on the way.

        With a known sha256 the bytes go straight to their final key and a
        mismatch aborts the upload before it completes, so no wrong object
        ever exists there. Without one, they go to ``staging/`` first and are
        copied to their content address once the hash is known. Returns the
        sha256 and the number of bytes uploaded (0 if the blob was present).
        """
        with s3_errors(f"uploading {label}"):
            return self._upload_blob(HashingReader(stream, label, sha256, size), sha256, size)

    def _upload_blob(self, reader: HashingReader, sha256: str | None, size: int) -> tuple[str, int]:
        extra = {"Metadata": {"sha256": sha256 or ""}}
        if sha256 is not None:
            if self.has_blob(sha256, size):
                return sha256, 0
            if size < self.transfer.multipart_threshold:  # single PUT: the server verifies too
                body = reader.read()
                reader.read()  # EOF: raises on mismatch before anything is sent
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=blob_key(sha256),
                    Body=body,
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
                    Metadata={"sha256": sha256},
                )
            else:
                # No per-part checksum: over http every part is already SigV4
                # payload-signed (sha256), and our reader checks the whole file.
                self.s3.upload_fileobj(
                    reader, self.bucket, blob_key(sha256), ExtraArgs=extra, Config=self.transfer_for(size)
                )
            return sha256, size
        tmp = f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            self.s3.upload_fileobj(reader, self.bucket, tmp, Config=self.transfer_for(size))
            digest = reader.hexdigest()
            if not self.has_blob(digest, size):
                self.s3.copy(
                    {"Bucket": self.bucket, "Key": tmp},
                    self.bucket,
                    blob_key(digest),
                    ExtraArgs={"Metadata": {"sha256": digest}, "MetadataDirective": "REPLACE"},
                    Config=self.transfer,
                )
            return digest, size
        finally:
            self.s3.delete_object(Bucket=self.bucket, Key=tmp)

    def open_blob(self, sha256: str) -> BinaryIO:
        with s3_errors(f"blob {sha256}"):
            body: BinaryIO = self.s3.get_object(Bucket=self.bucket, Key=blob_key(sha256))["Body"]
        return body

    # --- manifests -----------------------------------------------------------
    def write_manifest(self, m: Manifest) -> bool:
        """The commit point: write the manifest unless this version exists."""
        return self.put_if_absent(manifest_key(m.name, m.digest), m.to_json())

    def get_manifest(self, name: str, digest: str) -> Manifest:
        validate_name(name)
        try:
            with s3_errors(f"version {digest} of model {name!r}"):
                raw = self.s3.get_object(Bucket=self.bucket, Key=manifest_key(name, digest))["Body"].read()
        except NotFound:
            raise NotFound(f"no version {digest} of model {name!r} in the registry") from None
        return Manifest.from_json(raw, expect_digest=digest)

    # --- signed passes -------------------------------------------------------
    def write_pass(self, name: str, digest: str, attestation: bytes, signature: bytes) -> bool:
        """Store a version's pass, write-once (signature last: a pass exists once it is signed).

        Returns False when this version already has a pass (the first one stands).
        """
        validate_name(name)
        att_key, sig_key = pass_keys(name, digest)
        if self.head(sig_key) is not None:
            return False
        self.put_if_absent(att_key, attestation)
        if self.get(att_key) != attestation:
            raise IntegrityError(f"{self.uri(att_key)} holds another attestation; refusing to sign over it")
        return self.put_if_absent(sig_key, signature)

    def read_pass(self, name: str, digest: str) -> tuple[bytes, bytes] | None:
        """(attestation, signature) of a version, or None when it was never signed."""
        validate_name(name)
        att_key, sig_key = pass_keys(name, digest)
        try:
            return self.get(att_key), self.get(sig_key)
        except NotFound:
            return None

    def get(self, key: str) -> bytes:
        """A small object's bytes; NotFound when absent."""
        with s3_errors(self.uri(key)):
            raw: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return raw

    def list_versions(self, name: str) -> list[tuple[str, datetime]]:
        """(digest, written at) of every version of ``name``, newest first."""
        out: list[tuple[str, datetime]] = []
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
        with s3_errors(f"listing models in {self.bucket}"):
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=MANIFEST_PREFIX, Delimiter="/"
            )
            return sorted(
                p["Prefix"][len(MANIFEST_PREFIX) : -1] for page in pages for p in page.get("CommonPrefixes", [])
            )

    def blobs(self) -> Iterator[tuple[str, int, datetime]]:
        """(sha256, size, last modified) of every blob in the registry."""
        for obj in self._iter(BLOB_PREFIX):
            yield obj["Key"][len(BLOB_PREFIX) :], obj["Size"], obj["LastModified"]

    def revision_entries(self, name: str) -> Iterator[tuple[str, str]]:
        """(key, digest) of each revisions-index entry of ``name``."""
        for obj in self._iter(f"{REVISION_PREFIX}{validate_name(name)}/"):
            with s3_errors(self.uri(obj["Key"])):
                raw = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
            yield obj["Key"], json.loads(raw)["digest"]

    def delete_keys(self, keys: list[str]) -> None:
        """Delete objects in batches of 1000; raise naming the first key S3 refused."""
        for i in range(0, len(keys), 1000):
            batch = keys[i : i + 1000]
            with s3_errors(f"deleting {len(batch)} keys from {self.bucket}"):
                resp = self.s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            if resp.get("Errors"):
                e = resp["Errors"][0]
                raise StoreUnavailable(
                    f"could not delete {e['Key']}: {e.get('Code')} {e.get('Message')}"
                    f" ({len(resp['Errors'])} errors in this batch)"
                )

    def _iter(self, prefix: str) -> Iterator[dict[str, Any]]:
        with s3_errors(f"listing {self.uri(prefix)}"):
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
            with s3_errors("revision index"):
                raw = self.s3.get_object(Bucket=self.bucket, Key=self._revision_key(name, source, revision))[
                    "Body"
                ].read()
        except NotFound:
            return None
        digest: str = json.loads(raw)["digest"]
        return digest if self.head(manifest_key(name, digest)) else None

    def record_revision(self, name: str, source: dict[str, Any], revision: str, digest: str) -> None:
        """Remember that (source, revision) is ``digest``, so a re-ingest costs one read."""
        self.put_if_absent(self._revision_key(name, source, revision), json.dumps({"digest": digest}).encode())

    # --- verify and materialise ----------------------------------------------
    def verify(self, m: Manifest, full: bool = False) -> VerifyReport:
        """Check every blob of ``m``: by stored size and checksum, or by re-hashing."""
        problems: list[str] = []

        def one(f: FileEntry) -> None:
            h = self.head(blob_key(f.known_sha256))
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
                body = self.open_blob(f.known_sha256)
                reader = HashingReader(body, f.path, f.sha256, f.size)
                try:
                    with s3_errors(f"reading blob {f.known_sha256}"):
                        while reader.read(CHUNK):
                            pass
                except IntegrityError as exc:
                    problems.append(str(exc))

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(one, m.files))
        return VerifyReport(m.digest, len(m.files), m.total_size, "full" if full else "quick", sorted(problems))
