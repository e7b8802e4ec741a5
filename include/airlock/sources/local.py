"""A local directory as a source (an NFS share, a training job's output)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from airlock.errors import InvalidRequest, NotFound
from airlock.hashing import HashCache, sha256_file
from airlock.manifest import FileEntry

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.sources.base import SourceRequest

IGNORED_DIRS = {".git", ".cache", "__pycache__"}


class LocalSource:
    """Files under ``root``. Links are listed as they are named (policy rejects
    links that escape the root); the revision is a digest of the listing, so a
    changed byte is a new revision. Files are hashed here (through an optional
    :class:`HashCache`), because a local read is far cheaper than an upload."""

    kind = "local"

    @staticmethod
    def check_location(location: str, revision: str) -> None:
        if not Path(location).is_absolute():
            raise InvalidRequest(f"local location {location!r} must be an absolute path")

    @classmethod
    def from_request(cls, req: SourceRequest, cfg: AirlockConfig, token: str | None) -> LocalSource:
        return cls(req.location, HashCache(cfg.state_dir / "hash-cache.sqlite"))

    def __init__(self, root: str | Path, hash_cache: HashCache | None = None) -> None:
        self.root = Path(root)
        self.hash_cache = hash_cache
        if not self.root.is_dir():
            raise NotFound(f"local source {self.root} is not a directory")
        self._files: list[FileEntry] | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.root.resolve())}

    def list_files(self) -> list[FileEntry]:
        if self._files is None:
            out = []
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
                for fn in sorted(filenames):
                    full = Path(dirpath) / fn
                    rel = full.relative_to(self.root).as_posix()
                    if full.is_symlink() and not _inside(full, self.root):
                        out.append(FileEntry(rel, 0, None))  # policy names it
                        continue
                    sha = self.hash_cache.sha256(full) if self.hash_cache else sha256_file(full)
                    out.append(FileEntry(rel, full.stat().st_size, sha))
            self._files = out
        return list(self._files)

    def resolve(self) -> str:
        h = hashlib.sha256()
        for f in self.list_files():
            h.update(f"{f.path}\0{f.size}\0{f.sha256}\n".encode())
        return "dir-" + h.hexdigest()[:40]

    def open(self, path: str) -> BinaryIO:
        full = self.root / path
        if not _inside(full, self.root):
            raise InvalidRequest(f"{path}: outside the source directory")
        return full.open("rb")

    def read_text(self, path: str, limit: int = 1 << 20) -> str | None:
        full = self.root / path
        if not full.is_file() or not _inside(full, self.root):
            return None
        return full.read_bytes()[:limit].decode("utf-8", "replace")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
