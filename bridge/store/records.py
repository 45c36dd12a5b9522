"""The small records the store hands back besides `Message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import DeliveryState, Party, Transport

# Bits of threads.transports: which transports a conversation has used.
TRANSPORT_BITS = {Transport.EMAIL: 1, Transport.XMPP: 2}

# Why a cursor and not just a date: two threads (or messages) can share a date to the
# second, and a page boundary between them would drop one. (date, row id) is unique.
Cursor = tuple[float, int]


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    email: str | None
    jid: str | None


@dataclass(frozen=True, slots=True)
class Folder:
    account: str
    name: str
    role: str | None = None
    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: int | None = None
    unread: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """One conversation of one account, as a list view shows it."""

    id: int
    account: str
    thread_id: str
    subject: str
    first_date: float
    last_date: float
    message_count: int
    unread_count: int
    last_sender: str
    snippet: str
    transports: frozenset[Transport]

    @property
    def cursor(self) -> Cursor:
        """Pass as `before=` to get the page after this thread."""
        return (self.last_date, self.id)


@dataclass(frozen=True, slots=True)
class ContactAddress:
    address: str
    kind: str  # email | jid | both (an address that is both)
    source: str  # config | rule | learned
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    name: str
    addresses: tuple[ContactAddress, ...]

    @property
    def emails(self) -> list[str]:
        return [a.address for a in self.addresses if a.kind in ("email", "both")]

    @property
    def jids(self) -> list[str]:
        return [a.address for a in self.addresses if a.kind in ("jid", "both")]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    msg_id: str
    account: str
    transport: Transport
    state: DeliveryState
    payload: dict[str, Any]
    parties: list[Party]
    created: float
    updated: float
    next_attempt: float | None
    attempts: int
    owner: str | None = None  # the process that holds it (bridge/store/owner.py)


@dataclass(frozen=True, slots=True)
class OutboxLogEntry:
    outbox_id: int
    at: float
    event: str
    detail: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    at: float
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
