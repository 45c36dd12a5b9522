"""Who holds an outbox row: this process, named so that another process on the
same machine can tell whether the holder still runs.

Every process that sends (the app, `serve`, `run`, a one-shot command) claims a
row by compare-and-set before anything goes on the wire, and writes its name
into the row. A row held by a live process is that process's business: nobody
else resends it, requeues it or examines it. A row whose holder is gone (it
exited, or was killed between the claim and the answer) is an orphan, and the
next process to start looks at it: the store is a local SQLite file, so every
holder is on this machine and its liveness can be checked with the kernel.

A process is named by its pid and its start time (from /proc), so a pid that the
kernel has given to a new process since is not taken for the old one.
"""

from __future__ import annotations

import os


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # Field 22 (starttime) counts from the end of the command name, which may hold
    # spaces and parentheses of its own.
    fields = stat.rpartition(b")")[2].split()
    return fields[19].decode() if len(fields) > 19 else ""


def _name(pid: int) -> str:
    return f"{pid}:{_start_time(pid)}"


_ME: tuple[int, str] | None = None


def me() -> str:
    """This process's name as a holder of rows (computed again after a fork)."""
    global _ME
    pid = os.getpid()
    if _ME is None or _ME[0] != pid:
        _ME = (pid, _name(pid))
    return _ME[1]


def alive(owner: str | None) -> bool:
    """Whether the process named `owner` still runs (False for no owner)."""
    if not owner:
        return False
    pid_text, _, started = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return owner == me()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # runs, as another user
    if _zombie(pid):
        return False  # killed, not yet reaped by its parent
    return not started or _start_time(pid) in ("", started)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return False
    return bool(fields) and fields[0] in (b"Z", b"X")
