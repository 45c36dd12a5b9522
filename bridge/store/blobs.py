"""Content-addressed attachment files beside the database.

A file lives at `attachments/ab/cdef...` named by the sha256 of its bytes, so the
same attachment arriving by email and by chat (or in ten replies) is stored once,
and a row can never point at bytes that changed under it.

`hashlib` and `tempfile` (which brings `shutil`, `random`...) are imported by the
first blob written, not with the store: a command that only reads rows (`list`,
`search`) needs neither (issue 22, row 2).
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        # The name reaches the filesystem, so only a real digest may build a path.
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256; storing it again is a no-op."""
        import hashlib
        import tempfile

        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        # Write aside and rename: a reader (or a crash) never sees half a file, and
        # two writers of the same blob both end with identical complete bytes.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest

    def all_digests(self) -> set[str]:
        found: set[str] = set()
        if not self.root.is_dir():
            return found
        for sub in self.root.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for f in sub.iterdir():
                digest = sub.name + f.name
                if _SHA256.fullmatch(digest):
                    found.add(digest)
        return found

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
