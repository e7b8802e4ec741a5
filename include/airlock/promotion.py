"""Promotion and rollback: the ``model_promote`` and ``model_rollback`` task bodies.

Aliases follow the fleet, never lead it: ``champion`` and ``previous`` move
only after :func:`airlock.rollout.run` reports the whole fleet on the new
version. A failed or refused rollout leaves them exactly as they were.

Which version a request names, and what finalisation records, are pure
functions of the versions MLflow knows (:class:`VersionLookup`), so they are
unit-tested without a server.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from airlock import metrics, passes, rollout
from airlock.config import AirlockConfig
from airlock.errors import Busy, IntegrityError, InvalidRequest, NotFound, RolloutFailed
from airlock.payloads import Finalized, PromotionRequest, RollbackRequest, RolloutPlan, RolloutResult
from airlock.registry import Registry
from airlock.signing import Attestation
from airlock.tracking.names import CHAMPION, PREVIOUS, TAG_LIMIT
from airlock.tracking.versions import ModelVersions, VersionInfo, record_rollout

log = logging.getLogger(__name__)


class VersionLookup(Protocol):
    """The model versions of one model, as :class:`~airlock.tracking.versions.ModelVersions` reads them."""

    model: str

    def by_alias(self, alias: str) -> VersionInfo | None: ...

    def by_number(self, version: str) -> VersionInfo | None: ...

    def by_digest(self, digest: str) -> VersionInfo | None: ...


def current(lookup: VersionLookup, fleet_version: Callable[[], str | None]) -> tuple[str | None, str | None]:
    """(digest, version) of what most nodes serve now: what a failed rollout restores.

    The fleet, not the ``champion`` alias, is the truth here: an alias is display, and
    a forged one must not decide what the fleet falls back to.
    """
    digest = fleet_version()
    mv = lookup.by_digest(digest) if digest else None
    return digest, mv.version if mv else None


def promotion_plan(
    lookup: VersionLookup, digest: str, passed: Attestation, fleet_version: Callable[[], str | None]
) -> RolloutPlan:
    """Pure: promote the version whose verified pass is ``passed``."""
    if (passed.model, passed.digest) != (lookup.model, digest):
        raise InvalidRequest(f"the pass is for {passed.model}@{passed.digest[:12]}, not {lookup.model}@{digest[:12]}")
    prev_digest, prev_version = current(lookup, fleet_version)
    return RolloutPlan(
        model=lookup.model,
        digest=digest,
        version=passed.version,
        previous_digest=prev_digest,
        previous_version=prev_version,
    )


def rollback_plan(lookup: VersionLookup, ref: str, fleet_version: Callable[[], str | None]) -> RolloutPlan:
    """Pure: ``ref`` is 'previous' or 'champion' (an alias), a version number, or a digest."""
    ref = (ref or PREVIOUS).strip()
    version: str | None
    if ref in (PREVIOUS, CHAMPION):
        mv = lookup.by_alias(ref)
        if mv is None:
            raise NotFound(f"{lookup.model} has no '{ref}' alias to roll back to")
        digest, version = mv.digest, mv.version
    elif ref.isdigit():
        mv = lookup.by_number(ref)
        if mv is None:
            raise NotFound(f"{lookup.model} has no version {ref}")
        digest, version = mv.digest, mv.version
    elif len(ref) == 64 and all(c in "0123456789abcdef" for c in ref):
        mv = lookup.by_digest(ref)
        digest, version = ref, (mv.version if mv else None)
    else:
        raise InvalidRequest(f"rollback target {ref!r}: use 'previous', a version number or a digest")
    if not digest:
        raise NotFound(f"{lookup.model} v{version} records no digest: it was not registered by Airlock")
    prev_digest, prev_version = current(lookup, fleet_version)
    return RolloutPlan(
        model=lookup.model, digest=digest, version=version, previous_digest=prev_digest, previous_version=prev_version
    )


def history_entry(plan: RolloutPlan, result: RolloutResult, at: datetime) -> dict[str, Any]:
    """Pure: the line a rollout adds to the version's history."""
    return {
        "at": at.isoformat(timespec="seconds"),
        "kind": result.kind,
        "from": (plan.previous_digest or "")[:12],
        "nodes": [(e["node"], e["seconds"]) for e in result.nodes],
        "bake": (result.bake or {}).get("passed"),
    }


