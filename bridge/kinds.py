"""What every record names: the transports, a message's direction, the delivery
states and a message's `Party`. Defined here, below both bridge.model and
bridge.read_records (which name them), so neither imports the other's module to
say what it holds; bridge.model re-exports each name."""

from __future__ import annotations

from enum import StrEnum

from .record import FrozenRecord, setfield


class Transport(StrEnum):
    EMAIL = "email"
    XMPP = "xmpp"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class DeliveryState(StrEnum):
    """Where an outgoing message is; also the outbox row's state."""

    QUEUED = "queued"
    DEFERRED = "deferred"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    CANCELLED = "cancelled"
    FELL_BACK_TO_EMAIL = "fell-back-to-email"
    FELL_BACK_TO_IM = "fell-back-to-im"  # an email whose SMTP server stayed down


PARTY_ROLES = frozenset({"from", "to", "cc", "bcc", "occupant"})


class Party(FrozenRecord):
    """One person in a message: an email address or a (bare or full) JID."""

    __slots__ = ("address", "name", "role")
    address: str
    name: str
    role: str

    def __init__(self, address: str, name: str = "", role: str = "from") -> None:
        if role not in PARTY_ROLES:
            raise ValueError(f"party role {role!r} is not one of {sorted(PARTY_ROLES)}")
        setfield(self, "address", address)
        setfield(self, "name", name)
        setfield(self, "role", role)
