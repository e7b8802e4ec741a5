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

from airlock import metrics, rollout
from airlock.config import AirlockConfig
from airlock.errors import Busy, InvalidRequest, NotFound, RolloutFailed, VerdictRejected
from airlock.payloads import Finalized, PromotionRequest, RollbackRequest, RolloutPlan, RolloutResult
from airlock.registry import Registry
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
    """(digest, version) the fleet falls back to: the champion, else what most nodes serve."""
    champ = lookup.by_alias(CHAMPION)
    if champ is not None:
        return champ.digest, champ.version
    return fleet_version(), None


def promotion_plan(lookup: VersionLookup, digest: str, fleet_version: Callable[[], str | None]) -> RolloutPlan:
    """Pure: the version to promote must carry a pass verdict."""
    if not digest:
        raise InvalidRequest(f"promoting {lookup.model}: no digest given (the form's digest, or the verdict event)")
    mv = lookup.by_digest(digest)
    if mv is None:
        raise NotFound(f"{lookup.model}@{digest[:12]} has no model version: evaluate it first")
    if mv.verdict != "pass":
        raise VerdictRejected(
            f"{lookup.model} v{mv.version} has verdict {mv.verdict!r}, not 'pass': it cannot be promoted"
        )
    prev_digest, prev_version = current(lookup, fleet_version)
    return RolloutPlan(
        model=lookup.model,
        digest=digest,
        version=mv.version,
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
    return promotion_plan(ModelVersions(cfg, req.model), req.digest, lambda: fleet_version(cfg))


def resolve_rollback(cfg: AirlockConfig, req: RollbackRequest) -> RolloutPlan:
    plan = rollback_plan(ModelVersions(cfg, req.model), req.version, lambda: fleet_version(cfg))
    Registry.from_config(cfg).get_manifest(plan.model, plan.digest)  # must exist in the registry
    return plan


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
