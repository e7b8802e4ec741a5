import hashlib

import pytest

from airlock.config import PolicyConfig
from airlock.manifest import FileEntry
from airlock.policy import PolicyViolation, Submission, caps, check, enforce, licence_of, path_problem

H = hashlib.sha256(b"x").hexdigest()
OK_FILES = [FileEntry("model.safetensors", 100, H), FileEntry("config.json", 10, None)]


def test_clean_candidate_is_admitted():
    assert check(Submission("acme/m", OK_FILES), PolicyConfig()) == []


def test_names_alone_decide_nothing_about_content():
    """A .bin name is not refused by the listing: its content is judged next (tests/unit/test_admission.py)."""
    files = OK_FILES + [FileEntry("pytorch_model.bin", 5, None), FileEntry("opt.pt", 5, None)]
    assert check(Submission("acme/m", files), PolicyConfig()) == []


def test_caps_come_from_metadata():
    files = [FileEntry(f"f{i}.safetensors", 10**9, None) for i in range(5)]
    assert caps(files, PolicyConfig(max_files=4, max_total_gb=4.5)) == [
        "5 files: more than the cap of 4 files",
        "total size 5.00 GB exceeds the cap of 4.5 GB",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "/abs/model.safetensors",
        "a/../../b",
        "a//b",
        "./a",
        "bad\nname",
        "x\x00y",
        "C:\\win",
        "tab\there",
        "zero\u200bwidth",
    ],
)
def test_unsafe_paths(path):
    assert path_problem(path) is not None
    with pytest.raises(PolicyViolation) as e:
        enforce(Submission("acme/m", OK_FILES + [FileEntry(path, 1, None)]), PolicyConfig())
    assert repr(path)[1:-1][:3] in str(e.value) or "path" in str(e.value)


def test_every_reason_is_listed_at_once():
    pol = PolicyConfig(trusted_orgs=["good-org"], max_total_gb=0.000001, licenses=["apache-2.0"])
    files = [FileEntry("w.bin", 10_000, None), FileEntry("../x", 1, None)]
    reasons = check(Submission("evil/m", files, model_card="---\nlicense: other\n---\n"), pol)
    text = "\n".join(reasons)
    for needle in ("trusted", "traversal", "no weights", "exceeds", "licence 'other'"):
        assert needle in text, needle


def test_licence_from_card_or_config():
    assert licence_of("---\nlicense: Apache-2.0\ntags: [x]\n---\n# hi", None) == "apache-2.0"
    assert licence_of(None, '{"license": "MIT"}') == "mit"
    assert licence_of("# no front matter", None) is None
    pol = PolicyConfig(licenses=["apache-2.0"])
    assert check(Submission("a/b", OK_FILES, model_card=None), pol) == [
        "no licence found in the model card or config (allowed: apache-2.0)"
    ]


def test_empty_revision_rejected():
    assert check(Submission("a/b", []), PolicyConfig()) == ["the revision has no files"]
