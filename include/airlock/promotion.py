"""Promotion and rollback: the ``model_promote`` and ``model_rollback`` task bodies.

Aliases follow the fleet, never lead it: ``champion`` and ``previous`` move
only after :func:`airlock.rollout.run` reports the whole fleet on the new
version. A failed or refused rollout leaves them exactly as they were.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from airlock import metrics, rollout, tracking
from airlock.config import AirlockConfig
from airlock.gate import DIGEST_RE
from airlock.manifest import validate_name
from airlock.registry import Registry

log = logging.getLogger(__name__)


class PromotionRequestError(ValueError):
    """The promotion or rollback request names no valid version."""


def _version_by_digest(c, model: str, digest: str):
    found = c.search_model_versions(f"name = '{model}' and tags.`airlock.digest` = '{digest}'")
    return found[0] if found else None


def fleet_version(cfg: AirlockConfig) -> str | None:
    """The version most of the fleet serves now (None if no node runs)."""
    counts = Counter(v for v in rollout.Fleet.from_config(cfg).versions().values() if v)
    return counts.most_common(1)[0][0] if counts else None


def _current(cfg: AirlockConfig, c, model: str) -> dict[str, Any]:
    champ = tracking.champion_version(cfg, model)
    if champ is not None:
        return {"previous_digest": champ.tags.get("airlock.digest"), "previous_version": str(champ.version)}
    return {"previous_digest": fleet_version(cfg), "previous_version": None}


def resolve_promotion(cfg: AirlockConfig, model: str, digest: str) -> dict[str, Any]:
    """The version to promote (it must carry a pass verdict) and the current champion."""
    try:
        validate_name(model)
    except ValueError as exc:
        raise PromotionRequestError(str(exc)) from None
    if not DIGEST_RE.match(digest or ""):
        raise PromotionRequestError(f"digest {digest!r} is not a sha256 hex string")
    c = tracking.client(cfg)
    mv = _version_by_digest(c, model, digest)
    if mv is None:
        raise PromotionRequestError(f"{model}@{digest[:12]} has no model version: evaluate it first")
    if mv.tags.get("airlock.verdict") != "pass":
        raise PromotionRequestError(f"{model} v{mv.version} has verdict {mv.tags.get('airlock.verdict')!r}, "
                                    "not 'pass': it cannot be promoted")
    return {"model": model, "digest": digest, "version": str(mv.version), **_current(cfg, c, model)}


def resolve_rollback(cfg: AirlockConfig, model: str, ref: str) -> dict[str, Any]:
    """``ref``: 'previous' (the alias), a model version number, or a digest."""
    try:
        validate_name(model)
    except ValueError as exc:
        raise PromotionRequestError(str(exc)) from None
    c = tracking.client(cfg)
    ref = (ref or "previous").strip()
    if ref in (tracking.PREVIOUS, tracking.CHAMPION):
        try:
            mv = c.get_model_version_by_alias(model, ref)
        except Exception:  # noqa: BLE001
            raise PromotionRequestError(f"{model} has no '{ref}' alias to roll back to") from None
        digest, version = mv.tags.get("airlock.digest"), str(mv.version)
    elif ref.isdigit():
        try:
            mv = c.get_model_version(model, ref)
        except Exception:  # noqa: BLE001
            raise PromotionRequestError(f"{model} has no version {ref}") from None
        digest, version = mv.tags.get("airlock.digest"), str(mv.version)
    elif DIGEST_RE.match(ref):
        mv = _version_by_digest(c, model, ref)
        digest, version = ref, (str(mv.version) if mv else None)
    else:
        raise PromotionRequestError(f"rollback target {ref!r}: use 'previous', a version number or a digest")
    Registry.from_config(cfg).get_manifest(model, digest)  # must exist in the registry
    return {"model": model, "digest": digest, "version": version, **_current(cfg, c, model)}


def needs_approval(cfg: AirlockConfig, model: str, requested: bool) -> bool:
    p = cfg.promotion
    return requested or p.require_approval or model in p.approval_models


def execute(cfg: AirlockConfig, target: dict[str, Any], kind: str) -> dict[str, Any]:
    """Run the rollout (``kind``: promote or rollback) and count its outcome."""
    model, t0 = target["model"], time.monotonic()
    try:
        st = rollout.run(cfg, model, target["digest"], target["previous_digest"], kind=kind,
                         bake=kind == "promote")
    except rollout.RolloutFailed:
        metrics.record(cfg, model, {"airlock_rollouts": {"rolled_back": 1}, "airlock_rollbacks": {"automatic": 1}},
                       {"airlock_rollout_last_duration_seconds": time.monotonic() - t0})
        raise
    except rollout.RolloutBusy:
        raise  # nothing was attempted
    except Exception:
        metrics.record(cfg, model, {"airlock_rollouts": {"failed": 1}})
        raise
    counts = {"airlock_rollouts": {"promoted": 1}} if kind == "promote" else {"airlock_rollbacks": {"manual": 1}}
    metrics.record(cfg, model, counts, {"airlock_rollout_last_duration_seconds": time.monotonic() - t0})
    return rollout.summary(st)


def finalize(cfg: AirlockConfig, target: dict[str, Any], history: dict[str, Any]) -> dict[str, Any]:
    """Move the aliases now that the whole fleet serves the target; record history."""
    c = tracking.client(cfg)
    model, version = target["model"], target["version"]
    if version is None:  # a version outside MLflow (the bootstrap): the fleet moved, aliases cannot
        log.warning("%s@%s has no model version: aliases unchanged", model, target["digest"][:12])
        return {**target, "aliases": "unchanged"}
    prev = target.get("previous_version")
    if prev and prev != version:
        c.set_registered_model_alias(model, tracking.PREVIOUS, prev)
    c.set_registered_model_alias(model, tracking.CHAMPION, version)
    mv = c.get_model_version(model, version)
    past = json.loads(mv.tags.get("airlock.rollout_history", "[]"))
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kind": history["kind"],
             "from": (target.get("previous_digest") or "")[:12],
             "nodes": [(e["node"], e["seconds"]) for e in history["nodes"]],
             "bake": (history.get("bake") or {}).get("passed")}
    text = json.dumps(past + [entry])
    while len(text) > 4900 and past:  # MLflow tag limit: keep the newest entries
        past = past[1:]
        text = json.dumps(past + [entry])
    c.set_model_version_tag(model, version, "airlock.rollout_history", text)
    c.set_model_version_tag(model, version, "airlock.deployed_at", entry["at"])
    return {**target, "aliases": {"champion": version, "previous": prev}, "history": entry}
