"""Attachment bytes: kept once by content (`BlobStore`), pruned when no row refers to them."""

from __future__ import annotations

import time
from pathlib import Path

from .db import Db


class AttachmentFiles(Db):
    """The store's door to its blob files."""

    def store_blob(self, data: bytes) -> str:
        """Keep an attachment's bytes; returns the sha256 to put in `Attachment`."""
        return self.blobs.put(data)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs.path(sha256)

    def prune_blobs(self, grace_seconds: float = 3600.0) -> int:
        """Remove files no attachment row refers to; returns how many went.

        Files younger than `grace_seconds` stay, since a sync may have stored the
        bytes and not yet committed the message that refers to them.
        """
        with self._lock:
            used = {r[0] for r in self._conn.execute(
                "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IS NOT NULL")}
        cutoff = time.time() - grace_seconds
        removed = 0
        for digest in self.blobs.all_digests() - used:
            path = self.blobs.path(digest)
            try:
                if path.stat().st_mtime <= cutoff:
                    self.blobs.remove(digest)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
