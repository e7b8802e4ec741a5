"""A tree of hostile model folders, built at test time: each breaks one admission rule.

Every fixture starts from the same small, valid model folder (a real
safetensors file, a config, a tokenizer config with a chat template) and
changes one thing. ``HOSTILE`` maps the fixture's name to (the file the
refusal must name, a phrase of the rule it must state, how to build it).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import socket
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}<|assistant|>"


def safetensors_bytes(header: dict | list | str, data: bytes, length: int | None = None) -> bytes:
    raw = header if isinstance(header, str) else json.dumps(header)
    h = raw.encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


GOOD_TENSORS = {
    "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "b": {"dtype": "BF16", "shape": [4], "data_offsets": [16, 24]},
}


def random_safetensors(size: int) -> bytes:
    """A well-formed safetensors file of exactly ``size`` bytes: one U8 tensor of random data."""
    for n in range(size, 0, -1):
        head = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
        if 8 + len(head) + n == size:
            return struct.pack("<Q", len(head)) + head + os.urandom(n)
    raise ValueError(f"no safetensors file of {size} bytes")


def valid(root: Path) -> Path:
    """A small model folder every rule admits."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.safetensors").write_bytes(safetensors_bytes(GOOD_TENSORS, bytes(24)))
    (root / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    (root / "tokenizer_config.json").write_text(json.dumps({"chat_template": TEMPLATE, "eos_token": "</s>"}))
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# a model\n")
    return root


class Evil:
    def __reduce__(self):  # what a malicious pickle does on load
        return (os.system, ("echo pwned",))


def _pickle(protocol: int = 4) -> bytes:
    return pickle.dumps(Evil(), protocol=protocol)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # what torch.save writes: a pickle inside a zip
        z.writestr("archive/data.pkl", _pickle(2))
    return buf.getvalue()


def _st(root: Path, name: str, header: dict | list | str, data: bytes = bytes(24), length: int | None = None) -> None:
    (root / name).write_bytes(safetensors_bytes(header, data, length))


def _tensors(**over: dict) -> dict:
    return {**GOOD_TENSORS, **over}


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    return build


def _json(name: str, doc: dict) -> Callable[[Path], None]:
    return _write(name, json.dumps(doc))


def _template(tpl: str) -> Callable[[Path], None]:
    return _json("tokenizer_config.json", {"chat_template": tpl})


def _fifo(root: Path) -> None:
    os.mkfifo(root / "weights.fifo")


def _socket_file(root: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "control.sock"))
    s.close()


def _symlink_out(root: Path) -> None:
    (root / "model-00002-of-00002.safetensors").symlink_to("/etc/passwd")


def _dir_symlink_out(root: Path) -> None:
    (root / "shards").symlink_to("/etc")


def _sparse(root: Path) -> None:
    with (root / "huge.safetensors").open("wb") as f:  # 300 GB apparent, no blocks
        f.truncate(300 * 10**9)


def _many(root: Path) -> None:
    d = root / "many"
    d.mkdir()
    for i in range(120):
        (d / f"f{i}.json").write_text("{}")


