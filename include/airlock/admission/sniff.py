"""What a file is by its first bytes, whatever its name says.

Why by content: a pickle named ``model.safetensors`` or ``notes.txt`` is
still a pickle, and loading it runs code. The formats that can carry a
pickle are recognised by their magic bytes: pickle itself (including the
text protocol 0, found by parsing opcodes without executing them), zip (what
``torch.save`` writes, and ``.npz``), numpy's ``.npy``, and the compressors
joblib wraps pickles in.
"""

from __future__ import annotations

import io
import pickletools

SNIFF_BYTES = 4096

MAGIC: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "zip"),  # torch.save, .npz, .pt archives: a pickle inside
    (b"PK\x05\x06", "zip"),
    (b"\x93NUMPY", "numpy"),  # .npy: object arrays are pickles
    (b"\x1f\x8b", "gzip"),  # joblib compressors
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"GGUF", "gguf"),
]
# opcodes that import a callable: what makes a pickle dangerous (REDUCE, OBJ, BUILD then call it)
IMPORT_OPS = {"GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4"}


def kind(head: bytes) -> str | None:
    """``pickle``, ``zip``, ``numpy``, a compressor, ``gguf``, or None when none of those."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if head[:1] == b"x" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0 and head[1] in b"\x01\x5e\x9c\xda":
        return "zlib"
    if is_pickle(head):
        return "pickle"
    return None


def is_pickle(head: bytes) -> bool:
    """True for a binary pickle (PROTO 2-5), or a text pickle (protocol 0/1) whose opcodes import
    or call and parse up to STOP, or through most of the bytes sniffed."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    ops: set[str] = set()
    last, stopped = 0, False
    try:
        for op, _, pos in pickletools.genops(io.BytesIO(head)):
            ops.add(op.name)
            last = pos or 0
            if op.name == "STOP":
                stopped = True
                break
    except Exception:  # noqa: BLE001 - not (or not only) pickle opcodes: judge what parsed
        pass
    return bool(ops & IMPORT_OPS) and (stopped or last >= max(64, len(head) // 2))
