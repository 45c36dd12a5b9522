"""The one message model for both transports, and the read records around it.

An email and a chat line are the same `Message`: code above the transports reads
its parties, thread, text, attachments and delivery state, and only the transport
layers look at the protocol ids (folder/uid/Message-ID for email, stanza-id and
origin-id for XMPP).

Message ids are kept bare, without angle brackets: `new_message_id()` makes
`"<32 hex>@domain"` minus the brackets. The bare form is what XMPP carries as
origin-id (XEP-0359) and `<thread>` (XEP-0201); the email layer wraps it in `<>`
when it writes Message-ID, In-Reply-To and References. Keeping one spelling in the
store means the same message seen through both transports compares equal.

Besides `Message`, this module holds every value the front ends read: a
conversation (`Thread`), a `Folder`, a `Contact`, an outbox row (`OutboxItem`) and
its log, a contact's availability (`ContactPresence`), a server's `HealthReport`.
The modules that made them first (bridge.store.records, bridge.xmpp.availability,
bridge.health) re-export them, so older imports keep working.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from .crypto.status import CryptoStatus


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
    """One email or chat line, as the store keeps it and the screens show it."""

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
    # Email coordinates: None for chat lines (but in_reply_to, which a chat line
    # that answers another, XEP-0461, uses for the line it answers).
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
    # End-to-end protection as found when the message was opened (bridge.crypto):
    # None for a message that had none, or that was not opened yet.
    crypto: CryptoStatus | None = None

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
    import uuid  # (where used: uuid imports `platform`, a few ms a process)

    return f"{uuid.uuid4().hex}@{domain}"


CLAIM_PREFIX = "claim."
_CLAIM_NAMESPACE = "0b8a4c67-8f5e-4f0e-9a0e-3c1d2b6f7a21"  # a UUID


def claimed_thread_id(peer: str, claimed: str) -> str:
    """The thread of chat lines from `peer` that name thread `claimed` (XEP-0201)
    while `peer` is no party of it: a thread of their own, the same on every device.

    The line keeps `claimed` in its references, so the store can move the lines
    into `claimed` once `peer` turns out to be a party of it (an email synced
    later), whatever order a store sees them in.
    """
    import uuid

    digest = uuid.uuid5(uuid.UUID(_CLAIM_NAMESPACE), f"{peer.lower()}|{claimed}").hex
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



@dataclass
class ImPlan:
    """One chat leg of a reply: who, in which conversation, with what.

    Every message id is chosen here, before anything is sent, so the outbox can
    resend the very same stanzas after a crash and receivers drop the copies.
    """

    account: str
    to: str  # a bare JID, or the room's JID when `room` is set
    thread_id: str
    text: str
    msg_id: str
    room: bool = False
    invite: list[str] = field(default_factory=list)  # room members to add and invite
    room_name: str = ""
    history: str | None = None
    history_id: str | None = None
    files: list[dict[str, str | int]] = field(default_factory=list)  # name, type, sha256, id
    # A reply to a line (XEP-0461): to, id (as the wire names the line), quote,
    # nick (a room line's author), name (for an email's attribution), line (its
    # msg_id here, the new line's in_reply_to).
    reply: dict[str, str] | None = None
    # Its chat lines go OMEMO-encrypted or not at all (bridge/xmpp/omemo.py).
    encrypt: bool = False

    def to_payload(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_payload(cls, payload: dict) -> ImPlan:
        return cls(**{k: payload[k] for k in cls.__dataclass_fields__ if k in payload})


# -- read records -------------------------------------------------------------------
# What the engine hands the front ends: frozen values, no behaviour beyond a few
# derived properties, no protocol in them.

# Why a cursor and not just a date: two threads (or messages) can share a date to the
# second, and a page boundary between them would drop one. (date, row id) is unique.
Cursor = tuple[float, int]


@dataclass(frozen=True, slots=True)
class Folder:
    """A mail folder of an account, with its IMAP sync state (UIDVALIDITY, UIDNEXT, MODSEQ)."""

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
    """One address of a contact: an email address or a JID, and where it was learned."""

    address: str
    kind: str  # email | jid | both (an address that is both)
    source: str  # config | rule | learned
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Contact:
    """A person across transports: a name and their addresses."""

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
    """A message waiting in the outbox to be sent, with its state."""

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
    """One step in the life of an outbox row (tried, deferred, sent...)."""

    outbox_id: int
    at: float
    event: str
    detail: str


class Availability(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    BUSY = "busy"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no presence subscription: we cannot know
    BLOCKED = "blocked"  # we block them, or a send to them was refused


# show values of RFC 6121 (and "" for plain available) mapped to what a user decides on.
SHOW_AVAILABILITY = {
    "": Availability.AVAILABLE,
    "chat": Availability.AVAILABLE,
    "away": Availability.AWAY,
    "xa": Availability.AWAY,
    "dnd": Availability.BUSY,
}


@dataclass(frozen=True)
class ResourcePresence:
    """The presence of one resource (device) of a contact."""

    resource: str
    show: str = ""  # "", chat, away, xa, dnd
    status: str = ""
    priority: int = 0

    @property
    def availability(self) -> Availability:
        return SHOW_AVAILABILITY.get(self.show, Availability.AVAILABLE)


@dataclass(frozen=True)
class ContactPresence:
    """A contact's availability and the status text ("away message") that goes with it."""

    jid: str
    availability: Availability
    status: str = ""
    resources: tuple[ResourcePresence, ...] = ()


