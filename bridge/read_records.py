"""The read records: what the engine hands the front ends besides `Message`.

Frozen values, no behaviour beyond a few derived properties, no protocol in them:
a conversation (`Thread`) and its sort order (`ThreadOrder`), a `Folder`, a
`Contact`, an outbox row (`OutboxItem`) and its log, a contact's availability
(`ContactPresence`), a server's `HealthReport`. bridge.model re-exports them all
(import them from there); records without `dataclasses` (bridge/record.py), since
every command that reads the store defines them.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING

from .record import FrozenRecord, setfield

if TYPE_CHECKING:
    from typing import Any, ClassVar

    from .kinds import DeliveryState, Party, Transport

# Why a cursor and not just a date: two threads (or messages) can share a date to the
# second, and a page boundary between them would drop one. (date, row id) is unique.
Cursor = tuple[float, int]
SortKey = tuple["Any", ...]


class Folder(FrozenRecord):
    """A mail folder of an account, with its IMAP sync state (UIDVALIDITY, UIDNEXT, MODSEQ)."""

    __slots__ = (
        "account",
        "highestmodseq",
        "name",
        "role",
        "total",
        "uidnext",
        "uidvalidity",
        "unread",
    )
    account: str
    name: str
    role: str | None
    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: int | None
    unread: int | None
    total: int | None

    def __init__(self, account: str, name: str, role: str | None = None,
                 uidvalidity: int | None = None, uidnext: int | None = None,
                 highestmodseq: int | None = None, unread: int | None = None,
                 total: int | None = None) -> None:
        setfield(self, "account", account)
        setfield(self, "name", name)
        setfield(self, "role", role)
        setfield(self, "uidvalidity", uidvalidity)
        setfield(self, "uidnext", uidnext)
        setfield(self, "highestmodseq", highestmodseq)
        setfield(self, "unread", unread)
        setfield(self, "total", total)


class Thread(FrozenRecord):
    """One conversation of one account, as a list view shows it. Its last date,
    sender and snippet are its newest message's that is not a draft (drafts only
    when it holds nothing else); `draft_count` says how many of its
    `message_count` messages are drafts (postponed, not sent). A group chat's
    says so where the engine knows its room (`EngineReads.conversations`): `room`
    is the room's JID and `room_name` what names it; "" for every other one (and
    in the store's own rows)."""

    __slots__ = (
        "account",
        "draft_count",
        "first_date",
        "id",
        "last_date",
        "last_sender",
        "message_count",
        "room",
        "room_name",
        "snippet",
        "subject",
        "thread_id",
        "transports",
        "unread_count",
    )
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
    draft_count: int
    room: str
    room_name: str

    def __init__(self, id: int, account: str, thread_id: str, subject: str, first_date: float,
                 last_date: float, message_count: int, unread_count: int, last_sender: str,
                 snippet: str, transports: frozenset[Transport], draft_count: int = 0,
                 room: str = "", room_name: str = "") -> None:
        setfield(self, "id", id)
        setfield(self, "account", account)
        setfield(self, "thread_id", thread_id)
        setfield(self, "subject", subject)
        setfield(self, "first_date", first_date)
        setfield(self, "last_date", last_date)
        setfield(self, "message_count", message_count)
        setfield(self, "unread_count", unread_count)
        setfield(self, "last_sender", last_sender)
        setfield(self, "snippet", snippet)
        setfield(self, "transports", transports)
        setfield(self, "draft_count", draft_count)
        setfield(self, "room", room)
        setfield(self, "room_name", room_name)

    @property
    def cursor(self) -> Cursor:
        """Pass as `before=` to get the page after this thread."""
        return (self.last_date, self.id)


class ContactAddress(FrozenRecord):
    """One address of a contact: an email address or a JID, and where it was learned
    (`kind`: email | jid | both, an address that is both; `source`: config | rule |
    learned)."""

    __slots__ = ("address", "confirmed", "kind", "source")
    address: str
    kind: str
    source: str
    confirmed: bool

    def __init__(self, address: str, kind: str, source: str, confirmed: bool) -> None:
        setfield(self, "address", address)
        setfield(self, "kind", kind)
        setfield(self, "source", source)
        setfield(self, "confirmed", confirmed)


class Contact(FrozenRecord):
    """A person across transports: a name and their addresses."""

    __slots__ = ("addresses", "id", "name")
    id: int
    name: str
    addresses: tuple[ContactAddress, ...]

    def __init__(self, id: int, name: str, addresses: tuple[ContactAddress, ...]) -> None:
        setfield(self, "id", id)
        setfield(self, "name", name)
        setfield(self, "addresses", addresses)

    @property
    def emails(self) -> list[str]:
        return [a.address for a in self.addresses if a.kind in ("email", "both")]

    @property
    def jids(self) -> list[str]:
        return [a.address for a in self.addresses if a.kind in ("jid", "both")]


