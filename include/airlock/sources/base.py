"""What every source of weights offers: a pinned listing and byte streams."""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol, runtime_checkable

from airlock.manifest import FileEntry


class SourceError(RuntimeError):
    """The upstream could not be reached, or the revision or file does not exist."""


@runtime_checkable
class Source(Protocol):
    """One upstream location of a model, pinned to one revision.

    ``resolve()`` returns an immutable revision (a commit sha, an S3 listing
    digest, a directory content digest); ``list_files()`` and ``open()`` read
    exactly that revision. ``FileEntry.sha256`` is set only where the upstream
    publishes it; callers must hash everything else themselves.
    """

    kind: str

    def describe(self) -> dict[str, Any]:
        """JSON-safe description recorded in the manifest (never a secret)."""

    def resolve(self) -> str: ...

    def list_files(self) -> list[FileEntry]: ...

    def open(self, path: str) -> BinaryIO: ...

    def read_text(self, path: str, limit: int = 1 << 20) -> str | None:
        """A small text file (model card, config) for policy checks, or None."""
