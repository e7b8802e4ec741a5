import hashlib
import io

import pytest

from airlock.hashing import HashingReader, IntegrityError


def _drain(r):
    while r.read(3):
        pass


def test_matching_stream_passes_and_reports_digest():
    data = b"hello world"
    r = HashingReader(io.BytesIO(data), "f", hashlib.sha256(data).hexdigest(), len(data))
    _drain(r)
    assert r.hexdigest() == hashlib.sha256(data).hexdigest() and r.bytes_read == len(data)


def test_mismatch_raises_at_eof_naming_the_file():
    r = HashingReader(io.BytesIO(b"tampered"), "model.safetensors", hashlib.sha256(b"orig").hexdigest())
    with pytest.raises(IntegrityError, match="model.safetensors: sha256"):
        _drain(r)


def test_size_checks():
    with pytest.raises(IntegrityError, match="longer than"):
        _drain(HashingReader(io.BytesIO(b"12345"), "f", expect_size=2))
    with pytest.raises(IntegrityError, match="size 2"):
        _drain(HashingReader(io.BytesIO(b"12"), "f", expect_size=5))
