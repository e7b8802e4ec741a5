"""The signed pass: the only evidence that lets weights onto the fleet.

Once every gate has passed, the pipeline signs, with OpenSSF model-signing
(key-based, offline), the version's files (every path with its sha256, as the
manifest lists them) together with an attestation of the verdict (model,
version, digest, suite, verdict, the evaluation run). The attestation is one
more signed "file", ``airlock-pass.json``, so one signature binds the bytes
and the judgement. Both are stored beside the manifest in the registry,
write-once; nodes hold only public keys.

Why sign digests instead of a folder: the pipeline never holds the weights
(they stay in the registry), and hashing them again would be wasted work. The
statement it signs is the same in-toto statement the model-signing CLI
writes, so ``model_signing verify key <version dir>`` accepts a materialised
version as it is on the node (tests/integration/test_signing.py shows it).

model-signing exposes signing of an existing manifest only through private
modules (``model_signing._signing``, ``model_signing._hashing``); the version
is pinned in requirements.txt and the round trip is tested.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from airlock import __version__
from airlock.errors import IntegrityError
from airlock.manifest import MANIFEST_FILE, FileEntry, Manifest

PASS_FILE = "airlock-pass.json"  # the verdict attestation, signed as one of the version's files
SIGNATURE_FILE = "airlock-pass.sig"  # the Sigstore bundle (DSSE envelope, in-toto statement)
IGNORED = (MANIFEST_FILE, SIGNATURE_FILE)  # beside a materialised version, not part of what is signed


class Attestation(BaseModel):
    """What the pipeline attests with its signature: this version passed these gates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: str
    digest: str
    suite: str
    verdict: Literal["pass"]
    evaluation_run: str
    signed_at: str
    airlock_version: str = __version__

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":")).encode()


def attest(model: str, version: str, digest: str, suite: str, evaluation_run: str) -> Attestation:
    return Attestation(
        model=model,
        version=version,
        digest=digest,
        suite=suite,
        verdict="pass",
        evaluation_run=evaluation_run,
        signed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def signed_files(manifest: Manifest, attestation: bytes) -> dict[str, str]:
    """path -> sha256 of everything a pass signs: the version's files and the attestation."""
    files = {f.path: f.known_sha256 for f in manifest.files}
    if PASS_FILE in files:
        raise IntegrityError(
            f"{manifest.name}@{manifest.digest[:12]}: a file is named {PASS_FILE}, which Airlock signs"
        )
    return {**files, PASS_FILE: hashlib.sha256(attestation).hexdigest()}


def sign_pass(manifest: Manifest, attestation: Attestation, private_key_pem: bytes) -> bytes:
    """The Sigstore bundle over the version's files and the attestation."""
    return sign_files(signed_files(manifest, attestation.to_bytes()), manifest.digest, private_key_pem, IGNORED)


def verify_pass(manifest: Manifest, attestation: bytes, bundle: bytes, public_keys: Iterable[bytes]) -> Attestation:
    """The attestation, if ``bundle`` is a pass for exactly this version by one of ``public_keys``.

    IntegrityError names what is wrong: no key verifies the signature, the signed files differ
    from the manifest, or the attestation is for another model, version or verdict.
    """
    label = f"{manifest.name}@{manifest.digest[:12]}"
    signed = verify_files(bundle, public_keys, label)
    expected = signed_files(manifest, attestation)
    if signed != expected:
        raise IntegrityError(f"{label}: the signed pass does not cover these files: {_diff(expected, signed)}")
    try:
        att = Attestation.model_validate_json(attestation)
    except ValidationError as exc:
        raise IntegrityError(f"{label}: the signed attestation is malformed: {exc.errors()[0]['msg']}") from None
    if (att.model, att.digest) != (manifest.name, manifest.digest):
        raise IntegrityError(f"{label}: the pass was issued for {att.model}@{att.digest[:12]}")
    return att


def sign_files(files: dict[str, str], name: str, private_key_pem: bytes, ignore: Iterable[str] = ()) -> bytes:
    """A model-signing bundle over ``files`` (path -> sha256 hex), without reading any of them."""
    from model_signing import manifest as ms
    from model_signing._hashing.hashing import Digest
    from model_signing._signing import sign_ec_key, signing

    items = [
        ms.FileManifestItem(path=PurePosixPath(p), digest=Digest("sha256", bytes.fromhex(h)))
        for p, h in sorted(files.items())
    ]
    statement = ms.Manifest(name, items, ms._FileSerialization("sha256", False, [Path(p) for p in ignore]))
    with _pem_file(private_key_pem) as key:
        signature = sign_ec_key.Signer(key).sign(signing.Payload(statement))
        out = key.with_name("bundle.json")
        signature.write(out)
        return out.read_bytes()


def verify_files(bundle: bytes, public_keys: Iterable[bytes], label: str) -> dict[str, str]:
    """path -> sha256 hex that ``bundle`` signs, if one of ``public_keys`` verifies it."""
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    keys = list(public_keys)
    if not keys:
        raise IntegrityError(f"{label}: no public key is configured to verify its signature")
    problems = []
    with tempfile.TemporaryDirectory(prefix="airlock-verify-") as d:
        sig_path = Path(d) / "bundle.json"
        sig_path.write_bytes(bundle)
        try:
            signature = sign_sigstore_pb.Signature.read(sig_path)
        except Exception as exc:  # noqa: BLE001 - any parse failure: not a bundle
            raise IntegrityError(f"{label}: the signature is not a Sigstore bundle ({type(exc).__name__})") from None
        for i, pem in enumerate(keys):
            key = Path(d) / f"key{i}.pub"
            key.write_bytes(pem)
            try:
                statement = sign_ec_key.Verifier(key).verify(signature)
            except Exception as exc:  # noqa: BLE001 - ValueError or InvalidSignature: try the next key
                problems.append(f"key {i + 1}: {type(exc).__name__}")
                continue
            return {r.identifier: r.digest.digest_hex for r in statement.resource_descriptors()}
    raise IntegrityError(f"{label}: no configured public key verifies its signature ({'; '.join(problems)})")


def verify_publisher(
    files: list[FileEntry], bundle: bytes, public_keys: Iterable[bytes], label: str, signature_path: str
) -> None:
    """A publisher's own model-signing signature must cover exactly the files ingested
    (as model-signing hashes a folder: the signature itself and ``.git*`` paths left out)."""
    signed = verify_files(bundle, public_keys, label)
    actual = {f.path: f.known_sha256 for f in files if f.path != signature_path and not f.path.startswith(".git")}
    if signed != actual:
        raise IntegrityError(f"{label}: the publisher's signature does not match the files: {_diff(signed, actual)}")


def _diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    parts = []
    if extra := sorted(set(actual) - set(expected)):
        parts.append(f"unexpected {', '.join(extra)}")
    if missing := sorted(set(expected) - set(actual)):
        parts.append(f"missing {', '.join(missing)}")
    if changed := sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p]):
        parts.append(f"different sha256 for {', '.join(changed)}")
    return "; ".join(parts) or "none"


@contextmanager
def _pem_file(pem: bytes) -> Iterator[Path]:
    """model-signing reads keys from files: a private 0700 folder, removed at once."""
    with tempfile.TemporaryDirectory(prefix="airlock-sign-") as d:
        key = Path(d) / "key.pem"
        key.touch(mode=0o600)
        key.write_bytes(pem)
        yield key


def generate_key_pair() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a new ECDSA P-256 key: the local stack's dev signing key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def describe(attestation: Attestation) -> dict[str, Any]:
    """What a log line or a report may show of a pass (no secrets in it anyway)."""
    return attestation.model_dump()
