"""Registry retention: which versions and blobs ``registry_gc`` removes.

Kept: the newest ``keep_last`` versions of each model, every version an MLflow
alias points at (champion, previous, challenger, ...), and every digest the
fleet or an unfinished rollout uses. A blob goes only when no kept manifest
references it and it is older than ``blob_grace_hours`` (a younger one may
belong to an ingest whose manifest is not written yet).

Deletion order makes an interrupted run safe: manifests first (a version
vanishes as a whole), then their revision-index entries, then blobs. A crash
leaves orphan blobs, which the next run collects; never a manifest pointing at
a missing blob.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airlock import metrics
from airlock.config import AirlockConfig
from airlock.errors import InvalidRequest
from airlock.manifest import Manifest
from airlock.payloads import GcResult
from airlock.registry import BLOB_PREFIX, Registry, manifest_key
from airlock.tracking.versions import ModelVersions

log = logging.getLogger("airlock.retention")


@dataclass
class GcPlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # model -> digests kept
    drop: dict[str, list[str]] = field(default_factory=dict)  # model -> digests removed
    why_kept: dict[str, str] = field(default_factory=dict)  # digest -> reason beyond "newest"
    revision_keys: list[str] = field(default_factory=list)
    blobs: dict[str, int] = field(default_factory=dict)  # sha256 -> size
    young_orphans: int = 0

    @property
    def blob_bytes(self) -> int:
        return sum(self.blobs.values())

    def summary(self) -> dict[str, Any]:
        return {
            "versions_deleted": {m: d for m, d in self.drop.items() if d},
            "versions_kept": {m: len(d) for m, d in self.keep.items()},
            "kept_by_alias_or_fleet": self.why_kept,
            "blobs_deleted": len(self.blobs),
            "bytes_freed": self.blob_bytes,
            "orphan_blobs_in_grace": self.young_orphans,
        }


def in_use_digests(cfg: AirlockConfig, model: str) -> dict[str, str]:
    """digest -> reason, for what the fleet serves and what an open rollout names."""
    from airlock import rollout

    out: dict[str, str] = {}
    st = rollout.load_state(cfg, model)
    if st is not None and st.phase != "done":
        for d in (st.target, st.previous):
            if d:
                out[d] = f"rollout {st.phase}"
    try:
        for node, digest in rollout.Fleet.from_config(cfg).versions().items():
            if digest:
                out[digest] = f"served by {node}"
    except Exception as exc:  # noqa: BLE001 - nodes down: the aliases still protect the champion
        log.warning("could not ask the fleet what it serves (%s); relying on aliases", type(exc).__name__)
    return out


def referenced_blobs(
    manifests: dict[str, list[Manifest]], skip: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset()
) -> set[str]:
    """Every blob a manifest references, except manifests in ``skip`` (model, digest)."""
    return {
        f.known_sha256 for model, ms in manifests.items() for m in ms if (model, m.digest) not in skip for f in m.files
    }


def all_manifests(registry: Registry) -> dict[str, list[Manifest]]:
    """model -> its versions, newest first: read once per plan."""
    return {model: registry.manifests(model) for model in registry.list_models()}


def plan(
    registry: Registry,
    keep_last: int,
    protected: dict[str, dict[str, str]],
    grace: timedelta,
    models: list[str] | None = None,
    now: datetime | None = None,
) -> GcPlan:
    """Decide what goes. ``protected``: model -> {digest: reason}; ``models``: only these."""
    now = now or datetime.now(UTC)
    p = GcPlan()
    every = all_manifests(registry)
    for model in models if models is not None else list(every):
        guard = protected.get(model, {})
        for i, m in enumerate(every.get(model, [])):  # newest first
            if i < keep_last or m.digest in guard:
                p.keep.setdefault(model, []).append(m.digest)
                if i >= keep_last:
                    p.why_kept[m.digest] = guard[m.digest]
            else:
                p.drop.setdefault(model, []).append(m.digest)
        if p.drop.get(model):
            dropped = set(p.drop[model])
            p.revision_keys += [key for key, digest in registry.revision_entries(model) if digest in dropped]
    referenced = referenced_blobs(every, {(model, d) for model, ds in p.drop.items() for d in ds})
    for sha, size, modified in registry.blobs():
        if sha in referenced:
            continue
        if now - modified < grace:
            p.young_orphans += 1
        else:
            p.blobs[sha] = size
    return p


def collect(
    cfg: AirlockConfig,
    dry_run: bool = True,
    keep_last: int | None = None,
    models: list[str] | None = None,
    registry: Registry | None = None,
) -> GcResult:
    """Plan and (unless ``dry_run``) apply a GC; returns the summary it logs."""
    registry = registry or Registry.from_config(cfg)
    keep_last = cfg.retention.keep_last if keep_last is None else keep_last
    if keep_last < 1:
        raise InvalidRequest(f"keep_last must be at least 1, got {keep_last}")
    names = models if models else registry.list_models()
    protected = {m: {**in_use_digests(cfg, m), **ModelVersions(cfg, m).aliased_digests()} for m in names}
    p = plan(registry, keep_last, protected, timedelta(hours=cfg.retention.blob_grace_hours), models=models or None)
    out = {"dry_run": dry_run, "keep_last": keep_last, **p.summary()}  # completed below, then typed
    n_versions = sum(len(d) for d in p.drop.values())
    verb = "would delete" if dry_run else "deleting"
    log.info("gc %s %d version(s) and %d blob(s), %d bytes", verb, n_versions, len(p.blobs), p.blob_bytes)
    if not dry_run:
        registry.delete_keys([manifest_key(m, d) for m, ds in p.drop.items() for d in ds])
        registry.delete_keys(p.revision_keys)
        # Re-read the manifests: one written since planning may reuse an old blob.
        still = referenced_blobs(all_manifests(registry))
        spared = [sha for sha in p.blobs if sha in still]
        if spared:
            log.warning("gc spared %d blob(s) a manifest written meanwhile references", len(spared))
        registry.delete_keys([BLOB_PREFIX + sha for sha in p.blobs if sha not in still])
        out["blobs_deleted"] = len(p.blobs) - len(spared)
        out["bytes_freed"] = p.blob_bytes - sum(p.blobs[s] for s in spared)
        # Blobs are shared across models: freed bytes are counted under model="all".
        metrics.record(cfg, "all", {"airlock_gc_deleted_bytes": out["bytes_freed"]})
    return GcResult.model_validate(out)
