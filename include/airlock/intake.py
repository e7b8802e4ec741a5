"""Intake: the first gate. Pinned source -> policy -> registry -> verify.

The DAG calls these functions; each is safe to rerun. A request is validated
in full before any work starts, so a bad Param from the UI fails in
milliseconds with a message that names it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from airlock import metrics, policy
from airlock.config import AirlockConfig
from airlock.manifest import validate_name
from airlock.registry import IngestReport, Registry, VerifyReport, s3_client
from airlock.sources.base import Source
from airlock.sources.hub import HubSource, check_repo_id, check_revision
from airlock.sources.local import LocalSource
from airlock.sources.s3 import S3Source, parse_s3_uri

log = logging.getLogger(__name__)


class RequestError(ValueError):
    """An intake request (usually the DAG's Params) is invalid."""


class IntakeRequest(BaseModel):
    """What to ingest. ``location`` is a repo id (hub), an s3:// URI or a directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str
    source_kind: Literal["hub", "s3", "local"]
    location: str
    revision: str = "main"
    allow_patterns: list[str] = []
    ignore_patterns: list[str] = []
    full_verify: bool = False

    @field_validator("model_name")
    @classmethod
    def _name(cls, v: str) -> str:
        return validate_name(v.strip())

    @model_validator(mode="after")
    def _location(self) -> IntakeRequest:
        if not self.location.strip():
            raise ValueError("location is empty: give a repo id, an s3:// URI or a directory")
        if self.source_kind == "hub":
            check_repo_id(self.location)
            check_revision(self.revision)
        elif self.source_kind == "s3":
            parse_s3_uri(self.location)
        elif not Path(self.location).is_absolute():
            raise ValueError(f"local location {self.location!r} must be an absolute path")
        return self


def parse_request(params: dict[str, Any]) -> IntakeRequest:
    """Validate raw Params; raise :class:`RequestError` naming every bad field."""
    try:
        return IntakeRequest.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise RequestError(f"invalid intake request: {problems}") from None


def open_source(req: IntakeRequest, cfg: AirlockConfig, hf_token: str | None = None) -> Source:
    if req.source_kind == "hub":
        return HubSource(req.location, req.revision, token=hf_token,
                         allow_patterns=req.allow_patterns, ignore_patterns=req.ignore_patterns)
    if req.source_kind == "s3":
        return S3Source(req.location, s3_client(cfg.registry.endpoint_url, cfg.registry.region))
    from airlock.hashing import HashCache

    return LocalSource(req.location, HashCache(cfg.state_dir / "hash-cache.sqlite"))


def admit(req: IntakeRequest, source: Source, cfg: AirlockConfig) -> tuple[str, list]:
    """Resolve the revision, list its files and apply the policy (no bytes stored).

    Returns the immutable revision and the admitted file list; raises
    :class:`policy.PolicyViolation` with every reason otherwise.
    """
    revision = source.resolve()
    files = source.list_files()
    label = req.location if req.source_kind == "hub" else req.model_name
    cand = policy.Candidate(repo=label, files=files,
                            model_card=source.read_text("README.md") if any(f.path == "README.md" for f in files) else None,
                            config_json=source.read_text("config.json") if any(f.path == "config.json" for f in files) else None)
    policy.enforce(cand, cfg.policy)
    log.info("admitted %s@%s: %d files, %d bytes", label, revision, len(files), sum(f.size for f in files))
    return revision, files


def ingest(req: IntakeRequest, cfg: AirlockConfig, registry: Registry | None = None,
           hf_token: str | None = None) -> IngestReport:
    """Admit and ingest one request; the manifest is written last."""
    registry = registry or Registry.from_config(cfg)
    source = open_source(req, cfg, hf_token)
    revision, files = admit(req, source, cfg)
    report = registry.ingest(req.model_name, source, revision, files)
    log.info("ingest %s: digest %s, %d bytes uploaded, %d bytes already present",
             req.model_name, report.manifest.digest, report.bytes_uploaded, report.bytes_skipped)
    return report


def ingest_local(cfg: AirlockConfig, registry: Registry, name: str, directory: Path) -> IngestReport:
    req = IntakeRequest(model_name=name, source_kind="local", location=str(Path(directory).resolve()))
    return ingest(req, cfg, registry)


def verify(cfg: AirlockConfig, name: str, digest: str, full: bool, registry: Registry | None = None) -> VerifyReport:
    """Check every blob of a version; raise naming each bad file."""
    registry = registry or Registry.from_config(cfg)
    rep = registry.verify(registry.get_manifest(name, digest), full=full)
    if not rep.ok:
        raise RuntimeError(f"registry verification of {name}@{digest[:12]} failed:\n  - " + "\n  - ".join(rep.problems))
    return rep


# --- the DAG's task bodies: JSON-safe in, JSON-safe out ----------------------

def task_admit(params: dict[str, Any], cfg: AirlockConfig, hf_token: str | None = None) -> dict[str, Any]:
    """Validate the Params and apply the policy to the listing; stores nothing."""
    req = parse_request(params)
    revision, files = admit(req, open_source(req, cfg, hf_token), cfg)
    return {"request": req.model_dump(), "revision": revision, "files": len(files),
            "total_bytes": sum(f.size for f in files)}


def task_ingest(admitted: dict[str, Any], cfg: AirlockConfig, hf_token: str | None = None) -> dict[str, Any]:
    """Ingest exactly the revision that was admitted; fail if the source moved."""
    req = IntakeRequest.model_validate(admitted["request"])
    if req.source_kind == "hub":  # pin: read the admitted commit, not the branch head
        req = req.model_copy(update={"revision": admitted["revision"]})
    registry = Registry.from_config(cfg)
    source = open_source(req, cfg, hf_token)
    revision, files = admit(req, source, cfg)
    if revision != admitted["revision"]:
        raise RuntimeError(f"source changed between admission ({admitted['revision']}) and ingest ({revision}); rerun")
    t0 = time.monotonic()
    report = registry.ingest(req.model_name, source, revision, files)
    out = report.summary()
    out["seconds"] = round(time.monotonic() - t0, 3)
    metrics.record(cfg, req.model_name, {"airlock_ingest_bytes": {
        "uploaded": report.bytes_uploaded, "deduplicated": report.bytes_skipped}})
    return out


def task_verify(ingested: dict[str, Any], full: bool, cfg: AirlockConfig) -> dict[str, Any]:
    rep = verify(cfg, ingested["name"], ingested["digest"], full)
    return {**ingested, "verified": rep.mode, "verified_files": rep.files}


def task_record(verified: dict[str, Any], cfg: AirlockConfig, airflow_run_url: str | None = None) -> dict[str, Any]:
    """Record the intake in MLflow; returns the Asset event's extra."""
    from airlock import tracking

    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(verified["name"], verified["digest"])
    run_id = tracking.record_intake(cfg, manifest, verified["uri"], verified, airflow_run_url)
    return {"model": manifest.name, "digest": manifest.digest, "manifest_uri": verified["uri"],
            "revision": manifest.revision, "mlflow_run_id": run_id}