class OutboxItem(FrozenRecord):
    """A message waiting in the outbox to be sent, with its state; `owner` is the
    process that holds it (bridge/store/owner.py)."""

    __slots__ = (
        "account",
        "attempts",
        "created",
        "id",
        "msg_id",
        "next_attempt",
        "owner",
        "parties",
        "payload",
        "state",
        "transport",
        "updated",
    )
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
    owner: str | None

    def __init__(self, id: int, msg_id: str, account: str, transport: Transport,
                 state: DeliveryState, payload: dict[str, Any], parties: list[Party],
                 created: float, updated: float, next_attempt: float | None, attempts: int,
                 owner: str | None = None) -> None:
        setfield(self, "id", id)
        setfield(self, "msg_id", msg_id)
        setfield(self, "account", account)
        setfield(self, "transport", transport)
        setfield(self, "state", state)
        setfield(self, "payload", payload)
        setfield(self, "parties", parties)
        setfield(self, "created", created)
        setfield(self, "updated", updated)
        setfield(self, "next_attempt", next_attempt)
        setfield(self, "attempts", attempts)
        setfield(self, "owner", owner)


class OutboxLogEntry(FrozenRecord):
    """One step in the life of an outbox row (tried, deferred, sent...)."""

    __slots__ = ("at", "detail", "event", "outbox_id")
    outbox_id: int
    at: float
    event: str
    detail: str

    def __init__(self, outbox_id: int, at: float, event: str, detail: str) -> None:
        setfield(self, "outbox_id", outbox_id)
        setfield(self, "at", at)
        setfield(self, "event", event)
        setfield(self, "detail", detail)


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


class ResourcePresence(FrozenRecord):
    """The presence of one resource (device) of a contact (`show`: "", chat, away,
    xa, dnd)."""

    __slots__ = ("priority", "resource", "show", "status")
    resource: str
    show: str
    status: str
    priority: int

    def __init__(self, resource: str, show: str = "", status: str = "",
                 priority: int = 0) -> None:
        setfield(self, "resource", resource)
        setfield(self, "show", show)
        setfield(self, "status", status)
        setfield(self, "priority", priority)

    @property
    def availability(self) -> Availability:
        return SHOW_AVAILABILITY.get(self.show, Availability.AVAILABLE)


class ContactPresence(FrozenRecord):
    """A contact's availability and the status text ("away message") that goes with it."""

    __slots__ = ("availability", "jid", "resources", "status")
    jid: str
    availability: Availability
    status: str
    resources: tuple[ResourcePresence, ...]

    def __init__(self, jid: str, availability: Availability, status: str = "",
                 resources: tuple[ResourcePresence, ...] = ()) -> None:
        setfield(self, "jid", jid)
        setfield(self, "availability", availability)
        setfield(self, "status", status)
        setfield(self, "resources", resources)


class HealthReport(FrozenRecord):
    """One probe's answer about one server of one account: `service` is imap, smtp
    or xmpp; `push_alive` None when there is no push channel (SMTP, nothing
    running); `clock_skew_s` the server's clock minus ours, None when unknown."""

    __slots__ = (
        "account",
        "checked_at",
        "clock_skew_s",
        "detail",
        "logged_in",
        "push_alive",
        "reachable",
        "rtt_ms",
        "service",
    )
    account: str
    service: str
    reachable: bool
    logged_in: bool
    push_alive: bool | None
    rtt_ms: float | None
    clock_skew_s: float | None
    detail: str
    checked_at: float

    def __init__(self, account: str, service: str, reachable: bool, logged_in: bool,
                 push_alive: bool | None = None, rtt_ms: float | None = None,
                 clock_skew_s: float | None = None, detail: str = "",
                 checked_at: float | None = None) -> None:
        setfield(self, "account", account)
        setfield(self, "service", service)
        setfield(self, "reachable", reachable)
        setfield(self, "logged_in", logged_in)
        setfield(self, "push_alive", push_alive)
        setfield(self, "rtt_ms", rtt_ms)
        setfield(self, "clock_skew_s", clock_skew_s)
        setfield(self, "detail", detail)
        setfield(self, "checked_at", time.time() if checked_at is None else checked_at)

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


# What SQLite's lower() folds (ASCII only), for a Python key that sorts as the SQL does.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class ThreadOrder(FrozenRecord):
    """How a list of conversations is sorted: by `date` of the last message
    (newest first, the default), by `from` (the last sender's name, A to Z, then
    newest first), or `unread` first (then newest first); `reverse` turns the
    whole order around.

    Each order is a tuple of SQL expressions over `threads`, ascending (`sql`),
    and the same tuple in Python (`key`): the store sorts and pages with it
    (keyset: the page after a row is the rows whose key is greater), and a list
    that merges a changed row in puts it where the store would have.
    """

    __slots__ = ("by", "reverse")
    by: str
    reverse: bool

    BY: ClassVar[tuple[str, ...]] = ("date", "from", "unread")
    _SQL: ClassVar[dict[str, tuple[str, ...]]] = {
        "date": ("-last_date", "-id"),
        "from": ("lower(last_sender)", "-last_date", "-id"),
        "unread": ("unread_count = 0", "-last_date", "-id"),
    }

    def __init__(self, by: str = "date", reverse: bool = False) -> None:
        if by not in self.BY:
            raise ValueError(f"sort by date, from or unread; not {by!r}")
        setfield(self, "by", by)
        setfield(self, "reverse", reverse)

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
