"""The engine's events: every small typed record the app and headless mode follow.

Transports and services publish, screens subscribe. Nothing here knows about
Textual. This module is the whole vocabulary between the engine and its front
ends (as aerc's worker/types/messages.go is for aerc): an event defined anywhere
else is a bug. The engine keeps some of them in the store's event log
(`Engine.PERSISTED_EVENTS`), which `tuiclient watch` prints by class name.

Delivery is one idea with one class, `Delivery`: an outgoing message moved on,
on either transport (`transport`), with its outbox row when it has one. Its
three subclasses only say who tells it, and keep the names that `watch`'s output,
the app's toasts and the XMPP client were built on:

- `OutboxChanged`: a chat row of the outbox moved (bridge.delivery);
- `EmailDelivery`: an email row of the outbox moved (bridge.delivery);
- `DeliveryChanged`: the XMPP wire reported on a stanza (ack, receipt, marker,
  error), before or without an outbox row; the delivery state machine turns it
  into a move of the row.

A listener that wants every delivery change matches `Delivery`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import HealthReport


@dataclass(frozen=True)
class Event:
    """What the engine tells the screens and `watch`; `at` is when it happened."""

    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class HealthChanged(Event):
    """One server of one account answered a probe, or failed to."""

    account: str
    service: str  # imap | smtp | xmpp
    ok: bool
    detail: str
    # True when it repeats a health probe's `HealthReported` (bridge.health), which
    # came just before it with the whole report; False when seen in normal use.
    from_probe: bool = False


@dataclass(frozen=True)
class PushRestarted(Event):
    """A push channel (IMAP IDLE, the XMPP stream) went quiet or missed something
    and was restarted; `reason` says what gave it away."""

    account: str
    service: str  # imap | xmpp
    reason: str


@dataclass(frozen=True)
class ClockMeasured(Event):
    """A server's clock was read in normal use (an IMAP APPEND stamped by the
    server): `skew_s` is the server's clock minus ours, in seconds."""

    account: str
    service: str  # imap | xmpp
    skew_s: float


@dataclass(frozen=True)
class HealthReported(Event):
    """A probe's report on one server of one account; `critical` if it is on the
    critical list (probed more often) after this report; `changed` if the server's
    state (`HealthReported.state`) is not what the previous report said (the first
    report of a server is a change)."""

    report: HealthReport
    critical: bool
    changed: bool = True

    @property
    def state(self) -> tuple[bool, bool, bool | None, bool]:
        r = self.report
        return (r.reachable, r.logged_in, r.push_alive, self.critical)


# -- mail ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncProgress(Event):
    """Header sync of a folder moved on: `done` of `total` messages are stored."""

    account: str
    folder: str
    done: int
    total: int
    phase: str  # first-screen | backfill | resync | done


@dataclass(frozen=True)
class FolderChanged(Event):
    """New, changed or vanished messages in a folder after a sync pass."""

    account: str
    folder: str
    new: int
    flags_changed: int
    vanished: int


Listener = Callable[[Event], None]


class EventBus:
    """Fan-out of events to listeners; safe to publish from worker threads.

    Listeners are called in the publishing thread: a UI listener hands the event
    over to its own loop (Textual's `call_from_thread`) rather than touching widgets.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)


# -- XMPP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class XmppConnectionChanged(Event):
    """The XMPP session of an account came up, was resumed, dropped, or is retrying."""

    account: str
    state: str  # online | resumed | disconnected | reconnecting | stopped
    detail: str = ""


@dataclass(frozen=True)
class MessageReceived(Event):
    """A chat message was stored (live, from a carbon copy, or from the archive)."""

    account: str
    row_id: int
    msg_id: str
    thread_id: str
    sender: str
    direction: str  # in | out (out: sent from another of our own clients)
    source: str  # live | carbon | archive


@dataclass(frozen=True)
class Delivery(Event):
    """An outgoing message moved on: queued, deferred, sending, sent, delivered,
    read, failed, cancelled, or moved to the other transport; `detail` says why."""

    account: str
    msg_id: str
    state: str  # a DeliveryState value
    detail: str = ""
    transport: str = field(default="xmpp", kw_only=True)  # email | xmpp
    outbox_id: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class DeliveryChanged(Delivery):
    """The XMPP wire's word on a stanza: acked (sent), delivered, read, or failed."""


