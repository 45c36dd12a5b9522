"""The OMEMO layer's small pieces that are not the layer (bridge/xmpp/omemo.py):
the flock that lets one process hold an account's keys, and what python-omemo's
exceptions mean, in words naming who and why.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


def hold(lock: Path) -> IO[bytes] | None:
    """The account's OMEMO keys, held by this process (an exclusive flock on a
    file beside them, let go when the process ends), or None when another holds
    them."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    f = open(lock, "ab")  # held open for the client's life
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def refusal(peer: str, exc: Exception) -> str:
    """A refusal from python-omemo's encryption, in words naming who and why."""
    kind = type(exc).__name__
    if kind == "NoEligibleDevices":
        why = "no device of theirs may be encrypted for (none published, or all distrusted)"
    elif kind == "StillUndecided":
        why = "they have a new device you have not verified (`keys list`, then `keys trust`)"
    else:
        why = f"{kind}: {exc}" if str(exc) else kind
    return f"not sent: cannot encrypt to {peer} with OMEMO: {why}"


def unreadable_reason(exc: Exception) -> str:
    kind = type(exc).__name__
    if kind == "MessageNotForUs":
        return "it was not encrypted for this device"
    if kind == "SenderNotFound":
        return "the sending device is unknown"
    return f"{kind}: {exc}" if str(exc) else kind