# name -> (the file the refusal names, a phrase of the rule, builder)
HOSTILE: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    "pickle-named-safetensors": ("model.safetensors", "a pickle", _write("model.safetensors", _pickle())),
    "pickle-protocol-2-as-bin": ("extra.bin", "a pickle", _write("extra.bin", _pickle(2))),
    "text-pickle-as-txt": ("notes.txt", "a pickle", _write("notes.txt", _pickle(0))),
    "torch-zip-named-safetensors": ("model.safetensors", "a zip archive", _write("model.safetensors", _zip())),
    "torch-zip-as-pt": ("weights.pt", "a zip archive", _write("weights.pt", _zip())),
    "numpy-npy": ("emb.npy", "a numpy array file", _write("emb.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O'}")),
    "joblib-gzip": ("model.joblib", "gzip-compressed", _write("model.joblib", gzip.compress(_pickle()))),
    "joblib-bz2": ("state.dat", "bz2-compressed", _write("state.dat", bz2.compress(_pickle()))),
    "joblib-xz": ("state.xz", "xz-compressed", _write("state.xz", lzma.compress(_pickle()))),
    "joblib-zlib": ("state.z", "zlib-compressed", _write("state.z", zlib.compress(_pickle()))),
    "gguf": ("model.gguf", "GGUF weights", _write("model.gguf", b"GGUF\x03\x00\x00\x00" + bytes(64))),
    "st-header-past-end": (
        "model.safetensors",
        "runs past the end",
        lambda r: _st(r, "model.safetensors", GOOD_TENSORS, length=10**6),
    ),
    "st-header-length-zero": ("model.safetensors", "outside 1..", lambda r: _st(r, "model.safetensors", "", length=0)),
    "st-header-not-json": (
        "model.safetensors",
        "not valid UTF-8 JSON",
        lambda r: _st(r, "model.safetensors", "{not json", bytes(24)),
    ),
    "st-header-not-object": (
        "model.safetensors",
        "does not start with '{'",
        lambda r: _st(r, "model.safetensors", [1, 2], bytes(0)),
    ),
    "st-unknown-dtype": (
        "model.safetensors",
        "unknown dtype 'F128'",
        lambda r: _st(r, "model.safetensors", _tensors(b={"dtype": "F128", "shape": [4], "data_offsets": [16, 24]})),
    ),
    "st-shape-vs-span": (
        "model.safetensors",
        "is 32 bytes, its span holds 8",
        lambda r: _st(r, "model.safetensors", _tensors(b={"dtype": "F64", "shape": [4], "data_offsets": [16, 24]})),
    ),
    "st-overlap": (
        "model.safetensors",
        "overlaps the previous tensor",
        lambda r: _st(
            r, "model.safetensors", _tensors(b={"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]}), bytes(16)
        ),
    ),
    "st-gap": (
        "model.safetensors",
        "leaves a gap",
        lambda r: _st(
            r, "model.safetensors", _tensors(b={"dtype": "BF16", "shape": [4], "data_offsets": [20, 28]}), bytes(28)
        ),
    ),
    "st-trailing-bytes": (
        "model.safetensors",
        "trailing bytes",
        lambda r: _st(r, "model.safetensors", GOOD_TENSORS, bytes(24) + b"#!/bin/sh payload"),
    ),
    "st-past-end": (
        "model.safetensors",
        "run past the end of the file",
        lambda r: _st(r, "model.safetensors", GOOD_TENSORS, bytes(20)),
    ),
    "st-duplicate-key": (
        "model.safetensors",
        "duplicate key",
        lambda r: _st(
            r,
            "model.safetensors",
            '{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, '
            '"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}',
            bytes(16),
        ),
    ),
    "st-extra-field": (
        "model.safetensors",
        "expected exactly dtype, shape and data_offsets",
        lambda r: _st(
            r,
            "model.safetensors",
            _tensors(b={"dtype": "BF16", "shape": [4], "data_offsets": [16, 24], "url": "http://x"}),
        ),
    ),
    "st-reversed-offsets": (
        "model.safetensors",
        "data_offsets must be",
        lambda r: _st(r, "model.safetensors", _tensors(b={"dtype": "BF16", "shape": [0], "data_offsets": [24, 16]})),
    ),
    "st-metadata-not-strings": (
        "model.safetensors",
        "__metadata__ must map strings",
        lambda r: _st(r, "model.safetensors", {**GOOD_TENSORS, "__metadata__": {"x": [1]}}),
    ),
    "st-huge-header": (
        "model.safetensors",
        "larger than any real model's",
        lambda r: _st(r, "model.safetensors", "{" + " " * (17 << 20) + "}", b""),
    ),
    "st-named-bin": (
        "weights.bin",
        "not a well-formed safetensors file",
        lambda r: _st(r, "weights.bin", GOOD_TENSORS, bytes(24) + b"extra"),
    ),
    "config-auto-map": (
        "config.json",
        "'auto_map' asks for custom code",
        _json("config.json", {"model_type": "llama", "auto_map": {"AutoModel": "modeling_x.M"}}),
    ),
    "tokenizer-auto-map": (
        "tokenizer_config.json",
        "'auto_map' asks for custom code",
        _json("tokenizer_config.json", {"auto_map": {"AutoTokenizer": ["tok.T", None]}}),
    ),
    "config-trust-remote-code": (
        "config.json",
        "'trust_remote_code' asks for custom code",
        _json("config.json", {"model_type": "llama", "trust_remote_code": True}),
    ),
    "python-file": ("modeling_llama.py", "Python source", _write("modeling_llama.py", "import os\n")),
    "template-breakout": (
        "tokenizer_config.json",
        "reaches outside Jinja's sandbox",
        _template("{{ cycler.__init__.__globals__.os.popen('id').read() }}"),
    ),
    "template-mutates": (
        "tokenizer_config.json",
        "reaches outside Jinja's sandbox",
        _template("{% for m in messages %}{{ m.clear() }}{% endfor %}x"),
    ),
    "template-syntax": ("tokenizer_config.json", "does not render", _template("{% for m in messages %}")),
    "template-raises": ("tokenizer_config.json", "does not render", _template("{{ raise_exception('no') }}")),
    "template-jinja-file": (
        "chat_template.jinja",
        "reaches outside Jinja's sandbox",
        _write("chat_template.jinja", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
    ),
    "unknown-binary": ("data.bin", "unrecognised binary content", _write("data.bin", bytes(range(256)) * 4)),
    "symlink-out": ("model-00002-of-00002.safetensors", "outside the source directory", _symlink_out),
    "dir-symlink-out": ("shards", "outside the source directory", _dir_symlink_out),
    "fifo": ("weights.fifo", "not a regular file", _fifo),
    "socket": ("control.sock", "not a regular file", _socket_file),
    "sparse-300gb": ("total size", "exceeds the cap", _sparse),
    "file-count": ("files", "more than the cap", _many),
}


def build(root: Path, name: str) -> Path:
    """The fixture ``name``: the valid folder with its one hostile change."""
    d = valid(root / name)
    HOSTILE[name][2](d)
    return d
