"""The one message model for both transports.

An email and a chat line are the same `Message`: code above the transports reads
its parties, thread, text, attachments and delivery state, and only the transport
layers look at the protocol ids (folder/uid/Message-ID for email, stanza-id and
origin-id for XMPP).

Message ids are kept bare, without angle brackets: `new_message_id()` makes
`"<32 hex>@domain"` minus the brackets. The bare form is what XMPP carries as
origin-id (XEP-0359) and `<thread>` (XEP-0201); the email layer wraps it in `<>`
when it writes Message-ID, In-Reply-To and References. Keeping one spelling in the
store means the same message seen through both transports compares equal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


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

# Flags use the IMAP system flag names for both transports, so "read" means one
# thing everywhere; the XMPP layer sets SEEN when a chat line has been displayed.
SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DRAFT = "\\Draft"


@dataclass(frozen=True, slots=True)
class Party:
    """One person in a message: an email address or a (bare or full) JID."""

    address: str
    name: str = ""
    role: str = "from"

    def __post_init__(self) -> None:
        if self.role not in PARTY_ROLES:
            raise ValueError(f"party role {self.role!r} is not one of {sorted(PARTY_ROLES)}")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file of a message; its bytes live in the store's blob directory by sha256.

    `part_id` is the MIME part (e.g. "2.1") of an email attachment that has not been
    downloaded yet; `url` is where a chat attachment was uploaded (XEP-0363).
    """

    filename: str
    content_type: str
    size: int
    sha256: str | None = None
    part_id: str | None = None
    url: str | None = None


@dataclass(slots=True)
class Message:
    msg_id: str
    account: str
    transport: Transport
    direction: Direction
    thread_id: str
    date: float
    sender: Party
    recipients: list[Party] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    # Email coordinates: None for chat lines.
    folder: str | None = None
    uid: int | None = None
    message_id_header: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    # XMPP coordinates (XEP-0359): the server's stanza-id, the sender's origin-id.
    stanza_id: str | None = None
    origin_id: str | None = None
    # The 'id' attribute of a received <message>: markers and receipts quote it.
    attr_id: str | None = None
    flags: set[str] = field(default_factory=set)
    delivery: DeliveryState | None = None
    attachments: list[Attachment] = field(default_factory=list)
    malformed: bool = False
    raw: bytes | None = None
    id: int | None = None
    # sha256 of an email's raw bytes, where they were seen: two emails that share a
    # Message-ID are one message only when these match.
    digest: str | None = None
    # Chat lines that changed after they came (XEP-0308, XEP-0424): when the last
    # correction replaced the text, and when the sender retracted it (text gone).
    edited: float | None = None
    retracted: float | None = None

    def __post_init__(self) -> None:
        # Callers (and JSON round-trips) hand in plain strings; coercing here means
        # a typo fails at construction instead of being stored.
        self.transport = Transport(self.transport)
        self.direction = Direction(self.direction)
        if self.delivery is not None:
            self.delivery = DeliveryState(self.delivery)
        if not isinstance(self.flags, set):
            self.flags = set(self.flags)

    @property
    def unread(self) -> bool:
        """Whether this counts as unread: our own messages never do."""
        return self.direction is Direction.IN and SEEN not in self.flags


_BRACKETED_ID = re.compile(r"<([^<>]*)>")


def new_message_id(domain: str) -> str:
    """A fresh globally unique message id, `uuid4hex@domain`, without brackets.

    `domain` should be the account's own domain, so the id says nothing about the
    machine it was made on.
    """
    domain = domain.strip()
    if not domain or any(ch in domain for ch in "<>@ \t\r\n"):
        raise ValueError(f"not a usable domain for a message id: {domain!r}")
    return f"{uuid.uuid4().hex}@{domain}"


CLAIM_PREFIX = "claim."
_CLAIM_NAMESPACE = uuid.UUID("0b8a4c67-8f5e-4f0e-9a0e-3c1d2b6f7a21")


def claimed_thread_id(peer: str, claimed: str) -> str:
    """The thread of chat lines from `peer` that name thread `claimed` (XEP-0201)
    while `peer` is no party of it: a thread of their own, the same on every device.

    The line keeps `claimed` in its references, so the store can move the lines
    into `claimed` once `peer` turns out to be a party of it (an email synced
    later), whatever order a store sees them in.
    """
    digest = uuid.uuid5(_CLAIM_NAMESPACE, f"{peer.lower()}|{claimed}").hex
    return f"{CLAIM_PREFIX}{digest}@tuiclient.invalid"


def normalize_message_id(value: str | None) -> str:
    """The bare form of one Message-ID: `" <a@b>\\r\\n"` -> `"a@b"`; "" if none.

    A header with comments or several ids (seen in the wild in In-Reply-To) gives
    its first bracketed id.
    """
    if not value:
        return ""
    match = _BRACKETED_ID.search(value)
    inner = match.group(1) if match else value
    # Folded headers can leave whitespace inside the brackets.
    return "".join(inner.split()).strip("<>")


def parse_message_ids(value: str | Iterable[str] | None) -> list[str]:
    """Every id of a References-like header (or of a list of ids), bare, in order."""
    if not value:
        return []
    if isinstance(value, str):
        found = _BRACKETED_ID.findall(value)
        parts = found if found else value.replace(",", " ").split()
    else:
        parts = list(value)
    ids = (normalize_message_id(part if "<" in part else f"<{part}>") for part in parts)
    return [i for i in ids if i]


def thread_id_for_email(
    message_id: str | None,
    in_reply_to: str | None = None,
    references: str | Iterable[str] | None = None,
) -> str:
    """The thread of an email: the first of References, else In-Reply-To, else itself.

    The first Reference is the root of the chain, so every reply maps to the same id
    even when intermediate messages are missing. Raises ValueError for a message
    with no id at all: the caller should give it one with `new_message_id()`.
    """
    refs = parse_message_ids(references)
    if refs:
        return refs[0]
    parent = normalize_message_id(in_reply_to)
    if parent:
        return parent
    own = normalize_message_id(message_id)
    if own:
        return own
    raise ValueError("email has no Message-ID, In-Reply-To or References to thread it by")


@dataclass(slots=True)
class EmailHeaders:
    """What header sync learns of one email: enough for the lists, not the body.

    Kept apart from `Message` because a cold sync makes 100,000 of these and
    stores them in bulk; the body and attachments come later, on demand.
    """

    uid: int
    msg_id: str
    thread_id: str
    date: float
    sender: Party
    recipients: list[Party]
    subject: str
    message_id_header: str | None
    in_reply_to: str | None
    references: list[str]
    flags: frozenset[str]
    size: int = 0
    has_attachment: bool = False
    direction: Direction = Direction.IN
    malformed: bool = False

