"""Stored biometric files: encrypted storage (`storage`), the check of files against their
records and the re-wrapping of keys (`inventory`), and retention per kind (`retention`)."""

from app.media.storage import (
    MediaDeleted,
    MediaError,
    MediaMissing,
    MediaUnreadable,
    private_response,
    read,
    remove,
    remove_after_commit,
    response,
    store,
    write_atomically,
)

__all__ = [
    "MediaDeleted",
    "MediaError",
    "MediaMissing",
    "MediaUnreadable",
    "private_response",
    "read",
    "remove",
    "remove_after_commit",
    "response",
    "store",
    "write_atomically",
]
