"""Operations on real parts: the watcher against the olah hub mirror, registry
GC against SeaweedFS and MLflow aliases, pipeline metrics through a real
Pushgateway (Debian's), read back with prometheus_client's parser."""

from __future__ import annotations

import pytest

from airlock import metrics, retention, watch
from airlock.config import MetricsConfig, RetentionConfig, WatchEntry
from airlock.errors import InvalidRequest
from airlock.intake import ingest, ingest_local
from airlock.registry import BLOB_PREFIX, Registry, manifest_key
from tests.conftest import free_port, variant_copy

pytestmark = pytest.mark.integration


@pytest.fixture
def on_hub(monkeypatch, hub):
    monkeypatch.setenv("HF_ENDPOINT", hub["url"])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return hub


def test_watch_finds_each_new_commit_once(config, registry, factory, on_hub, workdir):
    from airlock_dev.factory.upstream import publish_git

    entry = WatchEntry(model="w-model", repo_id="airlock-watch/good")
    first = publish_git(variant_copy(factory, workdir, "good", "W1"), on_hub["mirrors"], entry.repo_id)
    new = watch.find_new(config, registry, entries=[entry])
    assert [c.sha for c in new] == [first]
    assert new[0].run_id == f"watch__w-model__{first}"
    assert new[0].intake_conf().revision == first  # pinned to the commit, not the branch

    # the trigger's conf is what model_intake accepts; ingest it as that DAG would
    from airlock.intake import parse_request

    ingest(parse_request(new[0].intake_conf()), config, registry)
    assert watch.find_new(config, registry, entries=[entry]) == []  # nothing new

    second = publish_git(variant_copy(factory, workdir, "good", "W2"), on_hub["mirrors"], entry.repo_id)
    assert second != first
    assert [c.sha for c in watch.find_new(config, registry, entries=[entry])] == [second]


def test_watch_skips_an_unreachable_repo_but_fails_when_all_do(config, registry, on_hub):
    from airlock.errors import NotFound

    good = WatchEntry(model="w-model", repo_id="airlock-watch/good")
    missing = WatchEntry(model="w-missing", repo_id="airlock-watch/does-not-exist")
    found = watch.find_new(config, registry, entries=[missing, good])  # good's state: either way no raise
    assert all(c.entry.model == "w-model" for c in found)
    with pytest.raises(NotFound, match="every watched repo failed"):  # permanent: the repo is gone
        watch.find_new(config, registry, entries=[missing])


@pytest.fixture
def gc_env(config, s3_env):
    """A bucket of its own (GC would otherwise collect other tests' versions)."""
    cfg = config.model_copy(
        update={
            "registry": config.registry.model_copy(update={"bucket": "gc-test"}),
            "retention": RetentionConfig(keep_last=1, blob_grace_hours=0),
        }
    )
    reg = Registry.from_config(cfg)
    reg.ensure_bucket()
    return cfg, reg


def _blobs(reg: Registry) -> set[str]:
    return {o["Key"][len(BLOB_PREFIX) :] for o in reg._iter(BLOB_PREFIX)}


