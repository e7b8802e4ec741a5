"""A strict safetensors header check: the file is exactly what its header says.

Why strict: the format's safety is that loading is a bounded memcpy driven by
the header. A header whose spans overlap, leave gaps, point past the end or
leave trailing bytes is not what any writer produces, and it is where parser
bugs and smuggled payloads live. Only the header is read (8 bytes plus its
length), so this runs on a remote file before a byte of it is stored.

Layout (https://github.com/huggingface/safetensors): an unsigned 64-bit
little-endian header length ``N``, ``N`` bytes of UTF-8 JSON (a map of tensor
name -> {dtype, shape, data_offsets}, and an optional ``__metadata__`` map of
strings; may be padded with trailing spaces), then the data buffer.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

MAX_HEADER = 100 * 1000 * 1000  # the reference implementation's own bound
# bits per element, as the reference implementation knows them
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class Malformed(ValueError):
    """The file is not a well-formed safetensors file; says which rule it breaks."""


@dataclass(frozen=True)
class Header:
    tensors: int
    data_bytes: int
    metadata: dict[str, str]


def check(read: Callable[[int, int], bytes], size: int) -> Header:
    """Check a file of ``size`` bytes through ``read(offset, length)``; Malformed names the rule.

    Reads the 8-byte length and the header, nothing of the data buffer.
    """
    if size < 8:
        raise Malformed(f"{size} bytes: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", read(0, 8))
    if n == 0 or n > MAX_HEADER:
        raise Malformed(f"header length {n} is outside 1..{MAX_HEADER}")
    if 8 + n > size:
        raise Malformed(f"header length {n} runs past the end of the {size}-byte file")
    raw = read(8, n)
    if len(raw) != n:
        raise Malformed(f"header truncated: read {len(raw)} of {n} bytes")
    if raw[:1] != b"{":
        raise Malformed("header does not start with '{'")
    try:
        doc = json.loads(raw.decode("utf-8").rstrip(" "), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"header is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Malformed("header is not a JSON object")
    metadata = doc.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise Malformed("__metadata__ must map strings to strings")
    spans: list[tuple[int, int, str]] = []
    for name, t in doc.items():
        spans.append((*_span(name, t), name))
    spans.sort()
    buffer = size - 8 - n
    at = 0
    for begin, end, name in spans:
        if begin != at:
            what = "overlaps the previous tensor" if begin < at else f"leaves a gap of {begin - at} bytes before it"
            raise Malformed(f"tensor {name!r} {what} (starts at {begin}, expected {at})")
        at = end
    if at != buffer:
        rule = "trailing bytes after the last tensor" if at < buffer else "tensors run past the end of the file"
        raise Malformed(f"{rule}: tensors cover {at} bytes, the data buffer holds {buffer}")
    return Header(len(spans), buffer, metadata)


def _span(name: str, t: object) -> tuple[int, int]:
    if not isinstance(t, dict) or set(t) != {"dtype", "shape", "data_offsets"}:
        raise Malformed(f"tensor {name!r}: expected exactly dtype, shape and data_offsets")
    dtype, shape, offsets = t["dtype"], t["shape"], t["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise Malformed(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise Malformed(f"tensor {name!r}: shape must be a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise Malformed(f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8:
        raise Malformed(f"tensor {name!r}: {dtype} x {shape} is not a whole number of bytes")
    if bits // 8 != offsets[1] - offsets[0]:
        raise Malformed(
            f"tensor {name!r}: {dtype} x {shape} is {bits // 8} bytes, its span holds {offsets[1] - offsets[0]}"
        )
    return offsets[0], offsets[1]


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out
