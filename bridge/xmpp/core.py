"""The ground floor of `XmppClient`: the account's slixmpp session with every
plugin it uses, the state all layers share, and the helpers they call (publish an
event, ask an IQ through a plugin, fence a handler).

XmppClient is built in layers, one module each, every layer on the one below
(a layer may call what is beneath it, never what is above):

    core -> delivery -> files -> edits -> inbound -> archive -> rooms -> bookmarks
    -> avatars -> client

Each layer registers its own handlers in `_wire_handlers` and then calls the
layer below, the way a slixmpp plugin does in `plugin_init`. Protocol work is
slixmpp's plugins' (see PLUGINS), or ours in `plugins/` where slixmpp has none
that fits; incoming stanzas are read with `stanzas.py` where a plugin's stanza
interface would raise on hostile input.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0198.stanza import RequestAck

from ..config import AccountConfig
from ..events import Event, EventBus
from ..model import DeliveryState, Message
from ..safe import safe_basename
from ..store import Store
from ..tls import client_context
from .availability import Availability, ContactPresence, ResourcePresence, summarize
from .plugins import MamPages, UploadSlots
from .session import XmppSession
from .stanzas import bare, error_condition, resource
from .state import XmppState
from .upload import DEFAULT_DOWNLOAD_LIMIT

log = logging.getLogger(__name__)
T = TypeVar("T")

# The XEPs we speak, as slixmpp's plugins; `plugins/` holds ours, written the same
# way, where slixmpp's does not fit (each says why). xep_0066 is used for its
# stanzas only, its plugin's IQ service unwanted (delivery.py); xep_0054 is
# registered as xep_0153's base, its vCard service taken out (avatars.py).
PLUGINS = (
    "xep_0030",  # service discovery
    "xep_0004", "xep_0128", "xep_0115",  # entity capabilities (needs data forms)
    "xep_0199",  # keepalive pings
    "xep_0202",  # entity time: the server's clock, for health
    "xep_0198",  # stream management: acks and resumption
    "xep_0191",  # blocking command
    "xep_0186",  # invisible command, where a server offers it
    "xep_0359",  # unique and stable stanza ids: origin-id, stanza-id
    "xep_0184",  # delivery receipts
    "xep_0333",  # chat markers
    "xep_0085",  # chat states
    "xep_0334",  # message processing hints (no-store)
    "xep_0297", "xep_0280",  # forwarded stanzas, carbons
    "xep_0059", "xep_0313",  # result sets, message archive
    "xep_0045", "xep_0249",  # rooms, direct invitations
    "xep_0060", "xep_0163", "xep_0223", "xep_0402",  # bookmarks in PEP (bookmarks.py)
    "xep_0049",  # private storage: the legacy XEP-0048 bookmarks, read (bookmarks.py)
    "xep_0410",  # room self-ping
    "xep_0308",  # last message correction
    "xep_0444",  # reactions
    "xep_0422", "xep_0428", "xep_0424",  # retraction (fastening, fallback indication)
    "xep_0461",  # replies
    "xep_0352",  # client state indication
    "xep_0054", "xep_0084", "xep_0153",  # vCards; avatars: PEP, vCard (avatars.py)
    "mam_pages",  # ours: archive pages (plugins/mam_pages.py says why)
    "upload_slots",  # ours: HTTP upload slots (plugins/upload_slots.py says why)
)
# The message types we send: one-to-one chat or a room line.
MessageKind = Literal["chat", "groupchat"]

PLUGIN_CONFIG: dict[str, dict[str, object]] = {
    "xep_0199": {"keepalive": True, "interval": 60, "timeout": 30},
    # Receipts are asked for and given by the delivery layer: only for what we
    # store, quoting the id the sender gave, never for errors or forwarded copies.
    "xep_0184": {"auto_ack": False, "auto_request": False},
}
# Features we serve that no registered plugin announces itself.
FEATURES = (
    "jabber:x:oob",  # we read and send links (XEP-0066), not its IQ transfers
    "urn:xmpp:sid:0",  # slixmpp's xep_0359 announces nothing
)
CHAT_STATES = ("active", "composing", "paused", "inactive", "gone")

NS_VCARD = "vcard-temp"

MAM_PAGE = 100
MAX_RESOURCES = 64
MAM_SEED = 50  # first run: this much recent history, not the whole archive
IQ_TIMEOUT = 30
_DELIVERY_RANK = {
    DeliveryState.SENDING: 1, DeliveryState.SENT: 2, DeliveryState.DELIVERED: 3,
    DeliveryState.READ: 4,
}
# A request for the server's ack, as slixmpp's xep_0198 writes it; sent as text so
# it goes in the send queue behind a message (see Delivery._transmit).
_SM_REQUEST = str(RequestAck())
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class XmppError(Exception):
    """An XMPP request the server refused or did not answer; the message says which."""


def iq_failure(exc: IqError | IqTimeout, to: str | None, timeout: float) -> XmppError:
    """The XmppError for a request that `to` refused or left unanswered."""
    if isinstance(exc, IqTimeout):
        return XmppError(f"{to or 'server'} did not answer within {timeout:.0f}s")
    condition, text, _blocked = error_condition(exc.iq.xml)
    return XmppError(f"{to or 'server'} refused: {condition}" + (f" ({text})" if text else ""))


@dataclass(frozen=True)
class RosterItem:
    jid: str
    name: str
    subscription: str  # none | to | from | both
    pending_out: bool  # we asked to subscribe and wait for the answer
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Occupant:
    nick: str
    jid: str | None  # the real bare JID, when the room reveals it to us
    role: str
    affiliation: str
    show: str = ""  # their presence in the room: "", chat, away, xa or dnd


@dataclass
class _Room:
    jid: str
    nick: str
    occupants: dict[str, Occupant] = field(default_factory=dict)
    joined: asyncio.Future[set[str]] | None = None
    subject: str = ""  # the room's subject (topic), as the room last told it
    renaming: asyncio.Future[str] | None = None  # our nick change under way
    # Our subject change under way: its message id, and the room's answer.
    retitling: tuple[str, asyncio.Future[None]] | None = None
    # Whether the subject the room tells after our join came (later ones are changes).
    subject_told: bool = False
    # New nicks an occupant's nick change (§7.6, status 303) announced: their
    # presence under it is that change, not someone joining.
    renamed: set[str] = field(default_factory=set)


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
    # A reply (XEP-0461): the line it answers, as the wire names it.
    reply: Reply | None = None


@dataclass(frozen=True)
class Reply:
    """What a reply says of the line it answers (XEP-0461): its author's JID (a
    room line's: room/nick), its id, and its text and author's name for the quote
    that clients without replies show (XEP-0428 marks it as such)."""

    to: str
    id: str
    quote: str
    nick: str = ""




class ClientCore:
    """The session, the state every layer shares, and the helpers they use."""

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
        chat_states: bool = True,
        present: bool = True,
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
        # [chat] chat_states: off, no chat state is ever sent (XEP-0085 section 7).
        self.chat_states = chat_states
        self.domain = self.own.rpartition("@")[2]
        jid = account.jid + (f"/{resource_name}" if resource_name else "")
        # A stream that goes silent is found by the keepalive ping: no answer within
        # `ping_timeout` and the connection is dropped and made again (resumed).
        plugin_config: dict[str, dict[str, object]] = dict(PLUGIN_CONFIG, xep_0199={
            "keepalive": True, "interval": ping_interval, "timeout": ping_timeout})
        self.session = XmppSession(jid, password, account.xmpp, plugins=PLUGINS,
                                   plugin_config=plugin_config, max_backoff=max_backoff,
                                   present=present)
        # slixmpp types its plugin registry as a TypedDict of its own plugins only.
        registry: Any = self.session.plugin
        self.mam_pages: MamPages = registry["mam_pages"]
        self.upload_slots: UploadSlots = registry["upload_slots"]
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
        self._pending: dict[str, _Pending] = {}
        # While a new session asks the archive what the server already holds, new
        # lines wait behind the ones being checked, so everything goes out in order.
        self._flushing = False
        self._receipt_support: dict[str, bool] = {}  # full JID -> disco says XEP-0184
        self._chat_state_support: dict[str, bool] = {}  # full JID -> disco says XEP-0085
        self._chat_state_senders: set[str] = set()  # bare JIDs that sent us a chat state
        self._muc_service: str | None = None
        self._stopping = False
        self._auth_failed = False
        self._reconnects = 0
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._synced: asyncio.Event = asyncio.Event()
        self._wire_handlers()

    def _wire_handlers(self) -> None:
        """Each layer registers the stanza and event handlers it serves, then calls
        the layer below (the way a slixmpp plugin does in `plugin_init`)."""

    def _guard(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        # A handler that raises makes slixmpp answer the stanza with an error and log a
        # traceback; hostile input must do neither, so every handler is fenced.
        def run(stanza: Any) -> None:
            try:
                handler(stanza)
            except Exception:
                log.exception("%s: ignored a stanza we could not handle", self.name)
        return run

    @property
    def connected(self) -> bool:
        # slixmpp queues stanzas itself until a session starts or resumes; we keep our
        # own until then so a failed resumption cannot drop them.
        return self.session.transport is not None and bool(self.session._session_started)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish(self, event: Event) -> None:
        try:
            self.events.publish(event)
        except Exception:
            log.exception("%s: an event listener failed", self.name)

    async def _iq(self, kind: str, payload: ET.Element | None, to: str | None = None,
                  timeout: float = IQ_TIMEOUT) -> ET.Element:
        iq = self.session.make_iq_get(ito=to) if kind == "get" else \
            self.session.make_iq_set(ito=to)
        if payload is not None:
            iq.append(payload)
        return (await self._asked(iq.send(timeout=timeout), to, timeout)).xml

    async def _asked(self, request: Awaitable[T], to: str | None,
                     timeout: float = IQ_TIMEOUT) -> T:
        """The answer to a request a plugin sent, or an XmppError saying why not."""
        try:
            return await request
        except (IqError, IqTimeout) as exc:
            raise iq_failure(exc, to, timeout) from None

    def availability(self, jid: str) -> ContactPresence:
        """What the deferral logic asks before a send: may this contact see it now?"""
        room = self._rooms.get(bare(jid))
        if room is not None and resource(jid):
            # A room's occupant, written to privately: there while in the room,
            # with the show their presence in it has.
            occupant = room.occupants.get(resource(jid))
            if occupant is None:
                return ContactPresence(jid, Availability.OFFLINE)
            return summarize(jid, {occupant.nick: ResourcePresence(
                occupant.nick, occupant.show, "", 0)}, subscribed=True, blocked=False)
        jid = bare(jid)
        return summarize(jid, self._presence.get(jid, {}), subscribed=self._subscribed(jid),
                         blocked=jid in self._blocked or jid in self._refused)

    def _joined_rooms(self) -> set[str]:
        return {jid for jid, room in self._rooms.items()
                if room.joined is not None and room.joined.done()
                and not room.joined.exception()}

    def _sees_our_presence(self, jid: str) -> bool:
        """Whether a contact may see our presence (subscription from or both): only
        they get receipts and markers, which would tell a stranger we are online
        (XEP-0184 §8, XEP-0333 §6)."""
        roster = self.session.client_roster
        return roster.has_jid(jid) and roster[jid]["subscription"] in ("from", "both")

    def _subscribed(self, jid: str) -> bool:
        roster = self.session.client_roster
        return roster.has_jid(jid) and roster[jid]["subscription"] in ("to", "both")

