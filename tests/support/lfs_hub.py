"""A minimal hub server that publishes LFS sha256s, for integrity fault tests.

Why not olah here: olah serves plain git blobs, so its tree listing carries no
``lfs.sha256`` and no published checksum exists to violate. This server
implements exactly the three documented endpoints ``huggingface_hub`` calls
(revision info, recursive tree with ``lfs.oid``, resolve) and lets a test
publish one sha256 while serving other bytes, or list a hostile file name.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class LfsHub:
    """repos: {repo_id: {"sha": commit, "files": {path: (published_bytes, served_bytes)}}}."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, repo_id: str, files: dict[str, bytes], served: dict[str, bytes] | None = None) -> str:
        """Publish ``files`` (sha256 from these bytes); serve ``served`` instead where given."""
        served = served or {}
        sha = hashlib.sha1(json.dumps(sorted(files), sort_keys=True).encode() + repo_id.encode()).hexdigest()
        self.repos[repo_id] = {"sha": sha, "files": {p: (b, served.get(p, b)) for p, b in files.items()}}
        return sha

    def __enter__(self) -> LfsHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _json(self, obj, code: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self):
                path = unquote(urlparse(self.path).path)
                for repo_id, repo in hub.repos.items():
                    for prefix in (
                        f"/api/models/{repo_id}/revision/",
                        f"/api/models/{repo_id}/tree/",
                        f"/{repo_id}/resolve/",
                    ):
                        if path.startswith(prefix):
                            return prefix, repo_id, repo, path[len(prefix) :]
                return None, None, None, None

            def do_HEAD(self) -> None:
                self.do_GET(head=True)

            def do_GET(self, head: bool = False) -> None:
                prefix, repo_id, repo, rest = self._route()
                if repo is None:
                    return self._json({"error": "Repository not found"}, 404)
                if "/revision/" in prefix:
                    return self._json(
                        {"id": repo_id, "sha": repo["sha"], "siblings": [{"rfilename": p} for p in repo["files"]]}
                    )
                if "/tree/" in prefix:
                    return self._json(
                        [
                            {
                                "type": "file",
                                "oid": hashlib.sha1(pub).hexdigest(),
                                "size": len(pub),
                                "path": p,
                                "lfs": {"oid": hashlib.sha256(pub).hexdigest(), "size": len(pub), "pointerSize": 134},
                            }
                            for p, (pub, _) in repo["files"].items()
                        ]
                    )
                rev, _, fpath = rest.partition("/")
                if fpath not in repo["files"]:
                    return self._json({"error": "Entry not found"}, 404)
                pub, served = repo["files"][fpath]
                self.send_response(200)
                self.send_header("Content-Length", str(len(served)))
                self.send_header("X-Repo-Commit", repo["sha"])
                self.send_header("ETag", f'"{hashlib.sha256(pub).hexdigest()}"')
                self.end_headers()
                if not head:
                    self.wfile.write(served)

        return Handler
