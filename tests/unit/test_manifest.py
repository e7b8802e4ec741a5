import hashlib

import pytest

from airlock.errors import InvalidRequest
from airlock.manifest import FileEntry, Manifest, ManifestError, validate_name

H = hashlib.sha256(b"x").hexdigest()


def _m(**kw):
    base = dict(
        name="m",
        source={"kind": "local"},
        revision="r1",
        files=(FileEntry("a.safetensors", 1, H), FileEntry("config.json", 2, H)),
        created_at="2026-01-01T00:00:00+00:00",
    )
    base.update(kw)
    return Manifest(**base)


def test_digest_is_content_identity_not_provenance():
    a = _m()
    b = _m(
        revision="other", created_at="2027-01-01T00:00:00+00:00", source={"kind": "hub"}, files=tuple(reversed(a.files))
    )
    assert a.digest == b.digest
    assert _m(files=(FileEntry("a.safetensors", 1, H),)).digest != a.digest


def test_roundtrip_and_tamper_detection():
    m = _m()
    raw = m.to_json()
    assert Manifest.from_json(raw, expect_digest=m.digest) == m
    tampered = raw.replace(b'"size":1', b'"size":9')
    with pytest.raises(ManifestError, match="digest mismatch"):
        Manifest.from_json(tampered)
    with pytest.raises(ManifestError, match="expected"):
        Manifest.from_json(raw, expect_digest="0" * 64)


def test_every_file_needs_a_sha_and_a_unique_path():
    with pytest.raises(ManifestError, match="sha256"):
        _m(files=(FileEntry("a", 1, None),))
    with pytest.raises(ManifestError, match="twice"):
        _m(files=(FileEntry("a", 1, H), FileEntry("a", 1, H)))


@pytest.mark.parametrize("bad", ["", "Upper", "../x", "a/b", "x" * 65, "-lead"])
def test_bad_names(bad):
    with pytest.raises(InvalidRequest, match="model name"):
        validate_name(bad)
