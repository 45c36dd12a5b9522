"""The one "auto" rule: which transport a message goes by when the user lets
the program choose.

Chat when the account has a chat connection and every person the message is
for has a JID and is available now; email otherwise (email is stored by the
server, so it reaches people who are away). Every front end that offers
"auto" (a reply, a new message, the CLI's `--via auto`) asks this function,
through the engine, and nothing else decides it.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model import Availability
from ..ports import ChatPort

VIAS = ("email", "im", "auto")


def auto_via(chat: ChatPort | None, jids: Sequence[str | None]) -> str:
    """"im" or "email" for a message to `jids` (None: someone without a JID)."""
    if chat is None or not jids or any(not j for j in jids):
        return "email"
    ok = all(chat.availability(j).availability is Availability.AVAILABLE for j in jids if j)
    return "im" if ok else "email"
