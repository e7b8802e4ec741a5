"""Hash bytes while they stream, so that each byte is read once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from airlock.errors import IntegrityError

CHUNK = 8 << 20

__all__ = ["CHUNK", "HashCache", "HashingReader", "IntegrityError", "sha256_file"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class HashingReader:
    """A read-only stream that hashes what passes through it.

    With ``expect_sha256``/``expect_size`` it raises :class:`IntegrityError`
    at end of stream if the bytes differ, *before* the consumer sees EOF: an
    S3 upload reading from it then fails and aborts instead of completing, so
    a tampered file never becomes an object.
    """

    def __init__(
        self, raw: BinaryIO, label: str, expect_sha256: str | None = None, expect_size: int | None = None
    ) -> None:
        self.raw, self.label = raw, label
        self.expect_sha256, self.expect_size = expect_sha256, expect_size
        self._h = hashlib.sha256()
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self._h.update(data)
            self.bytes_read += len(data)
            if self.expect_size is not None and self.bytes_read > self.expect_size:
                raise IntegrityError(f"{self.label}: longer than the expected {self.expect_size} bytes")
        else:
            self.check()
        return data

    def check(self) -> None:
        if self.expect_size is not None and self.bytes_read != self.expect_size:
            raise IntegrityError(f"{self.label}: size {self.bytes_read} does not match the expected {self.expect_size}")
        if self.expect_sha256 is not None and self.hexdigest() != self.expect_sha256:
            raise IntegrityError(
                f"{self.label}: sha256 {self.hexdigest()} does not match the expected {self.expect_sha256}"
            )

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


class HashCache:
    """sha256 of local files, keyed by (path, size, inode, mtime, ctime).

    Why: re-ingesting an unchanged local revision should cost a ``stat`` per
    file, not a full read. ctime cannot be set by users, so a rewritten file
    always misses. A stale entry could never corrupt the registry anyway: the
    upload re-hashes the bytes and aborts on mismatch.
    """

    def __init__(self, path: Path) -> None:
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS h (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL)")

    @staticmethod
    def _key(path: Path) -> str:
        st = path.stat()
        return f"{path.resolve()}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"

    def sha256(self, path: Path) -> str:
        key = self._key(path)
        row = self.db.execute("SELECT sha256 FROM h WHERE key = ?", (key,)).fetchone()
        if row:
            return str(row[0])
        digest = sha256_file(path)
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO h VALUES (?, ?)", (key, digest))
        return digest