@dataclass(frozen=True)
class HealthReport:
    """One probe's answer about one server of one account."""

    account: str
    service: str  # imap | smtp | xmpp
    reachable: bool
    logged_in: bool
    push_alive: bool | None = None  # None: no push channel here (SMTP, nothing running)
    rtt_ms: float | None = None
    clock_skew_s: float | None = None  # server minus local; None when unknown
    detail: str = ""
    checked_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.reachable and self.logged_in and self.push_alive is not False

    @classmethod
    def failed(cls, account: str, service: str, exc: BaseException, started: float, *,
               secret: bool = False) -> HealthReport:
        """The report of a probe that could not log in: reachable when the server
        refused the login, not when it (or the password, `secret`) was missing."""
        text = str(exc)
        refused = "login refused" in text or "authentication" in text.lower()
        return cls(account, service, reachable=refused and not secret, logged_in=False,
                   detail=text, checked_at=started)

    def summary(self) -> str:
        """One line for people: what works, the figures, and the detail."""
        if not self.reachable:
            state = "unreachable"
        elif not self.logged_in:
            state = "login failed"
        elif self.push_alive is False:
            state = "push stalled"
        else:
            state = "ok"
        parts = [state]
        if self.rtt_ms is not None:
            parts.append(f"rtt {self.rtt_ms:.0f} ms")
        if self.clock_skew_s is not None:
            parts.append(f"clock {self.clock_skew_s:+.1f} s")
        elif self.ok and self.service != "smtp":
            parts.append("clock unknown")
        if self.push_alive is not None:
            parts.append("push alive" if self.push_alive else "push dead")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


# Chats with no email behind them: the same two people get the same thread id on
# every device and after every restart (DESIGN: threads across transports).
_THREAD_NAMESPACE = "5f0c8f7e-3d8a-4a43-9a55-6a0c1b9c2e11"  # a UUID


def default_thread_id(own_bare: str, peer_bare: str) -> str:
    """The conversation id of a chat with `peer` when no <thread> names one."""
    name = f"{own_bare.lower()}|{peer_bare.lower()}"
    domain = own_bare.rpartition("@")[2] or "xmpp.invalid"
    import uuid

    return f"{uuid.uuid5(uuid.UUID(_THREAD_NAMESPACE), name).hex}@{domain}"


# What SQLite's lower() folds (ASCII only), for a Python key that sorts as the SQL does.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

SortKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ThreadOrder:
    """How a list of conversations is sorted: by `date` of the last message
    (newest first, the default), by `from` (the last sender's name, A to Z, then
    newest first), or `unread` first (then newest first); `reverse` turns the
    whole order around.

    Each order is a tuple of SQL expressions over `threads`, ascending (`sql`),
    and the same tuple in Python (`key`): the store sorts and pages with it
    (keyset: the page after a row is the rows whose key is greater), and a list
    that merges a changed row in puts it where the store would have.
    """

    by: str = "date"
    reverse: bool = False

    BY: ClassVar[tuple[str, ...]] = ("date", "from", "unread")
    _SQL: ClassVar[dict[str, tuple[str, ...]]] = {
        "date": ("-last_date", "-id"),
        "from": ("lower(last_sender)", "-last_date", "-id"),
        "unread": ("unread_count = 0", "-last_date", "-id"),
    }

    def __post_init__(self) -> None:
        if self.by not in self.BY:
            raise ValueError(f"sort by date, from or unread; not {self.by!r}")

    @property
    def sql(self) -> tuple[str, ...]:
        return self._SQL[self.by]

    @property
    def default(self) -> bool:
        return self.by == "date" and not self.reverse

    def page_after(self, t: Thread) -> Cursor | SortKey:
        """What to pass as `before=` for the page after `t`: its cursor in the
        default order (the store's index path), its sort key in the others."""
        return t.cursor if self.default else self.key(t)

    def key(self, t: Thread) -> SortKey:
        """What the list is sorted on, ascending (`reverse` is the caller's `<`)."""
        tail = (-t.last_date, -t.id)
        if self.by == "from":
            return (t.last_sender.translate(_ASCII_LOWER), *tail)
        if self.by == "unread":
            return (int(t.unread_count == 0), *tail)
        return tail

    def before(self, a: Thread, b: Thread) -> bool:
        """Whether `a` comes before `b` in this order."""
        return self.key(b) < self.key(a) if self.reverse else self.key(a) < self.key(b)

    @property
    def label(self) -> str:
        """For a title: "" for the default order, else `sorted: from ↑`."""
        if self.by == "date" and not self.reverse:
            return ""
        word = {"date": "date", "from": "sender", "unread": "unread first"}[self.by]
        return f"sorted: {word}{' (reversed)' if self.reverse else ''}"
