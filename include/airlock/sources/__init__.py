"""Where weights come from: the hub, an S3 prefix, a local directory."""

from airlock.sources.base import Source, SourceError

__all__ = ["Source", "SourceError"]
