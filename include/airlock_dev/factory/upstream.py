"""Publish a factory variant as an upstream intake can fetch.

* :func:`publish_git` commits it to a local git repository laid out for the
  olah hub mirror (``mirrors/models/ORG/NAME``), so intake talks to a real
  Hugging Face-compatible server through real huggingface_hub.
* :func:`publish_dir` copies it to a plain directory (the ``local`` source).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from airlock_dev.factory.tinymodel import published_files

GIT_ENV = {
    "GIT_AUTHOR_NAME": "airlock-factory",
    "GIT_AUTHOR_EMAIL": "factory@airlock.invalid",
    "GIT_COMMITTER_NAME": "airlock-factory",
    "GIT_COMMITTER_EMAIL": "factory@airlock.invalid",
}


def _git(repo: Path, *args: str) -> str:
    import os

    out = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    return out.stdout.strip()


def publish_git(variant_dir: Path, mirrors_root: Path, repo_id: str, branch: str = "main") -> str:
    """Commit the variant's files as model ``repo_id`` on ``branch``; return the commit sha.

    Publishing the same bytes again makes no new commit.
    """
    return commit_tree(variant_dir, mirrors_root / "models" / repo_id, f"publish {variant_dir.name}", branch)


def commit_tree(src: Path, repo: Path, message: str, branch: str = "main") -> str:
    """Make ``repo``'s ``branch`` hold exactly the files of ``src``; return the commit sha."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "-q", "-b", branch)
    else:
        _git(repo, "checkout", "-q", "-B", branch)
    for p in repo.iterdir():
        if p.name != ".git":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for f in published_files(src):
        dest = repo / f.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    _git(repo, "add", "-A")
    if _git(repo, "status", "--porcelain"):
        _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def publish_dir(variant_dir: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in published_files(variant_dir):
        target = dest / f.relative_to(variant_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    return dest
