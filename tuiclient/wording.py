"""The engine's words made plain for people: no internal ids or state names.

The engine words its own errors for people ("your chat message to bob@… is
already sent by email instead: there is nothing left to cancel"); what remains
for this module are log lines written before it did, and kept in the store for
good ("outbox item 7 is fell-back-to-email"), and the state names of the outbox
log: a toast or a screen says them in the words a user reads.
"""

from __future__ import annotations

import re

STATES = {
    "queued": "waiting to be sent",
    "deferred": "held back until they are available",
    "sending": "being sent",
    "fell-back-to-email": "sent by email instead",
    "fell-back-to-im": "sent by chat instead",
}
_ITEM = re.compile(r"\b(?:no )?outbox item \d+")
_STATE = re.compile(r"\b(fell-back-to-email|fell-back-to-im)\b")


def plain(text: str) -> str:
    """`text` without outbox row numbers and with state names in words."""
    text = _ITEM.sub(lambda m: "no such message" if m.group(0).startswith("no ")
                     else "this message", text)
    return _STATE.sub(lambda m: STATES[m.group(1)], text)


def sentence(text: str) -> str:
    """`plain(text)`, starting with a capital."""
    text = plain(text)
    return text[:1].upper() + text[1:]


def state(word: str) -> str:
    """One state (an outbox log's event), in words."""
    return STATES.get(word, word)
