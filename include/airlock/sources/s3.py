"""An S3 prefix as a source (a vendor's bucket).

The revision is a digest of the listing (keys, sizes, ETags), so a changed
object is a new revision. Where the object carries a SHA256 checksum (not a
multipart composite), it is used as the published sha256.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any, BinaryIO

from airlock.errors import InvalidRequest, NotFound
from airlock.manifest import FileEntry
from airlock.store import s3_client, s3_errors

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.sources.base import Credentials, SourceRequest


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise InvalidRequest(f"S3 location {uri!r} is invalid: expected s3://bucket/prefix")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise InvalidRequest(f"S3 location {uri!r} has no bucket")
    return bucket, prefix.strip("/")


class S3Source:
    """Objects under an ``s3://bucket/prefix`` at the vendor's endpoint, read with the vendor's credentials.

    Why its own connection: the registry's identity may write the registry;
    a source is somebody else's store, reached with a read key they gave.
    """

    kind = "s3"

    @staticmethod
    def check_location(location: str, revision: str) -> None:
        parse_s3_uri(location)

    @classmethod
    def from_request(cls, req: SourceRequest, cfg: AirlockConfig, creds: Credentials | None) -> S3Source:
        if creds is None or not (creds.endpoint and creds.login and creds.secret):
            raise InvalidRequest(
                f"S3 location {req.location!r} needs its own connection (the request's `connection`): an"
                " Airflow connection with the vendor's access key as login, its secret as password and"
                " endpoint_url in extra; the registry's credentials are never used to read a source"
            )
        bucket, _ = parse_s3_uri(req.location)
        if creds.endpoint.rstrip("/") == cfg.registry.endpoint_url.rstrip("/") and bucket == cfg.registry.bucket:
            raise InvalidRequest(f"S3 location {req.location!r} is the registry itself, not a source")
        return cls(
            req.location,
            s3_client(creds.endpoint, creds.region or "us-east-1", access_key=creds.login, secret_key=creds.secret),
        )

    def __init__(self, uri: str, client: Any) -> None:
        self.uri = uri
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.s3 = client
        self._files: list[FileEntry] | None = None
        self._etags: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "uri": f"s3://{self.bucket}/{self.prefix}"}

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def list_files(self) -> list[FileEntry]:
        if self._files is None:
            out = []
            base = self.prefix + "/" if self.prefix else ""
            with s3_errors(f"listing {self.uri}"):
                pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
                for page in pages:
                    for obj in page.get("Contents", []):
                        rel = obj["Key"][len(base) :]
                        if not rel or rel.endswith("/"):
                            continue
                        head = self.s3.head_object(Bucket=self.bucket, Key=obj["Key"], ChecksumMode="ENABLED")
                        cs = head.get("ChecksumSHA256")
                        sha = base64.b64decode(cs).hex() if cs and "-" not in cs else None
                        self._etags[rel] = obj.get("ETag", "")
                        out.append(FileEntry(rel, int(obj["Size"]), sha))
            self._files = sorted(out, key=lambda f: f.path)
        return list(self._files)

    def resolve(self) -> str:
        h = hashlib.sha256()
        for f in self.list_files():
            h.update(f"{f.path}\0{f.size}\0{self._etags.get(f.path)}\n".encode())
        return "s3-" + h.hexdigest()[:40]

    def refusals(self) -> list[str]:
        return []

    def digests(self, files: list[FileEntry]) -> list[FileEntry]:
        return files  # the upstream's published sha256 where it has one; the upload hashes the rest

    def open(self, path: str) -> BinaryIO:
        with s3_errors(f"{self.uri}/{path}"):
            body: BinaryIO = self.s3.get_object(Bucket=self.bucket, Key=self._key(path))["Body"]
        return body

    def read_text(self, path: str, limit: int = 1 << 20) -> str | None:
        try:
            return self.open(path).read(limit).decode("utf-8", "replace")
        except NotFound:
            return None
