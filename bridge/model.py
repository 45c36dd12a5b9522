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
The read records are defined in bridge.read_records and imported from here; the
modules that made them first (bridge.store.records, bridge.xmpp.availability,
bridge.health) re-export them, so older imports keep working. None of these is a
`@dataclass` (bridge/record.py says why), but `dataclasses.replace`, `asdict` and
`fields` work on them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .kinds import PARTY_ROLES, DeliveryState, Direction, Party, Transport
from .read_records import (  # defined there, imported from here
    SHOW_AVAILABILITY,
    Availability,
    Contact,
    ContactAddress,
    ContactPresence,
    Cursor,
    Folder,
    HealthReport,
    OutboxItem,
    OutboxLogEntry,
    ResourcePresence,
    SortKey,
    Thread,
    ThreadOrder,
)
from .record import FrozenRecord, Record, setfield

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .crypto.status import CryptoStatus


# Flags use the IMAP system flag names for both transports, so "read" means one
# thing everywhere; the XMPP layer sets SEEN when a chat line has been displayed.
SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DRAFT = "\\Draft"

# The first words of the digest of earlier messages that a handoff sends ahead of
# the new text into a chat (bridge.handoff.text.chat_digest): the store tells our
# own digest by them (bridge.store.once), as the views tell any one.
HISTORY_HEAD = "── Earlier in this conversation"


class Attachment(FrozenRecord):
    """A file of a message; its bytes live in the store's blob directory by sha256.

    `part_id` is the MIME part (e.g. "2.1") of an email attachment that has not been
    downloaded yet; `url` is where a chat attachment was uploaded (XEP-0363).
    """

    __slots__ = ("content_type", "filename", "part_id", "sha256", "size", "url")
    filename: str
    content_type: str
    size: int
    sha256: str | None
    part_id: str | None
    url: str | None

    def __init__(self, filename: str, content_type: str, size: int, sha256: str | None = None,
                 part_id: str | None = None, url: str | None = None) -> None:
        setfield(self, "filename", filename)
        setfield(self, "content_type", content_type)
        setfield(self, "size", size)
        setfield(self, "sha256", sha256)
        setfield(self, "part_id", part_id)
        setfield(self, "url", url)


