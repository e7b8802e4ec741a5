"""Weights onto a node's disk: the signature and every byte checked before anything may serve it.

Why its own module: this is the last gate before a node loads weights. A
fleet node (``trusted_keys`` given) first verifies the version's signed pass
against the public keys it holds: no pass, a pass by another key, or a pass
for other bytes stops here, before a byte is downloaded, and the node keeps
serving what it served. Then the files land in a temporary sibling that is
renamed into place only after every sha256 matched the signed manifest, so a
version folder is either complete and verified, or absent. Files are
read-only once written. The staging node evaluates candidates, which are not
signed yet: it checks every sha256 but no pass.
"""

from __future__ import annotations

import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airlock.errors import IntegrityError
from airlock.hashing import CHUNK, HashingReader
from airlock.manifest import MANIFEST_FILE as MARKER
from airlock.manifest import FileEntry, Manifest, ManifestError
from airlock.registry import Registry
from airlock.signing import PASS_FILE, SIGNATURE_FILE, verify_pass
from airlock.store import s3_errors


def materialize(registry: Registry, m: Manifest, dest: Path, trusted_keys: list[bytes] | None = None) -> Path:
    """Download ``m`` into ``dest``, verifying its pass (with ``trusted_keys``) and every byte.

    Atomic and read-only. A folder already holding this manifest is kept (its marker is checked
    against the digest, and the pass is verified again: it costs milliseconds).
    """
    signed = _verified_pass(registry, m, trusted_keys) if trusted_keys is not None else None
    if (dest / MARKER).exists():
        Manifest.from_json((dest / MARKER).read_bytes(), expect_digest=m.digest)
        if signed is not None and not (dest / SIGNATURE_FILE).exists():
            _write_pass(dest, signed)  # cached before it was signed: add the pass beside it
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
        if signed is not None:
            _write_pass(tmp, signed)
        (tmp / MARKER).write_bytes(m.to_json())
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def check_cached(folder: Path, trusted_keys: list[bytes]) -> Manifest:
    """A version already on a node's disk: its pass must still verify before a (re)start.

    Checks the signature and that it covers the manifest beside the files; the files were
    checked byte by byte when they were written, read-only since.
    """
    try:
        manifest = Manifest.from_json((folder / MARKER).read_bytes())
        attestation, bundle = (folder / PASS_FILE).read_bytes(), (folder / SIGNATURE_FILE).read_bytes()
    except OSError:
        raise IntegrityError(f"{folder}: no signed pass beside the files; refusing to serve them") from None
    verify_pass(manifest, attestation, bundle, trusted_keys)
    return manifest


def _verified_pass(registry: Registry, m: Manifest, trusted_keys: list[bytes]) -> tuple[bytes, bytes]:
    found = registry.read_pass(m.name, m.digest)
    if found is None:
        raise IntegrityError(
            f"{m.name}@{m.digest[:12]}: unsigned: the registry holds no signed pass for it, "
            "and only versions that passed every gate may reach the fleet"
        )
    verify_pass(m, *found, trusted_keys)
    return found


def _write_pass(folder: Path, signed: tuple[bytes, bytes]) -> None:
    """The attestation and the bundle beside the files: ``model_signing verify`` accepts the folder."""
    for name, data in zip((PASS_FILE, SIGNATURE_FILE), signed, strict=True):
        p = folder / name
        p.unlink(missing_ok=True)
        p.write_bytes(data)
        p.chmod(0o444)


def safe_relative(path: str) -> bool:
    """A plain relative POSIX path that stays inside its folder."""
    p = Path(path)
    return not p.is_absolute() and ".." not in p.parts and path == p.as_posix()
