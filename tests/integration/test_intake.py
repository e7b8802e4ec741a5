"""Intake on real parts: SeaweedFS, huggingface_hub against the olah mirror and
an LFS-publishing hub stand-in, and the model factory's variants."""

from __future__ import annotations

import base64
import hashlib

import pytest

from airlock import intake
from airlock.errors import AccessDenied, IntegrityError, InvalidRequest, NotFound, PolicyViolation, StoreUnavailable
from airlock.ingest import ingest_revision
from airlock.materialize import materialize
from airlock.payloads import IntakeRequest
from airlock.registry import Registry, blob_key, manifest_key
from tests.support.hostile import HOSTILE, build, random_safetensors
from tests.support.lfs_hub import LfsHub

pytestmark = pytest.mark.integration


def _keys(reg: Registry, prefix: str = "") -> set[str]:
    return {o["Key"] for o in reg._iter(prefix)}


def _hub_req(name: str, repo: str, revision: str = "main") -> IntakeRequest:
    return IntakeRequest(model_name=name, source_kind="hub", location=repo, revision=revision)


@pytest.fixture
def hf_endpoint(monkeypatch):
    def use(url: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    return use


def test_local_ingest_then_reingest_uploads_nothing(config, registry, factory, tmp_path):
    from airlock_dev.factory.upstream import publish_dir

    d = publish_dir(factory("regressed"), tmp_path / "upstream")  # a plain-directory upstream
    first = intake.ingest_local(config, registry, "t-local", d)
    # blobs another test already stored (a shared tokenizer) are skipped, never uploaded twice
    assert first.created and first.bytes_uploaded > 0
    assert first.bytes_uploaded + first.bytes_skipped == first.manifest.total_size
    assert registry.head(manifest_key("t-local", first.manifest.digest))
    again = intake.ingest_local(config, registry, "t-local", d)
    assert not again.created and again.bytes_uploaded == 0
    assert again.manifest.digest == first.manifest.digest


def test_hub_ingest_through_olah_pins_the_commit_and_hashes_on_arrival(config, registry, factory, hub, hf_endpoint):
    from airlock_dev.factory.upstream import publish_git

    d = factory("good")
    sha = publish_git(d, hub["mirrors"], "airlock-test/good")
    hf_endpoint(hub["url"])
    rep = intake.ingest(_hub_req("t-hub", "airlock-test/good"), config, registry)
    assert rep.manifest.revision == sha
    assert rep.manifest.source["repo_id"] == "airlock-test/good"
    local = intake.ingest_local(config, registry, "t-hub", d)
    # same bytes, same name: the same version, and nothing uploaded twice
    assert local.manifest.digest == rep.manifest.digest and local.bytes_uploaded == 0
    by_path = {f.path: f.sha256 for f in rep.manifest.files}
    assert by_path["model.safetensors"] == hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()
    assert "token" not in str(rep.manifest.source).lower()


def test_unknown_revision_is_a_clear_error(config, registry, hub, hf_endpoint):
    hf_endpoint(hub["url"])
    with pytest.raises(NotFound, match="not found"):
        intake.ingest(_hub_req("t-none", "airlock-test/does-not-exist"), config, registry)


@pytest.mark.parametrize("size", [2_000, 12 << 20], ids=["single-put", "multipart"])
def test_tampered_upstream_file_is_rejected_and_nothing_becomes_visible(config, s3_env, hf_endpoint, size):
    reg = Registry(s3_env.client(), config.registry.bucket, chunk_mb=5, concurrency=2)
    published = random_safetensors(size)
    served = bytearray(published)  # the header stays well-formed: admission passes, the hash does not
    served[size // 2] ^= 0xFF
    before = _keys(reg)
    with LfsHub() as hub:
        hub.publish(
            "evil/tampered",
            {"config.json": b"{}", "model.safetensors": published},
            served={"model.safetensors": bytes(served)},
        )
        hf_endpoint(hub.url)
        with pytest.raises(IntegrityError, match="model.safetensors: sha256"):
            intake.ingest(_hub_req(f"t-tamper-{size}", "evil/tampered"), config, reg)
    after = _keys(reg)
    new = after - before
    assert not any(k.startswith("manifests/") for k in new)
    assert blob_key(hashlib.sha256(published).hexdigest()) not in after
    assert blob_key(hashlib.sha256(bytes(served)).hexdigest()) not in after
    assert not any(k.startswith("staging/") for k in after)


def test_pickle_weights_rejected_before_any_byte_is_stored(config, registry, hf_endpoint):
    before = _keys(registry)
    with LfsHub() as hub:
        hub.publish("acme/pickled", {"config.json": b"{}", "pytorch_model.bin": b"\x80\x04pickle"})
        hf_endpoint(hub.url)
        with pytest.raises(PolicyViolation) as e:
            intake.ingest(_hub_req("t-pickle", "acme/pickled"), config, registry)
    assert "'pytorch_model.bin': a pickle (loading it runs code)" in str(e.value)
    assert _keys(registry) == before


def test_path_traversal_file_name_is_rejected(config, registry, hf_endpoint):
    before = _keys(registry)
    with LfsHub() as hub:
        hub.publish("acme/hostile", {"model.safetensors": random_safetensors(100), "../../etc/evil.safetensors": b"y"})
        hf_endpoint(hub.url)
        with pytest.raises(PolicyViolation, match="path traversal"):
            intake.ingest(_hub_req("t-traversal", "acme/hostile"), config, registry)
    assert _keys(registry) == before


def test_s3_source_reads_the_vendors_store_with_the_vendors_key(config, s3_env, registry, seaweed_factory):
    """A vendor bucket is another store with another identity: the request's connection, never the
    registry's credentials; published checksums are used."""
    from airlock.sources.base import Credentials

    _, vendor = seaweed_factory("vendor")
    c = vendor.client()
    c.create_bucket(Bucket="vendor")
    files = {"config.json": b'{"a": 1}', "model.safetensors": random_safetensors(4096)}
    for p, data in files.items():
        c.put_object(
            Bucket="vendor",
            Key=f"drop/v1/{p}",
            Body=data,
            ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
        )
    key = Credentials(
        login=vendor.creds["AIRLOCK_NODE_ACCESS_KEY_ID"],  # the vendor's read-only key
        secret=vendor.creds["AIRLOCK_NODE_SECRET_ACCESS_KEY"],
        endpoint=vendor.endpoint,
    )
    req = IntakeRequest(model_name="t-s3", source_kind="s3", location="s3://vendor/drop/v1", connection="acme_s3")
    before = _keys(registry)
    with pytest.raises(InvalidRequest, match="needs its own connection"):
        intake.ingest(req, config, registry)  # no credentials given: the registry's are not used instead
    with pytest.raises(AccessDenied):
        intake.ingest(req, config, registry, Credentials("AKWRONG", "wrong", vendor.endpoint))
    ours = Credentials(s3_env.creds["AWS_ACCESS_KEY_ID"], s3_env.creds["AWS_SECRET_ACCESS_KEY"], s3_env.endpoint)
    with pytest.raises(InvalidRequest, match="is the registry itself"):
        intake.ingest(req.model_copy(update={"location": f"s3://{registry.bucket}/manifests"}), config, registry, ours)
    assert _keys(registry) == before
    src = intake.open_source(req, config, key)
    listed = {f.path: f.sha256 for f in src.list_files()}
    assert listed["model.safetensors"] == hashlib.sha256(files["model.safetensors"]).hexdigest()
    rep = intake.ingest(req, config, registry, key)
    assert rep.created and {f.path for f in rep.manifest.files} == set(files)
    assert key.secret not in repr(key)


def test_verify_and_materialize_catch_a_corrupted_blob(config, s3_env, registry, factory, tmp_path):
    rep = intake.ingest_local(config, registry, "t-corrupt", factory("broken"))
    m = rep.manifest
    assert registry.verify(m, full=True).ok
    target = next(f for f in m.files if f.path == "model.safetensors")
    original = registry.open_blob(target.sha256).read()
    corrupted = bytearray(original)
    corrupted[100] ^= 0x01
    s3_env.client().put_object(Bucket=registry.bucket, Key=blob_key(target.sha256), Body=bytes(corrupted))
    try:
        full = registry.verify(m, full=True)
        assert not full.ok and any(p.startswith("model.safetensors: sha256") for p in full.problems)
        with pytest.raises(IntegrityError, match="model.safetensors"):
            intake.verify(config, "t-corrupt", m.digest, full=True, registry=registry)
        dest = tmp_path / "node" / m.digest
        with pytest.raises(IntegrityError, match="model.safetensors"):
            materialize(registry, m, dest)
        assert not dest.exists() and list((tmp_path / "node").iterdir()) == []
    finally:
        s3_env.client().put_object(Bucket=registry.bucket, Key=blob_key(target.sha256), Body=original)


def test_s3_killed_mid_ingest_fails_cleanly_and_rerun_resumes(config, seaweed_factory, tmp_path):
    proc, s3 = seaweed_factory("seaweed-kill")
    reg = Registry(s3.client(), "kill-test", chunk_mb=8, concurrency=1)
    reg.ensure_bucket()
    src = tmp_path / "model"
    src.mkdir()
    for i in range(4):
        (src / f"model-0000{i}-of-00004.safetensors").write_bytes(random_safetensors(12 << 20))
    (src / "config.json").write_text("{}")
    done: list[str] = []

    def kill_after_first_shard(path: str, sent: int) -> None:
        done.append(path)
        if path.endswith(".safetensors") and sum(p.endswith(".safetensors") for p in done) == 1:
            proc.stop()

    req = IntakeRequest(model_name="t-kill", source_kind="local", location=str(src))
    source = intake.open_source(req, config)
    revision, files = intake.admit(req, source, config)
    with pytest.raises(StoreUnavailable):  # retryable: the DAG retries it with backoff
        ingest_revision(reg, "t-kill", source, revision, files, on_progress=kill_after_first_shard)
    proc.start()
    proc.wait_healthy(60)
    assert reg.list_versions("t-kill") == []  # nothing visible from the failed run
    rerun = ingest_revision(reg, "t-kill", source, revision, files)
    first_shard = next(p for p in done if p.endswith(".safetensors"))
    assert rerun.created
    assert first_shard in rerun.files_skipped and "config.json" in rerun.files_skipped
    assert rerun.bytes_uploaded == rerun.manifest.total_size - (12 << 20) - 2
    assert reg.verify(rerun.manifest, full=True).ok


def test_every_hostile_fixture_is_refused_naming_file_and_rule_with_nothing_stored(config, registry, fleet, tmp_path):
    """The hostile tree through the real intake into the real registry: each refused before a
    byte is stored, and the fleet and its champion untouched."""
    from airlock.config import PolicyConfig
    from airlock.tracking import versions

    cfg = config.model_copy(update={"policy": PolicyConfig(max_files=100)})
    before, serving, champion = _keys(registry), fleet.versions(), versions.champion(config, "fleet")
    missed = {}
    for name, (file, rule, _) in HOSTILE.items():
        req = IntakeRequest(model_name=f"hostile-{name}", source_kind="local", location=str(build(tmp_path, name)))
        with pytest.raises(PolicyViolation) as e:
            intake.ingest(req, cfg, registry)
        if not any(file in r and rule in r for r in e.value.reasons):
            missed[name] = e.value.reasons
    assert not missed, missed
    assert len(HOSTILE) >= 30
    assert _keys(registry) == before
    assert fleet.versions() == serving and versions.champion(config, "fleet") == champion


def test_publisher_signatures_are_verified_recorded_and_required(config, registry, factory, tmp_path):
    """A publisher signs its folder with model-signing's own API; intake verifies it against the key
    configured for that publisher, records the result, refuses a bad one, and can require one."""
    import shutil

    import model_signing

    from airlock.config import SigningConfig
    from airlock.signing import generate_key_pair

    keys = {}
    for who in ("publisher", "rogue"):
        private, public = generate_key_pair()
        (tmp_path / f"{who}.pem").write_bytes(private)
        (tmp_path / f"{who}.pub").write_bytes(public)
        keys[who] = tmp_path / f"{who}.pem"
    signing_cfg = config.signing.model_copy(update={"publishers": {"pub-model": [tmp_path / "publisher.pub"]}})
    cfg = config.model_copy(update={"signing": signing_cfg})

    def folder(tag: str, signer: str | None) -> str:
        d = tmp_path / tag
        shutil.copytree(factory("good"), d)
        (d / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# signed by its publisher ({tag})\n")
        if signer:
            model_signing.signing.Config().use_elliptic_key_signer(private_key=keys[signer]).sign(d, d / "model.sig")
        return str(d)

    def req(location: str) -> IntakeRequest:
        return IntakeRequest(model_name="pub-model", source_kind="local", location=location)

    rep = intake.ingest(req(folder("ok", "publisher")), cfg, registry)
    assert rep.manifest.extra["publisher_signature"] == {"org": "pub-model", "file": "model.sig", "verified": True}

    tampered = folder("tampered", "publisher")
    (tmp_path / "tampered" / "config.json").write_text('{"model_type": "llama", "changed": true}')
    before = _keys(registry)
    with pytest.raises(
        IntegrityError, match="publisher's signature does not match the files: different sha256 for config.json"
    ):
        intake.ingest(req(tampered), cfg, registry)
    with pytest.raises(IntegrityError, match="no configured public key verifies its signature"):
        intake.ingest(req(folder("rogue", "rogue")), cfg, registry)
    assert {k for k in _keys(registry) - before if k.startswith("manifests/")} == set()

    strict = cfg.model_copy(update={"signing": signing_cfg.model_copy(update={"publisher_required": ["*"]})})
    with pytest.raises(PolicyViolation, match="must sign its releases, and the revision has no model.sig"):
        intake.ingest(req(folder("unsigned", None)), strict, registry)
    assert isinstance(signing_cfg, SigningConfig)
