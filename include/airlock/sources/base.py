"""What every source of weights offers: a pinned listing and byte streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from airlock.manifest import FileEntry

if TYPE_CHECKING:
    from airlock.config import AirlockConfig


@dataclass(frozen=True)
class Credentials:
    """What the Airflow connection an intake request names holds for its source.

    Why a type of its own: a source reads with its upstream's credentials,
    never with the registry's (a vendor bucket is another endpoint and another
    identity). The hub reads ``secret`` as its token; S3 reads ``login`` and
    ``secret`` as an access key pair, at ``endpoint``. Never logged, never in
    XCom (``secret`` is left out of the repr).
    """

    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    region: str | None = None


class SourceRequest(Protocol):
    """The parts of an intake request a source reads (see ``payloads.IntakeRequest``)."""

    @property
    def location(self) -> str: ...

    @property
    def revision(self) -> str: ...

    @property
    def allow_patterns(self) -> list[str]: ...

    @property
    def ignore_patterns(self) -> list[str]: ...


@runtime_checkable
class Source(Protocol):
    """One upstream location of a model, pinned to one revision.

    ``resolve()`` returns an immutable revision (a commit sha, an S3 listing
    digest, a directory content digest); ``list_files()`` and ``open()`` read
    exactly that revision. ``FileEntry.sha256`` is set only where the upstream
    publishes it; callers must hash everything else themselves.

    Errors: :class:`~airlock.errors.NotFound` for a missing repo, revision or
    file; a :class:`~airlock.errors.RetryableError` when the upstream is down.
    """

    kind: str

    def describe(self) -> dict[str, Any]:
        """JSON-safe description recorded in the manifest (never a secret)."""
        ...

    def resolve(self) -> str:
        """The immutable revision (for a local folder: after :meth:`digests`)."""
        ...

    def list_files(self) -> list[FileEntry]:
        """Path and size of every file, from metadata: nothing is read or hashed."""
        ...

    def refusals(self) -> list[str]:
        """Entries left out of the listing, and why (special files, links out of the root)."""
        ...

    def digests(self, files: list[FileEntry]) -> list[FileEntry]:
        """``files`` with every sha256 the source can give cheaply (a local folder hashes here,
        after admission); None where only the upload will learn it."""
        ...

    def open(self, path: str) -> BinaryIO: ...

    def read_text(self, path: str, limit: int = 1 << 20) -> str | None:
        """A small text file (model card, config) for policy checks, or None."""
        ...


class SourceType(Protocol):
    """The class side of a source: how a request's fields are checked and opened."""

    @staticmethod
    def check_location(location: str, revision: str) -> None:
        """Raise ``ValueError`` naming what is wrong with the request's location or revision."""
        ...

    def from_request(self, req: SourceRequest, cfg: AirlockConfig, creds: Credentials | None) -> Source:
        """Open the upstream a validated request names, with its connection's credentials if any."""
        ...
