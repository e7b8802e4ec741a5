"""The Hugging Face hub (or a mirror via ``HF_ENDPOINT``) as a source.

A revision (branch, tag or sha) is resolved once to the commit sha, and every
later call reads that sha, so a push upstream mid-ingest cannot mix revisions.
LFS files carry the sha256 the hub publishes; huggingface_hub itself does not
check downloaded bytes, so the registry does.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airlock.errors import HubUnavailable, InvalidRequest, NotFound
from airlock.manifest import FileEntry

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.sources.base import Credentials, SourceRequest

REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def check_repo_id(repo_id: str) -> str:
    if not REPO_RE.match(repo_id or "") or ".." in repo_id:
        raise InvalidRequest(f"repo id {repo_id!r} is invalid: expected 'org/name'")
    return repo_id


def check_revision(revision: str) -> str:
    if not REVISION_RE.match(revision or "") or ".." in revision:
        raise InvalidRequest(f"revision {revision!r} is invalid: a branch, tag or commit sha")
    return revision


class HubSource:
    """A repo on the Hugging Face hub, or on a mirror through ``HF_ENDPOINT``."""

    kind = "hub"

    @staticmethod
    def check_location(location: str, revision: str) -> None:
        check_repo_id(location)
        check_revision(revision)

    @classmethod
    def from_request(cls, req: SourceRequest, cfg: AirlockConfig, creds: Credentials | None) -> HubSource:
        return cls(
            req.location,
            req.revision,
            token=creds.secret if creds else None,
            endpoint=creds.endpoint if creds else None,
            allow_patterns=req.allow_patterns,
            ignore_patterns=req.ignore_patterns,
        )

    def __init__(
        self,
        repo_id: str,
        revision: str = "main",
        token: str | None = None,
        endpoint: str | None = None,
        allow_patterns: list[str] | None = None,
        ignore_patterns: list[str] | None = None,
    ) -> None:
        from huggingface_hub import HfApi

        self.repo_id = check_repo_id(repo_id)
        self.revision = check_revision(revision)
        self.endpoint = endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        self.allow, self.ignore = allow_patterns or [], ignore_patterns or []
        self._token = token or os.environ.get("HF_TOKEN") or None
        self.api = HfApi(endpoint=self.endpoint, token=self._token)
        self._sha: str | None = None

    def describe(self) -> dict[str, Any]:
        # Never the token: this lands in the manifest and in MLflow.
        return {
            "kind": self.kind,
            "repo_id": self.repo_id,
            "requested_revision": self.revision,
            "endpoint": self.endpoint,
            "allow_patterns": self.allow,
            "ignore_patterns": self.ignore,
        }

    def resolve(self) -> str:
        if self._sha is None:
            import httpx
            from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

            try:
                info = self.api.model_info(self.repo_id, revision=self.revision)
            except RevisionNotFoundError as exc:
                raise NotFound(f"{self.repo_id}: revision {self.revision!r} not found") from exc
            except RepositoryNotFoundError as exc:
                raise NotFound(f"{self.repo_id}: repository not found (or no access)") from exc
            except (HfHubHTTPError, OSError, httpx.HTTPError) as exc:
                raise HubUnavailable(
                    f"{self.repo_id}: hub unreachable at {self.endpoint}: {type(exc).__name__}"
                ) from exc
            if not info.sha:
                raise HubUnavailable(f"{self.repo_id}@{self.revision}: the hub returned no commit sha")
            self._sha = info.sha
        return self._sha

    def _wanted(self, path: str) -> bool:
        if self.allow and not any(fnmatch.fnmatch(path, p) for p in self.allow):
            return False
        return not any(fnmatch.fnmatch(path, p) for p in self.ignore)

    def list_files(self) -> list[FileEntry]:
        from huggingface_hub.hf_api import RepoFile

        sha = self.resolve()
        out = []
        for item in self.api.list_repo_tree(self.repo_id, revision=sha, recursive=True):
            if not isinstance(item, RepoFile) or not self._wanted(item.path):
                continue
            lfs_sha = item.lfs.sha256 if item.lfs else None
            out.append(FileEntry(item.path, int(item.size), lfs_sha))
        return sorted(out, key=lambda f: f.path)

    def refusals(self) -> list[str]:
        return []

    def digests(self, files: list[FileEntry]) -> list[FileEntry]:
        return files  # the upstream's published sha256 where it has one; the upload hashes the rest

    def open(self, path: str) -> BinaryIO:
        """A streaming HTTP body for ``path`` at the resolved commit."""
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session

        url = hf_hub_url(self.repo_id, path, revision=self.resolve(), endpoint=self.endpoint)
        session = get_session()
        req = session.build_request("GET", url, headers=build_hf_headers(token=self._token), timeout=60)
        import httpx

        try:
            resp = session.send(req, stream=True, follow_redirects=True)
        except (OSError, httpx.HTTPError) as exc:
            raise HubUnavailable(f"{self.repo_id}/{path}: hub unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            resp.close()
            kind = NotFound if resp.status_code in (401, 403, 404) else HubUnavailable
            raise kind(f"{self.repo_id}/{path}: HTTP {resp.status_code} from the hub")
        return cast(BinaryIO, _Body(resp))

    def read_text(self, path: str, limit: int = 1 << 20) -> str | None:
        try:
            with self.open(path) as fh:
                return fh.read(limit).decode("utf-8", "replace")
        except NotFound:
            return None


class _Body:
    """Adapts a streamed httpx response to a binary file object."""

    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self._it, self._buf = iter(resp.iter_bytes(1 << 20)), b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def close(self) -> None:
        self.resp.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
