"""The log file: where what the libraries and our own modules log goes.

Python's logging, with no handler set, prints WARNING and above on stderr
(`logging.lastResort`). There it breaks both faces of the app: a headless
command's stderr is its one line (nothing, with --json) that scripts read, and
the app's terminal is its screen. A library's warning with its traceback
(python-omemo's "Couldn't download own bundle" after a first login was cut short)
came out of `send` as 19 lines where one was promised.

So records go to one file per user, `$XDG_STATE_HOME/tuiclient/tuiclient.log`
(0600 in a 0700 folder; past 1 MiB at a start it becomes `tuiclient.log.1`, one
old copy kept), WARNING and above, each one inert (a peer's text can reach a log
line, and the file is read in a terminal). With `TUICLIENT_DEBUG=1` everything
from DEBUG up goes there, and a headless command also prints it on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from .paths import ensure_private_dir, state_dir
from .safe import inert_text

LOG_NAME = "tuiclient.log"
KEEP_BYTES = 1 << 20
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class InertFormatter(logging.Formatter):
    """A record, its traceback included, with nothing a terminal would act on."""

    def format(self, record: logging.LogRecord) -> str:
        return inert_text(super().format(record))


def log_path() -> Path:
    return state_dir() / LOG_NAME


def _open(path: Path) -> logging.Handler:
    ensure_private_dir(path.parent)
    with contextlib.suppress(OSError):
        if path.stat().st_size > KEEP_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    # Made 0600 here: FileHandler would make it with the umask's mode.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    return logging.FileHandler(path, encoding="utf-8", errors="backslashreplace")


def to_file(*, echo: bool = False) -> Path | None:
    """Send the process's log records to the log file (see the module doc);
    `echo`: with TUICLIENT_DEBUG, print them on stderr too (headless). Returns
    the file, or None when it cannot be written (records are then dropped,
    never printed over the screen or into a command's output)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "tuiclient", False)]:
        root.removeHandler(old)  # (a second call in one process: tests)
        old.close()
    debug = bool(os.environ.get("TUICLIENT_DEBUG"))
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    formatter = InertFormatter(FORMAT)
    path = log_path()
    handler: logging.Handler
    try:
        handler = _open(path)
    except OSError:
        handler = logging.NullHandler()
    handlers = [handler]
    if debug and echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    for one in handlers:
        one.setFormatter(formatter)
        setattr(one, "tuiclient", True)  # noqa: B010 (a mark, not a field)
        root.addHandler(one)
    return None if isinstance(handler, logging.NullHandler) else path
