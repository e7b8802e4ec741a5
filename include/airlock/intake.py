"""Intake: the first gate. Pinned source -> policy -> registry -> verify.

The DAG calls these functions; each is safe to rerun. A request is validated
in full before any work starts, so a bad Param from the UI fails in
milliseconds with a message that names it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from airlock import admission, metrics, policy, provenance
from airlock.config import AirlockConfig
from airlock.errors import IntegrityError, InvalidRequest, PolicyViolation
from airlock.ingest import IngestReport, ingest_revision
from airlock.manifest import FileEntry
from airlock.payloads import Admission, Candidate, IngestResult, IntakeRequest, VerifiedVersion, parse
from airlock.registry import Registry, VerifyReport
from airlock.sources import source_class
from airlock.sources.base import Credentials, Source

log = logging.getLogger(__name__)


def parse_request(params: dict[str, Any]) -> IntakeRequest:
    """Validate raw Params; InvalidRequest naming every bad or unknown field."""
    return parse(IntakeRequest, params, "intake request")


def open_source(req: IntakeRequest, cfg: AirlockConfig, creds: Credentials | None = None) -> Source:
    """The upstream the request names, through the source registered for its kind."""
    return source_class(req.source_kind).from_request(req, cfg, creds)


def admit(req: IntakeRequest, source: Source, cfg: AirlockConfig) -> tuple[str, list[FileEntry]]:
    """Judge a pinned revision before any byte is stored; return it and its files.

    In order, each step only if the previous passed: the listing's metadata
    (caps first, so a file-count or sparse-file bomb is never read), then every
    file's content (:mod:`airlock.admission`), then the hashes a source computes
    itself. Raises :class:`~airlock.errors.PolicyViolation` with every reason.
    """
    listing = source.list_files()
    label = _label(req)
    refused = source.refusals() + provenance.check_listing(cfg, label, listing)
    capped = policy.caps(listing, cfg.policy)
    if refused or capped:  # nothing is read past this point
        raise PolicyViolation(refused + capped)
    present = {f.path for f in listing}
    sub = policy.Submission(
        repo=label,
        files=listing,
        model_card=source.read_text("README.md") if "README.md" in present else None,
        config_json=source.read_text("config.json") if "config.json" in present else None,
    )
    reasons = policy.check(sub, cfg.policy)
    readable = [f for f in listing if policy.path_problem(f.path) is None]  # an unsafe name is never opened
    reasons += admission.inspect(source, readable, label, set(cfg.policy.pickle_exceptions))
    if reasons:
        raise PolicyViolation(reasons)
    files = source.digests(listing)
    revision = source.resolve()
    log.info("admitted %s@%s: %d files, %d bytes", label, revision, len(files), sum(f.size for f in files))
    return revision, files


def _label(req: IntakeRequest) -> str:
    """Who publishes it: the hub repo id, else the model's own name."""
    return req.location if req.source_kind == "hub" else req.model_name


def ingest(
    req: IntakeRequest, cfg: AirlockConfig, registry: Registry | None = None, creds: Credentials | None = None
) -> IngestReport:
    """Admit and ingest one request; the manifest is written last."""
    registry = registry or Registry.from_config(cfg)
    source = open_source(req, cfg, creds)
    revision, files = admit(req, source, cfg)
    report = ingest_revision(
        registry, req.model_name, source, revision, files, before_commit=provenance.verifier(cfg, source, _label(req))
    )
    log.info(
        "ingest %s: digest %s, %d bytes uploaded, %d bytes already present",
        req.model_name,
        report.manifest.digest,
        report.bytes_uploaded,
        report.bytes_skipped,
    )
    return report


def ingest_local(cfg: AirlockConfig, registry: Registry, name: str, directory: Path) -> IngestReport:
    req = IntakeRequest(model_name=name, source_kind="local", location=str(Path(directory).resolve()))
    return ingest(req, cfg, registry)


def verify(cfg: AirlockConfig, name: str, digest: str, full: bool, registry: Registry | None = None) -> VerifyReport:
    """Check every blob of a version; IntegrityError naming each bad file."""
    registry = registry or Registry.from_config(cfg)
    rep = registry.verify(registry.get_manifest(name, digest), full=full)
    if not rep.ok:
        raise IntegrityError(
            f"registry verification of {name}@{digest[:12]} failed:\n  - " + "\n  - ".join(rep.problems)
        )
    return rep


# --- the DAG's task bodies ----------------------------------------------------


def task_admit(req: IntakeRequest, cfg: AirlockConfig, creds: Credentials | None = None) -> Admission:
    """Apply the policy to the request's listing; stores nothing."""
    revision, files = admit(req, open_source(req, cfg, creds), cfg)
    return Admission(request=req, revision=revision, files=len(files), total_bytes=sum(f.size for f in files))


def task_ingest(admitted: Admission, cfg: AirlockConfig, creds: Credentials | None = None) -> IngestResult:
    """Ingest exactly the revision that was admitted; fail if the source moved."""
    req = admitted.request
    if req.source_kind == "hub":  # pin: read the admitted commit, not the branch head
        req = req.model_copy(update={"revision": admitted.revision})
    registry = Registry.from_config(cfg)
    source = open_source(req, cfg, creds)
    revision, files = admit(req, source, cfg)
    if revision != admitted.revision:
        raise InvalidRequest(
            f"{req.location}: the source changed between admission ({admitted.revision}) "
            f"and ingest ({revision}); trigger the intake again"
        )
    t0 = time.monotonic()
    report = ingest_revision(
        registry, req.model_name, source, revision, files, before_commit=provenance.verifier(cfg, source, _label(req))
    )
    metrics.record(
        cfg,
        req.model_name,
        {"airlock_ingest_bytes": {"uploaded": report.bytes_uploaded, "deduplicated": report.bytes_skipped}},
    )
    return IngestResult(**report.summary(), seconds=round(time.monotonic() - t0, 3))


def task_verify(ingested: IngestResult, full: bool, cfg: AirlockConfig) -> VerifiedVersion:
    rep = verify(cfg, ingested.name, ingested.digest, full)
    return VerifiedVersion(**ingested.model_dump(), verified="full" if full else "quick", verified_files=rep.files)


def task_record(verified: VerifiedVersion, cfg: AirlockConfig, airflow_run_url: str | None = None) -> Candidate:
    """Record the intake in MLflow; returns the Asset event's extra."""
    from airlock.tracking import runs

    manifest = Registry.from_config(cfg).get_manifest(verified.name, verified.digest)
    run_id = runs.record_intake(cfg, manifest, verified.uri, verified.model_dump(), airflow_run_url)
    return Candidate(
        model=manifest.name,
        digest=manifest.digest,
        manifest_uri=verified.uri,
        revision=manifest.revision,
        mlflow_run_id=run_id,
    )
