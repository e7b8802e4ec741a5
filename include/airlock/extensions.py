"""Resolve a registered extension (a source kind, a node driver) to its class.

Both registries (:data:`airlock.sources.SOURCES`, :data:`airlock.nodes.DRIVERS`)
map a name to ``"module:Class"``, imported only when used, so a driver's heavy
dependency (the docker SDK, say) is never imported on a host that does not use it.
"""

from __future__ import annotations

import importlib
from typing import Any

from airlock.errors import ConfigError


def load(kind: str, name: str, registry: dict[str, str]) -> Any:
    """The class registered as ``name`` in ``registry`` (``kind`` names it in errors)."""
    spec = registry.get(name)
    if spec is None:
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}")
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)
