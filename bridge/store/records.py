"""The small records the store hands back besides `Message`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import (  # the read records live in bridge.model; kept importable here
    Contact,
    ContactAddress,
    Cursor,
    Folder,
    OutboxItem,
    OutboxLogEntry,
    SortKey,
    Thread,
    ThreadOrder,
    Transport,
)
from ..record import FrozenRecord, setfield

if TYPE_CHECKING:
    from typing import Any

# Bits of threads.transports: which transports a conversation has used.
TRANSPORT_BITS = {Transport.EMAIL: 1, Transport.XMPP: 2}


class Account(FrozenRecord):
    __slots__ = ("email", "jid", "name")
    name: str
    email: str | None
    jid: str | None

    def __init__(self, name: str, email: str | None, jid: str | None) -> None:
        setfield(self, "name", name)
        setfield(self, "email", email)
        setfield(self, "jid", jid)


class StoredEvent(FrozenRecord):
    __slots__ = ("at", "id", "kind", "payload")
    id: int
    at: float
    kind: str
    payload: dict[str, Any]

    def __init__(self, id: int, at: float, kind: str,
                 payload: dict[str, Any] | None = None) -> None:
        setfield(self, "id", id)
        setfield(self, "at", at)
        setfield(self, "kind", kind)
        setfield(self, "payload", {} if payload is None else payload)


__all__ = ["TRANSPORT_BITS", "Account", "Contact", "ContactAddress", "Cursor", "Folder",
           "OutboxItem", "OutboxLogEntry", "SortKey", "StoredEvent", "Thread", "ThreadOrder"]
