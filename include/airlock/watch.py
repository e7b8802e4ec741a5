"""Scheduled update runs: which followed hub commits are not in the registry yet.

The ``model_watch`` DAG calls :func:`find_new` and triggers ``model_intake``
once per result. Each trigger carries a run id derived from the model and the
commit (:func:`intake_run_id`), and Airflow refuses a second run with the same
id, so overlapping or repeated watch runs never ingest one commit twice. The
intake is pinned to the commit sha, not the branch, so what is admitted is
exactly what the watcher saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from airlock.config import AirlockConfig, WatchEntry
from airlock.errors import AirlockError, HubUnavailable, NotFound, RetryableError
from airlock.payloads import IntakeRequest, IntakeTrigger
from airlock.registry import Registry
from airlock.sources.hub import HubSource

log = logging.getLogger("airlock.watch")


@dataclass(frozen=True)
class NewCommit:
    entry: WatchEntry
    sha: str

    @property
    def run_id(self) -> str:
        return intake_run_id(self.entry.model, self.sha)

    def intake_conf(self) -> IntakeRequest:
        """The ``model_intake`` Params for this commit."""
        e = self.entry
        return IntakeRequest(
            model_name=e.model,
            source_kind="hub",
            location=e.repo_id,
            revision=self.sha,
            allow_patterns=list(e.allow_patterns),
            ignore_patterns=list(e.ignore_patterns),
        )


def intake_run_id(model: str, sha: str) -> str:
    return f"watch__{model}__{sha}"


def ingested_commits(registry: Registry, model: str, repo_id: str) -> set[str]:
    """Commit shas of ``repo_id`` already in the registry under ``model``."""
    return {
        m.revision
        for m in registry.manifests(model)
        if m.source.get("kind") == "hub" and m.source.get("repo_id") == repo_id
    }


def find_new(
    cfg: AirlockConfig,
    registry: Registry | None = None,
    hf_token: str | None = None,
    entries: list[WatchEntry] | None = None,
) -> list[NewCommit]:
    """Resolve every watched branch; return the commits not yet ingested.

    An unreachable repo is logged and skipped, so one broken upstream does not
    hide the others' updates; if every repo fails, the run fails.
    """
    registry = registry or Registry.from_config(cfg)
    entries = cfg.watch.repos if entries is None else entries
    new: list[NewCommit] = []
    errors: list[AirlockError] = []
    for e in entries:
        try:
            sha = HubSource(e.repo_id, e.revision, token=hf_token).resolve()
        except AirlockError as exc:
            log.warning("watch %s: %s", e.model, exc)
            errors.append(exc)
            continue
        if sha in ingested_commits(registry, e.model, e.repo_id):
            log.info("watch %s: %s@%s is %s, already in the registry", e.model, e.repo_id, e.revision, sha[:12])
            continue
        log.info("watch %s: %s@%s moved to %s, not in the registry: intake", e.model, e.repo_id, e.revision, sha[:12])
        new.append(NewCommit(e, sha))
    if entries and len(errors) == len(entries):
        kind = HubUnavailable if any(isinstance(x, RetryableError) for x in errors) else NotFound
        raise kind("every watched repo failed: " + "; ".join(str(x) for x in errors))
    if not new:
        log.info("nothing new: %d watched repo(s) checked, all at ingested commits", len(entries) - len(errors))
    return new


def task_find_new(cfg: AirlockConfig, hf_token: str | None = None) -> list[IntakeTrigger]:
    """The DAG's task body: ``TriggerDagRunOperator`` kwargs, one per new commit."""
    return [IntakeTrigger(trigger_run_id=c.run_id, conf=c.intake_conf()) for c in find_new(cfg, hf_token=hf_token)]
