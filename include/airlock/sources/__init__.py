"""Where weights come from: the hub, an S3 prefix, a local directory.

``SOURCES`` is the one place a source kind is registered: the intake Param
``source_kind`` names a key, the value is ``"module:Class"`` of a
:class:`~airlock.sources.base.Source` with ``check_location`` and
``from_request``. A new source is one file plus one line here
(docs/extending.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airlock import extensions

if TYPE_CHECKING:
    from airlock.sources.base import SourceType

SOURCES: dict[str, str] = {
    "hub": "airlock.sources.hub:HubSource",
    "s3": "airlock.sources.s3:S3Source",
    "local": "airlock.sources.local:LocalSource",
}


def source_class(kind: str) -> SourceType:
    """The class registered for ``kind`` (ConfigError naming the known kinds otherwise)."""
    cls: SourceType = extensions.load("source kind", kind, SOURCES)
    return cls