def bounded_history(past: list[dict[str, Any]], entry: dict[str, Any], limit: int = TAG_LIMIT) -> list[dict[str, Any]]:
    """Pure: ``past + [entry]``, dropping the oldest entries until its JSON fits an MLflow tag."""
    import json

    out = [*past, entry]
    while len(json.dumps(out)) > limit and len(out) > 1:
        out = out[1:]
    return out


def fleet_version(cfg: AirlockConfig) -> str | None:
    """The version most of the fleet serves now (None if no node runs)."""
    counts = Counter(v for v in rollout.Fleet.from_config(cfg).versions().values() if v)
    return counts.most_common(1)[0][0] if counts else None


def resolve_promotion(cfg: AirlockConfig, req: PromotionRequest) -> RolloutPlan:
    """The version to promote: it must hold a signed pass (MLflow's verdict tag is display only)."""
    if not req.digest:
        raise InvalidRequest(f"promoting {req.model}: no digest given (the form's digest, or the verdict event)")
    passed = _gate(cfg, req.model, req.digest)
    return promotion_plan(ModelVersions(cfg, req.model), req.digest, passed, lambda: fleet_version(cfg))


def resolve_rollback(cfg: AirlockConfig, req: RollbackRequest) -> RolloutPlan:
    """The version to roll back to (an alias, a number or a digest): it must hold a signed pass for this model."""
    plan = rollback_plan(ModelVersions(cfg, req.model), req.version, lambda: fleet_version(cfg))
    passed = _gate(cfg, plan.model, plan.digest)
    return plan.model_copy(update={"version": passed.version})


def _gate(cfg: AirlockConfig, model: str, digest: str) -> Attestation:
    """The one check every path to the fleet passes: a manifest of this model, a pass that
    verifies, and every blob present with the size and checksum the manifest names."""
    registry = Registry.from_config(cfg)
    manifest = registry.get_manifest(model, digest)  # NotFound for another model's version
    passed = passes.require(cfg, registry, manifest)
    report = registry.verify(manifest, full=False)
    if not report.ok:
        raise IntegrityError(f"{model}@{digest[:12]} would not pass the node check: " + "; ".join(report.problems))
    return passed


def needs_approval(cfg: AirlockConfig, model: str, requested: bool) -> bool:
    p = cfg.promotion
    return requested or p.require_approval or model in p.approval_models


def execute(cfg: AirlockConfig, plan: RolloutPlan, kind: Literal["promote", "rollback"]) -> RolloutResult:
    """Run the rollout (``kind``: promote or rollback) and count its outcome."""
    model, t0 = plan.model, time.monotonic()
    try:
        st = rollout.run(cfg, model, plan.digest, plan.previous_digest, kind=kind, bake=kind == "promote")
    except RolloutFailed:
        metrics.record(
            cfg,
            model,
            {"airlock_rollouts": {"rolled_back": 1}, "airlock_rollbacks": {"automatic": 1}},
            {"airlock_rollout_last_duration_seconds": time.monotonic() - t0},
        )
        raise
    except Busy:
        raise  # nothing was attempted
    except Exception:
        metrics.record(cfg, model, {"airlock_rollouts": {"failed": 1}})
        raise
    counts = {"airlock_rollouts": {"promoted": 1}} if kind == "promote" else {"airlock_rollbacks": {"manual": 1}}
    metrics.record(cfg, model, counts, {"airlock_rollout_last_duration_seconds": time.monotonic() - t0})
    return rollout.summary(st)


def finalize(cfg: AirlockConfig, plan: RolloutPlan, result: RolloutResult) -> Finalized:
    """Move the aliases now that the whole fleet serves the target; record history."""
    if plan.version is None:  # a version outside MLflow (the bootstrap): the fleet moved, aliases cannot
        log.warning("%s@%s has no model version: aliases unchanged", plan.model, plan.digest[:12])
        return Finalized(plan=plan, champion=None, previous=None, history=None)
    mv = ModelVersions(cfg, plan.model).by_number(plan.version)
    if mv is None:
        raise NotFound(f"{plan.model} v{plan.version} vanished from MLflow during the rollout")
    entry = history_entry(plan, result, datetime.now(UTC))
    prev = plan.previous_version if plan.previous_version != plan.version else None
    record_rollout(cfg, plan.model, plan.version, prev, bounded_history(mv.rollout_history, entry), entry["at"])
    return Finalized(plan=plan, champion=plan.version, previous=prev, history=entry)
