"""The manifest: what one model version is, byte for byte.

A version's identity is the digest of its name and its files (path, size,
sha256), so the same bytes ingested twice are the same version, and any changed
byte is a different one. Where the bytes came from (source, revision, time) is
recorded alongside but does not change the identity.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from airlock import __version__
from airlock.errors import IntegrityError, InvalidRequest

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_FILE = ".airlock-manifest.json"  # beside a materialised version's files: what they are


class ManifestError(IntegrityError):
    """A manifest is malformed or does not match its digest (permanent: re-reading gives the same bytes)."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a model version. ``sha256`` is None until known."""

    path: str
    size: int
    sha256: str | None = None

    @property
    def known_sha256(self) -> str:
        """The sha256, which every entry of a :class:`Manifest` has (checked when it is built)."""
        if self.sha256 is None:
            raise ManifestError(f"{self.path}: no sha256 recorded")
        return self.sha256


def validate_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise InvalidRequest(f"model name {name!r} is invalid: use 1-64 lowercase letters, digits, '.', '_' or '-'")
    return name


@dataclass(frozen=True)
class Manifest:
    name: str
    source: dict[str, Any]
    revision: str
    files: tuple[FileEntry, ...]
    created_at: str
    airlock_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name(self.name)
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ManifestError("manifest lists a path twice")
        for f in self.files:
            if f.sha256 is None or not SHA256_RE.match(f.sha256):
                raise ManifestError(f"{f.path}: a manifest needs a sha256 for every file")

    @property
    def digest(self) -> str:
        """sha256 over the canonical identity (name and files): the version id."""
        ident = {"name": self.name, "files": [asdict(f) for f in sorted(self.files, key=lambda f: f.path)]}
        return hashlib.sha256(_canonical(ident)).hexdigest()

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc["files"] = [asdict(f) for f in sorted(self.files, key=lambda f: f.path)]
        doc["digest"] = self.digest
        return _canonical(doc)

    @classmethod
    def from_json(cls, raw: bytes | str, expect_digest: str | None = None) -> Manifest:
        """Parse and check a manifest; the stored digest must match its content."""
        try:
            doc = json.loads(raw)
            stored = doc.pop("digest")
            doc["files"] = tuple(FileEntry(**f) for f in doc["files"])
            m = cls(**doc)
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"malformed manifest: {exc}") from exc
        if m.digest != stored or (expect_digest and stored != expect_digest):
            raise ManifestError(
                f"manifest digest mismatch: content gives {m.digest}, stored {stored}"
                + (f", expected {expect_digest}" if expect_digest else "")
            )
        return m


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
