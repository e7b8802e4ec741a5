"""Publisher signatures: where a publisher signs its own releases, intake checks them.

A publisher (a hub organisation, a vendor) that signs its repo with OpenSSF
model-signing ships the bundle as a file in the revision (``model.sig`` by
default). Intake verifies it against the public keys configured for that
organisation, over every file's sha256 as ingested, just before the manifest
is written: a bad signature leaves no version. The result is recorded in the
manifest's ``extra``. ``signing.publisher_required`` makes a signature
mandatory for an organisation, or for all (``'*'``); that is checked on the
listing, before any byte is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock import signing
from airlock.config import AirlockConfig
from airlock.errors import ConfigError
from airlock.manifest import FileEntry
from airlock.sources.base import Source


def organisation(label: str) -> str:
    """The publisher of a repo id (``org/name``); a local or S3 version is published under its model name."""
    return label.split("/", 1)[0] if "/" in label else label


def required(cfg: AirlockConfig, label: str) -> bool:
    wanted = cfg.signing.publisher_required
    return "*" in wanted or organisation(label) in wanted


def check_listing(cfg: AirlockConfig, label: str, files: list[FileEntry]) -> list[str]:
    """Why the listing breaks the publisher rules (a required signature is missing)."""
    name = cfg.signing.publisher_signature
    if required(cfg, label) and not any(f.path == name for f in files):
        return [f"{label}: publisher {organisation(label)!r} must sign its releases, and the revision has no {name}"]
    return []


def verifier(cfg: AirlockConfig, source: Source, label: str) -> Callable[[list[FileEntry]], dict[str, Any]]:
    """The ``before_commit`` check of :func:`airlock.ingest.ingest_revision` for this source."""
    org, name = organisation(label), cfg.signing.publisher_signature
    paths = cfg.signing.publishers.get(org, [])
    if required(cfg, label) and not paths:
        raise ConfigError(f"signing.publisher_required names {org!r}, but signing.publishers has no key for it")

    def check(files: list[FileEntry]) -> dict[str, Any]:
        if not any(f.path == name for f in files):
            return {}
        if not paths:
            return {
                "publisher_signature": {
                    "org": org,
                    "file": name,
                    "verified": False,
                    "why": "no public key configured for this publisher",
                }
            }
        with source.open(name) as fh:
            bundle = fh.read(1 << 20)
        keys = cfg.read_keys(paths, f"signing.publishers.{org}")
        signing.verify_publisher(files, bundle, keys, f"{label} ({name})", name)  # IntegrityError: no version
        return {"publisher_signature": {"org": org, "file": name, "verified": True}}

    return check
