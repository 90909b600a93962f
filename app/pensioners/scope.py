"""Moved to app.kit.scope; this name stays only while files under another change import it."""

from app.kit.scope import covers, in_region, read_with_region, region_of

__all__ = ["covers", "in_region", "read_with_region", "region_of"]
