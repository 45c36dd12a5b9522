"""The OMEMO layer's small pieces that are not the layer (bridge/xmpp/omemo.py):
the flock that lets one process hold an account's keys, what an OMEMO message
is without python-omemo's stack (which one, empty or not), and what
python-omemo's exceptions mean, in words naming who and why.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO
from xml.etree import ElementTree as ET

from ..model import Message
from .stanzas import q

NS_OLDMEMO = "eu.siacs.conversations.axolotl"
NS_TWOMEMO = "urn:xmpp:omemo:2"

# Why a process cannot seal or open lines: another one holds the keys (the
# start of the reason a line stored unopened keeps, which marks it for the
# holder to open: bridge/xmpp/omemo.py).
HELD_ELSEWHERE = "another tuiclient process (the app, or `serve`) holds this account's OMEMO keys"


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


def omemo_element(xml: ET.Element) -> ET.Element | None:
    """The OMEMO payload of a message, either version, or None."""
    found = xml.find(q(NS_TWOMEMO, "encrypted"))
    return found if found is not None else xml.find(q(NS_OLDMEMO, "encrypted"))


def omemo_empty(xml: ET.Element) -> bool:
    """An empty OMEMO message: key material and no content, which OMEMO clients
    send to complete a key exchange or keep a session fresh (python-omemo's
    `__send_empty_message`); never a line, whoever reads it.

    python-omemo's own definition (`omemo.message.Content.empty`), as its
    parsers decide it: `oldmemo.etree.parse_message` makes
    `ContentImpl.make_empty()` when the <encrypted> has no <payload> or its
    <header> no <iv>, `twomemo.etree.parse_message` when it has no <payload>
    (twomemo takes precedence when a message has both, as slixmpp-omemo's
    `decrypt_message` does). Read here from the element rather than through
    those parsers: the oldmemo one needs a session manager, which only the
    process holding the keys has, and both load the 34 MiB stack a process
    without the keys never needs (tests/test_omemo_archive.py checks this
    against the libraries' own serialized messages)."""
    two = xml.find(q(NS_TWOMEMO, "encrypted"))
    if two is not None:
        return two.find(q(NS_TWOMEMO, "payload")) is None
    old = xml.find(q(NS_OLDMEMO, "encrypted"))
    if old is None:
        return False
    return old.find(q(NS_OLDMEMO, "payload")) is None or \
        old.find(f"{q(NS_OLDMEMO, 'header')}/{q(NS_OLDMEMO, 'iv')}") is None


def left_for_holder(row: Message) -> bool:
    """A line a process without the keys stored unopened (labelled), for the
    one holding them to open."""
    return row.crypto is not None and row.crypto.omemo and not row.crypto.decrypted \
        and row.crypto.error.startswith(HELD_ELSEWHERE)


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
