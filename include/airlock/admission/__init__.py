"""Admission by content: every file is judged by its bytes, whatever its name, before any is stored.

Per file, in this order, reading only its first bytes (and, for safetensors,
its header) through the source:

1. **dangerous containers** by magic bytes (:mod:`.sniff`): pickle (binary
   and text protocols), zip (``torch.save``), numpy, joblib's compressors,
   GGUF. Refused unless a policy exception names the file.
2. **safetensors** (:mod:`.safetensors`): a strict header check for every file
   named ``*.safetensors`` and every file whose first bytes look like one.
3. **everything else must be text** (UTF-8, no NUL) or a known harmless binary
   (a sentencepiece tokenizer model, an image); anything else is refused as
   unrecognised binary content.
4. **no remote code** (:mod:`.remote_code`): Python files, and configs whose
   ``auto_map`` or ``trust_remote_code`` would load code from the repo.
5. **chat templates** (:mod:`.chat_template`) render in Jinja's sandbox.

The caps on file count and total size are applied before this, from the
listing's metadata alone (see :func:`airlock.policy.check_listing`), so a
file-count or sparse-file bomb is refused without reading any file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.admission import chat_template, remote_code, safetensors, sniff
from airlock.manifest import FileEntry
from airlock.sources.base import Source

MAX_HEADER_READ = 16 << 20  # above any real model's safetensors header (a 70B model's is ~100 KB)
MAX_TEXT_READ = 4 << 20  # configs and templates read whole up to this size
# what each refused kind is, in the refusal's words
DANGEROUS = {
    "pickle": "a pickle (loading it runs code)",
    "zip": "a zip archive (what torch.save writes: a pickle inside)",
    "numpy": "a numpy array file (object arrays are pickles)",
    **{c: f"{c}-compressed data (how joblib stores pickles)" for c in ("gzip", "bz2", "xz", "zstd", "lz4", "zlib")},
    "gguf": "GGUF weights (not an allowed format)",
}
IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def inspect(source: Source, files: list[FileEntry], repo: str, exceptions: set[str]) -> list[str]:
    """Every content rule the files break, as sentences naming the file; empty means admitted.

    ``exceptions``: ``"<repo>:<path>"`` entries that may hold a pickle-bearing format.
    """
    reasons: list[str] = []
    special: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for f in files:
        reason = _one(source, f, repo, exceptions, texts)
        if reason:
            reasons.append(reason)
    tok_cfg = texts.get("tokenizer_config.json")
    if tok_cfg:
        special = _special_tokens(tok_cfg)
    for path, text in sorted(texts.items()):
        if path.rsplit("/", 1)[-1] in remote_code.CONFIGS:
            reasons += remote_code.problems(path, text)
        if path.endswith("tokenizer_config.json") or path.endswith(".jinja"):
            for name, tpl in chat_template.templates(path, text).items():
                problem = chat_template.problem(repr(name), tpl, special)
                if problem:
                    reasons.append(problem)
    return reasons


def _one(source: Source, f: FileEntry, repo: str, exceptions: set[str], texts: dict[str, str]) -> str | None:
    with source.open(f.path) as stream:
        read = _Sequential(stream.read)
        head = read(0, min(sniff.SNIFF_BYTES, f.size)) if f.size else b""
        found = sniff.kind(head)
        if found in DANGEROUS:
            if f"{repo}:{f.path}" in exceptions and found != "gguf":
                return None
            return f"{f.path!r}: {DANGEROUS[found]}; only safetensors weights are admitted, judged by content"
        if f.path.endswith(".safetensors") or _looks_like_safetensors(head):
            return _safetensors(f, head, read)
        if f.path.endswith(".py"):
            return f"{f.path!r}: Python source in a model repo only serves trust_remote_code, which Airlock never runs"
        if head.startswith(IMAGES) or _looks_like_sentencepiece(head):
            return None
        if b"\x00" in head or not _utf8_prefix(head):
            return f"{f.path!r}: unrecognised binary content (not safetensors, text, an image or a tokenizer model)"
        if f.size <= MAX_TEXT_READ and (f.path.endswith((".json", ".jinja"))):
            rest = read(len(head), f.size - len(head)) if f.size > len(head) else b""
            try:
                texts[f.path] = (head + rest).decode("utf-8")
            except UnicodeDecodeError:
                return f"{f.path!r}: not valid UTF-8 text"
    return None


def _safetensors(f: FileEntry, head: bytes, read: Callable[[int, int], bytes]) -> str | None:
    def bounded(offset: int, length: int) -> bytes:
        if offset + length > 8 + MAX_HEADER_READ:
            raise safetensors.Malformed(f"header of {length} bytes is larger than any real model's ({MAX_HEADER_READ})")
        if offset + length <= len(head):
            return head[offset : offset + length]
        return (
            head[offset:] + read(len(head), offset + length - len(head)) if offset < len(head) else read(offset, length)
        )

    try:
        safetensors.check(bounded, f.size)
    except safetensors.Malformed as exc:
        return f"{f.path!r}: not a well-formed safetensors file: {exc}"
    return None


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def _looks_like_sentencepiece(head: bytes) -> bool:
    """A sentencepiece ModelProto: field 1 (pieces), each a message whose field 1 is the piece string."""
    return len(head) > 4 and head[0] == 0x0A and head[1] < 0x80 and head[2] == 0x0A


def _utf8_prefix(head: bytes) -> bool:
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut by the sniff window


def _special_tokens(tokenizer_config: str) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(tokenizer_config)
    except ValueError:
        return {}
    out: dict[str, Any] = {}
    for k in ("bos_token", "eos_token", "pad_token", "unk_token"):
        v = doc.get(k) if isinstance(doc, dict) else None
        out[k] = v.get("content") if isinstance(v, dict) else v
    return out


class _Sequential:
    """``read(offset, length)`` over a forward-only stream (an HTTP body), refusing to seek back."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read, self.pos = read, 0

    def __call__(self, offset: int, length: int) -> bytes:
        if offset < self.pos:
            raise ValueError(f"cannot seek back from {self.pos} to {offset}")
        while self.pos < offset:  # skip forward
            chunk = self._read(min(offset - self.pos, 1 << 20))
            if not chunk:
                return b""
            self.pos += len(chunk)
        out = bytearray()
        while len(out) < length:
            chunk = self._read(length - len(out))
            if not chunk:
                break
            out += chunk
        self.pos += len(out)
        return bytes(out)