class Message(Record):
    """One email or chat line, as the store keeps it and the screens show it.

    Its fields, besides the obvious: `folder`, `uid`, `message_id_header` and
    `references` are email coordinates (None or empty for chat lines), and
    `in_reply_to` too, but a chat line that answers another (XEP-0461) uses it for
    the line it answers; `stanza_id` and `origin_id` are the XMPP coordinates
    (XEP-0359: the server's stanza-id, the sender's origin-id) and `attr_id` the
    'id' attribute of a received <message> (markers and receipts quote it);
    `digest` is the sha256 of an email's raw bytes where they were seen (two emails
    that share a Message-ID are one message only when these match); `edited` and
    `retracted` say when a chat line's last correction replaced its text and when
    its sender retracted it (XEP-0308, XEP-0424); `crypto` is the end-to-end
    protection found when the message was opened (bridge.crypto), None for a
    message that had none or was not opened yet.
    """

    __slots__ = (
        "account",
        "attachments",
        "attr_id",
        "crypto",
        "date",
        "delivery",
        "digest",
        "direction",
        "edited",
        "flags",
        "folder",
        "id",
        "in_reply_to",
        "malformed",
        "message_id_header",
        "msg_id",
        "origin_id",
        "raw",
        "recipients",
        "references",
        "retracted",
        "sender",
        "stanza_id",
        "subject",
        "text",
        "thread_id",
        "transport",
        "uid",
    )
    msg_id: str
    account: str
    transport: Transport
    direction: Direction
    thread_id: str
    date: float
    sender: Party
    recipients: list[Party]
    subject: str
    text: str
    folder: str | None
    uid: int | None
    message_id_header: str | None
    in_reply_to: str | None
    references: list[str]
    stanza_id: str | None
    origin_id: str | None
    attr_id: str | None
    flags: set[str]
    delivery: DeliveryState | None
    attachments: list[Attachment]
    malformed: bool
    raw: bytes | None
    id: int | None
    digest: str | None
    edited: float | None
    retracted: float | None
    crypto: CryptoStatus | None

    def __init__(
        self, msg_id: str, account: str, transport: Transport | str,
        direction: Direction | str, thread_id: str, date: float, sender: Party,
        recipients: list[Party] | None = None, subject: str = "", text: str = "",
        folder: str | None = None, uid: int | None = None,
        message_id_header: str | None = None, in_reply_to: str | None = None,
        references: list[str] | None = None, stanza_id: str | None = None,
        origin_id: str | None = None, attr_id: str | None = None,
        flags: Iterable[str] | None = None, delivery: DeliveryState | str | None = None,
        attachments: list[Attachment] | None = None, malformed: bool = False,
        raw: bytes | None = None, id: int | None = None,
        digest: str | None = None, edited: float | None = None,
        retracted: float | None = None, crypto: CryptoStatus | None = None,
    ) -> None:
        self.msg_id = msg_id
        self.account = account
        # Callers (and JSON round-trips) hand in plain strings; coercing here means
        # a typo fails at construction instead of being stored.
        self.transport = Transport(transport)
        self.direction = Direction(direction)
        self.thread_id = thread_id
        self.date = date
        self.sender = sender
        self.recipients = [] if recipients is None else recipients
        self.subject = subject
        self.text = text
        self.folder = folder
        self.uid = uid
        self.message_id_header = message_id_header
        self.in_reply_to = in_reply_to
        self.references = [] if references is None else references
        self.stanza_id = stanza_id
        self.origin_id = origin_id
        self.attr_id = attr_id
        self.flags = flags if isinstance(flags, set) else set(flags or ())
        self.delivery = None if delivery is None else DeliveryState(delivery)
        self.attachments = [] if attachments is None else attachments
        self.malformed = malformed
        self.raw = raw
        self.id = id
        self.digest = digest
        self.edited = edited
        self.retracted = retracted
        self.crypto = crypto

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


class EmailHeaders(Record):
    """What header sync learns of one email: enough for the lists, not the body.

    Kept apart from `Message` because a cold sync makes 100,000 of these and
    stores them in bulk; the body and attachments come later, on demand.
    """

    __slots__ = (
        "date",
        "direction",
        "flags",
        "has_attachment",
        "in_reply_to",
        "malformed",
        "message_id_header",
        "msg_id",
        "recipients",
        "references",
        "sender",
        "size",
        "subject",
        "thread_id",
        "uid",
    )
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
    size: int
    has_attachment: bool
    direction: Direction
    malformed: bool

    def __init__(
        self, uid: int, msg_id: str, thread_id: str, date: float, sender: Party,
        recipients: list[Party], subject: str, message_id_header: str | None,
        in_reply_to: str | None, references: list[str], flags: frozenset[str],
        size: int = 0, has_attachment: bool = False, direction: Direction = Direction.IN,
        malformed: bool = False,
    ) -> None:
        self.uid = uid
        self.msg_id = msg_id
        self.thread_id = thread_id
        self.date = date
        self.sender = sender
        self.recipients = recipients
        self.subject = subject
        self.message_id_header = message_id_header
        self.in_reply_to = in_reply_to
        self.references = references
        self.flags = flags
        self.size = size
        self.has_attachment = has_attachment
        self.direction = direction
        self.malformed = malformed


