"""The answers an action can get besides success, in one place.

`EngineError` (cannot, and why; `EncryptionRefused` is one kind), `ContactAway` (they
are away: send anyway, defer, or email?); the third, `UnmappedParty` (who is X on
that transport?), is bridge.identity's. Their own module, so that the parts behind
the engine (ports, policy) raise what the front ends catch without importing the
engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Availability, ContactPresence

# What a chat to someone not available does: ask first, send anyway, keep it
# deferred until they are available, or send it by email instead.
WHEN_AWAY = ("ask", "send", "defer", "email")


class EngineError(Exception):
    """An action the engine cannot do as asked; the message says why."""


class ContactAway(Exception):
    """The contact is not available: the caller chooses send / defer / email."""

    def __init__(self, presences: Sequence[ContactPresence]) -> None:
        self.presences = list(presences)
        super().__init__("; ".join(describe_presence(p) for p in presences)
                         + ". Send anyway, defer, or send by email?")


def describe_presence(p: ContactPresence) -> str:
    what = {Availability.AWAY: "away", Availability.BUSY: "busy (do not disturb)",
            Availability.OFFLINE: "offline", Availability.UNKNOWN:
            "of unknown availability (no presence subscription)",
            Availability.BLOCKED: "blocked or refusing messages",
            Availability.AVAILABLE: "available"}[p.availability]
    return f"{p.jid} is {what}" + (f": {p.status}" if p.status else "")


class EncryptionRefused(EngineError):
    """Encryption was asked for and cannot be done (someone has no key, or the
    transport cannot be encrypted yet): nothing was sent, in clear or otherwise.
    `missing` names whom it could not be encrypted to; headless mode exits with
    its own code (bridge.headless.outcome.EXIT_ENCRYPTION)."""

    def __init__(self, reason: str, missing: Sequence[str] = ()) -> None:
        self.missing = list(missing)
        super().__init__(reason)
