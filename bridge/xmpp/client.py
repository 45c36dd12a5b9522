"""The XMPP client the engine owns: one account, on the caller's asyncio loop.

It turns stanzas into the one message model of the store and reports through the
event bus. Protocol work is split by XEP the way slixmpp is: slixmpp plugins do
stream management, pings, disco/caps and the block list; the rest reads and
writes raw XML (see `stanzas.py` for why) in small methods named after what they
serve.

Delivery states of an outgoing chat line: sending (written, on the wire or waiting
for a session) -> sent (the server acked it, XEP-0198) -> delivered (receipt,
XEP-0184, or "received" marker) -> read ("displayed" marker, XEP-0333); failed when
an error stanza comes back ("blocked or unreachable"). States only move forward,
except that a late receipt overrides a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

from slixmpp import JID, InvalidJID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.stanza import Iq
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..config import AccountConfig
from ..events import (
    ChatStateChanged,
    DeliveryChanged,
    Event,
    EventBus,
    MessageReceived,
    PresenceChanged,
    PushRestarted,
    RoomInvitation,
    RosterChanged,
    SubscriptionRequest,
    XmppConnectionChanged,
)
from ..model import (
    SEEN,
    Attachment,
    DeliveryState,
    Direction,
    Message,
    Party,
    Transport,
    claimed_thread_id,
    new_message_id,
)
from ..safe import safe_basename
from ..store import Store
from ..tls import client_context
from .availability import Availability, ContactPresence, ResourcePresence, summarize
from .session import XmppLoginError, XmppSession
from .stanzas import (
    NS_CARBONS,
    NS_CLIENT,
    NS_CONFERENCE,
    NS_DELAY,
    NS_FORWARD,
    NS_MAM,
    NS_MARKERS,
    NS_MUC_USER,
    NS_RECEIPTS,
    NS_SID,
    bare,
    default_thread_id,
    error_condition,
    fallback_msg_id,
    filename_from_url,
    parse_message,
    parse_stamp,
    q,
    resource,
)
from .state import ArchiveMark, RoomMembership, XmppState
from .upload import (
    DEFAULT_DOWNLOAD_LIMIT,
    NS_UPLOAD,
    TransferError,
    add_oob,
    get_file,
    parse_slot,
    put_file,
    slot_request,
)

log = logging.getLogger(__name__)

PLUGINS = (
    "xep_0030",  # service discovery
    "xep_0004", "xep_0128", "xep_0115",  # entity capabilities (needs data forms)
    "xep_0199",  # keepalive pings
    "xep_0202",  # entity time: the server's clock, for health
    "xep_0198",  # stream management: acks and resumption
    "xep_0191",  # blocking command
)
# The message types we send: one-to-one chat or a room line.
MessageKind = Literal["chat", "groupchat"]

PLUGIN_CONFIG: dict[str, dict[str, object]] = {
    "xep_0199": {"keepalive": True, "interval": 60, "timeout": 30},
}
FEATURES = (
    "urn:xmpp:receipts",
    "urn:xmpp:chat-markers:0",
    "jabber:x:oob",
    "urn:xmpp:sid:0",
    "jabber:x:conference",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/chatstates",
)
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
CHAT_STATES = ("active", "composing", "paused", "inactive", "gone")

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_DATA = "jabber:x:data"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_ROSTER = "jabber:iq:roster"
NS_VCARD = "vcard-temp"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"

MAM_PAGE = 100
MAX_RESOURCES = 64
MAM_SEED = 50  # first run: this much recent history, not the whole archive
IQ_TIMEOUT = 30
_DELIVERY_RANK = {
    DeliveryState.SENDING: 1, DeliveryState.SENT: 2, DeliveryState.DELIVERED: 3,
    DeliveryState.READ: 4,
}
_SM_REQUEST = "<r xmlns='urn:xmpp:sm:3'/>"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class XmppError(Exception):
    """An XMPP request the server refused or did not answer; the message says which."""


@dataclass(frozen=True)
class RosterItem:
    jid: str
    name: str
    subscription: str  # none | to | from | both
    pending_out: bool  # we asked to subscribe and wait for the answer


@dataclass(frozen=True)
class Occupant:
    nick: str
    jid: str | None  # the real bare JID, when the room reveals it to us
    role: str
    affiliation: str


@dataclass
class _Room:
    jid: str
    nick: str
    occupants: dict[str, Occupant] = field(default_factory=dict)
    joined: asyncio.Future[set[str]] | None = None


@dataclass
class _MamQuery:
    archive: str  # the bare JID whose archive answers (ours or a room's)
    results: list[tuple[str, float | None, ET.Element]] = field(default_factory=list)


# How long a chat message the server acked stays ready to go again, until its
# receipt comes: a server that restarts right after its ack can lose it (or the
# receipt), and only a new session of ours tells (see _flush_new_session).
RESEND_WINDOW = 120.0
# A line the server acked but that is not in its archive is sent again at most this
# many times, and only to a contact whose client answers receipts.
RESEND_TRIES = 3
DISCO_TIMEOUT = 5.0
ATTEMPT_TIMEOUT = 30.0  # one reconnection attempt, from TCP connect to a session


@dataclass
class _Pending:
    """An outgoing stanza not yet confirmed: not acked by the server, or (a chat
    message that asks for a receipt) acked at `acked_at` but not yet received."""

    message: Message
    to: str
    mtype: MessageKind
    on_wire: bool = False
    acked_at: float | None = None
    resends: int = 0  # times sent again after the server had acked it
    # Acked, not in the archive, and the contact not online yet: whether a copy may
    # go is decided when their presence (and so their client's features) arrives.
    waiting_for_peer: bool = False


class XmppClient:
    """One account's XMPP connection, reporting into the store and the event bus."""

    def __init__(
        self,
        account: AccountConfig,
        password: str,
        store: Store,
        events: EventBus,
        *,
        state_dir: Path | None = None,
        resource_name: str | None = None,
        download_limit: int = DEFAULT_DOWNLOAD_LIMIT,
        auto_download_limit: int = 0,
        max_backoff: float = 60.0,
        ping_interval: float = 60.0,
        ping_timeout: float = 30.0,
    ) -> None:
        if account.jid is None or account.xmpp is None:
            raise ValueError(f"account {account.name!r} has no jid or [accounts.xmpp] server")
        self.account = account
        self.name = account.name
        self.store = store
        self.events = events
        self.download_limit = download_limit
        # Fetching a link tells its server our address, so files come by themselves
        # only from roster contacts, and only up to this size (0: never).
        self.auto_download_limit = auto_download_limit
        self.own = bare(account.jid)
        self.domain = self.own.rpartition("@")[2]
        jid = account.jid + (f"/{resource_name}" if resource_name else "")
        # A stream that goes silent is found by the keepalive ping: no answer within
        # `ping_timeout` and the connection is dropped and made again (resumed).
        plugin_config: dict[str, dict[str, object]] = dict(PLUGIN_CONFIG, xep_0199={
            "keepalive": True, "interval": ping_interval, "timeout": ping_timeout})
        self.session = XmppSession(jid, password, account.xmpp, plugins=PLUGINS,
                                   plugin_config=plugin_config, max_backoff=max_backoff)
        # Subscription requests are the user's decision, never automatic.
        self.session.auto_authorize = None
        self.session.auto_subscribe = False
        self.ssl_context = client_context(account.xmpp.ca_file)
        state_dir = state_dir or store.path.parent / "xmpp"
        self.state = XmppState.load(state_dir / f"{safe_basename(account.name)}.json")
        self._presence: dict[str, dict[str, ResourcePresence]] = {}
        self._blocked: set[str] = set()
        self._refused: dict[str, str] = {}  # bare JID -> why our last send bounced
        self._rooms: dict[str, _Room] = {}
        self._queries: dict[str, _MamQuery] = {}
        self._pending: dict[str, _Pending] = {}
        # While a new session asks the archive what the server already holds, new
        # lines wait behind the ones being checked, so everything goes out in order.
        self._flushing = False
        self._receipt_support: dict[str, bool] = {}  # full JID -> disco says XEP-0184
        self._upload_service: tuple[str, int | None] | None = None
        self._muc_service: str | None = None
        self._stopping = False
        self._auth_failed = False
        self._reconnects = 0
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._synced: asyncio.Event = asyncio.Event()
        self._wire_handlers()

    # -- life cycle -------------------------------------------------------------------

    def _wire_handlers(self) -> None:
        s = self.session
        s.register_handler(Callback("tuiclient message", MatchXPath(f"{{{NS_CLIENT}}}message"),
                                    self._guard(self._on_message)))
        s.register_handler(Callback("tuiclient presence", MatchXPath(f"{{{NS_CLIENT}}}presence"),
                                    self._guard(self._on_presence)))
        s.add_event_handler("session_start", self._on_session_start)
        s.add_event_handler("session_resumed", self._on_session_resumed)
        s.add_event_handler("disconnected", self._on_disconnected)
        s.add_event_handler("failed_all_auth", self._on_auth_failed)
        s.add_event_handler("stanza_acked", self._guard(self._on_acked))
        s.add_event_handler("roster_update", self._guard(self._on_roster_update))
        s.add_event_handler("presence_subscribe", self._guard(self._on_subscribe_request))
        s.add_event_handler("blocked", self._guard(self._on_block_push))
        s.add_event_handler("unblocked", self._guard(self._on_block_push))
        s.add_event_handler("session_bind", self._announce_features)

    def _announce_features(self, _jid: object) -> None:
        # Disco data is kept per bound JID, so it can only be set once bound.
        for feature in FEATURES:
            self.session.plugin["xep_0030"].add_feature(feature)

    def _guard(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        # A handler that raises makes slixmpp answer the stanza with an error and log a
        # traceback; hostile input must do neither, so every handler is fenced.
        def run(stanza: Any) -> None:
            try:
                handler(stanza)
            except Exception:
                log.exception("%s: ignored a stanza we could not handle", self.name)
        return run

    async def start(self, timeout: float = 30.0) -> None:
        """Log in, then catch up (archive, rooms, unsent messages) before returning."""
        self._stopping = False
        self._auth_failed = False
        self._synced.clear()
        try:
            await self.session.start(timeout)
        except XmppLoginError:
            # No background retries for a login that never worked: the caller decides.
            self._stopping = True
            if self._reconnect_task is not None:
                self._reconnect_task.cancel()
            self.session.cancel_connection_attempt()
            raise
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        self.session.cancel_connection_attempt()
        if self.session.transport is not None:
            # Say goodbye to rooms and contacts; the stream close then ends the session.
            self.session.send_presence(ptype="unavailable")
        await self.session.stop()
        self._publish(XmppConnectionChanged(self.name, "stopped"))

    async def wait_synced(self, timeout: float = 30.0) -> bool:
        """Wait until the current session finished its catch-up; False on timeout."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def connected(self) -> bool:
        # slixmpp queues stanzas itself until a session starts or resumes; we keep our
        # own until then so a failed resumption cannot drop them.
        return self.session.transport is not None and bool(self.session._session_started)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_session_start(self, _event: object) -> None:
        self._reconnects = 0
        self._synced.clear()
        # A new session (not a resumed one) starts with no presence: what we knew is
        # stale until contacts announce themselves again.
        stale = [jid for jid, resources in self._presence.items() if resources]
        self._presence.clear()
        for jid in stale:
            now = self.availability(jid)
            self._publish(PresenceChanged(self.name, jid, now.availability.value, now.status))
        for room in self._rooms.values():
            room.occupants.clear()
        self._spawn(self._after_login())

    async def _on_session_resumed(self, _event: object) -> None:
        self._reconnects = 0
        self._publish(XmppConnectionChanged(self.name, "resumed"))
        self._flush_resumed()
        self._synced.set()

    async def _after_login(self) -> None:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("carbons", self._enable_carbons),
            ("block list", self._load_blocklist),
        ]
        for what, step in steps:
            try:
                await step()
            except Exception as exc:
                log.warning("%s: %s failed after login: %s", self.name, what, exc)
        try:
            await self._flush_new_session()
        except Exception as exc:
            log.warning("%s: sending the unconfirmed lines again failed: %s", self.name, exc)
        self._publish(XmppConnectionChanged(self.name, "online"))
        try:
            await self._catch_up(None)
        except Exception as exc:
            log.warning("%s: archive catch-up failed: %s", self.name, exc)
        for membership in list(self.state.rooms.values()):
            try:
                await self.join_room(membership.room, membership.nick)
            except Exception as exc:
                log.warning("%s: rejoining %s failed: %s", self.name, membership.room, exc)
        self._synced.set()

    def _on_disconnected(self, reason: object) -> None:
        self._synced.clear()
        for room in self._rooms.values():
            if room.joined is not None and not room.joined.done():
                room.joined.set_exception(XmppError(f"disconnected while joining {room.jid}"))
        if self._stopping:
            return
        if self._auth_failed:
            # The password changed under us: retrying would only lock the account.
            self._publish(XmppConnectionChanged(self.name, "failed", "login refused"))
            return
        self._publish(XmppConnectionChanged(self.name, "disconnected", str(reason or "")))
        if str(reason or "").startswith("Ping timeout"):
            # slixmpp's keepalive found the stream silent and reconnects now.
            self._publish(PushRestarted(self.name, "xmpp", str(reason)))
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect())

    def _on_auth_failed(self, _event: object) -> None:
        self._auth_failed = True

    async def _reconnect(self) -> None:
        """Connect again until a session holds, with jittered exponential backoff
        (so a server restart is not met by every client at the same instant).

        One loop owns reconnection: each attempt is given ATTEMPT_TIMEOUT to end
        in a session; an attempt that dies anywhere (refused, cut in the TLS
        handshake, in SASL, before bind) only means the next one, never the end
        of trying. A cut in the TLS handshake leaves slixmpp a closed transport
        object rather than none, so "is there a transport" is not the test:
        "is there a live one"."""
        while not self._stopping and not self.connected:
            delay = min(self.session.max_backoff, 0.5 * 2 ** self._reconnects)
            self._reconnects += 1
            delay *= random.uniform(0.5, 1.0)
            self._publish(XmppConnectionChanged(self.name, "reconnecting",
                                                f"in {delay:.1f}s"))
            await asyncio.sleep(delay)
            if self._stopping or self.connected:
                return
            if not self._transport_alive():
                config = self.account.xmpp
                assert config is not None
                self.session.connect(config.host, config.port)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ATTEMPT_TIMEOUT
            # Give the attempt time to become a session: a live transport that
            # goes quiet past the deadline is dropped and tried again.
            await asyncio.sleep(0.2)
            while not self._stopping and not self.connected and loop.time() < deadline:
                if not self._transport_alive() and not self._attempt_pending():
                    break  # this attempt is over: next one
                await asyncio.sleep(0.1)
            if not self._stopping and not self.connected and self._transport_alive():
                self.session.abort()

    def _transport_alive(self) -> bool:
        transport = self.session.transport
        return transport is not None and not transport.is_closing()

    def _attempt_pending(self) -> bool:
        attempt = getattr(self.session, "_current_connection_attempt", None)
        return attempt is not None and not attempt.done()

    def _publish(self, event: Event) -> None:
        try:
            self.events.publish(event)
        except Exception:
            log.exception("%s: an event listener failed", self.name)

    # -- IQ helpers ---------------------------------------------------------------------

    async def _iq(self, kind: str, payload: ET.Element | None, to: str | None = None,
                  timeout: float = IQ_TIMEOUT) -> ET.Element:
        iq = self.session.make_iq_get(ito=to) if kind == "get" else \
            self.session.make_iq_set(ito=to)
        if payload is not None:
            iq.append(payload)
        try:
            result: Iq = await iq.send(timeout=timeout)
        except IqError as exc:
            condition, text, _blocked = error_condition(exc.iq.xml)
            raise XmppError(f"{to or 'server'} refused: {condition}"
                            + (f" ({text})" if text else "")) from None
        except IqTimeout:
            raise XmppError(f"{to or 'server'} did not answer within {timeout:.0f}s") from None
        return result.xml

    # -- roster and presence ------------------------------------------------------------

    def roster(self) -> list[RosterItem]:
        roster = self.session.client_roster
        items = []
        for jid in roster:
            item = roster[jid]
            if bare(str(jid)) == self.own:
                continue
            items.append(RosterItem(bare(str(jid)), item["name"] or "",
                                    item["subscription"] or "none", bool(item["pending_out"])))
        return sorted(items, key=lambda i: i.jid)

    def subscribe(self, jid: str, name: str = "") -> None:
        """Ask to see a contact's presence (and add them to the roster)."""
        jid = bare(jid)
        if name:
            self.session.update_roster(JID(jid), name=name)
        self.session.send_presence(pto=jid, ptype="subscribe")

    def approve(self, jid: str) -> None:
        """Let a contact who asked see our presence."""
        self.session.send_presence(pto=bare(jid), ptype="subscribed")

    def deny(self, jid: str) -> None:
        """Refuse (or withdraw) a contact's view of our presence."""
        self.session.send_presence(pto=bare(jid), ptype="unsubscribed")

    def set_presence(self, show: str = "", status: str = "", priority: int = 0) -> None:
        """Our own presence: show is "", chat, away, xa or dnd."""
        if show not in ("", "chat", "away", "xa", "dnd"):
            raise ValueError(f"show must be '', chat, away, xa or dnd, not {show!r}")
        self.session.send_presence(pshow=show or None, pstatus=status or None,
                                   ppriority=priority)

    def availability(self, jid: str) -> ContactPresence:
        """What the deferral logic asks before a send: may this contact see it now?"""
        jid = bare(jid)
        return summarize(jid, self._presence.get(jid, {}), subscribed=self._subscribed(jid),
                         blocked=jid in self._blocked or jid in self._refused)

    def refusal(self, jid: str) -> str | None:
        """Why the last send to this contact bounced, while it is not yet cleared."""
        return self._refused.get(bare(jid))

    def _on_subscribe_request(self, presence: Any) -> None:
        self._publish(SubscriptionRequest(self.name, bare(str(presence["from"]))))

    def _on_roster_update(self, iq: Any) -> None:
        query = iq.xml.find(q(NS_ROSTER, "query"))
        if query is None:
            return
        for item in query.findall(q(NS_ROSTER, "item")):
            jid = bare(item.get("jid") or "")
            if jid:
                self._publish(RosterChanged(self.name, jid, item.get("subscription") or "none"))

    def _on_presence(self, presence: Any) -> None:
        xml = presence.xml
        sender = xml.get("from") or ""
        jid = bare(sender)
        if not jid or jid == self.own:
            return  # our own resources are not a contact
        ptype = xml.get("type") or "available"
        if jid in self._rooms:
            self._on_room_presence(self._rooms[jid], xml, ptype)
            return
        if ptype not in ("available", "unavailable"):
            return
        res = resource(sender)
        resources = self._presence.setdefault(jid, {})
        if ptype == "unavailable":
            resources.pop(res, None)
            self._receipt_support.pop(f"{jid}/{res}", None)
        elif res not in resources and len(resources) >= MAX_RESOURCES:
            return  # a flood of made-up resources; real people have a handful
        else:
            show_el = xml.find(q(NS_CLIENT, "show"))
            status_el = xml.find(q(NS_CLIENT, "status"))
            prio_el = xml.find(q(NS_CLIENT, "priority"))
            try:
                priority = max(-128, min(127, int((prio_el.text or "0").strip())))
            except (AttributeError, ValueError):
                priority = 0
            show = (show_el.text or "").strip() if show_el is not None else ""
            resources[res] = ResourcePresence(
                res, show if show in ("chat", "away", "xa", "dnd") else "",
                (status_el.text or "")[:1000] if status_el is not None else "", priority)
            # They are reachable again: whatever bounced before no longer holds.
            self._refused.pop(jid, None)
            if any(p.waiting_for_peer and bare(p.to) == jid for p in self._pending.values()):
                self._spawn(self._resend_to(jid))
        now = self.availability(jid)
        self._publish(PresenceChanged(self.name, jid, now.availability.value, now.status))

    # -- blocking (XEP-0191) ------------------------------------------------------------

    async def _load_blocklist(self) -> None:
        jids = await self.session.plugin["xep_0191"].get_blocked_jids(timeout=IQ_TIMEOUT)
        self._blocked = {bare(str(j)) for j in jids}

    def blocked(self) -> set[str]:
        return set(self._blocked)

    async def refresh_blocklist(self) -> set[str]:
        await self._load_blocklist()
        return self.blocked()

    async def block(self, jid: str) -> None:
        await self.session.plugin["xep_0191"].block(JID(bare(jid)), timeout=IQ_TIMEOUT)
        self._blocked.add(bare(jid))
        self._publish(PresenceChanged(self.name, bare(jid), Availability.BLOCKED.value))

    async def unblock(self, jid: str) -> None:
        await self.session.plugin["xep_0191"].unblock(JID(bare(jid)), timeout=IQ_TIMEOUT)
        self._blocked.discard(bare(jid))
        now = self.availability(jid)
        self._publish(PresenceChanged(self.name, bare(jid), now.availability.value, now.status))

    def _on_block_push(self, _iq: Any) -> None:
        # Another of our clients changed the list; read it whole rather than patch it.
        self._spawn(self._load_blocklist())

    # -- sending ----------------------------------------------------------------------

    def send_chat(self, to: str, text: str, thread_id: str | None = None,
                  msg_id: str | None = None) -> Message:
        """Store and send a 1:1 chat line; returns it with its row id.

        `msg_id` is reused as origin-id and stanza id: a resend of the same message
        (the outbox retrying) passes the same id, and the receiver drops the copy.
        """
        # A room occupant (room/nick) is written to privately; anyone else by bare JID.
        to = to if bare(to) in self._rooms and resource(to) else bare(to)
        return self._send(to, text, "chat", thread_id, msg_id, [])

    def bind_thread(self, jid: str, thread_id: str) -> None:
        """Lines from this contact or room without a <thread> belong to `thread_id`
        from now on (a conversation moved here from email)."""
        self.state.set_thread(bare(jid), thread_id)

    def send_chat_state(self, to: str, state: str) -> None:
        """Tell a contact we are typing (composing), paused, and so on (XEP-0085)."""
        if state not in CHAT_STATES:
            raise ValueError(f"chat state must be one of {', '.join(CHAT_STATES)}")
        if not self.connected:
            return  # a stale "typing" is worse than none
        msg = self.session.make_message(mto=bare(to), mtype="chat")
        ET.SubElement(msg.xml, q(NS_CHATSTATES, state))
        # Not worth a place in the server's offline storage or archive.
        ET.SubElement(msg.xml, "{urn:xmpp:hints}no-store")
        msg.send()

    def send_room(self, room: str, text: str, thread_id: str | None = None,
                  msg_id: str | None = None) -> Message:
        """Store and send a line to a joined room."""
        room = bare(room)
        if room not in self._rooms:
            raise XmppError(f"not in room {room}: join it first")
        return self._send(room, text, "groupchat", thread_id, msg_id, [])

    def _send(self, to: str, text: str, mtype: MessageKind, thread_id: str | None,
              msg_id: str | None, attachments: list[Attachment]) -> Message:
        msg_id = msg_id or new_message_id(self.domain)
        existing = self.store.find_by_msg_id(self.name, msg_id)
        if existing is not None and existing.direction is Direction.OUT:
            # A resend (or a message the outbox wrote first): same id, so receivers
            # that already have it drop the copy.
            message = existing
            # What goes on the wire is what the caller passes: the stored row may be
            # the email mirror of a deferred message, with a longer body.
            message.text = text
            message.attachments = attachments or message.attachments
            if message.id is not None and message.delivery not in (
                    DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ):
                self.store.set_delivery(message.id, DeliveryState.SENDING)
                message.delivery = DeliveryState.SENDING
        else:
            recipients = [Party(to, role="to")]
            thread_id = thread_id or self.state.threads.get(to) or \
                default_thread_id(self.own, to)
            if mtype == "chat":
                self.state.set_thread(to, thread_id)
            message = Message(
                msg_id=msg_id, account=self.name, transport=Transport.XMPP,
                direction=Direction.OUT,
                thread_id=thread_id, date=time.time(),
                sender=Party(self.own, self.account.display_name or "", "from"),
                recipients=recipients, text=text, origin_id=msg_id,
                delivery=DeliveryState.SENDING, attachments=attachments)
            self.store.insert_messages([message])
        previous = self._pending.get(msg_id)
        self._pending[msg_id] = _Pending(message, to, mtype,
                                         resends=previous.resends if previous else 0)
        if self.connected and not self._flushing:
            self._transmit(self._pending[msg_id])
        return message

    def _transmit(self, pending: _Pending) -> None:
        m = pending.message
        stanza = self.session.make_message(mto=pending.to, mbody=m.text, mtype=pending.mtype)
        stanza["id"] = m.msg_id
        stanza["thread"] = m.thread_id
        xml = stanza.xml
        ET.SubElement(xml, q(NS_SID, "origin-id"), {"id": m.msg_id})
        if pending.mtype == "chat":
            ET.SubElement(xml, q(NS_RECEIPTS, "request"))
        ET.SubElement(xml, q(NS_MARKERS, "markable"))
        if pending.mtype == "chat":
            ET.SubElement(xml, q(NS_CHATSTATES, "active"))
        for a in m.attachments:
            if a.url:
                add_oob(xml, a.url)
        # Stanza-management queue: slixmpp resends it itself on a resumed stream.
        stanza.send()
        pending.on_wire = True
        if self.session.plugin["xep_0198"].enabled_out:
            # The server's ack is what turns "sending" into "sent". slixmpp asks for
            # acks from its outgoing filter, ahead of the stanza that triggered it, so
            # ask here, behind the message in the same queue.
            self.session.send(_SM_REQUEST)

    def _flush_resumed(self) -> None:
        """A resumed stream (XEP-0198): the server kept our session, and slixmpp has
        sent again every stanza the server had not counted. What is left is what
        never reached slixmpp's count: lines written while we were disconnected,
        and a line that was still in slixmpp's send queue when the connection died
        (that queue is dropped, so it is neither acked nor resent). Those go now,
        in order; nothing the server or slixmpp holds goes twice."""
        self._forget_old_acks()
        sm = self.session.plugin["xep_0198"]
        in_flight = {str(stanza.xml.get("id") or "") for _seq, stanza in sm.unacked_queue}
        for pending in list(self._pending.values()):
            if pending.acked_at is not None or pending.message.msg_id in in_flight:
                continue
            if pending.mtype == "groupchat" and pending.to not in self._joined_rooms():
                continue  # sent when the room is joined again
            self._transmit(pending)

    async def _flush_new_session(self) -> None:
        """A new session (the stream could not be resumed: a restarted server, a
        long cut): what the last session left unconfirmed may or may not have
        reached the server. Ask our own archive (XEP-0313) which of those lines
        it holds: those went through and are never sent again. The rest:

        - never acked by the server, and not in its archive: it never got them;
          they go again (same id);
        - acked, but not in the archive (the server lost them, or keeps no
          archive): sent again only to a contact whose client answers receipts
          (so a copy is recognised and the receipt settles it), at most
          RESEND_TRIES times, and only within RESEND_WINDOW of the ack (older
          ones were forgotten before we got here).

        Lines written meanwhile wait behind these, so the order holds."""
        self._forget_old_acks()
        self._flushing = True
        try:
            held = await self._held_by_server([p for p in self._pending.values() if p.on_wire])
            for pending in list(self._pending.values()):
                msg_id = pending.message.msg_id
                if self._pending.get(msg_id) is not pending:
                    continue  # settled while we asked
                if pending.mtype == "groupchat" and pending.to not in self._joined_rooms():
                    continue  # sent when the room is joined again
                if pending.on_wire and held is not None and msg_id in held:
                    del self._pending[msg_id]
                    self._advance(msg_id, DeliveryState.SENT)
                    continue
                if pending.acked_at is not None:
                    if not self._presence.get(bare(pending.to)):
                        pending.waiting_for_peer = True  # see _on_presence
                        continue
                    if not await self._may_resend(pending):
                        continue
                self._transmit(pending)
        finally:
            self._flushing = False
        for pending in list(self._pending.values()):
            if not pending.on_wire and self.connected:
                self._transmit(pending)

    async def _may_resend(self, pending: _Pending) -> bool:
        """Whether a line the server acked, but does not hold, may go again: only
        to a contact whose client answers receipts, RESEND_TRIES times at most. A
        copy to anyone else could only arrive as a duplicate they cannot tell."""
        pending.waiting_for_peer = False
        if pending.resends >= RESEND_TRIES or not await self.answers_receipts(pending.to):
            self._pending.pop(pending.message.msg_id, None)
            return False
        pending.resends += 1
        pending.acked_at = None
        return True

    async def _resend_to(self, peer: str) -> None:
        """The contact came online: the lines that waited for them (see
        _flush_new_session) go again if their client answers receipts."""
        for pending in list(self._pending.values()):
            if pending.waiting_for_peer and bare(pending.to) == peer \
                    and await self._may_resend(pending) and self.connected:
                self._transmit(pending)

    async def _held_by_server(self, pendings: Iterable[_Pending]) -> set[str] | None:
        """Which of these lines of ours the server's archive holds (None: no answer)."""
        by_peer: dict[str, list[_Pending]] = {}
        for pending in pendings:
            by_peer.setdefault(pending.to, []).append(pending)
        held: set[str] = set()
        for peer, lines in by_peer.items():
            since = min(p.message.date for p in lines)
            found = await self.on_server(peer, {p.message.msg_id for p in lines}, since,
                                         room=any(p.mtype == "groupchat" for p in lines))
            if found is None:
                return None
            held |= found
        return held

    async def on_server(self, peer: str, msg_ids: Iterable[str], since: float, *,
                        room: bool = False) -> set[str] | None:
        """Which of our lines to `peer` with these ids (origin-id or stanza id),
        written since `since`, the server has in its archive: ours for a 1:1 chat,
        the room's for a room. None when the archive cannot be asked.

        Hand-written over `_mam_page`, like the rest of this client's archive use,
        until the move to slixmpp's xep_0313 plugin; only results from the archive
        we asked, and only lines that our own account sent, count."""
        wanted = set(msg_ids)
        found: set[str] = set()
        archive = bare(peer) if room else self.own
        after: str | None = None
        try:
            for _page in range(50):
                results, complete, last = await self._mam_page(
                    archive, after=after, start=since - 300,
                    with_jid=None if room else bare(peer))
                for _archive_id, _stamp, inner in results:
                    sender = inner.get("from") or ""
                    if room:
                        mine = self._rooms.get(archive)
                        if mine is None or resource(sender) != mine.nick:
                            continue
                    elif bare(sender) not in (self.own, ""):
                        continue
                    ids = {inner.get("id") or ""}
                    ids |= {el.get("id") or "" for el in inner.iter(q(NS_SID, "origin-id"))}
                    found |= ids & wanted
                if complete or not results or last is None or found == wanted:
                    break
                after = last
        except (XmppError, OSError) as exc:
            log.info("%s: could not ask the archive about %d lines to %s: %s", self.name,
                     len(wanted), peer, exc)
            return None
        return found

    async def answers_receipts(self, jid: str) -> bool:
        """Whether a client of this contact that is online now says, in its service
        discovery (through entity capabilities, XEP-0115, when it sends them), that
        it answers receipt requests (XEP-0184). slixmpp's disco plugin keeps the
        answers per full JID."""
        peer = bare(jid)
        disco = self.session.plugin["xep_0030"]
        for res in list(self._presence.get(peer, {})):
            full = f"{peer}/{res}" if res else peer
            known = self._receipt_support.get(full)
            if known is None:
                try:
                    info = await disco.get_info(jid=JID(full), cached=True, timeout=DISCO_TIMEOUT)
                    features = set(info["disco_info"]["features"])
                except (IqError, IqTimeout, KeyError, TypeError):
                    features = set()
                known = self._receipt_support[full] = NS_RECEIPTS in features
            if known:
                return True
        return False

    def _joined_rooms(self) -> set[str]:
        return {jid for jid, room in self._rooms.items()
                if room.joined is not None and room.joined.done()
                and not room.joined.exception()}

    def _on_acked(self, stanza: Any) -> None:
        if stanza.xml.tag != q(NS_CLIENT, "message"):
            return
        msg_id = stanza.xml.get("id") or ""
        pending = self._pending.get(msg_id)
        if pending is None or pending.acked_at is not None:
            return
        if pending.mtype == "chat":
            pending.acked_at = time.time()  # kept until its receipt (or the window ends)
            self._forget_old_acks()
        else:
            del self._pending[msg_id]
        self._advance(msg_id, DeliveryState.SENT)

    def _forget_old_acks(self) -> None:
        """A contact whose client sends no receipts leaves acked messages behind:
        past the window they count as the server's, and are not sent again."""
        limit = time.time() - RESEND_WINDOW
        for msg_id, pending in list(self._pending.items()):
            if pending.acked_at is not None and pending.acked_at < limit:
                del self._pending[msg_id]

    def _advance(self, msg_id: str, state: DeliveryState, detail: str = "",
                 from_jid: str | None = None) -> None:
        message = self.store.find_by_msg_id(self.name, msg_id)
        if message is None or message.direction is not Direction.OUT or message.id is None:
            return
        if from_jid is not None and message.recipients:
            # Only the party we wrote to may confirm it (a room echoes its own JID).
            allowed = {bare(p.address) for p in message.recipients}
            if bare(from_jid) not in allowed:
                return
        current = message.delivery
        if state is DeliveryState.FAILED:
            if current in (DeliveryState.DELIVERED, DeliveryState.READ):
                return
        elif current is not None and _DELIVERY_RANK.get(current, 0) >= _DELIVERY_RANK[state]:
            return
        self.store.set_delivery(message.id, state)
        if state in (DeliveryState.DELIVERED, DeliveryState.READ):
            self._pending.pop(msg_id, None)
        self._publish(DeliveryChanged(self.name, msg_id, state.value, detail))

    def mark_displayed(self, row_id: int, *, tell: bool = True) -> None:
        """The user saw this message: flag it seen and tell its sender (XEP-0333).
        With `tell` False the message is only flagged: a displayed marker for a
        later line of the chat says this one was seen too (XEP-0333)."""
        message = self.store.get_message(row_id)
        if message is None or message.transport is not Transport.XMPP:
            return
        self.store.set_flags(row_id, message.flags | {SEEN})
        # The marker quotes the 'id' attribute of the message as it came in (XEP-0333),
        # as the received marker did; our msg_id may be a name of our own making. A row
        # stored before the attribute was kept has its origin-id, which clients that
        # send one set to the same value; with neither there is nothing to quote.
        quoted = message.attr_id or message.origin_id
        if tell and message.direction is Direction.IN and quoted:
            room = message.recipients[0].address if message.recipients else ""
            if bare(room) in self._rooms:
                return  # markers in rooms would tell everyone; not sent
            marker = self.session.make_message(mto=message.sender.address, mtype="chat")
            ET.SubElement(marker.xml, q(NS_MARKERS, "displayed"), {"id": quoted})
            marker.send()

    # -- receiving -------------------------------------------------------------------

    def _on_message(self, stanza: Any) -> None:
        xml: ET.Element = stanza.xml
        sender = xml.get("from") or ""
        if (xml.get("type") or "") == "error":
            self._on_error(xml)
            return
        result = xml.find(q(NS_MAM, "result"))
        if result is not None:
            self._collect_archive_result(sender, result)
            return
        for kind in ("received", "sent"):
            carbon = xml.find(q(NS_CARBONS, kind))
            if carbon is not None:
                # Only our own server may hand us copies; anyone else is forging.
                if bare(sender) == self.own and not resource(sender):
                    inner = carbon.find(f"{q(NS_FORWARD, 'forwarded')}/{q(NS_CLIENT, 'message')}")
                    if inner is not None:
                        self._ingest(inner, "carbon")
                else:
                    log.warning("%s: dropped a carbon from %s, not our own account",
                                self.name, sender or "(no sender)")
                return
        for tag, state in (("received", DeliveryState.DELIVERED),
                           ("displayed", DeliveryState.READ)):
            ack = xml.find(q(NS_RECEIPTS if tag == "received" else NS_MARKERS, tag))
            if ack is not None and ack.get("id"):
                self._advance(ack.get("id") or "", state, from_jid=sender)
        marker = xml.find(q(NS_MARKERS, "received"))
        if marker is not None and marker.get("id"):
            self._advance(marker.get("id") or "", DeliveryState.DELIVERED, from_jid=sender)
        self._check_invitation(xml, sender)
        if (xml.get("type") or "") == "chat" and bare(sender) != self.own:
            for chat_state in CHAT_STATES:
                if xml.find(q(NS_CHATSTATES, chat_state)) is not None:
                    self._publish(ChatStateChanged(self.name, bare(sender), chat_state))
                    break
        if xml.find(q(NS_CLIENT, "body")) is not None or xml.find("{jabber:x:oob}x") is not None:
            self._ingest(xml, "live")

    def _on_error(self, xml: ET.Element) -> None:
        msg_id = xml.get("id") or ""
        condition, text, blocked = error_condition(xml)
        peer = bare(xml.get("from") or "")
        detail = "blocked or unreachable: " + ("you block this contact" if blocked
                                                else condition) + (f" ({text})" if text else "")
        message = self.store.find_by_msg_id(self.name, msg_id) if msg_id else None
        if message is None or message.direction is not Direction.OUT:
            return
        # Only the JID the message went to, or that JID's server, may bounce it:
        # anyone who guesses (or saw) an id could otherwise mark it failed.
        sender = xml.get("from") or ""
        allowed = {bare(p.address) for p in message.recipients}
        servers = {a.rpartition("@")[2] for a in allowed}
        if not (peer in allowed or (sender in servers and "@" not in sender)):
            log.warning("%s: dropped an error for %s from %s, not its recipient",
                        self.name, msg_id, sender or "(no sender)")
            return
        self._pending.pop(msg_id, None)
        if peer:
            self._refused[peer] = detail
        self._advance(msg_id, DeliveryState.FAILED, detail)

    def _check_invitation(self, xml: ET.Element, sender: str) -> None:
        muc_x = xml.find(q(NS_MUC_USER, "x"))
        if muc_x is not None:
            invite = muc_x.find(q(NS_MUC_USER, "invite"))
            if invite is not None:
                reason_el = invite.find(q(NS_MUC_USER, "reason"))
                password_el = muc_x.find(q(NS_MUC_USER, "password"))
                self._publish(RoomInvitation(
                    self.name, bare(sender), bare(invite.get("from") or ""),
                    (reason_el.text or "") if reason_el is not None else "",
                    (password_el.text or "") if password_el is not None else "", False))
                return
        direct = xml.find(q(NS_CONFERENCE, "x"))
        if direct is not None and direct.get("jid"):
            self._publish(RoomInvitation(self.name, bare(direct.get("jid") or ""), bare(sender),
                                         direct.get("reason") or "", direct.get("password") or "",
                                         True))

    def _ingest(self, xml: ET.Element, source: str, archive: str | None = None,
                archive_id: str | None = None, archive_stamp: float | None = None) -> bool:
        """Store one chat message; True if it was new."""
        sender = xml.get("from") or ""
        mtype = xml.get("type") or "normal"
        room_jid = bare(sender) if mtype == "groupchat" else None
        if archive is not None and archive != self.own:
            room_jid = archive
        if room_jid is not None and room_jid not in self._rooms and archive != room_jid:
            return False  # a groupchat line from a room we are not in
        trusted = {room_jid} if room_jid else {self.own}
        p = parse_message(xml, trusted)
        if p.stanza_type == "error" or (not (p.body or "").strip() and not p.oob_urls):
            return False  # nothing to show: chat states, empty bodies, errors
        if archive_id is not None:
            p.stanza_id = archive_id
        if room_jid is not None:
            nick = resource(p.sender)
            room = self._rooms.get(room_jid)
            occupant = room.occupants.get(nick) if room else None
            real = p.muc_real_jid or (occupant.jid if occupant else None)
            ours = real == self.own or (room is not None and nick == room.nick and real is None)
            direction = Direction.OUT if ours else Direction.IN
            sender_party = Party(real or p.sender, nick, "from")
            recipients = [Party(room_jid, "", "to")]
            # A room made for a handed-off thread keeps that thread for lines sent
            # by clients that do not echo <thread>.
            bound = self.state.threads.get(room_jid)
            thread_id, claimed = self._thread_of(
                p.thread, direction, [sender_party.address, room_jid], bound,
                default_thread_id(self.own, room_jid))
        else:
            from_bare = bare(p.sender) or self.own
            direction = Direction.OUT if from_bare == self.own else Direction.IN
            peer = bare(p.to) if direction is Direction.OUT else from_bare
            if not peer:
                return False
            # Our own lines (carbons, the archive) carry our name, as sent ones do.
            sender_party = Party(from_bare, (self.account.display_name or "")
                                 if direction is Direction.OUT else "", "from")
            # A private line through a room: the occupant is the peer, not the room.
            if peer in self._rooms:
                peer = p.to if direction is Direction.OUT else p.sender
                if direction is Direction.IN:
                    sender_party = Party(p.sender, resource(p.sender), "from")
            recipients = [Party(peer if direction is Direction.OUT else self.own, "", "to")]
            thread_id, claimed = self._thread_of(
                p.thread, direction, [sender_party.address], self.state.threads.get(peer),
                default_thread_id(self.own, peer))
            when = self._date(p.delay, archive_stamp)
            if p.thread and (source != "archive" or self.state.newer_than_binding(peer, when)):
                # Live lines move the conversation; archived ones only if newer than
                # what set it (so a fresh device replays the moves in order).
                self.state.set_thread(peer, thread_id, when)
        if p.stanza_id and self.store.lookup("stanza_id", p.stanza_id, self.name):
            return False
        msg_id = p.origin_id or (
            f"sid.{p.stanza_id}@{(room_jid or self.own).rpartition('@')[2]}" if p.stanza_id
            else fallback_msg_id(p.sender, p.attr_id))
        attachments = [Attachment(safe_basename(filename_from_url(url)),
                                  "application/octet-stream", 0, url=url) for url in p.oob_urls]
        message = Message(
            msg_id=msg_id, account=self.name, transport=Transport.XMPP, direction=direction,
            thread_id=thread_id, date=self._date(p.delay, archive_stamp),
            sender=sender_party, recipients=recipients, text=p.body or "",
            stanza_id=p.stanza_id, origin_id=p.origin_id, attr_id=p.attr_id,
            delivery=DeliveryState.SENT if direction is Direction.OUT else None,
            attachments=attachments, malformed=p.truncated, references=claimed)
        new = self.store.insert_messages([message]) > 0
        if direction is Direction.IN and room_jid is None:
            self._refused.pop(bare(p.sender), None)
            # Ack what we hold now (a duplicate too: the sender may have missed our ack).
            if source == "live" and (p.attr_id or p.origin_id):
                self._acknowledge(p.sender, p.attr_id or p.origin_id or "", p.receipt_request,
                                  p.markable)
        if new and message.id is not None and attachments and direction is Direction.IN \
                and room_jid is None and self.auto_download_limit > 0 \
                and self._subscribed(bare(p.sender)):
            self._spawn(self._auto_download(message.id))
        if new and message.id is not None:
            self._publish(MessageReceived(self.name, message.id, msg_id, thread_id,
                                          sender_party.address, direction.value, source))
        return new

    def _archived_acknowledgement(self, xml: ET.Element) -> None:
        """A receipt or marker for one of our lines, found in our archive: it came
        while no session of ours was online to take it (Prosody archives them), so
        the line is delivered (or read) all the same. Only the contact the line
        went to may say so (`_advance` checks)."""
        sender = xml.get("from") or ""
        if not sender or bare(sender) == self.own:
            return
        for ns, tag, state in ((NS_RECEIPTS, "received", DeliveryState.DELIVERED),
                               (NS_MARKERS, "received", DeliveryState.DELIVERED),
                               (NS_MARKERS, "displayed", DeliveryState.READ)):
            ack = xml.find(q(ns, tag))
            if ack is not None and ack.get("id"):
                self._advance(ack.get("id") or "", state, from_jid=sender)

    def _thread_of(self, named: str | None, direction: Direction, senders: list[str],
                   bound: str | None, default: str) -> tuple[str, list[str]]:
        """The thread of a chat line, and the thread it named but may not join.

        A <thread> (XEP-0201) is only a claim: it joins a thread when we wrote the
        line, when it is the thread this chat is bound to, when its sender is a
        party of that thread on this account, or when the thread is new here (the
        sender starts it; the store moves the line out if what comes later shows
        the thread is someone else's, `Store._evict_strangers`). Anyone else naming
        a thread (an email thread's Message-ID is no secret) gets a thread of their
        own and learns
        nothing of the other one; the store moves the line in if the sender turns
        out to be a party later (`Store._adopt_claims`).
        """
        if not named:
            return bound or default, []
        if direction is Direction.OUT or named == bound or \
                self.store.get_thread(self.name, named) is None or \
                self.store.is_thread_party(self.name, named, senders):
            return named, []
        log.info("%s: a chat line from %s names a thread it is no party of; kept apart",
                 self.name, senders[0])
        return claimed_thread_id(bare(senders[0]), named), [named]

    @staticmethod
    def _date(claimed: float | None, archived: float | None) -> float:
        # The archive's stamp is the server's word; a <delay> inside a message is the
        # sender's, and one from the future would pin a line to the top of a list.
        now = time.time()
        if archived is not None:
            return min(archived, now)
        return min(claimed, now) if claimed is not None else now

    def _acknowledge(self, to: str, msg_id: str, receipt: bool, markable: bool) -> None:
        if receipt:
            ack = self.session.make_message(mto=to)
            ET.SubElement(ack.xml, q(NS_RECEIPTS, "received"), {"id": msg_id})
            ack.send()
        if markable:
            marker = self.session.make_message(mto=to, mtype="chat")
            ET.SubElement(marker.xml, q(NS_MARKERS, "received"), {"id": msg_id})
            marker.send()

    # -- archive (XEP-0313) ---------------------------------------------------------

    def _collect_archive_result(self, sender: str, result: ET.Element) -> None:
        query = self._queries.get(result.get("queryid") or "")
        if query is None:
            log.warning("%s: dropped an archive result from %s for no query of ours",
                        self.name, sender or "(no sender)")
            return
        allowed = {query.archive} if query.archive != self.own else {self.own, ""}
        if bare(sender) not in allowed or resource(sender):
            # A result that does not come from the archive we asked.
            log.warning("%s: dropped an archive result from %s, not from %s",
                        self.name, sender or "(no sender)", query.archive)
            return
        forwarded = result.find(q(NS_FORWARD, "forwarded"))
        if forwarded is None:
            return
        inner = forwarded.find(q(NS_CLIENT, "message"))
        delay = forwarded.find(q(NS_DELAY, "delay"))
        archive_id = (result.get("id") or "").strip()
        if inner is None or not archive_id:
            return
        query.results.append((archive_id, parse_stamp(delay.get("stamp") if delay is not None
                                                      else None), inner))

    async def _mam_page(self, archive: str, *, after: str | None = None,
                        before: str | None = None, start: float | None = None,
                        with_jid: str | None = None, limit: int = MAM_PAGE,
                        ) -> tuple[list[tuple[str, float | None, ET.Element]], bool, str | None]:
        query_id = uuid.uuid4().hex
        query = ET.Element(q(NS_MAM, "query"), {"queryid": query_id})
        fields: dict[str, str] = {}
        if with_jid:
            fields["with"] = with_jid
        if start is not None:
            fields["start"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
        if fields:
            form = ET.SubElement(query, q(NS_DATA, "x"), {"type": "submit"})
            f = ET.SubElement(form, q(NS_DATA, "field"), {"var": "FORM_TYPE", "type": "hidden"})
            ET.SubElement(f, q(NS_DATA, "value")).text = NS_MAM
            for var, value in fields.items():
                f = ET.SubElement(form, q(NS_DATA, "field"), {"var": var})
                ET.SubElement(f, q(NS_DATA, "value")).text = value
        rsm = ET.SubElement(query, q(NS_RSM, "set"))
        ET.SubElement(rsm, q(NS_RSM, "max")).text = str(limit)
        if after is not None:
            ET.SubElement(rsm, q(NS_RSM, "after")).text = after
        if before is not None:
            ET.SubElement(rsm, q(NS_RSM, "before")).text = before
        self._queries[query_id] = _MamQuery(archive)
        try:
            answer = await self._iq("set", query, to=None if archive == self.own else archive)
        finally:
            collected = self._queries.pop(query_id)
        fin = answer.find(q(NS_MAM, "fin"))
        complete = fin is None or fin.get("complete") in ("true", "1")
        last_el = fin.find(f"{q(NS_RSM, 'set')}/{q(NS_RSM, 'last')}") if fin is not None else None
        last = last_el.text if last_el is not None and last_el.text else None
        return collected.results, complete, last

    async def _catch_up(self, room: str | None) -> int:
        """Fetch what the archive (ours, or a room's) got since we last looked."""
        archive = room or self.own
        mark = self.state.archives.get(archive)
        stored = 0
        if mark is None:
            # First run: recent history only, newest page of the archive.
            results, _complete, _last = await self._mam_page(archive, before="",
                                                             limit=MAM_SEED)
            stored += self._ingest_results(archive, results, source="archive")
            if not results:
                self.state.archives[archive] = ArchiveMark("", time.time())
                self.state.save()
            return stored
        after: str | None = mark.last_id or None
        start = None if after else mark.last_stamp
        for _page in range(1000):
            try:
                results, complete, last = await self._mam_page(archive, after=after,
                                                                start=start)
            except XmppError as exc:
                if after is None or "item-not-found" not in str(exc):
                    raise
                # The id we kept has expired from the archive: go by its date instead.
                after, start = None, mark.last_stamp
                continue
            stored += self._ingest_results(archive, results, source="archive")
            if complete or not results or last is None:
                break
            after, start = last, None
        return stored

    def _ingest_results(self, archive: str,
                        results: list[tuple[str, float | None, ET.Element]], source: str) -> int:
        stored = 0
        for archive_id, stamp, inner in results:
            try:
                stored += self._ingest(inner, source, archive=archive, archive_id=archive_id,
                                       archive_stamp=stamp)
                if archive == self.own:
                    self._archived_acknowledgement(inner)
            except Exception:
                log.exception("%s: skipped an archived message we could not read", self.name)
        if results:
            archive_id, stamp, _inner = results[-1]
            self.state.archives[archive] = ArchiveMark(archive_id, stamp or time.time())
            self.state.save()
        return stored

    async def fetch_history(self, jid: str, limit: int = MAM_PAGE,
                            before: str | None = "") -> tuple[int, str | None]:
        """One page of older history with a contact (or of a room), newest page first.

        Returns how many messages were new to the store and the id to pass as
        `before` for the page before it (None at the start of the archive).
        """
        jid = bare(jid)
        if jid in self._rooms or jid in self.state.rooms:
            results, _complete, _last = await self._mam_page(jid, before=before, limit=limit)
            archive = jid
        else:
            results, _complete, _last = await self._mam_page(self.own, before=before,
                                                             with_jid=jid, limit=limit)
            archive = self.own
        stored = 0
        for archive_id, stamp, inner in results:
            stored += self._ingest(inner, "archive", archive=archive, archive_id=archive_id,
                                   archive_stamp=stamp)
        first = results[0][0] if results else None
        return stored, first

    async def catch_up(self) -> int:
        """Fetch what arrived in our archive since the last look; returns new messages."""
        return await self._catch_up(None)

    # -- discovery (XEP-0030) -----------------------------------------------------------

    async def features(self, jid: str) -> set[str]:
        """What an entity (a contact's full JID, a room, a server) says it supports."""
        answer = await self._iq("get", ET.Element(q(NS_DISCO_INFO, "query")), to=jid)
        return {f.get("var") or "" for f in answer.iter(q(NS_DISCO_INFO, "feature"))} - {""}

    # -- carbons (XEP-0280) ----------------------------------------------------------

    async def _enable_carbons(self) -> None:
        await self._iq("set", ET.Element(q(NS_CARBONS, "enable")))

    # -- rooms (XEP-0045, XEP-0249) ------------------------------------------------------

    async def join_room(self, room: str, nick: str | None = None, password: str | None = None,
                        timeout: float = 20.0) -> list[Occupant]:
        """Join (or create) a room; returns its occupants. History comes from MAM."""
        created = await self._join(bare(room), nick, password, timeout)
        if created:
            await self.configure_room(bare(room))
        await self._catch_up(bare(room))
        for pending in list(self._pending.values()):
            if pending.mtype == "groupchat" and pending.to == bare(room):
                self._transmit(pending)
        return self.occupants(room)

    async def create_room(self, room: str, nick: str | None = None, *,
                          members_only: bool = False, public_jids: bool = True,
                          name: str = "") -> list[Occupant]:
        """Join a new room and configure it: persistent, archived, real JIDs shown
        to everyone when `public_jids` (so chat can map people to email)."""
        room = bare(room)
        await self._join(room, nick, None, 20.0)
        await self.configure_room(room, members_only=members_only, public_jids=public_jids,
                                  name=name)
        await self._catch_up(room)
        return self.occupants(room)

    async def _join(self, room: str, nick: str | None, password: str | None,
                    timeout: float) -> bool:
        nick = nick or self.own.partition("@")[0]
        try:
            JID(f"{room}/{nick}")
        except InvalidJID as exc:
            raise XmppError(f"cannot join {room} as {nick!r}: {exc}") from None
        state = self._rooms.get(room)
        if state is None or state.nick != nick:
            state = self._rooms[room] = _Room(room, nick)
        state.occupants.clear()
        state.joined = asyncio.get_running_loop().create_future()
        # A join given up on (timeout) may still fail later; nobody needs to hear it.
        state.joined.add_done_callback(lambda f: f.cancelled() or f.exception())
        presence = self.session.make_presence(pto=f"{room}/{nick}")
        x = ET.SubElement(presence.xml, q(NS_MUC, "x"))
        # No history replay: the room's archive gives it, deduplicated.
        ET.SubElement(x, q(NS_MUC, "history"), {"maxstanzas": "0"})
        if password:
            ET.SubElement(x, q(NS_MUC, "password")).text = password
        presence.send()
        try:
            codes = await asyncio.wait_for(asyncio.shield(state.joined), timeout)
        except TimeoutError:
            raise XmppError(f"no answer from room {room} within {timeout:.0f}s") from None
        except XmppError:
            self._rooms.pop(room, None)
            raise
        self.state.rooms[room] = RoomMembership(room, nick)
        self.state.save()
        return "201" in codes

    def _on_room_presence(self, room: _Room, xml: ET.Element, ptype: str) -> None:
        nick = resource(xml.get("from") or "")
        if ptype == "error":
            condition, text, _b = error_condition(xml)
            # An error about another nick (ours, sent earlier) is not about this join.
            if nick in ("", room.nick) and room.joined is not None \
                    and not room.joined.done():
                room.joined.set_exception(XmppError(
                    f"room {room.jid} refused us: {condition}" + (f" ({text})" if text else "")))
            return
        x = xml.find(q(NS_MUC_USER, "x"))
        codes = {s.get("code") or "" for s in x.findall(q(NS_MUC_USER, "status"))} \
            if x is not None else set()
        item = x.find(q(NS_MUC_USER, "item")) if x is not None else None
        is_self = "110" in codes
        if ptype == "unavailable":
            room.occupants.pop(nick, None)
            if is_self and room.joined is not None and room.joined.done():
                room.joined = None
            return
        if ptype != "available":
            return
        real = bare(item.get("jid") or "") if item is not None else ""
        room.occupants[nick] = Occupant(
            nick, real or (self.own if is_self else None),
            (item.get("role") if item is not None else None) or "participant",
            (item.get("affiliation") if item is not None else None) or "none")
        if is_self:
            room.nick = nick  # the room may have changed it
            if room.joined is not None and not room.joined.done():
                room.joined.set_result(codes)

    async def configure_room(self, room: str, *, members_only: bool = False,
                             public_jids: bool = True, name: str = "") -> None:
        values = {
            "muc#roomconfig_persistentroom": "1",
            "muc#roomconfig_whois": "anyone" if public_jids else "moderators",
            "muc#roomconfig_membersonly": "1" if members_only else "0",
            "muc#roomconfig_enablearchiving": "1",
        }
        if name:
            values["muc#roomconfig_roomname"] = name
        query = ET.Element(q(NS_MUC_OWNER, "query"))
        form = ET.SubElement(query, q(NS_DATA, "x"), {"type": "submit"})
        f = ET.SubElement(form, q(NS_DATA, "field"), {"var": "FORM_TYPE"})
        ET.SubElement(f, q(NS_DATA, "value")).text = "http://jabber.org/protocol/muc#roomconfig"
        for var, value in values.items():
            f = ET.SubElement(form, q(NS_DATA, "field"), {"var": var})
            ET.SubElement(f, q(NS_DATA, "value")).text = value
        await self._iq("set", query, to=bare(room))

    async def _server_services(self, include_server: bool) -> AsyncIterator[
            tuple[str, ET.Element]]:
        """Each service of our server (disco#items) with its disco#info answer."""
        items = await self._iq("get", ET.Element(q(NS_DISCO_ITEMS, "query")), to=self.domain)
        candidates = ([self.domain] if include_server else []) + \
            [i.get("jid") or "" for i in items.iter(q(NS_DISCO_ITEMS, "item"))]
        for jid in candidates:
            if not jid:
                continue
            try:
                info = await self._iq("get", ET.Element(q(NS_DISCO_INFO, "query")), to=jid)
            except XmppError:
                continue
            yield jid, info

    async def muc_service(self) -> str:
        """The server's multi-user chat service (disco#items, then disco#info)."""
        if self._muc_service is not None:
            return self._muc_service
        async for jid, info in self._server_services(include_server=False):
            if any(i.get("category") == "conference" and i.get("type") == "text"
                   for i in info.iter(q(NS_DISCO_INFO, "identity"))):
                self._muc_service = jid
                return jid
        raise XmppError(f"{self.domain} offers no multi-user chat service")

    async def leave_room(self, room: str) -> None:
        room = bare(room)
        state = self._rooms.pop(room, None)
        self.state.rooms.pop(room, None)
        self.state.save()
        if state is not None:
            self.session.send_presence(pto=f"{room}/{state.nick}", ptype="unavailable")

    def occupants(self, room: str) -> list[Occupant]:
        state = self._rooms.get(bare(room))
        return sorted(state.occupants.values(), key=lambda o: o.nick) if state else []

    def rooms(self) -> list[str]:
        return sorted(self._joined_rooms())

    def invite(self, room: str, jid: str, reason: str = "", *, direct: bool = False) -> None:
        """Invite someone: through the room (mediated), or straight to them (XEP-0249)."""
        room, jid = bare(room), bare(jid)
        if direct:
            msg = self.session.make_message(mto=jid)
            attrs = {"jid": room}
            if reason:
                attrs["reason"] = reason
            ET.SubElement(msg.xml, q(NS_CONFERENCE, "x"), attrs)
        else:
            msg = self.session.make_message(mto=room)
            x = ET.SubElement(msg.xml, q(NS_MUC_USER, "x"))
            invite = ET.SubElement(x, q(NS_MUC_USER, "invite"), {"to": jid})
            if reason:
                ET.SubElement(invite, q(NS_MUC_USER, "reason")).text = reason
        msg.send()

    async def grant_membership(self, room: str, jid: str, affiliation: str = "member") -> None:
        query = ET.Element(q(NS_MUC + "#admin", "query"))
        ET.SubElement(query, q(NS_MUC + "#admin", "item"),
                      {"jid": bare(jid), "affiliation": affiliation})
        await self._iq("set", query, to=bare(room))

    # -- files (XEP-0363, XEP-0066) ----------------------------------------------------

    async def _find_upload_service(self) -> tuple[str, int | None]:
        if self._upload_service is not None:
            return self._upload_service
        async for jid, info in self._server_services(include_server=True):
            features = {f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))}
            if NS_UPLOAD not in features:
                continue
            limit = None
            for fld in info.iter(q(NS_DATA, "field")):
                if fld.get("var") == "max-file-size":
                    value = fld.find(q(NS_DATA, "value"))
                    if value is not None and (value.text or "").strip().isdigit():
                        limit = int((value.text or "").strip())
            self._upload_service = (jid, limit)
            return self._upload_service
        raise XmppError(f"{self.domain} offers no HTTP file upload service")

    async def upload(self, data: bytes, filename: str,
                     content_type: str = "application/octet-stream") -> str:
        """Upload bytes to the server's file share; returns the link to hand out."""
        service, limit = await self._find_upload_service()
        if limit is not None and len(data) > limit:
            raise TransferError(f"{filename!r} is {len(data)} bytes; the server takes "
                                f"at most {limit}")
        name = safe_basename(filename)
        answer = await self._iq("get", slot_request(name, len(data), content_type), to=service)
        slot = parse_slot(answer)
        await put_file(slot, data, content_type, self.ssl_context)
        return slot.get_url

    async def send_file(self, to: str, data: bytes, filename: str,
                        content_type: str = "application/octet-stream", *,
                        thread_id: str | None = None, msg_id: str | None = None) -> Message:
        """Upload a file and send its link, as body and as out-of-band data, to a
        contact or a joined room. The bytes are kept in the store's blobs too."""
        url = await self.upload(data, filename, content_type)
        digest = self.store.store_blob(data)
        attachment = Attachment(safe_basename(filename), content_type, len(data),
                                sha256=digest, url=url)
        to = bare(to)
        mtype: MessageKind = "groupchat" if to in self._rooms else "chat"
        return self._send(to, url, mtype, thread_id, msg_id, [attachment])

    async def download(self, row_id: int, limit: int | None = None) -> list[Attachment]:
        """Fetch a message's linked files into the store's blobs; returns its
        attachments with their sha256 filled in (files over the limit are skipped
        with a TransferError if none could be fetched)."""
        message = self.store.get_message(row_id)
        if message is None:
            raise KeyError(f"no message {row_id}")
        limit = self.download_limit if limit is None else limit
        updated: list[Attachment] = []
        errors: list[str] = []
        for a in message.attachments:
            if a.url and a.sha256 is None:
                try:
                    data, content_type = await get_file(a.url, limit, self.ssl_context)
                except TransferError as exc:
                    errors.append(str(exc))
                    updated.append(a)
                    continue
                digest = self.store.store_blob(data)
                a = replace(a, sha256=digest, size=len(data), content_type=content_type)
            updated.append(a)
        self.store.set_body(row_id, message.text, updated)
        if errors and all(a.sha256 is None for a in updated):
            raise TransferError("; ".join(errors))
        return updated

    async def _auto_download(self, row_id: int) -> None:
        try:
            await self.download(row_id, limit=self.auto_download_limit)
        except (TransferError, XmppError, OSError) as exc:
            log.info("%s: file of message %s not fetched: %s", self.name, row_id, exc)

    def _subscribed(self, jid: str) -> bool:
        roster = self.session.client_roster
        return roster.has_jid(jid) and roster[jid]["subscription"] in ("to", "both")

    # -- identity hints (vCard) -------------------------------------------------------

    async def vcard_emails(self, jid: str) -> list[str]:
        """The email addresses a contact put in their vCard (vcard-temp)."""
        try:
            answer = await self._iq("get", ET.Element(q(NS_VCARD, "vCard")), to=bare(jid))
        except XmppError:
            return []
        emails = []
        for email in answer.iter(q(NS_VCARD, "EMAIL")):
            userid = email.find(q(NS_VCARD, "USERID"))
            value = (userid.text or "").strip() if userid is not None else ""
            if _EMAIL.match(value) and value.isprintable() and value not in emails:
                emails.append(value)
        return emails

    async def publish_vcard(self, full_name: str = "", emails: Iterable[str] = ()) -> None:
        card = ET.Element(q(NS_VCARD, "vCard"))
        if full_name:
            ET.SubElement(card, q(NS_VCARD, "FN")).text = full_name
        for address in emails:
            email = ET.SubElement(card, q(NS_VCARD, "EMAIL"))
            ET.SubElement(email, q(NS_VCARD, "INTERNET"))
            ET.SubElement(email, q(NS_VCARD, "USERID")).text = address
        await self._iq("set", card)

    async def learn_contact_from_vcard(self, jid: str) -> list[str]:
        """Suggest an email <-> JID mapping from a contact's vCard (unconfirmed)."""
        emails = await self.vcard_emails(jid)
        if emails:
            self.store.add_contact("", emails=emails, jids=[bare(jid)], source="learned",
                                   confirmed=False)
        return emails


__all__ = [
    "Availability",
    "ContactPresence",
    "Occupant",
    "RosterItem",
    "TransferError",
    "XmppClient",
    "XmppError",
    "XmppLoginError",
]