class ImPlan(Record):
    """One chat leg of a reply: who, in which conversation, with what.

    Every message id is chosen here, before anything is sent, so the outbox can
    resend the very same stanzas after a crash and receivers drop the copies.
    `to` is a bare JID, or the room's JID when `room` is set; `invite` the room
    members to add and invite; `files` name, type, sha256 and id of each file;
    `reply` a reply to a line (XEP-0461): to, id (as the wire names the line),
    quote, nick (a room line's author), name (for an email's attribution), line
    (its msg_id here, the new line's in_reply_to); with `encrypt` its chat lines go
    OMEMO-encrypted or not at all (bridge/xmpp/omemo.py).
    """

    __slots__ = (
        "account",
        "encrypt",
        "files",
        "history",
        "history_id",
        "invite",
        "msg_id",
        "reply",
        "room",
        "room_name",
        "text",
        "thread_id",
        "to",
    )
    account: str
    to: str
    thread_id: str
    text: str
    msg_id: str
    room: bool
    invite: list[str]
    room_name: str
    history: str | None
    history_id: str | None
    files: list[dict[str, str | int]]
    reply: dict[str, str] | None
    encrypt: bool

    def __init__(
        self, account: str, to: str, thread_id: str, text: str, msg_id: str,
        room: bool = False, invite: list[str] | None = None, room_name: str = "",
        history: str | None = None, history_id: str | None = None,
        files: list[dict[str, str | int]] | None = None,
        reply: dict[str, str] | None = None, encrypt: bool = False,
    ) -> None:
        self.account = account
        self.to = to
        self.thread_id = thread_id
        self.text = text
        self.msg_id = msg_id
        self.room = room
        self.invite = [] if invite is None else invite
        self.room_name = room_name
        self.history = history
        self.history_id = history_id
        self.files = [] if files is None else files
        self.reply = reply
        self.encrypt = encrypt

    @property
    def file_only(self) -> bool:
        """A leg of files and no words (`/sendfile`): the first file goes under
        the leg's own msg_id, as its line, with no empty line before it."""
        return not self.text.strip() and bool(self.files) and \
            str(self.files[0].get("id", "")) == self.msg_id

    def add_file(self, name: str, content_type: str, sha256: str, size: int,
                 new_id: str) -> None:
        """One more file to send (its bytes in the store's blobs); the first of
        a leg with no words takes the leg's msg_id (`file_only`)."""
        first = not self.files and not self.text.strip()
        self.files.append({"name": name, "type": content_type, "sha256": sha256,
                           "size": size, "id": self.msg_id if first else new_id})

    def to_payload(self) -> dict:
        return self.asdict()

    @classmethod
    def from_payload(cls, payload: dict) -> ImPlan:
        return cls(**{k: payload[k] for k in cls._fields if k in payload})


# Chats with no email behind them: the same two people get the same thread id on
# every device and after every restart (DESIGN: threads across transports).
_THREAD_NAMESPACE = "5f0c8f7e-3d8a-4a43-9a55-6a0c1b9c2e11"  # a UUID


def default_thread_id(own_bare: str, peer_bare: str) -> str:
    """The conversation id of a chat with `peer` when no <thread> names one."""
    name = f"{own_bare.lower()}|{peer_bare.lower()}"
    domain = own_bare.rpartition("@")[2] or "xmpp.invalid"
    import uuid

    return f"{uuid.uuid5(uuid.UUID(_THREAD_NAMESPACE), name).hex}@{domain}"


__all__ = [
    "ANSWERED", "CLAIM_PREFIX", "DRAFT", "FLAGGED", "HISTORY_HEAD", "PARTY_ROLES", "SEEN",
    "SHOW_AVAILABILITY",
    "Attachment", "Availability", "Contact", "ContactAddress", "ContactPresence", "Cursor",
    "DeliveryState", "Direction", "EmailHeaders", "Folder", "HealthReport", "ImPlan",
    "Message", "OutboxItem", "OutboxLogEntry", "Party", "Record", "ResourcePresence", "SortKey",
    "Thread", "ThreadOrder", "Transport", "claimed_thread_id", "default_thread_id",
    "new_message_id", "normalize_message_id", "parse_message_ids", "thread_id_for_email",
]