@dataclass(frozen=True)
class OutboxChanged(Delivery):
    """A chat row of the outbox moved (one transition of bridge.delivery)."""


@dataclass(frozen=True)
class EmailDelivery(Delivery):
    """An email row of the outbox moved: sent, queued for retry, failed, ..."""

    transport: str = field(default="email", kw_only=True)


@dataclass(frozen=True)
class DeferralRetry(Event):
    """A deferred chat message was tried again; `outcome` says what happened."""

    account: str
    outbox_id: int
    msg_id: str
    attempt: int
    outcome: str  # "still away: In meetings", "available: sending", ...
    next_in: float | None  # seconds to the next scheduled try, None if none


@dataclass(frozen=True)
class PresenceChanged(Event):
    """A contact's availability or status message changed."""

    account: str
    jid: str
    availability: str  # available | away | busy | offline | unknown | blocked
    status: str = ""


@dataclass(frozen=True)
class RosterChanged(Event):
    """A contact was added to the roster, removed, or its subscription changed."""

    account: str
    jid: str
    subscription: str  # none | to | from | both | remove


@dataclass(frozen=True)
class SubscriptionRequest(Event):
    """Someone asks to see our presence: answer with approve or deny."""

    account: str
    jid: str


@dataclass(frozen=True)
class RoomInvitation(Event):
    """Someone invited us to a group chat (a MUC room)."""

    account: str
    room: str
    inviter: str
    reason: str = ""
    password: str = ""
    direct: bool = False  # XEP-0249 (True) or mediated by the room (False)


@dataclass(frozen=True)
class RoomOccupantsChanged(Event):
    """Someone came into a room we are in, left it, or changed role or presence
    there (or we left it); read its occupants again. Never stored."""

    account: str
    room: str


@dataclass(frozen=True)
class RoomSubjectChanged(Event):
    """A room we are in told its subject (on joining) or someone changed it."""

    account: str
    room: str
    subject: str
    by: str = ""  # the occupant's nick, when the room names one


@dataclass(frozen=True)
class RoomHappened(Event):
    """Something happened in a room we are in that its timeline shows between
    the lines (as Profanity and Poezio show it in the room's window): someone
    came in or left, was kicked or banned (by whom, why), took another nick, or
    changed the topic. Kept in the store's event log (`Engine.room_events` reads
    a room's back), never a message: no count, unread or preview sees it.

    `what`: joined | left | kicked | banned | nick | topic. `nick` is whom it is
    about (the old nick for `nick`, whoever set it for `topic`), `ours` when that
    is us; `by` the moderator who did it (kicked, banned), `reason` their words
    (or a leaver's status), `new` the new nick or the new topic."""

    account: str
    room: str
    what: str
    nick: str
    by: str = ""
    reason: str = ""
    new: str = ""
    ours: bool = False


@dataclass(frozen=True)
class ChatStateChanged(Event):
    """A contact is typing, paused, or left the chat (XEP-0085); never stored."""

    account: str
    jid: str
    state: str  # active | composing | paused | inactive | gone


# -- mail triage --------------------------------------------------------------------


@dataclass(frozen=True)
class TriageDone(Event):
    """Messages were moved, copied, deleted, archived, flagged or tagged (or such
    an action undone: `undoes` names the token of the one it reversed). `done`
    is bridge.mail.triage.Done as JSON: kept in the event log, it is what `undo`
    reverses, from this process or any other on the same store."""

    account: str
    action: str
    rows: list[int]
    done: dict
    token: str
    undoes: str | None = None

@dataclass(frozen=True)
class MessageChanged(Event):
    """A stored chat line changed after it came: corrected (XEP-0308), retracted
    (XEP-0424), someone's reactions to it (XEP-0444), or opened (an OMEMO line
    another process stored unopened). Read the line again."""

    account: str
    row_id: int
    msg_id: str
    thread_id: str
    change: str  # corrected | retracted | reactions | opened
    by: str  # who changed it: a bare JID, or room/nick


@dataclass(frozen=True)
class VoiceRequested(Event):
    """A visitor of a moderated room we moderate asks to speak (XEP-0045 §8.6):
    the room's approval form, answered with engine.answer_voice_request."""

    account: str
    room: str
    nick: str
    jid: str  # the visitor's address as the room gave it (its answer names them by it)