def test_gc_keeps_newest_and_aliased_and_deletes_only_unreferenced_blobs(gc_env, factory, workdir):
    from mlflow import MlflowClient

    cfg, reg = gc_env
    versions = [
        ingest_local(cfg, reg, "gc-model", variant_copy(factory, workdir, v, f"GC{i}")).manifest
        for i, v in enumerate(["good", "regressed", "good", "good"])
    ]
    other = ingest_local(cfg, reg, "gc-other", variant_copy(factory, workdir, "good", "GCO")).manifest
    oldest, middle, third, newest = versions
    # champion alias on the oldest version, as a promotion would leave it
    c = MlflowClient(cfg.mlflow.tracking_uri)
    c.create_registered_model("gc-model")
    mv = c.create_model_version(
        "gc-model", source=reg.uri(manifest_key("gc-model", oldest.digest)), tags={"airlock.digest": oldest.digest}
    )
    c.set_registered_model_alias("gc-model", "champion", mv.version)
    before = _blobs(reg)

    dry = retention.collect(cfg, dry_run=True, models=None, registry=reg)
    assert sorted(dry.versions_deleted["gc-model"]) == sorted([middle.digest, third.digest])
    assert dry.kept_by_alias_or_fleet == {oldest.digest: "alias champion"}
    assert _blobs(reg) == before and len(reg.list_versions("gc-model")) == 4  # a dry run deletes nothing

    # what only the dropped versions reference: their model cards (and the regressed weights)
    keep_refs = {f.sha256 for m in (oldest, newest, other) for f in m.files}
    only_dropped = {f.sha256 for m in (middle, third) for f in m.files} - keep_refs
    assert only_dropped and set(dry.versions_deleted) == {"gc-model"}
    assert dry.blobs_deleted == len(only_dropped)

    done = retention.collect(cfg, dry_run=False, registry=reg)
    assert done.blobs_deleted == len(only_dropped)
    assert {d for d, _ in reg.list_versions("gc-model")} == {oldest.digest, newest.digest}
    assert _blobs(reg) == before - only_dropped
    for m in (oldest, newest, other):  # every kept version is whole, byte for byte
        assert reg.verify(m, full=True).ok
    again = retention.collect(cfg, dry_run=True, registry=reg)
    assert again.versions_deleted == {} and again.blobs_deleted == 0


def test_gc_keeps_young_orphans_and_refuses_keep_last_zero(gc_env):
    cfg, reg = gc_env
    reg.s3.put_object(Bucket=reg.bucket, Key=BLOB_PREFIX + "ab" * 32, Body=b"in flight")
    young = cfg.model_copy(update={"retention": RetentionConfig(keep_last=1, blob_grace_hours=1)})
    out = retention.collect(young, dry_run=True, registry=reg)
    assert out.orphan_blobs_in_grace >= 1 and "ab" * 32 not in out.model_dump_json()
    with pytest.raises(InvalidRequest, match="keep_last"):
        retention.collect(cfg, dry_run=True, keep_last=0, registry=reg)


def test_pipeline_metrics_accumulate_across_pushes(config, pushgateway):
    cfg = config.model_copy(update={"metrics": MetricsConfig(pushgateway_url=pushgateway)})
    assert metrics.record(cfg, "m1", {"airlock_verdicts": {"pass": 1}, "airlock_ingest_bytes": {"uploaded": 100}})
    assert metrics.record(
        cfg, "m1", {"airlock_verdicts": {"pass": 1, "rejected": 1}}, {"airlock_rollout_last_duration_seconds": 42.5}
    )
    assert metrics.record(cfg, "m2", {"airlock_rollouts": {"rolled_back": 1}})
    assert metrics.record(cfg, "m1", {"airlock_rollouts": {"promoted": 1}})  # keeps the gauge
    m1 = metrics.current(pushgateway, "airlock", "m1")
    assert m1[("airlock_verdicts_total", (("verdict", "pass"),))] == 2
    assert m1[("airlock_verdicts_total", (("verdict", "rejected"),))] == 1
    assert m1[("airlock_ingest_bytes_total", (("kind", "uploaded"),))] == 100
    assert m1[("airlock_rollouts_total", (("outcome", "promoted"),))] == 1
    assert m1[("airlock_rollout_last_duration_seconds", ())] == 42.5
    assert metrics.current(pushgateway, "airlock", "m2") == {
        ("airlock_rollouts_total", (("outcome", "rolled_back"),)): 1
    }


def test_metrics_never_fail_the_pipeline(config):
    cfg = config.model_copy(update={"metrics": MetricsConfig(pushgateway_url=f"http://127.0.0.1:{free_port()}")})
    assert metrics.record(cfg, "m1", {"airlock_verdicts": {"pass": 1}}) is False
