"""Signed passes in the registry: issued once every gate passed, required by every path to the fleet.

The registry holds a version's pass beside its manifest (write-once); MLflow
only displays it. :func:`require` is what promotion, rollback and the nodes
rely on: an MLflow tag or alias, forged or stale, can name a version, but only
a pass that verifies against the configured public keys lets it move.
"""

from __future__ import annotations

import logging

from airlock import signing
from airlock.config import AirlockConfig
from airlock.errors import ConfigError, IntegrityError, VerdictRejected
from airlock.manifest import Manifest
from airlock.registry import Registry, pass_keys

log = logging.getLogger(__name__)


def private_key(cfg: AirlockConfig, from_connection: str | None = None) -> bytes:
    """The pipeline's signing key: the Airflow connection's PEM, else ``signing.private_key_file``."""
    if from_connection:
        return from_connection.encode()
    if cfg.signing.private_key_file is None:
        raise ConfigError(
            "no signing key: set the Airflow connection 'airlock_signing' (password: the PEM "
            "private key) or signing.private_key_file"
        )
    return cfg.read_keys([cfg.signing.private_key_file], "signing.private_key_file")[0]


def issue(
    cfg: AirlockConfig,
    registry: Registry,
    manifest: Manifest,
    version: str,
    suite: str,
    evaluation_run: str,
    key: bytes,
) -> signing.Attestation:
    """Sign the pass of a version whose every gate passed, and store it write-once.

    The pass is verified with the configured public keys before it is stored, so a key pair
    that nodes would not accept fails here, at evaluation, not at the next rollout.
    """
    att = signing.attest(manifest.name, version, manifest.digest, suite, evaluation_run)
    bundle = signing.sign_pass(manifest, att, key)
    try:
        signing.verify_pass(manifest, att.to_bytes(), bundle, cfg.trusted_keys())
    except IntegrityError as exc:
        raise ConfigError(
            f"the signing key is not among signing.public_keys, so nodes would refuse its passes ({exc})"
        ) from None
    if not registry.write_pass(manifest.name, manifest.digest, att.to_bytes(), bundle):
        log.info("%s@%s already holds a signed pass: the first one stands", manifest.name, manifest.digest[:12])
        return require(cfg, registry, manifest)
    log.info("signed the pass of %s v%s (%s)", manifest.name, version, manifest.digest[:12])
    return att


def require(cfg: AirlockConfig, registry: Registry, manifest: Manifest) -> signing.Attestation:
    """The version's verified pass; VerdictRejected when it has none, IntegrityError when it does not verify."""
    found = registry.read_pass(manifest.name, manifest.digest)
    if found is None:
        raise VerdictRejected(
            f"{manifest.name}@{manifest.digest[:12]} has no signed pass: only a version that "
            "passed every gate may reach the fleet (evaluate it first)"
        )
    return signing.verify_pass(manifest, *found, cfg.trusted_keys())


def uri(registry: Registry, manifest: Manifest) -> str:
    """Where the pass's signature lives, for links and MLflow tags."""
    return registry.uri(pass_keys(manifest.name, manifest.digest)[1])
