"""The versions this installation evaluated, kept in a small local file.

Why a file: the ``model_rollback`` form lists them, and a DAG file is parsed
every few seconds, so building the form may not call MLflow or S3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOG = "versions.json"
KEEP = 200


def remember(state_dir: Path, model: str, version: str, digest: str, verdict: str) -> None:
    """Record (or update) one evaluated version; atomic rewrite, newest last."""
    path = state_dir / CATALOG
    rows = [r for r in _read(path) if not (r["model"] == model and r["version"] == version)]
    rows.append({"model": model, "version": version, "digest": digest, "verdict": verdict})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows[-KEEP:], indent=1))
    tmp.replace(path)


def passing_versions(state_dir: Path, limit: int = 20) -> list[str]:
    """Version numbers with a pass verdict, newest last (empty when nothing is recorded)."""
    return [str(r["version"]) for r in _read(state_dir / CATALOG) if r.get("verdict") == "pass"][-limit:]


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return rows if isinstance(rows, list) else []
