"""Weights onto a node's disk: every byte checked before anything may serve it.

Why its own module: this is the last gate before a node loads weights. The
files land in a temporary sibling that is renamed into place only after every
sha256 matched, so a node's version folder is either complete and verified, or
absent. Files are read-only once written.
"""

from __future__ import annotations

import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airlock.hashing import CHUNK, HashingReader
from airlock.manifest import MANIFEST_FILE as MARKER
from airlock.manifest import FileEntry, Manifest, ManifestError
from airlock.registry import Registry
from airlock.store import s3_errors


def materialize(registry: Registry, m: Manifest, dest: Path) -> Path:
    """Download ``m`` into ``dest``, verifying every byte; atomic and read-only.

    A folder already holding this manifest is kept as it is (its marker is
    checked against the digest).
    """
    if (dest / MARKER).exists():
        Manifest.from_json((dest / MARKER).read_bytes(), expect_digest=m.digest)
        return dest
    tmp = dest.with_name(dest.name + f".partial-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:

        def one(f: FileEntry) -> None:
            if not safe_relative(f.path):
                raise ManifestError(f"{f.path}: unsafe path in manifest {m.digest[:12]}")
            target = tmp / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            reader = HashingReader(registry.open_blob(f.known_sha256), f.path, f.sha256, f.size)
            with target.open("wb") as out, s3_errors(f"reading {f.path} of {m.name}@{m.digest[:12]}"):
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
            target.chmod(0o444)

        with ThreadPoolExecutor(max_workers=registry.concurrency) as pool:
            list(pool.map(one, m.files))
        (tmp / MARKER).write_bytes(m.to_json())
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def safe_relative(path: str) -> bool:
    """A plain relative POSIX path that stays inside its folder."""
    p = Path(path)
    return not p.is_absolute() and ".." not in p.parts and path == p.as_posix()
