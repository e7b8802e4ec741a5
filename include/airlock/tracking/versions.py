"""MLflow model versions: one per manifest digest, tagged with its verdict, moved by aliases.

A version's ``source`` is its manifest URI in the registry (not an MLflow
artifact), so the registry stays the one source of bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock.tracking.client import client, is_missing, mlflow_errors
from airlock.tracking.names import CHALLENGER, CHAMPION, PREVIOUS, TAG_LIMIT, Tag

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.manifest import Manifest


@dataclass(frozen=True)
class VersionInfo:
    """What the pipeline reads off a model version."""

    version: str
    digest: str | None
    verdict: str | None
    evaluation_run: str | None
    rollout_history: list[dict[str, Any]]

    @classmethod
    def of(cls, mv: Any) -> VersionInfo:
        tags = mv.tags or {}
        return cls(
            str(mv.version),
            tags.get(Tag.DIGEST),
            tags.get(Tag.VERDICT),
            tags.get(Tag.EVALUATION_RUN) or mv.run_id,
            json.loads(tags.get(Tag.ROLLOUT_HISTORY, "[]")),
        )


class ModelVersions:
    """Lookups on one registered model; None where MLflow has no such version or alias."""

    def __init__(self, cfg: AirlockConfig, model: str) -> None:
        self.cfg, self.model = cfg, model

    def by_alias(self, alias: str) -> VersionInfo | None:
        with mlflow_errors(f"alias {alias!r} of {self.model}"):
            c = client(self.cfg)
            try:
                return VersionInfo.of(c.get_model_version_by_alias(self.model, alias))
            except Exception as exc:  # noqa: BLE001 - classify: a missing alias/model is None
                if str(getattr(exc, "error_code", "")) == "PERMISSION_DENIED":
                    # MLflow's auth app answers 403, not 404, for an alias of a model that does
                    # not exist (it finds no permission to check): tell the two apart.
                    try:
                        c.get_registered_model(self.model)
                    except Exception as inner:  # noqa: BLE001
                        _none_if_missing(inner)
                        return None
                    raise
                _none_if_missing(exc)
                return None

    def by_number(self, version: str) -> VersionInfo | None:
        with mlflow_errors(f"version {version} of {self.model}"):
            try:
                return VersionInfo.of(client(self.cfg).get_model_version(self.model, version))
            except Exception as exc:  # noqa: BLE001
                _none_if_missing(exc)
                return None

    def by_digest(self, digest: str) -> VersionInfo | None:
        with mlflow_errors(f"versions of {self.model}"):
            found = client(self.cfg).search_model_versions(
                f"name = '{self.model}' and tags.`{Tag.DIGEST}` = '{digest}'"
            )
        return VersionInfo.of(found[0]) if found else None

    def aliased_digests(self) -> dict[str, str]:
        """digest -> alias names, for every alias of the model (empty if it is not registered)."""
        from mlflow.exceptions import MlflowException

        c = client(self.cfg)
        with mlflow_errors(f"aliases of {self.model}"):
            try:
                rm = c.get_registered_model(self.model)
            except MlflowException as exc:
                _none_if_missing(exc)
                return {}
            out: dict[str, str] = {}
            for alias, version in (rm.aliases or {}).items():
                digest = c.get_model_version(self.model, version).tags.get(Tag.DIGEST)
                if digest:
                    out[digest] = ", ".join(filter(None, [out.get(digest), f"alias {alias}"]))
        return out


def _none_if_missing(exc: BaseException) -> None:
    """Return (the caller answers None) for 'does not exist'; re-raise anything else."""
    if not is_missing(exc):
        raise exc


def champion(cfg: AirlockConfig, model: str) -> VersionInfo | None:
    """The version behind the ``champion`` alias, or None."""
    return ModelVersions(cfg, model).by_alias(CHAMPION)


def register_candidate(
    cfg: AirlockConfig, manifest: Manifest, manifest_uri: str, run_id: str, verdict: dict[str, Any]
) -> str:
    """Create (or find) the model version for this digest, tag the verdict, and
    point ``challenger`` at it on pass. The ``champion`` alias is never touched."""
    from mlflow.exceptions import MlflowException

    name = manifest.name
    with mlflow_errors(f"registering {name}@{manifest.digest[:12]}"):
        c = client(cfg)
        try:
            c.create_registered_model(
                name,
                tags={Tag.MODEL: name},
                description=f"Versions of {name} admitted by Airlock; source = manifest URI.",
            )
        except MlflowException as exc:
            if str(exc.error_code) != "RESOURCE_ALREADY_EXISTS":
                raise
        found = c.search_model_versions(f"name = '{name}' and tags.`{Tag.DIGEST}` = '{manifest.digest}'")
        if found:
            mv = found[0]
        else:
            where = manifest.source.get("repo_id") or manifest.source.get("uri") or manifest.source.get("path")
            mv = c.create_model_version(
                name,
                source=manifest_uri,
                run_id=run_id,
                tags={Tag.DIGEST: manifest.digest, Tag.REVISION: manifest.revision},
                description=f"{manifest.source.get('kind')} {where} @ {manifest.revision}",
            )
        c.set_model_version_tag(name, mv.version, Tag.VERDICT, "pass" if verdict["passed"] else "rejected")
        c.set_model_version_tag(name, mv.version, Tag.VERDICT_REASONS, "; ".join(verdict["reasons"])[:TAG_LIMIT])
        c.set_model_version_tag(name, mv.version, Tag.EVALUATION_RUN, run_id)
        if verdict["passed"]:
            c.set_registered_model_alias(name, CHALLENGER, mv.version)
        return str(mv.version)


def record_rollout(
    cfg: AirlockConfig,
    model: str,
    version: str,
    previous_version: str | None,
    history: list[dict[str, Any]],
    deployed_at: str,
) -> None:
    """Point ``previous`` at the old champion and ``champion`` at ``version``; store its rollout history."""
    with mlflow_errors(f"moving the aliases of {model} to v{version}"):
        c = client(cfg)
        if previous_version:
            c.set_registered_model_alias(model, PREVIOUS, previous_version)
        c.set_registered_model_alias(model, CHAMPION, version)
        c.set_model_version_tag(model, version, Tag.ROLLOUT_HISTORY, json.dumps(history))
        c.set_model_version_tag(model, version, Tag.DEPLOYED_AT, deployed_at)


def record_pass(cfg: AirlockConfig, model: str, version: str, signature_uri: str, signed_at: str) -> None:
    """Show the signed pass on the model version (display: the registry's copy is the evidence)."""
    with mlflow_errors(f"tagging v{version} of {model} with its pass"):
        c = client(cfg)
        c.set_model_version_tag(model, version, Tag.SIGNED_PASS, signature_uri)
        c.set_model_version_tag(model, version, Tag.SIGNED_AT, signed_at)
