"""A local directory as a source (an NFS share, a training job's output).

Only regular files inside the root are read: a symlink that resolves outside
it, and special files (FIFOs, sockets, devices) are refused by name, because
a FIFO blocks a reader forever and a link can expose any file of the worker.
Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again on the open
descriptor, so swapping a file for a link after listing does not help.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from airlock.errors import InvalidRequest, NotFound
from airlock.hashing import HashCache
from airlock.manifest import FileEntry

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.sources.base import Credentials, SourceRequest

IGNORED_DIRS = {".git", ".cache", "__pycache__"}


class LocalSource:
    """Regular files under ``root``. The revision is a digest of every file's path, size and
    sha256, so a changed byte is a new revision. Files are hashed here (through an optional
    :class:`HashCache`), after admission, because a local read is far cheaper than an upload."""

    kind = "local"

    @staticmethod
    def check_location(location: str, revision: str) -> None:
        if not Path(location).is_absolute():
            raise InvalidRequest(f"local location {location!r} must be an absolute path")

    @classmethod
    def from_request(cls, req: SourceRequest, cfg: AirlockConfig, creds: Credentials | None) -> LocalSource:
        return cls(req.location, HashCache(cfg.state_dir / "hash-cache.sqlite"))

    def __init__(self, root: str | Path, hash_cache: HashCache | None = None) -> None:
        self.root = Path(root)
        self.hash_cache = hash_cache
        if not self.root.is_dir():
            raise NotFound(f"local source {self.root} is not a directory")
        self._real_root = self.root.resolve()
        self._files: list[FileEntry] | None = None
        self._refused: list[str] = []
        self._hashed: list[FileEntry] | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self._real_root)}

    def list_files(self) -> list[FileEntry]:
        """Path and size of every regular file (from ``lstat``: nothing is read here)."""
        if self._files is None:
            out: list[FileEntry] = []
            for dirpath, dirnames, filenames in os.walk(self.root):
                for d in list(dirnames):
                    if d in IGNORED_DIRS:
                        dirnames.remove(d)
                    elif (Path(dirpath) / d).is_symlink():  # os.walk does not follow it; name it if it escapes
                        dirnames.remove(d)
                        self._check_link(Path(dirpath) / d)
                dirnames.sort()
                for fn in sorted(filenames):
                    entry = self._entry(Path(dirpath) / fn)
                    if entry is not None:
                        out.append(entry)
            self._files = out
        return list(self._files)

    def _entry(self, full: Path) -> FileEntry | None:
        rel = full.relative_to(self.root).as_posix()
        st = full.lstat()
        if stat.S_ISLNK(st.st_mode):
            target = self._check_link(full)
            if target is None:
                return None
            st = target.stat()
        if not stat.S_ISREG(st.st_mode):
            self._refused.append(f"{rel!r}: not a regular file (a FIFO, socket or device); refused unread")
            return None
        return FileEntry(rel, st.st_size, None)

    def _check_link(self, link: Path) -> Path | None:
        """The link's target inside the root, or None (and the refusal recorded)."""
        rel = link.relative_to(self.root).as_posix()
        target = link.resolve()
        if not target.is_relative_to(self._real_root):
            self._refused.append(f"{rel!r}: a link to {target}, outside the source directory")
            return None
        return target if not target.is_dir() else None

    def refusals(self) -> list[str]:
        """Entries that were not listed, and why (special files, links out of the root)."""
        self.list_files()
        return list(self._refused)

    def digests(self, files: list[FileEntry]) -> list[FileEntry]:
        """``files`` with their sha256, computed here (through the hash cache)."""
        out = []
        for f in files:
            with self.open(f.path) as fh:
                sha = self.hash_cache.sha256(self.root / f.path) if self.hash_cache else _sha256(fh)
            out.append(FileEntry(f.path, f.size, sha))
        self._hashed = out
        return list(out)

    def resolve(self) -> str:
        files = self._hashed if self._hashed is not None else self.digests(self.list_files())
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.path}\0{f.size}\0{f.sha256}\n".encode())
        return "dir-" + h.hexdigest()[:40]

    def open(self, path: str) -> BinaryIO:
        """A regular file inside the root, opened without following a last-moment swap."""
        full = (self.root / path).resolve()
        if not full.is_relative_to(self._real_root):
            raise InvalidRequest(f"{path!r}: outside the source directory")
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise NotFound(f"{path!r}: cannot be opened ({exc.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidRequest(f"{path!r}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def read_text(self, path: str, limit: int = 1 << 20) -> str | None:
        try:
            with self.open(path) as fh:
                return fh.read(limit).decode("utf-8", "replace")
        except (NotFound, InvalidRequest):
            return None


def _sha256(fh: BinaryIO) -> str:
    h = hashlib.sha256()
    while chunk := fh.read(8 << 20):
        h.update(chunk)
    return h.hexdigest()
