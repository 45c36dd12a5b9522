"""What a headless command ends with: its exit code, its result, its words.

Apart from the commands (bridge.headless.cli) so that whatever runs commands
(the rules daemon, `serve`) can read these without importing the command line.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_NETWORK = 5
EXIT_NOT_DELIVERED = 6
EXIT_DECIDE = 7
EXIT_STORE = 8
# Encryption was asked for and cannot be done (someone has no key): nothing sent.
EXIT_ENCRYPTION = 9

# After SIGTERM/SIGINT, how long the engine may take to say goodbye to the servers.
STOP_GRACE = 1.0


class Outcome:
    """What a command did: its exit code, a result for --json, lines for people.

    A plain class, equal to the dataclass it was (the same constructor, `==` and
    repr): `--help` then needs no `dataclasses` (with `inspect`, a few ms)."""

    __slots__ = ("code", "lines", "result")
    __hash__ = None  # type: ignore[assignment]  # as a dataclass with eq: mutable, unhashable

    def __init__(self, code: int = EXIT_OK, result: Any = None,
                 lines: list[str] | None = None) -> None:
        self.code = code
        self.result = result
        self.lines: list[str] = [] if lines is None else lines

    def __repr__(self) -> str:
        return f"Outcome(code={self.code!r}, result={self.result!r}, lines={self.lines!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Outcome) and other.__class__ is self.__class__:
            return (self.code, self.result, self.lines) == (other.code, other.result,
                                                            other.lines)
        return NotImplemented


class CommandError(Exception):
    def __init__(self, code: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


# SQLite's primary result codes that mean "cannot write here" (extended codes keep
# the primary one in their low byte): READONLY, IOERR, FULL, CANTOPEN.
_SQLITE_NOT_WRITABLE = {8, 10, 13, 14}
_OS_NOT_WRITABLE = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM}


def store_not_writable(exc: BaseException, store: Path) -> str | None:
    """The one line for an error that means the store cannot be written (a full or
    read-only disk, no permission), else None. SQLite says "disk I/O error" for
    several causes; the folder itself is asked which one it is."""
    import sqlite3  # here, not with the module: `--help` needs no SQLite

    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        if not ((code is not None and code & 0xFF in _SQLITE_NOT_WRITABLE)
                or any(w in text for w in ("readonly", "read-only", "disk is full",
                                           "disk i/o error", "unable to open"))):
            return None
        reason = str(exc)
    elif isinstance(exc, OSError) and exc.errno in _OS_NOT_WRITABLE:
        if exc.filename is not None and store.parent not in Path(exc.filename).parents \
                and Path(exc.filename) != store.parent:
            return None  # some other file: not the store's business
        reason = exc.strerror or str(exc)
    else:
        return None
    folder = store.parent
    with contextlib.suppress(OSError):
        st = os.statvfs(folder if folder.exists() else folder.parent)
        if st.f_flag & os.ST_RDONLY:
            reason = "read-only file system"
        elif st.f_bavail * st.f_frsize < 64 * 1024:
            reason = "no space left on the device"
    return f"store not writable: {store}: {reason}"
