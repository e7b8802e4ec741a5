"""Admission by content on the hostile tree: every fixture refused, naming the file and the rule."""

from __future__ import annotations

import pickle
import struct

import pytest

from airlock.admission import chat_template, safetensors, sniff
from airlock.config import AirlockConfig, PolicyConfig
from airlock.errors import PolicyViolation
from airlock.intake import admit, open_source
from airlock.payloads import IntakeRequest
from tests.support.hostile import GOOD_TENSORS, HOSTILE, TEMPLATE, build, safetensors_bytes, valid


def _check(data: bytes) -> safetensors.Header:
    return safetensors.check(lambda off, n: data[off : off + n], len(data))


def test_a_real_safetensors_file_passes(tmp_path):
    import torch
    from safetensors.torch import save_file

    p = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(3, 5, dtype=torch.bfloat16), "b": torch.ones(7)}, str(p), metadata={"format": "pt"})
    h = _check(p.read_bytes())
    assert h.tensors == 2 and h.data_bytes == 3 * 5 * 2 + 7 * 4 and h.metadata == {"format": "pt"}


def test_the_fixture_base_is_valid():
    assert _check(safetensors_bytes(GOOD_TENSORS, bytes(24))).tensors == 2


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_every_pickle_protocol_is_recognised(protocol):
    assert sniff.kind(pickle.dumps({"a": [1, 2]}, protocol=protocol) + b"\n" * 10) == "pickle" or protocol < 2
    assert sniff.kind(pickle.dumps(struct.Struct, protocol=protocol)) == "pickle"  # imports a global


@pytest.mark.parametrize(
    "text",
    [b"---\nlicense: apache-2.0\n---\n# model\n", b'{"a": 1}', b"[PAD]\n[UNK]\n", b"#version: 0.2\nh e\n", b"hello"],
)
def test_ordinary_text_is_not_taken_for_a_pickle(text):
    assert sniff.kind(text) is None


def test_the_shipped_template_renders_and_a_breakout_does_not():
    assert chat_template.problem("t", TEMPLATE) is None
    assert "outside Jinja's sandbox" in chat_template.problem("t", "{{ ''.__class__.__mro__ }}")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_fixture_is_refused_naming_the_file_and_the_rule(name, tmp_path, monkeypatch):
    """Through the same admit() the intake DAG runs, on a real folder: refused, by the named rule,
    before a single file is hashed (a 300 GB sparse file would take minutes)."""
    from airlock.sources.local import LocalSource

    def no_hashing(self, files):
        raise AssertionError("files were hashed before admission refused them")

    monkeypatch.setattr(LocalSource, "digests", no_hashing)
    file, rule, _ = HOSTILE[name]
    cfg = AirlockConfig(state_dir=tmp_path / "state", policy=PolicyConfig(max_files=100))
    req = IntakeRequest(model_name="hostile", source_kind="local", location=str(build(tmp_path, name)))
    with pytest.raises(PolicyViolation) as e:
        admit(req, open_source(req, cfg), cfg)
    assert any(file in r and rule in r for r in e.value.reasons), e.value.reasons


def test_the_valid_base_is_admitted_and_hashed_only_after_admission(tmp_path):
    cfg = AirlockConfig(state_dir=tmp_path / "state")
    req = IntakeRequest(model_name="ok", source_kind="local", location=str(valid(tmp_path / "ok")))
    revision, files = admit(req, open_source(req, cfg), cfg)
    assert revision.startswith("dir-") and all(f.sha256 for f in files)


def test_a_refused_fifo_is_never_opened(tmp_path):
    """A reader of a FIFO blocks until a writer comes: listing must refuse it from lstat alone."""
    import threading

    d = build(tmp_path, "fifo")
    cfg = AirlockConfig(state_dir=tmp_path / "state")
    req = IntakeRequest(model_name="f", source_kind="local", location=str(d))
    done = threading.Event()

    def run() -> None:
        with pytest.raises(PolicyViolation):
            admit(req, open_source(req, cfg), cfg)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), "admission blocked on the FIFO"
