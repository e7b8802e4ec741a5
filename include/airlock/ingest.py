"""Ingest: stream one pinned revision of a source into the registry, manifest last.

Why this order: blobs first (each hashed on the way, skipped when already
present), the manifest last, so a version exists only once every byte it names
is stored. A failed run leaves unreferenced blobs (retention removes them) and
a rerun skips what the failed one already uploaded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airlock.manifest import FileEntry, Manifest, validate_name
from airlock.registry import Registry, manifest_key
from airlock.sources.base import Source


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
            "name": self.manifest.name,
            "digest": self.manifest.digest,
            "uri": self.uri,
            "revision": self.manifest.revision,
            "created": self.created,
            "files": len(self.manifest.files),
            "total_bytes": self.manifest.total_size,
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_skipped": self.bytes_skipped,
        }


def ingest_revision(
    registry: Registry,
    name: str,
    source: Source,
    revision: str,
    files: list[FileEntry],
    on_progress: Callable[[str, int], None] | None = None,
    before_commit: Callable[[list[FileEntry]], dict[str, Any]] | None = None,
) -> IngestReport:
    """Copy ``files`` of ``source`` at ``revision`` in, then commit the manifest.

    ``files`` must already have passed the admission policy. Blobs are
    uploaded ``concurrency`` files at a time; the manifest is written only
    after every blob is present. ``before_commit`` sees every file with its
    sha256 just before that (a publisher's signature is checked there); what it
    returns is recorded in the manifest's ``extra``, and if it raises, no
    version becomes visible.
    """
    validate_name(name)
    desc = source.describe()
    known = registry.find_revision(name, desc, revision)
    if known:
        m = registry.get_manifest(name, known)
        return IngestReport(
            m,
            registry.uri(manifest_key(name, known)),
            created=False,
            bytes_skipped=m.total_size,
            files_skipped=[f.path for f in m.files],
        )
    report_up: list[tuple[str, int]] = []
    report_skip: list[tuple[str, int]] = []

    def one(f: FileEntry) -> FileEntry:
        if f.sha256 and registry.has_blob(f.sha256, f.size):
            report_skip.append((f.path, f.size))
            return f
        with source.open(f.path) as raw:
            digest, sent = registry.upload_blob(raw, f.path, f.sha256, f.size)
        (report_up if sent else report_skip).append((f.path, f.size))
        if on_progress:
            on_progress(f.path, sent)
        return FileEntry(f.path, f.size, digest)

    # Small files in parallel first, so an early failure costs little; large
    # files one at a time, each already uploading `concurrency` parts at once.
    small = [f for f in files if f.size < registry.transfer.multipart_threshold]
    large = sorted((f for f in files if f.size >= registry.transfer.multipart_threshold), key=lambda f: f.size)
    with ThreadPoolExecutor(max_workers=max(1, min(registry.concurrency, len(small) or 1))) as pool:
        done = list(pool.map(one, small))
    done += [one(f) for f in large]
    extra = before_commit(done) if before_commit else {}
    manifest = Manifest(
        name=name,
        source=desc,
        revision=revision,
        files=tuple(done),
        created_at=datetime.now(UTC).isoformat(timespec="microseconds"),  # orders versions
        extra=extra,
    )
    created = registry.write_manifest(manifest)
    if not created:
        manifest = registry.get_manifest(name, manifest.digest)  # keep the original record
    registry.record_revision(name, desc, revision, manifest.digest)
    return IngestReport(
        manifest,
        registry.uri(manifest_key(name, manifest.digest)),
        created=created,
        bytes_uploaded=sum(s for _, s in report_up),
        bytes_skipped=sum(s for _, s in report_skip),
        files_uploaded=sorted(p for p, _ in report_up),
        files_skipped=sorted(p for p, _ in report_skip),
    )
