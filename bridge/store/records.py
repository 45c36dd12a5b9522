"""The small records the store hands back besides `Message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

# Bits of threads.transports: which transports a conversation has used.
TRANSPORT_BITS = {Transport.EMAIL: 1, Transport.XMPP: 2}


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    email: str | None
    jid: str | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    at: float
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


__all__ = ["TRANSPORT_BITS", "Account", "Contact", "ContactAddress", "Cursor", "Folder",
           "OutboxItem", "OutboxLogEntry", "SortKey", "StoredEvent", "Thread", "ThreadOrder"]
