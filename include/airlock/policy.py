"""Admission policy on the listing: names, counts, sizes, publisher, licence.

Runs on the metadata of a pinned revision, before any file is read or any
byte is stored, and returns *every* violation with a readable reason, so one
failed run tells the user all there is to fix. What the files contain is
judged next, by :mod:`airlock.admission`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from airlock.config import PolicyConfig
from airlock.errors import PolicyViolation
from airlock.manifest import FileEntry

_LICENSE_RE = re.compile(r"^license:\s*['\"]?([A-Za-z0-9._+-]+)", re.MULTILINE)

__all__ = ["PolicyViolation", "Submission", "caps", "check", "enforce", "licence_of", "path_problem"]


@dataclass(frozen=True)
class Submission:
    """What the policy looks at: who publishes it, its files, its card and config."""

    repo: str  # "org/name" for the hub, else a label
    files: list[FileEntry]
    model_card: str | None = None
    config_json: str | None = None


def path_problem(path: str) -> str | None:
    """Why a file name is unsafe, or None. Checks the name itself, not the disk."""
    if not path:
        return "empty file name"
    if any(unicodedata.category(c).startswith("C") for c in path):
        return f"{path!r}: control or invisible characters in the file name"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path) or "\\" in path:
        return f"{path!r}: absolute or non-POSIX path"
    if any(seg in ("", ".", "..") for seg in path.split("/")):
        return f"{path!r}: path traversal ('..', '.' or empty segment)"
    return None


def licence_of(card: str | None, config_json: str | None) -> str | None:
    """The licence id from the model card's YAML front matter, or config.json."""
    if card and card.startswith("---"):
        front = card.split("---", 2)[1] if card.count("---") >= 2 else ""
        m = _LICENSE_RE.search(front)
        if m:
            return m.group(1).lower()
    if config_json:
        try:
            lic = json.loads(config_json).get("license")
        except (ValueError, AttributeError):
            lic = None
        if isinstance(lic, str):
            return lic.lower()
    return None


def check(c: Submission, policy: PolicyConfig) -> list[str]:
    """Every rule the listing breaks, from metadata alone (names, counts, sizes, publisher,
    licence); empty means the files may be read. Their content is judged next
    (:func:`airlock.admission.inspect`)."""
    reasons: list[str] = []
    org = c.repo.split("/", 1)[0] if "/" in c.repo else None
    if policy.trusted_orgs and org not in policy.trusted_orgs:
        reasons.append(f"organisation {org or c.repo!r} is not in the trusted list ({', '.join(policy.trusted_orgs)})")
    reasons += [p for p in (path_problem(f.path) for f in c.files) if p]
    reasons += caps(c.files, policy)
    if not c.files:
        reasons.append("the revision has no files")
    elif not any(f.path.endswith(tuple(policy.weight_suffixes)) for f in c.files):
        reasons.append(f"no weights in an allowed format ({', '.join(policy.weight_suffixes)})")
    if policy.licenses:
        lic = licence_of(c.model_card, c.config_json)
        allowed = [x.lower() for x in policy.licenses]
        if lic is None:
            reasons.append(f"no licence found in the model card or config (allowed: {', '.join(allowed)})")
        elif lic not in allowed:
            reasons.append(f"licence {lic!r} is not allowed (allowed: {', '.join(allowed)})")
    return reasons


def caps(files: list[FileEntry], policy: PolicyConfig) -> list[str]:
    """The file-count and size caps: checked on the listing, before any file is read or hashed."""
    reasons = []
    if len(files) > policy.max_files:
        reasons.append(f"{len(files)} files: more than the cap of {policy.max_files} files")
    total = sum(f.size for f in files)
    if total > policy.max_total_gb * 1e9:
        reasons.append(f"total size {total / 1e9:.2f} GB exceeds the cap of {policy.max_total_gb} GB")
    return reasons


def enforce(c: Submission, policy: PolicyConfig) -> None:
    reasons = check(c, policy)
    if reasons:
        raise PolicyViolation(reasons)
