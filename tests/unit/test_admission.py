"""Admission by content on the hostile tree: every fixture refused, naming the file and the rule."""

from __future__ import annotations

import pickle
import struct

import pytest

from airlock.admission import chat_template, safetensors, sniff
from tests.support.hostile import GOOD_TENSORS, TEMPLATE, safetensors_bytes


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
